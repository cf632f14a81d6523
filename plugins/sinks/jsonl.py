"""sink.jsonl: one JSON object per frame."""
from __future__ import annotations

from pydantic import Field

from streamser.frames import Frame
from streamser.jsonlines import LineWriter, strict_dumps
from streamser.node import Node, Params


class JsonlParams(Params):
    path: str = Field(description="Output file ('-' for standard output).")
    data: bool = Field(True, description="Include the payload as a (nested) list.")


class JsonlSink(Node):
    """Write each frame as one JSON line (header fields, meta, optionally the payload)."""

    Params = JsonlParams
    params: JsonlParams

    def start(self) -> None:
        self._out = LineWriter(self.params.path)

    def process(self, frame: Frame) -> tuple[()]:
        row = {"kind": frame.kind, "stream": frame.stream, "seq": frame.seq,
               "t": round(frame.t, 6), "shape": list(frame.data.shape),
               "dtype": frame.data.dtype.name, "meta": frame.meta}
        if self.params.data:
            row["data"] = frame.data.tolist()
        self._out.write(strict_dumps(row))
        return ()

    def stop(self) -> None:
        if getattr(self, "_out", None) is not None:
            self._out.close()
