"""Cry descriptors: measurements a robot can act on while a cry goes on.

Audio is cut into consecutive 32 ms frames (no overlap). Per frame:

- ``level``: 10 log10 of the mean square, in dB relative to full scale (dBFS; a
  full-scale square wave is 0 dBFS, a full-scale sine -3 dBFS);
- ``f0`` and ``periodicity``: YIN (:func:`streamser.dsp.pitch.yin`) between ``f0_min``
  and ``f0_max``; periodicity is the frame's normalised correlation one period later.

A frame is *voiced* when its periodicity reaches ``voicing`` and its level is at least
6 dB above the room's level. Over the cry (its ``start`` to the event's time):

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


def levels_db(frames: np.ndarray) -> np.ndarray:
    """(n, L) frames -> their levels in dBFS, ``(n,)``."""
    power = np.mean(np.square(frames, dtype=np.float64), axis=1)
    return 10 * np.log10(np.maximum(power, 10 ** (FLOOR_DB / 10)))


def as_frames(x: np.ndarray, rate: int) -> np.ndarray:
    """Whole consecutive frames of ``x`` (a tail shorter than a frame is left out)."""
    n = frame_length(rate)
    whole = len(x) // n
    return np.asarray(x[:whole * n], dtype=np.float64).reshape(whole, n)


def room_level(x: np.ndarray, rate: int) -> float | None:
    """The room's level in dBFS: the 20th percentile of the frame levels of ``x``."""
    frames = as_frames(x, rate)
    return float(np.percentile(levels_db(frames), 20)) if len(frames) else None


def power_mean_db(levels: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(10 ** (levels / 10))))


@dataclass
class CryFrames:
    """The frames of one cry analysed so far: their start times and measurements."""

    rate: int
    settings: Settings
    t: list[np.ndarray] = field(default_factory=list)
    level: list[np.ndarray] = field(default_factory=list)
    f0: list[np.ndarray] = field(default_factory=list)
    periodicity: list[np.ndarray] = field(default_factory=list)

    def add(self, x: np.ndarray, t0: float) -> None:
        """Analyse the whole frames of ``x`` (audio starting at stream time ``t0``)."""
        frames = as_frames(x, self.rate)
        if not len(frames):
            return
        s = self.settings
        f0, per = _pitch(frames, self.rate, s.f0_min, s.f0_max)
        self.t.append(t0 + np.arange(len(frames)) * frames.shape[1] / self.rate)
        self.level.append(levels_db(frames))
        self.f0.append(f0)
        self.periodicity.append(per)

    def _arrays(self) -> tuple[np.ndarray, ...]:
        """The four columns, each joined into one array (and kept so)."""
        columns = (self.t, self.level, self.f0, self.periodicity)
        for col in columns:
            if len(col) != 1:
                col[:] = [np.concatenate(col) if col else np.zeros(0)]
        return tuple(col[0] for col in columns)

    def describe(self, until: float, room_db: float | None) -> dict[str, Any]:
        """The descriptors of the frames that end by stream time ``until``."""
        s, step = self.settings, frame_length(self.rate) / self.rate
        t, level, f0, per = self._arrays()
        keep = t + step <= until + 1e-9
        t, level, f0, per = t[keep], level[keep], f0[keep], per[keep]
        floor = FLOOR_DB if room_db is None else room_db
        voiced = (per >= s.voicing) & (level >= floor + VOICED_ABOVE_ROOM_DB)
        loudness = power_mean_db(level[voiced] if voiced.any() else level) if len(t) else None
        recent = t >= until - s.window
        now = level[recent & voiced] if (recent & voiced).any() else level[recent]
        intensity = None
        if len(now):
            x = (power_mean_db(now) - s.quiet_db) / (s.loud_db - s.quiet_db)
            intensity = round(float(np.clip(x, 0.0, 1.0)), 3)
        return {
            "loudness_db": _round(loudness, 1),
            "above_noise_db": _round(None if loudness is None or room_db is None
                                     else loudness - room_db, 1),
            "f0_hz": _round(float(np.median(f0[voiced])) if voiced.any() else None, 1),
            "voiced": round(float(voiced.mean()), 3) if len(t) else 0.0,
            "units": count_units(voiced, step),
            "intensity": intensity,
            "trend": trend(t[recent], level[recent], until, s),
        }


def _pitch(frames: np.ndarray, rate: int, f0_min: float, f0_max: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """YIN F0 and periodicity; frames too short for ``f0_min`` at this rate are zeros."""
    if frames.shape[1] <= 2 * int(rate / f0_min):
        zeros = np.zeros(len(frames))
        return zeros, zeros
    return yin(frames, rate, f0_min, min(f0_max, rate / 4))


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def count_units(voiced: np.ndarray, step: float) -> int:
    """Runs of voiced frames, joined across breaks of <= UNIT_GAP_S, lasting >= UNIT_MIN_S."""
    runs: list[list[int]] = []  # [first, last] frame index
    for i in np.flatnonzero(voiced):
        if runs and (i - runs[-1][1] - 1) * step <= UNIT_GAP_S + 1e-9:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return sum(1 for a, b in runs if (b - a + 1) * step >= UNIT_MIN_S - 1e-9)


def trend(t: np.ndarray, level: np.ndarray, until: float, s: Settings) -> str:
    """rising / steady / falling: a line through 1 s bins of the level (see the module)."""
    if not len(t) or until - t[0] < 3.0:
        return "steady"
    bins = np.floor((t - t[0]) / 1.0).astype(int)
    centres, means = [], []
    for b in np.unique(bins):
        inside = bins == b
        if inside.sum() * FRAME_S >= 0.5:  # a bin at least half full
            centres.append(float(t[inside].mean()))
            means.append(power_mean_db(level[inside]))
    if len(centres) < 3:
        return "steady"
    slope = float(np.polyfit(centres, means, 1)[0])
    change = slope * min(s.window, until - t[0])
    return "rising" if change >= s.trend_db else "falling" if change <= -s.trend_db \
        else "steady"
