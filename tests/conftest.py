"""Shared fixtures: real recordings from ../shared/data, CLI runner, free ports."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamser.frames import Frame
from streamser.node import Node

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STREAMSER_DATA", ROOT.parent / "shared" / "data"))
TESTS = Path(__file__).resolve().parent


def data_file(rel: str) -> Path:
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"real audio not found at {path} (set STREAMSER_DATA)")
    return path


@pytest.fixture
def cry_clip() -> Path:
    """A 5 s, 16 kHz baby-cry clip (ESC-50)."""
    return data_file("babycry_esc/crying/1-187207-A.flac")


@pytest.fixture
def phone_clip() -> Path:
    """A ~7 s, 8 kHz donateacry clip."""
    import csv
    manifest = data_file("donateacry/manifest.csv")
    with open(manifest) as fh:
        first = next(csv.DictReader(fh))
    return data_file(f"donateacry/{first['path']}")


def cli(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess[str]:
    """Run ``python -m streamser ARGS`` with the test helper nodes importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "streamser", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, **kw)


def feed(node: Node, x: np.ndarray, rate: int, sizes: list[int], t0: float = 0.0,
         gap: bool = False, flush: bool = True) -> list[Frame]:
    """Push ``x`` in blocks of ``sizes`` (cycled) starting at stream time ``t0``, the first
    one marked as a gap when ``gap``, then flush; return every output frame."""
    out, pos, i = [], 0, 0
    while pos < len(x):
        n = sizes[i % len(sizes)]
        meta = {"sample_rate": rate, **({"gap": True} if gap and pos == 0 else {})}
        out += node.process(Frame("audio", x[pos:pos + n], t=t0 + pos / rate, seq=i,
                                  meta=meta))
        pos, i = pos + n, i + 1
    return out + list(node.flush()) if flush else out


def rows(frames: list[Frame]) -> np.ndarray:
    """The payloads of feature frames, stacked."""
    return np.concatenate([f.data for f in frames])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if str(TESTS) not in sys.path:  # helper nodes referenced as module:Class in graphs
    sys.path.insert(0, str(TESTS))
