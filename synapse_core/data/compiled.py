"""The optional compiled helpers (``_speedups``, built from ``csrc/*.c`` at install).

``speedups`` is the module, or None where it was not built (no C compiler at install) or
``SYNAPSE_PURE_PYTHON=1`` is set: the loader then runs its Python code alone, with the same
results, about a third slower. The compiled functions only ever answer for the common case
and return None for the rest, which the Python code reads as it always does.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("SYNAPSE_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from synapse_core.data import _speedups
    except ImportError:  # not built: the Python code does the same
        return None
    return _speedups


speedups = _load()
