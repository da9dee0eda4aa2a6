"""Model settings: each kind's frozen config dataclass seen as named, typed settings (with the
comment beside each field as its help), one parser from text for the CLI's ``--set`` and the
app's forms, and ``make_config``, which checks values and builds the config. Training
settings (``steps``, ``lr``, ...) are given by name like the model's own; settings of a
nested group are dotted (``image_train.steps``, ``labels.kind``).

>>> make_config("causal-gen", hidden=32, steps=500).train.steps
500
>>> parse_settings("causal-gen", {"hidden": "32", "lr": "1e-3", "patience": "none"})
{'hidden': 32, 'lr': 0.001, 'patience': None}
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from generators.checkpoint import matches_default
from generators.registry import kind as model_kind
from generators.training import TrainConfig

__all__ = ["Setting", "settings_of", "parse_value", "parse_settings", "make_config", "PRESETS", "preset_settings"]

# Named speed-for-accuracy trades, per kind: settings a user can pick by name (``build_model(...,
# preset="fast")``, ``train --preset fast``, the Train page), expanded into ordinary settings so that
# a run records the values, not the name. What each costs and buys is measured beside dowhy.gcm in
# docs/benchmarks.md (*Fit time beside dowhy.gcm*).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "causal-gen": {
        # a quarter of the steps on networks half as wide: about dowhy.gcm's fit time, at a larger
        # counterfactual error than the default's where a node needs its network
        "fast": {"steps": 1000, "hidden": 32},
    },
}


@dataclass(frozen=True)
class Setting:
    """One setting of a model kind: its name (dotted inside a nested group), its default, its
    group (``"model"``, ``"training"``, or the nested group's name) and what it does."""

    name: str
    default: Any
    group: str
    help: str = ""
    optional: bool = False  # None is allowed besides the default's type (``none`` in text)

    @property
    def type_name(self) -> str:
        return type(self.default).__name__ if self.default is not None else "text"


@lru_cache(maxsize=None)
def _comments(cls: type) -> dict[str, str]:
    """The comment beside each field of a config dataclass, from its source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out = {}
    for line in source.splitlines():
        m = re.match(r"\s+(\w+)\s*:[^=#]*=.*?#\s*(.+)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def settings_of(kind: str) -> list[Setting]:
    """Every setting of ``kind``: its config's fields (a nested group's with dotted names),
    then those of its training config."""
    cfg = make_config(kind)
    notes = _comments(type(cfg))
    out = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "train":
            continue
        if dataclasses.is_dataclass(value):  # a nested group (image training, label mechanisms)
            inner = _comments(type(value))
            out += [Setting(f"{f.name}.{g.name}", getattr(value, g.name), f.name, inner.get(g.name, ""), _optional(g))
                    for g in dataclasses.fields(value)]
        else:
            out.append(Setting(f.name, value, "model", notes.get(f.name, ""), _optional(f)))
    if hasattr(cfg, "train"):
        inner = _comments(TrainConfig)
        out += [Setting(f.name, getattr(cfg.train, f.name), "training", inner.get(f.name, ""), _optional(f))
                for f in dataclasses.fields(cfg.train)]
    return out


def _optional(f: dataclasses.Field) -> bool:
    """Whether a config field's annotation admits None (``float | None``, ``Optional[int]``)."""
    t = f.type if isinstance(f.type, str) else repr(f.type)
    return "None" in t or "Optional" in t


def parse_value(setting: Setting, text: str) -> Any:
    """``text`` typed like the setting's default (``true``/``false``, a whole number, a
    number, text, a comma-separated list; ``none`` where the default is None);
    ``ValueError`` naming the setting otherwise."""
    text = str(text).strip()
    d = setting.default
    if setting.optional and text.lower() in ("none", "null"):
        return None
    if d is None:
        if text.lower() in ("", "none", "null"):
            return None
        for convert in (int, float):
            try:
                return convert(text)
            except ValueError:
                pass
        return text
    try:
        if isinstance(d, bool):
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if isinstance(d, int):
            return int(text)
        if isinstance(d, float):
            return float(text)
        if isinstance(d, tuple):
            parts = [p.strip() for p in text.strip("()[] ").split(",") if p.strip()]
            return tuple(int(p) if p.lstrip("-").isdigit() else p for p in parts)
    except ValueError:
        raise ValueError(f"setting '{setting.name}' must be {setting.type_name} like {d!r}, got {text!r}") from None
    return text


