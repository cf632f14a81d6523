"""``build: fastest``: the runtime build of a bundled model that runs fastest on this
machine, measured once and remembered.

Each runtime build the model ships (``.onnx``, ``.int8.onnx``, ``.int8.tflite``,
``.tflite``) runs ``STEPS`` steps of random input with state fed back after a warm-up;
the one with the least thread CPU time per step wins. The choice is kept in
``~/.cache/streamser/fastest-build.json`` (``STREAMSER_CACHE`` overrides the folder), keyed
by the model files' sizes and times and the machine (CPU model, core count), so it is
measured once per machine and model version. Different builds give slightly different
scores (int8 rounding): the default, the int8 TFLite build, is the one boards run and
published figures were measured with; ``fastest`` is for a host that wants the cycles.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from streamser.zoo import ZOO

RUNTIME_BUILDS = (".onnx", ".int8.onnx", ".int8.tflite", ".tflite")
STEPS, WARMUP = 200, 20


def cache_file() -> Path:
    root = os.environ.get("STREAMSER_CACHE") or Path.home() / ".cache" / "streamser"
    return Path(root) / "fastest-build.json"


def machine_key() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}/{os.cpu_count()}"


def builds(model: str) -> list[Path]:
    return [ZOO / f"{model}{b}" for b in RUNTIME_BUILDS if (ZOO / f"{model}{b}").is_file()]


def _key(model: str, paths: list[Path]) -> str:
    files = ",".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in paths)
    return f"{machine_key()}|{model}|{files}"


def remembered(model: str) -> Path | None:
    """The build measured fastest on this machine before, if any."""
    paths = builds(model)
    try:
        name = json.loads(cache_file().read_text()).get(_key(model, paths))
    except (OSError, ValueError):
        return None
    return ZOO / name if name and (ZOO / name).is_file() else None


def seconds_per_step(path: Path, threads: int = 1) -> float:
    from .backends import open_backend
    backend = open_backend(path, "auto", threads)
    c = backend.contract
    x = np.random.default_rng(0).standard_normal((1, *c.x_shape)).astype(np.float32)
    states = c.initial_states(1)
    for _ in range(WARMUP):
        _, states = backend.run(x, states)
    t0 = time.thread_time()
    for _ in range(STEPS):
        _, states = backend.run(x, states)
    return (time.thread_time() - t0) / STEPS


def fastest(model: str, threads: int = 1) -> Path:
    """The fastest runtime build of bundled ``model`` here (measured once, then cached)."""
    paths = builds(model)
    if not paths:
        raise FileNotFoundError(f"{model}: no bundled model with a runtime build")
    if len(paths) == 1:
        return paths[0]
    known = remembered(model)
    if known is not None:
        return known
    best = min(paths, key=lambda p: seconds_per_step(p, threads))
    path = cache_file()
    try:
        table = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        table = {}
    table[_key(model, paths)] = best.name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(table, indent=1) + "\n")
    except OSError:
        pass                                   # read-only home: measured again next time
    return best
