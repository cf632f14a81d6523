"""Loading a trained checkpoint safely (the torch backend of ``infer``, evaluation,
export); writing one is training's (:func:`streamser.train.checkpoint.save`).

A checkpoint is a ``torch.save`` of ``{"meta": JSON string, "state_dict": tensors}``;
:func:`load` reads it with ``torch.load(weights_only=True)``, so a file can hold only
tensors and plain containers, never code. ``meta`` holds what a user of the model needs
and nothing it would have to guess: the architecture and its hyper-parameters, the
labels, the front-end (feature plugins and their params, rate, patching), the
normalization statistics, and how it was trained and scored. torch is imported only when
a checkpoint is read.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FORMAT = "streamser-checkpoint/1"


class CheckpointError(ValueError):
    """The file is not a streamser checkpoint or does not fit this version."""


def read_meta(path: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint (loads the file safely, builds no model)."""
    return _read(path)[0]


def load(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Rebuild the model in eval mode from a checkpoint; returns ``(model, meta)``."""
    from .models import build

    meta, state = _read(path)
    model = build(meta["arch"], meta["input_dim"], len(meta["labels"]), **meta["hparams"])
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, meta


def _read(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a loadable checkpoint ({first})") from None
    if not isinstance(blob, dict) or not isinstance(blob.get("meta"), str):
        raise CheckpointError(f"{path}: not a streamser checkpoint")
    meta = json.loads(blob["meta"])
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta, blob["state_dict"]
