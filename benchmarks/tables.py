"""The papers' tables redone on our data: runs each row's cross-validation and renders
the markdown of docs/results.md.

Usage::

    python benchmarks/tables.py [--corpus emodb|donateacry|all] [--only ROW] [--force]
                                [--results results/] [--markdown FILE]

Each row is one command, ``streamser train RECIPE --cv [--set ...] --json
results/CORPUS/ROW.json``, printed under its table; rows whose JSON exists are not run
again unless ``--force``. The markdown is rendered from the JSON files alone.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Row:
    table: str
    key: str
    label: str
    recipe: str
    sets: tuple[str, ...] = ()
    paper: str = ""

    def command(self, corpus: str, results: Path) -> list[str]:
        cmd = ["streamser", "train", f"configs/train/{corpus}/{self.recipe}.yaml", "--cv"]
        for s in self.sets:
            cmd += ["--set", s]
        return cmd + ["--json", str(results / corpus / f"{self.key}.json"), "-q"]


M1 = "Table 2 (M1, attention-gate LSTM)"
M2 = "Table III (M2, DBL-MM)"
M3 = "M3 (attention BLSTM-CTC)"
M4 = "M4 (VGGish-style CNN + BiLSTM + attention)"
M5 = "M5 (SAE-CNN + BLSTM + attention)"
BASE = "Baselines"


def _features(*plugins: str) -> str:
    feats = ", ".join(f'{{"plugin": "features.{p}"}}' for p in plugins)
    return f'data.frontend={{"features": [{feats}], "rate": 16000}}'


LLD45 = _features("lld45")
IS09_LLD45 = _features("is09", "lld45")
# C and gamma picked per fold by an inner group k-fold over the training groups
TUNED = ("model.hparams.C=[1,3,10,30,100]",
         "model.hparams.gamma=[0.00003,0.0001,0.0003,0.001,0.003]")
LINEAR = ("model.hparams.kernel=linear",
          "model.hparams.C=[0.0001,0.0003,0.001,0.003,0.01,0.03,0.1]")
# two extra copies of each training clip, played 0.9-1.1x faster or slower
SPEED = (('data.augment={"copies": 2, "speed_prob": 1.0, "speed": [0.9, 1.1], '
          '"noise_prob": 0.0, "bandlimit_prob": 0.0, "gain_db": [-3, 3]}'),)
NORM = ("Speaker normalization (each clip standardized with its own group's feature "
        "statistics: the speaker's on emodb, the family's on donateacry)")

ROWS = (
    Row(M1, "lstm", "LSTM (standard)", "lstm", (), "baby corpus F1 0.885; FAU-Aibo UA 59.4"),
    Row(M1, "gru", "GRU (standard)", "gru"),
    Row(M1, "agate_d1", "attention-gate LSTM, depth 1", "agate", ("model.hparams.depth=1",)),
    Row(M1, "agate_d2", "attention-gate LSTM, depth 2", "agate", ("model.hparams.depth=2",),
        "baby corpus F1 0.940; FAU-Aibo UA 62.5"),
    Row(M1, "agate_d3", "attention-gate LSTM, depth 3", "agate", ("model.hparams.depth=3",)),
    Row(M2, "dblmm", "DBL-MM (log-mel + LLD)", "dblmm", (), "EMO-DB WA 84.87, UA 83.35"),
    Row(M2, "dblmm_logmel", "log-mel branch alone", "dblmm", ("model.hparams.branches=[0]",),
        "EMO-DB WA 80.80, UA 78.37"),
    Row(M2, "dblmm_lld", "LLD branch alone", "dblmm", ("model.hparams.branches=[1]",),
        "EMO-DB WA 73.14, UA 70.05"),
    Row(M3, "ctc_none", "BLSTM-CTC, no attention", "ctc", ("model.hparams.attention=none",)),
    Row(M3, "ctc_local", "local attention", "ctc", ("model.hparams.attention=local",)),
    Row(M3, "ctc_component", "component attention", "ctc",
        ("model.hparams.attention=component",), "IEMOCAP UA 67.0, WA 69.0; FAU-Aibo UA 42.9"),
    Row(M3, "ctc_quantum", "quantum attention", "ctc", ("model.hparams.attention=quantum",)),
    Row(M4, "vggish", "without data balance", "vggish", ("train.balance=false",),
        "BAUM-1s 44.09; CHEAVD2.0 41.37"),
    Row(M4, "vggish_balance", "with data balance", "vggish", ("train.balance=true",),
        "BAUM-1s 47.27; CHEAVD2.0 43.42"),
    Row(M5, "sae", "SAE-CNN + BLSTM + attention", "sae", (), "EMO-DB WA 77.97"),
    Row(BASE, "svm", "SVM on utterance statistics (IS09 LLDs)", "svm"),
    Row(BASE, "svm_lld", "SVM on utterance statistics (the 45 LLDs)", "svm", (LLD45,)),
    Row(BASE, "svm_is09_lld", "SVM on utterance statistics (IS09 LLDs + the 45 LLDs)", "svm",
        (IS09_LLD45,)),
    Row(BASE, "svm_is09_lld_tuned", "the same, C and gamma tuned on the training groups",
        "svm", (IS09_LLD45, *TUNED)),
    Row(BASE, "majority", "majority class", "svm", ("model.arch=majority",)),
    Row(NORM, "svm_groupnorm", "SVM on utterance statistics (IS09 LLDs)", "svm",
        ("data.group_norm=true",)),
    Row(NORM, "gru_groupnorm", "GRU (standard)", "gru", ("data.group_norm=true",)),
    Row(NORM, "agate_d1_groupnorm", "attention-gate LSTM, depth 1", "agate",
        ("model.hparams.depth=1", "data.group_norm=true")),
    Row(NORM, "svm_lld_groupnorm", "SVM on utterance statistics (the 45 LLDs)", "svm",
        (LLD45, "data.group_norm=true")),
    Row(NORM, "svm_is09_lld_groupnorm", "SVM on utterance statistics (IS09 LLDs + the 45 "
        "LLDs)", "svm", (IS09_LLD45, "data.group_norm=true")),
    Row(NORM, "svm_is09_lld_groupnorm_tuned", "the same, C and gamma tuned on the training "
        "groups", "svm", (IS09_LLD45, "data.group_norm=true", *TUNED)),
    Row(NORM, "svm_is09_lld_groupnorm_linear", "the same, linear kernel, C tuned", "svm",
        (IS09_LLD45, "data.group_norm=true", *LINEAR)),
    Row(NORM, "svm_is09_lld_groupnorm_tuned_speed", "the same as tuned, with two "
        "speed-perturbed copies (0.9-1.1x) of each training clip", "svm",
        (IS09_LLD45, "data.group_norm=true", *TUNED, *SPEED)),
    Row(NORM, "svm_lld_groupnorm_tuned", "SVM on utterance statistics (the 45 LLDs), C and "
        "gamma tuned", "svm", (LLD45, "data.group_norm=true", *TUNED)),
    Row(NORM, "svm_all_groupnorm", "SVM on utterance statistics (IS09 LLDs + 45 LLDs + "
        "log-mel)", "svm", (_features("is09", "lld45", "logmel"), "data.group_norm=true")),
    Row(NORM, "svm_lld_logmel_groupnorm", "SVM on utterance statistics (45 LLDs + log-mel)",
        "svm", (_features("lld45", "logmel"), "data.group_norm=true")),
    Row(NORM, "dblmm_groupnorm", "DBL-MM (log-mel + LLD)", "dblmm", ("data.group_norm=true",)),
    Row(NORM, "dblmm_logmel_groupnorm", "DBL-MM, log-mel branch alone", "dblmm",
        ("model.hparams.branches=[0]", "data.group_norm=true")),
    Row(NORM, "dblmm_lld_groupnorm", "DBL-MM, LLD branch alone", "dblmm",
        ("model.hparams.branches=[1]", "data.group_norm=true")),
)
CORPORA = {"emodb": "leave-one-speaker-out, 8 speakers", "donateacry": "5-fold group k-fold"}


def run_row(row: Row, corpus: str, results: Path, force: bool) -> None:
    out = results / corpus / f"{row.key}.json"
    recipe = ROOT / "configs/train" / corpus / f"{row.recipe}.yaml"
    if not recipe.is_file() or (out.is_file() and not force):
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = row.command(corpus, results)
    print("$", shlex.join(cmd), file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "streamser", *cmd[1:]], cwd=ROOT, check=True)


def pct(summary: dict, key: str) -> str:
    return f"{100 * summary[key]:.1f} ± {100 * summary[key + '_std']:.1f}"


def render(corpus: str, results: Path) -> str:
    lines = [f"### {corpus} ({CORPORA[corpus]})", ""]
    commands = []
    for table in dict.fromkeys(r.table for r in ROWS):
        rows = [r for r in ROWS if r.table == table
                and (results / corpus / f"{r.key}.json").is_file()]
        if not rows:
            continue
        first = json.loads((results / corpus / f"{rows[0].key}.json").read_text())["cv"]
        labels = first["labels"]
        per_class = corpus != "emodb"
        head = "| model | UA % | WA % | s/epoch |" + ("".join(f" {lab} |" for lab in labels)
                                                    if per_class else "") + " paper |"
        lines += [f"**{table}**", "", head, "|" + "---|" * (head.count("|") - 1)]
        for r in rows:
            cv = json.loads((results / corpus / f"{r.key}.json").read_text())["cv"]
            spe = f"{cv['seconds_per_epoch']:.2f}" if cv.get("seconds_per_epoch") else "–"
            cells = "".join(f" {100 * v:.0f} |" if v is not None else " – |"
                            for v in cv["per_class_recall_pooled"].values()) if per_class else ""
            lines.append(f"| {r.label} | {pct(cv, 'ua')} | {pct(cv, 'wa')} | {spe} |{cells} "
                         f"{r.paper or ''} |")
            commands.append(shlex.join(r.command(corpus, Path("results"))))
        lines.append("")
    lines += ["Commands (one per row, from the repository root):", "", "```"]
    return "\n".join(lines + commands + ["```", ""])


# (label, arch, input_dim, our hparams, the paper's widths)
SIZES = (
    ("M1 attention-gate LSTM", "agate_lstm", 32, {"hidden": [64, 32], "dense": [32]},
     {"hidden": [512, 256], "dense": [256, 128]}),
    ("LSTM baseline", "lstm", 32, {"hidden": [64, 32], "dense": [32]},
     {"hidden": [512, 256], "dense": [256, 128]}),
    ("M2 DBL-MM", "dblmm", 109, {"hidden": 32}, {"hidden": 1024}),
    ("M3 BLSTM-CTC", "blstm_ctc", 40, {"hidden": 32}, {"hidden": 128}),
    ("M4 VGGish + BiLSTM", "vggish_lstm", 64, {},
     {"channels": [64, 128, 256, 256, 512, 512], "fc": [4096, 4096], "embedding": 128,
      "hidden": 128}),
    ("M5 SAE-CNN + BLSTM", "sae_blstm", 129, {}, {"kernels_per_width": 60, "hidden": 30}),
)


def render_sizes(n_classes: int = 7) -> str:
    """Parameter counts at our widths and at the papers' (needs torch)."""
    from streamser.models import build, count_parameters
    lines = ["### Model sizes (7 classes)", "",
             "| model | parameters, our widths | at the paper's widths | paper widths |",
             "|---|---:|---:|---|"]
    for label, arch, dim, ours, paper in SIZES:
        a = count_parameters(build(arch, dim, n_classes, **ours))
        b = count_parameters(build(arch, dim, n_classes, **paper))
        widths = ", ".join(f"{k} {v}" for k, v in paper.items())
        lines.append(f"| {label} | {a:,} | {b:,} | {widths} |")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- tables: benchmarks/tables.py -->", "<!-- /tables -->"


