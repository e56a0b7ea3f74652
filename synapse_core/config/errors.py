"""What is wrong with a configuration: one ``ConfigIssue`` per key, many per ``ConfigError``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class ConfigIssue:
    """One problem (or warning) about one key: ``FILE: key: message`` when printed.

    ``key`` is the dotted TOML key (``training.learning_rate``; ``(file)`` or ``(toml)`` when
    the file itself cannot be read), ``source`` the file if any.
    """

    key: str
    message: str
    source: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.key}: {self.message}"


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range.

    Carries every problem found (``issues``, file order); its text is one ``FILE: key:
    message`` line per problem. ``key``, ``message`` and ``source`` are the first one's.
    """

    def __init__(self, key: str, message: str, source: str | None = None) -> None:
        self.issues: list[ConfigIssue] = [ConfigIssue(key, message, source)]
        super().__init__(str(self.issues[0]))

    @classmethod
    def from_issues(cls, issues: Iterable[ConfigIssue]) -> ConfigError:
        """One error reporting all of ``issues`` (at least one)."""
        found = list(issues)
        if not found:
            raise ValueError("a ConfigError needs at least one issue")
        err = cls(found[0].key, found[0].message, found[0].source)
        err.issues = found
        err.args = ("\n".join(map(str, found)),)
        return err

    @property
    def key(self) -> str:
        """The first problem's dotted key."""
        return self.issues[0].key

    @property
    def message(self) -> str:
        """The first problem's message."""
        return self.issues[0].message

    @property
    def source(self) -> str | None:
        """The file the configuration came from, if any."""
        return self.issues[0].source

    def __str__(self) -> str:
        return "\n".join(map(str, self.issues))
