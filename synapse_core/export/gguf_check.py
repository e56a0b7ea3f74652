"""Cheap structural checks of a GGUF file before anything loads it.

``gguf.GGUFReader`` answers a damaged file with errors like "index 0 is out of bounds" or
"cannot reshape array", and llama.cpp may crash on one. ``check_layout`` walks the header, the
key/value table and the tensor table with bounds checks (linear in the header's size, never
trusting a count further than the file's bytes allow) and names what is wrong and where:
an empty file, a bad magic, counts the file cannot hold, a table that ends early, a tensor of an
unknown type or whose data runs past the end of the file. ``scan_values`` then dequantises the
tensor data (all of it for small files, evenly spaced samples of big ones) and counts NaN/Inf.
``check_sums`` compares the file with the ``SHA256SUMS`` an export writes beside its files.
"""

from __future__ import annotations

import hashlib
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synapse_core.export.errors import ExportError

MAGIC = b"GGUF"
SUMS_FILE = "SHA256SUMS"
"""Checksums of an export's files (``sha256sum -c`` format), written beside them."""

# value type -> fixed size in bytes (8 = string, 9 = array are variable)
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_ALIGNMENT_KEY = "general.alignment"
SCAN_ALL_BYTES = 256 * 2**20
"""Files up to this size have every value scanned for NaN/Inf; bigger ones are sampled."""


class GGUFDamaged(ExportError):
    """The file is not a GGUF llama.cpp could read safely (message: file, where, what)."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the table: name, ggml type number, shape, absolute byte range."""

    name: str
    type: int
    shape: tuple[int, ...]
    start: int
    nbytes: int


@dataclass
class Layout:
    """What the header says: version, key count, tensors, where the data starts."""

    version: int
    n_kv: int
    tensors: list[TensorInfo] = field(default_factory=list)
    data_start: int = 0
    size: int = 0


class _Cursor:
    def __init__(self, buf: Any, path: Path) -> None:
        self.buf, self.pos, self.path, self.size = buf, 0, path, len(buf)

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise GGUFDamaged(f"{self.path}: the file ends inside {what} (byte {self.pos}, "
                              f"needs {n} more, the file has {self.size})")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return bytes(b)

    def u32(self, what: str) -> int:
        return struct.unpack("<I", self.take(4, what))[0]

    def u64(self, what: str) -> int:
        return struct.unpack("<Q", self.take(8, what))[0]

    def string(self, what: str) -> str:
        n = self.u64(what)
        return self.take(n, what).decode("utf-8", "replace")

    def skip_value(self, vtype: int, what: str) -> Any:
        if vtype in _FIXED:
            raw = self.take(_FIXED[vtype], what)
            return int.from_bytes(raw, "little") if vtype in (4, 10) else None
        if vtype == _STRING:
            self.string(what)
            return None
        if vtype == _ARRAY:
            itype, count = self.u32(what), self.u64(what)
            if itype in _FIXED:
                self.take(_FIXED[itype] * count, what)
            elif itype == _STRING:
                if count * 8 > self.size - self.pos:
                    raise GGUFDamaged(f"{self.path}: {what}: an array of {count:,} strings "
                                      f"cannot fit in the {self.size:,}-byte file")
                for _ in range(count):
                    self.string(what)
            else:
                raise GGUFDamaged(f"{self.path}: {what}: unknown array item type {itype}")
            return None
        raise GGUFDamaged(f"{self.path}: {what}: unknown value type {vtype}")


