"""infer: run an exported model (ONNX, TFLite, or a checkpoint) on features or patches.

The model file's metadata says everything (labels, normalization, step or window, state
shapes): a stateful model takes one feature row (or patch) per step and keeps its
recurrent state per stream, reset on a stream gap; a window model takes one patch of
exactly its window length per call. Emits ``scores`` frames (class probabilities, meta
``labels``, ``upto``, ``hop``).
"""
from __future__ import annotations

import difflib
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, ParamProblem, Params
from streamser.ports import Port
from streamser.streams import StreamStates
from streamser.zoo import BUILDS

from .backends import BY_SUFFIX, RUNTIMES, Backend, open_backend


class InferParams(Params):
    model: str = Field(description="Model file (.onnx, .tflite, .pt; relative to the graph "
                                   "file's folder) or bundled model name.",
                       json_schema_extra={"file": "model"})
    build: str | None = Field(None, description="For a bundled model: which build, e.g. "
                                                "'.onnx' or '.int8.tflite' (default: the "
                                                "first of .int8.tflite, .int8.onnx, .onnx: "
                                                "the build boards run; 'fastest': the one "
                                                "measured fastest on this machine, once).")
    backend: Literal["auto", "onnx", "tflite", "torch"] = Field(
        "auto", description="Runtime; auto picks by file suffix.")
    every: int = Field(1, ge=1, le=10000, description="Stateful models: emit scores every "
                                                      "N steps (every step is still run).")
    threads: int = Field(1, ge=1, le=64, description="Backend threads.")


