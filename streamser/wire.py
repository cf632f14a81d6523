"""The ZeroMQ wire format: a JSON header part and one raw payload part. Never pickle.

A data message is ``[header, payload]`` where the header is UTF-8 JSON
``{"v": 1, "kind", "stream", "seq", "t", "dtype", "shape", "meta"}`` and the payload
is the C-contiguous array bytes, sent without copying. A control message (end of
stream) is a single header part ``{"v": 1, "ctl": "eos", "from": NODE}``.
Anything that does not parse, has the wrong number of parts, a payload whose size
disagrees with dtype and shape, or exceeds the size limits raises :class:`WireError`.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .frames import KINDS, Frame

VERSION = 1
MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
#: Only plain numeric dtypes cross the wire (no object arrays, so nothing executable).
DTYPES = frozenset({"float32", "float64", "float16", "int8", "int16", "int32", "int64",
                    "uint8", "uint16", "uint32", "bool"})


class WireError(ValueError):
    """A message that is malformed, truncated or too large."""


@dataclass(frozen=True, slots=True)
class EndOfStream:
    """Control message: the sending node has finished and flushed."""

    sender: str


def encode(frame: Frame) -> list[Any]:
    """Frame -> ``[header bytes, payload buffer]`` (the payload is not copied)."""
    data = frame.data
    if not data.flags.c_contiguous:
        data = np.ascontiguousarray(data)
    header = {"v": VERSION, "kind": frame.kind, "stream": frame.stream, "seq": frame.seq,
              "t": frame.t, "dtype": data.dtype.name, "shape": data.shape, "meta": frame.meta}
    payload = data.data if data.ndim else data.reshape(1).data
    return [json.dumps(header, separators=(",", ":")).encode(), payload]


def encode_eos(sender: str) -> list[bytes]:
    return [json.dumps({"v": VERSION, "ctl": "eos", "from": sender}).encode()]


def _buffer(part: Any) -> memoryview:
    """Accept ``bytes`` or a ``zmq.Frame`` (zero-copy receive)."""
    buf = getattr(part, "buffer", part)
    return buf if isinstance(buf, memoryview) else memoryview(buf)


def decode(parts: Sequence[Any], max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
           ) -> Frame | EndOfStream:
    """Parse one multipart message; raise :class:`WireError` on anything off-contract."""
    if not parts or len(parts) > 2:
        raise WireError(f"expected 1 or 2 parts, got {len(parts)}")
    head = _buffer(parts[0])
    if head.nbytes > MAX_HEADER_BYTES:
        raise WireError(f"header of {head.nbytes} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        h = json.loads(head.tobytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"header is not JSON: {exc}") from None
    if not isinstance(h, dict) or h.get("v") != VERSION:
        raise WireError("header is not a version-1 object")
    if "ctl" in h:
        if h["ctl"] == "eos" and isinstance(h.get("from"), str) and len(parts) == 1:
            return EndOfStream(h["from"])
        raise WireError(f"bad control message {h.get('ctl')!r}")
    if len(parts) != 2:
        raise WireError("data message without payload part")
    kind, stream, seq, t = h.get("kind"), h.get("stream"), h.get("seq"), h.get("t")
    dtype, shape, meta = h.get("dtype"), h.get("shape"), h.get("meta")
    if kind not in KINDS or not isinstance(stream, str) or not isinstance(meta, dict):
        raise WireError("bad kind, stream or meta")
    if type(seq) is not int or not isinstance(t, (int, float)) or isinstance(t, bool) \
            or not math.isfinite(t):
        raise WireError("bad seq or t")
    if dtype not in DTYPES:
        raise WireError(f"dtype {dtype!r} not allowed")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise WireError("bad shape")
    dt = np.dtype(dtype)
    expected = math.prod(shape) * dt.itemsize
    if expected > max_payload_bytes:
        raise WireError(f"payload of {expected} bytes exceeds limit {max_payload_bytes}")
    payload = _buffer(parts[1])
    if payload.nbytes != expected:
        raise WireError(f"payload has {payload.nbytes} bytes, header says {expected}")
    data = np.frombuffer(payload, dtype=dt)
    data = data.reshape(shape) if shape else data.reshape(())
    return Frame(kind=kind, data=data, t=float(t), seq=seq, stream=stream, meta=meta)
