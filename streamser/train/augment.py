"""Training-time audio augmentation: speed perturbation (pitch and tempo together), background
noise at a random SNR, random gain, and random band-limiting to the telephone band (4 kHz,
as donateacry is recorded).

The band-limiting matters for the cry detector: donateacry's cries are all 8 kHz, so a
model trained on them against full-band negatives can learn "band-limited means cry".
Each augmented copy is deterministic: copy ``c`` of a clip draws from
``default_rng([seed, crc32(path), c])`` (:func:`streamser.train.data.augment_rng`), so
cached features stay valid.

Leakage: the noise clips are a corpus of their own (``noise_manifest``, the rows whose
label is in ``noise_labels``). When that corpus is also the one being evaluated (a cry
detector trained and tested on babycry_esc, with its noise, laugh or silence mixed in as
background), noise from the test fold's groups must not reach the training clips: put
the test groups in ``exclude_groups`` (``dataclasses.replace(spec, exclude_groups=...)``
per fold; the spec's key, and so the feature cache, changes with it). Note that
babycry_esc's silence and laugh rows are one recording each (one group): excluding that
group leaves nothing to mix, which raises.

Public API::

    AugmentSpec(noise_manifest=None, noise_labels=("noise",), exclude_groups=(),
                snr_db=(0, 20), gain_db=(-6, 6), noise_prob=0.5, bandlimit_prob=0.5,
                copies=2, extra_copies={}, seed=0, speed=(0.8, 1.25), speed_prob=0.0)
        .key() / .copies_for(manifest_label) / .to_dict() / AugmentSpec.from_dict(d)
    augment(audio, rate, spec, rng, exclude_groups=()) -> np.ndarray
    bandlimit(audio, rate, cutoff_rate=8000) -> np.ndarray
    change_speed(audio, factor) -> np.ndarray
    mix_noise(audio, noise, snr_db, rng) -> np.ndarray
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import soxr

from .clips import load_audio, read_manifest


@dataclass(frozen=True)
class AugmentSpec:
    noise_manifest: str | None = None      # manifest whose clips of noise_labels are mixed in
    noise_labels: tuple[str, ...] = ("noise",)
    exclude_groups: tuple[str, ...] = field(default=())   # noise groups never to use
    snr_db: tuple[float, float] = (0.0, 20.0)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    noise_prob: float = 0.5
    bandlimit_prob: float = 0.5
    copies: int = 2
    extra_copies: tuple[tuple[str, int], ...] = field(default=())   # (manifest label, n)
    seed: int = 0
    speed: tuple[float, float] = (0.8, 1.25)   # speed factor range (log-uniform)
    speed_prob: float = 0.0

    def __post_init__(self) -> None:
        for name in ("snr_db", "gain_db", "speed"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"augment: {name} must be (low, high), got ({lo}, {hi})")
        if self.speed[0] <= 0:
            raise ValueError("augment: speed factors must be > 0")
        for name in ("noise_prob", "bandlimit_prob", "speed_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"augment: {name} must be in [0, 1]")
        extra = self.extra_copies
        extra = tuple(sorted(extra.items() if isinstance(extra, dict) else extra))
        if self.copies < 0 or any(int(n) < 0 for _, n in extra):
            raise ValueError("augment: copies and extra_copies must be >= 0")
        object.__setattr__(self, "extra_copies", tuple((str(k), int(n)) for k, n in extra))
        # JSON and YAML give lists: store tuples so that the spec stays hashable.
        for name in ("noise_labels", "exclude_groups", "snr_db", "gain_db", "speed"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def copies_for(self, manifest_label: str) -> int:
        """Augmented copies of a clip whose manifest row has ``manifest_label``."""
        return self.copies + dict(self.extra_copies).get(manifest_label, 0)

    def key(self) -> str:
        """Stable hash of every field (part of the feature cache's key). Speed perturbation
        came later: while it is off, its fields stay out, so older keys (caches) hold."""
        d = asdict(self)
        if not self.speed_prob:
            del d["speed"], d["speed_prob"]
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        d["extra_copies"] = dict(self.extra_copies)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AugmentSpec:
        return cls(**d)


@lru_cache(maxsize=8)
def _noise_bank(manifest: str, labels: tuple[str, ...], exclude: tuple[str, ...],
                rate: int) -> tuple[np.ndarray, ...]:
    clips = [c for c in read_manifest(manifest, list(labels)) if c.group not in exclude]
    if not clips:
        raise ValueError(f"{manifest}: no noise clips with labels {labels}")
    return tuple(load_audio(c.path, rate) for c in clips)


def bandlimit(audio: np.ndarray, rate: int, cutoff_rate: int = 8000) -> np.ndarray:
    """Down to ``cutoff_rate`` and back (soxr): nothing left above ``cutoff_rate / 2``."""
    if rate <= cutoff_rate:
        return audio
    y = soxr.resample(soxr.resample(audio, rate, cutoff_rate, quality="HQ"), cutoff_rate,
                      rate, quality="HQ")
    out = np.zeros_like(audio)
    out[: min(len(y), len(audio))] = y[: len(audio)]
    return out


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """``audio`` played ``factor`` times faster (pitch and tempo together, as a tape would):
    resampled by soxr, so its length becomes ``len(audio) / factor``."""
    if factor == 1.0:
        return audio
    return soxr.resample(audio, factor, 1.0, quality="HQ")


def mix_noise(audio: np.ndarray, noise: np.ndarray, snr_db: float,
              rng: np.random.Generator) -> np.ndarray:
    """``audio`` plus a random stretch of ``noise`` (looped if short) at ``snr_db``."""
    if len(noise) < len(audio):
        noise = np.tile(noise, -(-len(audio) // len(noise)))
    start = int(rng.integers(0, len(noise) - len(audio) + 1))
    n = noise[start:start + len(audio)]
    p_sig, p_noise = float(np.mean(audio ** 2)), float(np.mean(n ** 2))
    if p_noise <= 0 or p_sig <= 0:
        return audio
    return audio + n * np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))


def augment(audio: np.ndarray, rate: int, spec: AugmentSpec, rng: np.random.Generator,
            exclude_groups: tuple[str, ...] | list[str] = ()) -> np.ndarray:
    """One random augmented copy of ``audio`` (float32, clipped to [-1, 1]), a function
    of ``rng`` alone: with probability ``speed_prob`` played at a speed factor drawn
    log-uniformly from ``speed`` (the length changes with it; with ``speed_prob`` 0 no
    number is drawn, so older copies stay as they were), then with probability
    ``noise_prob`` a random noise clip (a random stretch, looped if short) at a uniform
    SNR in ``snr_db``, then a uniform gain in ``gain_db``, then with probability
    ``bandlimit_prob`` the telephone band (:func:`bandlimit`). ``exclude_groups`` adds
    noise groups never to use to the spec's (the feature cache only knows the spec's:
    pass them there when caching)."""
    x = np.asarray(audio, np.float64)
    if spec.speed_prob and rng.random() < spec.speed_prob:
        lo, hi = np.log(spec.speed)
        x = change_speed(x, float(np.exp(rng.uniform(lo, hi))))
    if spec.noise_manifest and rng.random() < spec.noise_prob:
        exclude = tuple(sorted(set(spec.exclude_groups) | set(exclude_groups)))
        bank = _noise_bank(spec.noise_manifest, tuple(spec.noise_labels), exclude, rate)
        x = mix_noise(x, bank[int(rng.integers(len(bank)))], float(rng.uniform(*spec.snr_db)),
                      rng)
    x = x * 10 ** (float(rng.uniform(*spec.gain_db)) / 20)
    if rng.random() < spec.bandlimit_prob:
        x = bandlimit(x, rate)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def room_tone(rng: np.random.Generator, rate: int = 16000,
              seconds: tuple[float, float] = (2.0, 8.0),
              dbfs: tuple[float, float] = (-90.0, -40.0)) -> np.ndarray:
    """A quiet room as a microphone hears it: digital silence (one in ten), else white,
    pink (1/f) or brown (1/f^2) noise at a random RMS level in ``dbfs``."""
    n = int(rng.uniform(*seconds) * rate)
    if rng.random() < 0.1:
        return np.zeros(n, np.float32)
    colour = rng.integers(3)                     # 0 white, 1 pink, 2 brown
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / rate), 20.0)
    x = np.fft.irfft(spectrum / f ** (colour / 2), n)
    x *= 10 ** (rng.uniform(*dbfs) / 20) / (np.sqrt(np.mean(x ** 2)) + 1e-12)
    return x.astype(np.float32)
