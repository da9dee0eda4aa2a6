"""Every docstring example of the library and of the app's plain modules runs as a test (the
Streamlit pages and glue are left out: they run a page when imported)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import torch

PACKAGES = ("causal", "generators", "app")
SKIP = ("app.views", "app.main", "app.ui", "causal.images.__main__", "app.cli.__main__")


def _modules() -> list[str]:
    out = []
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        out.append(name)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{name}."):
            if not info.name.startswith(SKIP):
                out.append(info.name)
    return sorted(out)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    torch.set_num_threads(1)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
