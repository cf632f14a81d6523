"""Cry descriptors: measurements a robot can act on while a cry goes on.

Audio is cut into consecutive 32 ms frames (no overlap). Per frame:

- ``level``: 10 log10 of the mean square, in dB relative to full scale (dBFS; a
  full-scale square wave is 0 dBFS, a full-scale sine -3 dBFS);
- ``f0`` and ``periodicity``: YIN (:func:`streamser.dsp.pitch.yin`) between ``f0_min``
  and ``f0_max``; periodicity is the frame's normalised correlation one period later.

A frame is *voiced* when its level is at least 6 dB above the room's level and its
periodicity reaches ``voicing`` (the pitch search, on audio decimated to about 8 kHz, runs
only on frames loud enough to be voiced). Over the cry (its ``start`` to the event's
time):

- ``loudness_db``: the power mean of the voiced frames' levels (of every frame when
  none is voiced), in dBFS;
- ``above_noise_db``: ``loudness_db`` minus the room's level, the 20th percentile of the
  frame levels over the ``noise_window`` seconds before the cry started (null when no
  audio came before it);
- ``f0_hz``: the median F0 of the voiced frames (null when none is voiced);
- ``voiced``: the share of the cry's frames that are voiced;
- ``units``: cry bursts: runs of voiced frames, joined across breaks of at most 0.1 s,
  that last at least 0.2 s;
- ``intensity`` (0-1): how loud the cry is now: the power mean level L of the voiced
  frames of its last ``window`` seconds, mapped linearly from ``quiet_db`` (0) to
  ``loud_db`` (1) and clipped: ``clip((L - quiet_db) / (loud_db - quiet_db), 0, 1)``;
- ``trend``: the level over the last ``window`` seconds, in 1 s bins (power mean of each
  bin's frames), fitted with a line: ``rising`` when the line climbs by ``trend_db`` or
  more across the window, ``falling`` when it drops by as much, else ``steady`` (also
  with less than 3 s of cry).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from .pitch import yin

FRAME_S = 0.032
UNIT_GAP_S = 0.1
UNIT_MIN_S = 0.2
VOICED_ABOVE_ROOM_DB = 6.0
#: The level of digital silence (a frame of zeros), and the room's level when unknown.
FLOOR_DB = -120.0


@dataclass(frozen=True)
class Settings:
    """What the descriptors depend on (the node's params)."""

    f0_min: float = 150.0
    f0_max: float = 1000.0
    voicing: float = 0.6
    window: float = 10.0
    trend_db: float = 3.0
    quiet_db: float = -60.0
    loud_db: float = -10.0


def frame_length(rate: int) -> int:
    return max(1, round(FRAME_S * rate))


def powers(frames: np.ndarray) -> np.ndarray:
    """(n, L) frames -> their mean squares, floored at FLOOR_DB."""
    return np.maximum(np.mean(np.square(frames, dtype=np.float64), axis=1),
                      10 ** (FLOOR_DB / 10))


def as_frames(x: np.ndarray, rate: int) -> np.ndarray:
    """Whole consecutive frames of ``x`` (a tail shorter than a frame is left out)."""
    n = frame_length(rate)
    whole = len(x) // n
    return np.asarray(x[:whole * n], dtype=np.float64).reshape(whole, n)


def room_level(x: np.ndarray, rate: int) -> float | None:
    """The room's level in dBFS: the 20th percentile of the frame levels of ``x``."""
    frames = as_frames(x, rate)
    return float(np.percentile(to_db(powers(frames)), 20)) if len(frames) else None


def to_db(power: np.ndarray | float) -> Any:
    return 10 * np.log10(power)


def power_mean_db(power: np.ndarray) -> float:
    return float(to_db(np.mean(power)))


class Column:
    """A growing 1-D array: appending copies only the new values (capacity doubles)."""

    def __init__(self, dtype: type) -> None:
        self.data = np.zeros(256, dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            grown = np.zeros(max(end, 2 * len(self.data)), self.data.dtype)
            grown[:self.size] = self.data[:self.size]
            self.data = grown
        self.data[self.size:end] = values
        self.size = end

    @property
    def values(self) -> np.ndarray:
        return self.data[:self.size]


class SortedValues:
    """Every value added so far, kept sorted (an insert copies the array once), so that a
    median costs the same however long the cry."""

    def __init__(self) -> None:
        self.data = np.zeros(0)

    def add(self, values: np.ndarray) -> None:
        values = np.sort(values)
        self.data = np.insert(self.data, np.searchsorted(self.data, values), values)

    def median_without(self, left_out: np.ndarray) -> float:
        """The median of the values less ``left_out`` (some of them, the last added):
        read off the sorted values, stepping over those left out."""
        data, gone = self.data, np.zeros(0, np.int64)
        if len(left_out):
            out = np.sort(left_out)
            first = np.searchsorted(out, out)                 # rank among equal values
            gone = np.searchsorted(data, out) + np.arange(len(out)) - first

        def kth(k: int) -> float:                             # k-th smallest of the rest
            for g in gone.tolist():                           # ascending positions
                if g > k:
                    break
                k += 1
            return float(data[k])

        h = (len(data) - len(gone)) // 2
        if (len(data) - len(gone)) % 2:
            return kth(h)
        return float((kth(h - 1) + kth(h)) / 2)


class Runs:
    """Cry bursts, kept as voiced frames are added (:func:`count_units`' runs): where each
    run starts among the voiced frames, and how many of the closed runs are long enough."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.starts = Column(np.int64)          # position of each run's first voiced frame
        self.long_closed = Column(np.int64)     # long runs among runs 0..r, once r closed

    def add(self, voiced_at: np.ndarray, first: int) -> None:
        """``voiced_at``: every voiced frame's index so far, of which those from position
        ``first`` on are new."""
        if first == len(voiced_at):
            return
        lo = max(first - 1, 0)
        gaps = (np.diff(voiced_at[lo:]) - 1) * self.step > UNIT_GAP_S + 1e-9
        new = lo + 1 + np.flatnonzero(gaps)
        if first == 0:
            new = np.concatenate(([0], new))
        for start in new.tolist():              # each new run closes the one before it
            if self.starts.size:
                prev = int(self.starts.data[self.starts.size - 1])
                done = int(self.long_closed.data[self.long_closed.size - 1]) \
                    if self.long_closed.size else 0
                length = (voiced_at[start - 1] - voiced_at[prev] + 1) * self.step
                self.long_closed.extend(np.array([done + (length >= UNIT_MIN_S - 1e-9)]))
            self.starts.extend(np.array([start]))

    def count(self, voiced_at: np.ndarray, m: int) -> int:
        """:func:`count_units` of the first ``m`` voiced frames."""
        if not m:
            return 0
        runs = int(np.searchsorted(self.starts.values, m))  # runs starting among them
        closed = int(self.long_closed.data[runs - 2]) if runs >= 2 else 0
        last = int(self.starts.data[runs - 1])
        length = (voiced_at[m - 1] - voiced_at[last] + 1) * self.step
        return closed + int(length >= UNIT_MIN_S - 1e-9)


@dataclass
class CryFrames:
    """The frames of one cry analysed so far: start times, powers, voicing, running sums
    (so that an update costs little however long the cry), and the voiced frames' F0."""

    rate: int
    settings: Settings
    room_db: float | None
    #: per frame: start time, power, running voiced count, voiced power and power
    t: Column = field(default_factory=lambda: Column(float))
    power: Column = field(default_factory=lambda: Column(float))
    count: Column = field(default_factory=lambda: Column(np.int64))
    vpower: Column = field(default_factory=lambda: Column(float))
    apower: Column = field(default_factory=lambda: Column(float))
    #: per voiced frame, in order: its index and its F0
    voiced_at: Column = field(default_factory=lambda: Column(np.int64))
    voiced_f0: Column = field(default_factory=lambda: Column(float))
    #: the voiced frames' F0 sorted, and their bursts
    f0_sorted: SortedValues = field(default_factory=SortedValues)
    runs: Runs = field(init=False)

    def __post_init__(self) -> None:
        self.runs = Runs(frame_length(self.rate) / self.rate)

    def add(self, x: np.ndarray, t0: float, before: np.ndarray) -> None:
        """Analyse the whole frames of ``x`` (audio starting at stream time ``t0``);
        ``before``: the audio just before it (the decimation filter's memory, see
        :func:`pitch_input`)."""
        frames = as_frames(x, self.rate)
        if not len(frames):
            return
        s = self.settings
        power = powers(frames)
        floor = FLOOR_DB if self.room_db is None else self.room_db
        loud = to_db(power) >= floor + VOICED_ABOVE_ROOM_DB
        f0, voiced = np.zeros(len(frames)), np.zeros(len(frames), bool)
        if loud.any():
            low, low_rate = pitch_input(x[:frames.size], before, self.rate)
            pitch, periodicity = _pitch(low.reshape(len(frames), -1)[loud], low_rate,
                                        s.f0_min, s.f0_max)
            f0[loud], voiced[loud] = pitch, periodicity >= s.voicing
        n = self.t.size
        last = (self.count.data[n - 1], self.vpower.data[n - 1], self.apower.data[n - 1]) \
            if n else (0, 0.0, 0.0)
        self.t.extend(t0 + np.arange(len(frames)) * frames.shape[1] / self.rate)
        self.power.extend(power)
        self.count.extend(last[0] + np.cumsum(voiced))
        self.vpower.extend(last[1] + np.cumsum(power * voiced))
        self.apower.extend(last[2] + np.cumsum(power))
        first = self.voiced_at.size
        self.voiced_at.extend(n + np.flatnonzero(voiced))
        self.voiced_f0.extend(f0[voiced])
        self.f0_sorted.add(f0[voiced])
        self.runs.add(self.voiced_at.values, first)

    def describe(self, until: float) -> dict[str, Any]:
        """The descriptors of the frames that end by stream time ``until``."""
        s, step = self.settings, frame_length(self.rate) / self.rate
        t, power, count = self.t.values, self.power.values, self.count.values
        vpower, apower = self.vpower.values, self.apower.values
        n = int(np.searchsorted(t, until - step + 1e-9, side="right"))
        if not n:
            return {"loudness_db": None, "above_noise_db": None, "f0_hz": None,
                    "voiced": 0.0, "units": 0, "intensity": None, "trend": "steady"}
        k = int(np.searchsorted(t, until - s.window))  # the last `window` seconds

        def power_mean(lo: int) -> float:  # of frames lo..n-1: the voiced ones if any
            before = (int(count[lo - 1]), vpower[lo - 1], apower[lo - 1]) if lo else (0, 0, 0)
            voiced_n = int(count[n - 1]) - before[0]
            if voiced_n:
                return float(to_db((vpower[n - 1] - before[1]) / voiced_n))
            return float(to_db((apower[n - 1] - before[2]) / (n - lo)))

        m = int(count[n - 1])  # voiced frames among the first n
        loudness = power_mean(0)
        level = (power_mean(k) - s.quiet_db) / (s.loud_db - s.quiet_db)
        return {
            "loudness_db": round(loudness, 1),
            "above_noise_db": None if self.room_db is None else round(loudness - self.room_db,
                                                                      1),
            "f0_hz": round(self.f0_sorted.median_without(self.voiced_f0.values[m:]), 1)
            if m else None,
            "voiced": round(m / n, 3),
            "units": self.runs.count(self.voiced_at.values, m),
            "intensity": round(float(np.clip(level, 0.0, 1.0)), 3),
            "trend": trend(t[k:n], power[k:n], until, s),
        }


def decimation(rate: int) -> int:
    """The factor q that brings ``rate`` down towards 8 kHz for the pitch search (a frame
    must hold a whole number of decimated samples; 1: none)."""
    n = frame_length(rate)
    return next((q for q in range(max(1, rate // 8000), 1, -1) if n % q == 0), 1)


@lru_cache(maxsize=8)
def _lowpass(q: int) -> np.ndarray:
    """A windowed-sinc low-pass for decimation by ``q`` (cut-off 0.45 of the new rate),
    reversed for a dot product with the samples it weighs."""
    n = np.arange(-2 * q, 2 * q + 1)
    h = np.sinc(0.9 * n / q) * np.hamming(len(n))
    return (h / h.sum())[::-1].copy()


def history(rate: int) -> int:
    """Samples of audio before a chunk that :func:`pitch_input` needs (its memory)."""
    q = decimation(rate)
    return 0 if q == 1 else len(_lowpass(q)) - 1


def pitch_input(x: np.ndarray, before: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """``x`` low-passed and decimated for the pitch search (a cry's F0 lies below 2 kHz,
    so about 8 kHz is plenty, at a quarter of the FFT work of 16 kHz): a causal filter
    whose memory is ``before`` (zeros where it is short), so that no value depends on how
    the audio was cut into chunks."""
    q = decimation(rate)
    if q == 1:
        return np.asarray(x, np.float64), rate
    h = _lowpass(q)
    memory = before[len(before) - min(len(before), len(h) - 1):]
    full = np.concatenate([np.zeros(len(h) - 1 - len(memory)), memory, x])
    return np.convolve(full, h[::-1], "valid")[::q], rate // q


def _pitch(frames: np.ndarray, rate: int, f0_min: float, f0_max: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """YIN F0 and periodicity; frames too short for ``f0_min`` at this rate are zeros."""
    if frames.shape[1] <= 2 * int(rate / f0_min):
        zeros = np.zeros(len(frames))
        return zeros, zeros
    return yin(frames, rate, f0_min, min(f0_max, rate / 4))


def count_units(idx: np.ndarray, step: float) -> int:
    """Runs of voiced frames (``idx``: their indices, in order), joined across breaks of
    <= UNIT_GAP_S, lasting >= UNIT_MIN_S."""
    if not len(idx):
        return 0
    breaks = np.flatnonzero((np.diff(idx) - 1) * step > UNIT_GAP_S + 1e-9)
    first = np.concatenate(([idx[0]], idx[breaks + 1]))
    last = np.concatenate((idx[breaks], [idx[-1]]))
    return int(np.sum((last - first + 1) * step >= UNIT_MIN_S - 1e-9))


def trend(t: np.ndarray, power: np.ndarray, until: float, s: Settings) -> str:
    """rising / steady / falling: a line through 1 s bins of the level (see the module)."""
    if not len(t) or until - t[0] < 3.0:
        return "steady"
    bins = ((t - t[0]) // 1.0).astype(np.int64)
    count = np.bincount(bins)
    full = count * FRAME_S >= 0.5  # bins at least half full
    if np.count_nonzero(full) < 3:
        return "steady"
    x = np.bincount(bins, weights=t)[full] / count[full]
    y = to_db(np.bincount(bins, weights=power)[full] / count[full])
    x = x - x.mean()
    slope = float(np.dot(x, y - y.mean()) / np.dot(x, x))
    change = slope * min(s.window, until - t[0])
    return "rising" if change >= s.trend_db else "falling" if change <= -s.trend_db \
        else "steady"
