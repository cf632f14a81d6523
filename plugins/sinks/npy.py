"""sink.npy: collect every payload into one .npy file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params


class NpyParams(Params):
    path: str = Field(description="Output .npy file (written at end of stream or stop).")
    mode: Literal["auto", "concat", "stack"] = Field(
        "auto", description="concat joins payloads along axis 0, stack adds a new axis; "
                            "auto concatenates audio and features, stacks other kinds.")


class NpySink(Node):
    """Stack every payload it receives into one .npy file."""

    Params = NpyParams
    params: NpyParams

    def start(self) -> None:
        self._parts: list[np.ndarray] = []
        self._kind = ""
        self._written = False

    def process(self, frame: Frame) -> tuple[()]:
        """Frames must all be of the first one's kind and shape (concat: but its length),
        or the file could not be written at the end."""
        if self._parts:
            first = self._parts[0]
            concat = self._mode() == "concat"
            same = frame.data.shape[1:] == first.shape[1:] if concat and frame.data.ndim \
                else frame.data.shape == first.shape
            if frame.kind != self._kind or frame.data.ndim != first.ndim or not same:
                raise ValueError(f"{self.name}: a {frame.kind} frame of shape "
                                 f"{list(frame.data.shape)} after {self._kind} frames of "
                                 f"shape {list(first.shape)}")
        self._parts.append(frame.data)
        self._kind = self._kind or frame.kind
        return ()

    def _mode(self) -> str:
        mode = self.params.mode
        if mode == "auto":
            mode = "concat" if self._kind in ("audio", "features") else "stack"
        return mode

    def flush(self) -> tuple[()]:
        self._write()
        return ()

    def stop(self) -> None:
        if not self._written and self._parts:
            self._write()

    def _write(self) -> None:
        mode = self._mode()
        if not self._parts:
            out = np.zeros(0, np.float32)
        elif mode == "concat":
            out = np.concatenate([np.atleast_1d(p) for p in self._parts])
        else:
            out = np.stack(self._parts)
        path = Path(self.params.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as fh:
            np.save(fh, out, allow_pickle=False)
        os.replace(tmp, path)
        self._written = True
