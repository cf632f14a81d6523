"""source.file: read a sound file as mono float32 audio frames."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
from pydantic import Field, field_validator

from streamser.frames import Frame
from streamser.node import Params, Source


class FileParams(Params):
    path: str = Field(description="Sound file to read (wav, flac, ogg; anything libsndfile "
                                  "reads); in a graph file, relative to its folder.",
                      json_schema_extra={"file": "input"})
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
        if not Path(path).is_file():
            raise ValueError(f"no such file: {path}")
        return path


class FileSource(Source):
    """Read a wav/flac/ogg file as mono float32 audio, block by block."""

    Params = FileParams
    outputs = ("audio",)
    params: FileParams

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        assert isinstance(params, FileParams)
        try:
            return int(sf.info(params.path).samplerate)
        except (sf.LibsndfileError, RuntimeError, OSError):
            return None                       # start() says what is wrong with the file

    def start(self) -> None:
        try:
            self._file = sf.SoundFile(self.params.path)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise RuntimeError(f"cannot read {self.params.path}: {exc}") from None
        self._first = round(self.params.offset * self._file.samplerate)
        if self._first >= self._file.frames:
            raise RuntimeError(f"{self.params.path}: offset {self.params.offset:g} s is past "
                               f"its end ({self._file.frames / self._file.samplerate:.1f} s)")
        self._file.seek(self._first)

    def frames(self) -> Iterator[Frame]:
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

    def length(self) -> float:
        f, duration = self._file, self.params.duration
        left = (f.frames - self._first) / f.samplerate
        return left if duration is None else min(duration, left)

    def stop(self) -> None:
        if getattr(self, "_file", None) is not None:
            self._file.close()
