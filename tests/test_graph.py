"""CausalGraph: construction, import/export, validation errors, structure, Markov properties."""

from __future__ import annotations

import doctest
import heapq
import itertools
import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causal import CPDAG, CausalGraph, DataError, GraphError, Independence
from causal.graph import require_graph

PROPS = settings(max_examples=60, deadline=None, derandomize=True)

CHAIN = CausalGraph.from_edges([("a", "b"), ("b", "c")])
COLLIDER = CausalGraph.from_edges([("a", "c"), ("b", "c")])
FORK = CausalGraph.from_edges([("b", "a"), ("b", "c")])
TRIANGLE = CausalGraph.parse("x1 -> x2; x1 -> x3; x2 -> x3")


# ---------------------------------------------------------------------- helpers
def edge_set(g: CausalGraph) -> set[tuple[str, str]]:
    return set(g.edges)


def reference_order(g: CausalGraph) -> tuple[str, ...]:
    """Kahn's algorithm taking the smallest name among the ready nodes each step."""
    indeg = {n: len(g.parents(n)) for n in g.nodes}
    ready = [n for n, d in indeg.items() if d == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        n = heapq.heappop(ready)
        out.append(n)
        for c in g.children(n):
            indeg[c] -= 1
            if indeg[c] == 0:
                heapq.heappush(ready, c)
    return tuple(out)


def ref_v_structures(nodes, edges) -> set[tuple[str, frozenset]]:
    """(collider, {a, b}) for every a -> c <- b with a, b not adjacent; computed from scratch."""
    adj = {frozenset(e) for e in edges}
    pa = {n: [a for a, b in edges if b == n] for n in nodes}
    return {
        (c, frozenset((a, b)))
        for c in nodes
        for a, b in itertools.combinations(pa[c], 2)
        if frozenset((a, b)) not in adj
    }


def brute_force_class(g: CausalGraph) -> list[frozenset[tuple[str, str]]]:
    """Every DAG with g's skeleton and v-structures, by trying all orientations."""
    skeleton = list(g.edges)
    target = ref_v_structures(g.nodes, skeleton)
    out = []
    for bits in itertools.product((0, 1), repeat=len(skeleton)):
        edges = [(a, b) if bit == 0 else (b, a) for (a, b), bit in zip(skeleton, bits)]
        d = nx.DiGraph(edges)
        d.add_nodes_from(g.nodes)
        if nx.is_directed_acyclic_graph(d) and ref_v_structures(g.nodes, edges) == target:
            out.append(frozenset(edges))
    return out


def cpdag_from_class(members) -> tuple[set, set]:
    """Directed = oriented the same way in every member; undirected = the rest."""
    first = members[0]
    directed = {e for e in first if all(e in m for m in members)}
    undirected = {frozenset(e) for e in first if e not in directed}
    return directed, undirected


def cpdag_sets(cp: CPDAG) -> tuple[set, set]:
    return set(cp.directed), {frozenset(e) for e in cp.undirected}


NAMES = ["a", "b", "c", "x1", "x2", "x10", "Z"]


@st.composite
def dags(draw, max_nodes: int = 7, with_kinds: bool = True) -> CausalGraph:
    """A random DAG: a random order of random names, random edges from earlier to later."""
    n = draw(st.integers(1, max_nodes))
    order = draw(st.permutations(NAMES))[:n]
    edges = [
        (order[i], order[j])
        for j in range(n)
        for i in range(j)
        if draw(st.booleans())
    ]
    kinds = {}
    if with_kinds:
        for node in order:
            k = draw(st.sampled_from([None, "continuous", "binary", "categorical"]))
            if k:
                kinds[node] = k
    return CausalGraph.from_edges(edges, nodes=order, kinds=kinds)


# ---------------------------------------------------------------------- construction
def test_from_edges_canonical_order_is_topological_with_name_ties():
    g = CausalGraph.from_edges([("z", "y"), ("b", "y"), ("y", "a")], nodes=["q"])
    assert g.nodes == ("b", "q", "z", "y", "a")
    assert g.edges == (("b", "y"), ("z", "y"), ("y", "a"))
    assert g.parents("y") == ("b", "z")
    assert g.roots == ("b", "q", "z")
    assert len(g) == 5 and "q" in g and "nope" not in g
    assert list(g) == list(g.nodes)


def test_parse_plain_text_chain_and_isolated_node():
    g = CausalGraph.parse("a -> b -> c; d")
    assert g.nodes == ("a", "b", "c", "d")
    assert edge_set(g) == {("a", "b"), ("b", "c")}
    assert g.to_text() == "a -> b; b -> c; d"
    assert CausalGraph.parse(g.to_text()) == g


def test_parse_dagitty_with_attributes_groups_reverse_arrows_and_comments():
    text = """
    dag G {
      bb="0,0,1,1"
      // a comment -> that names no edge
      sex [kind="binary", pos="0.1,0.2"]
      income [outcome]
      # another comment: x -> y
      /* a block
         comment z -> w */
      {age sex} -> income
      edu <- age
      edu -> income -> savings
    }
    """
    g = CausalGraph.parse(text)
    assert g == CausalGraph.from_dagitty(text)
    assert set(g.nodes) == {"sex", "income", "age", "edu", "savings"}
    assert edge_set(g) == {
        ("age", "income"), ("sex", "income"), ("age", "edu"), ("edu", "income"), ("income", "savings"),
    }
    assert g.kinds == {"sex": "binary"}
    assert g.kind("income") is None


def test_parse_dagitty_group_on_the_right():
    g = CausalGraph.parse("dag { z -> {x y}; x -> y }")
    assert edge_set(g) == {("z", "x"), ("z", "y"), ("x", "y")}


def test_parse_plain_group_statement_is_not_json():
    g = CausalGraph.parse("{a b} -> c")
    assert edge_set(g) == {("a", "c"), ("b", "c")}


def test_parse_dot_with_attribute_statements_and_quoted_names():
    text = """strict digraph "my graph" {
      graph [rankdir=LR, bgcolor="#ffffff"];
      rankdir=LR;
      node [shape=box, color="#ff0000"];
      edge [URL="http://example.org/x", color=gray];
      "age" [kind="continuous", label="Age (years)"];
      "A" [kind=binary];
      "A" -> "income" [color="#00ff00"]; // a comment
      age -> income -> "savings-rate";
    }"""
    g = CausalGraph.parse(text)
    assert g == CausalGraph.from_dot(text)
    assert set(g.nodes) == {"age", "A", "income", "savings-rate"}
    assert edge_set(g) == {("A", "income"), ("age", "income"), ("income", "savings-rate")}
    assert g.kinds == {"age": "continuous", "A": "binary"}


def test_dot_undirected_graph_is_refused_with_reason():
    with pytest.raises(GraphError, match="digraph"):
        CausalGraph.parse("graph { a -- b }")


def test_parse_node_link_json_edges_and_links_keys():
    new = {"directed": True, "nodes": [{"id": "a", "kind": "binary"}, {"id": "b"}, {"id": "c"}],
           "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}]}
    old = {"directed": True, "nodes": [{"id": "a", "kind": "binary"}, {"id": "b"}, {"id": "c"}],
           "links": [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}]}
    g1 = CausalGraph.parse(json.dumps(new))
    g2 = CausalGraph.from_json(old)
    assert g1 == g2
    assert edge_set(g1) == {("a", "b"), ("b", "c")}
    assert g1.kinds == {"a": "binary"}
    # the networkx exporter's own output is read back too
    nl = nx.node_link_data(CHAIN.to_networkx(), edges="links")
    assert CausalGraph.from_json(nl) == CHAIN
    # a bare edge list
    assert CausalGraph.parse('[["a", "b"], ["b", "c"]]') == CHAIN


def test_json_without_nodes_is_an_error():
    with pytest.raises(GraphError, match="nodes"):
        CausalGraph.from_json({"edges": []})


def test_from_networkx_and_pgmpy():
    d = nx.DiGraph()
    d.add_node("a", kind="binary")
    d.add_edges_from([("a", "b"), ("b", "c")])
    g = CausalGraph.from_networkx(d)
    assert edge_set(g) == {("a", "b"), ("b", "c")} and g.kinds == {"a": "binary"}
    with pytest.raises(GraphError, match="directed"):
        CausalGraph.from_networkx(nx.Graph([("a", "b")]))

    from pgmpy.base import DAG

    p = DAG([("a", "b"), ("b", "c")])
    p.add_node("d")
    g2 = CausalGraph.from_pgmpy(p)
    assert g2 == CausalGraph.parse("a -> b -> c; d")
    back = g2.to_pgmpy()
    assert isinstance(back, DAG)
    assert set(back.edges()) == {("a", "b"), ("b", "c")} and set(back.nodes()) == {"a", "b", "c", "d"}


def test_require_graph_accepts_graph_text_and_edge_list():
    assert require_graph(CHAIN) is CHAIN
    assert require_graph("a -> b -> c") == CHAIN
    assert require_graph([("a", "b"), ("b", "c")]) == CHAIN


@pytest.mark.parametrize(
    "exporter, importer",
    [
        ("to_dagitty", CausalGraph.from_dagitty),
        ("to_dot", CausalGraph.from_dot),
        ("to_json", CausalGraph.from_json),
        ("to_dict", CausalGraph.from_json),
        ("to_networkx", CausalGraph.from_networkx),
        ("to_dagitty", CausalGraph.parse),
        ("to_dot", CausalGraph.parse),
        ("to_json", CausalGraph.parse),
    ],
)
def test_export_import_round_trip_keeps_kinds(exporter, importer):
    g = CausalGraph.parse("A -> income; age -> income; income -> savings; lone").with_kinds(
        {"A": "binary", "income": "continuous", "lone": "categorical"}
    )
    back = importer(getattr(g, exporter)())
    assert back == g
    assert back.kinds == g.kinds


def test_pgmpy_round_trip_structure():
    back = CausalGraph.from_pgmpy(TRIANGLE.to_pgmpy())
    assert back == TRIANGLE


# ---------------------------------------------------------------------- errors
def test_cycle_is_named_as_a_path():
    with pytest.raises(GraphError, match=r"cycle: a -> b -> c -> a"):
        CausalGraph.parse("a -> b; b -> c; c -> a")
    with pytest.raises(ValueError, match="cycle"):
        CausalGraph.from_edges([("x", "y"), ("y", "x")])


def test_self_loop_names_the_node():
    with pytest.raises(GraphError, match=r"self-loop on 'q'"):
        CausalGraph.parse("p -> q; q -> q")


def test_duplicate_node_is_named():
    with pytest.raises(GraphError, match=r"duplicate node name\(s\): b"):
        CausalGraph(["a", "b", "b"], [("a", "b")])
    with pytest.raises(GraphError, match="duplicate node name"):
        CausalGraph.from_json({"nodes": ["a", "a"], "edges": []})


def test_unknown_node_in_edge_and_in_queries_is_named():
    with pytest.raises(GraphError, match="unknown node 'zz'"):
        CausalGraph(["a", "b"], [("a", "zz")])
    for call in (CHAIN.parents, CHAIN.children, CHAIN.ancestors, CHAIN.descendants, CHAIN.do, CHAIN.index):
        with pytest.raises(GraphError, match="unknown node 'zz'.*a, b, c"):
            call("zz")
    with pytest.raises(GraphError, match="unknown node 'zz'"):
        CHAIN.d_separated("a", "zz")
    with pytest.raises(GraphError, match="unknown node 'zz'"):
        CausalGraph(["a"], [], kinds={"zz": "binary"})


def test_unknown_kind_lists_allowed_kinds():
    with pytest.raises(GraphError, match="'a' has unknown kind 'vector'.*continuous, binary, categorical, image"):
        CausalGraph(["a"], [], kinds={"a": "vector"})


@pytest.mark.parametrize(
    "text, what",
    [
        ("a -- b", r"undirected edge a -- b"),
        ("a <-> b", r"bidirected .*edge a <-> b"),
        ("a<->b", r"bidirected .*edge a <-> b"),
        ("dag { x -> y; a <-> b }", r"bidirected .*edge a <-> b in DAGitty"),
        ("digraph { a -- b }", r"undirected edge a -- b in DOT"),
    ],
)
def test_undirected_and_bidirected_edges_are_named(text, what):
    with pytest.raises(GraphError, match=what):
        CausalGraph.parse(text)


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_says_it_is_empty(text):
    with pytest.raises(GraphError, match="empty"):
        CausalGraph.parse(text)


@pytest.mark.parametrize("bad", [" my node", "a;b", "", "x->y", 3])
def test_bad_node_names_are_refused(bad):
    with pytest.raises(GraphError, match="node name"):
        CausalGraph([bad], [])


def test_other_parse_errors_are_graph_errors():
    with pytest.raises(GraphError, match="ends after '->'"):
        CausalGraph.parse("a ->")
    with pytest.raises(GraphError, match="unclosed"):
        CausalGraph.parse("{a b")
    with pytest.raises(GraphError, match="DAGitty text must look like"):
        CausalGraph.from_dagitty("a -> b")
    with pytest.raises(GraphError, match="duplicate edge a -> b"):
        CausalGraph(["a", "b"], [("a", "b"), ("a", "b")])
    assert issubclass(GraphError, ValueError)


# ---------------------------------------------------------------------- structure
def test_relatives():
    g = CausalGraph.parse("a -> b -> d; a -> c -> d; d -> e; f")
    assert g.parents("d") == ("b", "c")
    assert g.children("a") == ("b", "c")
    assert g.ancestors("e") == ("a", "b", "c", "d")
    assert g.descendants("b") == ("d", "e")
    assert g.ancestors("f") == () and g.descendants("f") == ()
    assert g.generations() == [("a", "f"), ("b", "c"), ("d",), ("e",)]
    assert g.has_edge("a", "b") and not g.has_edge("b", "a")


def test_do_removes_incoming_edges_only_and_returns_a_new_graph():
    g = CausalGraph.parse("a -> b -> c; a -> c").with_kinds({"b": "binary"})
    before = (g.nodes, g.edges, g.kinds)
    m = g.do("b")
    assert m is not g
    assert edge_set(m) == {("b", "c"), ("a", "c")}
    assert m.parents("b") == () and m.children("b") == ("c",)
    assert m.kinds == {"b": "binary"}
    assert (g.nodes, g.edges, g.kinds) == before  # the original is unchanged
    assert edge_set(g.do("a", "c")) == {("a", "b")}


def test_without_edges_and_with_edges():
    g = TRIANGLE.without_edges(("x1", "x3"))
    assert edge_set(g) == {("x1", "x2"), ("x2", "x3")}
    assert edge_set(TRIANGLE) == {("x1", "x2"), ("x1", "x3"), ("x2", "x3")}
    with pytest.raises(GraphError, match="cannot remove x3 -> x1: the graph has no such edge"):
        TRIANGLE.without_edges(("x3", "x1"))
    h = CHAIN.with_edges(("c", "d"), ("a", "d"))
    assert edge_set(h) == {("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")}
    assert h.nodes == ("a", "b", "c", "d")
    with pytest.raises(GraphError, match="cycle: .*c -> a"):
        CHAIN.with_edges(("c", "a"))
    assert CHAIN == CausalGraph.parse("a -> b -> c")


def test_adjacency_in_canonical_order():
    g = CausalGraph.parse("z -> a; z -> m; a -> m")
    assert g.nodes == ("z", "a", "m")
    np.testing.assert_array_equal(g.adjacency(), np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]]))
    assert g.index("m") == 2


