"""Utterance classifiers for the ``classify.utterance`` node: functionals of frame features
over an utterance (or an episode's first seconds) -> scikit-learn model -> ONNX.

Two products (``configs/train/emodb-ser.yaml``, ``configs/train/cry-need-cal.yaml``)::

    python -m streamser.train.utterance RECIPE [--cv] [--out MODEL.onnx] [--json FILE]

Without ``--cv`` it fits on all clips and writes ``runs/NAME.onnx`` (``--out`` elsewhere);
with ``--cv`` it writes a model only with ``--out``. A bundled model (in the package's
``zoo/``) is replaced only with ``--replace-bundled``.

- ``emodb-ser``: an RBF SVM on the functionals of IS09 + the 45 LLDs, speaker-normalized
  by a *streaming* normalizer (:class:`~streamser.dsp.functionals.RunningNorm`): per
  stream it starts from the training corpus' statistics and absorbs each utterance, so
  a new speaker needs no enrolment. Cross-validation is leave-one-speaker-out with each
  held-out speaker's clips fed in manifest order from a cold start, as ``streamser eval``
  and the runtime do; C and gamma are chosen per fold by an inner group k-fold.
- ``cry-need-cal``: a class-balanced logistic regression on the functionals of the
  first seconds of a cry, then a calibrator (multinomial logistic regression on the
  base model's log-probabilities) fitted on group-independent out-of-fold predictions,
  so its probabilities hold under the corpus' class frequencies; ``min_confidence``
  (below which the guess is ``null``) is chosen on cross-validation so that a named
  guess is right at least as often as always naming the most frequent need.

Needs scikit-learn, onnx and skl2onnx (the ``train`` extra). The runtime runs the
``.onnx`` with onnxruntime only.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..dsp.functionals import RunningNorm, utterance_stats
from ..frontend import FrontEnd
from .data import FeatureCache, Normalizer, load_dataset
from .splits import check_no_leak, group_kfold, leave_one_group_out

ROW_HOP = 0.01            # seconds per feature row (every F1-F5 node)
FORMAT = "streamser-model/1"


@dataclass
class Corpus:
    """Per-clip raw feature rows (cropped to the recipe's ``max_seconds``), in manifest
    order, with labels and groups."""

    frames: list[np.ndarray]
    y: np.ndarray
    groups: np.ndarray
    labels: list[str]
    frontend: FrontEnd
    paths: list[str]


def load_recipe(path: str | Path) -> dict[str, Any]:
    r = yaml.safe_load(Path(path).read_text())
    r.setdefault("data_root", "../shared/data")
    r["recipe_file"] = Path(path).as_posix()
    return r


def load_corpus(recipe: dict[str, Any], progress: bool = True) -> Corpus:
    frontend = FrontEnd.from_dict({**recipe["frontend"], "patch": None})
    manifest = Path(recipe["data_root"]) / recipe["manifest"]
    items, y, groups, labels, clips = load_dataset([manifest], frontend, FeatureCache(),
                                                   labels=recipe.get("labels"),
                                                   progress=progress)
    rows = int(round(recipe.get("max_seconds", 0) / ROW_HOP)) or None
    frames = [x[:rows] if rows else x for x in items]
    return Corpus(frames, np.asarray(y), np.asarray(groups), labels, frontend,
                  [str(c.path) for c in clips])


# ----------------------------------------------------------------------- features

def stats_matrix(frames: list[np.ndarray], groups: np.ndarray, corpus: Normalizer,
                 adapt: dict[str, Any] | None) -> np.ndarray:
    """Functionals of every clip. With ``adapt`` (``{"prior_frames": N}``), each group's
    clips pass in order through a :class:`RunningNorm` that starts from ``corpus``
    (update with the clip, then standardize it: what the runtime does per utterance);
    without it, ``corpus`` standardizes every clip."""
    out: list[np.ndarray | None] = [None] * len(frames)
    if not frames:
        return np.zeros((0, 0), np.float32)
    if not adapt:
        return np.stack([utterance_stats(corpus.apply(x)) for x in frames])
    for g in dict.fromkeys(groups.tolist()):
        norm = RunningNorm.from_corpus(corpus.mean, corpus.std, adapt["prior_frames"])
        for i in np.flatnonzero(groups == g):
            norm.update(frames[i])
            out[i] = utterance_stats(norm.apply(frames[i]))
    return np.stack(out)


# ----------------------------------------------------------------------- models

def _svm(recipe: dict[str, Any], x: np.ndarray, y: np.ndarray, groups: np.ndarray,
         probability: bool) -> tuple[Any, dict[str, Any]]:
    """StandardScaler + RBF SVC (class-balanced); list-valued C/gamma are chosen by an
    inner group k-fold over the training groups (UA)."""
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    hp = {"C": 1.0, "gamma": "scale", "kernel": "rbf", **recipe["model"].get("hparams", {})}
    grid = {f"svm__{k}": v for k, v in hp.items() if isinstance(v, list)}
    fixed = {k: v for k, v in hp.items() if not isinstance(v, list)}
    chosen: dict[str, Any] = {}
    if grid:
        pipe = Pipeline([("scale", StandardScaler()),
                         ("svm", SVC(class_weight="balanced", **fixed))])
        search = GridSearchCV(pipe, grid, scoring="balanced_accuracy",
                              cv=GroupKFold(n_splits=min(5, len(set(groups.tolist())))))
        search.fit(x, y, groups=groups)
        chosen = {k.removeprefix("svm__"): v for k, v in search.best_params_.items()}
    pipe = Pipeline([("scale", StandardScaler()),
                     ("svm", SVC(class_weight="balanced", probability=probability,
                                 random_state=0, **{**fixed, **chosen}))])
    return pipe.fit(x, y), chosen


def _logreg(recipe: dict[str, Any], x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    c = float(recipe["model"].get("hparams", {}).get("C", 0.01))
    return Pipeline([("scale", StandardScaler()),
                     ("lr", LogisticRegression(C=c, class_weight="balanced", max_iter=2000))
                     ]).fit(x, y)


def _full_proba(model: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Posteriors over all classes (sklearn's columns cover the classes it saw)."""
    p = model.predict_proba(x)
    out = np.full((len(x), n_classes), 1e-6)
    out[:, model.classes_] = p
    return out / out.sum(1, keepdims=True)


def splits(recipe: dict[str, Any], c: Corpus) -> list[tuple[np.ndarray, np.ndarray]]:
    cv = recipe.get("cv", {})
    folds = leave_one_group_out(c.groups) if cv.get("scheme") == "loso" else \
        group_kfold(c.y, c.groups, int(cv.get("k", 5)), int(cv.get("seed", 0)))
    check_no_leak(folds, c.groups)
    return folds


# ----------------------------------------------------------------------- calibration

class Calibrator:
    """Multinomial logistic regression on a base model's log-probabilities: maps scores to
    probabilities under the class frequencies of the data it is fitted on."""

    def __init__(self, c: float = 1.0) -> None:
        self.c = c
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None

    def fit(self, probs: np.ndarray, y: np.ndarray) -> Calibrator:
        from sklearn.linear_model import LogisticRegression
        k = probs.shape[1]
        lr = LogisticRegression(C=self.c, max_iter=5000).fit(np.log(probs), y)
        coef, icpt = np.zeros((k, k)), np.full(k, -30.0)    # an unseen class: ~0
        coef[lr.classes_], icpt[lr.classes_] = lr.coef_, lr.intercept_
        if len(lr.classes_) == 2:     # sklearn's binary form: one row for class 1
            coef[lr.classes_] = [-lr.coef_[0] / 2, lr.coef_[0] / 2]
            icpt[lr.classes_] = [-lr.intercept_[0] / 2, lr.intercept_[0] / 2]
        self.coef, self.intercept = coef, icpt
        return self

    def apply(self, probs: np.ndarray) -> np.ndarray:
        z = np.log(probs) @ self.coef.T + self.intercept
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)