def write_between_markers(path: Path, text: str) -> None:
    """Replace the part of ``path`` between the markers (the whole file if it has none)."""
    old = path.read_text() if path.is_file() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        text = f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=[*CORPORA, "all"], default="all")
    ap.add_argument("--only", action="append", help="row key(s) to run (default: all)")
    ap.add_argument("--force", action="store_true", help="rerun rows that have results")
    ap.add_argument("--render-only", action="store_true", help="run nothing, render only")
    ap.add_argument("--results", default=str(ROOT / "results"))
    ap.add_argument("--markdown", help="write the rendered tables into this file, between "
                    "its table markers (docs/results.md has them)")
    args = ap.parse_args()
    results = Path(args.results)
    corpora = list(CORPORA) if args.corpus == "all" else [args.corpus]
    if not args.render_only:
        by_key = {r.key: r for r in ROWS}
        unknown = set(args.only or ()) - set(by_key)
        if unknown:
            ap.error(f"unknown row(s) {sorted(unknown)}; rows: {', '.join(by_key)}")
        for corpus in corpora:
            for row in [by_key[k] for k in args.only] if args.only else ROWS:
                run_row(row, corpus, results, args.force)
    text = "\n".join([*(render(c, results) for c in corpora), render_sizes()])
    if args.markdown:
        write_between_markers(Path(args.markdown), text)
    print(text)


if __name__ == "__main__":
    main()
