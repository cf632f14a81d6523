"""The torch modules that get exported: one recurrent step, or one whole window.

Inputs and outputs are named by keyword (``x``, ``state_i`` -> ``probs``,
``new_state_i``) so that ONNX and TFLite signatures carry the contract's names.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .contract import contract_for


class StepModule(nn.Module):
    """``(x, state_0, ...) -> {probs, new_state_0, ...}`` for a streaming model."""

    def __init__(self, model: nn.Module, n_states: int) -> None:
        super().__init__()
        self.model, self.n_states = model, n_states

    def forward(self, x: Tensor, *states: Tensor) -> dict[str, Tensor]:
        logits, new = self.model.step(x, tuple(states))
        return {"probs": torch.softmax(logits, -1),
                **{f"new_state_{i}": s for i, s in enumerate(new)}}


class WindowModule(nn.Module):
    """``x (B, T, ...) -> {probs}`` for a model that sees a whole window at once."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
        return {"probs": torch.softmax(self.model(x, lengths), -1)}


@dataclass
class Exportable:
    """A model ready to export: its module, the contract, and example inputs."""

    module: nn.Module
    contract: dict[str, Any]
    input_names: list[str]
    output_names: list[str]

    @classmethod
    def from_checkpoint(cls, model: nn.Module, meta: dict[str, Any], build: str = "float",
                        window_steps: int | None = None) -> Exportable:
        contract = json.loads(contract_for(model, meta, build, window_steps))
        states = contract["states"]
        module = StepModule(model, len(states)) if states else WindowModule(model)
        return cls(module.eval(), contract, ["x", *(s["name"] for s in states)],
                   ["probs", *(s["output"] for s in states)])

    def with_build(self, build: str) -> dict[str, Any]:
        return {**self.contract, "build": build}

    def example(self, batch: int = 1) -> dict[str, np.ndarray]:
        """Zero inputs of the right shapes, by name."""
        shapes = [self.contract["x"], *(s["shape"] for s in self.contract["states"])]
        return {n: np.zeros((batch, *s), np.float32) for n, s in zip(self.input_names, shapes)}

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The PyTorch reference on named float inputs."""
        with torch.inference_mode():
            out = self.module(*(torch.from_numpy(np.ascontiguousarray(inputs[n]))
                                for n in self.input_names))
        return {k: v.numpy() for k, v in out.items()}
