"""Where a graph's detector is: the smoother, the head that feeds it (through merge
nodes) and the backbone that feeds the head; the backbone's identity; the adapted graph."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..graph import Graph

VERIFIER_PLUGIN = "verify.home"
SMOOTHER_PLUGIN = "smooth.hysteresis"


class AdaptError(ValueError):
    """Something adapt cannot do, said in one line."""


@dataclass(frozen=True)
class Detector:
    """Node names: ``smoother`` (the cry events), ``head`` (the ``infer`` node scoring
    rows), ``backbone`` (the node making its rows), ``chain`` (every non-source node the
    backbone depends on, itself last, in graph order), ``source`` and ``verifier`` (an
    existing ``verify.home`` node, or None)."""

    smoother: str
    head: str
    backbone: str
    chain: tuple[str, ...]
    source: str
    verifier: str | None


def find_detector(graph: Graph) -> Detector:
    """The detector of ``graph``; :class:`AdaptError` when it has none adapt can use."""
    nodes = graph.nodes
    smoothers = [n for n, s in nodes.items() if s.plugin == SMOOTHER_PLUGIN]
    if len(smoothers) != 1:
        raise AdaptError(f"{graph.file}: adapt needs exactly one {SMOOTHER_PLUGIN} node, "
                         f"found {len(smoothers)}")
    heads, verifier, todo, seen = [], None, list(nodes[smoothers[0]].inputs), set()
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        plugin = nodes[name].plugin
        if plugin == "infer":
            heads.append(name)
        elif plugin == VERIFIER_PLUGIN:
            verifier = name
            todo += [i for i in nodes[name].inputs if nodes[i].plugin == "infer"]
        elif plugin.startswith("merge."):
            todo += list(nodes[name].inputs)
    if len(heads) != 1:
        raise AdaptError(f"{graph.file}: adapt needs one infer node feeding "
                         f"'{smoothers[0]}' (through merge nodes), found "
                         f"{len(heads)}{': ' + ', '.join(heads) if heads else ''}")
    head = heads[0]
    if len(nodes[head].inputs) != 1:
        raise AdaptError(f"{graph.file}: the head '{head}' must read one node (its "
                         f"backbone), it reads {len(nodes[head].inputs)}")
    backbone = nodes[head].inputs[0]
    ancestors = _ancestors(graph, backbone) | {backbone}
    sources = [n for n in ancestors if nodes[n].is_source]
    if len(sources) != 1:
        raise AdaptError(f"{graph.file}: the backbone '{backbone}' must depend on one "
                         f"source, it depends on {len(sources)}")
    chain = tuple(n for n in nodes if n in ancestors and not nodes[n].is_source)
    return Detector(smoothers[0], head, backbone, chain, sources[0], verifier)


def patch_node(graph: Graph, det: Detector) -> str | None:
    """The node whose patches the backbone reads (its one input, making ``patch``
    frames), or None."""
    inputs = graph.nodes[det.backbone].inputs
    if len(inputs) == 1 and "patch" in graph.nodes[inputs[0]].out_kinds:
        return inputs[0]
    return None


def _ancestors(graph: Graph, name: str) -> set[str]:
    out: set[str] = set()
    todo = list(graph.nodes[name].inputs)
    while todo:
        n = todo.pop()
        if n not in out:
            out.add(n)
            todo += list(graph.nodes[n].inputs)
    return out


def backbone_signature(graph: Graph, det: Detector) -> dict[str, Any]:
    """What makes the backbone's rows: each chain node's plugin and params, and the
    SHA-256 of every model file a param names (a bundled model name is resolved)."""
    out = []
    for name in det.chain:
        spec = graph.nodes[name]
        params = json.loads(spec.params.model_dump_json())
        files = {k: _file_hash(v) for k, v in params.items() if isinstance(v, str)}
        out.append({"plugin": spec.plugin, "params": params,
                    "files": {k: v for k, v in files.items() if v}})
    return {"chain": out}


def _file_hash(value: str) -> str | None:
    from ..zoo import BUILDS, ZOO
    path = Path(value)
    if not path.is_file():
        path = next((ZOO / f"{value}{b}" for b in BUILDS if (ZOO / f"{value}{b}").is_file()),
                    path)
    if not path.is_file() or path.stat().st_size < 1024:
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def describe_signature(sig: dict[str, Any]) -> str:
    """A signature in one short phrase: ``features.logmel > window.patch(frames=96, ...)``."""
    def node(n: dict[str, Any]) -> str:
        files = ", ".join(f"{k} sha256 {h[:12]}" for k, h in n["files"].items())
        return n["plugin"] + (f" [{files}]" if files else "")
    return " > ".join(node(n) for n in sig["chain"])


def signature_difference(theirs: dict[str, Any], mine: dict[str, Any]) -> str:
    """Where two backbone signatures first differ, in words."""
    a, b = theirs["chain"], mine["chain"]
    for x, y in zip(a, b):
        if x["plugin"] != y["plugin"]:
            return f"{x['plugin']} there, {y['plugin']} here"
        for key in sorted(set(x["params"]) | set(y["params"])):
            if x["params"].get(key) != y["params"].get(key):
                return (f"{x['plugin']} {key}: {x['params'].get(key)!r} there, "
                        f"{y['params'].get(key)!r} here")
        if x["files"] != y["files"]:
            return f"{x['plugin']}'s model file differs"
    return f"{describe_signature(theirs)} there, {describe_signature(mine)} here"


def adapted_graph(raw: dict[str, Any], det: Detector, verifier_file: str,
                  node_name: str = "verify", reads: str | None = None) -> dict[str, Any]:
    """``raw`` with a ``verify.home`` node reading ``reads`` (the backbone by default; the
    patches it reads for a timbre gate) and the head, and every node that read the head
    reading it instead (an existing verifier is replaced)."""
    import copy
    out = copy.deepcopy(raw)
    nodes = out["nodes"]
    old = det.verifier
    name = old or node_name
    while old is None and name in nodes:
        name += "_"
    body = {"plugin": VERIFIER_PLUGIN, "input": [reads or det.backbone, det.head],
            "params": {"model": verifier_file}}
    if old is None:
        for other in nodes.values():
            inputs = other.get("input")
            if inputs == det.head:
                other["input"] = name
            elif isinstance(inputs, list):
                other["input"] = [name if i == det.head else i for i in inputs]
    rebuilt = {}
    for key, value in nodes.items():
        if key == name:
            continue
        rebuilt[key] = value
        if key == det.head:
            rebuilt[name] = body
    out["nodes"] = rebuilt
    return out


def adapted_head_graph(raw: dict[str, Any], det: Detector, model_file: str) -> dict[str, Any]:
    """``raw`` with the head ``infer`` node running ``model_file`` (its build unset)."""
    import copy
    out = copy.deepcopy(raw)
    params = dict(out["nodes"][det.head].get("params") or {})
    params.pop("build", None)
    params["model"] = model_file
    out["nodes"][det.head]["params"] = params
    return out