def cross_fitted(oof: np.ndarray, y: np.ndarray, folds: list, c: float) -> np.ndarray:
    """Calibrated probabilities of every clip from a calibrator fitted on the other folds'
    out-of-fold scores only (the clip's own fold never sees its labels)."""
    out = np.zeros_like(oof)
    for _tr, te in folds:
        rest = np.setdiff1d(np.arange(len(y)), te)
        out[te] = Calibrator(c).fit(oof[rest], y[rest]).apply(oof[te])
    return out


def coverage_rows(probs: np.ndarray, y: np.ndarray, thresholds: list[float]
                  ) -> list[dict[str, Any]]:
    """At each ``min_confidence``: how often a class is named, how often it is right, and
    how often always naming the most frequent class is right on the same clips."""
    top, pred = probs.max(1), probs.argmax(1)
    major = int(np.bincount(y).argmax())
    rows = []
    for t in thresholds:
        named = top >= t
        n = int(named.sum())
        rows.append({"min_confidence": t, "named": n, "coverage": n / len(y),
                     "accuracy": float((pred[named] == y[named]).mean()) if n else None,
                     "majority_on_named": float((y[named] == major).mean()) if n else None,
                     "majority_rate": float((y == major).mean())})
    return rows


def choose_min_confidence(probs: np.ndarray, y: np.ndarray, min_named: float = 0.05
                          ) -> float:
    """The lowest threshold (0.30-0.99, step 0.01) at which named guesses are right at
    least as often as always naming the most frequent class (on all clips) *and* more
    often than always naming it on the clips they name (so the guesses add something to
    the prior), with at least ``min_named`` of the clips named; 1.0 (never name: the
    model does not beat the prior) when none is."""
    grid = [round(v, 2) for v in np.arange(0.30, 1.0, 0.01)]
    for row in coverage_rows(probs, y, grid):
        if (row["coverage"] >= min_named and row["accuracy"] >= row["majority_rate"]
                and row["accuracy"] > row["majority_on_named"]):
            return float(row["min_confidence"])
    return 1.0


