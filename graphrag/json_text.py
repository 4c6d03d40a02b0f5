"""Bounded JSON parsing for every place that reads JSON from outside (HTTP bodies, JSONL lines).

Python's decoder recurses once per nesting level, so ``[`` x 1,000 raises ``RecursionError``, which is no
``ValueError`` and escaped every handler that expected bad JSON. Nesting is checked first, with a scan that stops
at the first level past the limit, so a hostile line of a million brackets costs little.
"""

from __future__ import annotations

import json
import re

from graphrag.errors import InputError

__all__ = ["MAX_JSON_DEPTH", "loads_bounded", "nesting_exceeds"]

# No record or API body of this project nests deeper than 4 levels; 32 leaves room for users' metadata objects and
# stays far below the recursion limit of every decoder and validator the value meets afterwards.
MAX_JSON_DEPTH = 32
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def nesting_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects in ``text`` nest deeper than ``limit`` (brackets inside strings do not count)."""
    depth = 0
    for match in _BRACKETS.finditer(_STRINGS.sub('""', text)):
        depth += 1 if match.group(0) in "[{" else -1
        if depth > limit:
            return True
    return False


def loads_bounded(text: str, what: str = ""):
    """``json.loads(text)``, or an InputError naming the problem (bad JSON, deep nesting), after ``what: ``."""
    prefix = f"{what}: " if what else ""
    if nesting_exceeds(text):
        raise InputError(f"{prefix}invalid JSON: arrays or objects nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{prefix}invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:  # not reachable after the depth check; no decoder path may become a crash
        raise InputError(f"{prefix}invalid JSON: arrays or objects nested too deeply") from exc
