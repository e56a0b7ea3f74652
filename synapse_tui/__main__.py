"""``synapse-tui [DATA] [--config run.toml] [--write-config [PATH]] [--theme NAME]``.

Arguments are parsed before Textual is imported, so ``--help``/``--version`` return at once;
torch and transformers are imported only when a run starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synapse_core import __version__
from synapse_core.config import ConfigError, RunConfig, load_config, validate, write_config

DEFAULT_CONFIG_NAME = "run.toml"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``synapse-tui``."""
    p = argparse.ArgumentParser(
        prog="synapse-tui",
        description="Review a reasoning chat dataset, fine-tune a model on it (KTO/SFT, LoRA) "
                    "and export GGUF, in one terminal dashboard. With no arguments it opens "
                    "the embedded demo dataset and the tiny demo model.")
    p.add_argument("data", nargs="?", metavar="DATA",
                   help="JSONL dataset to open (overrides data.path of the config)")
    p.add_argument("--config", metavar="RUN.TOML", help="run configuration (TOML)")
    p.add_argument("--write-config", nargs="?", const=DEFAULT_CONFIG_NAME, metavar="PATH",
                   help=f"write the configuration (defaults, or --config's, with DATA/--theme "
                        f"applied) to PATH (default {DEFAULT_CONFIG_NAME}) and exit")
    p.add_argument("--theme", metavar="NAME", help="colour theme (overrides ui.theme)")
    p.add_argument("--version", action="version", version=f"synapse-tui {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the app (or write the config); returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        # no file: the demo's CPU-sized settings to run, the reference defaults to write
        config = load_config(args.config) if (args.config or not args.write_config) \
            else RunConfig()
        if args.data:
            config.data.path = str(Path(args.data).resolve())
        if args.theme:
            config.ui.theme = args.theme
        validate(config)
    except ConfigError as e:
        print(f"synapse-tui: {e}", file=sys.stderr)
        return 2
    if args.write_config:
        target = Path(args.write_config)
        if target.exists():
            print(f"synapse-tui: {target}: exists; not overwritten", file=sys.stderr)
            return 1
        write_config(config, target)
        print(f"wrote {target}")
        return 0
    if args.theme:
        from synapse_tui.themes import theme_names

        names = theme_names()
        if args.theme not in names:
            print(f"synapse-tui: --theme: unknown theme {args.theme!r}; choose one of "
                  + ", ".join(names), file=sys.stderr)
            return 2

    from synapse_tui.app import SynapseApp  # Textual loads only when the app runs

    return int(SynapseApp(config, data_label=args.data or "", theme=args.theme).run() or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
