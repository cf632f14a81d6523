"""Port contracts: what a node needs of a frame, checked by the executor before ``process``.

Every kind has a default contract (``frames.py`` conventions: audio is 1-D with a
positive ``sample_rate``, scores are 1-D and not empty, ...), and the usual meta keys must
have their types wherever they appear. A node narrows it by overriding ``Node.port``
(``infer`` asks for its model's input width). A frame that breaks its port's contract is
dropped and counted as rejected; the node never sees it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .frames import Frame

_NUMBER = "number"      # a finite int or float (not bool)
_POSITIVE = "positive"  # a finite number > 0

#: Types of the common meta keys, wherever they appear.
META_TYPES: dict[str, str | type | tuple[type, ...]] = {
    "sample_rate": _POSITIVE, "hop": _POSITIVE, "win": _POSITIVE, "upto": _NUMBER,
    "gap": bool, "repeat": bool, "labels": list, "names": list, "model": str,
}


@dataclass(frozen=True)
class Port:
    """What a node needs of the frames of one kind."""

    kind: str
    ndim: int | None = None
    #: Exact shape (None: any); a ``None`` inside: any size on that axis.
    shape: tuple[int | None, ...] | None = None
    min_size: int = 0
    #: Meta keys that must be present (their types: :data:`META_TYPES`).
    meta: tuple[str, ...] = ()

    def with_width(self, width: int) -> Port:
        """The same contract with the last axis of exactly ``width``."""
        ndim = self.ndim or 1
        return replace(self, shape=(*([None] * (ndim - 1)), width))


#: Default contract per kind (``frames.py``).
KIND_PORTS = {
    "audio": Port("audio", ndim=1, meta=("sample_rate",)),
    "features": Port("features", ndim=2),
    "patch": Port("patch", ndim=2),
    "scores": Port("scores", ndim=1, min_size=1),
    "vad": Port("vad", ndim=1),
    "event": Port("event", meta=("event",)),
}


def _typed(value: Any, want: str | type | tuple[type, ...]) -> bool:
    if want in (_NUMBER, _POSITIVE):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value)
        return ok and (want == _NUMBER or value > 0)
    return isinstance(value, want)  # type: ignore[arg-type]


def check(frame: Frame, port: Port | None) -> str | None:
    """Why ``frame`` breaks ``port`` (None: it does not)."""
    if port is None:
        return f"kind {frame.kind!r} not accepted"
    if port.kind != frame.kind and port.kind != "*":
        return f"kind {frame.kind!r}, expected {port.kind!r}"
    data, meta = frame.data, frame.meta
    if port.ndim is not None and data.ndim != port.ndim:
        return f"{data.ndim}-D {frame.kind}, expected {port.ndim}-D"
    if port.shape is not None and (data.ndim != len(port.shape) or any(
            w is not None and n != w for n, w in zip(data.shape, port.shape))):
        return f"shape {list(data.shape)}, expected {list(port.shape)}"
    if data.size < port.min_size:
        return f"{data.size} values, expected at least {port.min_size}"
    if data.dtype.kind not in "fiub":
        return f"dtype {data.dtype}"
    for key in port.meta:
        if key not in meta:
            return f"meta '{key}' missing"
    for key, want in META_TYPES.items():
        if key in meta and not _typed(meta[key], want):
            return f"meta '{key}' is {type(meta[key]).__name__} {meta[key]!r:.40}"
    labels = meta.get("labels")
    if frame.kind == "scores" and labels is not None and (
            len(labels) != data.size or not all(isinstance(x, str) for x in labels)):
        return f"meta 'labels' ({len(labels)}) does not match {data.size} scores"
    if frame.kind == "event" and not isinstance(meta.get("event"), str):
        return "meta 'event' is not a string"
    return None
