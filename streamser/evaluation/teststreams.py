"""``streamser mkstream``: long labelled test streams for the cry robot, from manifests.

A stream is a sequence of segments at 16 kHz, each a whole clip at its own level (-30 to
-15 dBFS RMS) with 0.5-3 s of quiet room tone between them: cry episodes (donateacry and
babycry_esc crying; some mixed over noise at 5-15 dB SNR), speech (emodb), the same speech
band-limited to the telephone band, laughter, environmental noise and silence, and from
``noncry`` (when its manifest is given) voices in other languages, animals, household
sounds and music; its clips are short, so such a segment strings 1-4 clips of its kind
together with short pauses (a few words, a dog barking twice). Two cry episodes are always
at least one non-cry segment apart. The truth CSV has one row per
segment: ``start,end,kind,label,source`` where a cry's start/end are where its audio is
above -35 dB of its peak (its audible onset and offset), ``kind`` is cry, speech,
phone_speech, voice, laugh, noise, animal, household, music or silence, and ``label`` the
manifest label (a need for donateacry cries; the noncry ``category`` for its clips).

With ``test_k``, clips come only from the fixed test split (``splits.is_test_group``), the
groups a recipe with ``data.test_groups_k`` never trains on; with ``dev_k``, only from the
dev split (CRC32 residue 1 of ``dev_k``, ``splits.is_dev_group``), for choosing thresholds
on groups that neither a recipe with ``data.dev_groups_k`` nor the test streams use.
Laughter and silence have no test groups in our data (one recording each), so they are
taken from all groups.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..train.augment import bandlimit
from ..train.splits import is_dev_group, is_test_group

RATE = 16000
CRY_LABELS = ("crying", "hungry", "discomfort", "tired", "belly_pain", "burping")
KIND_OF_LABEL = {"laugh": "laugh", "silence": "silence", "noise": "noise"}
#: Share of each kind among the segments (kinds absent from the manifests are skipped).
MIX = {"cry": 0.3, "speech": 0.2, "phone_speech": 0.15, "laugh": 0.1, "noise": 0.15,
       "silence": 0.1, "voice": 0.12, "animal": 0.12, "household": 0.08, "music": 0.06}
CRY_OVER_NOISE = 0.3
#: ESC-50 categories (noncry ``category``) by kind; other ESC-50 classes count as noise.
ESC50_KINDS = {
    "animal": ("dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep",
               "crow", "chirping_birds"),
    "household": ("door_wood_knock", "mouse_click", "keyboard_typing", "door_wood_creaks",
                  "can_opening", "washing_machine", "vacuum_cleaner", "clock_alarm",
                  "clock_tick", "glass_breaking", "toilet_flush", "brushing_teeth",
                  "drinking_sipping", "pouring_water", "footsteps"),
    "laugh": ("laughing",),
}
#: Short clips strung together into one segment of at least this many seconds.
STRING_SECONDS = 3.0


@dataclass(frozen=True)
class Source:
    path: Path
    label: str
    group: str
    kind: str


def kind_of(row: dict[str, str]) -> str:
    """The stream kind of a manifest row (noncry rows by their ``source`` and ``category``)."""
    label, source, category = row["label"], row.get("source", ""), row.get("category")
    if label in CRY_LABELS:
        return "cry"
    if category is None:                      # not a noncry row
        return KIND_OF_LABEL.get(label, "speech")
    if source == "ESC-50":
        return next((k for k, cats in ESC50_KINDS.items() if category in cats), "noise")
    if source.startswith("tuxpaint"):
        return {"speech": "voice", "animals": "animal"}.get(
            label if label == "speech" else category, "household")
    return "music" if source.startswith("sonic-pi") else "noise"


def read_sources(manifests: list[Path], test_k: int | None,
                 dev_k: int | None = None) -> dict[str, list[Source]]:
    """Clips by kind (cry, speech, voice, laugh, noise, animal, household, music, silence)."""
    if test_k and dev_k:
        raise ValueError("give test_k or dev_k, not both")
    out: dict[str, list[Source]] = {}
    for manifest in manifests:
        with open(manifest, newline="") as fh:
            for row in csv.DictReader(fh):
                kind = kind_of(row)
                all_groups = kind in ("laugh", "silence") and row["label"] in ("laugh",
                                                                               "silence")
                if not all_groups and test_k and not is_test_group(row["group"], test_k):
                    continue
                if not all_groups and dev_k and not is_dev_group(row["group"], dev_k):
                    continue
                label = row.get("category") or row["label"] if kind != "cry" else row["label"]
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


def string_of(pool: list[Source], first: Source, rng: np.random.Generator) -> np.ndarray:
    """``first`` followed by more clips of ``pool`` (0.1-0.4 s pauses) until the segment
    lasts ``STRING_SECONDS`` or holds 4 clips."""
    clips = [load(first.path)]
    while sum(len(c) for c in clips) < STRING_SECONDS * RATE and len(clips) < 4:
        clips.append(np.zeros(int(rng.uniform(0.1, 0.4) * RATE), np.float32))
        clips.append(load(pool[rng.integers(len(pool))].path))
    return np.concatenate(clips)


def make_stream(manifests: list[Path], minutes: float, seed: int = 0,
                test_k: int | None = None, dev_k: int | None = None
                ) -> tuple[np.ndarray, list[dict[str, object]]]:
    """The stream's audio and its truth rows."""
    rng = np.random.default_rng(seed)
    sources = read_sources(manifests, test_k, dev_k)
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
        strung = kind in ("voice", "animal", "household", "music")
        audio = at_level(string_of(pool, src, rng) if strung else load(src.path),
                         rng.uniform(-30, -15))
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
