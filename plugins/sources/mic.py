"""source.mic: capture a microphone through pyaudio (PortAudio) as mono float32 audio."""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import Field

from streamser.devices import ALTERNATIVE, AudioUnavailable, find_input, open_pyaudio
from streamser.frames import Frame
from streamser.node import Params, Source, missing_module

log = logging.getLogger(__name__)
POLL_S = 0.05


class MicParams(Params):
    device: int | str | None = Field(None, description="Input device: its index or part of "
                                     "its name ('streamser devices' lists them); the "
                                     "default input when unset.")
    sample_rate: int = Field(16000, ge=1000, le=384000, description="Samples per second.")
    block: int = Field(1024, ge=16, le=1 << 16, description="Samples per frame (and per "
                                                            "device buffer).")
    channels: int = Field(1, ge=1, le=64, description="Channels to capture; mixed to mono.")
    buffer: float = Field(2.0, gt=0, le=60, description="Seconds of audio held while the "
                          "graph is behind; beyond it blocks are dropped and counted.")
    stream: str = Field("default", min_length=1, description="Stream id put on every frame.")


class MicSource(Source):
    """Capture a microphone as mono float32 audio; live: drops and counts when behind.

    PortAudio's callback thread only queues raw blocks with their sample position; a full
    queue drops the block. ``t`` counts every sample the device delivered, so after a
    drop it jumps ahead and the frame carries meta ``gap: true`` (as it does after a
    device overflow). Counters: ``dropped_samples``, ``overflows``.
    """

    Params = MicParams
    outputs = ("audio",)
    params: MicParams

    live = True  # type: ignore[assignment]  # a device never waits for the graph
    paced = False  # type: ignore[assignment]  # it blocks on its own clock

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        assert isinstance(params, MicParams)
        return params.sample_rate

    @classmethod
    def requirements(cls, params: Params) -> list[str]:
        return missing_module("pyaudio", "mic", "source.mic")

    def start(self) -> None:
        p = self.params
        self.dropped_samples = 0
        self.overflows = 0
        self._captured = 0  # samples delivered by the device (callback thread only)
        self._blocks: queue.Queue[tuple[bytes, int, bool]] = queue.Queue(
            maxsize=max(1, round(p.buffer * p.sample_rate / p.block)))
        self._closed = threading.Event()
        self._pa = open_pyaudio()
        import pyaudio  # present: open_pyaudio() said so

        try:
            dev = find_input(self._pa, p.device)
            try:
                self._pa.is_format_supported(p.sample_rate, input_device=dev.index,
                                             input_channels=p.channels,
                                             input_format=pyaudio.paFloat32)
                self._stream = self._pa.open(
                    format=pyaudio.paFloat32, channels=p.channels, rate=p.sample_rate,
                    input=True, input_device_index=dev.index, frames_per_buffer=p.block,
                    stream_callback=self._callback)
            except (ValueError, OSError) as exc:
                raise AudioUnavailable(
                    f"cannot capture {p.channels} channel(s) at {p.sample_rate} Hz from "
                    f"'{dev.name}' ({exc}); its default rate is {dev.default_rate:g} Hz "
                    f"and it has {dev.channels} input channel(s); or {ALTERNATIVE}") from None
        except BaseException:
            self._pa.terminate()
            self._pa = None
            raise

    def _callback(self, data: bytes, count: int, _time: Any, status: int
                  ) -> tuple[None, int]:
        import pyaudio

        overflow = bool(status & pyaudio.paInputOverflow)
        if overflow:
            self.overflows += 1
        try:
            self._blocks.put_nowait((data, self._captured, overflow))
        except queue.Full:
            pass  # frames() sees the jump in sample position and counts it
        self._captured += count
        return None, pyaudio.paContinue

    def frames(self) -> Iterator[Frame]:
        p = self.params
        expected, seq = 0, 0
        while not self._closed.is_set():
            try:
                data, pos, overflow = self._blocks.get(timeout=POLL_S)
            except queue.Empty:
                continue
            x = np.frombuffer(data, dtype=np.float32)
            mono = x if p.channels == 1 else x.reshape(-1, p.channels).mean(
                axis=1, dtype=np.float32)
            meta: dict[str, Any] = {"sample_rate": p.sample_rate}
            if pos > expected or overflow:
                self.dropped_samples += pos - expected
                meta["gap"] = True
            yield Frame("audio", mono, t=pos / p.sample_rate, seq=seq, stream=p.stream,
                        meta=meta)
            expected, seq = pos + len(mono), seq + 1

    def close(self) -> None:
        self._closed.set()

    def stop(self) -> None:
        if getattr(self, "_pa", None) is None:
            return
        self._closed.set()
        stream = getattr(self, "_stream", None)
        if stream is not None:
            stream.stop_stream()
            stream.close()
        self._pa.terminate()
        self._pa = None
        if self.dropped_samples or self.overflows:
            log.warning("source.mic '%s': dropped %.2f s of audio while the graph was "
                        "behind, %d device overflow(s)", self.name,
                        self.dropped_samples / self.params.sample_rate, self.overflows)
