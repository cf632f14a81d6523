"""``streamser export``: the click command (torch and the converters load only when run)."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import click

from .errors import fail

from ..export.report import BOARDS


@click.command("export")
@click.argument("model")
@click.option("--int8", is_flag=True, help="Also build int8 ONNX and full-int8 TFLite "
              "(calibrated on real audio), the C array and the TFLite Micro check.")
@click.option("--format", "formats", default="onnx,tflite", show_default=True,
              help="Comma-separated: onnx, tflite.")
@click.option("--calib", type=click.Path(dir_okay=False), multiple=True,
              help="Manifest(s) for calibration and validation clips (repeatable; default: "
                   "the model's training manifests).")
@click.option("--out", default="exported", show_default=True, type=click.Path(file_okay=False),
              help="Output folder.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False),
              help="Also write the report as JSON.")
@click.option("--board", type=click.Choice(sorted(BOARDS)), default="cortex-m4-256k",
              show_default=True, help="Target board for the budget verdict.")
@click.option("--window", "window_s", type=float, default=2.0, show_default=True,
              help="Seconds per window for models that are not streaming (step) models.")
@click.option("--val-clips", type=int, default=100, show_default=True,
              help="Validation clips streamed through every build.")
@click.option("--calib-clips", type=int, default=48, show_default=True,
              help="Calibration clips (from groups the validation clips do not use).")
@click.option("--activations", "activation_bits", type=click.Choice(["8", "16"]),
              default="8", show_default=True,
              help="Activation (and input/output) bits of the int8 TFLite: 16 is TFLite's "
                   "16x8 mode (int8 weights), for models whose outputs are finer than an "
                   "int8 step; TFLite Micro runs it with about twice the arena.")
@click.option("--tflm-steps", type=int, default=3000, show_default=True,
              help="Steps run in TFLite Micro (slow) for its parity figures.")
def export_cmd(model: str, int8: bool, formats: str, calib: tuple[str, ...], out: str,
               report_file: str | None, board: str, window_s: float, val_clips: int,
               calib_clips: int, activation_bits: str, tflm_steps: int) -> None:
    """Export MODEL (a checkpoint or a bundled model name) to ONNX and TFLite, verified.

    Stateful models export one step (x, state_* -> probs, new_state_*), others one window;
    the contract (labels, front-end, normalization, states) is in each file's metadata.
    """
    missing = [m for m in ("torch", "onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    chosen = tuple(f.strip() for f in formats.split(",") if f.strip())
    bad = set(chosen) - {"onnx", "tflite"}
    if bad:
        fail(f"unknown format(s) {', '.join(sorted(bad))} (choose from onnx, tflite)")
    if "tflite" in chosen:
        missing += [m for m in ("litert_torch", "ai_edge_quantizer", "ai_edge_litert")
                    if importlib.util.find_spec(m) is None]
        if int8 and importlib.util.find_spec("tflite_micro") is None:
            missing.append("tflite_micro")
    if missing:
        fail(f"{', '.join(missing)} not installed: pip install 'streamser[export]'")
    from streamser.quiet import native_stderr, quiet_libraries
    from streamser.zoo import resolve
    quiet_libraries()               # the converters' warnings and log lines: -v shows them
    try:
        with native_stderr() as err:
            from ..export.pipeline import export_model
            from ..export.report import render
            checkpoint = resolve(model)
            rep = export_model(Path(checkpoint), Path(out), int8=int8, formats=chosen,
                               calib=[Path(c) for c in calib] or None, board=board,
                               window_s=window_s, calib_clips=calib_clips,
                               val_clips=val_clips, tflm_steps=tflm_steps,
                               activation_bits=int(activation_bits),
                               say=lambda m: click.echo(m, file=err))
    except Exception as exc:  # one line, not a traceback (STREAMSER_DEBUG=1 shows it)
        if os.environ.get("STREAMSER_DEBUG"):
            raise
        fail(f"export failed: {type(exc).__name__}: {exc}")
    click.echo(render(rep))
    if report_file:
        Path(report_file).write_text(json.dumps(rep, indent=1) + "\n")
