"""Graph specs from YAML: overrides, validation with YAML line numbers, topology."""
from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .frames import ANY
from .messages import validation_message
from .node import MissingPackage, Node, Params, Source
from .registry import PluginError, add_plugin_folder, load
from .streams import IDLE_SECONDS, MAX_STREAMS
from .wire import DEFAULT_MAX_PAYLOAD_BYTES
from .yamlfile import YamlError, load_with_lines

GRAPH_KEYS = {"name": "graph name", "description": "free text", "nodes": "the nodes",
              "extends": "a graph file whose nodes this one adds to or changes",
              "queue": "high-water mark, frames per socket", "max_frame_bytes": "payload limit",
              "curve": "CurveZMQ secret key file for tcp links",
              "pin_threads": "run a partition's node threads on one core (default true)",
              "streams": "per-stream state bounds: {idle: seconds or null, max: count}"}
NODE_KEYS = ("plugin", "input", "params", "endpoint", "on_error")
ON_ERROR = ("stop", "drop")
#: Upper bounds of the graph's sizes: frames per socket queue, bytes per frame payload.
MAX_QUEUE = 100_000
MAX_FRAME_BYTES = 1 << 30
#: Length of a ``--input synth:NAME`` signal unless ``--set SOURCE.duration=...`` says.
SYNTH_SECONDS = 10.0


@dataclass(frozen=True)
class Problem:
    """One validation problem, rendered as one line."""

    line: int
    message: str
    node: str | None = None
    field: str | None = None

    def render(self, file: str) -> str:
        where = f"node '{self.node}': " if self.node else ""
        what = f"{self.field}: " if self.field else ""
        at = f"{file}:{self.line}" if self.line > 0 else file
        return f"{at}: {where}{what}{self.message}"


class GraphError(ValueError):
    """A graph that failed validation; ``problems`` holds one line per problem, and
    ``warnings`` the lines of what would not have stopped it."""

    def __init__(self, file: str, problems: list[Problem], warnings: Iterable[str] = ()
                 ) -> None:
        self.file, self.problems = file, sorted(problems, key=lambda p: p.line)
        self.warnings = list(warnings)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [p.render(self.file) for p in self.problems]


@dataclass
class NodeSpec:
    name: str
    plugin: str
    cls: type[Node]
    params: Params
    inputs: tuple[str, ...] = ()
    endpoint: str | None = None
    out_kinds: frozenset[str] = frozenset()
    #: When ``process`` raises: stop the run, or drop the frame (None: drop for frames
    #: from another process or host, stop for frames from this one).
    on_error: str | None = None
    #: Idle seconds and count bounding each node's per-stream state (graph ``streams``).
    stream_limits: tuple[float | None, int] = (IDLE_SECONDS, MAX_STREAMS)
    #: Whether a live source feeds this node (``Node.live_input``).
    live_input: bool = False

    #: The graph's name (a node's default topic prefix, say).
    graph_name: str = ""

    @property
    def is_source(self) -> bool:
        return issubclass(self.cls, Source)

    @cached_property
    def takes(self) -> frozenset[str] | None:
        """The frame kinds delivered to this node (None: every kind). A producer's frames
        of other kinds go only to its consumers that take them."""
        return None if ANY in self.cls.inputs else frozenset(self.cls.inputs)

    def build(self) -> Node:
        node = self.cls(self.params, self.name)
        node.stream_limits = self.stream_limits
        node.live_input = self.live_input
        node.graph_name = self.graph_name
        return node


@dataclass
class Graph:
    """A validated graph: nodes in topological order plus transport settings."""

    name: str
    nodes: dict[str, NodeSpec]
    raw: dict[str, Any]
    file: str = "<graph>"
    queue: int = 64
    max_frame_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    curve: str | None = None
    pin_threads: bool = True
    consumers: dict[str, list[str]] = field(default_factory=dict)
    #: Problems that do not stop validation (``missing_packages="warn"``), one line each.
    warnings: list[str] = field(default_factory=list)
    #: (source node, ``--input`` value) when ``--input`` replaced the graph's source.
    input: tuple[str, str] | None = None

    def blame(self, node: str, text: str) -> str:
        """A node's failure in one line: ``--input X: ...`` for the source --input gave
        (the node may be called ``mic``), else ``node 'NAME' failed: ...``."""
        if self.input is not None and node == self.input[0]:
            return f"--input {self.input[1]}: {text}"
        return f"node '{node}' failed: {text}"

    @property
    def sources(self) -> list[str]:
        return [n for n, s in self.nodes.items() if s.is_source]

    def to_json(self) -> str:
        """The graph as JSON (valid YAML), for child processes and remote peers."""
        return json.dumps(self.raw, indent=1)


