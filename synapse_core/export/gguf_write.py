"""Stream a planned list of tensors into a GGUF file: header first, then one tensor at a time.

The file is written under a hidden temporary name beside the target and renamed only when
complete, so a cancelled or failed conversion never leaves a file that looks finished.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any, Callable

from synapse_core.export.errors import ExportCancelled, ExportError
from synapse_core.export.safetensors_io import read_tensor
from synapse_core.export.tensor_map import PlannedTensor

ProgressFn = Callable[[float, str], None]
"""Called with (fraction done in [0, 1], short message)."""


def temp_path_for(target: Path) -> Path:
    """The hidden partial-file name used while ``target`` is being written."""
    return target.with_name(f".{target.name}.partial")


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Raise ExportError naming the folder and the shortfall if ``needed`` bytes do not fit."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    margin = 64 * 1024 * 1024
    if free < needed + margin:
        raise ExportError(f"{folder}: not enough free disk for {what}: needs "
                          f"{(needed + margin) / 2**30:.2f} GiB, {free / 2**30:.2f} GiB free")


def _to_numpy(t: Any, out_type: str) -> Any:
    """The stored bytes as a numpy array (bf16 as int16: numpy has no bfloat16)."""
    import torch  # heavy: tensors are built here

    if out_type == "bf16":
        return t.to(torch.bfloat16).contiguous().view(torch.int16).numpy()
    if out_type == "f16":
        return t.to(torch.float16).contiguous().numpy()
    return t.to(torch.float32).contiguous().numpy()


def write_gguf(target: Path, arch: str, set_kv: Callable[[Any], None], plan: list[PlannedTensor],
               *, cancel: threading.Event | None = None,
               progress: ProgressFn | None = None) -> Path:
    """Write ``plan`` to ``target`` (atomic rename at the end); returns ``target``."""
    import numpy as np

    import gguf  # gguf-py: the GGUF writer

    target = Path(target)
    total = sum(p.nbytes for p in plan) or 1
    check_free_space(target.parent, total, f"{target.name}")
    tmp = temp_path_for(target)
    writer = gguf.GGUFWriter(path=None, arch=arch)
    set_kv(writer)
    dtypes = {"bf16": (np.dtype(np.int16), gguf.GGMLQuantizationType.BF16),
              "f16": (np.dtype(np.float16), None), "f32": (np.dtype(np.float32), None)}
    for p in plan:
        dt, raw = dtypes[p.out_type]
        writer.add_tensor_info(p.name, p.shape, dt, p.nbytes, raw_dtype=raw)
    done = 0
    try:
        writer.write_header_to_file(path=tmp)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for p in plan:
            if cancel is not None and cancel.is_set():
                raise ExportCancelled(f"cancelled while writing {target.name}")
            t = p.build([read_tensor(s) for s in p.sources])
            if tuple(t.shape) != p.shape:
                raise ExportError(f"{p.name}: built shape {tuple(t.shape)} != planned {p.shape}")
            arr = _to_numpy(t, p.out_type)
            del t
            writer.write_tensor_data(arr)
            del arr
            done += p.nbytes
            if progress is not None:
                progress(done / total, p.name)
        writer.close()
        os.replace(tmp, target)
    except BaseException:
        writer.close()
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    return target
