"""Small convolutional building blocks of the image models: stride-2 encoders and decoders
between the image and 4x4 features, a classifier/regressor head, and a (projection)
discriminator."""

from __future__ import annotations

import math

from torch import Tensor, nn

__all__ = ["ConvEncoder", "ConvDecoder", "ConvHead", "ConvDiscriminator"]


def _widths(size: int, width: int) -> list[int]:
    """Channel widths of the stride-2 stages from ``size`` down to 4 pixels."""
    stages = int(math.log2(size)) - 2
    return [width * min(2**i, 4) for i in range(stages)]


class ConvEncoder(nn.Module):
    """``[n, C, S, S]`` -> features ``[n, feat_dim]``: stride-2 4x4 convolutions down to
    4x4 pixels (widths ``width``, ``2·width``, ``4·width``, capped), LeakyReLU(0.2)."""

    def __init__(self, channels: int, size: int, width: int = 32, spectral: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = channels
        for w in _widths(size, width):
            conv = nn.Conv2d(prev, w, 4, 2, 1)
            layers += [nn.utils.parametrizations.spectral_norm(conv) if spectral else conv, nn.LeakyReLU(0.2)]
            prev = w
        self.body = nn.Sequential(*layers)
        self.feat_dim = prev * 16

    def forward(self, images: Tensor) -> Tensor:
        return self.body(images).flatten(1)


class ConvDecoder(nn.Module):
    """``[n, in_dim]`` -> image *logits* ``[n, C, S, S]`` (apply ``sigmoid`` for [0, 1]):
    a linear map to 4x4 features, then stride-2 transposed convolutions mirroring
    ``ConvEncoder``, SiLU. Used as the VAE decoder and as a GAN generator."""

    def __init__(self, in_dim: int, channels: int, size: int, width: int = 32) -> None:
        super().__init__()
        widths = _widths(size, width)[::-1]
        self.start = widths[0]
        self.fc = nn.Linear(in_dim, widths[0] * 16)
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:] + [channels]):
            layers += [nn.SiLU(), nn.ConvTranspose2d(a, b, 4, 2, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.fc(z).view(z.shape[0], self.start, 4, 4))


class ConvHead(nn.Module):
    """``ConvEncoder`` plus a linear head: images -> ``[n, out_dim]`` (a labeler, an
    attribute regressor, a label head)."""

    def __init__(self, channels: int, size: int, out_dim: int, width: int = 32, spectral: bool = False) -> None:
        super().__init__()
        self.encoder = ConvEncoder(channels, size, width, spectral)
        self.head = nn.Linear(self.encoder.feat_dim, out_dim)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.encoder(images))


class ConvDiscriminator(nn.Module):
    """A (conditional) discriminator: images ``[n, C, S, S]`` and optional encoded labels
    ``[n, cond_dim]`` -> one score per image ``[n]``. The condition enters by projection
    (Miyato & Koyama 2018): ``score = w·h + <embed(cond), h>``. Spectral norm by default."""

    def __init__(self, channels: int, size: int, cond_dim: int = 0, width: int = 32, spectral: bool = True) -> None:
        super().__init__()
        self.encoder = ConvEncoder(channels, size, width, spectral)
        lin = nn.Linear(self.encoder.feat_dim, 1)
        self.out = nn.utils.parametrizations.spectral_norm(lin) if spectral else lin
        self.embed = nn.Linear(cond_dim, self.encoder.feat_dim, bias=False) if cond_dim else None

    def forward(self, images: Tensor, cond: Tensor | None = None) -> Tensor:
        h = self.encoder(images)
        score = self.out(h)[:, 0]
        if self.embed is not None and cond is not None:
            score = score + (self.embed(cond) * h).sum(1)
        return score
