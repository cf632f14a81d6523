"""Build the metadata contract (see ``streamser.plugins.infer.contract``) of a checkpoint."""
from __future__ import annotations

import json
from typing import Any

from streamser.plugins.infer.contract import FORMAT

from streamser import __version__
from streamser.frontend import FrontEnd


def feature_hop(frontend: dict[str, Any]) -> float:
    """Seconds between the front-end's feature rows (every feature plugin must agree)."""
    fe = FrontEnd.from_dict(frontend)
    hops = set()
    for node in fe.nodes():
        rate = getattr(node, "required_rate", None) or fe.rate
        hops.add(round(node.window(rate)[1] / rate, 6))
    if len(hops) != 1:
        raise ValueError(f"front-end feature hops differ: {sorted(hops)}")
    return hops.pop()


def contract_for(model: Any, meta: dict[str, Any], build: str = "float",
                 window_steps: int | None = None) -> str:
    """The JSON contract of ``model`` (a streamser ``SequenceModel``) from checkpoint
    ``meta``. Streaming models take one step per call (a feature row, or a patch for
    patch models); the others one window of ``window_steps`` rows or patches."""
    frontend = meta["frontend"]
    hop = feature_hop(frontend)
    patch = frontend.get("patch")
    per_step = [96, meta["input_dim"]] if model.input_kind == "patches" else [meta["input_dim"]]
    step_seconds = round(patch["hop"] / hop) * hop if patch else hop
    d: dict[str, Any] = {
        "format": FORMAT, "streamser": __version__, "name": meta.get("name") or meta["arch"],
        "arch": meta["arch"], "task": meta.get("task", ""), "labels": meta["labels"],
        "build": build, "frontend": frontend, "normalizer": meta["normalizer"],
        "hparams": meta.get("hparams", {})}
    if model.streaming:
        states = model.initial_state(1)
        d.update(mode="step", x=per_step, steps_per_second=round(1 / step_seconds, 6),
                 states=[{"name": f"state_{i}", "output": f"new_state_{i}",
                          "shape": list(s.shape[1:])} for i, s in enumerate(states)])
    else:
        if not window_steps:
            raise ValueError(f"{meta['arch']} is not a streaming model: give a window length")
        d.update(mode="window", x=[window_steps, *per_step], states=[],
                 steps_per_second=round(1 / (window_steps * step_seconds), 6))
    return json.dumps(d)
