"""CCGM on labelled images (Bhat, Jiang, Pooladzandi, Pottie 2022): the causal layer of
``generators.tabular.ccgm`` over the labels, and a VAE whose latent space holds the label
blocks of the image's parents beside a free style::

    image ─► conv encoder ─┬─► label head ──► one block per label (supervised: the label's code)
                           └─► style head (also sees the labels) ──► style q(s | x, y), KL to N(0, I)
    labels ─► causal layer (per node: y_j = f_j(A_j ∘ parents) + u_j; Gumbel-max if discrete)
    (label blocks of the image's parents, style) ─► conv decoder ─► image

The latent blocks are *aligned* with the labels (binary 0/1, categorical one-hot, continuous
standardized): the encoder's label head is trained to read each block off the image, and
the decoder is trained on the observed label blocks, so that an intervention on a block is
an intervention on the label. The paper's "specific modification to emphasize causal
fidelity" is here a *cycle* term: the decoder, given the style of one image and the labels
of another, must produce an image from which the (frozen) label head reads those labels, so
the decoder cannot ignore the label blocks and leave them in the style. As in the paper the
causal layer is fitted on the labels first, the VAE on images and labels second.
Counterfactuals abduct the labels' noise from the observed labels and the style from the
image, act, and decode; removing edges into the image node is refused (the decoder was
trained with them).
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from causal.graph import CausalGraph, GraphError
from causal.images import ImageData
from generators.encoding import LabelEncoding
from generators.image.base import ImageModel
from generators.image.conv import ConvDecoder, ConvEncoder
from generators.tabular.ccgm import CCGMConfig, EdgeConfigError, TabularCCGM, check_edge_config, check_removal

__all__ = ["ImageCCGM", "CCGMVAE"]


class CCGMVAE(nn.Module):
    """The image part: conv encoder with a label head and a style head, conv decoder
    from (label blocks, style); ``loss(images, labels)`` for the generic loop."""

    def __init__(self, channels: int, size: int, encoding: LabelEncoding, config: CCGMConfig) -> None:
        super().__init__()
        self.encoding = encoding
        w, s = encoding.width, config.style_dim
        self.enc = ConvEncoder(channels, size, config.width)
        f = self.enc.feat_dim
        self.label_head = nn.Linear(f, max(w, 1))
        self.style_head = nn.Linear(f + w, 2 * s) if s else None
        self.dec = ConvDecoder(w + s, channels, size, config.width)
        self.style_dim, self.beta = s, config.beta
        self.label_weight, self.cycle_weight = config.label_weight, config.cycle_weight
        # style posteriors (mean, log-variance) of training images, for style_prior="aggregate"
        self.register_buffer("bank", torch.zeros(config.style_bank if config.style_prior == "aggregate" and s else 0, 2 * s))

    def posterior(self, images: Tensor, labels: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """q(s | x, y): mean and log-variance ``[n, style_dim]``."""
        if self.style_head is None:
            z = images.new_zeros(images.shape[0], 0)
            return z, z
        h = self.enc(images) if h is None else h
        mu, logvar = self.style_head(torch.cat([h, labels], 1)).chunk(2, 1)
        return mu, logvar.clamp(-12, 6)

    def read(self, images: Tensor) -> Tensor:
        """The label head: predicted label blocks (values / logits) ``[n, width]``."""
        return self.label_head(self.enc(images))[:, : self.encoding.width]

    def decode_logits(self, labels: Tensor, style: Tensor) -> Tensor:
        return self.dec(torch.cat([labels, style], 1))

    def loss(self, images: Tensor, labels: Tensor) -> Tensor:
        n = images.shape[0]
        h = self.enc(images)
        mu, logvar = self.posterior(images, labels, h)
        s = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        logits = self.decode_logits(labels, s)
        recon = nn.functional.binary_cross_entropy_with_logits(logits, images, reduction="sum") / n
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum() / n
        loss = recon + self.beta * kl
        if self.encoding.width:
            loss = loss + self.label_weight * self.encoding.losses(self.label_head(h)[:, : self.encoding.width], labels).sum()
            if self.cycle_weight and self.training and n > 1:
                other = labels[torch.randperm(n, device=labels.device)]
                fake = torch.sigmoid(self.decode_logits(other, s))
                frozen = {k: v.detach() for k, v in self.enc.named_parameters()}
                hf = torch.func.functional_call(self.enc, frozen, (fake,))
                read = nn.functional.linear(hf, self.label_head.weight.detach(), self.label_head.bias.detach())
                loss = loss + self.cycle_weight * self.encoding.losses(read[:, : self.encoding.width], other).sum()
        return loss


class ImageCCGM(ImageModel):
    """CCGM on labelled images (see the module docstring)."""

    kind = "ccgm"
    Config = CCGMConfig

    def __init__(self, graph: CausalGraph | str, config: CCGMConfig | None = None) -> None:
        super().__init__(graph, config)
        for a, b, state, _ in self.config.edges or ():
            if b == self.image_node:
                raise EdgeConfigError(
                    f"edges= sets {a} -> {b} to '{state}', but edges into the image node '{b}' are the decoder's "
                    "inputs, not causal-layer edges; set states on label edges only"
                )
        check_edge_config(self.config, self.label_graph)
        self.style_dim = self.config.style_dim

    def _make_label_model(self) -> TabularCCGM:
        return TabularCCGM(self.label_graph, self.config)

    def _build(self) -> nn.Module:
        self.style_dim = self.config.style_dim
        return CCGMVAE(self.info.channels, self.info.size, self.encoding, self.config)  # type: ignore[union-attr, arg-type]

    def _decode(self, labels: Tensor, style: Tensor) -> Tensor:
        return torch.sigmoid(self.image_net.decode_logits(labels, style))  # type: ignore[union-attr, operator]

    def _style_noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Style for new images: with ``style_prior="aggregate"`` the posterior of a random
        training image (its mean plus posterior noise), drawn independently of the labels,
        so samples stay on the style manifold the decoder knows (the aggregate posterior of
        a VAE rarely fills its N(0, I) prior); else N(0, I)."""
        bank = self.image_net.bank  # type: ignore[union-attr]
        if not len(bank):
            return super()._style_noise(n, rng)
        b = bank.detach().cpu().double().numpy()
        pick = b[rng.integers(0, len(b), size=n)]
        mu, logvar = pick[:, : self.style_dim], pick[:, self.style_dim :]
        return (mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape)).astype(np.float32)

    @torch.no_grad()
    def _after_fit(self, images: Tensor, labels: Tensor) -> None:
        bank = self.image_net.bank  # type: ignore[union-attr]
        if not len(bank):
            return
        gen = torch.Generator().manual_seed(0)
        rows = torch.randperm(len(images), generator=gen)[: len(bank)].to(images.device)
        rows = rows.repeat(-(-len(bank) // len(rows)))[: len(bank)]  # fewer images than the bank: repeat them
        out = []
        for s in range(0, len(rows), 512):
            r = rows[s : s + 512]
            mu, logvar = self.image_net.posterior(images[r].float().div(255.0), labels[r])  # type: ignore[union-attr, operator]
            out.append(torch.cat([mu, logvar], 1))
        bank.copy_(torch.cat(out))

    def _abduct_style(self, images: Tensor, labels: Tensor) -> Tensor:
        return self.image_net.posterior(images, labels)[0]  # type: ignore[union-attr, operator]

    @torch.inference_mode()
    def read_labels(self, data: ImageData) -> pd.DataFrame:
        """The encoder's label head applied to images: the labels it reads (for the
        image's parents), indexed like ``data``."""
        self._require_fitted()
        self._check_images(data)
        out = [self.image_net.read(data[s : s + 512].tensor(self._device)) for s in range(0, len(data), 512)]  # type: ignore[union-attr, operator]
        return self.encoding.decode(torch.cat(out), index=data.index)  # type: ignore[union-attr]

    def edge_weights(self) -> dict[tuple[str, str], float]:
        """The causal layer's effective gates, ``{(parent, child): weight}`` (label edges)."""
        self._require_fitted()
        return self.labels.edge_weights()  # type: ignore[union-attr]

    def edge_states(self) -> dict[tuple[str, str], str]:
        return self.labels.edge_states() if self.fitted else TabularCCGM(self.label_graph, self.config).edge_states()  # type: ignore[union-attr]

    def without_edges(self, *edges: Any, references: Mapping[str, Any] | None = None, method: str = "cut",
                      seed: int = 0, n: int | None = None) -> Any:
        """This model without ``edges``: ``method="cut"`` (default) as every model
        (``CausalModel.without_edges``); ``method="refit"`` a new model whose causal layer
        lacks the edges (label edges only), the same encoder and decoder; see
        ``TabularCCGM.without_edges``."""
        if method == "cut":
            return super().without_edges(*edges, references=references)
        if method != "refit":
            raise ValueError(f"unknown method '{method}'; use 'cut' or 'refit'")
        self._require_fitted()
        for e in edges:
            if isinstance(e, (tuple, list)) and len(e) == 2 and str(e[1]) == self.image_node:
                raise GraphError(
                    f"cannot remove {e[0]} -> {e[1]}: edges into the image node are the decoder's inputs, which it "
                    "was trained with; remove label edges (the bias is a relation between labels)"
                )
        removed = check_removal(self.graph, edges)
        labels = self.labels.without_edges(*removed, method="refit", seed=seed, n=n)  # type: ignore[union-attr]
        new = ImageCCGM(self.graph.without_edges(*removed), labels.config)
        new.labels, new.info, new.encoding = labels, self.info, self.encoding
        new.image_net = copy.deepcopy(self.image_net)
        new.report = self.report
        new._after_label_fit()
        return new
