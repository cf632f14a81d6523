"""PCM audio as numbers: integer or float samples to float32 mono (as ``source.file``
reads a file), and WAV or raw PCM read from a stream that cannot seek (standard input).

``--input -`` reads a WAV stream (the header's data size may be a placeholder, as
``arecord`` and ``ffmpeg -f wav -`` write it into a pipe: then the data runs to the end of
the stream) or, with ``--input-format s16le:RATE:CHANNELS``, headerless PCM.
"""
from __future__ import annotations

import os
import select
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Raw sample formats: name -> (numpy dtype, bytes per sample). ``s24le`` is packed.
SAMPLE_FORMATS = {"u8": ("u1", 1), "s16le": ("<i2", 2), "s24le": ("<i4", 3),
                  "s32le": ("<i4", 4), "f32le": ("<f4", 4), "f64le": ("<f8", 8)}
#: Divisor that maps each integer dtype onto [-1, 1), as libsndfile does for float reads.
_SCALE = {"int8": 128.0, "int16": 32768.0, "int32": 2147483648.0}
POLL_S = 0.1


def to_float32(samples: Any) -> np.ndarray:
    """Samples as float32 in [-1, 1): int16/int32/int8 divided by their full scale, uint8
    centred first, floats converted; the shape is kept."""
    x = np.asarray(samples)
    kind, name = x.dtype.kind, x.dtype.name
    if kind == "f":
        return np.ascontiguousarray(x, dtype=np.float32)
    if name in _SCALE:
        return x.astype(np.float32) / np.float32(_SCALE[name])
    if name == "uint8":
        return (x.astype(np.float32) - np.float32(128)) / np.float32(128)
    raise ValueError(f"audio samples must be int8, int16, int32, uint8 or float, not {name}")


def to_mono(samples: Any) -> np.ndarray:
    """``(n,)`` or ``(n, channels)`` samples as ``(n,)`` float32: channels averaged in
    float32, exactly as ``source.file`` does with a file's frames."""
    x = to_float32(samples)
    if x.ndim == 1:
        return x
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"audio must be (samples,) or (samples, channels), not {x.shape}")
    return np.ascontiguousarray(x[:, 0]) if x.shape[1] == 1 else \
        x.mean(axis=1, dtype=np.float32)


@dataclass(frozen=True)
class PcmFormat:
    """Sample format, rate and channel count of interleaved PCM."""

    sample: str
    rate: int
    channels: int

    @classmethod
    def parse(cls, text: str) -> PcmFormat:
        """``FORMAT:RATE:CHANNELS``, e.g. ``s16le:16000:1`` (formats: u8, s16le, s24le,
        s32le, f32le, f64le)."""
        parts = text.split(":")
        if len(parts) != 3 or parts[0] not in SAMPLE_FORMATS or not parts[1].isdigit() \
                or not parts[2].isdigit():
            raise ValueError(f"'{text}' is not FORMAT:RATE:CHANNELS (FORMAT one of "
                             f"{', '.join(SAMPLE_FORMATS)}; e.g. s16le:16000:1)")
        rate, channels = int(parts[1]), int(parts[2])
        if not 1000 <= rate <= 768000 or not 1 <= channels <= 64:
            raise ValueError(f"'{text}': rate must be 1000 to 768000 Hz and channels 1 to 64")
        return cls(parts[0], rate, channels)

    @property
    def frame_bytes(self) -> int:
        return SAMPLE_FORMATS[self.sample][1] * self.channels

    def decode(self, data: bytes) -> np.ndarray:
        """Whole frames of ``data`` -> ``(n,)`` float32 mono."""
        dtype = SAMPLE_FORMATS[self.sample][0]
        if self.sample == "s24le":  # packed 3-byte samples: widen to int32 (top bytes)
            raw = np.frombuffer(data, np.uint8).reshape(-1, 3)
            wide = np.zeros((len(raw), 4), np.uint8)
            wide[:, 1:] = raw
            x = wide.view("<i4").reshape(-1)
        else:
            x = np.frombuffer(data, dtype)
        return to_mono(x.reshape(-1, self.channels))


