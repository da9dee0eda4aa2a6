"""Shared test set-up: small, seeded, CPU-only."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# The default workspace is the user's own (app.workspace.default_root): tests that open it
# (the CLI, the app under AppTest, workers) get a temporary one instead, unless they set one.
if not os.environ.get("COUNTERFACTORY_WORKSPACE"):
    os.environ["COUNTERFACTORY_WORKSPACE"] = str(Path(tempfile.mkdtemp(prefix="cf-tests-")) / "workspace")


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (real data for tests); skips cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
