"""Which clips of a manifest a model was trained on, so that ``streamser eval`` scores the
others (a score on a model's own training clips says nothing about new audio).

A model records its training: a checkpoint its recipe (``training.recipe``: data root,
manifests, the fixed test and dev splits it held out), an utterance model the recipe
file it was trained from (``training.recipe_file``, whose ``manifest`` it read). A clip
of the evaluated manifest counts as seen when the same file (symbolic links followed) is
a clip of one of those manifests whose group the recipe did not hold out (clips held out
for validation count as seen: they chose the model).
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Seen:
    """What is known of a model's training clips."""

    manifests: list[str]          # as the model records them
    files: set[Path]              # their clips, resolved (empty when none was found)
    found: bool                   # whether the training manifests were found here

    def describe(self) -> str:
        return ", ".join(self.manifests)


def model_meta(model: str) -> dict[str, Any] | None:
    """The metadata of a bundled model (its NAME.json) or of a model file (its .json
    beside it), if there is one."""
    from ..zoo import ZOO
    for path in (ZOO / f"{model}.json", Path(model).with_suffix(".json")):
        if path.is_file() and path.suffix == ".json":
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                return None
    return None


def training_clips(meta: dict[str, Any], manifest: Path) -> Seen | None:
    """The model's training clips, or None when it records no training manifests."""
    training = meta.get("training") or {}
    recipe = training.get("recipe") if isinstance(training.get("recipe"), dict) else None
    data: dict[str, Any] = dict((recipe or {}).get("data") or {})
    manifests = list(training.get("manifests") or data.get("manifests") or [])
    if not manifests and training.get("recipe_file"):
        loaded = _recipe_file(training["recipe_file"])
        if loaded is not None:
            data = dict(loaded.get("data") or loaded)
            manifests = list(data.get("manifests") or
                             ([data["manifest"]] if data.get("manifest") else []))
    if not manifests:
        return None
    held_out = _held_out(data)
    files: set[Path] = set()
    found = False
    for rel in manifests:
        path = _find(rel, data.get("data_root") or training.get("data_root"), manifest)
        if path is None:
            continue
        found = True
        files |= {clip for clip, group in _rows(path) if not held_out(group)}
    return Seen(manifests, files, found)


def split(manifest: Path, seen: Seen) -> tuple[list[dict[str, str]], list[dict[str, str]],
                                               list[str]]:
    """The manifest's rows (paths made absolute) the model has not seen, those it has,
    and the CSV columns."""
    with open(manifest, newline="") as fh:
        reader = csv.DictReader(fh)
        rows, columns = list(reader), list(reader.fieldnames or [])
    unseen, seen_rows = [], []
    for row in rows:
        path = (manifest.parent / row["path"]).resolve()
        row = {**row, "path": str(path)}
        (seen_rows if path in seen.files else unseen).append(row)
    return unseen, seen_rows, columns


def write_manifest(rows: list[dict[str, str]], columns: list[str], path: Path) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _recipe_file(name: str) -> dict[str, Any] | None:
    """A recipe file as recorded (relative to the repository, or the working directory)."""
    root = Path(__file__).resolve().parents[2]
    for path in (Path(name), root / name):
        if path.is_file():
            try:
                loaded = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError):
                return None
            return loaded if isinstance(loaded, dict) else None
    return None


def _held_out(data: dict[str, Any]) -> Any:
    """Whether a group is in the fixed test or dev split the recipe left out."""
    from ..train.splits import is_dev_group, is_test_group
    test_k, dev_k = data.get("test_groups_k"), data.get("dev_groups_k")
    return lambda group: bool((test_k and is_test_group(group, int(test_k))) or
                              (dev_k and is_dev_group(group, int(dev_k))))


def _find(rel: str, data_root: str | None, manifest: Path) -> Path | None:
    """A training manifest (relative to its data root) on this machine: under the
    recipe's data root, ``$STREAMSER_DATA``, ``../shared/data``, or a folder above the
    evaluated manifest."""
    roots = [data_root, os.environ.get("STREAMSER_DATA"), "../shared/data",
             *map(str, manifest.resolve().parents)]
    for root in roots:
        if root and (Path(root) / rel).is_file():
            return Path(root) / rel
    return None


def _rows(path: Path) -> list[tuple[Path, str]]:
    with open(path, newline="") as fh:
        return [((path.parent / r["path"]).resolve(), r.get("group", ""))
                for r in csv.DictReader(fh) if r.get("path")]
