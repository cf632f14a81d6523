"""Start-up time: ``streamser --help``, and a small graph's first frame, from process start.

Usage::

    python benchmarks/startup.py [--runs 7] [--json FILE]

``--help`` is timed to the process's exit. The first frame is timed from spawning
``streamser run`` on a three-node graph (``source.synth`` -> ``filter.gain`` ->
``sink.jsonl`` to standard output, unbuffered; the source makes one 1024-sample block) to
the first JSON line read back: imports, validation, node start-up and that block. Beside
each wall time, the process's CPU time (user + sys, whole run): on a machine busy with
other jobs wall time waits for a core, CPU time much less so. The median of ``--runs``
runs (one warm-up run first, so the OS file cache is warm) and the machine are printed;
``python -X importtime -m streamser --help`` shows where the time goes.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
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
  src:  {plugin: source.synth, params: {signal: sine, duration: 0.064, block: 1024}}
  gain: {plugin: filter.gain, input: src, params: {db: -6}}
  out:  {plugin: sink.jsonl, input: gain, params: {path: "-", data: false}}
"""
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
CMD = [sys.executable, "-m", "streamser"]


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def help_seconds() -> tuple[float, float]:
    t0, c0 = time.perf_counter(), child_cpu()
    subprocess.run([*CMD, "--help"], check=True, stdout=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - t0, child_cpu() - c0


def first_frame_seconds(config: Path) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), child_cpu()
    proc = subprocess.Popen([*CMD, "run", str(config), "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    took = time.perf_counter() - t0
    _, err = proc.communicate()
    if not line.startswith("{") or proc.returncode:
        sys.exit(f"error: the run failed: {line}{err}")
    return took, child_cpu() - c0


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

    def med(rows: list[tuple[float, float]], i: int) -> float:
        return round(statistics.median(r[i] for r in rows), 3)
    r = {"help_s": med(helps, 0), "help_cpu_s": med(helps, 1),
         "first_frame_s": med(firsts, 0), "first_frame_run_cpu_s": med(firsts, 1),
         "runs": a.runs, "machine": machine()}
    print(f"streamser --help: {r['help_s']:.3f} s wall, {r['help_cpu_s']:.3f} s CPU\n"
          f"first frame of a 3-node graph: {r['first_frame_s']:.3f} s wall; the whole run "
          f"{r['first_frame_run_cpu_s']:.3f} s CPU\n(median of {a.runs})\n"
          f"machine: {r['machine']}")
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=2) + "\n")


if __name__ == "__main__":
    main()
