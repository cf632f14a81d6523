"""score.cry_heuristic: a PLACEHOLDER cry score from energy and pitch, not a model.

It stands in for a trained cry model until the ``infer`` node exists, so that the event
chain (scores -> smooth.hysteresis -> sink.events) can be built and tested end to end.
It is not a cry detector to rely on: any loud periodic sound with a pitch of 250-700 Hz
(a whistle, a beep, a child's or a soprano's voice) scores as cry.

Every 10 ms, a 32 ms Hann-windowed analysis frame (16 kHz, content below 200 Hz
removed) is *cry-voiced* when

- its level is above ``min_db`` dBFS,
- its normalized autocorrelation peaks above ``periodicity`` at a lag of 250-700 Hz
  (an infant's f0), and that peak is not clearly beaten by the peak at 90-250 Hz lags
  (adult voices, whose periodicity shows there; a cry's period repeats there too, so
  a cry scores about the same in both ranges).

Every ``hop`` seconds it emits a ``scores`` frame for the last ``window`` seconds:
``cry = min(1, 2 * fraction of cry-voiced frames)``, ``other = 1 - cry``, meta ``labels``
["cry", "other"], ``upto`` (end of the window) and ``hop``; ``t`` is the window's start.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from streamser.dsp.framing import Framer
from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates

RATE = 16000
WIN, STEP, NFFT = 512, 160, 1024                   # 32 ms frames every 10 ms
CRY_LAGS = slice(RATE // 700, RATE // 250 + 1)     # 250-700 Hz
ADULT_LAGS = slice(RATE // 250 + 1, RATE // 90 + 1)  # 90-250 Hz
MARGIN = 0.1
LOW_BINS = 200 * NFFT // RATE                      # below 200 Hz: rumble, ignored
HANN = np.hanning(WIN + 2)[1:-1].astype(np.float32)
HANN_AC = np.correlate(HANN, HANN, "full")[WIN - 1:WIN - 1 + ADULT_LAGS.stop]


class CryHeuristicParams(Params):
    window: float = Field(0.5, ge=0.1, le=5, description="Seconds of audio each score covers.")
    hop: float = Field(0.1, ge=0.01, le=0.48, description="Seconds between scores.")
    min_db: float = Field(-50.0, ge=-120, le=0, description="Analysis frames quieter than "
                                                            "this (dBFS) are not cry.")
    periodicity: float = Field(0.5, gt=0, lt=1, description="Autocorrelation peak a cry-voiced "
                                                            "frame needs.")


@dataclass
class Stream:
    """Per-stream state; replaced on a gap."""

    audio: Framer
    flags: Framer
    origin: float
    gap: bool
    seq: int = 0


def cry_voiced(frames: np.ndarray, min_db: float, periodicity: float) -> np.ndarray:
    """(n, 512) float32 analysis frames at 16 kHz -> (n,) float32 cry-voiced flags."""
    spec = np.fft.rfft(frames * HANN, NFFT)
    spec[:, :LOW_BINS] = 0
    r = np.fft.irfft(spec.real ** 2 + spec.imag ** 2, NFFT)[:, :ADULT_LAGS.stop]
    energy = r[:, 0] + 1e-12
    nac = r / energy[:, None] * (HANN_AC[0] / HANN_AC)
    cry, adult = nac[:, CRY_LAGS].max(axis=1), nac[:, ADULT_LAGS].max(axis=1)
    loud = 10 * np.log10(energy / HANN_AC[0]) > min_db
    return (loud & (cry > periodicity) & (cry >= adult - MARGIN)).astype(np.float32)


class CryHeuristic(Node):
    """PLACEHOLDER cry score (energy + 250-700 Hz periodicity), not a model; 16 kHz audio."""

    Params = CryHeuristicParams
    inputs = ("audio",)
    outputs = ("scores",)
    params: CryHeuristicParams

    def start(self) -> None:
        self._streams: StreamStates[Stream] = self.stream_states()
        self._win = round(self.params.window * RATE / STEP)
        self._hop = round(self.params.hop * RATE / STEP)

    def process(self, frame: Frame) -> list[Frame]:
        rate = frame.meta.get("sample_rate")
        if rate != RATE:
            raise ValueError(f"{self.name}: needs 16 kHz audio, got {rate} Hz "
                             "(put a resample node before it)")
        st = self._streams.get(frame.stream)
        if st is None or frame.meta.get("gap"):
            st = Stream(Framer(WIN, STEP), Framer(self._win, self._hop), origin=frame.t,
                        gap=bool(frame.meta.get("gap")), seq=st.seq if st else 0)
            self._streams[frame.stream] = st
        first = st.flags.next_index
        p = self.params
        windows = st.flags.push(cry_voiced(st.audio.push(frame.data), p.min_db, p.periodicity))
        out = []
        for i, flags in enumerate(windows):
            start = (first + i) * self._hop * STEP
            end = start + (self._win - 1) * STEP + WIN
            cry = min(1.0, 2 * float(flags.mean()))
            meta = {"labels": ["cry", "other"], "upto": st.origin + end / RATE,
                    "hop": self._hop * STEP / RATE}
            if st.gap:
                meta["gap"], st.gap = True, False
            out.append(Frame("scores", np.array([cry, 1 - cry], np.float32),
                             t=st.origin + start / RATE, seq=st.seq, stream=frame.stream,
                             meta=meta))
            st.seq += 1
        return out
