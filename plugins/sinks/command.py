"""sink.command: run a program on chosen events (the robot's actions)."""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
from typing import Any

from pydantic import Field, field_validator

from streamser.frames import Frame
from streamser.node import Node, Params

log = logging.getLogger(__name__)
#: At end of stream, how long the sink waits for programs still running before stop()
#: ends them (a stopped graph must not leave processes behind).
FLUSH_WAIT_S = 1.0


class CommandParams(Params):
    argv: list[str] = Field(min_length=1, description="Program and its arguments (run "
                            "directly, no shell).")
    events: list[str] = Field(["cry_start"], min_length=1, description="Event names that run "
                              "it. (Not `on`: YAML reads an unquoted `on` as true.)")
    min_interval: float = Field(10.0, ge=0, description="Seconds of stream time between two "
                                "runs for one event name on one stream; events sooner are "
                                "skipped and counted.")
    max_running: int = Field(2, ge=1, le=64, description="Programs running at once; an event "
                             "beyond it is skipped and counted.")
    timeout: float = Field(30.0, gt=0, description="Seconds a program may run before it is "
                           "killed.")

    @field_validator("argv")
    @classmethod
    def _program_exists(cls, argv: list[str]) -> list[str]:
        if shutil.which(argv[0]) is None:
            raise ValueError(f"no executable program {argv[0]!r} (give a path or a name on "
                             "PATH)")
        return argv


def event_env(event: dict[str, Any]) -> dict[str, str]:
    """``STREAMSER_JSON`` plus ``STREAMSER_<FIELD>`` for each scalar field of the event."""
    env = {"STREAMSER_JSON": json.dumps(event)}
    for key, value in event.items():
        if isinstance(value, (str, int, float, bool)):
            env[f"STREAMSER_{re.sub(r'[^A-Za-z0-9]', '_', key).upper()}"] = str(value)
    return env


class CommandSink(Node):
    """Run a program on events, with the event JSON on stdin and in STREAMSER_* variables.

    Never stalls the graph: programs run in the background, at most ``max_running`` at
    once, and once per ``min_interval`` of stream time per stream and event name
    (measured on ``emitted_at``). Skipped events are counted (``rate_limited``, ``busy``).
    """

    Params = CommandParams
    inputs = ("event",)
    params: CommandParams

    def start(self) -> None:
        self._last_run: dict[tuple[str, str], float] = {}
        self._running: list[tuple[subprocess.Popen[bytes], float]] = []  # (child, deadline)
        self.ran = self.rate_limited = self.busy = 0

    def process(self, frame: Frame) -> tuple[()]:
        event = frame.meta
        name = event.get("event")
        if name not in self.params.events:
            return ()
        self._reap()
        key = (frame.stream, str(name))
        at = float(event.get("emitted_at", event.get("t", frame.t)))
        last = self._last_run.get(key)
        if last is not None and at - last < self.params.min_interval:
            self.rate_limited += 1
        elif len(self._running) >= self.params.max_running:
            self.busy += 1
        else:
            self._launch(event)
            self._last_run[key] = at
        return ()

    def _launch(self, event: dict[str, Any]) -> None:
        child = subprocess.Popen(self.params.argv, stdin=subprocess.PIPE,
                                 env={**os.environ, **event_env(event)})
        assert child.stdin is not None
        fd = child.stdin.fileno()
        os.set_blocking(fd, False)  # never wait on a child; an event fits the pipe buffer
        try:
            os.write(fd, json.dumps(event).encode() + b"\n")
        except OSError:  # it has exited already, or its pipe is full
            pass
        finally:
            child.stdin.close()
        self._running.append((child, time.monotonic() + self.params.timeout))
        self.ran += 1

    def _reap(self) -> None:
        """Forget finished programs; kill those past their timeout."""
        now, running = time.monotonic(), []
        for child, deadline in self._running:
            if child.poll() is None and now > deadline:
                child.kill()
                child.wait()
            elif child.returncode is None:
                running.append((child, deadline))
        self._running = running

    def flush(self) -> tuple[()]:
        end = time.monotonic() + FLUSH_WAIT_S
        while self._running and time.monotonic() < end:
            time.sleep(0.02)
            self._reap()
        return ()

    def stop(self) -> None:
        for child, _ in getattr(self, "_running", []):
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(0.2)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        if getattr(self, "rate_limited", 0) or getattr(self, "busy", 0):
            log.warning("sink.command '%s': ran %d, skipped %d (min_interval) and %d "
                        "(max_running)", self.name, self.ran, self.rate_limited, self.busy)