def model_problem(model: str, exc: Exception) -> ParamProblem:
    """Why a ``model`` param names no model: a missing file (its absolute path), an
    unknown bundled name (the near miss), or a build that model is not shipped in."""
    from streamser.zoo import bundled
    names = [m.name for m in bundled()]
    if model in names:
        return ParamProblem(str(exc), "build")
    if Path(model).is_absolute():
        return ParamProblem(f"no such model file: {model}", "model")
    close = difflib.get_close_matches(model, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return ParamProblem(f"'{model}' is neither a model file nor a bundled model ({hint}"
                        f"bundled: {', '.join(names)})", "model")


def _model_file(params: InferParams, measure: bool = True) -> Path:
    """The model file: as given, the named build, the default build, or (``build:
    fastest``) the fastest runtime build here (without ``measure``: any one, to check)."""
    from streamser.zoo import artifact
    if params.build == "fastest":
        from .fastest import builds, fastest
        if measure:
            return fastest(params.model, params.threads)
        found = builds(params.model)
        if not found:
            raise FileNotFoundError(f"{params.model}: build 'fastest' needs a bundled model "
                                    "with runtime builds")
        return found[0]
    return artifact(params.model, params.build)


@dataclass
class _Stream:
    states: list[np.ndarray]
    steps: int = 0
    seq: int = 0
    gap: bool = False


class Infer(Node):
    """Model inference (ONNX / TFLite / checkpoint) on features or patches -> scores."""

    Params = InferParams
    inputs = ("features", "patch")
    outputs = ("scores",)
    params: InferParams

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        return None                           # emits scores, not audio

    @classmethod
    def requirements(cls, params: Params) -> list[str]:
        from streamser.node import missing_module
        assert isinstance(params, InferParams)
        try:
            path = _model_file(params, measure=False)
        except FileNotFoundError as exc:
            return [model_problem(params.model, exc)]
        backend = params.backend if params.backend != "auto" else BY_SUFFIX.get(path.suffix)
        module, extra = RUNTIMES.get(backend or "", ("", ""))
        return missing_module(module, extra, f"{path.name}") if module else []

    @classmethod
    def plan(cls, params: Params) -> str:
        """Which model file the node will load, and why (``streamser validate`` says it)."""
        assert isinstance(params, InferParams)
        if params.build == "fastest":
            from .fastest import remembered
            known = remembered(params.model)
            return (f"{known.name} (measured fastest on this machine)" if known else
                    f"{params.model}: the fastest build, measured at first start")
        path = _model_file(params, measure=False)
        why = (f"build {params.build}" if params.build else "the file given"
               if Path(params.model).is_file() else
               f"the first of {', '.join(BUILDS[:3])} it ships: the build boards run")
        return f"{path.name} ({why})"

    def start(self) -> None:
        path = _model_file(self.params)
        self.backend: Backend = open_backend(path, self.params.backend,
                                             self.params.threads)
        self.contract = self.backend.contract
        if self.contract.mode == "utterance":
            raise ValueError(f"{self.name}: {self.params.model} is an utterance model; run it "
                             "with classify.utterance")
        self._streams: StreamStates[_Stream] = self.stream_states()

    def _stream(self, frame: Frame) -> _Stream:
        st = self._streams.get(frame.stream)
        if st is None or frame.meta.get("gap"):
            st = _Stream(self.contract.initial_states(1), seq=st.seq if st else 0,
                         gap=bool(frame.meta.get("gap")))
            self._streams[frame.stream] = st
        return st

    def port(self, kind: str) -> Port | None:
        """Patches of exactly the model's input shape; feature rows of its width."""
        base = super().port(kind)
        c = self.contract
        if base is None:
            return None
        if c.mode == "window" or len(c.x_shape) > 1:
            return replace(base, shape=tuple(c.x_shape))
        return base.with_width(c.x_shape[0])

    def _check(self, data: np.ndarray, expected: tuple[int, ...]) -> None:
        if tuple(data.shape) != expected:
            feats = "+".join(f["plugin"] for f in self.contract.raw["frontend"]["features"])
            raise ValueError(f"{self.name}: model {self.contract.name} expects inputs of shape "
                             f"{list(expected)} (front-end {feats}), got {list(data.shape)}")

    def process(self, frame: Frame) -> list[Frame]:
        return self._emit(self._steps(frame))

    def process_batch(self, frames: list[Frame]) -> list[Frame]:
        """Frames of several streams at once (the threads/processes executors hand over
        what is waiting): each round runs the next step of every stream that has one in
        one backend call (ONNX takes them as one batch), state fed back per stream. The
        frames of each stream come out in order, as from :meth:`process`."""
        if not self.contract.stateful or any(f.meta.get("gap") for f in frames):
            return [out for f in frames for out in self.process(f)]
        states: dict[str, _Stream] = {}
        pending: dict[str, deque[tuple]] = {}
        for frame in frames:
            st, steps, info = self._steps(frame)
            states[frame.stream] = st
            pending.setdefault(frame.stream, deque()).extend((*s, info) for s in steps)
        out: list[Frame] = []
        while any(pending.values()):
            live = [k for k, v in pending.items() if v]
            heads = [pending[k].popleft() for k in live]
            x = np.stack([self.contract.normalize(h[0]) for h in heads])
            batch_states = [np.concatenate([states[k].states[i] for k in live])
                            for i in range(len(self.contract.states))]
            probs, new = self.backend.run(x, batch_states)
            for j, (k, head) in enumerate(zip(live, heads)):
                st = states[k]
                st.states = [s[j:j + 1] for s in new]
                out += self._after_step(st, probs[j], head)
        return out

    def _steps(self, frame: Frame) -> tuple[_Stream, list[tuple], dict]:
        """The stream's state, its (x, t, upto) steps in this frame, and output meta."""
        st = self._stream(frame)
        c = self.contract
        hop = float(frame.meta.get("hop", 0.01))
        if c.mode == "window" or len(c.x_shape) > 1:          # one call per patch
            self._check(frame.data, c.x_shape)
            steps = [(frame.data, frame.t, frame.meta.get("upto", frame.t))]
            out_hop = hop                                        # window.patch: patch hop
        else:                                                   # one call per feature row
            if frame.data.ndim != 2:
                raise ValueError(f"{self.name}: expects (rows, dims) features")
            self._check(frame.data[:1], (1, *c.x_shape))
            win = float(frame.meta.get("win", hop))
            steps = [(row, frame.t + i * hop, frame.t + i * hop + win)
                     for i, row in enumerate(frame.data)]
            out_hop = hop * self.params.every
        return st, steps, {"stream": frame.stream, "hop": out_hop}

    def _emit(self, job: tuple[_Stream, list[tuple], dict]) -> list[Frame]:
        st, steps, meta = job
        out = []
        for x, t, upto in steps:
            probs, st.states = self.backend.run(self.contract.normalize(x)[None], st.states)
            out += self._after_step(st, probs[0], (x, t, upto, meta))
        return out

    def _after_step(self, st: _Stream, probs: np.ndarray, step: tuple) -> list[Frame]:
        """Count the step; a scores frame when one is due."""
        _x, t, upto, info = step
        c = self.contract
        st.steps += 1
        if c.stateful and st.steps % self.params.every:
            return []
        meta = {"labels": list(c.labels), "upto": float(upto), "hop": info["hop"],
                "model": c.name}
        if st.gap:
            meta["gap"], st.gap = True, False
        frame = Frame("scores", probs.astype(np.float32), t=float(t), seq=st.seq,
                      stream=info["stream"], meta=meta)
        st.seq += 1
        return [frame]
