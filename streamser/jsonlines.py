"""JSON lines that strict parsers accept, written whole or not at all."""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


#: One encoder for every call: ``json.dumps`` with a non-default argument builds a new
#: encoder each time, which costs more than the encoding of a small object.
_STRICT = json.JSONEncoder(allow_nan=False)


def strict_dumps(obj: Any) -> str:
    """JSON without the non-standard ``NaN``/``Infinity`` (they become ``null``)."""
    try:
        return _STRICT.encode(obj)
    except ValueError:
        return _STRICT.encode(_finite(obj))


class OutputClosed(BrokenPipeError):
    """The reader of standard output went away (``... --events - | head``): the run stops
    whatever the node's ``on_error``, and ``streamser run`` exits 0, as a Unix filter does."""


class LineWriter:
    """Append lines to a file (or '-': standard output), each flushed at once and whole:
    when a write fails (a full disk), the part written is cut off again and the error
    raised, so a reader never sees half a line."""

    def __init__(self, path: str) -> None:
        self.path = path
        if path == "-":
            self._fh = None
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "wb", buffering=0)  # noqa: SIM115 - closed in close()

    def write(self, line: str) -> None:
        data = (line + "\n").encode()
        if self._fh is None:
            try:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            except BrokenPipeError as exc:
                # nobody reads any more: later writes (the interpreter's last flush
                # included) go to /dev/null, and the run stops
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
                raise OutputClosed("standard output was closed by its reader") from exc
            return
        pos = self._fh.tell()
        view = memoryview(data)
        try:
            while view:
                n = self._fh.write(view)
                view = view[n or 0:]
        except OSError:
            self._fh.truncate(pos)
            self._fh.seek(pos)
            raise

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
