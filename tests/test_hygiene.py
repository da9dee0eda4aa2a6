"""Library hygiene: the library never pulls in the UI, and never unpickles untrusted files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARY = ("causal", "generators")


def library_files() -> list[Path]:
    files = [p for pkg in LIBRARY for p in sorted((REPO / pkg).rglob("*.py"))]
    assert files, "no library files found"
    return files


def test_importing_the_library_does_not_import_streamlit():
    code = (
        "import sys\n"
        "import causal, generators\n"
        "import causal.datasets, causal.metrics, causal.queries\n"
        "bad = sorted(m for m in sys.modules if m == 'streamlit' or m.startswith('streamlit.'))\n"
        "print('LOADED', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "LOADED" in res.stdout, res.stderr
    assert res.returncode == 0, f"streamlit imported by the library: {res.stdout} {res.stderr}"


def _calls(text: str, name: str) -> list[str]:
    """The full text of every ``name(...)`` call, parentheses matched."""
    out = []
    for m in re.finditer(re.escape(name) + r"\s*\(", text):
        depth, i = 0, m.end() - 1
        while i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
            if depth == 0:
                break
        out.append(text[m.start():i])
    return out


def test_call_finder_sees_multiline_calls():
    src = "x = torch.load(\n  path,\n  map_location=f(a),\n  weights_only=True,\n)\ny = torch.load(p)"
    assert _calls(src, "torch.load") == [
        "torch.load(\n  path,\n  map_location=f(a),\n  weights_only=True,\n)",
        "torch.load(p)",
    ]


@pytest.mark.parametrize("path", library_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_ui_imports_and_no_unsafe_deserialization(path):
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(REPO)
    assert not re.search(r"^\s*(import\s+streamlit|from\s+streamlit\b)", text, re.MULTILINE), f"{rel} imports streamlit"
    assert "pickle.load" not in text, f"{rel} unpickles (pickle.load / pickle.loads)"
    for call in _calls(text, "torch.load"):
        assert re.search(r"weights_only\s*=\s*True", call), f"{rel}: {call!r} needs weights_only=True"
