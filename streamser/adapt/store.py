"""What adapt writes beside an adapted graph: one ``.npz`` of arrays and a JSON ``meta``
that names its format; no pickles, written atomically."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def save(path: str | Path, fmt: str, meta: dict[str, Any], **arrays: Any) -> Path:
    """``arrays`` and ``meta`` (with ``format: fmt``) to ``path``, replaced atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part.npz")
    np.savez_compressed(tmp, **arrays, meta=np.array(json.dumps({"format": fmt, **meta})))
    tmp.replace(path)
    return path


def load(path: str | Path, fmt: str, what: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and meta of a ``fmt`` file; ``ValueError`` (one line, naming ``what``
    it should have been) when it is not one."""
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != fmt:
                raise ValueError(f"format {meta.get('format')!r}, expected {fmt!r}")
            return {k: z[k] for k in z.files if k != "meta"}, meta
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not {what} adapt wrote ({exc})") from None


def file_format(path: str | Path) -> str | None:
    """The ``format`` a file says it is (None when unreadable)."""
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            return json.loads(str(z["meta"])).get("format")
    except (OSError, KeyError, ValueError):
        return None
