"""Homes for ``benchmarks/adapt_homes.py``, built from ``../shared/data``.

A home is a singing parent, a sibling (a child or another voice), one animal source and one
household source, heard through the home's own simulated rooms, and cries of families
that neither the head's adapt cry set (folds 0-2 of :mod:`streamser.train.crycorpus`) nor
another home uses (folds 3-4). Each source's clips are split once: the enrolment side
gives the two minutes ``streamser adapt`` is taught with (one FLAC per clip), the stream
side the 20-minute stream (its sounds strung 1-4 clips at a time, -32 to -15 dBFS, room
tone between them, a cry episode every minute or so). No clip is on both sides.
"""
from __future__ import annotations

import csv
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
ENROL_S = {"parent": 45.0, "sibling": 40.0, "animal": 20.0, "household": 20.0}
MIX = {"parent": 0.35, "sibling": 0.3, "animal": 0.15, "household": 0.2}
HOME_SHARE = 0.6          # of the stream's time: the home's sounds (the rest: cries, quiet)
CRY_EVERY_S = 55.0


@dataclass(frozen=True)
class Home:
    """Each role a manifest ``group`` (one voice) or a :mod:`streamser.train.crycorpus`
    source; ``room``: heard across a room (else close to the microphone)."""

    name: str
    parent: str
    sibling: str
    animal: str
    household: str
    room: bool

    def roles(self) -> dict[str, str]:
        return {"parent": self.parent, "sibling": self.sibling, "animal": self.animal,
                "household": self.household}


HOMES = (
    Home("h1", "hedgewars_voice_Singer", "laugh_1_m4a", "noncry/esc50/cat",
         "noncry/esc50/door_wood_creaks", room=False),
    Home("h2", "ravdess_actor02", "warmux_voice_default", "sfx/wesnoth",
         "noncry/esc50/washing_machine", room=True),
    Home("h3", "csd_singer1_en001", "hedgewars_voice_Default_es", "noncry/esc50/rooster",
         "noncry/esc50/clock_alarm", room=True),
    Home("h4", "ravdess_actor19", "hedgewars_voice_Pirate", "noncry/esc50/dog",
         "noncry/esc50/keyboard_typing", room=False),
    Home("h5", "ravdess_actor08", "noncry/tuxvoice_es", "noncry/esc50/sheep",
         "noncry/esc50/door_wood_knock", room=True),
    Home("h6", "ravdess_actor13", "emodb/speaker09", "sfx/wesnoth",
         "noncry/esc50/coughing", room=True),
)
#: Animal and household sources keep their clips of these kinds only (a game library
#: holds more than animals); a voice keeps all its clips (its laughs and shouts too).
ROLE_KINDS = {"animal": {"animal"}, "household": {"other"}}


def groups() -> set[str]:
    """Every source or group the homes use (the adapt cry set leaves them out)."""
    return {g for h in HOMES for g in h.roles().values()}


def _split(clips: list, seconds: float, rng: np.random.Generator) -> tuple[list, list]:
    """(enrolment, stream) clips: enrolment takes clips until ``seconds``, at most 55 %
    of them, at least one; the stream keeps the rest."""
    order = [clips[i] for i in rng.permutation(len(clips))]
    enrol, total = [], 0.0
    while order and total < seconds and len(enrol) < max(1, int(0.55 * len(clips))):
        enrol.append(order.pop())
        total += sf.info(str(enrol[-1].path)).duration
    return enrol, order


