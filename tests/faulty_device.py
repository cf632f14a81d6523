"""A fault-injecting audio device layer for ``source.mic``: a stand-in for
``pyaudio.PyAudio`` that plays a real recording through PortAudio-style callbacks in
real time, and fails on a schedule (unplugged: the stream stops and the device is gone
until it comes back; stalled: the stream stays "active" but delivers nothing)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import soundfile as sf
from pydantic import Field

from streamser.devices import PA_CONTINUE
from streamser.plugins.sources.mic import MicParams, MicSource


class Hardware:
    """The simulated microphone; fault times are seconds after the first open."""

    def __init__(self, audio: np.ndarray, rate: int, unplugged: list[tuple[float, float]],
                 stalled: list[tuple[float, float]]) -> None:
        self.audio, self.rate = audio, rate
        self.unplugged, self.stalled = unplugged, stalled
        self.t0: float | None = None
        self.opens: list[tuple[float, bool]] = []  # attempts: (time since t0, plugged in)
        self.pos = 0

    def now(self) -> float:
        return 0.0 if self.t0 is None else time.monotonic() - self.t0

    def state(self) -> str:
        now = self.now()
        if any(a <= now < a + d for a, d in self.unplugged):
            return "unplugged"
        if any(a <= now < a + d for a, d in self.stalled):
            return "stalled"
        return "ok"

    def read(self, n: int) -> bytes:
        idx = (self.pos + np.arange(n)) % len(self.audio)
        self.pos += n
        return self.audio[idx].astype(np.float32).tobytes()


class FaultyStream:
    def __init__(self, hw: Hardware, block: int, callback: Callable[..., Any]) -> None:
        self.hw, self.block, self.callback = hw, block, callback
        self._active = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period, due = self.block / self.hw.rate, time.monotonic()
        while not self._stop.is_set():
            due += period
            self._stop.wait(max(0.0, due - time.monotonic()))
            state = self.hw.state()
            if state == "unplugged":
                self._active = False  # PortAudio stops a stream whose device is gone
                return
            if state == "ok" and not self._stop.is_set():
                self.callback(self.hw.read(self.block), self.block, None, 0)

    def is_active(self) -> bool:
        return self._active

    def stop_stream(self) -> None:
        self._stop.set()
        self._thread.join()

    def close(self) -> None:
        self._stop.set()


class FaultyPyAudio:
    """What ``source.mic`` uses of ``pyaudio.PyAudio``, over a :class:`Hardware`."""

    def __init__(self, hw: Hardware) -> None:
        """One attempt to use the device (PortAudio is initialised anew each time)."""
        self.hw = hw
        if hw.t0 is None:
            hw.t0 = time.monotonic()
        hw.opens.append((hw.now(), hw.state() != "unplugged"))

    def get_device_count(self) -> int:
        return 0 if self.hw.state() == "unplugged" else 1

    def get_device_info_by_index(self, index: int) -> dict[str, Any]:
        return {"index": index, "name": "Faulty USB microphone", "maxInputChannels": 1,
                "defaultSampleRate": float(self.hw.rate)}

    def get_default_input_device_info(self) -> dict[str, Any]:
        return self.get_device_info_by_index(0)

    def is_format_supported(self, rate: int, **_: Any) -> bool:
        if rate != self.hw.rate:
            raise ValueError("Invalid sample rate")
        return True

    def open(self, *, frames_per_buffer: int, stream_callback: Callable[..., Any],
             **_: Any) -> FaultyStream:
        if self.hw.state() == "unplugged":
            raise OSError(-9996, "Invalid input device (no default output device)")
        return FaultyStream(self.hw, frames_per_buffer, stream_callback)

    def terminate(self) -> None:
        pass


class FaultyMicParams(MicParams):
    recording: str = Field(description="Real audio the device plays (looped).")
    unplugged: list[tuple[float, float]] = Field([], description="(start, seconds) pairs.")
    stalled: list[tuple[float, float]] = Field([], description="(start, seconds) pairs.")


class FaultyMic(MicSource):
    """source.mic over the fault-injecting device layer."""

    Params = FaultyMicParams
    params: FaultyMicParams
    #: The hardware of the last instance started (for the test to inspect).
    last: Hardware | None = None

    def device_layer(self) -> FaultyPyAudio:  # type: ignore[override]
        if getattr(self, "hardware", None) is None:
            audio, rate = sf.read(self.params.recording, dtype="float32")
            self.hardware = FaultyMic.last = Hardware(
                audio, rate, list(self.params.unplugged), list(self.params.stalled))
        return FaultyPyAudio(self.hardware)