def read_graph(path: str | Path, depth: int = 0) -> tuple[Any, dict[tuple[str, ...], int]]:
    """A graph file's data (safe YAML) and the line of every key, its ``extends`` applied;
    GraphError if it cannot be read or parsed."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise GraphError(file, [Problem(0, f"cannot read graph: {exc.strerror}")]) from None
    try:
        raw, lines = load_with_lines(text)
    except YamlError as exc:
        raise GraphError(file, [Problem(exc.line, str(exc))]) from None
    if isinstance(raw, dict) and "extends" in raw:
        raw = _extend(raw, lines, path, depth)
    return raw, lines


def _extend(raw: dict[str, Any], lines: dict[tuple[str, ...], int], path: Path,
            depth: int) -> dict[str, Any]:
    """``extends: BASE.yaml`` (relative to this file): the base graph's nodes, then this
    file's. A node named in both takes this file's keys, its ``params`` merged key by key;
    a node set to null is removed. Other top-level keys of this file replace the base's.
    Problems in inherited nodes are reported at the ``extends`` line."""
    where, base_name = lines.get(("extends",), 1), raw.pop("extends")
    if not isinstance(base_name, str) or not base_name or depth >= 4:
        raise GraphError(str(path), [Problem(where, "must name one graph file (at most 4 "
                                             "files deep)", field="extends")])
    try:
        base, _ = read_graph(path.parent / base_name, depth + 1)
    except GraphError as exc:
        raise GraphError(str(path), [Problem(where, exc.lines()[0], field="extends")]) from None
    own = raw.get("nodes") or {}
    if not isinstance(base, dict) or not isinstance(base.get("nodes"), dict) \
            or not isinstance(own, dict):
        raise GraphError(str(path), [Problem(where, "the base and this file need 'nodes' "
                                             "mappings", field="extends")])
    nodes = dict(base["nodes"])
    for name, body in own.items():
        if body is None:
            nodes.pop(name, None)
            continue
        old = nodes.get(name)
        if isinstance(old, dict) and isinstance(body, dict):
            params = {**(old.get("params") or {}), **(body.get("params") or {})}
            body = {**old, **body, **({"params": params} if params else {})}
        nodes[name] = body
    for name in nodes:
        if name not in own:
            lines[("nodes", str(name))] = where
    return {**base, **raw, "nodes": nodes}


def load_graph(path: str | Path, sets: Iterable[str] = (), input: str | None = None,
               events: str | None = None, realtime: bool = False, **options: Any) -> Graph:
    """Read, override (``--set``, ``--input``, ``--events``, ``--realtime``) and validate
    (``options``: those of :func:`build_graph`)."""
    raw, lines = read_graph(path)
    add_plugin_folder(Path(path).resolve().parent)
    return build_graph(raw, lines, str(path), sets=sets, input=input, events=events,
                       realtime=realtime, **options)


def build_graph(raw: Any, lines: dict[tuple[str, ...], int] | None = None,
                file: str = "<graph>", sets: Iterable[str] = (), input: str | None = None,
                events: str | None = None, realtime: bool = False,
                input_format: str | None = None, missing_packages: str = "error",
                quiet: bool = False) -> Graph:
    """Override and validate a graph's data. ``input_format``: raw PCM format of
    ``input``; ``missing_packages``: ``"warn"`` makes a node's missing optional package
    a warning (``Graph.warnings``; validating or drawing needs no microphone), not a
    problem; ``quiet`` (``run -q``): when a ``sink.events`` writes the events to
    standard output, ``sink.console`` nodes, which would print them again, are left
    out."""
    lines = lines or {}
    raw = copy.deepcopy(raw)

    def line(*path: str) -> int:
        while path and path not in lines:
            path = path[:-1]
        return lines.get(path, 1)

    if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), dict) or not raw["nodes"]:
        raise GraphError(file, [Problem(line("nodes"), "a graph needs a 'nodes' mapping "
                                        "with at least one node", field="nodes")])
    problems: list[Problem] = []
    for key in raw:
        if key not in GRAPH_KEYS:
            problems.append(Problem(line(str(key)), f"unknown top-level key (allowed: "
                                    f"{', '.join(GRAPH_KEYS)})", field=str(key)))
    overridden = _overridden(raw, list(sets), input)
    replaced = _apply_input(raw, input, input_format, problems)
    problems += _apply_overrides(raw, list(sets), events, line)
    if quiet and _events_on_stdout(raw):
        _drop_sinks(raw, {"sink.console"})
    base = Path(file).parent if file != "<graph>" else Path()
    if isinstance(raw.get("curve"), str):
        raw["curve"] = str(base / raw["curve"])
    if realtime:
        for body in raw["nodes"].values():
            if isinstance(body, dict) and not body.get("input"):
                body.setdefault("params", {})["realtime"] = True
    specs: dict[str, NodeSpec] = {}
    inputs_of: dict[str, tuple[str, ...]] = {}
    for name, body in raw["nodes"].items():
        name = str(name)
        spec, node_inputs, errs = _node(name, body, line, base, overridden)
        problems += errs
        if spec is not None:
            specs[name] = spec
        inputs_of[name] = node_inputs
    problems += _check_edges(specs, inputs_of, raw["nodes"], line)
    if problems:
        raise GraphError(file, _blame_input(problems, replaced, input))
    order, cycle = _topological(specs, inputs_of)
    if cycle:
        raise GraphError(file, [Problem(line("nodes", cycle[-1], "input"),
                                        "cycle: " + " -> ".join(cycle), cycle[-1], "input")])
    for name in order:
        spec = specs[name]
        takes = spec.takes
        arriving = frozenset().union(*(specs[i].out_kinds & (takes or specs[i].out_kinds)
                                       for i in spec.inputs))
        spec.out_kinds = spec.cls.output_kinds(spec.params, arriving)
        for producer in spec.inputs:
            kinds = specs[producer].out_kinds
            if not kinds:
                problems.append(Problem(line("nodes", name, "input"), f"'{producer}' "
                                        f"({specs[producer].plugin}) has no output", name,
                                        "input"))
            elif takes is not None and not kinds & takes:
                problems.append(Problem(
                    line("nodes", name, "input"), f"'{producer}' emits "
                    f"{'/'.join(sorted(kinds))} frames but {spec.plugin} accepts only "
                    f"{'/'.join(spec.cls.inputs)}", name, "input"))
    needs = _check_rates_and_needs(specs, order, line)
    warned = [p for p in needs if missing_packages == "warn"
              and isinstance(p.message, MissingPackage)]
    problems += [p for p in needs if p not in warned]
    warnings = GraphError(file, warned).lines()
    if problems:
        raise GraphError(file, _blame_input(problems, replaced, input), warnings)
    consumers = {n: [c for c in order if n in specs[c].inputs] for n in order}
    for name in order:
        spec = specs[name]
        spec.live_input = bool(getattr(spec.build(), "live", False)) if spec.is_source \
            else any(specs[p].live_input for p in spec.inputs)
    settings = _settings(raw, line, file)
    limits = settings.pop("stream_limits", None)
    graph_name = str(raw.setdefault("name", Path(file).stem))
    for spec in specs.values():
        spec.stream_limits = limits or spec.stream_limits
        spec.graph_name = graph_name
    return Graph(name=graph_name, nodes={n: specs[n] for n in order},
                 raw=raw, file=file, consumers=consumers, warnings=warnings,
                 input=(replaced, input) if replaced else None, **settings)


def _check_rates_and_needs(specs: dict[str, NodeSpec], order: list[str], line: Any
                           ) -> list[Problem]:
    """Sample rates along the graph (a node that cannot take the rate arriving is a
    problem), and what each node needs that is not installed or not found."""
    problems: list[Problem] = []
    rates: dict[str, int | None] = {}
    for name in order:
        spec = specs[name]
        arriving = next((rates[i] for i in spec.inputs if rates.get(i)), None)
        try:
            rates[name] = spec.cls.audio_rate(spec.params, arriving)
        except ValueError as exc:
            problems.append(Problem(line("nodes", name, "input"), str(exc), name, "input"))
            rates[name] = None
        for need in spec.cls.requirements(spec.params):
            param = getattr(need, "param", None)
            problems.append(Problem(line("nodes", name, "params", param), need, name,
                                    f"params.{param}") if param else
                            Problem(line("nodes", name, "plugin"), need, name, "plugin"))
    return problems


def _overridden(raw: dict[str, Any], sets: list[str], input: str | None
                ) -> set[tuple[str, str]]:
    """(node, param) pairs given on the command line: their paths stay relative to the
    current directory."""
    out = {(t.partition(".")[0], t.partition(".")[2]) for t in
           (s.partition("=")[0] for s in sets)}
    if input is not None:
        out |= {(str(n), "path") for n, b in raw["nodes"].items()
                if isinstance(b, dict) and not b.get("input")}
    return out


def _resolve_files(name: str, cls: type[Node], params: dict[str, Any], base: Path,
                   overridden: set[tuple[str, str]]) -> None:
    """Params marked ``json_schema_extra={"file": "input" | "model"}`` read a file: a
    relative path in the graph file means relative to its folder, one given with --set or
    --input relative to the current directory; both are made absolute (child processes
    run elsewhere). A ``model`` value that names no file there stays as given (a bundled
    model name)."""
    for key, f in cls.Params.model_fields.items():
        kind = (f.json_schema_extra or {}).get("file") \
            if isinstance(f.json_schema_extra, dict) else None
        value = params.get(key)
        if kind is None or not isinstance(value, str) or not value or value == "-":
            continue
        if Path(value).is_absolute():
            continue
        where = Path() if (name, key) in overridden else base
        candidate = (where / value).absolute()
        if kind == "input" or candidate.is_file() or looks_like_path(value):
            params[key] = str(candidate)


def looks_like_path(value: str) -> bool:
    """A model param that names a file (a folder in it, or a model file suffix) rather
    than a bundled model: resolved to its absolute path even when missing, so that the
    message says where it was looked for."""
    return "/" in value or Path(value).suffix in (".onnx", ".tflite", ".pt")


def _settings(raw: dict[str, Any], line: Any, file: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, lo, hi in (("queue", 1, MAX_QUEUE), ("max_frame_bytes", 1024, MAX_FRAME_BYTES)):
        if key in raw:
            value = raw[key]
            if type(value) is not int or not lo <= value <= hi:
                raise GraphError(file, [Problem(line(key), f"must be an integer from {lo} "
                                                f"to {hi}", field=key)])
            out[key] = value
    if raw.get("curve") is not None:
        out["curve"] = str(raw["curve"])
    if "streams" in raw:
        out["stream_limits"] = _stream_limits(raw["streams"], line, file)
    if "pin_threads" in raw:
        if not isinstance(raw["pin_threads"], bool):
            raise GraphError(file, [Problem(line("pin_threads"), "must be true or false",
                                            field="pin_threads")])
        out["pin_threads"] = raw["pin_threads"]
    return out


def _stream_limits(value: Any, line: Any, file: str) -> tuple[float | None, int]:
    """``streams: {idle: SECONDS or null, max: N}`` -> (idle, max), bounds checked."""
    problem = Problem(line("streams"), "must be {idle: seconds (1 to 86400) or null, max: "
                      "streams (1 to 1000000)}", field="streams")
    if not isinstance(value, dict) or set(value) - {"idle", "max"}:
        raise GraphError(file, [problem])
    idle = value.get("idle", IDLE_SECONDS)
    cap = value.get("max", MAX_STREAMS)
    if idle is not None and (isinstance(idle, bool) or not isinstance(idle, (int, float))
                             or not 1 <= idle <= 86400):
        raise GraphError(file, [problem])
    if type(cap) is not int or not 1 <= cap <= 1_000_000:
        raise GraphError(file, [problem])
    return (None if idle is None else float(idle), cap)


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _apply_input(raw: dict[str, Any], input: str | None, input_format: str | None,
                 problems: list[Problem]) -> str | None:
    """``--input``: the graph's one source becomes ``source.file`` on INPUT (``-``:
    standard input; with ``input_format``, raw PCM) or ``source.synth`` (``synth:NAME``,
    ``SYNTH_SECONDS`` long unless ``--set`` gives a duration; null: endless); its
    ``block`` and ``endpoint`` are kept. The source's name, or None."""
    nodes = raw["nodes"]
    if input is None:
        if input_format is not None:
            problems.append(Problem(0, "--input-format needs --input (a raw PCM file, or "
                                    "'-' for standard input)"))
        return None
    sources = [n for n, b in nodes.items() if isinstance(b, dict) and not b.get("input")]
    if len(sources) != 1:
        problems.append(Problem(0, f"--input needs a graph with exactly one source, "
                                f"this one has {len(sources)}"))
        return None
    name = sources[0]
    old = nodes[name]
    block = (old.get("params") or {}).get("block")
    if input.startswith("synth:"):
        if input_format is not None:
            problems.append(Problem(0, "--input-format is for raw PCM, not synth:"))
        params: dict[str, Any] = {"signal": input.partition(":")[2],
                                  "duration": SYNTH_SECONDS}
        nodes[name] = {"plugin": "source.synth", "params": params}
    else:
        params = {"path": input, **({"format": input_format} if input_format else {})}
        nodes[name] = {"plugin": "source.file", "params": params}
    if block:
        params["block"] = block
    if "endpoint" in old:
        nodes[name]["endpoint"] = old["endpoint"]
    return name


