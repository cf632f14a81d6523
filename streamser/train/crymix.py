"""Audio for the cry detector: augmented training copies and leave-source-out test streams.

Training copies (:func:`copies`), each a function of the clip and a seed:
- cries: clean, or over a background of the *same fold* (so that a held-out fold's sounds
  never reach training through a mix) at 0-20 dB SNR, or over a quiet room bed;
- everything else: over a quiet room bed, or mixed with another clip of its fold;
- both sides: at -40 to -12 dBFS, band-limited to 4 kHz (one in three: donateacry's cries
  are telephone-band, and "band-limited" must not mean "cry"), and through a simulated
  room (:func:`room_impulses`: shoebox rooms, RT60 0.3-0.8 s, 1-4 m) so that "close and
  dry" does not mean "cry" either.

Test streams (:func:`fold_stream`): every clip of one fold once, in random order, at
-30 to -15 dBFS with 0.5-3 s of room tone between segments, short clips strung together
by source, a third of the cries over one of the fold's noises; ``room=True`` puts every
segment through a simulated room (the nursery heard across a room).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from ..evaluation.teststreams import at_level, audible_span
from .augment import bandlimit, room_tone
from .crycorpus import Item
from .clips import load_audio

RATE = 16000
BANDLIMIT_P, ROOM_P = 1 / 3, 0.4


def room_impulses(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` room impulse responses at 16 kHz (pyroomacoustics' image method): shoebox rooms
    3-7 x 3-6 x 2.4-3 m, RT60 0.3-0.8 s, source 1-4 m from the microphone, normalized to
    unit energy."""
    import pyroomacoustics as pra
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        dims = np.array([rng.uniform(3, 7), rng.uniform(3, 6), rng.uniform(2.4, 3.0)])
        rt60 = rng.uniform(0.3, 0.8)
        try:
            absorption, order = pra.inverse_sabine(rt60, dims)
        except ValueError:
            continue
        room = pra.ShoeBox(dims, fs=RATE, materials=pra.Material(absorption),
                           max_order=min(order, 12))
        mic = dims * rng.uniform(0.2, 0.8, 3)
        mic[2] = rng.uniform(0.8, 1.5)
        direction = rng.normal(size=3)
        direction[2] *= 0.2
        src = mic + direction / np.linalg.norm(direction) * rng.uniform(1, 4)
        if np.any(src < 0.2) or np.any(src > dims - 0.2):
            continue
        room.add_source(src)
        room.add_microphone(mic)
        room.compute_rir()
        h = np.asarray(room.rir[0][0], np.float32)[: int(0.8 * RATE)]
        out.append(h / np.sqrt(np.sum(h ** 2)))
    return out


