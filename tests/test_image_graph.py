"""Where the images sit in a causal graph: ``image_graph`` (mark and check the image node)
and ``split_image_graph`` (label graph and image node, for image models)."""

from __future__ import annotations

import pytest

from causal import CausalGraph, GraphError
from causal.images import IMAGE_NODE, image_graph, split_image_graph

GRAPH = CausalGraph.parse("pos -> bright; pos -> image; bright -> image", kinds={"image": "image"})


def test_image_graph_marks_the_image_node_and_says_what_to_add() -> None:
    g = image_graph(CausalGraph.parse("a -> image; a -> b"))
    assert g.kind("image") == "image" and g.edges == CausalGraph.parse("a -> image; a -> b").edges
    with pytest.raises(GraphError, match="add edges 'LABEL -> image'"):
        image_graph(CausalGraph.parse("a -> b"))
    with pytest.raises(GraphError, match="the image node 'image' has no parents"):
        image_graph(CausalGraph.parse("a -> b; image"))
    assert image_graph(CausalGraph.parse("a -> pic"), image_node="pic").kind("pic") == "image"


def test_split_image_graph_refuses_bad_graphs() -> None:
    labels, node = split_image_graph(GRAPH)
    assert node == IMAGE_NODE and IMAGE_NODE not in labels.nodes and set(labels.edges) == {("pos", "bright")}
    with pytest.raises(GraphError, match="node of kind 'image'"):
        split_image_graph(CausalGraph.parse("a -> b"))
    with pytest.raises(GraphError, match="one image node, the graph has 2"):
        split_image_graph(CausalGraph.parse("a -> x; a -> y", kinds={"x": "image", "y": "image"}))
    with pytest.raises(GraphError, match="only the image node"):
        split_image_graph(CausalGraph.parse("image", kinds={"image": "image"}))


@pytest.mark.parametrize("rule", [image_graph, split_image_graph])
def test_both_rules_refuse_an_image_with_children(rule) -> None:
    bad = CausalGraph.parse("a -> image; image -> b", kinds={"image": "image"})
    with pytest.raises(GraphError, match=r"the image node 'image' has children \(b\); labels cause the image"):
        rule(bad)