def _blame_input(problems: list[Problem], replaced: str | None, input: str | None
                 ) -> list[Problem]:
    """Problems of the source ``--input`` replaced are the option's, not the node's (the
    node may be called ``mic``: a file there is not a microphone)."""
    if replaced is None:
        return problems
    return [Problem(0, f"--input {input}: {p.message}") if p.node == replaced
            and (p.field or "").startswith(("params", "plugin")) else p for p in problems]


def _events_on_stdout(raw: dict[str, Any]) -> bool:
    return any(isinstance(b, dict) and b.get("plugin") == "sink.events"
               and isinstance(b.get("params"), dict) and b["params"].get("path") == "-"
               for b in raw["nodes"].values())


def _drop_sinks(raw: dict[str, Any], plugins: set[str]) -> None:
    """Leave out the nodes of ``plugins`` that nothing reads (sinks)."""
    nodes = raw["nodes"]
    read = {i for b in nodes.values() if isinstance(b, dict)
            for i in ([b["input"]] if isinstance(b.get("input"), str) else b.get("input") or [])}
    for name in [n for n, b in nodes.items() if isinstance(b, dict)
                 and b.get("plugin") in plugins and n not in read]:
        del nodes[name]


def _apply_overrides(raw: dict[str, Any], sets: list[str], events: str | None, line: Any
                     ) -> list[Problem]:
    nodes = raw["nodes"]
    problems = []
    for item in sets:
        target, eq, value = item.partition("=")
        node, dot, param = target.partition(".")
        if not eq or not dot or not param:
            problems.append(Problem(0, f"--set {item}: expected node.param=value"))
        elif node not in nodes or not isinstance(nodes[node], dict):
            problems.append(Problem(0, f"--set {item}: no node named '{node}'"
                                    + _did_you_mean(node, nodes)))
        else:
            params = nodes[node].setdefault("params", {})
            if not isinstance(params, dict):
                problems.append(Problem(line("nodes", node, "params"), "must be a mapping",
                                        node, "params"))
            else:
                params[param] = _parse_value(value)
    if events is not None:
        sinks = [n for n, b in nodes.items()
                 if isinstance(b, dict) and b.get("plugin") == "sink.events"]
        if not sinks:
            problems.append(Problem(0, "--events needs a sink.events node in the graph"))
        for n in sinks:
            nodes[n].setdefault("params", {})["path"] = events
    return problems


