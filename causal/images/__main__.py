"""Redraw the README's dataset pictures: ``python -m causal.images assets/``."""

import sys
from pathlib import Path

from causal.images.files import save_png
from causal.images.registry import example_grid

if __name__ == "__main__":
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "assets")
    for ds, fname in (("pendulum", "pendulum.png"), ("faces", "faces.png"), ("morpho-glyphs", "glyphs.png")):
        print(save_png(example_grid(ds), out_dir / fname))
