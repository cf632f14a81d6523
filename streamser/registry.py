"""Plugin registry: entry-point group ``streamser.plugins`` and ``module:Class`` paths."""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points

from .node import Node

GROUP = "streamser.plugins"


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
        raise PluginError(f"cannot import '{target}': {exc}") from None
    except AttributeError:
        raise PluginError(f"module '{module_name}' has no attribute '{attr}'") from None
    if not (isinstance(obj, type) and issubclass(obj, Node)):
        raise PluginError(f"'{target}' is not a streamser Node class")
    return obj


def load(name: str) -> type[Node]:
    """Resolve a plugin name (``filter.gain``) or path (``pkg.mod:MyNode``) to its class."""
    if ":" in name:
        return _import(name)
    entry = available().get(name)
    if entry is None:
        close = difflib.get_close_matches(name, available(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise PluginError(f"unknown plugin '{name}'{hint}; 'streamser plugins' lists them")
    return _import(entry.target)
