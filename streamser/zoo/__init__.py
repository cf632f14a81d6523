"""The models that ship inside the package: a checkpoint ``NAME.pt`` and its metadata
``NAME.json`` (written by :func:`streamser.train.checkpoint.save`) per model, and
pretrained models from elsewhere (YAMNet) that ship as runtime builds only, with a
``NAME.json`` naming their origin and license (``format: streamser-bundled/1``; licenses
and notices in ``NOTICE``).

Listing them needs no torch: everything ``streamser models`` shows is in the JSON.
Each model's ``training.recipe`` names the recipe in ``configs/train/`` that rebuilds it.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ZOO = Path(__file__).parent

#: Builds of a bundled model the runtime can load, in order of preference.
BUILDS = (".int8.tflite", ".int8.onnx", ".onnx", ".tflite", ".pt")


@dataclass
class BundledModel:
    name: str
    path: Path
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        m, t = self.meta, self.meta.get("training", {})
        return {"name": self.name, "path": str(self.path), "task": m.get("task", ""),
                "arch": m.get("arch"), "labels": m.get("labels"), "hparams": m.get("hparams"),
                "size_bytes": m.get("size_bytes"), "parameters": m.get("parameters"),
                "frontend": m.get("frontend"), "recipe": t.get("recipe_file"),
                "sets": list(t.get("sets") or []),
                "figures": m.get("figures", {}), "cv": t.get("cv"),
                "origin": m.get("origin"), "license": m.get("license"),
                "builds": [b for b in BUILDS if (ZOO / f"{self.name}{b}").is_file()]}

    def summary(self) -> str:
        d = self.to_dict()
        feats = "+".join(f["plugin"].split(".")[-1] for f in d["frontend"]["features"])
        labels = d["labels"]
        sep = "; " if any("," in label for label in labels) else ", "
        shown = sep.join(labels if len(labels) <= 12 else labels[:8] + ["..."])
        lines = [f"{self.name}: {d['task']} ({d['arch']}, {d['parameters']:,} parameters, "
                 f"{d['size_bytes'] / 1024:.0f} KiB, front-end {feats})",
                 f"  labels ({len(labels)}): {shown}",
                 f"  builds: {', '.join(d['builds'])}"]
        if d["origin"]:
            lines.append(f"  origin: {d['origin']}")
            lines.append(f"  license: {d['license']} (see {ZOO / 'NOTICE'})")
        if d["recipe"] and self.meta.get("format") == "streamser-utterance/1":
            lines.append(f"  trained by: python -m streamser.train.utterance {d['recipe']} "
                         f"--cv --out streamser/zoo/{self.name}.onnx --replace-bundled")
            if "min_confidence" in self.meta:
                lines.append(f"  min_confidence {self.meta['min_confidence']:.2f} (label null "
                             "below it; chosen on cross-validation)")
        elif d["recipe"]:
            cv_flag = " --cv" if d["cv"] else ""
            sets = "".join(f" --set {shlex.quote(s)}" for s in d["sets"])
            lines.append(f"  trained by: streamser train {d['recipe']}{sets}{cv_flag} --out "
                         f"streamser/zoo/{self.name}.pt")
        if d["cv"]:
            cv = d["cv"]
            lines.append(f"  cross-validation ({cv['scheme']}, {cv['folds']} folds): "
                         f"UA {100 * cv['ua']:.1f} ± {100 * cv['ua_std']:.1f} %, "
                         f"WA {100 * cv['wa']:.1f} ± {100 * cv['wa_std']:.1f} %")
        val = self.meta.get("training", {}).get("best_val_ua")
        if not d["cv"] and val is not None:
            lines.append(f"  validation on held-out groups: UA {100 * val:.1f} % (clips)")
        for key, value in d["figures"].items():
            lines.append(f"  {key}: {value}")
        return "\n".join(lines)


def bundled() -> list[BundledModel]:
    """Every model shipped in this package, by name."""
    out = []
    for meta_file in sorted(ZOO.glob("*.json")):
        builds = [ZOO / f"{meta_file.stem}{b}" for b in BUILDS]
        path = next((p for p in builds[::-1] if p.is_file()), None)   # the .pt first
        if path is not None:
            out.append(BundledModel(meta_file.stem, path, json.loads(meta_file.read_text())))
    return out


def resolve(model: str) -> Path:
    """A checkpoint path as given, or the path of the bundled model of that name (its
    checkpoint; for a model shipped without one, its preferred runtime build)."""
    path = Path(model)
    if path.is_file():
        return path
    names = {m.name: m.path for m in bundled()}
    if model in names:
        return names[model]
    raise KeyError(f"{model}: no such checkpoint file or bundled model "
                   f"(bundled: {', '.join(names) or 'none'})")


def artifact(model: str, build: str | None = None) -> Path:
    """A model file as given, or the preferred (or the named, e.g. ``.int8.onnx``) build of
    the bundled model of that name, for the ``infer`` node."""
    path = Path(model)
    if path.is_file():
        return path
    for suffix in ([build] if build else BUILDS):
        candidate = ZOO / f"{model}{suffix}"
        if candidate.is_file():
            return candidate
    names = ", ".join(m.name for m in bundled())
    raise FileNotFoundError(f"{model}: no such model file or bundled model build "
                            f"(bundled: {names or 'none'})")
