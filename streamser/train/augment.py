"""Training-time audio augmentation: background noise at a random SNR, random gain, and
random band-limiting to the telephone band (4 kHz, as donateacry is recorded).

The band-limiting matters for the cry detector: donateacry's cries are all 8 kHz, so a
model trained on them against full-band negatives can learn "band-limited means cry".
Each augmented copy is deterministic: copy ``c`` of a clip draws from
``default_rng([seed, crc32(path), c])``, so cached features stay valid.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
import soxr


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
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@lru_cache(maxsize=8)
def _noise_bank(manifest: str, labels: tuple[str, ...], exclude: tuple[str, ...],
                rate: int) -> tuple[np.ndarray, ...]:
    from .data import load_audio, read_manifest
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


def augment(audio: np.ndarray, rate: int, spec: AugmentSpec,
            rng: np.random.Generator) -> np.ndarray:
    """One random augmented copy of ``audio`` (same length, clipped to [-1, 1])."""
    x = np.asarray(audio, np.float64)
    if spec.noise_manifest and rng.random() < spec.noise_prob:
        bank = _noise_bank(spec.noise_manifest, tuple(spec.noise_labels),
                           tuple(spec.exclude_groups), rate)
        x = mix_noise(x, bank[int(rng.integers(len(bank)))], float(rng.uniform(*spec.snr_db)),
                      rng)
    x = x * 10 ** (float(rng.uniform(*spec.gain_db)) / 20)
    if rng.random() < spec.bandlimit_prob:
        x = bandlimit(x, rate)
    return np.clip(x, -1.0, 1.0).astype(np.float32)
