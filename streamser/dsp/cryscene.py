"""A synthetic cry scene with known truth: infant-like cry episodes over a room-noise bed,
optionally with speech-like babble.

- A cry *unit* is about 1 s of voicing: f0 rises from 300-400 Hz to 450-600 Hz and falls
  back (a half sine), with a little vibrato, 1/k harmonics, some breath noise and soft
  attack/release. Units are separated by 0.15-0.35 s inhalation gaps and grouped into
  *episodes*; an episode starts at its first unit's onset and ends at its last unit's end.
- Babble: three voices (f0 within 95-245 Hz, falling intonation), each speaking one 1.2-2.6 s
  utterance per 4 s slot: syllables of 150-280 ms whose harmonics are weighted by the
  resonances of a vowel (three formants) and by a glottal tilt.
- The bed: white noise plus a low-frequency rumble (noise interpolated every 2 ms).

Everything is deterministic by seed. Audio is rendered in order, in fixed chunks of
0.1 s, so reading it in blocks of any size gives the same samples; only the sounds that
overlap the current chunk are held, so an endless scene stays bounded in memory.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

JITTER = 0.25        # episode lengths vary by +-25 % around episode_length
BABBLE_SLOT = 4.0    # seconds: each babble voice says one utterance per slot
VOICES = 3
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480),
          (660, 1720, 2410), (490, 1350, 1690))   # (F1, F2, F3) in Hz


@dataclass(frozen=True)
class CryScene:
    """What a scene contains. Episodes are laid out every ``episode_period`` seconds from
    ``episode_first`` (lengths ``episode_length`` +-25 %, by seed), or given explicitly
    as ``cry_times`` ((start, end) pairs in seconds)."""

    sample_rate: int = 16000
    duration: float | None = None
    seed: int = 0
    level_db: float = -20.0
    noise_db: float | None = -50.0
    babble_db: float | None = None
    episodes: int | None = None
    episode_first: float = 3.0
    episode_period: float = 15.0
    episode_length: float = 5.0
    cry_times: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        if self.cry_times is not None:
            object.__setattr__(self, "cry_times", tuple((float(a), float(b))
                                                        for a, b in self.cry_times))
            ends = [0.0] + [b for _, b in self.cry_times]
            for (a, b), prev in zip(self.cry_times, ends):
                if not (a >= prev and b - a >= 0.5):
                    raise ValueError("cry_times must be sorted, non-overlapping (start, end) "
                                     "pairs, each at least 0.5 s long")
        elif (1 + JITTER) * self.episode_length + 1.0 > self.episode_period:
            raise ValueError(f"episode_period must be at least 1.25 * episode_length + 1 s "
                             f"(= {(1 + JITTER) * self.episode_length + 1.0:g} s)")
        if self.episode_length < 0.5 or self.episode_first < 0:
            raise ValueError("episode_length must be >= 0.5 s and episode_first >= 0")

    @classmethod
    def from_params(cls, params: Any) -> CryScene:
        """A scene from any object or mapping with (some of) these field names, such as
        ``source.synth`` params; fields it lacks keep their defaults."""
        get = params.get if isinstance(params, dict) else \
            lambda name, default: getattr(params, name, default)
        values = {f.name: get(f.name, f.default) for f in fields(cls)}
        if values["cry_times"] is not None:
            values["cry_times"] = tuple(tuple(p) for p in values["cry_times"])
        return cls(**values)

    def episode(self, k: int) -> tuple[float, float] | None:
        """(start, end) of episode ``k`` (cut at ``duration``), or None if there is none."""
        if self.cry_times is not None:
            if k >= len(self.cry_times):
                return None
            start, end = self.cry_times[k]
        else:
            if self.episodes is not None and k >= self.episodes:
                return None
            start = self.episode_first + k * self.episode_period
            jitter = np.random.default_rng([self.seed, 1, k]).uniform(-JITTER, JITTER)
            end = start + self.episode_length * (1 + jitter)
        if self.duration is not None:
            if start >= self.duration:
                return None
            end = min(end, self.duration)
        return start, end

    def episodes_between(self, a: float, b: float) -> Iterator[int]:
        """Indices of the episodes that overlap [a, b) seconds."""
        if self.cry_times is not None:
            candidates: range = range(len(self.cry_times))
        else:
            first = max(0, math.floor((a - self.episode_first) / self.episode_period))
            candidates = range(first, max(first, 1 + math.floor(
                (b - self.episode_first) / self.episode_period)))
        for k in candidates:
            span = self.episode(k)
            if span is not None and span[0] < b and span[1] > a:
                yield k


def cry_scene_truth(scene: CryScene, until: float | None = None) -> list[tuple[float, float]]:
    """The true (start, end) of every cry episode, in seconds, up to ``until`` (needed for
    an endless scene)."""
    end = until if until is not None else scene.duration
    if end is None and scene.episodes is None and scene.cry_times is None:
        raise ValueError("an endless scene needs 'until'")
    out, k = [], 0
    while (span := scene.episode(k)) is not None and (end is None or span[0] < end):
        out.append((span[0], span[1] if end is None else min(span[1], end)))
        k += 1
    return out


def _units(scene: CryScene, k: int) -> list[tuple[float, float]]:
    """(start, end) of the cry units of episode k: they fill the episode exactly."""
    start, end = scene.episode(k) or (0.0, 0.0)
    rng = np.random.default_rng([scene.seed, 2, k])
    units, t = [], start
    while t < end:
        u_end = min(t + rng.uniform(0.6, 1.3), end)
        if end - u_end < 0.5:
            u_end = end
        units.append((t, u_end))
        t = u_end + rng.uniform(0.15, 0.35)
    return units


def _envelope(n: int, rate: int, attack: float, release: float) -> np.ndarray:
    env = np.ones(n)
    a, r = min(n // 2, int(attack * rate)), min(n // 2, int(release * rate))
    env[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / max(a, 1))
    env[n - r:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(r) / max(r, 1))
    return env


def _level(x: np.ndarray, db: float) -> np.ndarray:
    rms = math.sqrt(float(np.mean(x * x))) or 1.0
    return x * (10 ** (db / 20) / rms)


def render_cry_unit(n: int, rate: int, rng: np.random.Generator, level_db: float
                    ) -> np.ndarray:
    """One cry unit of ``n`` samples at ``level_db`` RMS."""
    t = np.arange(n) / rate
    f_lo, f_hi = rng.uniform(300, 400), rng.uniform(450, 600)
    f0 = f_lo + (f_hi - f_lo) * np.sin(np.pi * np.arange(n) / n)
    f0 *= 1 + 0.015 * np.sin(2 * np.pi * rng.uniform(5, 8) * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    harmonics = max(1, min(12, int((rate / 2 - 200) // f_hi)))
    x = sum(np.sin(k * phase) / k for k in range(1, harmonics + 1))
    x = x + 0.05 * rng.standard_normal(n)
    return _level(x * _envelope(n, rate, 0.06, 0.12), level_db)


def render_utterance(n: int, rate: int, f0_base: float, rng: np.random.Generator,
                     level_db: float) -> np.ndarray:
    """One speech-like utterance of ``n`` samples: formant-weighted harmonic syllables."""
    out = np.zeros(n)
    pos = 0
    while pos < n:
        m = min(n - pos, int(rng.uniform(0.15, 0.28) * rate))
        tau = (pos + np.arange(m)) / n
        f0 = f0_base * (1.15 - 0.3 * tau)
        phase = 2 * np.pi * np.cumsum(f0) / rate
        formants = VOWELS[rng.integers(len(VOWELS))]
        f_mean = float(f0.mean())
        syllable = np.zeros(m)
        for k in range(1, int(min(4000, rate / 2 - 100) // f_mean) + 1):
            f = k * f_mean
            gain = sum(1 / (1 + ((f - fc) / (60 + 0.06 * fc)) ** 2) for fc in formants)
            syllable += (gain + 0.01) / k * np.sin(k * phase)
        out[pos:pos + m] = syllable * np.sin(np.pi * np.arange(m) / m) ** 2
        pos += m
    return _level(out, level_db)


Sound = tuple[tuple[int, ...], int, Callable[[], np.ndarray]]  # key, first sample, render


class CrySceneRenderer:
    """Renders a :class:`CryScene` in order; :meth:`read` returns the next samples."""

    CHUNK = 0.1  # seconds rendered at a time

    def __init__(self, scene: CryScene) -> None:
        self.scene = scene
        self.rate = scene.sample_rate
        self._chunk = max(1, round(self.CHUNK * self.rate))
        self._next = 0                                  # first sample of the next chunk
        self._buf = np.zeros(0)
        self._held: dict[tuple[int, ...], tuple[int, np.ndarray]] = {}
        self._bed_rng = np.random.default_rng([scene.seed, 0])
        self._rumble_step = max(1, self.rate // 500)     # rumble control point every 2 ms
        self._rumble_last = 0.0

    def read(self, n: int) -> np.ndarray:
        """The next ``n`` samples (float32)."""
        parts, have = [], 0
        while have < n:
            if not len(self._buf):
                self._buf = self._render_chunk()
            take = self._buf[:n - have]
            self._buf = self._buf[len(take):]
            parts.append(take)
            have += len(take)
        return np.concatenate(parts).astype(np.float32)

    def _render_chunk(self) -> np.ndarray:
        a, b = self._next, self._next + self._chunk
        self._next = b
        out = self._bed(b - a)
        live = set()
        for key, start, render in self._sounds(a, b):
            live.add(key)
            if key not in self._held:
                self._held[key] = (start, render())
            s, x = self._held[key]
            lo, hi = max(a, s), min(b, s + len(x))
            out[lo - a:hi - a] += x[lo - s:hi - s]
        self._held = {k: v for k, v in self._held.items() if k in live}
        return out

    def _bed(self, n: int) -> np.ndarray:
        db = self.scene.noise_db
        if db is None:
            return np.zeros(n)
        step = self._rumble_step
        points = self._bed_rng.standard_normal(n // step + 1)
        ctrl = np.concatenate(([self._rumble_last], points))
        rumble = np.interp(np.arange(1, n + 1) / step, np.arange(len(ctrl)), ctrl)
        self._rumble_last = float(np.interp(n / step, np.arange(len(ctrl)), ctrl))
        white = self._bed_rng.standard_normal(n)
        return (0.5 * white + rumble) * (10 ** (db / 20) / math.sqrt(0.25 + 2 / 3))

    def _sounds(self, a: int, b: int) -> Iterator[Sound]:
        sc, rate = self.scene, self.rate
        for k in sc.episodes_between(a / rate, b / rate):
            for i, (u0, u1) in enumerate(_units(sc, k)):
                s, e = round(u0 * rate), round(u1 * rate)
                if s < b and e > a:
                    rng = np.random.default_rng([sc.seed, 3, k, i])
                    yield ((0, k, i), s,
                           lambda n=e - s, rng=rng: render_cry_unit(n, rate, rng, sc.level_db))
        if sc.babble_db is None:
            return
        slot = int(BABBLE_SLOT * rate)
        for j in range(max(0, a // slot - 1), b // slot + 1):
            for v in range(VOICES):
                rng = np.random.default_rng([sc.seed, 4, v, j])
                s = j * slot + int(rng.uniform(0, 1.2) * rate)
                n = int(rng.uniform(1.2, 2.6) * rate)
                if s < b and s + n > a:
                    f0 = 110 + 100 * (v + np.random.default_rng([sc.seed, 5, v]).uniform()) \
                        / VOICES
                    yield ((1, v, j), s, lambda n=n, f0=f0, rng=rng: render_utterance(
                        n, rate, f0, rng, sc.babble_db))
