"""The cartoon faces image dataset: nine binary attributes with CausalGAN's causal graph, and their renderer."""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import pandas as pd

from causal.graph import CausalGraph
from causal.images.canvas import Canvas, col, sd_box, sd_circle, sd_ellipse, sd_polyline, sd_segment, sd_superellipse
from causal.images.scm import ImageSCM
from causal.scm import SCM, bernoulli

__all__ = ["FACE_ATTRIBUTES", "FACE_CPT", "FACE_STYLE", "render_faces", "image_scm"]

FACE_ATTRIBUTES = ("Young", "Male", "Eyeglasses", "Bald", "Mustache", "Smiling", "Lipstick", "MouthOpen", "NarrowEyes")
# node -> (parents, P(node = 1 | parents)) with the table indexed by the parents' 0/1 values in order
FACE_CPT: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
    "Young": ((), np.array(0.75)),
    "Male": ((), np.array(0.42)),
    "Eyeglasses": (("Young",), np.array([0.15, 0.03])),
    "Bald": (("Young", "Male"), np.array([[0.003, 0.30], [0.001, 0.03]])),
    "Mustache": (("Young", "Male"), np.array([[0.002, 0.28], [0.002, 0.10]])),
    "Smiling": (("Young", "Male"), np.array([[0.55, 0.40], [0.60, 0.45]])),
    "Lipstick": (("Young", "Male"), np.array([[0.55, 0.005], [0.80, 0.01]])),
    "MouthOpen": (("Young", "Smiling"), np.array([[0.10, 0.60], [0.15, 0.75]])),
    "NarrowEyes": (("Young", "Male", "Smiling"), np.array([[[0.08, 0.25], [0.10, 0.30]], [[0.04, 0.18], [0.05, 0.22]]])),
}
FACE_STYLE = ("skin", "hair", "width", "dx", "dy", "shirt")

_SKIN = np.array([[247, 220, 196], [232, 190, 150], [198, 140, 100], [150, 100, 68], [105, 70, 48]], np.float32)
_HAIR = np.array([[28, 24, 24], [70, 42, 28], [120, 78, 42], [212, 178, 98], [160, 66, 34]], np.float32)
_SHIRT = np.array([[60, 90, 160], [170, 60, 60], [70, 130, 90], [120, 120, 130], [200, 160, 60], [110, 70, 140]], np.float32)
_GREY_HAIR = np.array([200, 200, 204], np.float32)
_LIPSTICK = np.array([205, 20, 60], np.float32)
_BACKGROUND = (226, 232, 240)


def _face_prob(node: str) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    parents, table = FACE_CPT[node]
    return lambda pa: table[tuple(np.asarray(pa[p], dtype=np.int64) for p in parents)] if parents else table


def _faces_label_scm() -> SCM:
    edges = [(p, node) for node, (parents, _) in FACE_CPT.items() for p in parents]
    graph = CausalGraph.from_edges(edges, nodes=FACE_ATTRIBUTES).with_kinds({a: "binary" for a in FACE_ATTRIBUTES})
    return SCM(graph, {node: bernoulli(_face_prob(node)) for node in FACE_ATTRIBUTES},
               categories={a: (0, 1) for a in FACE_ATTRIBUTES}, name="faces")


