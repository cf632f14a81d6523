"""The contract an exported model carries in its metadata, so that ``infer`` needs no other
configuration: what goes in, what comes out, and how to prepare the input.

JSON form (ONNX ``metadata_props["streamser"]``, TFLite metadata entry ``streamser``)::

    {"format": "streamser-model/1", "streamser": "0.1.0", "name": "cry-need",
     "arch": "agate_lstm", "task": "...", "labels": [...], "build": "float" | "int8",
     "mode": "step" | "window" | "utterance",   # one recurrent step per input, one whole
                                  # window, or utterance statistics (classify.utterance:
                                  # "normalizer" is then the corpus' frame statistics its
                                  # streaming normalizer starts from; "adapt", "utterance",
                                  # "train_prior", "min_confidence" say how to run it)
     "x": [32],                   # input shape without the batch axis
     "states": [{"name": "state_0", "output": "new_state_0", "shape": [64]}, ...],
     "frontend": {...}, "normalizer": {"mean": [...], "std": [...]},
     "steps_per_second": 100.0}   # model calls per second of audio

Inputs are ``x`` and ``state_*``, outputs ``probs`` and ``new_state_*``. Batch is axis 0.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = "streamser-model/1"
METADATA_KEY = "streamser"


class ContractError(ValueError):
    """A model file without (or with a broken) streamser contract."""


@dataclass(frozen=True)
class StateSpec:
    name: str
    output: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelContract:
    name: str
    labels: tuple[str, ...]
    mode: str
    x_shape: tuple[int, ...]
    states: tuple[StateSpec, ...]
    mean: np.ndarray
    std: np.ndarray
    steps_per_second: float
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "model") -> ModelContract:
        try:
            d = json.loads(text)
        except ValueError as exc:
            raise ContractError(f"{source}: metadata is not JSON ({exc})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ContractError(f"{source}: metadata format {d.get('format')!r} "
                                f"(expected {FORMAT!r}); export it with `streamser export`")
        try:
            states = tuple(StateSpec(s["name"], s["output"], tuple(s["shape"]))
                           for s in d.get("states", []))
            norm = d["normalizer"]
            return cls(name=d["name"], labels=tuple(d["labels"]), mode=d["mode"],
                       x_shape=tuple(d["x"]), states=states,
                       mean=np.asarray(norm["mean"], np.float32),
                       std=np.asarray(norm["std"], np.float32),
                       steps_per_second=float(d["steps_per_second"]), raw=d)
        except (KeyError, TypeError) as exc:
            raise ContractError(f"{source}: metadata lacks {exc}") from None

    @property
    def stateful(self) -> bool:
        return bool(self.states)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Raw front-end output -> the model's input (per-feature standardization)."""
        return ((x - self.mean) / self.std).astype(np.float32)

    def initial_states(self, batch: int = 1) -> list[np.ndarray]:
        return [np.zeros((batch, *s.shape), np.float32) for s in self.states]
