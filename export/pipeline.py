"""``streamser export``: one checkpoint -> every artifact, verified, with a report."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamser.plugins.infer.backends import open_backend
from streamser.plugins.infer.contract import ModelContract

from . import onnx_build, report, tflite_build, verify
from .data import calibration_samples, load_sets
from .exportable import Exportable

FORMATS = ("onnx", "tflite")


def default_manifests(meta: dict[str, Any]) -> list[Path]:
    """The manifests the model was trained on, under ``$STREAMSER_DATA`` (or
    ``../shared/data``)."""
    manifests = meta.get("training", {}).get("manifests") or []
    if not manifests:
        raise ValueError("the checkpoint names no training manifest: give --calib MANIFEST")
    root = Path(os.environ.get("STREAMSER_DATA", "../shared/data"))
    paths = [root / m for m in manifests]
    for path in paths:
        if not path.is_file():
            raise ValueError(f"calibration manifest {path} not found: give --calib MANIFEST "
                             "or set STREAMSER_DATA")
    return paths


def export_model(checkpoint: Path, out: Path, *, int8: bool = True,
                 formats: tuple[str, ...] = FORMATS, calib: list[Path] | None = None,
                 board: str | None = "cortex-m4-256k", window_s: float = 2.0,
                 calib_clips: int = 48, val_clips: int = 100, tflm_steps: int = 3000,
                 activation_bits: int = 8, say: Callable[[str], None] = print,
                 progress: bool = True) -> dict[str, Any]:
    """Export, quantize, verify; write the artifacts into ``out``; return the report."""
    import torch

    from streamser.checkpoint import load

    torch.manual_seed(0)
    model, meta = load(checkpoint)
    name = meta.get("name") or checkpoint.stem
    window_steps = None
    if not model.streaming:
        from .contract import feature_hop
        window_steps = max(1, round(window_s / feature_hop(meta["frontend"])))
    exp = Exportable.from_checkpoint(model, meta, window_steps=window_steps)
    contract = ModelContract.from_json(json.dumps(exp.contract), name)
    out.mkdir(parents=True, exist_ok=True)
    manifests = calib or default_manifests(meta)
    t0 = time.perf_counter()
    calib_set, val_set = load_sets(meta, contract, manifests, calib_clips, val_clips,
                                   progress=progress)
    say(f"data: {len(calib_set.items)} calibration and {len(val_set.items)} validation clips "
        f"from {', '.join(map(str, manifests))} ({time.perf_counter() - t0:.1f} s)")
    reference = verify.ModuleBackend(exp, contract)
    artifacts: dict[str, Path] = {}
    samples = None
    if int8:
        samples = calibration_samples(contract, calib_set, reference)
        say(f"calibration: {len(samples)} samples")

    tmp = Path(tempfile.mkdtemp(prefix="streamser-export-"))
    float_onnx = (out if "onnx" in formats else tmp) / f"{name}.onnx"
    _stage(say, "ONNX", lambda: onnx_build.export_onnx(exp, float_onnx))
    if "onnx" in formats:
        artifacts["onnx"] = float_onnx
        if int8:
            path = out / f"{name}.int8.onnx"
            _stage(say, "int8 ONNX", lambda: onnx_build.quantize_onnx(exp, float_onnx, path,
                                                                      samples))
            artifacts["onnx-int8"] = path
    tflm: dict[str, Any] = {}
    if "tflite" in formats:
        flat = _stage(say, "float TFLite", lambda: tflite_build.export_tflite_float(exp))
        if int8:
            q = _stage(say, f"int8 TFLite ({activation_bits}-bit activations)",
                       lambda: tflite_build.quantize_tflite(flat, samples, activation_bits))
            q = tflite_build.with_metadata(q, {**exp.with_build("int8"),
                                               "activation_bits": activation_bits})
            path = out / f"{name}.int8.tflite"
            path.write_bytes(q)
            artifacts["tflite-int8"] = path
            tflm = _micro(q, name, out, say)
        else:
            path = out / f"{name}.tflite"
            path.write_bytes(tflite_build.with_metadata(flat, exp.with_build("float")))
            artifacts["tflite"] = path

    say(f"verifying on {val_set.steps():,} steps of {len(val_set.items)} clips")
    ref_probs, ref_time = verify.stream(reference, val_set)
    k = len(contract.labels)
    parity = {"torch": {**verify.compare(ref_probs, ref_probs, val_set.y, k),
                        "us_per_call": 1e6 * ref_time}}
    for build, path in artifacts.items():
        probs, spent = verify.stream(open_backend(path), val_set)
        parity[build] = {**verify.compare(ref_probs, probs, val_set.y, k),
                         "us_per_call": 1e6 * spent}
    if tflm.get("loads"):
        backend = verify.TflmBackend(artifacts["tflite-int8"].read_bytes(),
                                     str(artifacts["tflite-int8"]))
        probs, spent = verify.stream(backend, val_set, max_steps=tflm_steps)
        parity["tflm-int8"] = {**verify.compare(ref_probs, probs, val_set.y, k),
                               "us_per_call": 1e6 * spent}

    macs = report.onnx_macs(float_onnx)
    shutil.rmtree(tmp, ignore_errors=True)         # the float ONNX when not asked for
    rep: dict[str, Any] = {
        "name": name, "arch": meta["arch"], "checkpoint": str(checkpoint),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "mode": contract.mode,
        **({"tflite_activation_bits": activation_bits} if "tflite-int8" in artifacts else {}),
        "steps_per_second": contract.steps_per_second,
        "macs_per_call": macs, "macs_per_second": macs * contract.steps_per_second,
        "artifacts": {p.name: p.stat().st_size for p in artifacts.values()},
        "files": [str(p) for p in sorted({*out.glob(f"{name}.*"),
                                          *out.glob(f"{name}_model_data.*")})],
        "tflm": tflm,
        "validation": {"manifest": ", ".join(map(str, manifests)), "clips": len(val_set.items),
                       "steps": val_set.steps(), "calibration_clips": len(calib_set.items)},
        "parity": parity}
    if board and "tflite-int8" in artifacts:
        rep["board"] = report.verdict(report.BOARDS[board],
                                      artifacts["tflite-int8"].stat().st_size,
                                      tflm.get("arena_bytes", 0), rep["macs_per_second"],
                                      tflm.get("loads", False))
    return rep


def _stage(say: Callable[[str], None], label: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    result = fn()
    say(f"{label}: done in {time.perf_counter() - t0:.1f} s")
    return result


def _micro(model: bytes, name: str, out: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Load the int8 model in TFLite Micro, measure its arena, write the C array."""
    tensors = tflite_build.tensor_report(model)
    try:
        micro = tflite_build.Tflm(model)
        micro.run(_zero_inputs(model))
        arena, error = micro.arena_bytes(), None
        say(f"TFLite Micro: loads and runs, arena {arena:,} bytes")
    except RuntimeError as exc:           # e.g. an op TFLM limits (CONCATENATION > 10 inputs)
        arena, error = 0, f"{exc}: {getattr(exc, 'log', '')}".strip(": ")
        say(f"TFLite Micro: does NOT load ({error})")
    source, header = tflite_build.c_array(model, name, arena or None)
    (out / f"{name}_model_data.cc").write_text(source)
    (out / f"{name}_model_data.h").write_text(header)
    return {"loads": error is None, "error": error, "arena_bytes": arena, "ops": tensors["ops"],
            "input_dtypes": list(tensors["inputs"].values()),
            "output_dtypes": list(tensors["outputs"].values()),
            "float32_tensors": tensors["float32_tensors"]}


def _zero_inputs(model: bytes) -> dict[str, Any]:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=model).get_signature_runner().get_input_details()
    return {n: np.zeros(d["shape"], d["dtype"]) for n, d in details.items()}
