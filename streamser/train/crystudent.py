"""The microcontroller cry detector, distilled from the cry head (lever (g) of the
detector work).

The student is ``cry-detector-distilled``'s network: a small VGGish-shaped CNN per 0.96 s
log-mel patch and M1's attention-gate cell across patches (hop 0.48 s, 75 KiB as int8
TFLite). It trains on the log-mel patches of the cached training copies
(:mod:`.cryembed` ``--what logmel``: every corpus, mixed, band-limited and through rooms),
and its teacher is a cry head (:mod:`.cryhead`: a linear layer on YAMNet's logits, or on
the logits and the patch's timbre with ``--teacher timbre``, as the robot's) fitted on the
same rows. Each patch's loss is ``1 - distill`` of the cross-entropy on its
label (cry / other) and ``distill`` of the cross-entropy on the teacher's cry share.
Training runs in two stages, as M4's: per patch, then the whole streaming model on runs of
up to ``seq_len`` consecutive patches of one copy.

    python -m streamser.train.crystudent --cache CACHE --out runs/cry-detector-distilled.pt
    streamser export runs/cry-detector-distilled.pt --int8 --board esp32-s3
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .cryhead import OWN, HeadSpec, patch_columns, row_weights
from .cryhead import train as train_head

LABELS = ("cry", "other")
HOP = 0.48


@dataclass(frozen=True)
class StudentSpec:
    channels: tuple[int, ...] = (8, 16, 16, 32, 32, 32)
    embedding: int = 32
    hidden: int = 32
    dropout: float = 0.2
    patch_epochs: int = 4
    seq_epochs: int = 2
    seq_len: int = 8
    batch: int = 128
    lr: float = 2e-3
    distill: float = 0.5
    seed: int = 0
    teacher: HeadSpec = field(default_factory=lambda: HeadSpec(inputs="logits",
                                                               classes="kinds", hidden=0))

    def hparams(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "fc": [], "embedding": self.embedding,
                "recurrent": "agate", "hidden": self.hidden, "dropout": self.dropout}


class Student:
    """A trained student: the per-band normalizer and the streaming network."""

    def __init__(self, spec: StudentSpec, mean: np.ndarray, std: np.ndarray,
                 model: Any) -> None:
        self.spec, self.mean, self.std, self.model = spec, mean, std, model

    def cry_scores(self, patches: np.ndarray) -> np.ndarray:
        """Cry probability per patch of one stream, stepped from a fresh state."""
        import torch
        x = torch.from_numpy(((patches - self.mean) / self.std).astype(np.float32))
        with torch.inference_mode():
            z = self.model.forward_steps(x[None])[0]
        return torch.softmax(z, -1)[:, 0].numpy()


def teacher_scores(first: np.ndarray, logit: np.ndarray, kind: np.ndarray,
                   source: np.ndarray, spec: HeadSpec) -> np.ndarray:
    """The cry share of a head fitted on these rows, on each of them (``first``: the
    embedding, or what a head with ``inputs`` ``timbre`` or ``texture`` reads from the
    patch)."""
    head = train_head(first, logit, kind, source, spec)
    return head.cry_score(first, logit).astype(np.float32)


def train(mel: np.ndarray, kind: np.ndarray, soft: np.ndarray, source: np.ndarray,
          segment: np.ndarray, spec: StudentSpec,
          say: Callable[[str], None] = print) -> Student:
    """Fit a student on rows (``mel`` ``(N, 96, 64)``, ``kind`` -1: a pause inside a cry,
    no label of its own; ``soft``: the teacher's cry share; ``segment``: the copy each
    row belongs to, rows of one copy contiguous and in time order)."""
    import torch

    from ..models.vggish import VGGishLSTM
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    sample = rng.choice(len(mel), min(len(mel), 8000), replace=False)
    mean = mel[sample].astype(np.float32).mean(axis=(0, 1))
    std = mel[sample].astype(np.float32).std(axis=(0, 1)) + 1e-3
    model = VGGishLSTM(mel.shape[2], len(LABELS), **spec.hparams())
    labelled = kind >= 0
    w = np.zeros(len(kind))
    w[labelled] = row_weights(kind[labelled], source[labelled])
    hard = np.where(kind < 0, -100, (kind != 0).astype(np.int64))
    soft2 = np.stack([soft, 1 - soft], axis=1).astype(np.float32)

    def batch(idx: np.ndarray) -> tuple[Any, Any, Any]:
        x = torch.from_numpy((mel[idx].astype(np.float32) - mean) / std)
        return x, torch.from_numpy(hard[idx]), torch.from_numpy(soft2[idx])

    def run(stage: str, epochs: int, draws: Callable[[], list[np.ndarray]]) -> None:
        params = list(model.parameters_for(stage))
        opt = torch.optim.Adam(params, lr=spec.lr)
        model.train()
        for epoch in range(epochs):
            t0, losses = time.time(), []
            for idx in draws():
                loss = step(stage, idx)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 5.0)
                opt.step()
                losses.append(float(loss.detach()))
            say(f"  {stage} epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f} "
                f"({time.time() - t0:.0f} s)")
        model.eval()

    def step(stage: str, idx: np.ndarray) -> Any:
        if stage == "patch":                       # one patch per item, every one labelled
            x, y, s = batch(idx)
            return model.loss(x[:, None], torch.ones(len(idx), dtype=torch.long), y,
                              stage="patch", soft=s[:, None], distill=spec.distill)
        x, y, s = batch(idx.reshape(-1))           # runs: (B, L) row indices, -1 padding
        x = x.unflatten(0, idx.shape)
        y, s = y.view(idx.shape), s.unflatten(0, idx.shape)
        pad = torch.from_numpy(idx < 0)
        y[pad] = -100
        s[pad] = 0.0
        lengths = (~pad).sum(1)
        return model.loss(x, lengths, y, stage="main", soft=s, distill=spec.distill)

    rows = np.flatnonzero(labelled)
    p_rows = w[rows] / w[rows].sum()

    def patch_draws() -> list[np.ndarray]:
        picked = rng.choice(rows, len(rows), p=p_rows)
        return np.array_split(picked, max(1, len(picked) // spec.batch))

    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    ends = np.r_[starts[1:], len(segment)]
    seg_w = np.add.reduceat(w, starts)
    seg_p = seg_w / seg_w.sum()

    def run_draws() -> list[np.ndarray]:
        n = len(rows) // spec.seq_len
        picked = rng.choice(len(starts), n, p=seg_p)
        runs = np.full((n, spec.seq_len), -1, np.int64)
        for r, s in enumerate(picked):
            length = min(spec.seq_len, ends[s] - starts[s])
            first = starts[s] + rng.integers(0, ends[s] - starts[s] - length + 1)
            runs[r, :length] = np.arange(first, first + length)
        per = max(1, spec.batch // spec.seq_len)
        return [runs[i:i + per] for i in range(0, n, per)]

    run("patch", spec.patch_epochs, patch_draws)
    run("main", spec.seq_epochs, run_draws)
    return Student(spec, mean, std, model)


def load_rows(cache: Path) -> dict[str, np.ndarray]:
    """The cached training rows with their log-mel patches (``train_logmel.npz``)."""
    logmel = cache / "train_logmel.npz"
    if not logmel.is_file():
        raise FileNotFoundError(f"{logmel}: run python -m streamser.train.cryembed "
                                f"--out {cache} --what logmel first")
    data = np.load(cache / "train.npz")
    rows = {"emb": data["emb"], "logit": data["logit"], "y": data["y"],
            "fold": data["folds"][data["item"]], "source": data["sources"][data["item"]],
            "segment": data["item"].astype(np.int64) * 64 + data["copy"],
            "mel": np.load(logmel)["mel"]}
    if len(rows["mel"]) != len(rows["y"]):
        raise ValueError(f"{logmel}: {len(rows['mel'])} patches for {len(rows['y'])} rows "
                         "(rebuild it from the same corpus)")
    return rows


def fit(rows: dict[str, np.ndarray], use: np.ndarray, spec: StudentSpec,
        say: Callable[[str], None] = print) -> Student:
    """Teacher and student on the rows ``use`` (a mask)."""
    t0 = time.time()
    first = patch_columns(rows["mel"][use], spec.teacher.inputs) \
        if spec.teacher.inputs in OWN else rows["emb"][use]
    soft = teacher_scores(first, rows["logit"][use], rows["y"][use], rows["source"][use],
                          spec.teacher)
    say(f"  teacher fitted ({time.time() - t0:.0f} s)")
    return train(rows["mel"][use], rows["y"][use], soft, rows["source"][use],
                 rows["segment"][use], spec, say)


def save(student: Student, path: Path, command: str, rows: int) -> Path:
    """The student as a streamser checkpoint (``streamser export`` reads it)."""
    from .checkpoint import save as save_checkpoint
    from .crycorpus import KINDS
    manifests = ["donateacry/manifest.csv", "babycry_esc/manifest.csv",
                 "emodb/manifest.csv", "noncry/manifest.csv"]
    meta = {"arch": "vggish_lstm", "name": path.stem, "input_dim": 64,
            "task": "baby cry detection (cry vs other) per 0.48 s hop, streaming, "
                    "distilled from the cry head (YAMNet + linear on its logits"
                    + {"timbre": " and the patch's timbre)",
                       "texture": " and the patch's timbre and loudness envelope)"}.get(
                        student.spec.teacher.inputs, ")"),
            "labels": list(LABELS),
            "label_map": {**{k: "other" for k in KINDS if k != "cry"},
                          **{k: "cry" for k in ("hungry", "discomfort", "tired",
                                                "belly_pain", "burping", "crying")},
                          **{k: "other" for k in ("laugh", "silence", "noise", "speech",
                                                  "anger", "neutral", "boredom", "fear",
                                                  "happiness", "sadness", "disgust")}},
            "frontend": {"features": [{"plugin": "features.logmel", "params": {}}],
                         "rate": 16000, "patch": {"hop": HOP}},
            "normalizer": {"mean": student.mean.tolist(), "std": student.std.tolist()},
            "training": {"command": command, "rows": rows, "spec": asdict(student.spec),
                         "manifests": manifests,
                         "data": "every corpus of ../shared/data (cryembed.py), all folds"}}
    return save_checkpoint(path, student.model, meta)


def main(argv: list[str] | None = None) -> None:
    """Train the shipped student on every fold of the cache and save its checkpoint."""
    import sys
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--cache", default=str(Path.home() / ".cache/streamser/cry"))
    ap.add_argument("--out", required=True, help="NAME.pt (NAME.json is written beside it)")
    ap.add_argument("--patch-epochs", type=int, default=StudentSpec.patch_epochs)
    ap.add_argument("--seq-epochs", type=int, default=StudentSpec.seq_epochs)
    ap.add_argument("--distill", type=float, default=StudentSpec.distill)
    ap.add_argument("--teacher", choices=("logits", *OWN),
                    default=StudentSpec().teacher.inputs,
                    help="the teacher head's inputs: YAMNet's logits, or with the timbre "
                         "(and the loudness envelope: texture)")
    a = ap.parse_args(argv)
    spec = StudentSpec(patch_epochs=a.patch_epochs, seq_epochs=a.seq_epochs,
                       distill=a.distill,
                       teacher=HeadSpec(inputs=a.teacher, classes="kinds", hidden=0))
    rows = load_rows(Path(a.cache).expanduser())
    use = np.ones(len(rows["y"]), bool)
    student = fit(rows, use, spec)
    command = "python -m streamser.train.crystudent " + " ".join(
        argv if argv is not None else sys.argv[1:])
    path = save(student, Path(a.out), command, int((rows["y"] >= 0).sum()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
