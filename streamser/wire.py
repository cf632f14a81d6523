"""The ZeroMQ wire format: a JSON header part and one raw payload part. Never pickle.

A data message is ``[header, payload]`` where the header is UTF-8 JSON
``{"v": 1, "kind", "stream", "seq", "t", "dtype", "shape", "meta"}`` (plus ``"from":
NODE``, the producing node, between streamser nodes) and the payload is the C-contiguous
array bytes, sent without copying. A control message is a single header part: end of
stream ``{"v": 1, "ctl": "eos", "from": NODE, "epoch": [K, S]}`` and the progress mark
``{"v": 1, "ctl": "mark", "from": NODE, "epoch": [K, S]}`` (``executors.ordering``: what
lets every executor hand a fan-in node its frames in the same order).
Anything that does not parse, has the wrong number of parts, a payload whose size
disagrees with dtype and shape, or exceeds the size limits raises :class:`WireError`;
so does anything else that goes wrong while decoding (e.g. JSON nested too deep).
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


#: (round, source index): the consequences of one source frame (``executors.ordering``).
Epoch = tuple[int, int]


@dataclass(frozen=True, slots=True)
class EndOfStream:
    """Control message: the sending node has finished and flushed (in ``epoch``)."""

    sender: str
    epoch: Epoch | None = None


@dataclass(frozen=True, slots=True)
class Mark:
    """Control message: the sender has sent every frame of the epochs up to ``epoch``."""

    sender: str
    epoch: Epoch


def encode(frame: Frame, sender: str | None = None) -> list[Any]:
    """Frame -> ``[header bytes, payload buffer]`` (the payload is not copied)."""
    data = frame.data
    if not data.flags.c_contiguous:
        data = np.ascontiguousarray(data)
    header = {"v": VERSION, "kind": frame.kind, "stream": frame.stream, "seq": frame.seq,
              "t": frame.t, "dtype": data.dtype.name, "shape": data.shape, "meta": frame.meta}
    if sender is not None:
        header["from"] = sender
    payload = data.data if data.ndim else data.reshape(1).data
    return [json.dumps(header, separators=(",", ":")).encode(), payload]


def encode_eos(sender: str, epoch: Epoch | None = None) -> list[bytes]:
    body: dict[str, Any] = {"v": VERSION, "ctl": "eos", "from": sender}
    if epoch is not None:
        body["epoch"] = list(epoch)
    return [json.dumps(body).encode()]


def encode_mark(sender: str, epoch: Epoch) -> list[bytes]:
    return [json.dumps({"v": VERSION, "ctl": "mark", "from": sender,
                        "epoch": list(epoch)}).encode()]


def _epoch(value: Any) -> Epoch | None:
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 2 and all(type(x) is int and 0 <= x < 2**62
                                                           for x in value):
        return (value[0], value[1])
    raise WireError(f"bad epoch {value!r}")


def _buffer(part: Any) -> memoryview:
    """Accept ``bytes`` or a ``zmq.Frame`` (zero-copy receive)."""
    buf = getattr(part, "buffer", part)
    return buf if isinstance(buf, memoryview) else memoryview(buf)


def decode(parts: Sequence[Any], max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
           ) -> Frame | EndOfStream | Mark:
    """Parse one multipart message; raise :class:`WireError` on anything off-contract."""
    return decode_from(parts, max_payload_bytes)[1]


def decode_from(parts: Sequence[Any], max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
                ) -> tuple[str | None, Frame | EndOfStream | Mark]:
    """:func:`decode`, plus the sending node named in a data header (None if absent)."""
    try:
        return _decode(parts, max_payload_bytes)
    except WireError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a hostile message provokes
        raise WireError(f"undecodable message: {type(exc).__name__}") from None


def _decode(parts: Sequence[Any], max_payload_bytes: int
            ) -> tuple[str | None, Frame | EndOfStream | Mark]:
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
    sender = h.get("from")
    if sender is not None and not isinstance(sender, str):
        raise WireError("bad sender")
    if "ctl" in h:
        if sender is not None and len(parts) == 1:
            if h["ctl"] == "eos":
                return sender, EndOfStream(sender, _epoch(h.get("epoch")))
            if h["ctl"] == "mark" and h.get("epoch") is not None:
                return sender, Mark(sender, _epoch(h["epoch"]))  # type: ignore[arg-type]
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
    return sender, Frame(kind=kind, data=data, t=float(t), seq=seq, stream=stream, meta=meta)
