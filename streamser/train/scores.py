"""Classification scores as the papers report them: UA, WA, per-class recall and F1,
confusion matrix (numpy only; the PNG needs matplotlib)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` counts, rows = true class, columns = predicted."""
    m = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(m, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return m


def scores(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """UA (mean recall over the classes present in ``y_true``), WA (accuracy), per-class
    recall/precision/F1/support, and the confusion matrix, as a JSON-able dict."""
    m = confusion(y_true, y_pred, len(labels))
    support = m.sum(axis=1)
    predicted = m.sum(axis=0)
    hits = np.diag(m)
    recall = np.divide(hits, support, out=np.zeros(len(labels)), where=support > 0)
    precision = np.divide(hits, predicted, out=np.zeros(len(labels)), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(labels)),
                   where=precision + recall > 0)
    present = support > 0
    per_class = {lab: {"recall": float(recall[i]), "precision": float(precision[i]),
                       "f1": float(f1[i]), "support": int(support[i])}
                 for i, lab in enumerate(labels)}
    return {"ua": float(recall[present].mean()) if present.any() else 0.0,
            "wa": float(hits.sum() / max(1, m.sum())),
            "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
            "per_class": per_class, "confusion": m.tolist(), "labels": list(labels),
            "n": int(m.sum())}


def summarize(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over folds of UA, WA and per-class recall, plus the
    pooled confusion matrix."""
    labels = folds[0]["labels"]
    out: dict[str, Any] = {"folds": len(folds), "labels": labels}
    for key in ("ua", "wa", "macro_f1"):
        vals = np.array([f[key] for f in folds])
        out[key], out[f"{key}_std"] = float(vals.mean()), float(vals.std())
    pooled = np.sum([np.array(f["confusion"]) for f in folds], axis=0)
    support = pooled.sum(axis=1)
    out["per_class_recall_pooled"] = {
        lab: float(pooled[i, i] / support[i]) if support[i] else None
        for i, lab in enumerate(labels)}
    out["confusion"] = pooled.tolist()
    return out


def format_scores(s: dict[str, Any]) -> str:
    """A plain-text report: UA/WA line, per-class table, confusion matrix."""
    labels = s["labels"]
    width = max(8, *(len(lab) for lab in labels))
    lines = [f"UA {100 * s['ua']:.2f} %   WA {100 * s['wa']:.2f} %   "
             f"macro-F1 {100 * s['macro_f1']:.2f} %   (n = {s['n']})", "",
             f"{'class':<{width}}  recall  precision     F1  support"]
    for lab in labels:
        c = s["per_class"][lab]
        lines.append(f"{lab:<{width}}  {c['recall']:6.3f}  {c['precision']:9.3f}  "
                     f"{c['f1']:5.3f}  {c['support']:7d}")
    lines += ["", "confusion (rows: true, columns: predicted)",
              " " * width + "  " + " ".join(f"{lab[:7]:>7}" for lab in labels)]
    for lab, row in zip(labels, s["confusion"]):
        lines.append(f"{lab:<{width}}  " + " ".join(f"{v:7d}" for v in row))
    return "\n".join(lines)


def confusion_png(s: dict[str, Any], path: str | Path, title: str = "") -> None:
    """Row-normalized confusion matrix with counts, saved as PNG (needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.array(s["confusion"], float)
    rows = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    labels = s["labels"]
    size = 1.2 + 0.7 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center",
                    color="white" if rows[i, j] > 0.6 else "black", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"UA {100 * s['ua']:.1f} %, WA {100 * s['wa']:.1f} %")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
