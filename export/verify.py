"""Run every build of an exported model over the same real clips, state fed back, and
compare it with PyTorch: max probability error, argmax agreement per step, UA and WA."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from streamser.plugins.infer.backends import Backend, TfliteBackend
from streamser.plugins.infer.contract import ModelContract

from .data import ClipSet
from .exportable import Exportable
from .tflite_build import Tflm


class ModuleBackend(Backend):
    """The exported PyTorch module itself (the reference every build is compared with)."""

    kind = "torch"

    def __init__(self, exp: Exportable, contract: ModelContract) -> None:
        self.exp, self.contract = exp, contract
        self._names = [s.name for s in contract.states]

    def run(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray,
                                                                    list[np.ndarray]]:
        out = self.exp.run({"x": x, **dict(zip(self._names, states))})
        return out["probs"], [out[s.output] for s in self.contract.states]


class TflmBackend(Backend):
    """A full-int8 TFLite model in TFLite Micro, quantized like :class:`TfliteBackend`."""

    kind = "tflm"

    def __init__(self, model: bytes, path: str) -> None:
        self.lite = TfliteBackend(path, reference=True)
        self.contract = self.lite.contract
        self.micro = Tflm(model)
        names_in = ["x", *(s.name for s in self.contract.states)]
        names_out = ["probs", *(s.output for s in self.contract.states)]
        self._in = list(zip(names_in, self.lite._in))
        self._out = list(zip(names_out, self.lite._out))

    def run(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray,
                                                                    list[np.ndarray]]:
        raw = self.micro.run({n: self.lite._quantize(v, d)
                              for (n, d), v in zip(self._in, [x, *states])})
        outs = [self.lite._dequantize(raw[n], d) for n, d in self._out]
        return outs[0], outs[1:]


def stream(backend: Backend, clips: ClipSet, max_steps: int | None = None,
           tick: Callable[[int], None] | None = None) -> tuple[list[np.ndarray], float]:
    """Per clip, the probabilities after every step (one row per window for window
    models); and the mean seconds per call. Stops after ``max_steps`` calls."""
    contract, out, calls, spent = backend.contract, [], 0, 0.0
    for item in clips.items:
        states = contract.initial_states(1)
        rows = []
        for x in item:
            t0 = time.perf_counter()
            probs, states = backend.run(x[None], states)
            spent += time.perf_counter() - t0
            rows.append(probs[0])
            calls += 1
        out.append(np.stack(rows))
        if tick:
            tick(len(item))
        if max_steps and calls >= max_steps:
            break
    return out, spent / max(calls, 1)


def recall_scores(pred: np.ndarray, y: np.ndarray, k: int) -> dict[str, float]:
    recalls = [float((pred[y == c] == c).mean()) for c in range(k) if (y == c).any()]
    return {"ua": float(np.mean(recalls)), "wa": float((pred == y).mean())}


#: An int8 probability output has 256 levels on [0, 1]: classes closer than this in float
#: can tie or swap in int8 whatever the rest of the model does.
INT8_PROB_STEP = 1 / 256


def compare(reference: list[np.ndarray], build: list[np.ndarray], y: np.ndarray,
            k: int) -> dict[str, Any]:
    """Figures of one build against the PyTorch reference over the clips it ran:
    ``argmax_agreement`` over every step, and ``resolved_agreement`` over the steps where
    float's two best classes are more than two int8 output steps apart (``resolved``: the
    share of such steps)."""
    ref = np.concatenate(reference[:len(build)])
    got = np.concatenate(build)
    last = np.array([p[-1].argmax() for p in build])
    top2 = np.sort(ref, axis=1)[:, -2:] if ref.shape[1] > 1 else np.ones((len(ref), 2))
    resolved = top2[:, 1] - top2[:, 0] > 2 * INT8_PROB_STEP
    agree = ref.argmax(1) == got.argmax(1)
    return {"steps": len(got), "clips": len(build),
            "max_abs_error": float(np.abs(ref - got).max()),
            "argmax_agreement": float(agree.mean()),
            "resolved": float(resolved.mean()),
            "resolved_agreement": float(agree[resolved].mean()) if resolved.any() else 1.0,
            **recall_scores(last, y[:len(build)], k)}
