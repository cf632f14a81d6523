"""Frames: the one thing that flows between nodes.

Conventions per kind (``t`` is always stream time in seconds, derived from sample counts):

- ``audio``: ``(n,)`` float32 mono; meta ``sample_rate``.
- ``features``: ``(n_frames, dims)`` float32; ``t`` = start of the first row's window;
  meta ``sample_rate``, ``hop``, ``win`` (seconds), ``names`` (optional column names).
- ``patch``: ``(rows, dims)`` float32 (96 x 64 for VGGish); ``t`` = start of its first row.
- ``scores``: ``(n_classes,)`` float32 probabilities; meta ``labels``.
- ``vad``: ``(n,)`` float32 per-VAD-frame activity in [0, 1]; meta ``hop``.
- ``event``: empty float32 payload; meta is the event object itself (``event``,
  ``stream``, ``t``, ``emitted_at``, ...), as the robot consumes it.

Every derived frame carries meta ``upto``: the stream time just after the last audio
sample that went into it, so a node that raises an event knows its ``emitted_at``.
An audio or features frame with meta ``gap: true`` starts a new segment after missing
audio (a VAD gate dropped some): stateful nodes reset that stream's state.
State is kept per ``stream`` id, so one node can serve many robots.
"""
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
               **meta: Any) -> Frame:
        """A new frame on the same stream and sequence number, with ``meta`` updated."""
        return Frame(kind=kind or self.kind, data=data, t=self.t if t is None else t,
                     seq=self.seq, stream=self.stream, meta={**self.meta, **meta})
