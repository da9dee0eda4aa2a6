"""The workspace's saved graphs: causal graphs kept under a name."""

from __future__ import annotations

from app.workspace.db import Database, _json, _new_id, _now, _write_atomically
from app.workspace.records import GraphRecord, WorkspaceError
from causal import CausalGraph


class GraphStore(Database):
    """The workspace's saved graphs."""

    def add_graph(self, name: str, graph: CausalGraph | str) -> GraphRecord:
        """Save a graph (a ``CausalGraph`` or text in any syntax it parses) under a name."""
        name = str(name).strip()
        if not name:
            raise WorkspaceError("a graph needs a name")
        g = graph if isinstance(graph, CausalGraph) else CausalGraph.parse(graph)
        self._require_writable()
        graph_id = _new_id()
        record = {"id": graph_id, "name": name, "graph": g.to_json(), "created": _now()}
        path = self.root / "graphs" / f"{graph_id}.json"  # beside the registry, to rebuild it from (app.workspace.rebuild)
        _write_atomically(path, lambda tmp: tmp.write_text(_json(record) + "\n"))
        try:
            with self._write() as c:
                c.execute("INSERT INTO graphs (id, name, graph, created) VALUES (?, ?, ?, ?)",
                          (graph_id, name, record["graph"], record["created"]))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return self.graph(graph_id)

    def graphs(self) -> list[GraphRecord]:
        """Every saved graph, newest first."""
        with self._read() as c:
            return [GraphRecord(r["id"], r["name"], r["graph"], r["created"])
                    for r in c.execute("SELECT * FROM graphs ORDER BY seq DESC")]

    def graph(self, graph_id: str) -> GraphRecord:
        with self._read() as c:
            r = c.execute("SELECT * FROM graphs WHERE id = ?", (graph_id,)).fetchone()
        if r is None:
            raise WorkspaceError(f"no graph '{graph_id}' in workspace {self.root}")
        return GraphRecord(r["id"], r["name"], r["graph"], r["created"])

    def delete_graph(self, graph_id: str) -> None:
        """Delete a saved graph (runs keep their own copy of the graph they trained on)."""
        with self._write() as c:
            if c.execute("DELETE FROM graphs WHERE id = ?", (graph_id,)).rowcount == 0:
                raise WorkspaceError(f"no graph '{graph_id}' in workspace {self.root}")
        (self.root / "graphs" / f"{graph_id}.json").unlink(missing_ok=True)
