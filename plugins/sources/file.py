"""source.file: read a sound file (or a WAV / raw PCM stream on standard input) as mono
float32 audio frames."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
from pydantic import Field, field_validator

from streamser.frames import Frame
from streamser.node import Params, Source
from streamser.pcm import PcmFormat, PcmReader

#: The path that means standard input.
STDIN = "-"


class FileParams(Params):
    path: str = Field(description="Sound file to read (wav, flac, ogg; anything libsndfile "
                                  "reads), or '-': a WAV stream (or raw PCM, see format) "
                                  "on standard input; in a graph file, relative to its "
                                  "folder.", json_schema_extra={"file": "input"})
    format: str | None = Field(None, description="Raw PCM (no header) as FORMAT:RATE:"
                               "CHANNELS, e.g. s16le:16000:1 (u8, s16le, s24le, s32le, "
                               "f32le, f64le); `streamser run --input-format` sets it.")
    block: int = Field(1024, ge=1, le=1 << 22, description="Samples per frame.")
    offset: float = Field(0.0, ge=0, description="Seconds into the file to start reading "
                                                 "(stream time still starts at 0).")
    duration: float | None = Field(None, gt=0, description="Seconds to read from the "
                                   "offset; to the end of the file when unset.")
    realtime: bool = Field(False, description="Pace frames at the file's sample rate (a live "
                                              "source: drops instead of waiting).")
    stream: str = Field("default", min_length=1, description="Stream id put on every frame.")

    @field_validator("path")
    @classmethod
    def _readable(cls, path: str) -> str:
        if path == STDIN:
            return path
        if not Path(path).is_file():
            raise ValueError(f"no such file: {path}")
        if Path(path).stat().st_size == 0:
            raise ValueError(f"empty file (0 bytes): {path}")
        return path

    @field_validator("format")
    @classmethod
    def _format(cls, text: str | None) -> str | None:
        if text is not None:
            PcmFormat.parse(text)
        return text


class FileSource(Source):
    """Read a wav/flac/ogg file (or WAV / raw PCM on standard input) as mono float32 audio."""

    Params = FileParams
    outputs = ("audio",)
    params: FileParams

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        assert isinstance(params, FileParams)
        if params.format:
            return PcmFormat.parse(params.format).rate
        if params.path == STDIN:
            return None                       # in the WAV header, read when the run starts
        try:
            return int(sf.info(params.path).samplerate)
        except (sf.LibsndfileError, RuntimeError, OSError):
            return None                       # start() says what is wrong with the file

    def start(self) -> None:
        p = self.params
        self._reader: PcmReader | None = None
        if p.path == STDIN or p.format:
            self._open_stream()
            return
        try:
            self._file = sf.SoundFile(self.params.path)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise RuntimeError(f"cannot read {self.params.path}: {exc}") from None
        self._first = round(self.params.offset * self._file.samplerate)
        if self._first >= self._file.frames:
            raise RuntimeError(f"{self.params.path}: offset {self.params.offset:g} s is past "
                               f"its end ({self._file.frames / self._file.samplerate:.1f} s)")
        self._file.seek(self._first)

    def _open_stream(self) -> None:
        """Standard input (WAV or raw), or a raw PCM file, through a :class:`PcmReader`."""
        p = self.params
        fmt = PcmFormat.parse(p.format) if p.format else None
        if p.path == STDIN:
            fd, name = sys.stdin.fileno(), "standard input"
        else:
            fd, name = os.open(p.path, os.O_RDONLY), p.path
            self._fd = fd
        self._reader = PcmReader(fd, fmt, name)
        try:
            self._rate = self._reader.open().rate
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc)) from None

    def _stream_frames(self) -> Iterator[Frame]:
        p, reader = self.params, self._reader
        assert reader is not None
        rate = self._rate
        skip = round(p.offset * rate)
        end = None if p.duration is None else round(p.duration * rate)
        meta, pos, seq = {"sample_rate": rate}, 0, 0
        for block in reader.blocks(p.block):
            if skip:
                cut = min(skip, len(block))
                block, skip = block[cut:], skip - cut
            if end is not None:
                block = block[:end - pos]
            if len(block):
                yield Frame("audio", block, t=pos / rate, seq=seq, stream=p.stream, meta=meta)
                pos, seq = pos + len(block), seq + 1
            if end is not None and pos >= end:
                return

    def close(self) -> None:
        if getattr(self, "_reader", None) is not None:
            self._reader.close()

    def frames(self) -> Iterator[Frame]:
        if self._reader is not None:
            yield from self._stream_frames()
            return
        f, p = self._file, self.params
        rate, pos, seq = f.samplerate, 0, 0
        left = f.frames - self._first
        end = left if p.duration is None else min(left, round(p.duration * rate))
        meta = {"sample_rate": rate}
        chunk = max(p.block, rate)  # libsndfile calls cost per call: read ~1 s at a time
        while pos < end:
            data = f.read(min(chunk - chunk % p.block or p.block, end - pos), dtype="float32",
                          always_2d=True)
            if not len(data):
                return
            mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
            for i in range(0, len(mono), p.block):
                block = mono[i:i + p.block].copy()
                yield Frame("audio", block, t=pos / rate, seq=seq, stream=p.stream, meta=meta)
                pos += len(block)
                seq += 1

    def length(self) -> float | None:
        if self._reader is not None:
            return self.params.duration
        f, duration = self._file, self.params.duration
        left = (f.frames - self._first) / f.samplerate
        return left if duration is None else min(duration, left)

    def stop(self) -> None:
        if getattr(self, "_file", None) is not None:
            self._file.close()
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None
