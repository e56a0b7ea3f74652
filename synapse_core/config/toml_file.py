"""The run config as a TOML file: read (``load_config``) and written, commented, from the
schema's declarations (``dump_config``, ``write_config``, what ``--write-config`` writes)."""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
from pydantic.fields import FieldInfo

from synapse_core.config.errors import ConfigError
from synapse_core.config.schema import RunConfig, allowed_range, demo_config, unset_type
from synapse_core.config.validation import config_from_dict, validate
from synapse_core.fileio import atomic_write_text

log = logging.getLogger("synapse_core.config")

_WRITTEN_AS_NONE_BEFORE: dict[tuple[str, str], Any] = {
    ("scoring", "min_score"): None,
    ("training", "neftune_noise_alpha"): 0.0,
}
"""Files written before the typed schema spelled an unset optional as the string "none" (TOML
has no null): every run folder's run.toml holds ``min_score = "none"``. Read those as the
value that means the same now (None: the key is left out, so it takes its unset default)."""


def load_config(path: str | os.PathLike[str] | None) -> RunConfig:
    """Read a TOML run config; ``None`` gives ``demo_config()``. Errors name the file and key.

    Raises ``ConfigError`` with every problem in the file; warnings (a setting that leaves a
    label class empty) are logged on the ``synapse_core.config`` logger, and ``validate``
    returns them.
    """
    if path is None:
        return demo_config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("(file)", "config file not found", str(p)) from None
    except UnicodeDecodeError as e:
        raise ConfigError("(file)", f"not UTF-8 text ({e.reason} at byte {e.start})",
                          str(p)) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("(toml)", str(e), str(p)) from None
    cfg = config_from_dict(_read_old_none(raw), source=str(p))
    for warning in validate(cfg):
        log.warning("warning: %s", warning)
    return cfg


def _read_old_none(raw: dict[str, Any]) -> dict[str, Any]:
    for (section, key), now in _WRITTEN_AS_NONE_BEFORE.items():
        table = raw.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str) \
                and table[key].lower() == "none":
            if now is None:
                del table[key]
            else:
                table[key] = now
    return raw


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_str(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} to TOML")


def _toml_str(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def dump_config(cfg: RunConfig, *, comments: bool = True) -> str:
    """TOML text of ``cfg``; with ``comments`` each key carries its unit and help line.

    A setting that is unset (None) is written commented out, with an example value."""
    lines = ["# synapse-tui run configuration. Every key is optional; these are the defaults.",
             "# A commented-out key is unset (TOML has no null); remove the # to set it."]
    for name, section in cfg.sections().items():
        lines += ["", f"[{name}]"]
        for key, info in type(section).model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if comments and info.description:
                lines.append(f"# {help_line(info)}")
            value = getattr(section, key)
            if value is None:
                lines.append(f"# {key} = {_toml_value(extra.get('example'))}")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def help_line(info: FieldInfo) -> str:
    """A setting's comment: unit, help, then what is allowed (range or choices) if bounded."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    unit = f"{extra['unit']}; " if extra.get("unit") else ""
    allowed = ""
    base = unset_type(info.annotation)
    if get_origin(base) is Literal:
        allowed = " | one of " + ", ".join(map(str, get_args(base)))
    elif any(isinstance(m, annotated_types.BaseMetadata) for m in info.metadata):
        allowed = f" | allowed {allowed_range(info)}"
    return f"{unit}{info.description}{allowed}"


def write_config(cfg: RunConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``cfg`` as TOML atomically."""
    return atomic_write_text(Path(path), dump_config(cfg))
