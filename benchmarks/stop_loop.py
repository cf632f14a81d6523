"""SIGTERM/SIGINT at random moments of a run: does every stop exit 0 within 2 s and leave
no child process behind?

Usage::

    python benchmarks/stop_loop.py [--config configs/cry_robot.yaml] [--input FILE]
                                   [--executor processes] [--runs 20] [--max-delay 8]
                                   [--json FILE]

Each run starts ``streamser run CONFIG --realtime -x EXECUTOR`` (``--input`` replaces the
microphone), sends SIGTERM (SIGINT every other run) after a random delay between 0 and
``--max-delay`` seconds (so some stops land while the graph loads or the children start),
and records the exit code, the seconds from signal to exit, and the child processes still
alive half a second after the parent ended. The sink paths are redirected to a temporary
directory.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def one(args: argparse.Namespace, delay: float, sig: int, tmp: Path) -> dict:
    cmd = [sys.executable, "-m", "streamser", "run", args.config, "--realtime", "-x",
           args.executor, "-q", "--events", str(tmp / "events.jsonl"),
           "--set", f"publish.endpoint=ipc://{tmp / 'pub'}"]
    if args.input:
        cmd += ["--input", args.input]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + delay
    kids: set[int] = set()
    while time.monotonic() < end:
        kids.update(children(proc.pid))
        time.sleep(0.05)
    kids.update(children(proc.pid))
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    seconds = time.monotonic() - t0
    time.sleep(0.5)
    left = [k for k in kids if alive(k)]
    for k in left:
        os.kill(k, signal.SIGKILL)
    err = (proc.stderr.read() if proc.stderr else "").strip().splitlines()
    return {"delay": round(delay, 2), "signal": signal.Signals(sig).name,
            "code": proc.returncode, "seconds": round(seconds, 3), "children": len(kids),
            "orphans": len(left), "stderr": err[-1] if err else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "cry_robot.yaml"))
    ap.add_argument("--input", help="audio file replacing the microphone")
    ap.add_argument("--executor", default="processes")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--max-delay", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            sig = signal.SIGTERM if i % 2 == 0 else signal.SIGINT
            row = one(args, rng.uniform(0, args.max_delay), sig, Path(tmp))
        rows.append(row)
        print(json.dumps(row), flush=True)
    ok = [r for r in rows if r["code"] == 0 and r["seconds"] < 2.0 and not r["orphans"]]
    summary = {"runs": len(rows), "clean": len(ok), "executor": args.executor,
               "worst_seconds": max(r["seconds"] for r in rows)}
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
