"""Sample-exact framing of a stream that arrives in blocks of any size."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


class Framer:
    """Cut a sample stream into frames of ``win`` samples every ``hop`` samples.

    Frame k covers samples ``[k*hop, k*hop + win)`` of the stream. Frames are emitted as
    soon as their last sample has arrived, so pushing a signal in blocks of any size
    yields exactly the frames one push of the whole signal yields. Trailing samples that
    never complete a frame are not emitted (as VGGish and most offline framers do).
    """

    def __init__(self, win: int, hop: int) -> None:
        if win < 1 or hop < 1:
            raise ValueError("win and hop must be >= 1")
        self.win, self.hop = win, hop
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(0, np.float32)
        self._skip = 0          # samples still to discard before the next frame starts
        self.next_index = 0     # index of the next frame to be emitted
        self.consumed = 0       # samples pushed since the last reset

    def push(self, x: np.ndarray) -> np.ndarray:
        """Add samples; return the ``(n, win)`` frames they complete (possibly n = 0)."""
        x = np.asarray(x, dtype=np.float32)
        self.consumed += len(x)
        if self._skip:
            drop = min(self._skip, len(x))
            x, self._skip = x[drop:], self._skip - drop
        buf = np.concatenate((self._buf, x)) if len(self._buf) else x
        n = 0 if len(buf) < self.win else 1 + (len(buf) - self.win) // self.hop
        step = buf.strides[0]
        frames = as_strided(buf, (n, self.win), (self.hop * step, step), writeable=False)
        start = n * self.hop
        if start > len(buf):  # hop > win: the next frame starts beyond what we hold
            self._skip = start - len(buf)
        self._buf = buf[start:].copy()
        self.next_index += n
        return frames
