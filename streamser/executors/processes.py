"""The processes executor: one OS process per node, linked over ipc:// or tcp://.

Each child is ``streamser node GRAPH --only NODE`` on the resolved graph, so a local
multi-process run and a multi-host deployment are the same code path. Children die
with their parent (PR_SET_PDEATHSIG on Linux, set first thing in ``__main__``, plus a
parent watchdog).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..graph import Graph
from .common import DRAIN_SECONDS, Control, NodeFailed

TRANSPORTS = ("ipc", "tcp")
#: Exit code of a child whose source failed to read, after its graph drained.
SOURCE_ERROR = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_processes(graph: Graph, control: Control, transport: str = "ipc"
                  ) -> dict[str, dict[str, Any]]:
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {TRANSPORTS}")
    _check_binds(graph)
    rundir = Path(tempfile.mkdtemp(prefix="streamser-"))
    raw = json.loads(graph.to_json())
    for name, body in raw["nodes"].items():
        if "endpoint" not in body:
            body["endpoint"] = (f"ipc://{rundir}/{name}" if transport == "ipc"
                                else f"tcp://127.0.0.1:{_free_port()}")
    config = rundir / "graph.json"
    config.write_text(json.dumps(raw))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in graph.nodes:
            if control.stop.is_set():  # stopped while starting: start no more
                break
            cmd = [sys.executable, "-m", "streamser", "node", str(config), "--only", name,
                   "--metrics", str(rundir / f"{name}.metrics.json"), "--quiet",
                   "--parent", str(os.getpid())]
            procs[name] = subprocess.Popen(cmd, stdin=None if _reads_stdin(graph, name)
                                           else subprocess.DEVNULL, env=_child_env())
        failed = _wait(procs, control)
        if failed:
            error = rundir / f"{failed}.metrics.json.error"
            raise NodeFailed(failed, error.read_text() if error.exists() else
                             f"its process exited with code {procs[failed].returncode}")
        metrics = {}
        for name in graph.nodes:
            path = rundir / f"{name}.metrics.json"
            metrics[name] = json.loads(path.read_text())[name] if path.exists() else {}
        return metrics
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(rundir, ignore_errors=True)


def _child_env() -> dict[str, str]:
    """The parent's environment with PYTHONSAFEPATH: ``python -m`` would otherwise put the
    working directory first on a child's ``sys.path``, so that a stray module there (a
    ``click.py``, say) would be imported instead of the library. The folders the parent
    searches for ``module:Class`` plugins (its graph file's, its working directory) are
    searched by the child too, after the installed packages."""
    from ..registry import PATH_ENV, plugin_folders
    return {**os.environ, "PYTHONSAFEPATH": "1", PATH_ENV: os.pathsep.join(plugin_folders())}


def _reads_stdin(graph: Graph, name: str) -> bool:
    """Whether node ``name`` reads standard input (``source.file`` on ``-``): its process
    gets ours."""
    return graph.nodes[name].is_source and getattr(graph.nodes[name].params, "path", None) == "-"


def _check_binds(graph: Graph) -> None:
    """Fail at once, before any child starts, when a tcp endpoint of the graph is taken."""
    for name, spec in graph.nodes.items():
        endpoint = spec.endpoint or ""
        if not endpoint.startswith("tcp://") or not spec.inputs:
            continue
        host, _, port = endpoint[len("tcp://"):].rpartition(":")
        try:
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
                s.bind((host.strip("[]"), int(port)))
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise NodeFailed(name, f"cannot bind {endpoint}: {why}") from None


def _wait(procs: dict[str, subprocess.Popen[bytes]], control: Control) -> str | None:
    """Wait for every child; on stop, SIGTERM them and SIGKILL what outlives the drain.
    A child that exits non-zero before any stop is the failure reported; after a stop
    (requested, or after a failure), children killed at the deadline are not."""
    deadline = None
    failed = None
    while [p.poll() for p in procs.values()].count(None):  # poll every child, each round
        if failed is None and deadline is None:  # (3: a source's read error, drained)
            failed = next((n for n, p in procs.items()
                           if p.returncode not in (None, 0, SOURCE_ERROR)), None)
            if failed is not None:
                control.stop.set()
        if control.stop.is_set() and deadline is None:
            deadline = time.monotonic() + DRAIN_SECONDS + 0.3
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
        if deadline is not None and time.monotonic() > deadline:
            for p in procs.values():
                if p.poll() is None:
                    p.kill()
        time.sleep(0.02)
    if failed is None and not control.stop.is_set():
        failed = next((n for n, p in procs.items() if p.returncode != 0), None)
    return failed