def nested_named(probs: np.ndarray, y: np.ndarray, folds: list) -> dict[str, Any]:
    """min_confidence chosen on the other folds, applied to each fold: coverage and
    accuracy of the named guesses pooled over folds (an unbiased check of the rule)."""
    named = correct = 0
    chosen = []
    for _tr, te in folds:
        rest = np.setdiff1d(np.arange(len(y)), te)
        t = choose_min_confidence(probs[rest], y[rest])
        chosen.append(t)
        hit = probs[te].max(1) >= t
        named += int(hit.sum())
        correct += int((probs[te].argmax(1)[hit] == y[te][hit]).sum())
    return {"chosen": chosen, "named": named, "coverage": named / len(y),
            "accuracy": correct / named if named else None}


# ----------------------------------------------------------------------- experiments

def features(recipe: dict[str, Any], c: Corpus, tr: np.ndarray, te: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, Normalizer]:
    corpus = Normalizer().fit([c.frames[i] for i in tr])
    adapt = recipe.get("adapt")
    xtr = stats_matrix([c.frames[i] for i in tr], c.groups[tr], corpus, adapt)
    xte = stats_matrix([c.frames[i] for i in te], c.groups[te], corpus, adapt)
    return xtr, xte, corpus


def fit_model(recipe: dict[str, Any], x: np.ndarray, y: np.ndarray, groups: np.ndarray,
              final: bool = False) -> tuple[Any, dict[str, Any]]:
    if recipe["model"]["arch"] == "svm":
        return _svm(recipe, x, y, groups, probability=final)
    return _logreg(recipe, x, y), {}


def out_of_fold(recipe: dict[str, Any], c: Corpus, report: bool = True
                ) -> tuple[np.ndarray, list, list[dict[str, Any]]]:
    """Out-of-fold class probabilities and what each fold chose."""
    folds = splits(recipe, c)
    oof = np.zeros((len(c.y), len(c.labels)))
    fits = []
    for k, (tr, te) in enumerate(folds):
        xtr, xte, _ = features(recipe, c, tr, te)
        # as built for the runtime (an SVM with Platt probabilities: their argmax)
        model, chosen = fit_model(recipe, xtr, c.y[tr], c.groups[tr], final=True)
        oof[te] = _full_proba(model, xte.astype(np.float32), len(c.labels))
        fits.append({"test_groups": sorted(set(c.groups[te].tolist())), **chosen})
        if report:
            print(f"fold {k + 1}/{len(folds)} done", file=sys.stderr, flush=True)
    return oof, folds, fits


def cv_summary(oof: np.ndarray, y: np.ndarray, folds: list, labels: list[str]
               ) -> dict[str, Any]:
    from .scores import scores, summarize
    per = [scores(y[te], oof[te].argmax(1), labels) for _tr, te in folds]
    s = summarize(per)
    pooled = scores(y, oof.argmax(1), labels)
    return {"folds": len(folds), "ua": s["ua"], "ua_std": s["ua_std"], "wa": s["wa"],
            "wa_std": s["wa_std"], "pooled_ua": pooled["ua"], "pooled_wa": pooled["wa"],
            "per_fold_ua": [p["ua"] for p in per]}


