"""The ``streamser`` command line, one module per command group.

``app`` holds the click group; ``errors`` (one-line errors and exit codes) and
``options`` (shared click options) sit below the command modules, which never import
each other. ``main`` is resolved lazily so that ``streamser.cli.errors`` can be imported
without loading every command.
"""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "main":
        from .app import main
        return main
    raise AttributeError(f"module 'streamser.cli' has no attribute {name!r}")
