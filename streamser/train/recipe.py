"""Training recipes: one YAML file says what to train, on what, and how to score it.

```yaml
name: emodb-agate-d2
task: emotion                       # free text, shown by `streamser models`
model: {arch: agate_lstm, hparams: {hidden: [64, 32], depth: 2}}
data:
  manifests: [emodb/manifest.csv]   # relative to data_root
  frontend: {features: [{plugin: features.is09}], rate: 16000}
train: {epochs: 60, batch: 32, lr: 0.001, patience: 10}
cv: {scheme: loso}                  # or {scheme: group_kfold, k: 5}
```
``data_root`` defaults to ``$STREAMSER_DATA`` or ``../shared/data``. Every field has a
default except ``model.arch`` and ``data.manifests``; unknown keys are errors.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..yamlfile import YamlError, load_with_lines


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(Strict):
    arch: str
    hparams: dict[str, Any] = Field(default_factory=dict)


class DataSpec(Strict):
    data_root: str = Field(default_factory=lambda: os.environ.get("STREAMSER_DATA",
                                                                  "../shared/data"))
    manifests: list[str]
    labels: list[str] | None = None
    label_map: dict[str, str] = Field(default_factory=dict, description="Rename manifest "
                                      "labels before use, e.g. {hungry: cry, laugh: other}.")
    test_groups_k: int | None = Field(None, ge=2, description="Leave out the fixed test "
                                      "split (about 1/k of the groups; see splits."
                                      "is_test_group) for evaluation on unseen recordings.")
    dev_groups_k: int | None = Field(None, ge=2, description="Also leave out the fixed dev "
                                     "split (CRC32 residue 1 of k; splits.is_dev_group), "
                                     "whose streams (mkstream --dev-k) choose thresholds.")
    group_norm: bool = Field(False, description="Standardize each clip with its own "
                             "group's (speaker's, baby's) feature statistics, taken over all "
                             "that group's clips without their labels (speaker "
                             "normalization); cross-validation only: the runtime has no "
                             "per-speaker statistics.")
    frontend: dict[str, Any] = Field(
        default_factory=lambda: {"features": [{"plugin": "features.is09"}], "rate": 16000})
    augment: dict[str, Any] | None = Field(None, description="Augmented copies of each "
                                           "training clip (train.augment.AugmentSpec: "
                                           "noise_manifest, noise_labels, snr_db, gain_db, "
                                           "noise_prob, bandlimit_prob, copies, extra_copies "
                                           "{manifest label: n}, seed, speed [lo, hi] "
                                           "with speed_prob).")

    def manifest_paths(self) -> list[Path]:
        return [Path(self.data_root) / m for m in self.manifests]


class TrainSpec(Strict):
    epochs: int = Field(40, ge=1)
    stage_epochs: dict[str, int] = Field(default_factory=dict)
    batch: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    optimizer: Literal["adam", "rmsprop"] = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float = Field(5.0, ge=0)
    patience: int = Field(10, ge=1)
    val_fraction: float = Field(0.15, ge=0, lt=1)
    class_weighting: bool = True
    balance: bool = False
    seed: int = 0
    crop: int | None = Field(None, ge=1, description="Train on random crops of this many "
                             "steps (frames or patches) of longer items; evaluation always "
                             "sees whole items.")
    threads: int = Field(0, ge=0, description="torch threads (0: torch's default)")
    masks: int = Field(0, ge=0, le=8, description="SpecAugment: this many random feature "
                       "bands and as many time spans zeroed (the normalized mean) in each "
                       "training item, each up to mask_width of its axis (0: none).")
    mask_width: float = Field(0.15, gt=0, le=0.5, description="Largest mask, as a fraction "
                              "of the feature (or time) axis.")
    splice: int = Field(1, ge=1, le=8, description="Streaming models: train on sequences of "
                        "this many random (cropped) clips joined end to end, each step "
                        "labelled with its own clip's class, so that the state learns to "
                        "switch at a change of class (1: one clip per sequence).")
    quiet: int = Field(0, ge=0, le=100_000, description="Add this many synthetic "
                       "quiet-room items (digital silence, or white, pink or brown noise "
                       "at -90 to -40 dBFS, 2-8 s) to the training set as quiet_label: "
                       "what a microphone hears most of the time, which no recording "
                       "holds.")
    quiet_label: str = Field("other", description="Class of the quiet items.")
    teacher: str | None = Field(None, description="Distillation: a streaming checkpoint or "
                                "bundled model with the same labels; its per-step "
                                "posteriors on every training item are soft targets.")
    distill: float = Field(0.5, ge=0, le=1, description="Weight of the teacher's soft "
                           "targets in the loss (the labels get 1 - distill).")


class CvSpec(Strict):
    scheme: Literal["loso", "group_kfold"] = "group_kfold"
    k: int = Field(5, ge=2)
    seed: int = 0


class Recipe(Strict):
    name: str = "model"
    task: str = ""
    model: ModelSpec
    data: DataSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    cv: CvSpec = Field(default_factory=CvSpec)


class RecipeError(ValueError):
    pass


def load_recipe(path: str | Path | None = None, sets: tuple[str, ...] = (),
                base: dict[str, Any] | None = None) -> Recipe:
    """Read a recipe YAML (or start from ``base``), apply ``key.path=value`` overrides
    (values parsed as YAML), and validate."""
    import yaml

    raw: dict[str, Any] = dict(base or {})
    lines: dict[tuple[str, ...], int] = {}
    if path is not None:
        try:
            loaded, lines = load_with_lines(Path(path).read_text())
        except OSError as exc:
            raise RecipeError(f"{path}: {exc.strerror}") from None
        except YamlError as exc:
            raise RecipeError(f"{path}:{exc.line}: {exc}") from None
        if not isinstance(loaded, dict):
            raise RecipeError(f"{path}: a recipe is a mapping (name, model, data, train, cv)")
        raw = {**raw, **loaded}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RecipeError(f"--set {item!r}: expected key.path=value")
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise RecipeError(f"--set {item!r}: {part} is not a mapping")
        node[parts[-1]] = yaml.safe_load(value)
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(p) for p in err["loc"])
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        where = f"{path}:{line}" if line else str(path or "recipe")
        from ..messages import validation_message
        raise RecipeError(f"{where}: {'.'.join(loc)}: {validation_message(err)}") from None
