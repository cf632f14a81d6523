"""sink.jsonl: one JSON object per frame."""
from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params


class JsonlParams(Params):
    path: str = Field(description="Output file ('-' for standard output).")
    data: bool = Field(True, description="Include the payload as a (nested) list.")


class JsonlSink(Node):
    """Write each frame as one JSON line (header fields, meta, optionally the payload)."""

    Params = JsonlParams
    params: JsonlParams

    def start(self) -> None:
        if self.params.path == "-":
            import sys
            self._fh: IO[str] = sys.stdout
        else:
            Path(self.params.path).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.params.path, "w", buffering=1)

    def process(self, frame: Frame) -> tuple[()]:
        row = {"kind": frame.kind, "stream": frame.stream, "seq": frame.seq,
               "t": round(frame.t, 6), "shape": list(frame.data.shape),
               "dtype": frame.data.dtype.name, "meta": frame.meta}
        if self.params.data:
            row["data"] = frame.data.tolist()
        self._fh.write(json.dumps(row) + "\n")
        return ()

    def stop(self) -> None:
        if getattr(self, "_fh", None) is not None and self.params.path != "-":
            self._fh.close()
