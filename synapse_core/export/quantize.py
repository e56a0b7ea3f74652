"""Quantize a GGUF with llama.cpp's own quantizer, through llama-cpp-python's ctypes binding.

``llama_model_quantize`` makes the K-quants (gguf-py's Python quantizer cannot). Per-tensor
overrides go through ``params.tt_overrides``: a null-terminated array of
``{pattern, ggml_type}`` that llama.cpp matches as regexes (search, not full match) against
tensor names, so ``_exps\\.`` -> Q6_K keeps Mixtral/Qwen-MoE expert tensors at 6 bits while the
rest gets Q4_K_M's mix. We match the same patterns in Python first to report which override
matched nothing (a dense model has no ``_exps.`` tensors).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synapse_core.export.errors import ExportError
from synapse_core.export.gguf_write import check_free_space, temp_path_for

if TYPE_CHECKING:
    from synapse_core.export.llama_proc import LlamaProcess


def ftype_names() -> list[str]:
    """Quantization targets accepted for ``quant`` (lower-case llama.cpp names)."""
    from gguf import LlamaFileType  # light: gguf-py is pure Python

    return sorted(n.removeprefix("MOSTLY_").lower() for n in LlamaFileType.__members__
                  if n.startswith("MOSTLY_"))


def ftype_of(quant: str) -> int:
    """The llama_ftype number of ``q4_k_m``-style names; ExportError for unknown ones."""
    from gguf import LlamaFileType

    key = f"MOSTLY_{quant.upper()}"
    if key not in LlamaFileType.__members__:
        raise ExportError(f"quant: {quant!r} is not a llama.cpp type; choose one of "
                          + ", ".join(ftype_names()))
    return int(LlamaFileType[key])


def ggml_type_of(name: str) -> int:
    """The ggml_type number of a tensor type name (``q6_k``, ``q8_0``, ``f16`` ...)."""
    from gguf import GGMLQuantizationType

    key = name.upper()
    if key not in GGMLQuantizationType.__members__:
        raise ExportError(f"override type: {name!r} is not a ggml type; choose one of "
                          + ", ".join(sorted(m.lower() for m in GGMLQuantizationType.__members__)))
    return int(GGMLQuantizationType[key])


def parse_override(text: str) -> tuple[str, str]:
    """``'_exps\\.=q6_k'`` -> (pattern, type); the last ``=`` splits them."""
    if "=" not in text:
        raise ExportError(f"override {text!r}: expected PATTERN=TYPE, e.g. '_exps\\.=q6_k'")
    pattern, typ = text.rsplit("=", 1)
    try:
        re.compile(pattern)
    except re.error as e:
        raise ExportError(f"override {text!r}: not a valid regex: {e}") from None
    ggml_type_of(typ)
    return pattern, typ.lower()


@dataclass
class QuantizeReport:
    """What the quantizer did: target, per-override matches, messages for the log."""

    quant: str
    matches: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def tensor_names(path: Path) -> list[str]:
    """Names of the tensors in a GGUF (header only)."""
    from gguf import GGUFReader  # memory-maps; reads the header

    return [t.name for t in GGUFReader(str(path), "r").tensors]


def quantize(src: Path, dst: Path, quant: str = "q4_k_m",
             overrides: dict[str, str] | None = None, nthread: int = 0, *,
             llama: "LlamaProcess | None" = None, cancel: Any = None) -> QuantizeReport:
    """Quantize ``src`` (bf16/f16 GGUF) into ``dst`` (written under a temporary name first) in
    a llama.cpp child process (``llama``, or one of its own): a native crash there is a
    ``LlamaCrashed`` naming the signal; ``cancel`` (a threading.Event) kills it."""
    from synapse_core.export.llama_proc import LlamaProcess

    ftype_of(quant)  # a bad name fails here, before a process is started
    for typ in (overrides or {}).values():
        ggml_type_of(typ)
    own = llama is None
    proc = LlamaProcess() if llama is None else llama
    try:
        return proc.call("quantize", what=f"quantizing {Path(src).name}", cancel=cancel,
                         src=str(src), dst=str(dst), quant=quant, overrides=dict(overrides or {}),
                         nthread=nthread)
    except BaseException:  # a killed child cannot remove its half-written file: we do
        temp_path_for(Path(dst)).unlink(missing_ok=True)
        raise
    finally:
        if own:
            proc.close()


def quantize_in_process(src: Path, dst: Path, quant: str = "q4_k_m",
                        overrides: dict[str, str] | None = None,
                        nthread: int = 0) -> QuantizeReport:
    """``quantize`` in this process (what the llama.cpp child runs)."""
    import ctypes

    import llama_cpp  # heavy: loads libllama

    src, dst = Path(src), Path(dst)
    overrides = dict(overrides or {})
    ftype = ftype_of(quant)
    report = QuantizeReport(quant)
    names = tensor_names(src)
    for pattern, typ in overrides.items():
        ggml_type_of(typ)
        hit = [n for n in names if re.search(pattern, n)]
        report.matches[pattern] = hit
        if hit:
            report.notes.append(f"override {pattern} -> {typ}: {len(hit)} tensors")
        else:
            report.notes.append(f"override {pattern} matched no tensor (the model has none "
                                "such, e.g. a dense model has no expert tensors)")
    check_free_space(dst.parent, src.stat().st_size, dst.name)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = nthread
    keep: list[bytes] = []
    if overrides:
        Arr = llama_cpp.llama_model_tensor_override * (len(overrides) + 1)
        arr = Arr()
        for i, (pattern, typ) in enumerate(overrides.items()):
            keep.append(pattern.encode())
            arr[i].pattern = keep[-1]
            arr[i].type = ggml_type_of(typ)
        arr[len(overrides)].pattern = None  # terminator
        params.tt_overrides = ctypes.cast(arr, ctypes.POINTER(llama_cpp.llama_model_tensor_override))
    tmp = temp_path_for(dst)
    try:
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(),
                                            ctypes.byref(params))
        if rc != 0:
            raise ExportError(f"{src}: llama_model_quantize returned {rc} (llama.cpp's log says why)")
        os.replace(tmp, dst)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    return report
