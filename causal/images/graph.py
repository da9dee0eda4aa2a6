"""Where the images sit in a causal graph: one image node, caused by label nodes, causing none."""

from __future__ import annotations

from causal.graph import CausalGraph, GraphError
from causal.images.data import IMAGE_NODE

__all__ = ["image_graph", "split_image_graph"]


def image_graph(graph: CausalGraph, image_node: str | None = None) -> CausalGraph:
    """``graph`` with its image node (``IMAGE_NODE`` unless named) of kind ``image``,
    checked: the node is there and has label parents (the labels the images show), and no
    label depends on the image. ``GraphError`` saying what to add otherwise. Shared by the
    CLI (``train --image-folder``) and the workspace (runs on stored images)."""
    node = image_node or IMAGE_NODE
    if node not in graph.nodes:
        raise GraphError(f"the graph has no node '{node}': the images are that node; add edges "
                         f"'LABEL -> {node}' for the labels the images show")
    if not graph.parents(node):
        raise GraphError(f"the image node '{node}' has no parents; add edges 'LABEL -> {node}' for the labels "
                         "the images show")
    _check_no_children(graph, node)
    return graph.with_kinds({node: "image"})


def split_image_graph(graph: CausalGraph) -> tuple[CausalGraph, str]:
    """``(label graph, image node)``: the graph without its one image node, and that node.

    The image node must exist, be unique, and have no children (labels cause the image;
    nothing is caused by the pixels). Edges into it say which labels the image shows.
    """
    images = [n for n in graph.nodes if graph.kind(n) == "image"]
    if not images:
        raise GraphError(
            "an image model needs a node of kind 'image' (the images), e.g. kinds={'image': 'image'}; "
            "for a table without images use a tabular model"
        )
    if len(images) > 1:
        raise GraphError(f"an image model takes one image node, the graph has {len(images)}: {', '.join(images)}")
    node = images[0]
    _check_no_children(graph, node)
    labels = [n for n in graph.nodes if n != node]
    if not labels:
        raise GraphError(f"the graph has only the image node '{node}'; add the label nodes it depends on")
    kinds = {n: k for n, k in graph.kinds.items() if n != node}
    edges = [(a, b) for a, b in graph.edges if b != node]
    return CausalGraph(labels, edges, kinds), node


def _check_no_children(graph: CausalGraph, node: str) -> None:
    """``GraphError`` when a node depends on the image node ``node``: labels cause the image, not the reverse."""
    if graph.children(node):
        raise GraphError(f"the image node '{node}' has children ({', '.join(graph.children(node))}); labels cause "
                         "the image, not the other way round: reverse those edges")