def test_equality_and_hash_include_kinds():
    g = CausalGraph.parse("a -> b")
    assert g == CausalGraph.from_edges([("a", "b")])
    assert hash(g) == hash(CausalGraph.from_edges([("a", "b")]))
    assert g != g.with_kinds({"a": "binary"})
    assert g.same_structure(g.with_kinds({"a": "binary"}))
    assert g != CausalGraph.parse("b -> a")


# ---------------------------------------------------------------------- Markov properties
def test_d_separation_on_small_graphs():
    assert not CHAIN.d_separated("a", "c")
    assert CHAIN.d_separated("a", "c", ["b"])
    assert not FORK.d_separated("a", "c") and FORK.d_separated("a", "c", "b")
    assert COLLIDER.d_separated("a", "b")
    assert not COLLIDER.d_separated("a", "b", ["c"])
    g = CausalGraph.parse("a -> c; b -> c; c -> d")
    assert not g.d_separated("a", "b", ["d"])  # conditioning on a collider's descendant


def test_implied_independences_of_chain_is_exactly_a_indep_c_given_b():
    assert CHAIN.implied_independences() == [Independence("a", "c", ("b",))]
    assert str(CHAIN.implied_independences()[0]) == "a ⟂ c | b"
    assert COLLIDER.implied_independences() == [Independence("a", "b", ())]
    assert TRIANGLE.implied_independences() == []


