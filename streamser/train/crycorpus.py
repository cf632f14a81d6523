"""Every clip of ``../shared/data`` as cry-detector material: its kind of sound, its source
(the unit a leave-source-out split keeps whole) and its fold.

Sources, so that a held-out fold holds sounds from places the model never heard:
- cries: a donateacry family (its app instance), a babycry_esc crying recording;
- noncry: an ESC-50 category (all its freesound clips), a Tux Paint voice (one language),
  a Sonic Pi sample folder;
- sfx: a whole library (0 A.D., Hedgewars, ...);
- vocal: a child or a singer; the Children's Song Dataset and the FluidR3 notes each one;
- babycry_esc laughter, silence: the recording; its noise: the ESC-50 clip;
- emodb: the speaker.

``FOLDS`` folds by the CRC32 of the source. Kinds (the multi-class head's classes):
cry, laugh, scream, speech, child_speech, singing, animal, music, other.
"""
from __future__ import annotations

import csv
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

KINDS = ("cry", "laugh", "scream", "speech", "child_speech", "singing", "animal", "music",
         "other")
FOLDS = 5
CRY_LABELS = {"crying", "hungry", "discomfort", "tired", "belly_pain", "burping"}
ANIMALS = {
    "dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow",
    "chirping_birds", "animals", "horse", "dog_wolf", "chicken", "elephant", "bear", "goat",
    "monkey_screech", "dolphin", "rabbit", "bird", "snake_hiss", "donkey", "bird_parrot",
    "lion", "animal_death_generic", "insect", "camel", "bird_raptor_shriek", "flamingo",
    "peacock", "bird_cartoon", "sea_lion", "wolf", "goose", "gorilla", "bat", "llama", "bee",
    "panda", "rat", "creature_vocal", "crickets", "ambience_birds_nature", "ambience_birds"}
LAUGHS = {"laughing", "adult_laugh_cartoon", "adult_laugh", "crowd_laugh_sitcom",
          "adult_laugh_stylized", "laugh_cartoon"}
SCREAMS = {"human_pain_scream", "human_scream", "scream", "wail_ghost", "vocal_effort_grunt",
           "human_grunt", "human_groan", "vocal_exclamation"}
MUSIC = {"instrument", "music_instrument", "beatbox", "drum", "loop", "tabla", "bd", "perc",
         "elec", "bass", "guit", "glitch", "mehackit", "vinyl", "sn", "ambi"}


@dataclass(frozen=True)
class Item:
    """One clip: ``path`` (absolute), ``corpus``, ``kind`` (of ``KINDS``), ``source`` (the
    leave-source-out unit), ``group`` (the manifest's), ``category`` (finest label known),
    ``license``."""

    path: Path
    corpus: str
    kind: str
    source: str
    group: str
    category: str
    license: str = ""

    @property
    def is_cry(self) -> bool:
        return self.kind == "cry"

    @property
    def fold(self) -> int:
        return zlib.crc32(self.source.encode()) % FOLDS


def kind_of(corpus: str, label: str, category: str) -> str:
    """The kind of a manifest row (``KINDS``)."""
    if label in CRY_LABELS:
        return "cry"
    if corpus == "emodb" or label == "speech" and corpus == "noncry":
        return "speech"
    if label == "laugh" or category in LAUGHS:
        return "laugh"
    if category in SCREAMS:
        return "scream"
    if category == "child_speech":
        return "child_speech"
    if "singing" in category or category in {"children_song_solo_female", "choir_aah_sample",
                                             "voice_ooh_sample", "crowd_chant"}:
        return "singing"
    if category in ANIMALS:
        return "animal"
    if category in MUSIC:
        return "music"
    if label == "speech" or category.startswith("speech_") or "voice" in category:
        return "speech"
    return "other"


def source_of(corpus: str, row: dict[str, str]) -> str:
    """The leave-source-out unit of a manifest row (see the module docstring)."""
    group, category = row.get("group", ""), row.get("category", "")
    if corpus == "noncry":
        if row.get("source") == "ESC-50":
            return f"noncry/esc50/{category}"
        if row.get("source", "").startswith("sonic-pi"):
            return f"noncry/sonic-pi/{category}"
        return f"noncry/{group}"
    if corpus == "sfx":
        return f"sfx/{row['path'].split('/')[0]}"
    if corpus == "vocal" and category in {"children_song_solo_female", "choir_aah_sample",
                                          "voice_ooh_sample"}:
        return f"vocal/{category}"
    return f"{corpus}/{group}"


def read_corpus(root: str | Path) -> list[Item]:
    """Every clip of every ``*/manifest.csv`` under ``root`` (``../shared/data``)."""
    root = Path(root)
    manifests = sorted(root.glob("*/manifest.csv"))
    if not manifests:
        raise FileNotFoundError(f"{root}: no */manifest.csv (the shared data folder)")
    items = []
    for manifest in manifests:
        corpus = manifest.parent.name
        with open(manifest, newline="") as fh:
            for row in csv.DictReader(fh):
                category = row.get("category") or row["label"]
                items.append(Item(
                    path=(manifest.parent / row["path"]).resolve(), corpus=corpus,
                    kind=kind_of(corpus, row["label"], category),
                    source=source_of(corpus, row), group=row.get("group", ""),
                    category=category, license=row.get("license", "")))
    return items


def fold_summary(items: list[Item]) -> list[dict[str, object]]:
    """Per fold: clips, sources, and clips by kind (to check that every fold has cries)."""
    out = []
    for f in range(FOLDS):
        these = [i for i in items if i.fold == f]
        out.append({"fold": f, "clips": len(these),
                    "sources": len({i.source for i in these}),
                    "kinds": dict(Counter(i.kind for i in these))})
    return out
