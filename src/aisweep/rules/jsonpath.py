"""A small JSON path dialect for rules: `a.b`, `a[0]`, `data[*].owned_by`, `"key with.dots"`, and `$` for the root.

`select` returns every value the path reaches (a wildcard fans out), so matchers can ask "does any element match".
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from aisweep.errors import RuleError

_TOKEN = re.compile(r'\s*(?:\.?"((?:[^"\\]|\\.)*)"|\.?([^.\[\]"]+)|\[(\*|-?\d+)\])')

Step = str | int | None  # key, index, or None for the wildcard


@lru_cache(maxsize=4096)
def compile_path(path: str) -> tuple[Step, ...]:
    if path in ("", "$"):
        return ()
    text = path[1:] if path.startswith("$") else path
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise RuleError(f"bad JSON path {path!r} at character {pos + 1}")
        quoted, bare, bracket = m.groups()
        if quoted is not None:
            steps.append(quoted.replace('\\"', '"'))
        elif bare is not None:
            steps.append(bare)
        elif bracket == "*":
            steps.append(None)
        else:
            steps.append(int(bracket))
        pos = m.end()
    return tuple(steps)


def select(value: Any, path: str) -> list[Any]:
    """All values reached by `path` in `value` (empty when the path does not exist)."""
    current = [value]
    for step in compile_path(path):
        nxt: list[Any] = []
        for item in current:
            if step is None:
                if isinstance(item, list):
                    nxt.extend(item)
                elif isinstance(item, dict):
                    nxt.extend(item.values())
            elif isinstance(step, int):
                if isinstance(item, list) and -len(item) <= step < len(item):
                    nxt.append(item[step])
            elif isinstance(item, dict) and step in item:
                nxt.append(item[step])
        current = nxt
        if not current:
            break
    return current
