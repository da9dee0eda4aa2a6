"""The model kinds, in one list: the CLI's ``--model`` choices and ``settings``, the app's model
picker and settings forms, ``build_model`` / ``load_model`` and the contract test all read
it, so a new kind is added here once.

>>> [k.name for k in KINDS]
['causal-gen', 'causal-vgen', 'ccgm', 'causal-gan', 'linear-anm']
>>> kind("ccgm").data
('table', 'images')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from causal.graph import CausalGraph, require_graph
from generators.image.causal_gan import CausalGAN, CausalGANConfig
from generators.image.ccgm import ImageCCGM
from generators.tabular.causal_gen import CausalGen, CausalGenConfig
from generators.tabular.causal_vgen import CausalVGen, CausalVGenConfig
from generators.tabular.ccgm import CCGMConfig, TabularCCGM

__all__ = ["ModelKind", "KINDS", "kind", "names", "kinds_for", "has_images"]


@dataclass(frozen=True)
class ModelKind:
    """One kind of model: its name (``build_model(name, ...)``), what the app calls it, one
    line on what it is, the paper it comes from, its config dataclass, and the class that
    trains on tables and the one that trains on labelled images (either may be absent).
    ``preset`` settings make a variant of another kind's class (the linear baseline is
    Causal Gen without hidden layers)."""

    name: str
    title: str
    summary: str
    reference: str
    config: type
    table: type | None = None
    image: type | None = None
    preset: Mapping[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> tuple[str, ...]:
        """What it trains on: ``"table"``, ``"images"`` or both."""
        return tuple(d for d, cls in (("table", self.table), ("images", self.image)) if cls is not None)

    def model_class(self, graph: CausalGraph | None = None, images: bool | None = None) -> type:
        """The class for ``graph`` (image models when it has a node of kind ``image``), or
        for ``images`` when given; ``ValueError`` when this kind does not train on that data."""
        if images is None:
            images = graph is not None and has_images(graph)
        cls = self.image if images else self.table
        if cls is None:
            other = [k.name for k in KINDS if (k.image if images else k.table) is not None]
            what = "images" if images else "tables"
            raise ValueError(f"model kind '{self.name}' does not train on {what}; use one of {', '.join(other)}")
        return cls


KINDS: tuple[ModelKind, ...] = (
    ModelKind(
        "causal-gen", "Causal Gen",
        "one small network per node over its parents, invertible mechanisms chosen per node on held-out rows",
        "Jiang, Pooladzandi, Bhat, Pottie 2022, Causal Structural Hypothesis Testing and Data Generation Models",
        CausalGenConfig, table=CausalGen,
    ),
    ModelKind(
        "causal-vgen", "Causal Variational Gen",
        "Causal Gen with a per-node latent and a KL term (a variational mechanism per node)",
        "Jiang, Pooladzandi, Bhat, Pottie 2022, Causal Structural Hypothesis Testing and Data Generation Models",
        CausalVGenConfig, table=CausalVGen,
    ),
    ModelKind(
        "ccgm", "CCGM",
        "a partially trainable causal layer (fixed, learned, frozen edges); for images, inside a VAE",
        "Bhat, Jiang, Pooladzandi, Pottie 2022, De-biasing generative models using counterfactual methods",
        CCGMConfig, table=TabularCCGM, image=ImageCCGM,
    ),
    ModelKind(
        "causal-gan", "CausalGAN",
        "a causal controller for the labels and a conditional GAN with a labeler and an anti-labeler",
        "Kocaoglu, Snyder, Dimakis, Vishwanath 2018, CausalGAN: Learning Causal Implicit Generative Models",
        CausalGANConfig, image=CausalGAN,
    ),
    ModelKind(
        "linear-anm", "Linear (baseline)",
        "linear additive-noise mechanisms (Causal Gen without hidden layers): the simple baseline",
        "the linear structural equation model",
        CausalGenConfig, table=CausalGen, preset={"layers": 0, "mechanism": "additive", "select_table": False},
    ),
)
_BY_NAME = {k.name: k for k in KINDS}


def names() -> list[str]:
    """Every model kind's name."""
    return list(_BY_NAME)


def kind(name: str) -> ModelKind:
    """The kind called ``name``; ``ValueError`` listing them otherwise."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model kind '{name}'; choose one of {', '.join(_BY_NAME)}") from None


def has_images(graph: CausalGraph | str) -> bool:
    """Whether ``graph`` has a node of kind ``image`` (then image models train on it)."""
    g = require_graph(graph)
    return any(g.kind(n) == "image" for n in g.nodes)


def kinds_for(graph: CausalGraph | str) -> list[str]:
    """The model kinds that can be trained on ``graph``: image models when it has an image
    node, tabular models otherwise."""
    images = has_images(graph)
    return [k.name for k in KINDS if (k.image if images else k.table) is not None]
