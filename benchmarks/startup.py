"""Start-up time: ``streamser --help``, and a small graph's first frame, from process start.

Usage::

    python benchmarks/startup.py [--runs 7] [--json FILE]

``--help`` is timed to the process's exit. The first frame is timed from spawning
``streamser run`` on a three-node graph (``source.synth`` -> ``filter.gain`` ->
``sink.jsonl`` to standard output, unbuffered) to the first JSON line read back: imports,
validation, node start-up and one 1024-sample block. The median of ``--runs`` runs (one
warm-up run first, so the figures are with the OS file cache warm) and the machine are
printed; ``python -X importtime -m streamser --help`` shows where the time goes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process_cpu import machine  # noqa: E402

GRAPH = """\
name: tiny
nodes:
  src:  {plugin: source.synth, params: {signal: sine, duration: 2.0, block: 1024}}
  gain: {plugin: filter.gain, input: src, params: {db: -6}}
  out:  {plugin: sink.jsonl, input: gain, params: {path: "-", data: false}}
"""
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
CMD = [sys.executable, "-m", "streamser"]


def help_seconds() -> float:
    t0 = time.perf_counter()
    subprocess.run([*CMD, "--help"], check=True, stdout=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - t0


def first_frame_seconds(config: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen([*CMD, "run", str(config), "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    took = time.perf_counter() - t0
    proc.communicate()
    if not line.startswith("{") or proc.returncode:
        sys.exit(f"error: the run failed: {line}{proc.stderr}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "tiny.yaml"
        config.write_text(GRAPH)
        help_seconds(), first_frame_seconds(config)          # warm the file cache
        helps = [help_seconds() for _ in range(a.runs)]
        firsts = [first_frame_seconds(config) for _ in range(a.runs)]
    r = {"help_s": round(statistics.median(helps), 3),
         "first_frame_s": round(statistics.median(firsts), 3), "runs": a.runs,
         "machine": machine()}
    print(f"streamser --help: {r['help_s']:.3f} s; first frame of a 3-node graph: "
          f"{r['first_frame_s']:.3f} s (median of {a.runs})\nmachine: {r['machine']}")
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=2) + "\n")


if __name__ == "__main__":
    main()
