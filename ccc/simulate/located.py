"""YAML values that remember where they were written, so validation errors can name a line.

:func:`compose_located` parses one YAML document into plain Python values (as
``yaml.safe_load`` would) plus a tree of 1-based line and column numbers;
:func:`location_of` finds the position of a pydantic error location (``("events", 2, "at")``),
falling back to the nearest enclosing value that exists (a missing field is reported where its
mapping starts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

#: libyaml's parser when PyYAML was built with it (about 10x faster), else the pure-Python one;
#: both give the same values and positions.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(slots=True)
class Located:
    """A parsed value with its position and its children's (mapping keys or list indices)."""

    value: Any
    line: int
    column: int
    children: dict[Any, Located] = field(default_factory=dict)


def compose_located(text: str) -> Located:
    """Parse one YAML document (safe tags only) into a :class:`Located` tree.

    Raises:
        yaml.YAMLError: the text is not YAML (the error carries ``problem_mark``).
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Located(None, 1, 1)
        value = loader.construct_document(node)
        return _tree(loader, node, value)
    finally:
        loader.dispose()


def _tree(loader: yaml.SafeLoader, node: Node, value: Any) -> Located:
    here = Located(value, node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, MappingNode) and isinstance(value, dict):
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if isinstance(key, str | int | float | bool) and key in value:
                here.children[key] = _tree(loader, value_node, value[key])
    elif isinstance(node, SequenceNode) and isinstance(value, list):
        for i, item_node in enumerate(node.value):
            here.children[i] = _tree(loader, item_node, value[i])
    return here


def location_of(tree: Located, loc: Sequence[int | str]) -> tuple[int, int]:
    """``(line, column)`` of the deepest value along ``loc`` that exists in ``tree``."""
    here = tree
    for part in loc:
        child = here.children.get(part)
        if child is None:
            break
        here = child
    return here.line, here.column
