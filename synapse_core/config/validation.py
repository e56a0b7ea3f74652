"""Validation generated from the schema: pydantic checks each declared setting, this module
turns its findings into ``FILE: key: message`` lines (all of them, in file order) and adds
the rules that span settings."""

from __future__ import annotations

import difflib
from typing import Any, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from synapse_core.config.errors import ConfigError, ConfigIssue
from synapse_core.config.rules import ERROR_RULES, config_warnings
from synapse_core.config.schema import RunConfig, Section, allowed_range, unset_type

SECTIONS: dict[str, type[Section]] = {
    name: info.annotation for name, info in RunConfig.model_fields.items()  # type: ignore[misc]
}
"""Each section's model by its table name, in file order."""

_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_SHOWN = 120  # characters of a bad value quoted in a message
_CLOSE = 0.6  # difflib's own cutoff for a close match (get_close_matches)


def config_from_dict(raw: dict[str, Any], source: str | None = None) -> RunConfig:
    """Build and validate a RunConfig from a nested dict (missing keys take defaults).

    Raises one ``ConfigError`` listing every problem, in the order the keys appear in ``raw``.
    """
    issues: list[ConfigIssue] = []
    bad: set[str] = set()  # sections and settings found invalid
    try:
        cfg: RunConfig | None = RunConfig.model_validate(raw)
    except ValidationError as e:
        issues = _issues(e, raw, source)
        bad = {_setting_of(i.key) for i in issues}
        cfg = _without(raw, bad)
    if cfg is not None:
        cfg.source = source
        for keys, rule in ERROR_RULES:
            if bad.isdisjoint([*keys, *(k.split(".")[0] for k in keys)]):
                issues.extend(rule(cfg))
    if issues:
        raise ConfigError.from_issues(sorted(issues, key=_file_order(raw)))
    assert cfg is not None
    return cfg


def validate(cfg: RunConfig) -> list[ConfigIssue]:
    """Check every setting of ``cfg`` (after changes made in code) and the cross-field rules.

    Raises ``ConfigError`` with every problem; returns the warnings (settings that leave a
    label class empty), which are not fatal.
    """
    config_from_dict(cfg.to_dict(), cfg.source)
    return config_warnings(cfg)


def _issues(e: ValidationError, raw: dict[str, Any], source: str | None) -> list[ConfigIssue]:
    """Pydantic's errors as issues; a list or table with many bad elements is one issue."""
    out: list[ConfigIssue] = []
    whole: set[tuple[Any, ...]] = set()  # settings already reported as a whole
    for err in e.errors(include_url=False, include_context=False):
        loc = err["loc"]
        if len(loc) > 2 and err["type"] != "config":
            if loc[:2] in whole:
                continue
            whole.add(loc[:2])
        out.append(_issue(err, raw, source))
    return out


def _setting_of(key: str) -> str:
    """``export.overrides.[`` -> ``export.overrides``: the declared setting a key belongs to."""
    return ".".join(key.split(".")[:2])


def _without(raw: dict[str, Any], bad: set[str]) -> RunConfig | None:
    """``raw`` validated with its bad settings left at their defaults (for the cross-field
    rules, which should still speak when an unrelated key is wrong)."""
    clean: dict[str, Any] = {}
    for name, table in raw.items():
        if name in bad or name not in SECTIONS or not isinstance(table, dict):
            continue
        known = SECTIONS[name].model_fields
        clean[name] = {k: v for k, v in table.items() if k in known and f"{name}.{k}" not in bad}
    try:
        return RunConfig.model_validate(clean)
    except ValidationError:  # pragma: no cover - every bad key was left out
        return None


def _file_order(raw: dict[str, Any]) -> Any:
    sections = list(raw)

    def order(issue: ConfigIssue) -> tuple[int, int]:
        section, _, rest = issue.key.partition(".")
        if section not in raw:
            return len(sections), 0
        table = raw[section]
        keys = list(table) if isinstance(table, dict) else []
        name = rest.split(".")[0]
        return sections.index(section), keys.index(name) if name in keys else len(keys)
    return order


def nearest(name: str, known: list[str]) -> tuple[str, float]:
    """The known name most like ``name`` and how alike (difflib's ratio, 0..1)."""
    name = name[:_SHOWN]  # a runaway key would make the comparison slow, not better
    return max(((k, difflib.SequenceMatcher(None, name, k).ratio()) for k in known),
               key=lambda pair: pair[1])


def _unknown(name: str, known: list[str], what: str) -> str:
    best, alike = nearest(name, known)
    message = f"unknown {what}; did you mean {best}?"
    if alike < _CLOSE:  # a guess: the whole list helps more than the guess alone
        message += f" known {what}s: " + ", ".join(known)
    return message


def _issue(err: Any, raw: dict[str, Any], source: str | None) -> ConfigIssue:
    """One pydantic error as ``key: message`` in the words the config's users read."""
    loc = [_cut(str(p)) for p in err["loc"]]
    kind = err["type"]
    section = loc[0]
    if len(loc) == 1:
        if kind == "extra_forbidden":
            return ConfigIssue(section, _unknown(section, list(SECTIONS), "section"), source)
        return ConfigIssue(section, f"expected a table [{section}], got {_shown(err['input'])}",
                           source)
    model = SECTIONS[section]
    name, key = loc[1], f"{section}.{loc[1]}"
    if kind == "extra_forbidden":
        return ConfigIssue(key, _unknown(name, list(model.model_fields), "key"), source)
    info = model.model_fields[name]
    value = raw[section][name]
    if kind == "config":  # our own validators' words; a table key they name joins the key
        key = ".".join([key, *(p for p in loc[2:] if p != "[key]")])
        return ConfigIssue(key, err["msg"], source)
    if kind in _RANGE:
        if unset_type(info.annotation) is float and isinstance(value, int):
            value = float(value)  # TOML's 0 in a float setting is 0.0
        return ConfigIssue(key, f"{_shown(value)} is out of range; allowed {allowed_range(info)}",
                           source)
    if kind == "literal_error":
        choices = ", ".join(map(str, get_args(unset_type(info.annotation))))
        return ConfigIssue(key, f"{_shown(value)} is not allowed; choose one of {choices}", source)
    if kind == "finite_number":
        return ConfigIssue(key, f"expected a finite number, got {_shown(value)}", source)
    return ConfigIssue(key, f"{_expected(info)}, got {_shown(value)}", source)


_EXPECTED = {bool: "expected true or false", int: "expected an integer",
             float: "expected a number", str: "expected a string",
             list: "expected a list of strings", dict: "expected a table of strings"}


def _expected(info: FieldInfo) -> str:
    base = unset_type(info.annotation)
    return _EXPECTED.get(get_origin(base) or base, f"expected {base}")


def _shown(value: Any) -> str:
    """``repr(value)``, cut: a runaway value must not flood the terminal."""
    return _cut(repr(value))


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."

