"""classify.utterance: one guess per utterance (or per episode's first seconds) from an
utterance-level ONNX model (``mode: utterance`` in its contract: ``emodb-ser``,
``cry-need-cal``), run with onnxruntime.

Audio in. Per stream, an utterance is a run of audio frames: it ends at a frame with
meta ``gap`` (a gate dropped audio before it), at a frame with meta ``active: false``
(``vad.* mode: annotate``), at ``max_seconds``, or at the end of the stream. Its audio
goes through the model's front-end as it arrives (the same ``features.*`` nodes, which
give the same rows streamed as offline); at its end the rows are standardized, reduced
to functionals (``streamser.dsp.functionals.utterance_stats``) and classified.

Standardization: with ``adapt`` (default when the model was trained that way), a per-
stream :class:`~streamser.dsp.functionals.RunningNorm` starts from the training corpus'
frame statistics (in the model file) and absorbs each utterance before judging it, so a
new speaker needs no enrolment; it persists across the stream's utterances (a gap ends
an utterance, not the speaker). Without it, the corpus statistics standardize.

Probabilities: a calibrated model (metadata ``train_prior``) gives probabilities under
its training class frequencies; ``prior`` re-weighs them to the frequencies this robot
meets (``p(c) ∝ p_model(c) · prior(c) / train_prior(c)``, normalized). ``label`` is the
top class when its probability reaches ``min_confidence`` (default: the model's, chosen
on cross-validation; 1 names none: the model does not beat the prior), else ``null``:
the robot can tell "I don't know" from a guess.

Output: ``scores`` frames (probabilities; meta ``labels``, ``label``, ``min_confidence``,
``start``, ``end``, ``upto``, ``final``; with ``every``, running guesses while an
utterance goes on, ``final: false``), or with ``event`` set, one ``event`` frame per
utterance: ``{"event": EVENT, "stream", "t": start, "emitted_at": end, "start", "end",
"label", "label_scores"}``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field

from streamser.dsp.functionals import RunningNorm, utterance_stats
from streamser.frames import Frame
from streamser.node import Node, Params
from streamser.streams import StreamStates


class UtteranceParams(Params):
    model: str = Field(description="Utterance model: bundled name (emodb-ser, "
                                   "cry-need-cal) or .onnx file.")
    prior: dict[str, float] | None = Field(None, description="Class frequencies the robot "
                                           "meets (calibrated models); None: the model's "
                                           "training frequencies.")
    min_confidence: float | None = Field(None, ge=0, le=1, description="Top probability "
                                         "at which a label is named (else null; 1: never); "
                                         "None: the model's (chosen on cross-validation), "
                                         "or 0.")
    adapt: bool | None = Field(None, description="Streaming speaker normalization; None: "
                                                 "as the model was trained.")
    max_seconds: float | None = Field(None, gt=0, le=600, description="Utterance length cap "
                                      "(a longer one is split); None: the model's.")
    min_seconds: float | None = Field(None, ge=0, le=60, description="Shorter utterances are "
                                      "ignored; None: the model's.")
    every: float | None = Field(None, gt=0, le=600, description="Also a running guess every "
                                "this many seconds of an utterance (final: false).")
    event: str | None = Field(None, min_length=1, description="Emit one <event> event per "
                                                              "utterance instead of scores.")


@dataclass
class _Utt:
    start: float
    nodes: list[Any]
    parts: list[list[np.ndarray]]
    seconds: float = 0.0
    end: float = 0.0
    emitted: int = 0                      # running guesses so far


@dataclass
class _Stream:
    norm: RunningNorm | None
    utt: _Utt | None = None
    seq: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class ClassifyUtterance(Node):
    """One guess per utterance from an utterance-level ONNX model (emotion, cry need)."""

    Params = UtteranceParams
    inputs = ("audio",)
    outputs = ("scores", "event")
    params: UtteranceParams

    @classmethod
    def output_kinds(cls, params: Params, input_kinds: frozenset[str]) -> frozenset[str]:
        return frozenset({"event" if getattr(params, "event", None) else "scores"})

    @classmethod
    def audio_rate(cls, params: Params, rate: int | None) -> int | None:
        return None                           # emits scores or events, not audio

    @classmethod
    def requirements(cls, params: Params) -> list[str]:
        from streamser.node import missing_module
        from streamser.zoo import artifact

        from .infer import model_problem
        assert isinstance(params, UtteranceParams)
        try:
            path = artifact(params.model, ".onnx")
        except FileNotFoundError as exc:
            return [model_problem(params.model, exc)]
        return missing_module("onnxruntime", "vad", path.name)

    def start(self) -> None:
        from streamser.frontend import FrontEnd
        from streamser.zoo import artifact

        from .infer.backends import OnnxBackend
        self.backend = OnnxBackend(artifact(self.params.model, ".onnx"))
        c = self.backend.contract
        raw = c.raw
        if c.mode != "utterance":
            raise ValueError(f"{self.name}: {self.params.model} is a {c.mode!r} model; "
                             "classify.utterance needs an utterance model (use infer)")
        self.labels = list(c.labels)
        self.frontend = FrontEnd.from_dict(raw["frontend"])
        utt = raw.get("utterance") or {}
        p = self.params
        self.max_s = p.max_seconds or utt.get("max_seconds") or 8.0
        self.min_s = p.min_seconds if p.min_seconds is not None else \
            float(utt.get("min_seconds") or 0.0)
        self.min_conf = p.min_confidence if p.min_confidence is not None else \
            float(raw.get("min_confidence", 0.0))
        adapt = raw.get("adapt")
        self.adapt = (bool(adapt) if p.adapt is None else p.adapt)
        self.prior_frames = float((adapt or {}).get("prior_frames", 400))
        self.weights = self._prior_weights(raw.get("train_prior"))
        self._streams: StreamStates[_Stream] = self.stream_states()

    def _prior_weights(self, train_prior: list[float] | None) -> np.ndarray | None:
        prior = self.params.prior
        if prior is None:
            return None
        if train_prior is None:
            raise ValueError(f"{self.name}: prior given but {self.params.model} is not a "
                             "calibrated model (no train_prior in its metadata)")
        unknown = set(prior) - set(self.labels)
        if unknown or not all(v >= 0 for v in prior.values()) or sum(prior.values()) <= 0:
            raise ValueError(f"{self.name}: prior must give frequencies >= 0 of "
                             f"{self.labels} with a positive sum (got {prior})")
        want = np.array([prior.get(k, 0.0) for k in self.labels], np.float64)
        return want / want.sum() / np.maximum(np.asarray(train_prior, np.float64), 1e-9)

    # ----------------------------------------------------------------- the stream

    def process(self, frame: Frame) -> list[Frame]:
        st = self._streams.get(frame.stream)
        if st is None:
            c = self.backend.contract
            norm = RunningNorm.from_corpus(c.mean, c.std, self.prior_frames) \
                if self.adapt else None
            st = self._streams[frame.stream] = _Stream(norm)
        out: list[Frame] = []
        if st.utt is not None and (frame.meta.get("gap") or frame.meta.get("active") is False):
            out += self._close(frame.stream, st)
        if frame.meta.get("active") is False or not len(frame.data):
            return out
        rate = int(frame.meta["sample_rate"])
        if rate != self.frontend.rate:
            raise ValueError(f"{self.name}: needs {self.frontend.rate} Hz audio, got {rate} Hz "
                             "(put a resample node before it)")
        data = np.asarray(frame.data, np.float32)
        t = frame.t
        while len(data):
            if st.utt is None:
                st.utt = _Utt(t, self.frontend.nodes(), [[] for _ in self.frontend.features])
            u = st.utt
            room = int(round((self.max_s - u.seconds) * rate))
            piece, data = data[:room], data[room:]
            self._feed(u, Frame("audio", piece, t=t, stream=frame.stream,
                                meta={"sample_rate": rate}))
            u.seconds += len(piece) / rate
            u.end = t + len(piece) / rate
            t = u.end
            if u.seconds >= self.max_s - 0.5 / rate:
                out += self._close(frame.stream, st)
            elif self.params.every and u.seconds >= (u.emitted + 1) * self.params.every:
                u.emitted = int(u.seconds // self.params.every)
                out += self._guess(frame.stream, st, final=False)
        return out

    def flush(self) -> list[Frame]:
        return [f for stream, st in self._streams.items() if st.utt is not None
                for f in self._close(stream, st)]

    @staticmethod
    def _feed(u: _Utt, frame: Frame) -> None:
        for node, part in zip(u.nodes, u.parts):
            part += [f.data for f in node.process(frame) if f.kind == "features"]

    def _close(self, stream: str, st: _Stream) -> list[Frame]:
        u = st.utt
        assert u is not None
        for node, part in zip(u.nodes, u.parts):
            part += [f.data for f in node.flush() if f.kind == "features"]
        out = self._guess(stream, st, final=True) if u.seconds >= self.min_s else []
        st.utt = None
        return out

    # ----------------------------------------------------------------- the guess

    def _rows(self, u: _Utt) -> np.ndarray | None:
        parts = [np.concatenate(p) if p else np.zeros((0, 0), np.float32) for p in u.parts]
        n = min(len(p) for p in parts)
        if n == 0:
            return None
        return np.concatenate([p[:n] for p in parts], axis=1)

    def _guess(self, stream: str, st: _Stream, final: bool) -> list[Frame]:
        u = st.utt
        assert u is not None
        rows = self._rows(u)
        if rows is None:
            return []
        if st.norm is not None:
            norm = st.norm if final else copy.deepcopy(st.norm)
            norm.update(rows)
            x = norm.apply(rows)
        else:
            x = self.backend.contract.normalize(rows)
        probs, _ = self.backend.run(utterance_stats(x)[None], [])
        p = np.asarray(probs[0], np.float64)
        if self.weights is not None:
            p = p * self.weights
            p = p / p.sum()
        top = int(p.argmax())
        label = self.labels[top] if p[top] >= self.min_conf and self.min_conf < 1 else None
        scores = {k: round(float(v), 3) for k, v in zip(self.labels, p)}
        start, end = round(u.start, 3), round(u.end, 3)
        seq = st.seq
        st.seq += 1
        if self.params.event:
            if not final:
                return []
            meta = {"event": self.params.event, "stream": stream, "t": start,
                    "emitted_at": end, "start": start, "end": end, "label": label,
                    "label_scores": scores}
            return [Frame("event", np.zeros(0, np.float32), t=u.start, seq=seq,
                          stream=stream, meta=meta)]
        meta = {"labels": self.labels, "model": self.backend.contract.name, "label": label,
                "label_scores": scores, "min_confidence": self.min_conf, "start": start,
                "end": end, "upto": end, "final": final}
        return [Frame("scores", p.astype(np.float32), t=u.start, seq=seq, stream=stream,
                      meta=meta)]
