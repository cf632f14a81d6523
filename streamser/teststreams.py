"""``streamser mkstream``: long labelled test streams for the cry robot, from manifests.

A stream is a sequence of segments at 16 kHz, each a whole clip at its own level (-30 to
-15 dBFS RMS) with 0.5-3 s of quiet room tone between them: cry episodes (donateacry and
babycry_esc crying; some mixed over noise at 5-15 dB SNR), speech (emodb), the same speech
band-limited to the telephone band, laughter, environmental noise and silence. Two cry
episodes are always at least one non-cry segment apart. The truth CSV has one row per
segment: ``start,end,kind,label,source`` where a cry's start/end are where its audio is
above -35 dB of its peak (its audible onset and offset), ``kind`` is cry, speech,
phone_speech, laugh, noise or silence, and ``label`` the manifest label (a need for
donateacry cries).

With ``test_k``, clips come only from the fixed test split (``splits.is_test_group``), the
groups a recipe with ``data.test_groups_k`` never trains on; laughter and silence have no
test groups in our data (one recording each), so they are taken from all groups.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .train.augment import bandlimit
from .train.splits import is_test_group

RATE = 16000
CRY_LABELS = ("crying", "hungry", "discomfort", "tired", "belly_pain", "burping")
KIND_OF_LABEL = {"laugh": "laugh", "silence": "silence", "noise": "noise"}
#: Share of each kind among the segments.
MIX = {"cry": 0.3, "speech": 0.2, "phone_speech": 0.15, "laugh": 0.1, "noise": 0.15,
       "silence": 0.1}
CRY_OVER_NOISE = 0.3


@dataclass(frozen=True)
class Source:
    path: Path
    label: str
    group: str
    kind: str


def read_sources(manifests: list[Path], test_k: int | None) -> dict[str, list[Source]]:
    """Clips by kind (cry, speech, laugh, noise, silence)."""
    out: dict[str, list[Source]] = {}
    for manifest in manifests:
        with open(manifest, newline="") as fh:
            for row in csv.DictReader(fh):
                label = row["label"]
                kind = "cry" if label in CRY_LABELS else KIND_OF_LABEL.get(label, "speech")
                if test_k and kind not in ("laugh", "silence") \
                        and not is_test_group(row["group"], test_k):
                    continue
                out.setdefault(kind, []).append(
                    Source((manifest.parent / row["path"]).resolve(), label, row["group"], kind))
    return out


def load(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    return soxr.resample(audio, rate, RATE).astype(np.float32) if rate != RATE else audio


def at_level(audio: np.ndarray, db: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(audio ** 2))) + 1e-9
    return (audio * (10 ** (db / 20) / rms)).astype(np.float32)


def audible_span(audio: np.ndarray, floor_db: float = -35.0) -> tuple[float, float]:
    """Seconds from the clip start to its first and last 20 ms frame within ``floor_db``
    of the loudest frame."""
    n = len(audio) // 320
    if n == 0:
        return 0.0, len(audio) / RATE
    frames = audio[:n * 320].reshape(n, 320)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(level >= level.max() + floor_db)
    return loud[0] * 320 / RATE, (loud[-1] + 1) * 320 / RATE


def make_stream(manifests: list[Path], minutes: float, seed: int = 0,
                test_k: int | None = None) -> tuple[np.ndarray, list[dict[str, object]]]:
    """The stream's audio and its truth rows."""
    rng = np.random.default_rng(seed)
    sources = read_sources(manifests, test_k)
    if "cry" not in sources:
        raise ValueError("no cry clips in the manifests (labels: " + ", ".join(CRY_LABELS) + ")")
    kinds = [k for k in MIX if (k if k != "phone_speech" else "speech") in sources]
    weights = np.array([MIX[k] for k in kinds])
    weights /= weights.sum()
    noise = sources.get("noise", [])
    total = int(minutes * 60 * RATE)
    parts: list[np.ndarray] = []
    truth: list[dict[str, object]] = []
    pos, last_kind = 0, ""
    while pos < total:
        gap = rng.normal(0, 10 ** (-60 / 20), int(rng.uniform(0.5, 3.0) * RATE))
        parts.append(gap.astype(np.float32))
        pos += len(gap)
        kind = kinds[rng.choice(len(kinds), p=weights)]
        while kind == "cry" and last_kind == "cry":
            kind = kinds[rng.choice(len(kinds), p=weights)]
        pool = sources["speech" if kind == "phone_speech" else kind]
        src = pool[rng.integers(len(pool))]
        audio = at_level(load(src.path), rng.uniform(-30, -15))
        if kind == "phone_speech":
            audio = bandlimit(audio, RATE)   # telephone band, as donateacry
        row: dict[str, object] = {"kind": kind, "label": src.label, "source": src.path.name}
        start, end = pos / RATE, (pos + len(audio)) / RATE
        if kind == "cry":
            on, off = audible_span(audio)
            start, end = pos / RATE + on, pos / RATE + off
            if noise and rng.random() < CRY_OVER_NOISE:
                bed = load(noise[rng.integers(len(noise))].path)
                bed = np.resize(bed, len(audio))
                snr = rng.uniform(5, 15)
                bed = at_level(bed, 20 * np.log10(np.sqrt(np.mean(audio ** 2)) + 1e-9) - snr)
                audio = (audio + bed).astype(np.float32)
                row["kind"] = "cry_over_noise"
        row.update(start=round(start, 3), end=round(end, 3))
        truth.append(row)
        parts.append(audio)
        pos += len(audio)
        last_kind = kind
    stream = np.concatenate(parts)
    peak = float(np.abs(stream).max())
    if peak > 0.99:
        stream *= 0.99 / peak
    return stream, truth


def write(audio: np.ndarray, truth: list[dict[str, object]], out: Path,
          truth_path: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, audio, RATE, subtype="PCM_16")
    with open(truth_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["start", "end", "kind", "label", "source"])
        writer.writeheader()
        writer.writerows(truth)
