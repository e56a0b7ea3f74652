"""``synapse-tui`` entry point (placeholder: the app shell issue fills it)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("synapse-tui: app shell not built yet", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
