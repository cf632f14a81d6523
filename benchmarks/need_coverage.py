"""What the data supports for the need guess: accuracy against coverage on donateacry,
group-independently (5-fold stratified group k-fold over the families, seed 0: the
splits of configs/train/cry-need.yaml), for three kinds of model:

- ``cry-need``: the former bundled M1 (attention-gate LSTM on IS09 frames, whole clips),
  its out-of-fold posteriors from ``streamser train configs/train/cry-need.yaml --cv
  --json results/utterance/cry-need-oof.json -q`` (run first; this script reads it);
- ``IS09``: a class-balanced logistic regression on the IS09 functionals
  (``configs/train/cry-need-cal.yaml``, the bundled ``cry-need-cal``), first 2 s / whole;
- ``YAMNet``: the same (C 0.001) on the mean and standard deviation of the bundled
  YAMNet's (int8 TFLite) 1024-wide embeddings of the 0.96 s patches (hop 0.48 s) of the
  first 2 s / whole clip.

Every model's out-of-fold scores are then calibrated by a calibrator fitted on the other
folds only (cross-fitted), and a guess is named when its top probability reaches
``min_confidence``. For each: how often a need is named (coverage), how often a named
need is right, and how often always saying the most frequent need ("hungry") is right on
those same clips and on all clips. ``chosen`` is the lowest threshold whose named
guesses are right at least as often as always-"hungry" on all clips (with >= 5 % named);
``nested`` chooses it on the other folds and applies it to each fold.

    python benchmarks/need_coverage.py [--json results/utterance/need-coverage.json] [--reuse]
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


def yamnet_embeddings(recipe: dict[str, Any]) -> Corpus:
    """Per clip: the bundled YAMNet's (int8 TFLite) 1024-wide embeddings (its MEAN
    layer, dequantized) of every 0.96 s patch, hop 0.48 s."""
    from ai_edge_litert import interpreter as tfl

    from streamser.frontend import FrontEnd
    from streamser.train.data import FeatureCache, load_dataset
    from streamser.zoo import artifact
    fe = FrontEnd.from_dict({"features": [{"plugin": "features.logmel"}], "rate": 16000,
                             "patch": {"hop": 0.48}})
    items, y, groups, labels, clips = load_dataset(
        [Path(recipe["data_root"]) / recipe["manifest"]], fe, FeatureCache())
    it = tfl.Interpreter(model_path=str(artifact("yamnet", ".int8.tflite")), num_threads=1,
                         experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    [mean] = [o for o in it._get_ops_details() if o["op_name"] == "MEAN"]
    out = next(t for t in it.get_tensor_details() if t["index"] == mean["outputs"][0])
    scale, zero = out["quantization"]
    x_in = it.get_input_details()[0]["index"]
    emb = []
    for x in items:
        rows = []
        for patch in x:
            it.set_tensor(x_in, patch[None].astype(np.float32))
            it.invoke()
            rows.append((it.get_tensor(out["index"]).reshape(-1).astype(np.float32) - zero)
                        * scale)
        emb.append(np.stack(rows))
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
    ap.add_argument("--reuse", action="store_true", help="keep the feature rows of an "
                    "earlier --json run; (re)compute only the cry-need row")
    a = ap.parse_args()
    recipe = load_recipe(RECIPE)
    reports = []
    if a.reuse:
        old = [r for r in json.loads(Path(a.json).read_text())
               if not r["name"].startswith("cry-need")]
        c2 = load_corpus(recipe)
        oof = np.asarray(json.loads(OOF.read_text())["cv"]["oof_probs"])
        reports = [report("cry-need (M1 on IS09 frames, whole clips)", oof, c2,
                          splits(recipe, c2)), *old]
        print(render(reports))
        Path(a.json).write_text(json.dumps(reports, indent=1) + "\n")
        return
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
    c = yamnet_embeddings(recipe)
    rec = {**recipe, "model": {"arch": "logreg", "hparams": {"C": 0.001}}}
    f = splits(rec, c)
    keep = int((recipe["max_seconds"] - 0.96) / 0.48) + 1      # patches inside the first s
    for name, rows in ((f"YAMNet embeddings, first {recipe['max_seconds']:g} s", keep),
                       ("YAMNet embeddings, whole clip", None)):
        x = np.stack([np.concatenate([e[:rows].mean(0), e[:rows].std(0)]) for e in c.frames])
        oof = np.zeros((len(c.y), len(c.labels)))
        for tr, te in f:
            oof[te] = _full_proba(_logreg(rec, x[tr], c.y[tr]), x[te], len(c.labels))
        reports.append(report(name, oof, c, f))
    print(render(reports))
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(reports, indent=1) + "\n")


if __name__ == "__main__":
    main()
