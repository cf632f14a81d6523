"""One-line pipelines, the gst-launch habit: ``plugin k=v ! plugin k=v ! ...`` as a graph.

    source.file path=a.wav ! vad.energy mode=annotate ! features.logmel ! sink.console

- An element is a plugin (a registered name or ``module:Class``) and its params as
  ``key=value`` (the value read as YAML: ``96``, ``annotate``, ``'[0.3, 0.7]'``); quote a
  word that holds spaces. ``!`` links an element to the next.
- ``name=x`` names the node (default: the plugin's namespace, ``source`` for
  ``source.file``, numbered when taken: ``infer``, ``infer2``). ``x.`` refers to node
  ``x``: at the start of a chain it branches from ``x`` (fan-out), after ``!`` it links
  into ``x`` (fan-in, inputs in the order written). An element that follows no ``!``
  starts a new chain.

The graph is validated as a graph file is; each problem's position is ``<launch>:1:COL``
(the column in the line).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .graph import GraphError, Problem

FILE = "<launch>:1"            # problems render as <launch>:1:COLUMN
GRAPH_NAME = "launch"


@dataclass
class _Element:
    plugin: str
    col: int
    params: dict[str, Any] = field(default_factory=dict)
    param_cols: dict[str, int] = field(default_factory=dict)
    name: str | None = None
    inputs: list[tuple[str, int]] = field(default_factory=list)   # (producer, column)


@dataclass(frozen=True)
class _Ref:
    """``name.``: the node named ``name``."""

    name: str
    col: int


def tokens(line: str) -> list[tuple[str, int]]:
    """Words of ``line`` and their 1-based columns: whitespace separates, quotes group
    (and are removed), ``!`` outside quotes is a word of its own."""
    out: list[tuple[str, int]] = []
    word, start, quote = "", 0, ""
    for i, ch in enumerate(line + " "):
        if quote:
            if ch == quote:
                quote = ""
            else:
                word += ch
            continue
        if ch in "'\"":
            quote, start = ch, start or i + 1
        elif ch.isspace() or ch == "!":
            if word or start:
                out.append((word, start))
            word, start = "", 0
            if ch == "!":
                out.append(("!", i + 1))
        else:
            word, start = word + ch, start or i + 1
    if quote:
        raise GraphError(FILE, [Problem(len(line), f"unclosed {quote}")])
    return out


def parse(line: str) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """The graph data of a launch line, and the column of every key (for messages)."""
    elements: list[_Element] = []
    links: list[tuple[_Ref | _Element, _Ref | _Element, int]] = []  # from, to, column
    problems: list[Problem] = []
    prev: _Ref | _Element | None = None
    bang: int | None = None                           # column of a pending '!'
    current: _Element | None = None
    for word, col in tokens(line):
        if word == "!":
            if prev is None or bang is not None:
                problems.append(Problem(col, "'!' needs an element before it"))
            bang, current = col, None
            continue
        if current is not None and "=" in word and not word.startswith("="):
            key, _, value = word.partition("=")
            if key == "name":
                current.name = value
            else:
                current.params[key] = _value(value)
                current.param_cols[key] = col
            continue
        if "=" in word:
            problems.append(Problem(col, f"'{word}' has no element before it (a plugin "
                                         "name first, then key=value)"))
            continue
        item: _Ref | _Element
        if word.endswith(".") and ":" not in word:
            item, current = _Ref(word[:-1], col), None      # a reference to a named node
        else:
            item = current = _Element(word, col)
            elements.append(current)
        if bang is not None and prev is not None:
            links.append((prev, item, bang))
        prev, bang = item, None
    if bang is not None:
        problems.append(Problem(bang, "the line ends with '!': an element must follow"))
    if not elements and not problems:
        problems.append(Problem(1, "an empty line: give 'plugin k=v ! plugin k=v ! ...'"))
    named = _name(elements, problems)
    for producer, consumer, col in links:
        p, c = (_resolve(x, named, problems) for x in (producer, consumer))
        if p is not None and c is not None:
            c.inputs.append((p.name or "", col))
    if problems:
        raise GraphError(FILE, problems)
    return _graph(elements)


def _value(text: str) -> Any:
    """A param value: YAML scalars (numbers, true/false, null), ``[...]`` lists and
    ``{...}`` mappings as YAML reads them; anything else the text itself (``-``, ``a:b``)."""
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text
    if isinstance(value, (list, dict)) and not text.lstrip().startswith(("[", "{")):
        return text
    return value


def _name(elements: list[_Element], problems: list[Problem]) -> dict[str, _Element]:
    """Node names: those given (``name=``), then the plugins' namespaces, numbered."""
    named: dict[str, _Element] = {}
    for e in elements:
        if e.name is not None:
            if not re.fullmatch(r"[A-Za-z_][\w-]*", e.name):
                problems.append(Problem(e.col, f"name={e.name}: a node name is letters, "
                                               "digits, _ and -"))
            elif e.name in named:
                problems.append(Problem(e.col, f"two elements are named '{e.name}'"))
            named[e.name] = e
    for e in elements:
        if e.name is None:
            base = re.sub(r"\W", "_", e.plugin.rpartition(":")[2].lower()
                          if ":" in e.plugin else e.plugin.partition(".")[0]) or "node"
            name, n = base, 1
            while name in named:
                n += 1
                name = f"{base}{n}"
            e.name = name
            named[name] = e
    return named


def _resolve(item: _Ref | _Element, named: dict[str, _Element], problems: list[Problem]
             ) -> _Element | None:
    if isinstance(item, _Element):
        return item
    if item.name in named:
        return named[item.name]
    close = difflib.get_close_matches(item.name, list(named), n=1)
    hint = f" (did you mean '{close[0]}.'?)" if close else ""
    problems.append(Problem(item.col, f"'{item.name}.' names no element; name one with "
                                      f"name={item.name}" + hint))
    return None


def _graph(elements: list[_Element]) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    nodes: dict[str, Any] = {}
    cols: dict[tuple[str, ...], int] = {}
    for e in elements:
        name = e.name or ""
        body: dict[str, Any] = {"plugin": e.plugin}
        if e.inputs:
            producers = [p for p, _ in e.inputs]
            body["input"] = producers[0] if len(producers) == 1 else producers
            cols[("nodes", name, "input")] = e.inputs[0][1]
        if e.params:
            body["params"] = e.params
            cols[("nodes", name, "params")] = min(e.param_cols.values())
        nodes[name] = body
        cols[("nodes", name)] = cols[("nodes", name, "plugin")] = e.col
        for key, col in e.param_cols.items():
            cols[("nodes", name, "params", key)] = col
    return {"name": GRAPH_NAME, "nodes": nodes}, cols


def to_yaml(raw: dict[str, Any]) -> str:
    """A graph file of the launch line's graph, one node per line."""
    lines = [f"name: {raw['name']}", "nodes:"]
    width = max(len(n) for n in raw["nodes"]) + 1
    for name, body in raw["nodes"].items():
        flow = yaml.safe_dump(body, default_flow_style=True, sort_keys=False,
                              width=1 << 20).strip()
        lines.append(f"  {name + ':':<{width}} {flow}")
    return "\n".join(lines) + "\n"