def _did_you_mean(name: str, known: Iterable[Any]) -> str:
    close = difflib.get_close_matches(name, [str(k) for k in known], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _node(name: str, body: Any, line: Any, base: Path = Path(),
          overridden: set[tuple[str, str]] | None = None
          ) -> tuple[NodeSpec | None, tuple[str, ...], list[Problem]]:
    where = ("nodes", name)
    if not isinstance(body, dict):
        return None, (), [Problem(line(*where), "must be a mapping with 'plugin'", name)]
    problems = [Problem(line(*where, str(k)), f"unknown key (allowed: {', '.join(NODE_KEYS)})",
                        name, str(k)) for k in body if k not in NODE_KEYS]
    raw_inputs = body.get("input", [])
    if isinstance(raw_inputs, str):
        raw_inputs = [raw_inputs]
    if not isinstance(raw_inputs, list) or not all(isinstance(i, str) for i in raw_inputs):
        problems.append(Problem(line(*where, "input"), "must be a node name or a list of names",
                                name, "input"))
        raw_inputs = []
    if len(set(raw_inputs)) != len(raw_inputs):
        problems.append(Problem(line(*where, "input"), "lists a node twice", name, "input"))
    inputs = tuple(dict.fromkeys(raw_inputs))
    endpoint = body.get("endpoint")
    if endpoint is not None and not (isinstance(endpoint, str) and endpoint.split("://")[0]
                                     in ("tcp", "ipc", "inproc") and "://" in endpoint):
        problems.append(Problem(line(*where, "endpoint"), "must be tcp://HOST:PORT, "
                                "ipc://PATH or inproc://NAME", name, "endpoint"))
    on_error = body.get("on_error")
    if on_error is not None and on_error not in ON_ERROR:
        problems.append(Problem(line(*where, "on_error"), f"must be one of "
                                f"{', '.join(ON_ERROR)}", name, "on_error"))
        on_error = None
    plugin = body.get("plugin")
    if not isinstance(plugin, str) or not plugin:
        problems.append(Problem(line(*where), "missing 'plugin'", name, "plugin"))
        return None, inputs, problems
    try:
        cls = load(plugin)
    except PluginError as exc:
        problems.append(Problem(line(*where, "plugin"), str(exc), name, "plugin"))
        return None, inputs, problems
    params_raw = body.get("params") or {}
    if not isinstance(params_raw, dict):
        problems.append(Problem(line(*where, "params"), "must be a mapping", name, "params"))
        return None, inputs, problems
    _resolve_files(name, cls, params_raw, base, overridden or set())
    if params_raw:
        body["params"] = params_raw
    try:
        params = cls.Params(**{str(k): v for k, v in params_raw.items()})
    except ValidationError as exc:
        known = list(cls.Params.model_fields)
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "params"
            problems.append(Problem(line(*where, "params", *map(str, err["loc"][:1])),
                                    validation_message(err, params_raw, known), name,
                                    f"params.{key}"))
        return None, inputs, problems
    spec = NodeSpec(name=name, plugin=plugin, cls=cls, params=params, inputs=inputs,
                    endpoint=endpoint, on_error=on_error)
    return spec, inputs, problems


def _check_edges(specs: dict[str, NodeSpec], inputs_of: dict[str, tuple[str, ...]],
                 nodes: dict[str, Any], line: Any) -> list[Problem]:
    problems = []
    for name, inputs in inputs_of.items():
        where = line("nodes", name, "input")
        for i in inputs:
            if i not in nodes:
                problems.append(Problem(where, f"unknown node '{i}'"
                                        + _did_you_mean(i, nodes), name, "input"))
            elif i == name:
                problems.append(Problem(where, "a node cannot feed itself", name, "input"))
        spec = specs.get(name)
        if spec is None:
            continue
        if spec.is_source and inputs:
            problems.append(Problem(where, f"{spec.plugin} is a source and takes no input",
                                    name, "input"))
        if not spec.is_source and not inputs:
            problems.append(Problem(line("nodes", name), f"missing input: {spec.plugin} "
                                    "needs 'input: NODE'", name, "input"))
    return problems


def _topological(specs: dict[str, NodeSpec], inputs_of: dict[str, tuple[str, ...]]
                 ) -> tuple[list[str], list[str]]:
    """Kahn's order of the nodes, and a cycle (as a closed path) if there is one."""
    pending = {n: set(inputs_of[n]) for n in specs}
    order: list[str] = []
    ready = [n for n, deps in pending.items() if not deps]
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m, deps in pending.items():
            if n in deps:
                deps.discard(n)
                if not deps and m not in order and m not in ready:
                    ready.append(m)
    stuck = [n for n in specs if n not in order]
    if not stuck:
        return order, []
    # walk back along inputs from a stuck node until a node repeats: that is the cycle
    path, n = [], stuck[0]
    while n not in path:
        path.append(n)
        n = next(i for i in inputs_of[n] if i in stuck)
    cycle = path[path.index(n):] + [n]
    return order, cycle[::-1]
