"""``synapse``: the headless commands (score, graph, train, export, runs).

Each domain keeps its own subcommand in ``synapse_core/<domain>/cli.py`` with an
``add_parser(subparsers)`` that sets ``func``; those modules import nothing heavy at the top,
so ``synapse --help`` stays fast and never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from synapse_core import __version__
from synapse_core.config import ConfigError

SUBCOMMAND_MODULES = (
    "synapse_core.data.cli",
    "synapse_core.graph.cli",
    "synapse_core.training.cli",
    "synapse_core.export.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synapse",
        description="Headless synapse-tui: score a dataset, build its knowledge graph, train, "
                    "export GGUF. Every command reads the same TOML run config as the app.")
    parser.add_argument("--version", action="version", version=f"synapse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        print(f"synapse: config error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("synapse: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