#: WAV format tags: integer PCM, IEEE float, and the extensible header (its sub-format).
_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
#: Data sizes a writer that cannot seek puts in the header: read to the end instead.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


class PcmReader:
    """Audio from a file descriptor that may be a pipe: a WAV stream (``fmt`` None) or raw
    PCM in ``fmt``. :meth:`close` (from another thread) ends :meth:`blocks` within
    ``POLL_S``."""

    def __init__(self, fd: int, fmt: PcmFormat | None = None, name: str = "standard input"
                 ) -> None:
        self.fd, self.fmt, self.name = fd, fmt, name
        self._left: int | None = None           # data bytes still to read (None: to EOF)
        self._closed = threading.Event()
        self._pending = b""

    def open(self) -> PcmFormat:
        """Read the WAV header (unless the format is given); the stream's format."""
        if self.fmt is None:
            self.fmt = self._wav_header()
        return self.fmt

    def blocks(self, samples: int) -> Iterator[np.ndarray]:
        """``(samples,)`` float32 mono blocks until the stream ends (the last may be
        shorter; a trailing partial frame is dropped)."""
        fmt = self.open()
        want = samples * fmt.frame_bytes
        while True:
            data = self._read(want)
            whole = len(data) - len(data) % fmt.frame_bytes
            if whole:
                yield fmt.decode(data[:whole])
            if len(data) < want:
                return

    def close(self) -> None:
        self._closed.set()

    def _read(self, n: int) -> bytes:
        """Up to ``n`` bytes: fewer only at the end of the stream (or of the data chunk),
        or after :meth:`close`."""
        if self._left is not None:
            n = min(n, self._left)
        buf = bytearray(self._pending)
        while len(buf) < n and not self._closed.is_set():
            ready, _, _ = select.select([self.fd], [], [], POLL_S)
            if not ready:
                continue
            chunk = os.read(self.fd, max(n - len(buf), 65536))
            if not chunk:
                break
            buf += chunk
        out, self._pending = bytes(buf[:n]), bytes(buf[n:])
        if self._left is not None:
            self._left -= len(out)
        return out

    def _exact(self, n: int, what: str) -> bytes:
        data = self._read(n)
        if len(data) < n:
            if not data and what == "RIFF header":
                raise ValueError(f"{self.name} is empty: no audio arrived (a WAV stream, "
                                 "or raw PCM with --input-format)")
            raise ValueError(f"{self.name}: the stream ended inside the WAV {what}")
        return data

    def _wav_header(self) -> PcmFormat:
        head = self._exact(12, "RIFF header")
        if head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            raise ValueError(f"{self.name} is not a WAV stream (for raw PCM give "
                             "--input-format, e.g. s16le:16000:1)")
        fmt: PcmFormat | None = None
        while True:
            chunk, size = struct.unpack("<4sI", self._exact(8, "chunk header"))
            if chunk == b"data":
                if fmt is None:
                    raise ValueError(f"{self.name}: WAV data before its fmt chunk")
                self._left = None if size in _UNKNOWN_SIZES or head[:4] == b"RF64" else size
                return fmt
            body = self._exact(size + size % 2, f"'{chunk.decode('latin-1')}' chunk")
            if chunk == b"fmt ":
                fmt = self._parse_fmt(body)

    def _parse_fmt(self, body: bytes) -> PcmFormat:
        tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
        if tag == _EXTENSIBLE and len(body) >= 26:
            tag = struct.unpack("<H", body[24:26])[0]
        sample = {(_PCM, 8): "u8", (_PCM, 16): "s16le", (_PCM, 24): "s24le",
                  (_PCM, 32): "s32le", (_FLOAT, 32): "f32le", (_FLOAT, 64): "f64le"
                  }.get((tag, bits))
        if sample is None or channels < 1:
            raise ValueError(f"{self.name}: WAV format {tag} with {bits} bits is not "
                             "supported (integer PCM 8/16/24/32 bits or 32/64-bit float)")
        return PcmFormat(sample, rate, channels)
