"""Exceptions of the export steps (plain Python: the queue turns them into states)."""

from __future__ import annotations


class ExportError(RuntimeError):
    """A step failed for a reason the user can act on (message says what and where)."""


class ExportCancelled(Exception):
    """The user cancelled the job; the step stopped between two tensors."""


class VerificationFailed(ExportError):
    """The written file does not behave like the source model (logits disagree)."""