def check_layout(path: Path) -> Layout:
    """Walk the header and tables of ``path``; GGUFDamaged naming the problem, else the
    layout (every tensor's data lies inside the file)."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise GGUFDamaged(f"{path}: the file is empty (0 bytes)")
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        c = _Cursor(buf, path)
        magic = c.take(4, "the magic number") if size >= 4 else b""
        if magic != MAGIC:
            raise GGUFDamaged(f"{path}: not a GGUF file (starts with {bytes(buf[:4])!r}, "
                              f"expected {MAGIC!r})")
        version = c.u32("the version")
        if version not in (2, 3):
            raise GGUFDamaged(f"{path}: GGUF version {version} (llama.cpp reads 2 and 3)")
        n_tensors, n_kv = c.u64("the tensor count"), c.u64("the key/value count")
        # the smallest key/value is 8+1+4+1 bytes, the smallest tensor entry 8+1+4+8+4+8
        if n_kv * 14 + n_tensors * 33 > size:
            raise GGUFDamaged(f"{path}: the header says {n_tensors:,} tensors and {n_kv:,} "
                              f"keys, more than a {size:,}-byte file can hold (damaged header)")
        alignment = 32
        for i in range(n_kv):
            key = c.string(f"key #{i}")
            vtype = c.u32(f"key {key!r}")
            value = c.skip_value(vtype, f"key {key!r}")
            if key == _ALIGNMENT_KEY and value:
                alignment = int(value)
        layout = Layout(version, n_kv, size=size)
        infos = []
        for i in range(n_tensors):
            name = c.string(f"tensor entry #{i}")
            n_dims = c.u32(f"tensor {name!r}")
            if n_dims > 8:
                raise GGUFDamaged(f"{path}: tensor {name!r}: {n_dims} dimensions (at most 8)")
            shape = tuple(c.u64(f"tensor {name!r}") for _ in range(n_dims))
            ttype, offset = c.u32(f"tensor {name!r}"), c.u64(f"tensor {name!r}")
            try:
                block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
            except (ValueError, KeyError):
                raise GGUFDamaged(f"{path}: tensor {name!r}: unknown ggml type {ttype}") from None
            n = 1
            for d in shape:
                n *= d
            if shape and n % block:
                raise GGUFDamaged(f"{path}: tensor {name!r}: {n} values is not a whole number "
                                  f"of {block}-value blocks")
            infos.append((name, ttype, shape, offset, n // block * type_size))
        pad = (-c.pos) % alignment
        layout.data_start = c.pos + pad
    for name, ttype, shape, offset, nbytes in infos:
        start = layout.data_start + offset
        if start + nbytes > size:
            raise GGUFDamaged(f"{path}: tensor {name!r}: its data is bytes {start:,}-"
                              f"{start + nbytes:,} but the file ends at {size:,} (truncated)")
        layout.tensors.append(TensorInfo(name, ttype, shape, start, nbytes))
    return layout


def scan_values(path: Path, layout: Layout, budget: int = SCAN_ALL_BYTES) -> tuple[list[str], float]:
    """Dequantise tensor data and find NaN/Inf: (problems, fraction of the data scanned).
    Every byte when the data fits in ``budget``; else evenly spaced slices of each tensor."""
    import numpy as np
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf.quants import dequantize

    total = sum(t.nbytes for t in layout.tensors) or 1
    share = min(1.0, budget / total)
    problems: list[str] = []
    scanned = 0
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        for t in layout.tensors:
            qtype = GGMLQuantizationType(t.type)
            block, type_size = GGML_QUANT_SIZES[qtype]
            n_blocks = t.nbytes // type_size
            want = max(1, int(n_blocks * share))
            pieces = 16 if want < n_blocks else 1  # spread the sample over the tensor
            per = max(1, want // pieces)
            bad = 0
            for k in range(pieces):
                first = (n_blocks - per) * k // max(1, pieces - 1) if pieces > 1 else 0
                lo = t.start + first * type_size
                raw = np.frombuffer(buf[lo:lo + per * type_size], dtype=np.uint8)
                try:
                    vals = dequantize(raw, qtype)
                except NotImplementedError:  # a type gguf-py cannot dequantise: not scanned
                    break
                bad += int(vals.size - np.count_nonzero(np.isfinite(vals)))
                scanned += raw.size
            if bad:
                problems.append(f"tensor {t.name} holds {bad:,} NaN/Inf values")
    return problems, scanned / total


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file (read in chunks)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def write_sums(folder: Path, files: list[Path]) -> Path:
    """``folder/SHA256SUMS`` for ``files`` (names relative to ``folder``), written atomically."""
    from synapse_core.fileio import atomic_write_text

    lines = [f"{file_sha256(f)}  {Path(f).relative_to(folder)}" for f in files]
    return atomic_write_text(Path(folder) / SUMS_FILE, "\n".join(lines) + "\n")


def check_sums(path: Path) -> str | None:
    """Compare ``path`` with its line in ``SHA256SUMS`` beside it: None when there is no such
    line, "" when it matches, else the problem."""
    sums = Path(path).parent / SUMS_FILE
    if not sums.is_file():
        return None
    for line in sums.read_text(encoding="utf-8", errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        if name.strip() == Path(path).name:
            got = file_sha256(path)
            if got != digest.strip():
                return (f"the file differs from the one exported (SHA-256 {got[:12]}..., "
                        f"{sums} says {digest.strip()[:12]}...): it was changed or damaged")
            return ""
    return None
