"""Safe YAML loading that remembers the line of every key, for error messages."""
from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[str, ...]
#: Bounds of a graph file: its size, and the values it expands to (aliases included).
MAX_BYTES = 1 << 20
MAX_VALUES = 50_000


class YamlError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def load_with_lines(text: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML with the safe loader; return the data and ``{key path: 1-based line}``.
    A text over :data:`MAX_BYTES`, or one whose values (aliases expanded) exceed
    :data:`MAX_VALUES` (an alias bomb), is refused."""
    if len(text) > MAX_BYTES:
        raise YamlError(1, f"graph file larger than {MAX_BYTES} bytes")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(mark.line + 1 if mark else 1, f"malformed YAML: {problem}") from None
    lines: dict[Path_, int] = {}
    constructor = yaml.SafeLoader("")
    count = 0

    def build(node: yaml.Node, path: Path_) -> Any:
        nonlocal count
        count += 1
        if count > MAX_VALUES or len(path) > 100:
            raise YamlError(node.start_mark.line + 1, f"graph expands to more than "
                            f"{MAX_VALUES} values or 100 levels (aliases?)")
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    raise YamlError(key_node.start_mark.line + 1, "malformed YAML: complex key")
                sub = (*path, str(key))
                lines[sub] = key_node.start_mark.line + 1
                out[key] = build(value_node, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(v, (*path, str(i))) for i, v in enumerate(node.value)]
        return constructor.construct_object(node, deep=True)

    return (build(root, ()) if root is not None else None), lines
