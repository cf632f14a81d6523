"""Transport hop benchmark: frames/s and µs per hop for inline, inproc, ipc and tcp.

Usage::

    python benchmarks/hops.py [--frames N] [--json FILE] [--markdown]

What is measured
----------------
For each transport the chain ``source.synth -> H x filter.gain (db 0) -> discard sink``
runs with 1024-sample float32 frames (white noise, 16 kHz), once with H=1 and once with
H=5 gain nodes:

===========  ======================================================================
transport    how it runs
===========  ======================================================================
inline       ``run(graph, "inline")``: one thread, direct calls, no sockets
inproc       ``run(graph, "threads")``: one thread per node, ZeroMQ ``inproc://``
ipc          ``run(graph, "processes", transport="ipc")``: one process per node
tcp          ``run(graph, "processes", transport="tcp")``: one process per node,
             ``tcp://127.0.0.1``
===========  ======================================================================

Method (steady state, startup excluded)
---------------------------------------
The processes executor starts one Python process per node (about 0.5 s each), and the
number of processes grows with H, so a plain wall-clock difference
``time(H=5) - time(H=1)`` would still contain the start-up of four extra processes.
Instead the timing is taken *inside* the run, by the sink: ``DiscardSink`` (defined in
this file, referenced as the plugin ``hops:DiscardSink``) drops every frame and notes
``time.perf_counter_ns()`` when frame number ``skip`` arrives (``skip`` = the first 10 %
of the frames, the warm-up) and when the last frame arrives. Frames reach the sink only
once every node of the chain is up and connected, so start-up, connection set-up and
shutdown/flush are all outside that window.

* ``frames/s`` = ``(frames - skip - 1) / (t_last - t_skip)`` at the sink: the
  steady-state throughput of the whole chain.
* ``per_frame(H)`` = ``1 / frames/s`` for a chain with H gain nodes.
* ``µs/hop`` = ``(per_frame(5) - per_frame(1)) / 4``: what one extra hop (one more
  gain node plus the link into it) adds to the time per frame. The source, the sink and
  the link into the sink cancel out.

Each (transport, H) run is repeated 3 times (interleaved) and the median per-frame time
is used; the table also shows the min-max of the per-repeat µs/hop differences as a
noise indication. ``ratio`` is µs/hop divided by the inline µs/hop of the same
invocation. ``in-node µs`` is the mean time spent inside ``Gain.process`` (the runtime's
own per-node metrics, H=5 run), i.e. the part of a hop that is not runtime/transport.

How to read µs/hop for pipelined transports: with threads and processes the nodes run
concurrently, so µs/hop is the *throughput cost* of a hop (how much each added hop
slows the chain down), not its latency. Threads share the GIL, so their hops mostly
serialise; processes can overlap on as many cores as the machine has (on a 2-core
machine, 7 processes for H=5), so their µs/hop is roughly CPU-per-hop / cores when the
cores are saturated.

Goals (issue 2): under 10 µs per hop inline, under 50 µs per hop over inproc.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from streamser.frames import Frame
from streamser.node import Node, Params

HERE = Path(__file__).resolve().parent
BLOCK = 1024
SAMPLE_RATE = 16000
HOPS = (1, 5)
REPEATS = 3
GOALS_US = {"inline": 10.0, "inproc": 50.0}
TRANSPORTS = {  # name -> (executor, transport)
    "inline": ("inline", "ipc"),
    "inproc": ("threads", "ipc"),
    "ipc": ("processes", "ipc"),
    "tcp": ("processes", "tcp"),
}


class DiscardParams(Params):
    report: str = Field(description="JSON file the sink writes its timing to at the end.")
    skip: int = Field(0, ge=0, description="Frames to let pass before the timed window.")


class DiscardSink(Node):
    """Drop every frame; note when frame ``skip`` and the last frame arrived."""

    Params = DiscardParams
    params: DiscardParams

    def start(self) -> None:
        self._n = 0
        self._t_skip = 0
        self._t_last = 0
        self._written = False

    def process(self, frame: Frame) -> tuple[()]:
        now = time.perf_counter_ns()
        if self._n == self.params.skip:
            self._t_skip = now
        self._t_last = now
        self._n += 1
        return ()

    def flush(self) -> tuple[()]:
        self._write()
        return ()

    def stop(self) -> None:
        if not self._written:
            self._write()

    def _write(self) -> None:
        Path(self.params.report).write_text(json.dumps(
            {"frames": self._n, "skip": self.params.skip, "t_skip_ns": self._t_skip,
             "t_last_ns": self._t_last}))
        self._written = True


def chain(hops: int, frames: int, report: Path, queue: int) -> dict[str, Any]:
    nodes: dict[str, Any] = {"src": {"plugin": "source.synth", "params": {
        "signal": "noise", "block": BLOCK, "sample_rate": SAMPLE_RATE,
        "duration": frames * BLOCK / SAMPLE_RATE}}}
    prev = "src"
    for i in range(1, hops + 1):
        nodes[f"g{i}"] = {"plugin": "filter.gain", "input": prev, "params": {"db": 0}}
        prev = f"g{i}"
    nodes["out"] = {"plugin": "hops:DiscardSink", "input": prev,
                    "params": {"report": str(report), "skip": frames // 10}}
    return {"name": f"hops-{hops}", "queue": queue, "nodes": nodes}


def make_importable() -> None:
    """Let this process and the executor's children (`python -m streamser node`, which
    inherit the environment) import ``hops:DiscardSink``."""
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(HERE) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), *filter(None, paths)])
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))


def run_once(name: str, hops: int, frames: int, queue: int, workdir: Path) -> dict[str, Any]:
    from streamser.executors import run
    from streamser.graph import build_graph

    make_importable()
    executor, transport = TRANSPORTS[name]
    report = workdir / f"{name}-{hops}-{time.monotonic_ns()}.json"
    graph = build_graph(chain(hops, frames, report, queue))
    t0 = time.perf_counter()
    metrics = run(graph, executor, transport=transport)
    wall = time.perf_counter() - t0
    r = json.loads(report.read_text())
    report.unlink()
    if r["frames"] != frames or metrics["out"].get("frames_in") != frames:
        raise RuntimeError(f"{name} H={hops}: sink got {r['frames']} of {frames} frames")
    window = (r["t_last_ns"] - r["t_skip_ns"]) / 1e9
    timed = r["frames"] - r["skip"] - 1
    gains = [m["mean_us"] for n, m in metrics.items() if n.startswith("g")]
    return {"transport": name, "hops": hops, "frames": frames, "wall_s": round(wall, 4),
            "window_s": round(window, 4), "timed_frames": timed,
            "fps": timed / window, "per_frame_us": window / timed * 1e6,
            "gain_process_us": statistics.mean(gains),
            "dropped": sum(m.get("dropped", 0) for m in metrics.values())}


def summarise(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    per = {h: [r["per_frame_us"] for r in runs if r["hops"] == h] for h in HOPS}
    med = {h: statistics.median(v) for h, v in per.items()}
    span = HOPS[1] - HOPS[0]
    diffs = [(b - a) / span for a, b in zip(per[HOPS[0]], per[HOPS[1]])]
    in_node = statistics.median(r["gain_process_us"] for r in runs if r["hops"] == HOPS[1])
    return {"transport": name, "executor": TRANSPORTS[name][0],
            "fps": {str(h): 1e6 / med[h] for h in HOPS},
            "per_frame_us": {str(h): med[h] for h in HOPS},
            "us_per_hop": (med[HOPS[1]] - med[HOPS[0]]) / span,
            "us_per_hop_min": min(diffs), "us_per_hop_max": max(diffs),
            "in_node_us": in_node}


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import subprocess

    import numpy
    import zmq
    try:
        commit = subprocess.run(["git", "-C", str(HERE), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"commit": commit or "unknown", "nproc": os.cpu_count(),
            "cpu": model or platform.processor(),
            "python": platform.python_version(), "platform": platform.platform(),
            "numpy": numpy.__version__, "pyzmq": zmq.__version__,
            "libzmq": zmq.zmq_version()}


def table(rows: list[dict[str, Any]], markdown: bool) -> str:
    inline = next((r["us_per_hop"] for r in rows if r["transport"] == "inline"), None)
    head = ["transport", "executor", f"frames/s H={HOPS[0]}", f"frames/s H={HOPS[1]}",
            "µs/hop", "µs/hop min-max", "ratio vs inline", "in-node µs", "goal"]
    body = []
    for r in rows:
        goal = GOALS_US.get(r["transport"])
        ratio = r["us_per_hop"] / inline if inline and inline > 0 else float("nan")
        body.append([
            r["transport"], r["executor"], f"{r['fps'][str(HOPS[0])]:,.0f}",
            f"{r['fps'][str(HOPS[1])]:,.0f}", f"{r['us_per_hop']:.1f}",
            f"{r['us_per_hop_min']:.1f} - {r['us_per_hop_max']:.1f}", f"{ratio:.1f}x",
            f"{r['in_node_us']:.1f}",
            "-" if goal is None else
            f"< {goal:g}: {'met' if r['us_per_hop'] < goal else 'NOT met'}"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = lambda row: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths)))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, body)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20000,
                    help="frames per run (1024 samples each; default 20000)")
    ap.add_argument("--json", metavar="FILE", help="also write all results as JSON")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    ap.add_argument("--queue", type=int, default=64, help="ZeroMQ high-water mark "
                    "(graph 'queue', default 64)")
    ap.add_argument("--transports", default=",".join(TRANSPORTS),
                    help="comma-separated subset of " + ",".join(TRANSPORTS))
    args = ap.parse_args(argv)
    names = [t.strip() for t in args.transports.split(",") if t.strip()]
    if any(t not in TRANSPORTS for t in names) or args.frames < 100:
        ap.error("unknown transport or --frames < 100")

    runs: list[dict[str, Any]] = []
    rows = []
    with tempfile.TemporaryDirectory(prefix="streamser-hops-") as tmp:
        for name in names:
            mine = []
            for rep in range(REPEATS):
                for hops in HOPS:
                    r = run_once(name, hops, args.frames, args.queue, Path(tmp))
                    r["repeat"] = rep
                    mine.append(r)
                    print(f"  {name:<6} H={hops} rep {rep + 1}: {r['fps']:8,.0f} frames/s "
                          f"({r['per_frame_us']:.1f} µs/frame, wall {r['wall_s']:.2f} s)",
                          file=sys.stderr, flush=True)
            runs += mine
            rows.append(summarise(name, mine))

    info = machine()
    print(f"# streamser {info['commit']}; {info['cpu']}, nproc {info['nproc']}, "
          f"Python {info['python']}, "
          f"pyzmq {info['pyzmq']} (libzmq {info['libzmq']}), numpy {info['numpy']}; "
          f"{args.frames} frames x {BLOCK} float32 samples, H={HOPS[0]} vs H={HOPS[1]}, "
          f"queue {args.queue}, median of {REPEATS}")
    print(table(rows, args.markdown))
    for name, goal in GOALS_US.items():
        row = next((r for r in rows if r["transport"] == name), None)
        if row:
            print(f"goal {name}: < {goal:g} µs/hop: measured {row['us_per_hop']:.1f} -> "
                  f"{'met' if row['us_per_hop'] < goal else 'NOT met'}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
             "machine": info, "frames": args.frames, "block": BLOCK, "hops": HOPS,
             "queue": args.queue, "repeats": REPEATS, "summary": rows, "runs": runs},
            indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