def preset_settings(kind: str, preset: str | None) -> dict[str, Any]:
    """The settings ``preset`` stands for in ``kind`` (``{}`` for None); ``ValueError``
    naming the presets ``kind`` has otherwise.

    >>> preset_settings("causal-gen", "fast")
    {'steps': 1000, 'hidden': 32}
    """
    if preset is None:
        return {}
    named = PRESETS.get(model_kind(kind).name, {})
    if preset not in named:
        have = f"its presets are {', '.join(named)}" if named else "it has none"
        raise ValueError(f"{kind} has no preset '{preset}'; {have}")
    return dict(named[preset])


def parse_settings(kind: str, texts: Mapping[str, str]) -> dict[str, Any]:
    """Settings given as text (``{"hidden": "32"}``, as the CLI and the app's forms have them)
    typed like their defaults; an unknown name is refused with the list of valid ones."""
    known = {s.name: s for s in settings_of(kind)}
    unknown = sorted(set(texts) - set(known))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} for {kind}; its settings are {', '.join(sorted(known))}")
    return {name: parse_value(known[name], text) for name, text in texts.items()}


def make_config(kind: str, preset: str | None = None, **settings: Any) -> Any:
    """The frozen config of ``kind`` with ``settings`` applied; a training setting
    (``max_epochs``, ``lr``, ``batch_size`` ...) goes to its ``train`` part. ``preset``: a
    named set of settings (``PRESETS``) applied first, so ``settings`` override it."""
    settings = {**preset_settings(kind, preset), **settings}
    entry = model_kind(kind)
    cls = entry.config
    settings = _nested({**entry.preset, **settings}, cls(), kind)
    cfg_fields = {f.name for f in dataclasses.fields(cls)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    top = {k: v for k, v in settings.items() if k in cfg_fields}
    train = {k: v for k, v in settings.items() if k in train_fields and k not in cfg_fields}
    unknown = set(settings) - set(top) - set(train)
    if unknown:
        raise ValueError(
            f"unknown setting(s) {', '.join(sorted(unknown))} for {kind}; "
            f"its settings are {', '.join(sorted((cfg_fields - {'train'}) | train_fields))}"
        )
    if "train" in top and not isinstance(top["train"], TrainConfig):
        raise ValueError("'train' must be a TrainConfig; give training settings (max_epochs, lr, ...) directly")
    defaults = cls()
    for name, value in {**top, **train}.items():
        if name != "train":
            _check_type(kind, name, value, getattr(defaults, name, None) if name in top else getattr(defaults.train, name))
    base = top.pop("train", None) or defaults.train  # the kind's own training defaults
    if train:
        base = dataclasses.replace(base, **train)
    return cls(**top, train=base)


def _nested(settings: dict[str, Any], default: Any, kind: str) -> dict[str, Any]:
    """Dotted settings of a nested config (``"image_train.steps": 500``, ``"labels.kind":
    "network"``) folded into that config, each checked against its default's type."""
    dotted = {k: v for k, v in settings.items() if "." in k}
    if not dotted:
        return settings
    out = {k: v for k, v in settings.items() if "." not in k}
    groups: dict[str, dict[str, Any]] = {}
    for key, value in dotted.items():
        head, _, tail = key.partition(".")
        groups.setdefault(head, {})[tail] = value
    for head, sub in groups.items():
        base = out.get(head) or getattr(default, head, None)
        if not dataclasses.is_dataclass(base):
            raise ValueError(f"unknown setting(s) {', '.join(f'{head}.{t}' for t in sub)} for {kind}: "
                             f"'{head}' is not a group of settings")
        names = {f.name for f in dataclasses.fields(base)}
        bad = sorted(set(sub) - names)
        if bad:
            raise ValueError(f"unknown setting(s) {', '.join(f'{head}.{b}' for b in bad)} for {kind}; "
                             f"the {head} settings are {', '.join(sorted(names))}")
        for name, value in sub.items():
            _check_type(kind, f"{head}.{name}", value, getattr(base, name))
        out[head] = dataclasses.replace(base, **sub)
    return out


def _check_type(kind: str, name: str, value: Any, default: Any) -> None:
    """A setting must have its default's type (``matches_default``: an int is accepted for a
    float); None is left to the config's own checks."""
    if value is not None and not matches_default(value, default):
        raise ValueError(
            f"setting '{name}' of {kind} must be {type(default).__name__} (like {default!r}), got {value!r}"
        )