def test_v_structures():
    assert COLLIDER.v_structures() == [("a", "c", "b")]
    assert CHAIN.v_structures() == [] and TRIANGLE.v_structures() == []


def test_cpdag_known_cases():
    cp = CHAIN.cpdag()
    assert cp.directed == () and set(cp.undirected) == {("a", "b"), ("b", "c")}
    cp = COLLIDER.cpdag()
    assert set(cp.directed) == {("a", "c"), ("b", "c")} and cp.undirected == ()
    # Meek rule 1: the collider's child is compelled
    cp = CausalGraph.parse("a -> c; b -> c; c -> d").cpdag()
    assert set(cp.directed) == {("a", "c"), ("b", "c"), ("c", "d")} and cp.undirected == ()
    # complete graph: nothing compelled
    assert TRIANGLE.cpdag().directed == () and len(TRIANGLE.cpdag().undirected) == 3
    assert str(COLLIDER.cpdag()) == "a -> c; b -> c"


PGMPY_CASES = [
    "a -> b -> c",
    "a -> c; b -> c",
    "a -> c; b -> c; c -> d",
    "a -> b; a -> c; b -> d; c -> d",
    "a -> b; b -> c; a -> c; c -> d; e -> d",
    # Meek rule 3 shape: a -- c, a -- d, c -> b <- d, a -- b
    "a -> c; a -> d; c -> b; d -> b; a -> b",
    "x1 -> x2; x1 -> x3; x2 -> x4; x3 -> x5; x4 -> x6; x5 -> x7; x6 -> x8; x7 -> x9; x8 -> x9",
    "A -> edu; A -> amount; age -> edu; age -> amount; amount -> duration; edu -> income; income -> savings",
]


