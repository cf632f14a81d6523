"""Nodes on a multi-label tagger's ``scores`` (YAMNet's 521 AudioSet classes).

scores.select: fold chosen classes into named groups, e.g. ``{cry: ["Baby cry, infant
cry", "Crying, sobbing"]}``: each group's score is the largest (``reduce: max``) or the
sum, capped at 1 (``sum``), of its classes' scores, and ``other`` is 1 minus the largest
group score. The output is an ordinary ``[group..., other]`` scores frame, so a zero-shot
detector is YAMNet -> scores.select -> smooth.hysteresis.

scores.topk: the ``k`` best classes of each scores frame (at least ``min_score``) as a
``sound`` event, ``{"event": "sound", "t", "emitted_at", "top": [[label, score], ...]}``:
a general sound tagger's output, for the console, a JSONL file or ZeroMQ subscribers.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params


def _label_index(labels: list[str], name: str, node: str) -> int:
    if name not in labels:
        close = [label for label in labels if name.lower() in label.lower()][:5]
        hint = f" (did you mean: {'; '.join(close)})" if close else ""
        raise ValueError(f"{node}: class {name!r} not among the scores' labels{hint}")
    return labels.index(name)


class SelectParams(Params):
    classes: dict[str, list[str]] = Field(
        min_length=1, description="Output group -> the input classes (labels) it takes.")
    reduce: Literal["max", "sum"] = Field(
        "max", description="A group's score: its best class (max) or their sum, capped at 1.")
    name: str = Field("select", min_length=1, description="meta 'model' of the output.")


class ScoresSelect(Node):
    """Fold a tagger's classes into named groups (e.g. YAMNet's cry classes -> cry/other)."""

    Params = SelectParams
    inputs = ("scores",)
    outputs = ("scores",)
    params: SelectParams

    def start(self) -> None:
        self._columns: dict[tuple[str, ...], list[np.ndarray]] = {}
        self._labels = [*self.params.classes, "other"]

    def _index(self, labels: list[str]) -> list[np.ndarray]:
        key = tuple(labels)
        if key not in self._columns:
            self._columns[key] = [np.array([_label_index(labels, c, self.name) for c in cs])
                                  for cs in self.params.classes.values()]
        return self._columns[key]

    def process(self, frame: Frame) -> list[Frame]:
        labels = list(frame.meta.get("labels") or [])
        scores = np.asarray(frame.data, np.float32).reshape(-1)
        cols = self._index(labels)
        if self.params.reduce == "max":
            groups = np.array([scores[c].max() for c in cols])
        else:
            groups = np.minimum(np.array([scores[c].sum() for c in cols]), 1.0)
        data = np.append(groups, 1.0 - groups.max()).astype(np.float32)
        meta = {**frame.meta, "labels": self._labels, "model": self.params.name}
        return [Frame("scores", data, t=frame.t, seq=frame.seq, stream=frame.stream,
                      meta=meta)]


class TopkParams(Params):
    k: int = Field(3, ge=1, le=100, description="Classes per event.")
    min_score: float = Field(0.1, ge=0, le=1, description="Leave out classes scoring less; "
                                                          "no event when none is left.")
    event: str = Field("sound", min_length=1, description="Event name.")


class ScoresTopk(Node):
    """The k best classes of each scores frame as a 'sound' event (a sound tagger)."""

    Params = TopkParams
    inputs = ("scores",)
    outputs = ("event",)
    params: TopkParams

    def process(self, frame: Frame) -> list[Frame]:
        labels = list(frame.meta.get("labels") or [])
        scores = np.asarray(frame.data, np.float32).reshape(-1)
        best = np.argsort(-scores, kind="stable")[:self.params.k]
        top = [[labels[i] if i < len(labels) else str(i), round(float(scores[i]), 3)]
               for i in best if scores[i] >= self.params.min_score]
        if not top:
            return []
        upto = float(frame.meta.get("upto", frame.t))
        event = {"event": self.params.event, "stream": frame.stream, "t": round(frame.t, 3),
                 "emitted_at": round(upto, 3), "top": top}
        return [Frame("event", np.zeros(0, np.float32), t=frame.t, seq=frame.seq,
                      stream=frame.stream, meta=event)]
