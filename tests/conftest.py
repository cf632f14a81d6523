"""Shared fixtures: real recordings from ../shared/data, CLI runner, free ports."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if str(TESTS) not in sys.path:  # helper nodes referenced as module:Class in graphs
    sys.path.insert(0, str(TESTS))
