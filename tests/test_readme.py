"""The README's Python quick-start runs as written."""

from __future__ import annotations

import re

from conftest import REPO


def python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_names_the_two_commands():
    text = (REPO / "README.md").read_text()
    head = text[: text.index("## Quick start")]
    assert "make run" in head and "make test" in head


def test_readme_python_quick_start_runs(tmp_path, monkeypatch, capsys):
    blocks = python_blocks()
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "True" in out or "False" in out  # the support flags were printed
    assert (tmp_path / "runs" / "tri" / "model.safetensors").exists()
    intv_x1, cond_x1 = namespace["intv"]["x1"].mean(), namespace["cond"]["x1"].mean()
    assert abs(intv_x1 - 1.0) < 0.1 and cond_x1 > 1.3  # do(x2) leaves x1 alone; given x2 = 15 moves it
    assert float((namespace["cf"] - namespace["truth"]).abs().max().max()) < 0.5
    # images: seeing a mustache means a man (the controller's exact label CPTs); doing it does not
    assert namespace["seen"].labels["Male"].mean() == 1.0 and namespace["done"].labels["Male"].mean() < 0.7
    assert (namespace["edited"].labels["Mustache"] == 1).all() and (tmp_path / "mustache.png").exists()