def in_room(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``audio`` as heard through ``rir`` (same length, same RMS)."""
    y = fftconvolve(audio, rir)[: len(audio)]
    return at_level(y.astype(np.float32), _db(audio))


def _db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-9)


@dataclass
class Copy:
    """One training copy: audio, the clean cry's share of it per sample (``cry_audio``,
    for per-patch labels; None for a non-cry clip) and what was done to it."""

    audio: np.ndarray
    cry_audio: np.ndarray | None
    how: str


def copies(item: Item, backgrounds: list[Item], rirs: list[np.ndarray], n: int,
           seed: int) -> list[Copy]:
    """``n`` augmented copies of ``item``; ``backgrounds`` are non-cry clips of its fold."""
    rng = np.random.default_rng(seed)
    clean = load_audio(item.path)
    if len(clean) < RATE:                    # short clips: pad with quiet room to 1 s+
        bed = room_tone(rng, seconds=(1.0, 1.5), dbfs=(-80, -60))
        at = int(rng.integers(0, len(bed) - len(clean) + 1)) if len(bed) > len(clean) else 0
        padded = bed.copy() if len(bed) >= len(clean) else np.zeros(len(clean), np.float32)
        padded[at:at + len(clean)] += clean
        clean = padded
    out = []
    for k in range(n):
        level = rng.uniform(-40, -12)
        x = at_level(clean, level)
        how = []
        cry = x.copy() if item.is_cry else None
        if k > 0 and rng.random() < 0.6 and backgrounds:
            other = load_audio(backgrounds[int(rng.integers(len(backgrounds)))].path)
            other = np.resize(other, len(x))
            snr = rng.uniform(0, 20) if item.is_cry else rng.uniform(-5, 10)
            x = x + at_level(other, level - snr)
            how.append(f"mix{snr:.0f}dB")
        bed = np.resize(room_tone(rng, dbfs=(-75, -45)), len(x))
        x = x + bed
        if k > 0 and rng.random() < ROOM_P and rirs:
            rir = rirs[int(rng.integers(len(rirs)))]
            x = in_room(x, rir)
            if cry is not None:
                cry = in_room(cry, rir)
            how.append("room")
        if k > 0 and rng.random() < BANDLIMIT_P:
            x = bandlimit(x, RATE)
            how.append("band")
        peak = float(np.abs(x).max())
        if peak > 0.99:
            x *= 0.99 / peak
            if cry is not None:
                cry *= 0.99 / peak
        out.append(Copy(x.astype(np.float32), cry, "+".join(how) or "clean"))
    return out


def fold_stream(items: list[Item], seed: int, rirs: list[np.ndarray] | None = None
                ) -> tuple[np.ndarray, list[dict[str, object]]]:
    """One long stream of every clip of ``items`` (one fold) and its truth rows
    (``start,end,kind,label,source``, as ``streamser score-events`` reads). With ``rirs``,
    every segment passes through one of those rooms."""
    rng = np.random.default_rng(seed)
    cries = [i for i in items if i.is_cry]
    by_source: dict[str, list[Item]] = defaultdict(list)
    for i in items:
        if not i.is_cry:
            by_source[i.source].append(i)
    noises = [i for i in items if i.kind in ("other", "animal")]
    segments: list[list[Item]] = []
    for clips in by_source.values():                   # short clips strung by source
        order = [clips[j] for j in rng.permutation(len(clips))]
        cur: list[Item] = []
        for clip in order:
            cur.append(clip)
            if len(cur) >= 4 or sum(_duration(c) for c in cur) >= 3.0:
                segments.append(cur)
                cur = []
        if cur:
            segments.append(cur)
    order = [segments[j] for j in rng.permutation(len(segments))]
    # spread the cries evenly among the other segments (never two in a row)
    slots = np.sort(rng.choice(len(order) + 1, size=min(len(cries), len(order) + 1),
                               replace=False))
    plan: list[list[Item]] = []
    slot_set = {int(s): c for s, c in zip(slots, rng.permutation(len(cries)))}
    for j in range(len(order) + 1):
        if j in slot_set:
            plan.append([cries[slot_set[j]]])
        if j < len(order):
            plan.append(order[j])
    parts, truth, pos = [], [], 0
    for seg in plan:
        gap = room_tone(rng, seconds=(0.5, 3.0), dbfs=(-70, -50))
        parts.append(gap)
        pos += len(gap)
        audio = np.concatenate([np.concatenate([load_audio(c.path),
                                                np.zeros(int(rng.uniform(0.1, 0.4) * RATE),
                                                         np.float32)]) for c in seg])
        audio = at_level(audio, rng.uniform(-30, -15))
        first = seg[0]
        row: dict[str, object] = {"kind": first.kind, "label": first.category,
                                  "source": first.source}
        start, end = pos / RATE, (pos + len(audio)) / RATE
        if first.is_cry:
            on, off = audible_span(audio)
            start, end = pos / RATE + on, pos / RATE + off
            row["kind"] = "cry"
            if noises and rng.random() < 1 / 3:
                bed = np.resize(load_audio(noises[int(rng.integers(len(noises)))].path),
                                len(audio))
                audio = audio + at_level(bed, _db(audio) - rng.uniform(5, 15))
                row["kind"] = "cry_over_noise"
        if rirs:
            audio = in_room(audio, rirs[int(rng.integers(len(rirs)))])
        row.update(start=round(start, 3), end=round(end, 3))
        truth.append(row)
        parts.append(audio.astype(np.float32))
        pos += len(audio)
    stream = np.concatenate(parts)
    peak = float(np.abs(stream).max())
    if peak > 0.99:
        stream *= 0.99 / peak
    return stream, truth


def _duration(item: Item) -> float:
    import soundfile as sf
    return float(sf.info(str(item.path)).duration)
