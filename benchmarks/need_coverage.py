"""What the data supports for the need guess: accuracy against coverage on donateacry,
group-independently (5-fold stratified group k-fold over the families, seed 0: the
splits of configs/train/cry-need.yaml), for three kinds of model:

- ``cry-need``: the former bundled M1 (attention-gate LSTM on IS09 frames, whole clips),
  its out-of-fold posteriors from ``streamser train configs/train/cry-need.yaml --cv
  --json results/utterance/cry-need-oof.json -q`` (run first; this script reads it);
- ``IS09``: a class-balanced logistic regression on the IS09 functionals
  (``configs/train/cry-need-cal.yaml``, the bundled ``cry-need-cal``), first 2 s / whole;
- ``YAMNet``: the same on the mean and standard deviation of the bundled YAMNet's
  1024-wide embeddings of the 0.96 s patches (hop 0.48 s) of the first 2 s / whole clip.

Every model's out-of-fold scores are then calibrated by a calibrator fitted on the other
folds only (cross-fitted), and a guess is named when its top probability reaches
``min_confidence``. For each: how often a need is named (coverage), how often a named
need is right, and how often always saying the most frequent need ("hungry") is right on
those same clips and on all clips. ``chosen`` is the lowest threshold whose named
guesses are right at least as often as always-"hungry" on all clips (with >= 5 % named);
``nested`` chooses it on the other folds and applies it to each fold.

    python benchmarks/need_coverage.py [--json results/utterance/need-coverage.json]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from streamser.train.utterance import (Corpus, _full_proba, _logreg, cv_summary,
                                       features, load_corpus, load_recipe, need_report,
                                       splits)

RECIPE = "configs/train/cry-need-cal.yaml"
OOF = Path("results/utterance/cry-need-oof.json")
CAL_C = 1.0


def oof_functionals(recipe: dict[str, Any], c: Corpus) -> tuple[np.ndarray, list]:
    folds = splits(recipe, c)
    oof = np.zeros((len(c.y), len(c.labels)))
    for tr, te in folds:
        xtr, xte, _ = features(recipe, c, tr, te)
        oof[te] = _full_proba(_logreg(recipe, xtr, c.y[tr]), xte, len(c.labels))
    return oof, folds


def yamnet_corpus(recipe: dict[str, Any], seconds: float | None) -> Corpus:
    """Per clip: the YAMNet embeddings of its patches within the first ``seconds``."""
    import torch

    from streamser.models.yamnet import YAMNet
    from streamser.train.data import FeatureCache, FrontEnd, load_dataset
    fe = FrontEnd.from_dict({"features": [{"plugin": "features.logmel"}], "rate": 16000,
                             "patch": {"hop": 0.48}})
    items, y, groups, labels, clips = load_dataset(
        [Path(recipe["data_root"]) / recipe["manifest"]], fe, FeatureCache())
    net = YAMNet.from_tflite().eval()
    keep = int((seconds - 0.96) / 0.48) + 1 if seconds else None
    emb = []
    with torch.inference_mode():
        for x in items:
            emb.append(net.embed(torch.from_numpy(np.ascontiguousarray(x[:keep]))).numpy())
    return Corpus(emb, np.asarray(y), np.asarray(groups), labels, fe,
                  [str(c.path) for c in clips])


def report(name: str, oof: np.ndarray, c: Corpus, folds: list) -> dict[str, Any]:
    rep = need_report(oof, c.y, folds, CAL_C)
    rep["cv"] = cv_summary(oof, c.y, folds, c.labels)
    rep["name"] = name
    return rep


def render(reports: list[dict[str, Any]]) -> str:
    lines = ["| model | UA % (argmax, uncalibrated) | min_confidence | named % | named right % "
             "| always-hungry right, same clips % | nested: named % / right % |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in reports:
        n = r["nested"]
        nested = f"{100 * n['coverage']:.1f} / " + \
            ("–" if n["accuracy"] is None else f"{100 * n['accuracy']:.1f}")
        shown = [row for row in r["rows"]
                 if row["min_confidence"] in (0.0, 0.8, 0.9, r["min_confidence"])]
        for i, row in enumerate(shown):
            chosen = " (chosen)" if row["min_confidence"] == r["min_confidence"] else ""
            acc = "–" if row["accuracy"] is None else f"{100 * row['accuracy']:.1f}"
            maj = "–" if row["majority_on_named"] is None else \
                f"{100 * row['majority_on_named']:.1f}"
            ua = f"{100 * r['cv']['ua']:.1f}" if i == 0 else ""
            lines.append(f"| {r['name'] if i == 0 else ''} | {ua} | "
                         f"{row['min_confidence']:.2f}{chosen} | {100 * row['coverage']:.1f} | "
                         f"{acc} | {maj} | {nested if i == 0 else ''} |")
    major = reports[0]["rows"][0]["majority_rate"]
    lines.append(f"\nAlways naming \"hungry\" is right on {100 * major:.1f} % of the clips.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default="results/utterance/need-coverage.json")
    a = ap.parse_args()
    recipe = load_recipe(RECIPE)
    reports = []
    whole = {**recipe, "max_seconds": 0}
    c2 = load_corpus(recipe)
    folds = splits(recipe, c2)
    if OOF.is_file():
        oof = np.asarray(json.loads(OOF.read_text())["cv"]["oof_probs"])
        reports.append(report("cry-need (M1 on IS09 frames, whole clips)", oof, c2, folds))
    else:
        print(f"{OOF} missing: run `streamser train configs/train/cry-need.yaml --cv "
              f"--json {OOF} -q` first (the cry-need row is left out)")
    for name, rec in ((f"IS09 functionals, first {recipe['max_seconds']:g} s (cry-need-cal)",
                       recipe), ("IS09 functionals, whole clip", whole)):
        c = load_corpus(rec)
        oof, f = oof_functionals(rec, c)
        reports.append(report(name, oof, c, f))
    for name, secs in ((f"YAMNet embeddings, first {recipe['max_seconds']:g} s",
                        recipe["max_seconds"]), ("YAMNet embeddings, whole clip", None)):
        c = yamnet_corpus(recipe, secs)
        rec = {**recipe, "model": {"arch": "logreg", "hparams": {"C": 0.001}}}
        oof, f = np.zeros((len(c.y), len(c.labels))), splits(rec, c)
        for tr, te in f:
            mean_std = [np.concatenate([e.mean(0), e.std(0)]) for e in c.frames]
            x = np.stack(mean_std)
            oof[te] = _full_proba(_logreg(rec, x[tr], c.y[tr]), x[te], len(c.labels))
        reports.append(report(name, oof, c, f))
    print(render(reports))
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(reports, indent=1) + "\n")


if __name__ == "__main__":
    main()