def build(home: Home, index: int, data: str, out: Path, minutes: float = 20.0) -> Path:
    """``out/NAME/{enrol/*.flac, stream.flac, stream.csv, home.json}`` (kept if there)."""
    from streamser.evaluation.teststreams import at_level, audible_span
    from streamser.train.augment import room_tone
    from streamser.train.crycorpus import read_corpus
    from streamser.train.crymix import in_room, room_impulses
    from streamser.train.data import load_audio

    folder = out / home.name
    if (folder / "home.json").is_file():
        return folder
    rng = np.random.default_rng(zlib.crc32(home.name.encode()))
    items = read_corpus(data)
    rirs = room_impulses(3, seed=1000 + index) if home.room else []
    pools = {}
    (folder / "enrol").mkdir(parents=True, exist_ok=True)
    for role, source in home.roles().items():
        clips = [i for i in items if source in (i.source, i.group) and not i.is_cry
                 and i.kind in ROLE_KINDS.get(role, {i.kind})]
        if len(clips) < 2:
            raise ValueError(f"{home.name}: {source} has {len(clips)} {role} clips")
        enrol, pools[role] = _split(clips, ENROL_S[role], rng)
        for k, clip in enumerate(enrol):
            x = at_level(load_audio(clip.path), rng.uniform(-32, -15))
            if rirs:
                x = in_room(x, rirs[k % len(rirs)])
            bed = np.resize(room_tone(rng, dbfs=(-70, -55)), len(x))
            sf.write(folder / "enrol" / f"{role}_{k:02d}.flac", _safe(x + bed), RATE,
                     subtype="PCM_16")
    cries = [i for i in items if i.is_cry and i.fold in (3, 4)]
    families = sorted({c.group for c in cries})
    mine = [f for j, f in enumerate(families) if j % len(HOMES) == index]
    cries = [c for c in cries if c.group in mine]
    parts, truth, pos, next_cry = [], [], 0, CRY_EVERY_S * rng.uniform(0.3, 1.0)
    roles, weights = list(MIX), np.array(list(MIX.values()))
    total = minutes * 60 * RATE
    while pos < total:
        gap = room_tone(rng, seconds=(1.0, 6.0), dbfs=(-70, -55))
        parts.append(gap)
        pos += len(gap)
        if pos / RATE >= next_cry and cries:
            clip = cries[int(rng.integers(len(cries)))]
            x = at_level(load_audio(clip.path), rng.uniform(-30, -15))
            on, off = audible_span(x)
            row = {"kind": "cry", "label": clip.category, "source": clip.source,
                   "start": round(pos / RATE + on, 3), "end": round(pos / RATE + off, 3)}
            next_cry = pos / RATE + CRY_EVERY_S * rng.uniform(0.6, 1.4)
        else:
            role = roles[int(rng.choice(len(roles), p=weights / weights.sum()))]
            pool = pools[role]
            n = int(rng.integers(1, 5))
            chunks = []
            for _ in range(n):
                chunks += [load_audio(pool[int(rng.integers(len(pool)))].path),
                           np.zeros(int(rng.uniform(0.1, 0.6) * RATE), np.float32)]
            x = at_level(np.concatenate(chunks), rng.uniform(-32, -15))
            row = {"kind": role, "label": role, "source": home.roles()[role],
                   "start": round(pos / RATE, 3), "end": round((pos + len(x)) / RATE, 3)}
            if rng.random() > HOME_SHARE:      # a quiet stretch instead
                x = room_tone(rng, seconds=(3.0, 10.0), dbfs=(-70, -55))
                row = {**row, "kind": "silence", "label": "silence", "source": "room",
                       "end": round((pos + len(x)) / RATE, 3)}
        if rirs and row["kind"] != "silence":
            x = in_room(x, rirs[int(rng.integers(len(rirs)))])
        parts.append(x.astype(np.float32))
        truth.append(row)
        pos += len(x)
    sf.write(folder / "stream.flac", _safe(np.concatenate(parts)), RATE, subtype="PCM_16")
    with open(folder / "stream.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["start", "end", "kind", "label", "source"])
        w.writeheader()
        w.writerows(truth)
    enrol_s = sum(sf.info(str(p)).duration for p in (folder / "enrol").glob("*.flac"))
    (folder / "home.json").write_text(json.dumps({
        **home.roles(), "room": home.room, "cry_families": len(mine),
        "enrol_clips": len(list((folder / "enrol").glob("*.flac"))),
        "enrol_seconds": round(enrol_s, 1),
        "stream_seconds": round(pos / RATE, 1)}, indent=1) + "\n")
    return folder


def _safe(x: np.ndarray) -> np.ndarray:
    peak = float(np.abs(x).max())
    return (x * (0.99 / peak) if peak > 0.99 else x).astype(np.float32)