THRESHOLDS = [0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95]


def need_report(oof: np.ndarray, y: np.ndarray, folds: list, c_cal: float
                ) -> dict[str, Any]:
    """Calibrate out-of-fold scores (cross-fitted), choose min_confidence, and the
    accuracy-coverage rows."""
    cal = cross_fitted(oof, y, folds, c_cal)
    chosen = choose_min_confidence(cal, y)
    grid = sorted({*THRESHOLDS, chosen} - {1.0}) + ([1.0] if chosen == 1.0 else [])
    return {"calibrated_ua_argmax": None, "min_confidence": chosen,
            "rows": coverage_rows(cal, y, grid), "nested": nested_named(cal, y, folds),
            "sums_to_one": float(np.abs(cal.sum(1) - 1).max())}


# ----------------------------------------------------------------------- ONNX

def export_onnx(recipe: dict[str, Any], model: Any, corpus: Normalizer, n_in: int,
                labels: list[str], out: Path, extra: dict[str, Any],
                calibrator: Calibrator | None = None) -> Path:
    """The fitted pipeline as ONNX (input ``x`` ``[N, n_in]`` functionals, output
    ``probs`` ``[N, K]``), with the streamser contract in its metadata (mode
    ``utterance``; ``normalizer``: the corpus' frame statistics the streaming
    normalizer starts from)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    sk = to_onnx(model, initial_types=[("x", FloatTensorType([None, n_in]))],
                 options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    g = sk.graph
    prob_out = g.output[1].name
    nodes = list(g.node)
    inits = list(g.initializer)
    final = prob_out
    if calibrator is not None:
        inits += [numpy_helper.from_array(calibrator.coef.T.astype(np.float32), "cal_w"),
                  numpy_helper.from_array(calibrator.intercept.astype(np.float32), "cal_b"),
                  numpy_helper.from_array(np.array(1e-7, np.float32), "cal_eps")]
        nodes += [helper.make_node("Max", [prob_out, "cal_eps"], ["cal_clip"]),
                  helper.make_node("Log", ["cal_clip"], ["cal_log"]),
                  helper.make_node("MatMul", ["cal_log", "cal_w"], ["cal_mm"]),
                  helper.make_node("Add", ["cal_mm", "cal_b"], ["cal_z"]),
                  helper.make_node("Softmax", ["cal_z"], ["cal_p"], axis=-1)]
        final = "cal_p"
    nodes.append(helper.make_node("Identity", [final], ["probs"]))
    graph = helper.make_graph(nodes, recipe["name"], list(g.input),
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT,
                                                             [None, len(labels)])], inits)
    m = helper.make_model(graph, opset_imports=list(sk.opset_import))
    m.ir_version = sk.ir_version
    contract = {"format": FORMAT, "streamser": _version(), "name": recipe["name"],
                "arch": recipe["model"]["arch"], "task": recipe["task"], "labels": labels,
                "build": "float", "mode": "utterance", "x": [n_in], "states": [],
                "frontend": {**FrontEnd.from_dict({**recipe["frontend"], "patch": None})
                             .to_dict()},
                "normalizer": corpus.to_dict(), "steps_per_second": 0.0, **extra}
    helper.set_model_props(m, {"streamser": json.dumps(contract)})
    onnx.checker.check_model(m)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(out))
    return out


def _version() -> str:
    from .. import __version__
    return __version__


def build(recipe: dict[str, Any], c: Corpus, cv: dict[str, Any] | None,
          oof: np.ndarray | None, out: Path) -> dict[str, Any]:
    """Fit on every clip and export; returns the bundle metadata (``NAME.json``)."""
    idx = np.arange(len(c.y))
    xall, _, corpus = features(recipe, c, idx, idx[:0])
    model, chosen = fit_model(recipe, xall, c.y, c.groups, final=True)
    freq = np.bincount(c.y, minlength=len(c.labels)) / len(c.y)
    extra: dict[str, Any] = {"utterance": {"max_seconds": recipe.get("max_seconds"),
                                           "min_seconds": recipe.get("min_seconds", 0.5)},
                             "adapt": recipe.get("adapt")}
    calibrator = None
    if recipe.get("calibrate"):
        assert oof is not None
        calibrator = Calibrator(recipe["calibrate"]["C"]).fit(oof, c.y)
        report = need_report(oof, c.y, splits(recipe, c), recipe["calibrate"]["C"])
        extra.update(train_prior=[float(v) for v in freq],
                     min_confidence=report["min_confidence"])
        chosen_row = next(r for r in report["rows"]
                          if r["min_confidence"] == report["min_confidence"])
        extra["figures"] = {"named guesses (calibrated out-of-fold, group 5-fold)": (
            f"{100 * chosen_row['coverage']:.1f} % of cries named at min_confidence "
            f"{report['min_confidence']:.2f}; always naming the most frequent need is right "
            f"on {100 * chosen_row['majority_rate']:.1f} %")}
    path = export_onnx(recipe, model, corpus, xall.shape[1], c.labels, out, extra, calibrator)
    check_parity(path, model, xall, calibrator, len(c.labels))
    meta = {"format": "streamser-utterance/1", "name": recipe["name"],
            "task": recipe["task"], "arch": recipe["model"]["arch"], "labels": c.labels,
            "frontend": c.frontend.to_dict(), "parameters": _parameters(model, calibrator),
            "size_bytes": path.stat().st_size,
            "training": {"recipe_file": recipe["recipe_file"], "clips": len(c.y),
                         "manifests": [recipe["manifest"]], "data_root": recipe["data_root"],
                         "chosen": chosen, "adapt": recipe.get("adapt"),
                         "max_seconds": recipe.get("max_seconds"),
                         "cv": cv, "how": recipe.get("how", ""),
                         "measured": recipe.get("measured", "")},
            **{k: extra[k] for k in ("min_confidence", "train_prior", "figures")
               if k in extra}}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def check_parity(path: Path, model: Any, x: np.ndarray, calibrator: Calibrator | None,
                 n_classes: int) -> float:
    """Largest difference between the ONNX build's and scikit-learn's probabilities on
    the training functionals; raises when over 1e-3."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["probs"], {"x": x.astype(np.float32)})[0]
    want = _full_proba(model, x.astype(np.float32), n_classes)
    if calibrator is not None:
        want = calibrator.apply(want)
    diff = float(np.abs(got - want).max())
    if diff > 1e-3:
        raise RuntimeError(f"ONNX build differs from scikit-learn by {diff:.2e}")
    return diff


