"""The Python API: open a graph, push audio into it, get its events back.

    robot = streamser.open("configs/cry_robot.yaml", set={"smooth.on_threshold": 0.9})
    for block in blocks:                          # numpy int16 or float32, mono or not
        for event in robot.push(block, sample_rate=48000):
            ...                                   # dicts, as --events writes them
    events = robot.close()                        # what the end of stream emits

    for event in streamser.open("configs/cry_robot.yaml").run("recording.flac"):
        ...

The graph's one source is replaced: by the pushed audio (``push``), or by a file or
``synth:NAME`` (``run``, as ``streamser run --input``). Pushed audio reaches the graph in
the blocks that source would read (its ``block``), each stream counting its own samples,
so a stream's frames, and so its events, are exactly those of a file run of the same
samples. The events are those the graph's ``sink.events`` nodes would write (or, with
none, every event a node emits); the graph's sinks themselves (files, console,
publishers) are left out unless ``sinks=True``.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from .executors import EXECUTORS
from .executors.common import Control, NodeFailed
from .graph import Graph, GraphError, Problem, build_graph, read_graph
from .pcm import to_mono
from .pushing import PUSHED, TAP, Blocks, Channel, Event, InlineEngine, OnEvent, ThreadedEngine
from .registry import add_plugin_folder


def open(graph: str | os.PathLike[str] | Mapping[str, Any],  # noqa: A001 - streamser.open
         set: Mapping[str, Any] | Iterable[str] | None = None,  # noqa: A002
         *, executor: str = "inline", on_event: OnEvent | None = None,
         sinks: bool = False) -> Pipeline:
    """A pipeline on ``graph`` (a YAML file, or the same structure as a dict; a node's
    ``plugin`` may be a Node class), with ``set`` overrides (``{"node.param": value}`` or
    ``"node.param=value"`` strings, as ``--set``). ``executor``: ``inline`` (``push`` runs
    the graph in the caller's thread and returns the events that audio produced) or
    ``threads`` (the graph runs in the background: ``push`` returns the events that have
    come out so far, ``close`` the rest); ``processes`` runs files (``run``) but refuses
    pushed audio. ``on_event(event)`` is also called for each event as it comes (under
    ``threads``, from the graph's thread). ``sinks``: also run the graph's own sinks.
    Raises :class:`~streamser.graph.GraphError` (one line per problem) for a bad graph."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor '{executor}' (choose from {', '.join(EXECUTORS)})")
    if isinstance(graph, Mapping):
        raw, lines, file = _plugins_named(copy.deepcopy(dict(graph))), {}, "<graph>"
    else:
        raw, lines = read_graph(graph)
        file = str(graph)
        add_plugin_folder(Path(graph).resolve().parent)
    sets = [f"{k}={json.dumps(v)}" for k, v in set.items()] if isinstance(set, Mapping) \
        else list(set or ())
    return Pipeline(raw, lines, file, sets, executor, on_event, sinks)


def _plugins_named(raw: dict[str, Any]) -> dict[str, Any]:
    """A node class given as ``plugin`` becomes its ``module:Class`` path."""
    for body in (raw.get("nodes") or {}).values():
        cls = body.get("plugin") if isinstance(body, dict) else None
        if isinstance(cls, type):
            body["plugin"] = f"{cls.__module__}:{cls.__qualname__}"
    return raw


class Pipeline:
    """A graph that takes pushed audio (:meth:`push`, :meth:`close`) or runs an input
    (:meth:`run`). Use it as a context manager to close it."""

    def __init__(self, raw: Any, lines: dict[tuple[str, ...], int], file: str,
                 sets: list[str], executor: str, on_event: OnEvent | None,
                 sinks: bool) -> None:
        self._raw, self._lines, self._file, self._sets = raw, lines, file, sets
        self.executor, self._on_event, self._sinks = executor, on_event, sinks
        self._channel = Channel(on_event)
        probe = self._build(self._channel, tap=False)       # validates, with no tap yet
        self._block = int(self._source_params().get("block") or 1024)
        self._taps, self._keep = _event_producers(probe), _wanted(probe, sinks)
        self._main_plugins(probe)
        self._streams: dict[str, Blocks] = {}
        self._rate: int | None = None
        self._engine: InlineEngine | ThreadedEngine | None = None
        self._closed = False
        self._failed: NodeFailed | None = None
        self._lock = threading.Lock()

    # the graph ---------------------------------------------------------------------------
    def _source_params(self) -> dict[str, Any]:
        nodes = self._raw["nodes"]
        name = next(n for n, b in nodes.items() if isinstance(b, dict) and not b.get("input"))
        params = dict(nodes[name].get("params") or {})
        for item in self._sets:             # --set SOURCE.block=... counts for pushes too
            target, _, value = item.partition("=")
            if target == f"{name}.block":
                params["block"] = yaml.safe_load(value)
        return params

    def _build(self, channel: Channel, push_rate: int | None = None,
               input: str | None = None, tap: bool | str = True) -> Graph:
        """The graph with its source replaced (audio pushed through ``channel`` at
        ``push_rate``, or ``input``), its sinks left out unless kept, and the event tap
        added: the API's node on ``channel``, or (``tap="file:PATH"``) a ``sink.events``
        writing to PATH."""
        raw = copy.deepcopy(self._raw)
        if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), dict):
            return build_graph(raw, self._lines, self._file)    # says what is wrong
        nodes = raw["nodes"]
        sources = [n for n, b in nodes.items() if isinstance(b, dict) and not b.get("input")]
        sets = self._sets
        if input is None:
            if len(sources) != 1:
                raise GraphError(self._file, [Problem(0, "streamser.open needs a graph with "
                                                      "exactly one source (where the audio "
                                                      f"goes); this one has {len(sources)}")])
            source = sources[0]
            sets = [s for s in sets if s.partition(".")[0] != source]
            nodes[PUSHED] = {"plugin": "streamser.pushing:PushSource", "params": {
                "channel": channel.id, "sample_rate": push_rate}}
            del nodes[source]
            for body in nodes.values():
                if isinstance(body, dict) and "input" in body:
                    body["input"] = _renamed(body["input"], source, PUSHED)
        if tap:
            for name in [n for n in nodes if n not in self._keep and n != PUSHED
                         and n not in sources]:
                del nodes[name]
            if self._taps:
                nodes[TAP] = ({"plugin": "sink.events", "params": {"path": tap[5:]}}
                              if isinstance(tap, str) else
                              {"plugin": "streamser.pushing:EventTap",
                               "params": {"channel": channel.id}})
                nodes[TAP]["input"] = list(self._taps)
        return build_graph(raw, self._lines, self._file, sets=sets, input=input)

    def _main_plugins(self, graph: Graph) -> None:
        """Classes of the running script (``__main__``) cannot be imported by the
        processes executor's children: say where to put them."""
        if self.executor != "processes":
            return
        for name, spec in graph.nodes.items():
            if spec.plugin.startswith("__main__:"):
                cls = spec.plugin.partition(":")[2]
                raise ValueError(
                    f"node '{name}': {cls} is defined in the script being run, which the "
                    "processes executor's children cannot import: move it into a module "
                    f"(say nodes.py beside your script) and use plugin 'nodes:{cls}', or "
                    "use executor 'inline' or 'threads'")

    # pushed audio --------------------------------------------------------------------------
    def push(self, samples: Any, sample_rate: int, stream: str = "default") -> list[Event]:
        """Hand ``samples`` (``(n,)`` or ``(n, channels)``; int16, int32, int8, uint8 or
        float) of ``stream`` to the graph; the events that came out (inline: all that this
        audio produced; threads: all so far). Every push of a pipeline has one sample
        rate. A remainder shorter than the source's block waits for the next push of that
        stream (or :meth:`close`)."""
        x = to_mono(samples)
        with self._lock:
            self._check_open()
            engine = self._engine_for(int(sample_rate))
            blocks = self._streams.setdefault(stream, Blocks(stream, self._block,
                                                              self._rate or 0))
            try:
                for frame in blocks.add(x):
                    engine.feed(frame)
            except NodeFailed as exc:
                self._failed = exc                   # told once: close() then stops quietly
                raise
            return self._channel.take()

    def close(self) -> list[Event]:
        """End every stream (their last partial blocks go in, then the graph flushes) and
        stop the graph; the events that came out since the last push. Idempotent."""
        with self._lock:
            if self._closed:
                return []
            self._closed = True
            if self._engine is None:
                self._channel.forget()
                return []
            try:
                for blocks in self._streams.values():
                    last = blocks.rest()
                    if last is not None:
                        self._engine.feed(last)
                self._engine.finish()
            except NodeFailed:
                if self._failed is None:             # not yet told by a push
                    raise
            finally:
                self._engine.stop()
                self._channel.forget()
            return self._channel.take()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this pipeline is closed: streamser.open() another one")
        if self.executor == "processes":
            raise RuntimeError(
                "push() needs executor 'inline' or 'threads': under 'processes' every node "
                "runs in its own process, which cannot read audio held by this one (pipe it "
                "instead: ... | streamser run CONFIG --input - -x processes)")

    def _engine_for(self, rate: int) -> InlineEngine | ThreadedEngine:
        if self._engine is not None:
            if rate != self._rate:
                raise ValueError(f"this pipeline takes {self._rate} Hz audio (its first "
                                 f"push); got {rate} Hz: open another one for that rate")
            return self._engine
        if not 1000 <= rate <= 768000:
            raise ValueError(f"sample_rate must be 1000 to 768000 Hz, not {rate}")
        graph = self._build(self._channel, push_rate=rate)   # rates along the graph checked
        self._rate = rate
        engine = InlineEngine if self.executor == "inline" else ThreadedEngine
        self._engine = engine(graph, self._channel)
        return self._engine

    # file runs -----------------------------------------------------------------------------
    def run(self, input: str | os.PathLike[str]) -> Iterator[Event]:
        """The events of a run on ``input`` (a sound file, ``synth:NAME`` or ``-``), as
        they come; the run stops if the iteration does. Independent of pushed audio."""
        if self.executor == "processes":
            yield from self._run_processes(str(input))
            return
        channel = Channel(self._on_event)
        graph = self._build(channel, input=str(input))
        control = Control()
        done = threading.Event()
        errors: list[BaseException] = []

        def work() -> None:
            from .executors import run as run_graph
            try:
                run_graph(graph, self.executor, control)
            except BaseException as exc:          # raised in the caller's thread below
                errors.append(exc)
            finally:
                done.set()
                channel.wake()

        thread = threading.Thread(target=work, name="streamser-run", daemon=True)
        thread.start()
        try:
            while True:
                finished = done.is_set()
                yield from channel.take()
                if finished:
                    break
                channel.wait(0.1)
        finally:
            control.request_stop()
            thread.join()
            channel.forget()
        if errors:
            raise errors[0]

    def _run_processes(self, input: str) -> Iterator[Event]:
        """A run under the processes executor: its events node writes a file, read as it
        grows."""
        from .executors import run as run_graph
        with tempfile.TemporaryDirectory(prefix="streamser-api-") as tmp:
            path = Path(tmp) / "events.jsonl"
            graph = self._build(self._channel, input=input, tap=f"file:{path}")
            control, errors = Control(), []

            def work() -> None:
                try:
                    run_graph(graph, "processes", control)
                except BaseException as exc:
                    errors.append(exc)

            thread = threading.Thread(target=work, name="streamser-run", daemon=True)
            thread.start()
            pos = 0
            try:
                while True:
                    alive = thread.is_alive()
                    if path.exists():
                        with path.open("rb") as fh:
                            fh.seek(pos)
                            data = fh.read()
                        whole = data[:data.rfind(b"\n") + 1]
                        pos += len(whole)
                        for line in whole.splitlines():
                            event = json.loads(line)
                            if self._on_event is not None:
                                self._on_event(event)
                            yield event
                    if not alive:
                        break
                    time.sleep(0.05)
            finally:
                control.request_stop()
                thread.join()
            if errors:
                raise errors[0]

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _renamed(inputs: Any, old: str, new: str) -> Any:
    if isinstance(inputs, str):
        return new if inputs == old else inputs
    if isinstance(inputs, list):
        return [new if i == old else i for i in inputs]
    return inputs


def _event_producers(graph: Graph) -> list[str]:
    """The nodes whose events the pipeline returns: those feeding ``sink.events`` nodes,
    or, with none, every node that emits events (and is not a sink)."""
    fed = [p for spec in graph.nodes.values() if spec.plugin == "sink.events"
           for p in spec.inputs]
    if fed:
        return list(dict.fromkeys(fed))
    return [n for n, s in graph.nodes.items() if "event" in s.out_kinds and s.cls.outputs]


def _wanted(graph: Graph, sinks: bool) -> set[str]:
    """The nodes to run: what the event producers (and the kept sinks) need."""
    targets = set(_event_producers(graph))
    if sinks:
        targets |= {n for n, s in graph.nodes.items() if not s.cls.outputs}
    keep: set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo += graph.nodes[name].inputs
    return keep
