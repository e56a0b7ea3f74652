"""``training.gpus``: its syntax, read into a small typed value.

Whether the GPUs exist is checked when the run starts (that needs torch):
``synapse_core.training.distributed.plan_launch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from synapse_core.config.errors import ConfigError

MAX_CPU_RANKS = 64


@dataclass(frozen=True)
class GpuChoice:
    """What ``training.gpus`` asks for.

    ``kind``: ``auto`` (this process, one device), ``all`` (every visible CUDA GPU),
    ``cuda`` (the GPUs in ``cuda_indices``, CUDA order) or ``cpu`` (``cpu_ranks`` gloo ranks).
    Anything but ``auto`` runs through torchrun.
    """

    kind: Literal["auto", "all", "cuda", "cpu"]
    cuda_indices: tuple[int, ...] = ()
    cpu_ranks: int = 0

    @property
    def launches_ranks(self) -> bool:
        """True when the run is handed to torchrun (every choice but ``auto``)."""
        return self.kind != "auto"


def read_gpus(value: str) -> GpuChoice | str:
    """The choice ``value`` spells, or what is wrong with it (a message)."""
    v = value.strip().lower()
    if v in ("auto", "all"):
        return GpuChoice(v)  # type: ignore[arg-type]  # one of the two literals
    if v.startswith("cpu:"):
        n = v[4:].strip()
        if not n.isdigit() or not 1 <= int(n) <= MAX_CPU_RANKS:
            return f"{value!r}: 'cpu:N' needs N between 1 and {MAX_CPU_RANKS}"
        return GpuChoice("cpu", cpu_ranks=int(n))
    items = [x.strip() for x in v.split(",")]
    if not all(x.isdigit() for x in items):
        return (f"{value!r} is not allowed; use 'auto', 'all', a comma list of CUDA indices "
                "('0,1') or 'cpu:N'")
    indices = tuple(int(x) for x in items)
    if len(set(indices)) != len(indices):
        return f"{value!r} names a GPU twice"
    return GpuChoice("cuda", cuda_indices=indices)


def gpus_problem(value: str) -> str:
    """What is wrong with ``value`` as ``training.gpus``; empty when nothing is."""
    read = read_gpus(value)
    return read if isinstance(read, str) else ""


def parse_gpus(value: str, source: str | None = None) -> GpuChoice:
    """``training.gpus`` read into a ``GpuChoice``; ``ConfigError`` names the key otherwise."""
    read = read_gpus(value)
    if isinstance(read, str):
        raise ConfigError("training.gpus", read, source)
    return read
