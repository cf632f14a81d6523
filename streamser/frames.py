"""Frames: the one thing that flows between nodes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Frame kinds a node may declare on its ports ("*" on an input port accepts any kind).
KINDS = ("audio", "features", "patch", "scores", "vad", "event")
ANY = "*"


@dataclass(slots=True)
class Frame:
    """A typed block of data on one stream.

    ``t`` is the stream time of the first sample (or first feature frame) in seconds,
    derived from sample counts, never from the wall clock. ``data`` is treated as
    immutable once emitted: nodes build new arrays instead of writing into inputs
    (payloads received over ZeroMQ are read-only views of the message buffer).
    """

    kind: str
    data: np.ndarray
    t: float = 0.0
    seq: int = 0
    stream: str = "default"
    meta: dict[str, Any] = field(default_factory=dict)

    def derive(self, data: np.ndarray, *, kind: str | None = None, t: float | None = None,
               **meta: Any) -> "Frame":
        """A new frame on the same stream and sequence number, with ``meta`` updated."""
        return Frame(kind=kind or self.kind, data=data, t=self.t if t is None else t,
                     seq=self.seq, stream=self.stream, meta={**self.meta, **meta})