@pytest.mark.parametrize("text", PGMPY_CASES)
def test_cpdag_agrees_with_pgmpy(text):
    g = CausalGraph.parse(text)
    p = g.to_pgmpy()
    pd_ = p.to_pdag()
    directed, undirected = cpdag_sets(g.cpdag())
    assert directed == set(pd_.directed_edges)
    assert undirected == {frozenset(e) for e in pd_.undirected_edges}
    imm = {frozenset(pair) for pairs in p.get_immoralities().values() for pair in pairs}
    assert imm == {frozenset((a, b)) for a, _, b in g.v_structures()}


def test_markov_equivalence_and_equivalence_class_of_chain():
    assert CHAIN.markov_equivalent(FORK)
    assert CHAIN.markov_equivalent(CausalGraph.parse("c -> b -> a"))
    assert not CHAIN.markov_equivalent(COLLIDER)
    assert not CHAIN.markov_equivalent(CausalGraph.parse("a -> b; c"))
    cls = CHAIN.equivalence_class()
    assert len(cls) == 3 and cls[0] is CHAIN
    assert {frozenset(m.edges) for m in cls} == {
        frozenset({("a", "b"), ("b", "c")}),
        frozenset({("b", "a"), ("b", "c")}),
        frozenset({("c", "b"), ("b", "a")}),
    }
    assert all(m.markov_equivalent(CHAIN) for m in cls)
    assert COLLIDER.equivalence_class() == [COLLIDER]
    assert len(TRIANGLE.equivalence_class()) == 6
    assert len(TRIANGLE.equivalence_class(limit=2)) == 2