def _parameters(model: Any, calibrator: Calibrator | None) -> int:
    est = model[-1]
    n = sum(int(np.size(getattr(est, a))) for a in ("support_vectors_", "dual_coef_",
                                                      "intercept_", "coef_")
            if hasattr(est, a))
    n += 2 * int(np.size(model[0].mean_))
    if calibrator is not None:
        n += calibrator.coef.size + calibrator.intercept.size
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streamser.train.utterance",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--cv", action="store_true", help="cross-validate group-independently")
    ap.add_argument("--out", help="fit on all clips and write this ONNX (+ .json); default "
                    "without --cv: runs/NAME.onnx")
    ap.add_argument("--replace-bundled", action="store_true",
                    help="allow --out to replace a model shipped in the package's zoo/")
    ap.add_argument("--json", help="write the cross-validation results here")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                    help="override a top-level recipe key, e.g. adapt='{prior_frames: 400}'")
    a = ap.parse_args(argv)
    recipe = load_recipe(a.recipe)
    for s in a.set:
        key, _, value = s.partition("=")
        recipe[key] = yaml.safe_load(value)
    a.out = a.out or (None if a.cv else f"runs/{recipe['name']}.onnx")
    if a.out and bundled_target(Path(a.out)) and not a.replace_bundled:
        ap.error(f"--out {a.out} would replace the bundled model {Path(a.out).name}; write "
                 "to a path of your own (default runs/NAME.onnx), or give --replace-bundled")
    started = time.perf_counter()
    c = load_corpus(recipe)
    result: dict[str, Any] = {"recipe": recipe, "sets": a.set}
    oof = None
    cv = None
    if a.cv or recipe.get("calibrate"):
        oof, folds, fits = out_of_fold(recipe, c)
        cv = cv_summary(oof, c.y, folds, c.labels)
        cv["scheme"] = recipe.get("cv", {}).get("scheme", "group_kfold")
        result.update(cv=cv, fold_fits=fits)
        print(f"{recipe['name']}: UA {100 * cv['ua']:.1f} ± {100 * cv['ua_std']:.1f} %, "
              f"WA {100 * cv['wa']:.1f} ± {100 * cv['wa_std']:.1f} % ({cv['folds']} folds, "
              f"{cv['scheme']})")
        if recipe.get("calibrate"):
            rep = need_report(oof, c.y, folds, recipe["calibrate"]["C"])
            result["need"] = rep
            print_need(rep)
    if a.out:
        result["bundle"] = build(recipe, c, cv, oof, Path(a.out))
        print(f"wrote {a.out} and {Path(a.out).with_suffix('.json')}")
    result["seconds"] = time.perf_counter() - started
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1, default=str) + "\n")
    return 0


