"""Reading and writing causal graphs as text: the statement grammar shared by plain graph text,
DAGitty and DOT (tokens, groups, attributes), node names as the formats write them, the
checks every node name passes, and the readers of JSON node and edge entries. ``GraphError``,
the error a user's bad graph raises, lives here so every reader can raise it."""

from __future__ import annotations

import json
import re
from typing import Mapping

Edge = tuple[str, str]

# a node name: a column's header as tables write them ("age (years)", "Einkommen €"), so spaces
# inside are fine (the text formats quote such names); not what the grammar or the command
# line's A=VALUE and A -> B arguments read as syntax, nor line breaks or tabs
_NAME_RE = re.compile(r'^[^\t\n\r\f\v;{}\[\]"=,]+$')


class GraphError(ValueError):
    """A graph the user gave is not a valid causal DAG (cycle, self-loop, bad name...)."""


def json_name(value: object, what: str) -> str:
    """A node name read from JSON: text, or a whole number (networkx writes those)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise GraphError(f"graph JSON {what} must be a name (text), got {short(value)}")
    return str(value)


def json_edge(e: object, i: int) -> Edge:
    """An edge read from JSON: ``{"source": a, "target": b}`` or ``[a, b]``."""
    if isinstance(e, Mapping):
        missing = [k for k in ("source", "target") if k not in e]
        if missing:
            raise GraphError(f"graph JSON edge {i + 1} has no {' or '.join(map(repr, missing))}: {short(e)}; "
                             "write each edge as {\"source\": \"a\", \"target\": \"b\"}")
        return json_name(e["source"], f"edge {i + 1}'s source"), json_name(e["target"], f"edge {i + 1}'s target")
    if isinstance(e, (list, tuple)) and len(e) == 2:
        return json_name(e[0], f"edge {i + 1}'s parent"), json_name(e[1], f"edge {i + 1}'s child")
    raise GraphError(f"graph JSON edge {i + 1} must be a pair [parent, child] or {{\"source\", \"target\"}}, got {short(e)}")


def short(value: object, width: int = 60) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list, str, int, float, bool, type(None))) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


_KEYWORDS = {"graph", "digraph", "subgraph", "strict", "node", "edge", "dag", "pdag"}
_PLAIN_NAME = re.compile(r'[^\s{};\[\]=,"<>-]+(?:-(?!>|-)[^\s{};\[\]=,"<>-]+)*')  # _TOKEN_RE's word


def quoted(n: str) -> str:
    """A node name as the text formats write it: bare when it reads back as itself, else in
    double quotes (a keyword such as ``graph``, a comment mark ``#`` ``//`` ``/*``, or
    characters such as ``<`` and a trailing ``-``)."""
    if _PLAIN_NAME.fullmatch(n) and n.lower() not in _KEYWORDS and not any(c in n for c in ("#", "//", "/*")):
        return n
    return f'"{n}"'


def check_name(n: object) -> None:
    if not isinstance(n, str) or not n.strip():
        raise GraphError(f"node names must be non-empty strings, got {n!r}")
    if n != n.strip():
        raise GraphError(f"node name {n!r} starts or ends with a space")
    if not _NAME_RE.match(n) or "->" in n or "<-" in n:
        raise GraphError(
            f"node name {n!r} has reserved characters (; {{ }} [ ] = , double quotes, arrows, tabs or line breaks)"
        )


_TOKEN_RE = re.compile(
    r'\s*(?:(?P<arrow><->|->|<-|--)|(?P<punct>[{};\[\]=,\n])|"(?P<quoted>[^"]*)"|(?P<word>[^\s{};\[\]=,"<>-]+(?:-(?!>|-)[^\s{};\[\]=,"<>-]+)*))',
)


_WORDS = ("word", "quoted")  # a name, bare or in quotes (quoted, it is never a keyword such as 'node')


def tokenize(text: str, source: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    # drop comments, but not a '#' or '//' inside a quoted string (color="#ff0000", URL="http://...")
    text = re.sub(r'("[^"]*")|//[^\n]*|#[^\n]*|/\*.*?\*/', lambda m: m.group(1) or "", text, flags=re.DOTALL)
    pos = 0
    while pos < len(text):
        if text[pos] in " \t\r":
            pos += 1
            continue
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise GraphError(f"cannot read {source} near {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        val = m.group(kind)
        if kind == "punct" and val == "\n":
            kind, val = "punct", ";"
        tokens.append((kind, val))
        pos = m.end()
    return tokens


def parse_statements(
    body: str, kinds: Mapping[str, str] | None, source: str, dot: bool = False
) -> tuple[list[str], list[Edge], dict[str, str]]:
    """Parse ``a -> b -> c; {a b} -> d; e [kind="binary"]`` statements (DAGitty/DOT bodies)
    into nodes, edges and node kinds."""
    tokens = tokenize(body, source)
    nodes: list[str] = []
    edges: list[Edge] = []
    found_kinds: dict[str, str] = {}
    i = 0

    def add(n: str) -> None:
        if n not in nodes:
            nodes.append(n)

    def read_group() -> list[str]:
        nonlocal i
        kind, val = tokens[i]
        if kind in _WORDS:
            i += 1
            return [val]
        if val == "{":
            i += 1
            names = []
            while i < len(tokens) and tokens[i][1] != "}":
                if tokens[i][0] in _WORDS:
                    names.append(tokens[i][1])
                elif tokens[i][1] not in (";", ","):
                    raise GraphError(f"unexpected {tokens[i][1]!r} inside {{ }} in {source}")
                i += 1
            if i >= len(tokens):
                raise GraphError(f"unclosed '{{' in {source}")
            i += 1
            return names
        raise GraphError(f"expected a node name in {source}, found {val!r}")

    def read_attrs(targets: list[str]) -> None:
        nonlocal i
        i += 1  # '['
        while i < len(tokens) and tokens[i][1] != "]":
            if tokens[i][0] in _WORDS and i + 2 < len(tokens) and tokens[i + 1][1] == "=":
                key, value = tokens[i][1], tokens[i + 2][1]
                if key == "kind":
                    for t in targets:
                        found_kinds[t] = value
                i += 3
            else:
                i += 1
        if i >= len(tokens):
            raise GraphError(f"unclosed '[' in {source}")
        i += 1

    while i < len(tokens):
        kind, val = tokens[i]
        if val in (";", ","):
            i += 1
            continue
        if dot and kind == "word" and val.lower() == "subgraph":
            raise GraphError(f"{source}: subgraphs are not supported; list their nodes and edges at the top level")
        if dot and kind == "word" and val.lower() in ("node", "edge", "graph") and i + 1 < len(tokens) and tokens[i + 1][1] == "[":
            i += 1
            read_attrs([])
            continue
        if kind in _WORDS and i + 1 < len(tokens) and tokens[i + 1][1] == "=":
            i += 3  # graph attribute such as rankdir=LR or bb="..."
            continue
        left = read_group()
        for n in left:
            add(n)
        if i < len(tokens) and tokens[i][1] == "[":
            read_attrs(left)
        while i < len(tokens) and tokens[i][0] == "arrow":
            arrow = tokens[i][1]
            if arrow in ("<->", "--"):
                a, b = left[0], tokens[i + 1][1] if i + 1 < len(tokens) else "?"
                what = "bidirected (a latent confounder)" if arrow == "<->" else "undirected"
                raise GraphError(
                    f"{what} edge {a} {arrow} {b} in {source}: only directed edges are supported; "
                    "model a confounder as its own node"
                )
            i += 1
            if i >= len(tokens):
                raise GraphError(f"{source} ends after '{arrow}'")
            right = read_group()
            for n in right:
                add(n)
            for a in left:
                for b in right:
                    e = (a, b) if arrow == "->" else (b, a)
                    if e not in edges:
                        edges.append(e)
            if i < len(tokens) and tokens[i][1] == "[":
                read_attrs([])  # edge attributes
            left = right
        if i < len(tokens) and tokens[i][1] not in (";", ","):
            kind2, val2 = tokens[i]
            if kind2 in _WORDS or val2 == "{":
                continue  # whitespace- or newline-separated statements (DAGitty allows it)
            raise GraphError(f"unexpected {val2!r} in {source}")
    found_kinds.update(kinds or {})
    if not nodes:
        raise GraphError(f"{source} names no nodes")
    return nodes, edges, found_kinds
