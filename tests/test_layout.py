"""Layout: no two streamser modules import each other (the CLI is a package whose
command modules sit above one shared error helper), the runtime never imports the
training package, evaluation tools live together and hold no click commands."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGES = {"streamser": ROOT / "streamser", "streamser.plugins": ROOT / "plugins",
            "streamser.export": ROOT / "export"}


def modules() -> dict[str, Path]:
    out = {}
    for prefix, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([prefix, *parts])] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """streamser modules ``name`` imports, anywhere in it (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            mod = f"{base}.{node.module}" if node.level and node.module else \
                base if node.level else node.module or ""
            candidates = [mod] + [f"{mod}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        found |= {c for c in candidates if c in known and c != name}
    return found


def test_no_two_modules_import_each_other() -> None:
    known = modules()
    graph = {n: imports(n, p, known) for n, p in known.items()}
    pairs = sorted({tuple(sorted((a, b))) for a, deps in graph.items() for b in deps
                    if a in graph.get(b, ()) and not (a.startswith(b + ".") or
                                                      b.startswith(a + "."))})
    assert not pairs, pairs


def test_runtime_does_not_reach_into_training() -> None:
    """Plugins and the core import nothing from ``streamser.train`` (the front-end
    description and checkpoint loading are runtime modules), even inside functions."""
    known = modules()
    runtime = [n for n in known if n.startswith(("streamser.plugins", "streamser.executors"))
               or n in ("streamser.graph", "streamser.frontend", "streamser.checkpoint",
                        "streamser.api", "streamser.pushing", "streamser.pcm",
                        "streamser.launch", "streamser.node", "streamser.registry")]
    assert "streamser.frontend" in runtime and "streamser.checkpoint" in runtime
    for name in runtime:
        deps = imports(name, known[name], known)
        assert not {d for d in deps if d.startswith("streamser.train")}, (name, deps)


def test_evaluation_holds_no_click_commands() -> None:
    known = modules()
    for name, path in known.items():
        if name.startswith("streamser.evaluation"):
            text = path.read_text()
            assert "import click" not in text, name
            assert not {d for d in imports(name, path, known) if d.startswith("streamser.cli")}


def test_cli_commands_sit_above_one_error_helper() -> None:
    known = modules()
    cli = {n: imports(n, p, known) for n, p in known.items() if n.startswith("streamser.cli.")}
    for name, deps in cli.items():
        inside = {d for d in deps if d.startswith("streamser.cli")}
        if name != "streamser.cli.app":
            assert inside <= {"streamser.cli.errors", "streamser.cli.options"}, (name, inside)
    assert not cli["streamser.cli.errors"] & set(cli), "errors imports a command module"
    for name in ("eventscore", "teststreams", "plotevents", "bench"):
        assert f"streamser.evaluation.{name}" in known
    assert "streamser.cli.evaluation" in known
