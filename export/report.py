"""The export report: sizes, parameters, MACs, TFLite Micro arena and ops, parity of every
build, and a budget verdict against a target board."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Board:
    """A target board's budget for the model (planning figures, see docs/export.md):
    the model may take half the flash and half the RAM (the rest is firmware, audio
    buffers and the front-end), and a quarter of the CPU's int8 MAC rate."""

    name: str
    flash_kib: int
    ram_kib: int
    mhz: int
    macs_per_cycle: float

    @property
    def model_flash(self) -> int:
        return self.flash_kib * 1024 // 2

    @property
    def model_ram(self) -> int:
        return self.ram_kib * 1024 // 2

    @property
    def model_macs_per_second(self) -> float:
        return self.mhz * 1e6 * self.macs_per_cycle / 4


BOARDS = {b.name: b for b in (
    Board("cortex-m4-256k", flash_kib=1024, ram_kib=256, mhz=80, macs_per_cycle=0.5),
    Board("cortex-m7-512k", flash_kib=2048, ram_kib=512, mhz=216, macs_per_cycle=1.0),
    Board("esp32-s3", flash_kib=8192, ram_kib=512, mhz=240, macs_per_cycle=1.0),
)}


def onnx_macs(path: Path) -> int:
    """Multiply-accumulates of one call of a float ONNX model (batch 1): MatMul, Gemm,
    Conv and recurrent ops; element-wise work is not counted."""
    import numpy as np
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(path))
    for value in [*model.graph.input, *model.graph.output]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.ClearField("dim_param")
                dim.dim_value = 1
    model = shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, list[int]] = {}
    for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        shapes[v.name] = [d.dim_value for d in v.type.tensor_type.shape.dim]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    total = 0
    for node in model.graph.node:
        out = shapes.get(node.output[0]) if node.output else None
        ins = [shapes.get(i) for i in node.input]
        if node.op_type in ("MatMul", "Gemm") and out and ins[0]:
            k = ins[0][-1]
            if node.op_type == "Gemm" and any(a.name == "transA" and a.i for a in node.attribute):
                k = ins[0][0]
            total += int(np.prod(out)) * k
        elif node.op_type == "Conv" and out and ins[1]:
            total += int(np.prod(out)) * int(np.prod(ins[1][1:]))
        elif node.op_type in ("LSTM", "GRU") and ins[0] and ins[1] and ins[2]:
            seq, batch, _ = ins[0]
            dirs, gates_h, inp = ins[1]
            hidden = ins[2][2]
            total += seq * batch * dirs * gates_h * (inp + hidden)
    return total


def verdict(board: Board, flash_bytes: int, arena_bytes: int, macs_per_second: float,
            loads: bool = True) -> dict[str, Any]:
    """Each budget used vs allowed; a model TFLite Micro cannot load never fits."""
    checks = {"flash": (flash_bytes, board.model_flash),
              "ram": (arena_bytes, board.model_ram),
              "compute": (macs_per_second, board.model_macs_per_second)}
    return {"board": board.name, "tflm_loads": loads,
            "fits": loads and all(v <= lim for v, lim in checks.values()),
            **{k: {"used": v, "budget": lim, "ok": v <= lim} for k, (v, lim) in checks.items()}}


def render(report: dict[str, Any]) -> str:
    """The report as plain text lines."""
    r = report
    lines = [(f"{r['name']} ({r['arch']}, {r['parameters']:,} parameters, {r['mode']} model, "
              f"{r['steps_per_second']:g} calls per second of audio)"),
             (f"  MACs: {r['macs_per_call']:,} per call, {r['macs_per_second'] / 1e6:.2f} M per "
              "second of audio")]
    for name, size in r["artifacts"].items():
        lines.append(f"  {name}: {size / 1024:.1f} KiB")
    if r.get("tflm"):
        t = r["tflm"]
        if t["loads"]:
            lines.append(f"  TFLite Micro: loads and runs; arena {t['arena_bytes']:,} bytes; "
                         f"ops {', '.join(t['ops'])}")
        else:
            lines.append(f"  TFLite Micro: does NOT load: {t['error']}")
        lines.append(f"  int8 TFLite ({r.get('tflite_activation_bits', 8)}-bit activations): "
                     f"inputs {sorted(set(t['input_dtypes']))}, "
                     f"float32 tensors: {len(t['float32_tensors'])}")
    lines.append(f"  parity with PyTorch on {r['validation']['clips']} validation clips "
                 f"({r['validation']['manifest']}, groups unseen by calibration; resolved: "
                 "steps where float's two best classes are > 2/256 apart):")
    for build, p in r["parity"].items():
        lines.append(f"    {build:12s} {p['steps']:7,d} steps  max|dp| {p['max_abs_error']:.2e}  "
                     f"argmax agree {100 * p['argmax_agreement']:6.2f} % "
                     f"({100 * p['resolved_agreement']:6.2f} % of the "
                     f"{100 * p['resolved']:.0f} % resolved)  UA {100 * p['ua']:5.1f} %"
                     f"  WA {100 * p['wa']:5.1f} %  {p['us_per_call']:8.1f} us/call")
    v = r.get("board")
    if v:
        ok = "fits" if v["fits"] else "does NOT fit"
        lines.append(f"  board {v['board']}: {ok} (flash {v['flash']['used'] / 1024:.0f}/"
                     f"{v['flash']['budget'] / 1024:.0f} KiB, RAM {v['ram']['used'] / 1024:.0f}/"
                     f"{v['ram']['budget'] / 1024:.0f} KiB, compute "
                     f"{v['compute']['used'] / 1e6:.2f}/{v['compute']['budget'] / 1e6:.0f} MMAC/s)")
    return "\n".join(lines)