def test_equivalence_class_size_of_known_graphs():
    complete = CausalGraph([f"v{i}" for i in range(6)], [(f"v{i}", f"v{j}") for i in range(6) for j in range(i + 1, 6)])
    assert complete.equivalence_class_size() == 720
    assert CausalGraph.parse("a -> b; c -> b").equivalence_class_size() == 1  # a v-structure
    assert CausalGraph.parse("x1 -> x2 -> x3 -> x4 -> x5").equivalence_class_size() == 5  # a chain: one root per node


def test_module_doctests():
    import causal.graph

    assert doctest.testmod(causal.graph).failed == 0


# ---------------------------------------------------------------------- properties
@PROPS
@given(dags())
def test_prop_canonical_order_is_the_name_tie_broken_topological_order(g):
    pos = {n: i for i, n in enumerate(g.nodes)}
    assert all(pos[a] < pos[b] for a, b in g.edges)
    assert g.nodes == reference_order(g)
    a = g.adjacency()
    assert np.array_equal(a, np.triu(a, k=1))  # upper triangular in canonical order


@PROPS
@given(dags())
def test_prop_text_formats_round_trip(g):
    assert CausalGraph.from_dagitty(g.to_dagitty()) == g
    assert CausalGraph.from_dot(g.to_dot()) == g
    assert CausalGraph.from_json(g.to_json()) == g
    assert CausalGraph.parse(g.to_dagitty()) == g
    assert CausalGraph.parse(g.to_dot()) == g
    assert CausalGraph.parse(g.to_json()) == g
    assert CausalGraph.from_networkx(g.to_networkx()) == g
    assert CausalGraph.parse(g.to_text()).same_structure(g)


