"""Wire format: lossless round trip, zero-copy receive, strict rejection of anything else."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import zmq

from streamser.frames import Frame
from streamser.wire import EndOfStream, WireError, decode, encode, encode_eos


def test_round_trip_real_audio_through_zmq(cry_clip) -> None:
    x, rate = sf.read(cry_clip, dtype="float32")
    frame = Frame("audio", x[:1024], t=1.5, seq=7, stream="robot-3",
                  meta={"sample_rate": rate, "labels": ["a", "b"]})
    ctx = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind("inproc://wire-test")
    b.connect("inproc://wire-test")
    a.send_multipart(encode(frame), copy=False)
    got = decode(b.recv_multipart(copy=False))
    a.close(), b.close()
    assert isinstance(got, Frame)
    assert (got.kind, got.t, got.seq, got.stream, got.meta) == \
        ("audio", 1.5, 7, "robot-3", {"sample_rate": rate, "labels": ["a", "b"]})
    assert got.data.tobytes() == x[:1024].tobytes() and got.data.dtype == np.float32


@pytest.mark.parametrize("data", [np.arange(12, dtype=np.int16).reshape(3, 4),
                                  np.ones((96, 64), np.float32), np.float64(3.5),
                                  np.zeros((0, 64), np.float32),
                                  np.arange(20, dtype=np.float32).reshape(4, 5)[:, 1:3]])
def test_round_trip_shapes_and_dtypes(data: np.ndarray) -> None:
    got = decode([bytes(p) for p in encode(Frame("patch", np.asarray(data)))])
    assert isinstance(got, Frame)
    assert got.data.shape == np.shape(data) and got.data.dtype == np.asarray(data).dtype
    assert np.array_equal(got.data, data)


def test_eos_round_trip() -> None:
    assert decode(encode_eos("src")) == EndOfStream("src")


def header(**over: object) -> bytes:
    h = {"v": 1, "kind": "audio", "stream": "s", "seq": 0, "t": 0.0, "dtype": "float32",
         "shape": [4], "meta": {}}
    h.update(over)
    return json.dumps(h).encode()


@pytest.mark.parametrize("parts", [
    [], [b"\x00\x01garbage"], [b"[1, 2]"], [header()], [header(), b"\0" * 15],
    [header(), b"\0" * 16, b"x"], [header(v=2), b"\0" * 16], [header(kind="blob"), b"\0" * 16],
    [header(dtype="object"), b"\0" * 16], [header(dtype="V8"), b"\0" * 16],
    [header(shape=[-4]), b""], [header(shape="4"), b"\0" * 16], [header(t="now"), b"\0" * 16],
    [header(t=float("nan")), b"\0" * 16], [header(seq=1.5), b"\0" * 16],
    [header(meta=[]), b"\0" * 16], [b'{"v": 1, "ctl": "reboot"}'],
    [b'{"v": 1, "ctl": "eos"}'], [b" " * 70000 + header(), b"\0" * 16],
])
def test_malformed_messages_raise_wire_error(parts: list[bytes]) -> None:
    with pytest.raises(WireError):
        decode(parts)


def test_size_limit() -> None:
    parts = [bytes(p) for p in encode(Frame("audio", np.zeros(4096, np.float32)))]
    assert isinstance(decode(parts, max_payload_bytes=16384), Frame)
    with pytest.raises(WireError, match="exceeds limit"):
        decode(parts, max_payload_bytes=16383)
    with pytest.raises(WireError, match="exceeds limit"):  # checked before reading payload
        decode([header(shape=[10**12]), b""])


def test_received_payload_is_read_only() -> None:
    got = decode([bytes(p) for p in encode(Frame("audio", np.ones(8, np.float32)))])
    assert isinstance(got, Frame) and not got.data.flags.writeable
