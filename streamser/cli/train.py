"""``streamser train``, ``streamser eval`` and ``streamser models``.

Importing this module imports neither torch nor scikit-learn: the commands load them
when they run, and say which extra to install when they are missing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

import click

from .errors import fail

DEFAULT_FRONTENDS: dict[str, dict[str, Any]] = {
    "dblmm": {"features": [{"plugin": "features.logmel"}, {"plugin": "features.lld45"}]},
    "blstm_ctc": {"features": [{"plugin": "features.logmel40"}]},
    "vggish_lstm": {"features": [{"plugin": "features.logmel"}], "patch": {"hop": 0.48}},
    "sae_blstm": {"features": [{"plugin": "features.spec256"}]},
}


def _need(module: str, extra: str) -> None:
    import importlib.util
    if importlib.util.find_spec(module) is None:
        fail(f"{module} is not installed: pip install 'streamser[{extra}]'")


class Progress:
    """One rich progress bar for a training run: fold, stage, epoch, loss, validation UA."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if not self.quiet:
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar
            self._bar = Bar(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                            transient=True, console=_console())
            self._bar.__enter__()
            self._task = self._bar.add_task("training", total=None, info="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def __call__(self, row: dict[str, Any]) -> None:
        if self._bar is None:
            return
        fold = f"fold {row['fold']}/{row['folds']} " if "fold" in row else ""
        if "fold_done" in row:
            self._bar.console.print(f"fold {row['fold_done']}/{row['folds']}: "
                                    f"UA {100 * row['ua']:.1f} %, WA {100 * row['wa']:.1f} %")
            return
        if "done" in row:                       # item-wise work before the epochs
            self._bar.update(self._task, description=f"{fold}{row['stage']}",
                             completed=row["done"], total=row["total"], info="items")
            return
        info = f"loss {row['loss']:.3f}" + (f"  val UA {100 * row['val_ua']:.1f} %"
                                           if "val_ua" in row else "")
        self._bar.update(self._task, description=f"{fold}{row['stage']}",
                         completed=row["epoch"], total=row["epochs"], info=info)


def _console() -> Any:
    from rich.console import Console
    return Console(stderr=True)


def _recipe(recipe: str | None, arch: str | None, data: tuple[str, ...],
            sets: tuple[str, ...]) -> Any:
    from ..train.recipe import RecipeError, load_recipe
    base: dict[str, Any] = {}
    if arch:
        base["model"] = {"arch": arch}
        frontend = {"rate": 16000, "features": [{"plugin": "features.is09"}],
                    **DEFAULT_FRONTENDS.get(arch, {})}
        base["data"] = {"data_root": ".", "manifests": list(data), "frontend": frontend}
        base["name"] = arch
    elif data:
        sets = (f"data.manifests={json.dumps(list(data))}", *sets)
    if recipe is None and not arch:
        fail("give a RECIPE file or --model ARCH --data MANIFEST")
    try:
        return load_recipe(recipe, sets, base)
    except RecipeError as exc:
        fail(str(exc))


def _cv_report(summary: dict[str, Any], recipe: Any) -> str:
    lines = [f"{recipe.name}: {recipe.model.arch}, {summary['folds']} folds ({summary['scheme']})",
             f"UA {100 * summary['ua']:.2f} ± {100 * summary['ua_std']:.2f} %   "
             f"WA {100 * summary['wa']:.2f} ± {100 * summary['wa_std']:.2f} %"]
    if summary.get("seconds_per_epoch"):
        lines.append(f"training time per epoch {summary['seconds_per_epoch']:.2f} s")
    lines.append("recall per class (pooled over folds): " + ", ".join(
        f"{k} {100 * v:.1f} %" for k, v in summary["per_class_recall_pooled"].items()
        if v is not None))
    return "\n".join(lines)


@click.command("train")
@click.argument("recipe", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--model", "arch", help="Architecture, instead of a recipe (see `streamser "
              "models --archs`).")
@click.option("--data", multiple=True, metavar="MANIFEST", help="Manifest CSV (repeatable); "
              "with a recipe, replaces its manifests.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe field, e.g. train.epochs=5 or model.hparams.depth=2.")
@click.option("--cv", is_flag=True, help="Cross-validate group-independently (the recipe's "
              "cv scheme) and report UA/WA mean ± std.")
@click.option("--out", type=click.Path(dir_okay=False), help="Train on all the data and save "
              "the checkpoint here (default without --cv: runs/NAME.pt).")
@click.option("--json", "json_file", type=click.Path(dir_okay=False),
              help="Write the cross-validation or training summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train_cmd(recipe: str | None, arch: str | None, data: tuple[str, ...],
              sets: tuple[str, ...], cv: bool, out: str | None, json_file: str | None,
              quiet: bool) -> None:
    """Train a model from a recipe (or --model/--data); cross-validate with --cv."""
    if out and json_file and Path(json_file).resolve() == Path(out).with_suffix(".json").resolve():
        fail(f"--json {json_file} is where the checkpoint's metadata goes (next to --out); "
              "give the summary another name")
    rec = _recipe(recipe, arch, data, sets)
    if rec.model.arch in ("svm", "majority"):
        _need("sklearn", "train")
        if out or not cv:
            fail("svm and majority are baselines for --cv; they make no checkpoint")
    else:
        _need("torch", "train")
    if rec.data.group_norm and (out or not cv):
        fail("data.group_norm (speaker normalization) is for --cv: a checkpoint would need "
              "each speaker's feature statistics at run time, which the runtime does not keep")
    from ..train.experiment import load_data
    missing = [str(p) for p in rec.data.manifest_paths() if not p.is_file()]
    if missing:
        fail(f"manifest not found: {missing[0]} (data_root {rec.data.data_root!r})")
    try:
        data_ = load_data(rec, progress=not quiet)
    except ValueError as exc:
        fail(str(exc))
    result: dict[str, Any] = {"recipe": rec.model_dump(mode="json")}
    try:
        with Progress(quiet) as report:
            _train(rec, data_, recipe, sets, cv, out, result, report)
    except Exception as exc:  # one line, not a traceback (STREAMSER_DEBUG=1 shows it)
        if os.environ.get("STREAMSER_DEBUG"):
            raise
        fail(f"training failed: {type(exc).__name__}: {exc}")
    if cv:
        click.echo(_cv_report(result["cv"], rec))
    if "checkpoint" in result:
        fit = result["fit"]
        val = f", validation UA {100 * fit['best_val_ua']:.1f} %" \
            if fit.get("best_val_ua") is not None else ""
        click.echo(f"saved {result['checkpoint']} (best epoch {fit.get('best_epoch')}{val})")
    if json_file:
        Path(json_file).write_text(json.dumps(result, indent=1) + "\n")


def _train(rec: Any, data_: Any, recipe: str | None, sets: tuple[str, ...], cv: bool,
           out: str | None, result: dict[str, Any], report: Progress) -> None:
    """Cross-validate and/or train the final model; fills ``result``."""
    from ..train.checkpoint import save
    from ..train.experiment import cross_validate, meta_for, train_one
    if cv:
        result["cv"] = cross_validate(rec, data_, report=report)
    if out or not cv:
        import numpy as np
        trained = train_one(rec, data_, np.arange(len(data_.y)), report=report)
        meta = meta_for(rec, data_, trained)
        if recipe:
            meta["training"]["recipe_file"] = Path(recipe).as_posix()
            meta["training"]["sets"] = list(sets)
        if cv:
            meta["training"]["cv"] = {k: result["cv"][k] for k in
                                      ("scheme", "folds", "ua", "ua_std", "wa", "wa_std")}
        path = save(out or Path("runs") / f"{rec.name}.pt", trained.model, meta)
        result["checkpoint"] = str(path)
        result["fit"] = trained.fit


@click.command("eval")
@click.argument("model")
@click.option("--data", "manifest", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Manifest CSV of the clips to score.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False),
              help="Write ua, wa, per_class, confusion as JSON.")
@click.option("--png", type=click.Path(dir_okay=False), help="Save the confusion matrix "
              "as PNG (default: MODEL_NAME-confusion.png next to --json, else none).")
@click.option("--build", help="Run this exported build (.onnx, .int8.tflite, ...) of a bundled "
              "model with the runtime instead of its checkpoint.")
@click.option("--include-training", is_flag=True, help="Also score the clips MODEL was "
              "trained on (left out by default: its recorded training manifests say which).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def eval_cmd(model: str, manifest: str, json_file: str | None, png: str | None,
             build: str | None, include_training: bool, quiet: bool) -> None:
    """Score MODEL (a checkpoint, an exported .onnx/.tflite file or a bundled model name)
    on a manifest, leaving out the clips it was trained on unless --include-training. A
    bundled model is scored from its checkpoint when torch is installed, else from its
    ONNX build (else TFLite) with the runtime: no torch needed. An utterance model
    (emodb-ser, cry-need-cal) runs as it does live: each manifest group's clips in order
    through one stream, its speaker normalizer starting cold per group."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="streamser-eval-") as tmp:
        scored = _unseen(model, Path(manifest), include_training, Path(tmp))
        _eval(model, str(scored), json_file, png, build, quiet)


def _unseen(model: str, manifest: Path, include: bool, tmp: Path) -> Path:
    """The manifest to score: without the clips MODEL was trained on (a manifest of the
    others in ``tmp``), unless ``include``; says what was left out, or why it cannot."""
    from ..evaluation.seen import model_meta, split, training_clips, write_manifest
    meta = model_meta(model)
    seen = training_clips(meta, manifest) if meta else None
    if seen is None or not seen.found:
        why = "it records no training manifests" if seen is None else \
            f"its training manifests ({seen.describe()}) are not on this machine"
        click.echo(f"note: cannot tell which clips {model} was trained on ({why}); "
                   "every clip is scored")
        return manifest
    unseen, seen_rows, columns = split(manifest, seen)
    total = len(unseen) + len(seen_rows)
    if not seen_rows:
        click.echo(f"none of the {total} clips was in {model}'s training "
                   f"({seen.describe()})")
        return manifest
    if include:
        click.echo(f"note: {len(seen_rows)} of the {total} clips were in {model}'s training "
                   f"({seen.describe()}); scored anyway (--include-training): the figures "
                   "overstate what it does on new audio")
        return manifest
    if not unseen:
        fail(f"all {total} clips of {manifest} were in {model}'s training "
             f"({seen.describe()}): a score on them says nothing about new audio; give "
             "other clips, or --include-training to score them anyway")
    click.echo(f"{model} was trained on {len(seen_rows)} of the {total} clips "
               f"({seen.describe()}): scoring the other {len(unseen)} "
               "(--include-training scores all)")
    return write_manifest(unseen, columns, tmp / manifest.name)


def _eval(model: str, manifest: str, json_file: str | None, png: str | None,
          build: str | None, quiet: bool) -> None:
    """``streamser eval`` on the manifest chosen."""
    from ..train.utterance import is_utterance_model
    try:
        utterance = is_utterance_model(model)
    except ImportError:                       # an .onnx file, and no onnx to read it with
        utterance = False
    if utterance:
        if build not in (None, ".onnx"):
            fail(f"{model} is an utterance model: its one build is .onnx")
        _eval_streamed(model, Path(manifest), json_file, png, quiet)
        return
    from ..train.experiment import frames_for_eval
    from ..train.scores import scores
    exported = Path(model).suffix in (".onnx", ".tflite") or build is not None
    try:
        try:
            predict, meta = (_exported_model(model, build) if exported else _checkpoint(model))
        except ImportError:                   # no torch: the bundled model's exported build
            if exported or Path(model).is_file():
                raise
            predict, meta = _exported_model(model, build)
    except (ValueError, KeyError, FileNotFoundError, ImportError) as exc:
        fail(str(exc).strip("'\""))
    try:
        frames, y, labels = frames_for_eval(meta, Path(manifest), progress=not quiet)
    except ValueError as exc:
        fail(str(exc))
    s = scores(y, predict(frames).argmax(axis=1), labels)
    _report(s, meta.get("name", model), manifest, json_file, png)


def _eval_streamed(model: str, manifest: Path, json_file: str | None, png: str | None,
                   quiet: bool) -> None:
    """``streamser eval`` of an utterance model: clips streamed per group, in order."""
    from ..train.scores import scores
    from ..train.utterance import eval_streamed
    try:
        y, probs, labels, named = eval_streamed(model, manifest, progress=not quiet)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    s = scores(y, probs.argmax(axis=1), labels)
    hit = [i for i, n in enumerate(named) if n is not None]
    s["streamed"] = {"groups": len(set(_groups(manifest, labels))), "named": len(hit),
                     "coverage": len(hit) / len(y),
                     "named_accuracy": (sum(labels.index(named[i]) == y[i] for i in hit)
                                        / len(hit)) if hit else None}
    click.echo(f"{model}: each group's clips fed in manifest order through one stream per "
               f"group (streaming normalizer from a cold start per group), "
               f"{s['streamed']['groups']} groups")
    _report(s, model, str(manifest), json_file, png)
    st = s["streamed"]
    if st["coverage"] < 1:
        acc = "-" if st["named_accuracy"] is None else f"{100 * st['named_accuracy']:.1f} %"
        click.echo(f"named a class on {100 * st['coverage']:.1f} % of clips (min_confidence), "
                   f"right on {acc} of those")


def _groups(manifest: Path, labels: list[str]) -> list[str]:
    from ..train.clips import read_manifest
    return [c.group for c in read_manifest(manifest, labels)]


def _report(s: dict[str, Any], name: str, manifest: str, json_file: str | None,
            png: str | None) -> None:
    from ..train.scores import confusion_png, format_scores
    click.echo(format_scores(s))
    if json_file:
        Path(json_file).write_text(json.dumps(s, indent=1) + "\n")
        png = png or str(Path(json_file).with_suffix(".png"))
    if png:
        try:
            confusion_png(s, png, title=f"{name} on {Path(manifest).parent.name}")
        except ImportError:
            fail("the confusion PNG needs matplotlib: pip install 'streamser[plot]'")
        click.echo(f"confusion matrix: {png}")


def _checkpoint(model: str) -> tuple[Any, dict[str, Any]]:
    """A checkpoint's clip classifier (raw front-end frames -> probabilities), torch."""
    from ..checkpoint import load
    from ..train.data import Normalizer
    from ..train.experiment import patches
    from ..train.trainer import predict_probs
    from ..zoo import resolve
    net, meta = load(resolve(model))
    norm = Normalizer.from_dict(meta["normalizer"])

    def predict(frames: list[np.ndarray]) -> np.ndarray:
        items = [norm.apply(x) for x in frames]
        if meta["frontend"].get("patch"):
            items = [patches(x) for x in items]
        return predict_probs(net, items)
    return predict, meta


def _exported_model(model: str, build: str | None) -> tuple[Any, dict[str, Any]]:
    """An exported build's clip classifier through the infer node's backend (no torch):
    a stateful model steps through the clip's rows (or patches) and its last step's
    probabilities are the clip's; a window model's are averaged over its windows."""
    import numpy as np

    from streamser.plugins.infer.backends import open_backend
    from streamser.zoo import ZOO, artifact

    from ..train.experiment import patches
    if build is None and not Path(model).is_file():
        build = next((b for b in (".onnx", ".int8.onnx", ".int8.tflite", ".tflite")
                      if (ZOO / f"{model}{b}").is_file()), None)
    backend = open_backend(artifact(model, build))
    c = backend.contract

    def one(x: np.ndarray) -> np.ndarray:
        steps = patches(x) if c.raw["frontend"].get("patch") else x
        steps = c.normalize(steps)
        if not c.stateful:
            return backend.run(steps, [])[0].mean(axis=0)
        states, probs = c.initial_states(1), None
        for step in steps:
            probs, states = backend.run(step[None], states)
        return probs[0]

    return (lambda frames: np.stack([one(x) for x in frames])), dict(c.raw)


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--archs", is_flag=True, help="List the trainable architectures instead.")
def models_cmd(as_json: bool, archs: bool) -> None:
    """List the bundled models (name, task, labels, size, training, measured figures)."""
    if archs:                       # read from the model modules' source: no torch
        from ..archs import BASELINES, architectures
        for name, text in {**architectures(), **BASELINES}.items():
            click.echo(f"{name:<14} {text}")
        return
    from ..zoo import bundled
    models = bundled()
    if as_json:
        click.echo(json.dumps([m.to_dict() for m in models], indent=1))
        return
    if not models:
        click.echo("no bundled models")
    for m in models:
        click.echo(m.summary())

