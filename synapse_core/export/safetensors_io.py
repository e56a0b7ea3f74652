"""Read safetensors checkpoints one tensor at a time, with bounded memory.

We parse the safetensors header ourselves and ``pread`` each tensor's bytes into a fresh
buffer. ``safetensors.safe_open`` memory-maps the whole shard instead, and every page it
touches stays counted in the process's resident set until the map is dropped; reading with
``pread`` keeps the peak resident memory at roughly the largest single tensor, which is what
lets a 12B checkpoint convert within a few GB of RAM.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
               "U8": 1, "BOOL": 1}


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor lives: file, dtype name (safetensors spelling), shape, byte range."""

    name: str
    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        """Size of the tensor's data in bytes."""
        return self.end - self.start

    @property
    def numel(self) -> int:
        """Number of elements."""
        n = 1
        for s in self.shape:
            n *= s
        return n


def read_header(path: Path) -> dict[str, TensorRef]:
    """The tensors of one ``.safetensors`` file (header only; no data is read). ValueError
    naming the file and tensor when the header is damaged or a tensor's bytes lie past the end
    of the file (a truncated download or copy)."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
        (hlen,) = struct.unpack("<Q", raw)
        if hlen > size - 8:
            raise ValueError(f"{path}: its header claims {hlen:,} bytes but the file has "
                             f"{size:,} (truncated or not a safetensors file)")
        try:
            header = json.loads(fh.read(hlen))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: safetensors header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: safetensors header is not a JSON object")
    base = 8 + hlen
    out: dict[str, TensorRef] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            s, e = (int(x) for x in info["data_offsets"])
            ref = TensorRef(name, path, str(info["dtype"]), tuple(int(d) for d in info["shape"]),
                            base + s, base + e)
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: tensor {name}: malformed header entry "
                             f"{json.dumps(info)[:80]}") from None
        if ref.end > size or ref.start > ref.end:
            raise ValueError(f"{path}: tensor {name}: its data is bytes {ref.start:,}-"
                             f"{ref.end:,} but the file ends at {size:,} (truncated)")
        if ref.dtype in DTYPE_BYTES and ref.nbytes != ref.numel * DTYPE_BYTES[ref.dtype]:
            raise ValueError(f"{path}: tensor {name}: {ref.nbytes:,} bytes for shape "
                             f"{list(ref.shape)} of {ref.dtype}")
        out[name] = ref
    return out


def index_folder(folder: Path) -> dict[str, TensorRef]:
    """Every tensor of a HF model folder (single file or sharded), by name."""
    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder}: no *.safetensors files (only safetensors "
                                "checkpoints are converted)")
    out: dict[str, TensorRef] = {}
    for f in files:
        out.update(read_header(f))
    return out


def read_tensor(ref: TensorRef) -> Any:
    """Load one tensor as a torch tensor (its own memory; nothing else stays resident)."""
    import torch  # heavy: only when tensors are actually read

    dtypes = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32,
              "F64": torch.float64, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
              "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
    if ref.dtype not in dtypes:
        raise ValueError(f"{ref.file}: tensor {ref.name}: unsupported dtype {ref.dtype}")
    buf = bytearray(ref.nbytes)
    fd = os.open(ref.file, os.O_RDONLY)
    try:
        view = memoryview(buf)
        got = 0
        while got < ref.nbytes:
            n = os.preadv(fd, [view[got:]], ref.start + got)
            if n <= 0:
                raise ValueError(f"{ref.file}: tensor {ref.name}: file ends early")
            got += n
    finally:
        os.close(fd)
    if ref.nbytes == 0:
        return torch.empty(ref.shape, dtype=dtypes[ref.dtype])
    return torch.frombuffer(buf, dtype=dtypes[ref.dtype]).reshape(ref.shape)
