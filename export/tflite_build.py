"""PyTorch -> float TFLite (litert-torch) -> full-integer TFLite (ai-edge-quantizer: int8
weights; int8 activations and I/O, or int16 ones, TFLite's "16x8" mode), metadata, and
the C array a TFLite Micro firmware links.

The quantizer's default calibration keeps a moving average of each tensor's min/max,
which clips the ranges a stream reaches only now and then; plain min/max over all
calibration samples is used instead.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from streamser.plugins.infer.contract import METADATA_KEY

from streamser.models.unroll import unrolling

from .exportable import Exportable


@contextlib.contextmanager
def _quiet():
    """Silence the converters' progress lines and log spam (Python side)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            yield
        finally:
            logging.disable(previous)


def export_tflite_float(exp: Exportable) -> bytes:
    import litert_torch

    example = {n: torch.from_numpy(v) for n, v in exp.example(1).items()}
    module = _Named(exp.module, exp.input_names)
    with _quiet(), tempfile.TemporaryDirectory() as tmp, unrolling():
        edge = litert_torch.convert(module.eval(), sample_kwargs=example)
        edge.export(str(Path(tmp) / "model.tflite"))
        return (Path(tmp) / "model.tflite").read_bytes()


class _Named(torch.nn.Module):
    """Keyword inputs, so the TFLite signature keeps the contract's input names."""

    def __init__(self, module: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.module, self.names = module, names

    def forward(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.module(*(inputs[n] for n in self.names))


def quantize_tflite(float_model: bytes, samples: list[dict[str, np.ndarray]],
                    activation_bits: int = 8) -> bytes:
    """Integer only, min/max calibration: int8 weights; activations, inputs and outputs
    int8, or int16 with ``activation_bits=16`` (for models whose outputs or attention
    weights are finer than an int8 step; TFLite Micro runs both, 16x8 with about twice
    the arena)."""
    from ai_edge_quantizer import quantizer, recipe
    from ai_edge_quantizer.calibrator import Calibrator
    from ai_edge_quantizer.utils import qsv_utils

    if activation_bits not in (8, 16):
        raise ValueError(f"activation bits must be 8 or 16, not {activation_bits}")
    chosen = recipe.static_wi8_ai8() if activation_bits == 8 else recipe.static_wi8_ai16()
    q = quantizer.Quantizer(float_model, chosen)
    with _quiet():
        calib = Calibrator(float_model, num_threads=1, qsv_update_func=qsv_utils.min_max_update)
        calib.calibrate({"serving_default": samples}, q._recipe_manager)
        result = q.quantize(calib.get_model_qsvs(), enable_progress_report=False)
    return bytes(result.quantized_model)


def with_metadata(model: bytes, contract: dict[str, Any]) -> bytes:
    """The model with a ``streamser`` metadata entry holding the contract JSON, and its
    tensors renamed ``t<index>``: the converter's names are module paths that took half
    the bytes of an unrolled model, and nothing reads them (the signatures, which keep the
    contract's input and output names, are what the runtimes address)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    for buffer in obj.buffers:        # large models keep weights after the flatbuffer
        if getattr(buffer, "offset", 0) > 1:
            buffer.data = np.frombuffer(model, np.uint8, buffer.size, buffer.offset)
            buffer.offset, buffer.size = 0, 0
    for graph in obj.subgraphs:
        for i, tensor in enumerate(graph.tensors):
            tensor.name = f"t{i}"
    obj.metadata = [m for m in (obj.metadata or []) if m.name != METADATA_KEY.encode()
                    and m.name != METADATA_KEY]
    buf = schema.BufferT()
    buf.data = np.frombuffer(json.dumps(contract).encode(), np.uint8)
    obj.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_KEY, len(obj.buffers) - 1
    obj.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def tensor_report(model: bytes) -> dict[str, Any]:
    """Ops, and the dtypes of inputs, outputs and constant tensors (weights)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    runner = it.get_signature_runner()
    tensors = it.get_tensor_details()
    float_tensors = [t["name"] for t in tensors if t["dtype"] == np.float32]
    return {"ops": sorted({o["op_name"] for o in it._get_ops_details()}),
            "inputs": {k: np.dtype(v["dtype"]).name for k, v in runner.get_input_details().items()},
            "outputs": {k: np.dtype(v["dtype"]).name
                        for k, v in runner.get_output_details().items()},
            "float32_tensors": float_tensors}


def c_array(model: bytes, name: str, arena_bytes: int | None) -> tuple[str, str]:
    """``NAME_model_data.cc`` and ``.h``: the model as an aligned byte array, its length,
    and the tensor arena size TFLite Micro measured for it (plus 10 % headroom)."""
    ident = "".join(c if c.isalnum() else "_" for c in name)
    arena = int(arena_bytes * 1.1 + 1023) // 1024 * 1024 if arena_bytes else 0
    header = (f"// {name}: full-int8 TFLite model for TensorFlow Lite Micro (streamser export).\n"
              f"#pragma once\n#include <cstddef>\n\n"
              f"extern const unsigned char g_{ident}_model_data[];\n"
              f"extern const unsigned int g_{ident}_model_data_len;\n"
              f"// Arena measured by TFLite Micro's RecordingMicroAllocator: {arena_bytes} bytes.\n"
              f"constexpr size_t k{ident.title().replace('_', '')}ArenaSize = {arena};\n")
    rows = [", ".join(f"0x{b:02x}" for b in model[i:i + 12]) for i in range(0, len(model), 12)]
    source = (f'#include "{name}_model_data.h"\n\n'
              f"alignas(16) const unsigned char g_{ident}_model_data[] = {{\n  "
              + ",\n  ".join(rows) + "\n};\n"
              f"const unsigned int g_{ident}_model_data_len = {len(model)};\n")
    return source, header


def io_order(model: bytes) -> tuple[list[str], list[str]]:
    """Signature names of the subgraph's inputs and outputs in index order (TFLite Micro
    addresses tensors by that index only)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    runner = it.get_signature_runner()
    by_index_in = {d["index"]: n for n, d in runner.get_input_details().items()}
    by_index_out = {d["index"]: n for n, d in runner.get_output_details().items()}
    return ([by_index_in[d["index"]] for d in it.get_input_details()],
            [by_index_out[d["index"]] for d in it.get_output_details()])


class Tflm:
    """A model loaded in TFLite Micro's Python runtime (the reference kernels and memory
    planner a firmware gets); inputs and outputs are addressed in the model's order."""

    def __init__(self, model: bytes, arena_size: int = 1 << 18,
                 max_arena: int = 1 << 27) -> None:
        from tflite_micro import runtime

        # A short arena fails in many ways (the allocator's message, or a kernel's Prepare
        # whose persistent buffer came back empty): on any failure, try once more with
        # ``max_arena``, and raise that error if it fails too. The arena figure reported
        # is what the model uses, whatever was offered.
        for size in (arena_size, max_arena):
            try:
                with _c_stderr() as log:
                    self.interp = runtime.Interpreter.from_bytes(model, arena_size=size)
                break
            except RuntimeError as exc:
                if size >= max_arena:
                    exc.log = " ".join(log.text.split())   # type: ignore[attr-defined]
                    raise
        self.inputs, self.outputs = io_order(model)

    def run(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One invoke on raw (already quantized) tensors, by signature name."""
        for i, name in enumerate(self.inputs):
            self.interp.set_input(values[name], i)
        self.interp.invoke()
        return {name: self.interp.get_output(i).copy() for i, name in enumerate(self.outputs)}

    def arena_bytes(self) -> int:
        """Arena in use, as the RecordingMicroAllocator prints it on C stderr (call after
        one invoke)."""
        with _c_stderr() as log:
            self.interp.print_allocations()
        return next((int(line.split()[-2]) for line in log.text.splitlines()
                     if "Arena allocation total" in line), 0)


class _Captured:
    text = ""


@contextlib.contextmanager
def _c_stderr() -> Any:
    """Capture what C code writes on file descriptor 2 (TFLite Micro's log)."""
    captured = _Captured()
    with tempfile.TemporaryFile() as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            captured.text = log.read().decode(errors="replace")
