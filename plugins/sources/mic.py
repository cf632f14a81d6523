"""source.mic: capture a microphone through pyaudio (PortAudio) as mono float32 audio."""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from pydantic import Field

from streamser.devices import (
    ALTERNATIVE,
    PA_CONTINUE,
    PA_FLOAT32,
    PA_INPUT_OVERFLOW,
    AudioUnavailable,
    find_input,
    open_pyaudio,
)
from streamser.frames import Frame
from streamser.node import Params, Source, missing_module

log = logging.getLogger(__name__)
POLL_S = 0.05
#: First wait before reopening a lost device; it doubles up to ``reopen_max``.
FIRST_BACKOFF_S = 0.5


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
    lost_after: float = Field(2.0, gt=0, le=600, description="Seconds without audio after "
                              "which a device that has not reported an error counts as "
                              "lost (at least four blocks).")
    reopen_max: float = Field(30.0, ge=FIRST_BACKOFF_S, le=3600, description="Longest wait "
                              "(s) between two attempts to reopen a lost device; waits "
                              "start at 0.5 s and double.")


class MicSource(Source):
    """Capture a microphone as mono float32 audio; live: drops and counts when behind.

    PortAudio's callback thread only queues raw blocks with their sample position; a full
    queue drops the block. ``t`` counts every sample the device delivered, so after a
    drop it jumps ahead and the frame carries meta ``gap: true`` (as it does after a
    device overflow). Counters: ``dropped_samples``, ``overflows``.

    A device that fails while the graph runs (unplugged, an audio server restarting, no
    audio for ``lost_after`` seconds) never ends the run: the node emits a
    ``source_lost`` event, reopens the device with backoff (0.5 s, doubling up to
    ``reopen_max``), and emits ``source_back`` once audio flows again (a reopened device
    that stays silent is still lost); stream time moves on by the time it was away, and
    the next audio frame carries ``gap: true``. Only a failure to open the device at
    start ends the run.
    """

    Params = MicParams
    outputs = ("audio", "event")
    params: MicParams

    live = True  # type: ignore[assignment]  # a device never waits for the graph
    paced = False  # type: ignore[assignment]  # it blocks on its own clock
    #: The device layer: makes a ``pyaudio.PyAudio``-like object (tests inject faults).
    device_layer: Callable[[], Any] = staticmethod(open_pyaudio)

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
        self.reopened = 0
        self._blocks: queue.Queue[tuple[bytes, int, bool]] = queue.Queue(
            maxsize=max(1, round(p.buffer * p.sample_rate / p.block)))
        self._closed = threading.Event()
        self._pa: Any = None
        self._stream: Any = None
        self._open(0)

    def _open(self, offset: int) -> None:
        """Open the device; its first sample is stream sample ``offset``."""
        p = self.params
        self._pa = self.device_layer()
        try:
            dev = find_input(self._pa, p.device)
            try:
                self._pa.is_format_supported(p.sample_rate, input_device=dev.index,
                                             input_channels=p.channels,
                                             input_format=PA_FLOAT32)
                self._stream = self._pa.open(
                    format=PA_FLOAT32, channels=p.channels, rate=p.sample_rate,
                    input=True, input_device_index=dev.index, frames_per_buffer=p.block,
                    stream_callback=self._callback(offset))
            except (ValueError, OSError) as exc:
                raise AudioUnavailable(
                    f"cannot capture {p.channels} channel(s) at {p.sample_rate} Hz from "
                    f"'{dev.name}' ({exc}); its default rate is {dev.default_rate:g} Hz "
                    f"and it has {dev.channels} input channel(s); or {ALTERNATIVE}") from None
        except BaseException:
            self._release()
            raise

    def _callback(self, offset: int) -> Callable[..., tuple[None, int]]:
        """PortAudio's callback for one opened stream, counting samples from ``offset``."""
        captured = offset

        def callback(data: bytes, count: int, _time: Any, status: int) -> tuple[None, int]:
            nonlocal captured
            overflow = bool(status & PA_INPUT_OVERFLOW)
            if overflow:
                self.overflows += 1
            try:
                self._blocks.put_nowait((data, captured, overflow))
            except queue.Full:
                pass  # frames() sees the jump in sample position and counts it
            captured += count
            return None, PA_CONTINUE
        return callback

    def frames(self) -> Iterator[Frame]:
        p = self.params
        expected, seq, gap = 0, 0, False
        heard = time.monotonic()
        silent_for = max(p.lost_after, 4 * p.block / p.sample_rate)
        away: tuple[float, int] | None = None  # while lost: since when, attempts so far
        while not self._closed.is_set():
            try:
                data, pos, overflow = self._blocks.get(timeout=POLL_S)
            except queue.Empty:
                why = self._failure(time.monotonic() - heard, silent_for)
                if why is None:
                    continue
                if away is None:  # lost since the last audio heard
                    away = (heard, 0)
                    yield self._event("source_lost", expected, seq, reason=why)
                    seq += 1
                back = self._reopen(expected, away[0])
                if back is None:  # stopped while away
                    return
                attempts, expected = back
                away, gap, heard = (away[0], away[1] + attempts), True, time.monotonic()
                continue
            heard = time.monotonic()
            if away is not None:  # audio flows again
                yield self._event("source_back", pos, seq, attempts=away[1],
                                  lost_for=round(heard - away[0], 3))
                away, seq = None, seq + 1
            x = np.frombuffer(data, dtype=np.float32)
            mono = x if p.channels == 1 else x.reshape(-1, p.channels).mean(
                axis=1, dtype=np.float32)
            meta: dict[str, Any] = {"sample_rate": p.sample_rate}
            if pos > expected or overflow or gap:
                self.dropped_samples += max(0, pos - expected) if not gap else 0
                meta["gap"] = True
            yield Frame("audio", mono, t=pos / p.sample_rate, seq=seq, stream=p.stream,
                        meta=meta)
            expected, seq, gap = pos + len(mono), seq + 1, False

    def _failure(self, silent: float, silent_for: float) -> str | None:
        """Why the device counts as lost (None: it does not)."""
        try:
            active = bool(self._stream.is_active())
        except OSError as exc:
            return f"device error: {exc}"
        if not active:
            return "the device stopped (unplugged, or its audio server went away)"
        if silent >= silent_for:
            return f"no audio for {silent:.1f} s"
        return None

    def _reopen(self, expected: int, lost_at: float) -> tuple[int, int] | None:
        """Close the lost device and reopen it, waiting 0.5 s, 1 s, 2 s ... up to
        ``reopen_max`` between attempts. Stream time moves on by the time away: returns
        the number of attempts and the stream sample of the reopened device's first
        sample, or None when stopped."""
        self._release()
        while not self._blocks.empty():  # the old stream's last blocks: its time is gone
            self._blocks.get_nowait()
        wait, attempts = FIRST_BACKOFF_S, 0
        while not self._closed.wait(wait):
            attempts += 1
            offset = expected + round((time.monotonic() - lost_at) * self.params.sample_rate)
            try:
                self._open(offset)
            except (AudioUnavailable, OSError) as exc:
                if attempts == 1:
                    log.warning("source.mic '%s': cannot reopen the device yet (%s); "
                                "retrying, at most every %g s", self.name, exc,
                                self.params.reopen_max)
                wait = min(2 * wait, self.params.reopen_max)
                continue
            self.reopened += 1
            log.warning("source.mic '%s': device back after %d attempt(s)", self.name,
                        attempts)
            return attempts, offset
        return None

    def _event(self, name: str, sample: int, seq: int, **fields: Any) -> Frame:
        t = round(sample / self.params.sample_rate, 3)
        meta = {"event": name, "stream": self.params.stream, "t": t, "emitted_at": t,
                "source": self.name, **fields}
        if name == "source_lost":
            log.warning("source.mic '%s': device lost at t=%.3f s (%s)", self.name, t,
                        fields.get("reason"))
        return Frame("event", np.zeros(0, np.float32), t=t, seq=seq, stream=self.params.stream,
                     meta=meta)

    def close(self) -> None:
        self._closed.set()

    def _release(self) -> None:
        """Close the stream and PortAudio (errors of a device already gone are ignored)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            for step in (stream.stop_stream, stream.close):
                try:
                    step()
                except OSError:
                    pass
        pa, self._pa = self._pa, None
        if pa is not None:
            pa.terminate()

    def stop(self) -> None:
        if getattr(self, "_closed", None) is None:
            return
        self._closed.set()
        self._release()
        if self.dropped_samples or self.overflows:
            log.warning("source.mic '%s': dropped %.2f s of audio while the graph was "
                        "behind, %d device overflow(s)", self.name,
                        self.dropped_samples / self.params.sample_rate, self.overflows)