def bundled_target(out: Path) -> bool:
    """Whether ``out`` is an existing model file of the package's zoo."""
    from ..zoo import ZOO
    return out.exists() and out.resolve().parent == ZOO.resolve()


def print_need(rep: dict[str, Any]) -> None:
    print(f"chosen min_confidence {rep['min_confidence']:.2f}; "
          f"min_confidence | named | named right | always-majority right (same clips)")
    for r in rep["rows"]:
        acc = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f} %"
        maj = "-" if r["majority_on_named"] is None else f"{100 * r['majority_on_named']:.1f} %"
        print(f"  {r['min_confidence']:.2f} | {100 * r['coverage']:5.1f} % | {acc} | {maj}"
              f"   (always majority on all: {100 * r['majority_rate']:.1f} %)")
    n = rep["nested"]
    acc = "-" if n["accuracy"] is None else f"{100 * n['accuracy']:.1f} %"
    print(f"nested (threshold chosen on the other folds): named {100 * n['coverage']:.1f} %, "
          f"right {acc}, thresholds {n['chosen']}")


if __name__ == "__main__":
    sys.exit(main())


# ----------------------------------------------------------------------- streamed eval

def is_utterance_model(model: str) -> bool:
    """Whether ``model`` (bundled name or file) is an utterance ONNX model."""
    from ..zoo import ZOO
    path = Path(model)
    if path.suffix == ".onnx" and path.is_file():
        import onnx
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False)
                 .metadata_props}
        return json.loads(props.get("streamser", "{}")).get("mode") == "utterance"
    meta = ZOO / f"{model}.json"
    return meta.is_file() and json.loads(meta.read_text()).get("format") == \
        "streamser-utterance/1"


def eval_streamed(model: str, manifest: Path, progress: bool = True
                  ) -> tuple[np.ndarray, np.ndarray, list[str], list[str | None]]:
    """Run MODEL's ``classify.utterance`` node on a manifest as a live stream would: each
    ``group``'s clips in manifest order through one stream (its speaker normalizer starts
    cold per group and adapts clip by clip), one utterance per clip (the first, for a
    model with ``max_seconds`` shorter than the clip). Returns the true classes, the
    probabilities, the labels and the named labels (None where it abstained)."""
    from ..frames import Frame
    from ..plugins.utterance import ClassifyUtterance
    from .clips import load_audio, read_manifest
    node = ClassifyUtterance(ClassifyUtterance.Params(model=model, min_seconds=0.0),
                             "eval")
    node.start()
    labels = node.labels
    clips = read_manifest(manifest, labels)
    if not clips:
        raise ValueError(f"{manifest}: no clips with the model's labels {labels}")
    order = sorted(range(len(clips)), key=lambda i: list(dict.fromkeys(
        c.group for c in clips)).index(clips[i].group))      # by group, manifest order within
    probs = np.zeros((len(clips), len(labels)))
    named: list[str | None] = [None] * len(clips)
    iterator: Any = order
    if progress:
        from rich.console import Console
        from rich.progress import track
        iterator = track(order, description="clips", transient=True,
                         console=Console(stderr=True))
    rate = node.frontend.rate
    for i in iterator:
        c = clips[i]
        audio = load_audio(c.path, rate)
        out = node.process(Frame("audio", audio, stream=c.group, meta={"sample_rate": rate}))
        out += node.process(Frame("audio", np.zeros(0, np.float32), stream=c.group,
                                  meta={"sample_rate": rate, "active": False}))
        first = next(f for f in out if f.meta.get("final"))
        probs[i], named[i] = first.data, first.meta["label"]
    y = np.array([labels.index(c.label) for c in clips])
    return y, probs, labels, named
