"""Inference backends behind one call: ``run(x, states) -> (probs, new_states)``.

All take and return float32 with the batch on axis 0; an int8 TFLite backend quantizes
inputs with each input's own scale and dequantizes outputs, so recurrent state crosses
steps in float and is requantized on the way back in (the output scale of a new state
differs from the input scale of the state it replaces).

- :class:`OnnxBackend`: onnxruntime, float or int8 (QDQ) ONNX; batches natively.
- :class:`TfliteBackend`: LiteRT (``ai_edge_litert``), or ``tflite_runtime`` when only
  that is installed; float or full-int8 TFLite; a batch runs item by item.
- :class:`TorchBackend`: a training checkpoint, for debugging (needs the ``train`` extra).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from streamser.quiet import native_stderr

from .contract import METADATA_KEY, ContractError, ModelContract
from .tflite_meta import read_metadata

BACKENDS = ("onnx", "tflite", "torch")


class Backend:
    kind: str = ""
    contract: ModelContract

    def run(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray,
                                                                    list[np.ndarray]]:
        raise NotImplementedError


class OnnxBackend(Backend):
    kind = "onnx"

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = threads
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise ContractError(f"{path}: no streamser metadata (export it with "
                                "`streamser export`)")
        self.contract = ModelContract.from_json(meta[METADATA_KEY], str(path))
        self._in = ["x", *(s.name for s in self.contract.states)]
        self._out = ["probs", *(s.output for s in self.contract.states)]

    def run(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray,
                                                                    list[np.ndarray]]:
        out = self.session.run(self._out, dict(zip(self._in, [x, *states])))
        return out[0], out[1:]


def _tflite_interpreter(content: bytes, threads: int, reference: bool) -> Any:
    try:
        from ai_edge_litert import interpreter as tfl
    except ImportError:
        try:
            from tflite_runtime import interpreter as tfl  # type: ignore[no-redef]
        except ImportError:
            raise ImportError("running .tflite models needs ai-edge-litert (or "
                              "tflite-runtime): pip install ai-edge-litert") from None
    kwargs: dict[str, Any] = {"model_content": content, "num_threads": threads}
    if reference:   # the built-in kernels only, as TFLite Micro has them (no XNNPACK)
        kwargs["experimental_op_resolver_type"] = \
            tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return tfl.Interpreter(**kwargs)


class TfliteBackend(Backend):
    kind = "tflite"

    def __init__(self, path: str | Path, threads: int = 1, reference: bool = False) -> None:
        content = Path(path).read_bytes()
        meta = read_metadata(content, METADATA_KEY)
        if meta is None:
            raise ContractError(f"{path}: no streamser metadata (export it with "
                                "`streamser export`)")
        self.contract = ModelContract.from_json(meta, str(path))
        with native_stderr():       # LiteRT's "Created ... XNNPACK delegate" INFO line
            self.interp = _tflite_interpreter(content, threads, reference)
            self.interp.allocate_tensors()
        runner = self.interp.get_signature_runner()
        ins, outs = runner.get_input_details(), runner.get_output_details()
        self._in = [ins[n] for n in ["x", *(s.name for s in self.contract.states)]]
        self._out = [outs[n] for n in ["probs", *(s.output for s in self.contract.states)]]
        self.input_dtype = np.dtype(self._in[0]["dtype"])    # int8, int16 (16x8) or float32

    @staticmethod
    def _quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
        scale, zero = detail["quantization"]
        if detail["dtype"] == np.float32 or not scale:
            return x.astype(detail["dtype"])
        info = np.iinfo(detail["dtype"])
        return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(detail["dtype"])

    @staticmethod
    def _dequantize(q: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
        scale, zero = detail["quantization"]
        if q.dtype == np.float32 or not scale:
            return q.astype(np.float32)
        return ((q.astype(np.float32) - zero) * scale).astype(np.float32)

    def run_one(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """One call with batch 1: inputs in contract order (x, states), float32."""
        for value, d in zip(inputs, self._in):
            self.interp.set_tensor(d["index"], self._quantize(value, d))
        self.interp.invoke()
        return [self._dequantize(self.interp.get_tensor(d["index"]), d) for d in self._out]

    def run(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray,
                                                                    list[np.ndarray]]:
        rows = [self.run_one([x[b:b + 1], *(s[b:b + 1] for s in states)])
                for b in range(len(x))]
        outs = [np.concatenate(col) for col in zip(*rows)]
        return outs[0], outs[1:]


class TorchBackend(Backend):
    kind = "torch"

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import torch

        from streamser.checkpoint import load
        from streamser.export.contract import contract_for

        torch.set_num_threads(threads)
        self.model, meta = load(path)
        self.contract = ModelContract.from_json(contract_for(self.model, meta), str(path))
        self._torch = torch

    def run(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray,
                                                                    list[np.ndarray]]:
        torch = self._torch
        with torch.inference_mode():
            xt = torch.from_numpy(np.ascontiguousarray(x))
            if self.contract.stateful:
                logits, new = self.model.step(xt, tuple(torch.from_numpy(s) for s in states))
                new_states = [t.numpy() for t in new]
            else:
                lengths = torch.full((len(x),), x.shape[1], dtype=torch.long)
                logits, new_states = self.model(xt, lengths), []
            return torch.softmax(logits, -1).numpy(), new_states


#: Backend of each model suffix, and the module (and extra) each backend needs.
BY_SUFFIX = {".onnx": "onnx", ".tflite": "tflite", ".pt": "torch"}
RUNTIMES = {"onnx": ("onnxruntime", "vad"), "tflite": ("ai_edge_litert", "export"),
            "torch": ("torch", "train")}


def open_backend(path: str | Path, backend: str = "auto", threads: int = 1) -> Backend:
    """The backend for a model file: by suffix unless ``backend`` names one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    if backend == "auto":
        backend = BY_SUFFIX.get(path.suffix, "")
        if not backend:
            raise ValueError(f"{path}: unknown model suffix (expected .onnx, .tflite or .pt)")
    if backend == "onnx":
        return OnnxBackend(path, threads)
    if backend == "tflite":
        return TfliteBackend(path, threads)
    if backend == "torch":
        return TorchBackend(path, threads)
    raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