@PROPS
@given(dags(with_kinds=False))
def test_prop_equivalence_class_members_share_the_cpdag(g):
    cls = g.equivalence_class()
    cp = g.cpdag()
    edges = [frozenset(m.edges) for m in cls]
    assert len(set(edges)) == len(edges)  # no member twice
    for m in cls:
        assert m.markov_equivalent(g) and g.markov_equivalent(m)
        assert cpdag_sets(m.cpdag()) == cpdag_sets(cp)
    # every compelled edge keeps its direction; every undirected pair is reversed somewhere
    for e in cp.directed:
        assert all(e in m for m in edges)
    for a, b in cp.undirected:
        assert any((a, b) in m for m in edges) and any((b, a) in m for m in edges)


@PROPS
@given(dags(max_nodes=5, with_kinds=False))
def test_prop_cpdag_and_class_match_brute_force(g):
    members = brute_force_class(g)  # at most 10 edges: at most 1024 orientations
    assert {frozenset(m.edges) for m in g.equivalence_class()} == set(members)
    assert cpdag_sets(g.cpdag()) == cpdag_from_class(members)
    vs = {(c, frozenset((a, b))) for a, c, b in g.v_structures()}
    assert vs == ref_v_structures(g.nodes, g.edges)


@PROPS
@given(dags(max_nodes=6, with_kinds=False))
def test_prop_equivalence_class_size_counts_the_enumerated_class(g):
    assert g.equivalence_class_size() == len(g.equivalence_class(limit=100_000))


@PROPS
@given(dags(), st.data())
def test_prop_do_cuts_incoming_edges_and_keeps_the_rest(g, data):
    x = data.draw(st.sampled_from(g.nodes))
    m = g.do(x)
    assert m.parents(x) == ()
    assert edge_set(m) == {e for e in g.edges if e[1] != x}
    assert set(m.nodes) == set(g.nodes)
    assert m.kinds == g.kinds


@PROPS
@given(dags(with_kinds=False))
def test_prop_implied_independences_are_d_separations(g):
    for ind in g.implied_independences():
        assert g.d_separated(ind.x, ind.y, ind.given)
        assert set(ind.given) == set(g.parents(ind.y))
    # and no edge is claimed independent
    for a, b in g.edges:
        assert not g.d_separated(a, b, [n for n in g.nodes if n not in (a, b)])


def test_dot_subgraph_is_refused_not_misread():
    with pytest.raises(GraphError, match="subgraphs are not supported"):
        CausalGraph.parse("digraph { subgraph cluster_0 { a; b } a -> b }")


def test_newline_separated_group_statement():
    g = CausalGraph.parse("dag {\na -> b\n{c d} -> a\n}")
    assert edge_set(g) == {("a", "b"), ("c", "a"), ("d", "a")}


def test_table_headers_with_spaces_are_node_names_quoted_in_text():
    g = CausalGraph.parse('"age (years)" -> "Einkommen €"; "Einkommen €" -> children\'s')
    assert g.nodes == ("age (years)", "Einkommen €", "children's")
    for text in (g.to_text(), g.to_dagitty(), g.to_dot(), g.to_json()):
        assert CausalGraph.parse(text).same_structure(g), text
    for bad, why in ((" a", "starts or ends with a space"), ("a;b", "reserved"), ("a=b", "reserved"),
                     ("a\tb", "reserved"), ("a -> b", "reserved"), ('a"b', "reserved")):
        with pytest.raises(GraphError, match=why):
            CausalGraph([bad], [])


def test_an_unquoted_name_with_spaces_gets_a_hint_when_checked_against_the_table():
    from causal import validate_table

    df = pd.DataFrame({"capital gain": np.arange(40.0), "income": np.arange(40.0) % 7})
    with pytest.raises(DataError, match=r'no column for node\(s\) capital, gain.*must be in double quotes.*"capital gain"'):
        validate_table(df, CausalGraph.parse("capital gain -> income"))
    assert list(validate_table(df, CausalGraph.parse('"capital gain" -> income')).columns) == ["capital gain", "income"]