def _face_style(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([
        rng.random(n),                  # skin: 0 light .. 1 dark (interpolated palette)
        rng.integers(0, len(_HAIR), n),  # hair colour index
        rng.uniform(0.92, 1.08, n),     # face width factor
        rng.uniform(-0.05, 0.05, n),    # dx, in half-image units
        rng.uniform(-0.04, 0.04, n),    # dy
        rng.integers(0, len(_SHIRT), n),  # shirt colour index
    ])


def _palette(table: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Piecewise-linear colours from ``t`` in [0, 1]."""
    x = np.clip(t, 0, 1) * (len(table) - 1)
    i = np.minimum(np.floor(x).astype(int), len(table) - 2)
    f = (x - i)[:, None].astype(np.float32)
    return table[i] * (1 - f) + table[i + 1] * f


def render_faces(labels: pd.DataFrame, style: np.ndarray, size: int = 32) -> np.ndarray:
    """Draw cartoon faces (RGB uint8) from the nine binary attributes and ``FACE_STYLE``.

    Coordinates: x, y in [-1, 1], y down; the head fills about the middle 60 % of the image.
    """
    a = {k: labels[k].to_numpy().astype(np.float32) for k in FACE_ATTRIBUTES}
    young, male, glasses, bald = a["Young"], a["Male"], a["Eyeglasses"], a["Bald"]
    mustache, smiling, lipstick, mopen, narrow = a["Mustache"], a["Smiling"], a["Lipstick"], a["MouthOpen"], a["NarrowEyes"]
    n = len(labels)
    style = np.asarray(style, dtype=np.float64)
    skin = _palette(_SKIN, style[:, 0])
    hair = _HAIR[np.clip(style[:, 1].astype(int), 0, len(_HAIR) - 1)]
    hair = hair + (_GREY_HAIR - hair) * (0.75 * (1 - young))[:, None]  # older: grey
    shirt = _SHIRT[np.clip(style[:, 5].astype(int), 0, len(_SHIRT) - 1)]
    dark_skin = skin * np.float32(0.72)
    lips = np.where(lipstick[:, None] > 0.5, _LIPSTICK, skin * np.array([0.66, 0.42, 0.44], np.float32))
    # mustache: the hair colour or a dark version of it, whichever contrasts more with the skin
    dark_tache, light_tache = hair * np.float32(0.38) + 8, np.minimum(hair + 25, 255)
    lum = np.array([0.3, 0.59, 0.11], np.float32)
    use_dark = np.abs((dark_tache - skin) @ lum) >= np.abs((light_tache - skin) @ lum)
    tache = np.where(use_dark[:, None], dark_tache, light_tache)
    fx, fy = col(style[:, 3]), col(style[:, 4])
    w = col(0.45 * style[:, 2] * (1 + 0.07 * male))  # face half-width
    h = np.float32(0.56)
    cy = fy - 0.04  # face centre
    M, S, N = col(male), col(smiling), col(narrow)

    cv = Canvas(n, size, 3, _BACKGROUND, (-0.86, 0.86, -0.82, 0.90))
    # shoulders and neck
    reg = cv.region(y0=0.55)
    cv.paint(reg, sd_ellipse(reg[2], reg[3], fx, np.float32(1.22), 0.78 + 0.1 * M, np.float32(0.45)), shirt)
    reg = cv.region(-0.3, 0.3, 0.2, 1.0)
    cv.paint(reg, sd_box(reg[2], reg[3], fx, cy + 0.62, np.float32(0.15), np.float32(0.3)), skin * np.float32(0.86))
    full = cv.region()
    X, Y = full[2], full[3]
    # long hair behind the head (women with hair)
    long_hair = np.minimum(
        sd_ellipse(X, Y, fx, cy - 0.06, w + 0.14, h + 0.1),
        sd_box(X, Y, fx, cy + 0.3, w + 0.06, np.float32(0.36)) - 0.08,
    )
    cv.paint(full, long_hair, hair, mask=(1 - male) * (1 - bald))
    # ears, face
    reg = cv.region(-0.75, 0.75, -0.3, 0.35)
    for side in (-1, 1):
        cv.paint(reg, sd_ellipse(reg[2], reg[3], fx + side * (w - 0.01), cy + 0.04, np.float32(0.075), np.float32(0.12)),
                 skin * np.float32(0.92))
    p = np.where(Y > cy, 2.0 + 0.9 * M, np.float32(2.2)).astype(np.float32)
    face = sd_superellipse(X, Y, fx, cy, w, np.where(Y > cy, h + 0.02 * M, h).astype(np.float32), p)
    cv.paint(full, face, skin)
    # wrinkles (older): nasolabial folds, forehead line, under-eye lines
    reg = cv.region(-0.5, 0.5, -0.5, 0.5)
    X2, Y2 = reg[2], reg[3]
    hw = np.float32(0.016 + 0.006 * 32 / size)
    old = 1 - young
    wr = np.minimum(
        sd_polyline(X2, Y2, np.stack([style[:, 3] - 0.12, style[:, 3] - 0.2, style[:, 3] - 0.21], 1),
                     np.stack([style[:, 4] + 0.14, style[:, 4] + 0.26, style[:, 4] + 0.36], 1), hw),
        sd_polyline(X2, Y2, np.stack([style[:, 3] + 0.12, style[:, 3] + 0.2, style[:, 3] + 0.21], 1),
                     np.stack([style[:, 4] + 0.14, style[:, 4] + 0.26, style[:, 4] + 0.36], 1), hw),
    )
    wr = np.minimum(wr, sd_segment(X2, Y2, fx - 0.16, fy - 0.30, fx + 0.16, fy - 0.30, hw))
    for side in (-1, 1):
        ex = fx + side * 0.19 * w / 0.45
        wr = np.minimum(wr, sd_segment(X2, Y2, ex - 0.07, fy + 0.045, ex + 0.07, fy + 0.045, hw))
    cv.paint(reg, wr, dark_skin, mask=old, opacity=0.85)
    # top hair (not bald): head cap above a hairline; women's hairline comes down the sides
    u = (X - fx) / w
    hairline = np.where(M > 0.5, cy - 0.34 + 0.24 * u ** 4, cy - 0.30 + 0.62 * u ** 4 - 0.05 * u)
    cap = np.maximum(sd_ellipse(X, Y, fx, cy - 0.05, w + 0.04, h + 0.08), (Y - hairline) / np.sqrt(1 + (2.4 * u ** 3 / w) ** 2))
    cv.paint(full, cap, hair, mask=1 - bald)
    # bald: scalp highlight and side tufts
    reg = cv.region(-0.7, 0.7, -0.7, 0.1)
    X3, Y3 = reg[2], reg[3]
    cv.paint(reg, sd_ellipse(X3, Y3, fx - 0.13, cy - 0.43, np.float32(0.13), np.float32(0.06)),
             np.minimum(skin * 1.15 + 20, 255), mask=bald, opacity=0.8)
    tufts = np.minimum(sd_ellipse(X, Y, fx - w + 0.02, cy - 0.12, np.float32(0.07), np.float32(0.15)),
                       sd_ellipse(X, Y, fx + w - 0.02, cy - 0.12, np.float32(0.07), np.float32(0.15)))
    cv.paint(full, tufts, hair, mask=bald)
    # eyes, brows, glasses
    reg = cv.region(-0.7, 0.7, -0.4, 0.3)
    X4, Y4 = reg[2], reg[3]
    ey = cy - 0.02
    ry = 0.07 * (1 - 0.68 * N)
    for side in (-1, 1):
        ex = fx + side * 0.19 * w / 0.45
        eye = sd_ellipse(X4, Y4, ex, ey, np.float32(0.095), ry)
        cv.paint(reg, eye, (250, 250, 250))
        cv.paint(reg, np.maximum(sd_circle(X4, Y4, ex, ey + 0.005, np.float32(0.048)), eye), (45, 32, 28))
        lid = sd_segment(X4, Y4, ex - 0.1, ey - ry, ex + 0.1, ey - ry, np.float32(0.018))
        cv.paint(reg, lid, (40, 30, 30), mask=narrow)
        by = ey - 0.14 + 0.03 * N
        brow = sd_segment(X4, Y4, ex - side * 0.08, by + 0.015, ex + side * 0.1, by - 0.01 + 0.01 * M, 0.022 + 0.012 * M)
        cv.paint(reg, brow, hair * np.float32(0.8))
    for side in (-1, 1):
        ex = fx + side * 0.19 * w / 0.45
        cv.paint(reg, sd_circle(X4, Y4, ex, ey, np.float32(0.15)), (185, 215, 235), mask=glasses, opacity=0.35)
        ring = np.abs(sd_circle(X4, Y4, ex, ey, np.float32(0.15))) - 0.026
        temple = sd_segment(X4, Y4, ex + side * 0.15, ey - 0.02, fx + side * w, ey - 0.04, np.float32(0.022))
        cv.paint(reg, np.minimum(ring, temple), (20, 20, 28), mask=glasses)
    bridge = sd_segment(X4, Y4, fx - 0.19 * w / 0.45 + 0.15, ey - 0.02, fx + 0.19 * w / 0.45 - 0.15, ey - 0.02, np.float32(0.024))
    cv.paint(reg, bridge, (20, 20, 28), mask=glasses)
    # raised, rosy cheeks when smiling (the mouth alone can hide under a mustache)
    for side in (-1, 1):
        ex = fx + side * 0.2 * w / 0.45
        cv.paint(reg, sd_ellipse(X4, Y4, ex, ey + 0.17, np.float32(0.08), np.float32(0.045)), (240, 110, 120),
                 mask=smiling, opacity=0.4)
    # nose
    reg = cv.region(-0.3, 0.3, 0.0, 0.3)
    cv.paint(reg, sd_ellipse(reg[2], reg[3], fx, cy + 0.17, np.float32(0.055), np.float32(0.035)), dark_skin, opacity=0.6)
    # mouth
    reg = cv.region(-0.5, 0.5, 0.1, 0.7)
    X5, Y5 = reg[2], reg[3]
    mx, my = style[:, 3], style[:, 4] - 0.04 + 0.34
    mw = 0.15 + 0.035 * smiling
    t = np.linspace(-1, 1, 9)[None, :]
    curve_y = my[:, None] + smiling[:, None] * (0.06 - 0.12 * t ** 2) + (1 - smiling[:, None]) * 0.01 * t ** 2
    closed = sd_polyline(X5, Y5, mx[:, None] + mw[:, None] * t, curve_y, col(0.034 + 0.006 * lipstick))
    cv.paint(reg, closed, lips, mask=1 - mopen)
    MX, MY = col(mx), col(my)
    grin = np.maximum(sd_ellipse(X5, Y5, MX, MY - 0.03, col(mw), np.float32(0.15)), (MY - 0.02) - Y5)
    o_mouth = sd_ellipse(X5, Y5, MX, MY + 0.03, np.float32(0.075), np.float32(0.09))
    inner = np.where(S > 0.5, grin, o_mouth)
    cv.paint(reg, np.abs(inner) - col(0.03 + 0.008 * lipstick), lips, mask=mopen)
    cv.paint(reg, inner + 0.012, (90, 18, 32), mask=mopen)
    cv.paint(reg, np.maximum(inner + 0.012, Y5 - (MY + 0.045)), (245, 245, 238), mask=mopen * smiling)
    # mustache
    mxs = mx[:, None] + np.array([[-0.17, -0.09, 0.0, 0.09, 0.17]])
    mys = my[:, None] + np.array([[-0.035, -0.095, -0.085, -0.095, -0.035]]) - 0.015 * mopen[:, None]
    cv.paint(reg, sd_polyline(X5, Y5, mxs, mys, np.float32(0.048)), tache, mask=mustache)
    return cv.uint8()


def image_scm() -> ImageSCM:
    """The faces image SCM: binary CelebA-like attributes with CausalGAN's causal graph
    (Kocaoglu et al. 2017, "big" graph restricted to these nodes), drawn as cartoon faces.

    Young → {Eyeglasses, Bald, Mustache, Smiling, Lipstick, MouthOpen, NarrowEyes};
    Male → {Bald, Mustache, Smiling, Lipstick, NarrowEyes}; Smiling → {MouthOpen,
    NarrowEyes}. Conditional probabilities (``FACE_CPT``; chosen to be plausible, near
    CelebA's marginals, not fitted to it)::

        P(Young=1) = 0.75               P(Male=1) = 0.42
        P(Eyeglasses=1 | Young)         old 0.15, young 0.03
        P(Bald=1 | Young, Male)         old: F 0.003, M 0.30;   young: F 0.001, M 0.03
        P(Mustache=1 | Young, Male)     old: F 0.002, M 0.28;   young: F 0.002, M 0.10
        P(Smiling=1 | Young, Male)      old: F 0.55,  M 0.40;   young: F 0.60,  M 0.45
        P(Lipstick=1 | Young, Male)     old: F 0.55,  M 0.005;  young: F 0.80,  M 0.01
        P(MouthOpen=1 | Young, Smiling) old: S0 0.10, S1 0.60;  young: S0 0.15, S1 0.75
        P(NarrowEyes=1 | Young, Male, Smiling)
                                        old:   F S0 0.08, F S1 0.25, M S0 0.10, M S1 0.30
                                        young: F S0 0.04, F S1 0.18, M S0 0.05, M S1 0.22

    so P(Male | Mustache=1) = 0.981 exactly, while do(Mustache=1) leaves P(Male) = 0.42:
    CausalGAN's signature contrast (conditioning gives men, intervening gives women with
    mustaches too). Every attribute is drawn: Young=0 greys the hair and adds wrinkles;
    Male=1 gives a squarer, wider jaw and short hair (Male=0: long hair to the shoulders);
    Bald=1 a bare scalp with a highlight and side tufts; Eyeglasses, Mustache, Lipstick (red
    lips), Smiling (curved mouth or grin), MouthOpen and NarrowEyes as named. Style
    (``FACE_STYLE``): skin tone, hair colour, face width, x/y jitter, shirt colour.
    """
    scm = _faces_label_scm()
    return ImageSCM("faces", scm, render_faces, _face_style, FACE_STYLE, scm.graph.nodes, channels=3)
