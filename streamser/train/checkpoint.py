"""Writing a checkpoint that carries the whole contract of a trained model; reading one
is the runtime's (:mod:`streamser.checkpoint`: ``load``, ``read_meta``)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..checkpoint import FORMAT, CheckpointError


def save(path: str | Path, model: Any, meta: dict[str, Any]) -> Path:
    """Write ``model``'s weights and ``meta`` (arch, hparams, input_dim, labels,
    frontend, normalizer, training, ...) to ``path``, and the metadata alone (plus size
    and parameter count) to ``path`` with suffix ``.json``, readable without torch."""
    import torch

    missing = {"arch", "input_dim", "labels", "frontend", "normalizer"} - set(meta)
    if missing:
        raise CheckpointError(f"checkpoint meta lacks {sorted(missing)}")
    full = {"format": FORMAT, "streamser": __version__, "saved": time.strftime("%Y-%m-%d"),
            "hparams": dict(getattr(model, "hparams", {})), **meta}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save({"meta": json.dumps(full), "state_dict": state}, tmp)
    tmp.replace(path)
    full["size_bytes"] = path.stat().st_size
    full["parameters"] = int(sum(v.numel() for k, v in state.items()
                                 if not k.endswith(("running_mean", "running_var",
                                                    "num_batches_tracked"))))
    path.with_suffix(".json").write_text(json.dumps(full, indent=1) + "\n")
    return path
