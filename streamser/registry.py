"""Plugin registry: entry-point group ``streamser.plugins`` and ``module:Class`` paths.

A ``module:Class`` path is imported as ``python -m`` would find it, from the graph file's
folder and the working directory too: they are searched after the installed packages
(so a stray ``click.py`` there cannot shadow a library), as are the folders in
``STREAMSER_PLUGIN_PATH`` (how a child of the processes executor sees its parent's).
"""
from __future__ import annotations

import difflib
import importlib
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path

from .node import Node

GROUP = "streamser.plugins"
PATH_ENV = "STREAMSER_PLUGIN_PATH"
_folders: list[str] = []


def add_plugin_folder(folder: str | Path) -> None:
    """Also look for ``module:Class`` plugins in ``folder`` (a graph file's folder)."""
    folder = str(Path(folder).absolute())
    if folder not in _folders:
        _folders.append(folder)


def plugin_folders() -> list[str]:
    """Where ``module:Class`` plugins are looked for after the installed packages: the
    graph files' folders, the working directory, ``STREAMSER_PLUGIN_PATH``."""
    env = [f for f in os.environ.get(PATH_ENV, "").split(os.pathsep) if f]
    return list(dict.fromkeys([*_folders, os.getcwd(), *env]))


def _extend_path() -> None:
    for folder in plugin_folders():
        if folder not in sys.path:
            sys.path.append(folder)


class PluginError(LookupError):
    """A plugin name that cannot be resolved to a Node class."""


@dataclass(frozen=True)
class PluginEntry:
    name: str
    target: str  # "module:Class"


@lru_cache(maxsize=1)
def available() -> dict[str, PluginEntry]:
    """Every registered plugin name -> its import target, without importing it."""
    found = {ep.name: PluginEntry(ep.name, ep.value) for ep in entry_points(group=GROUP)}
    return dict(sorted(found.items()))


def _import(target: str) -> type[Node]:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise PluginError(f"'{target}' is not a 'module:Class' path")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        where = ", ".join(plugin_folders())
        raise PluginError(f"cannot import '{target}': {exc} (searched the installed "
                          f"packages, then {where})") from None
    except AttributeError:
        if module_name == "__main__":
            raise PluginError(f"'{target}': no class {attr} in the script being run; a "
                              "class of your script works only in streamser.open() from "
                              "that script (inline or threads executor): elsewhere, put it "
                              f"in a module beside the graph (say nodes.py) and name it "
                              f"'nodes:{attr}'") from None
        raise PluginError(f"module '{module_name}' has no attribute '{attr}'") from None
    if not (isinstance(obj, type) and issubclass(obj, Node)):
        raise PluginError(f"'{target}' is not a streamser Node class")
    return obj


def load(name: str) -> type[Node]:
    """Resolve a plugin name (``filter.gain``) or path (``pkg.mod:MyNode``) to its class."""
    if ":" in name:
        _extend_path()
        return _import(name)
    entry = available().get(name)
    if entry is None:
        close = difflib.get_close_matches(name, available(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise PluginError(f"unknown plugin '{name}'{hint}; 'streamser plugins' lists them")
    return _import(entry.target)
