"""Prove a written GGUF: its layout is sound (``gguf_check``), no NaN/Inf in its values, it
matches the export's SHA256SUMS, tensor types by group, it loads and generates in llama.cpp,
and the bf16 file's logits match the HF model's on a fixed prompt (top-1 agreement, Pearson r).
What could not be checked is listed in the report.

llama.cpp runs in a child process (``llama_proc.LlamaProcess``): a native crash there is a
failed check naming the signal, not the end of the caller.

The logit check feeds the same token ids to both (from the HF tokenizer, BOS first), so it
measures the weights and the graph, not tokenizer differences.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from synapse_core.export.gguf_check import GGUFDamaged, check_layout, check_sums, scan_values
from synapse_core.export.llama_proc import LlamaCrashed, LlamaProcess, require_safe_build

FIXED_PROMPT = ("Professor Synapse explains entropy: a measure of how many ways the parts of a "
                "system can be arranged without changing what we observe.")
"""The prompt of the logit comparison (fixed, so reports compare across runs)."""


def tensor_group(name: str) -> str:
    """The group a GGUF tensor is reported under (experts, attention, ffn, embeddings ...)."""
    if re.search(r"_exps\.", name):
        return "experts"
    if name.startswith("v.") or name.startswith("mm."):
        return "vision"
    if "_shexp" in name:
        return "shared_exp"
    if "ffn_gate_inp" in name:
        return "router"
    if name.startswith("token_embd"):
        return "embeddings"
    if name.startswith("output."):
        return "output"
    if "norm" in name:
        return "norms"
    if ".attn_" in name:
        return "attention"
    if ".ffn_" in name:
        return "ffn"
    return "other"


@dataclass
class LogitCheck:
    """bf16 GGUF vs HF logits on FIXED_PROMPT."""

    positions: int
    top1_agreement: float
    pearson: float
    threshold: float
    passed: bool


@dataclass
class VerifyReport:
    """Everything verification found out about one GGUF file."""

    path: str
    size_bytes: int
    arch: str
    tensor_types: dict[str, dict[str, int]]
    generated_tokens: int = 0
    generated_text: str = ""
    logits: LogitCheck | None = None
    mmproj: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    def summary(self) -> str:
        """One line for the jobs table."""
        if not self.ok:
            return "FAILED: " + self.problems[0]
        if self.logits:
            return f"ok top1 {self.logits.top1_agreement:.0%} r {self.logits.pearson:.4f}"
        return "ok"

    def lines(self) -> list[str]:
        """The report as text lines (CLI, log)."""
        out = [f"{self.path}: {self.arch}, {self.size_bytes / 2**20:.1f} MiB"]
        for group, types in sorted(self.tensor_types.items()):
            out.append(f"  {group:<11} " + ", ".join(f"{t} x{n}" for t, n in sorted(types.items())))
        if self.generated_tokens:
            out.append(f"  generated {self.generated_tokens} tokens: {self.generated_text!r}")
        if self.logits:
            lc = self.logits
            out.append(f"  logits vs HF over {lc.positions} positions: top-1 agreement "
                       f"{lc.top1_agreement:.1%} (min {lc.threshold:.0%}), Pearson r {lc.pearson:.5f}")
        if self.mmproj:
            out.append("  mmproj: " + ", ".join(f"{k} {v}" for k, v in self.mmproj.items()))
        out += [f"  note: {n}" for n in self.notes]
        out += [f"  not checked: {n}" for n in self.not_checked]
        out += [f"  PROBLEM: {p}" for p in self.problems]
        out.append("  verdict: " + ("ok" if self.ok else "FAILED"))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the queue file."""
        d = asdict(self)
        d["ok"] = self.ok
        return d


def read_types(path: Path) -> tuple[str, dict[str, dict[str, int]]]:
    """Architecture and {group: {ggml type: count}} of a GGUF (header only)."""
    from gguf import GGUFReader  # memory-maps the file; only the header is touched

    try:
        r = GGUFReader(str(path), "r")
    except Exception as e:  # gguf-py's own words, after check_layout found nothing wrong
        raise GGUFDamaged(f"{path}: gguf-py cannot read it: {type(e).__name__}: {e}") from None
    f = r.fields.get("general.architecture")
    arch = bytes(f.parts[f.data[0]]).decode() if f is not None else "?"
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for t in r.tensors:
        groups[tensor_group(t.name)][t.tensor_type.name] += 1
    return arch, {g: dict(c) for g, c in groups.items()}


def load_llama(path: Path, logits_all: bool = False) -> Any:
    """A llama_cpp.Llama on the CPU with a small context (verification and chat)."""
    from llama_cpp import Llama  # heavy: loads libllama

    return Llama(str(path), n_ctx=512, n_gpu_layers=0, logits_all=logits_all, verbose=False,
                 seed=0)


def generate_tokens(llm: Any, prompt: str, n: int = 8) -> tuple[int, str]:
    """Greedy-generate ``n`` tokens after ``prompt``; returns (count, text)."""
    toks = llm.tokenize(prompt.encode(), add_bos=True)
    out: list[int] = []
    for tok in llm.generate(toks, temp=0.0, top_k=1, reset=True):
        out.append(tok)
        if len(out) >= n:
            break
    return len(out), llm.detokenize(out, special=True).decode("utf-8", errors="replace")


def hf_reference_dtype(hf_dir: Path) -> str | None:
    """fp32 for the HF reference when it fits in available RAM, else bf16, else None (the
    logit check is then skipped and said so: loading a 12B model in fp32 needs ~50 GB)."""
    import psutil

    weights = sum(f.stat().st_size for f in Path(hf_dir).glob("*.safetensors"))  # bf16 bytes
    avail = psutil.virtual_memory().available
    if weights * 2 * 1.3 < avail:
        return "float32"
    if weights * 1.3 < avail:
        return "bfloat16"
    return None


def _hf_logits(hf_dir: Path, ids: list[int], dtype: str = "float32") -> Any:
    import json

    import torch  # heavy: the HF reference forward pass
    import transformers as tf

    cfg = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
    cls = (tf.LlavaForConditionalGeneration if cfg.get("model_type") == "llava"
           else tf.AutoModelForCausalLM)
    model = cls.from_pretrained(str(hf_dir), dtype=getattr(torch, dtype)).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float().numpy()
    del model
    return logits


def compare_logits(gguf_path: Path, hf_dir: Path, threshold: float,
                   prompt: str = FIXED_PROMPT, dtype: str = "float32",
                   llama: LlamaProcess | None = None, cancel: Any = None) -> LogitCheck:
    """Top-1 agreement and Pearson r of GGUF vs HF logits at every prompt position (the GGUF's
    from a llama.cpp child: ``llama``, or one of its own)."""
    import numpy as np
    from transformers import AutoTokenizer  # heavy

    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    if tok.bos_token_id is not None:
        ids = [tok.bos_token_id] + ids
    hf = _hf_logits(Path(hf_dir), ids, dtype)
    with _child(llama) as proc:
        gg = proc.call("logits", what=f"computing the logits of {Path(gguf_path).name}",
                       cancel=cancel, path=str(gguf_path), ids=list(ids))
    n_vocab = min(hf.shape[1], gg.shape[1])
    hf, gg = hf[:, :n_vocab], gg[:, :n_vocab]
    top1 = float((hf.argmax(-1) == gg.argmax(-1)).mean())
    r = float(np.corrcoef(hf.ravel(), gg.ravel())[0, 1])
    if not math.isfinite(r):
        r = 0.0
    return LogitCheck(len(ids), top1, r, threshold, top1 >= threshold and r >= 0.99)


def _hf_image_features(hf_dir: Path, img: Any, dtype: str = "float32") -> tuple[Any, Any]:
    """(projected patch features [n, d], [IMG_BREAK] embedding row) of the HF model."""
    import numpy as np
    import torch  # heavy: the HF reference forward pass
    import transformers as tf

    from synapse_core.export.mmproj import _image_break_id, _norm_stats

    mean, std = (np.array(v) for v in _norm_stats(hf_dir))
    x = ((img / 255.0 - mean) / std).transpose(2, 0, 1)[None]
    model = tf.LlavaForConditionalGeneration.from_pretrained(
        str(hf_dir), dtype=getattr(torch, dtype)).eval()
    side = img.shape[0]
    with torch.no_grad():
        out = model.model.get_image_features(pixel_values=torch.tensor(x).to(model.dtype),
                                             image_sizes=torch.tensor([[side, side]]))
        feats = getattr(out, "pooler_output", out)
        feats = feats[0] if isinstance(feats, (list, tuple)) else feats
        brk = model.get_input_embeddings().weight[_image_break_id(Path(hf_dir))].float().numpy()
    return feats.reshape(-1, brk.shape[0]).float().numpy(), brk


def check_mmproj(mmproj: Path, text_gguf: Path, hf_dir: Path | None = None,
                 dtype: str = "float32", llama: LlamaProcess | None = None,
                 cancel: Any = None) -> dict[str, Any]:
    """Load the mmproj with llama.cpp's multimodal loader (mtmd) in a llama.cpp child and
    encode a test image; with ``hf_dir``, compare the image embeddings with the HF vision
    tower + projector (Pearson r) and check the [IMG_BREAK] rows llama.cpp inserts equal that
    token's embedding."""
    import numpy as np

    side, patch = 64, 16
    img = _test_image(side)
    def encode(proc: LlamaProcess) -> Any:
        return proc.call("mmproj_encode", what=f"encoding the test image with {Path(mmproj).name}",
                         cancel=cancel, mmproj=str(mmproj), text_gguf=str(text_gguf), side=side)

    with _child(llama) as proc:
        emb = encode(proc)
    retried = False
    if emb is not None and not np.isfinite(emb).all():
        # Non-finite embeddings came back from a child that had already loaded and run other
        # models (the test suite's shared child: 2 of 4 runs on 2026-12-05), never from a child
        # of its own (benchmarks/mmproj_loop.py: 0 of 150). Cause not found yet: encode once
        # more in a fresh child, and say so in the result.
        with _child(None) as fresh:
            emb = encode(fresh)
        retried = True
    if emb is None:
        raise RuntimeError(f"{mmproj}: the test image produced no image chunk")
    result: dict[str, Any] = {"loaded": True, "image_tokens": int(emb.shape[0]),
                              "embeddings_finite": bool(np.isfinite(emb).all()),
                              "encoded_again_in_a_fresh_child": retried}
    if hf_dir is not None:
        result.update(compare_with_hf(emb, Path(hf_dir), img, patch, dtype, mmproj))
    return result


def compare_with_hf(emb: Any, hf_dir: Path, img: Any, patch: int = 16, dtype: str = "float32",
                    name: Any = "mmproj") -> dict[str, Any]:
    """``vision_pearson`` (llama.cpp's image embeddings ``emb`` of ``img`` against the HF vision
    tower + projector) and ``img_break_ok`` (its [IMG_BREAK] rows equal that token's
    embedding)."""
    import numpy as np

    feats, brk = _hf_image_features(hf_dir, img, dtype)
    side = img.shape[0]
    rows = cols = side // patch
    # llama.cpp lays out each row of patches followed by [IMG_BREAK], except the last row
    keep = [r * (cols + 1) + c for r in range(rows) for c in range(cols)]
    breaks = [r * (cols + 1) + cols for r in range(rows - 1)]
    if len(keep) + len(breaks) != emb.shape[0] or feats.shape[0] != len(keep):
        raise RuntimeError(f"{name}: {emb.shape[0]} image tokens, expected "
                           f"{len(keep) + len(breaks)} for a {side}x{side} image")
    return {"vision_pearson": round(float(np.corrcoef(feats.ravel(), emb[keep].ravel())[0, 1]), 6),
            "img_break_ok": bool(np.allclose(emb[breaks], brk[None, :], atol=1e-3))}


def _test_image(side: int) -> Any:
    """The check's test image: random RGB pixels, the same in every process."""
    import numpy as np

    return np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)


def _encode_test_image(mmproj: Path, text_gguf: Path, img: Any) -> Any:
    """``_mtmd_encode`` of ``img`` with the text model ``text_gguf`` loaded for it."""
    llm = load_llama(text_gguf)
    try:
        return _mtmd_encode(mmproj, llm, img)
    finally:
        llm.close()


def _mtmd_encode(mmproj: Path, llm: Any, img: Any) -> Any:
    """The embeddings llama.cpp's mtmd makes of ``img`` (one image chunk) in a new context,
    as an [n_tokens, n_embd] array; None when the prompt held no image chunk."""
    import ctypes

    import numpy as np

    from llama_cpp import mtmd_cpp as mtmd  # heavy: loads libmtmd

    params = mtmd.mtmd_context_params_default()
    params.use_gpu = False
    params.print_timings = False
    params.n_threads = 1  # a 64x64 image: no need for threads (and their races)
    params.warmup = True  # with it off, the first encode in a process gave NaNs in our runs
    ctx = mtmd.mtmd_init_from_file(str(mmproj).encode(), llm.model, params)
    if not ctx:
        raise RuntimeError(f"{mmproj}: llama.cpp's multimodal loader rejected the file")
    side = img.shape[0]
    emb = None
    try:
        data = (ctypes.c_uint8 * img.size).from_buffer_copy(img.tobytes())
        bitmap = mtmd.mtmd_bitmap_init(side, side, data)
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            text = mtmd.mtmd_input_text()
            prompt = mtmd.mtmd_default_marker() + b" describe"
            text.text, text.text_len = prompt, len(prompt)
            text.add_special, text.parse_special = True, True
            bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
            rc = mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(text), bitmaps, 1)
            if rc != 0:
                raise RuntimeError(f"{mmproj}: mtmd_tokenize returned {rc}")
            for i in range(mtmd.mtmd_input_chunks_size(chunks)):
                chunk = mtmd.mtmd_input_chunks_get(chunks, i)
                if mtmd.mtmd_input_chunk_get_type(chunk) != 1:  # MTMD_INPUT_CHUNK_TYPE_IMAGE
                    continue
                if mtmd.mtmd_encode_chunk(ctx, chunk) != 0:
                    raise RuntimeError(f"{mmproj}: encoding the test image failed")
                n = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
                emb = np.ctypeslib.as_array(mtmd.mtmd_get_output_embd(ctx),
                                            shape=(n * llm.n_embd(),)).reshape(n, -1).copy()
        finally:
            mtmd.mtmd_input_chunks_free(chunks)
            mtmd.mtmd_bitmap_free(bitmap)
    finally:
        mtmd.mtmd_free(ctx)
    return emb


@contextlib.contextmanager
def _child(llama: LlamaProcess | None) -> Iterator[LlamaProcess]:
    """``llama`` as is, or a child of its own that is closed afterwards."""
    if llama is not None:
        yield llama
        return
    with LlamaProcess() as proc:
        yield proc


def check_file(path: Path, report: VerifyReport) -> None:
    """What is checked without llama.cpp: NaN/Inf in the values and the export's checksum
    (the layout was checked before ``report`` was made)."""
    problems, share = scan_values(path, check_layout(path))
    report.problems += problems
    report.notes.append(f"values scanned for NaN/Inf: {share:.0%} of the tensor data"
                        + (" (evenly spaced samples)" if share < 1 else ""))
    sums = check_sums(path)
    if sums is None:
        report.not_checked.append("whether the bytes are the ones exported (no SHA256SUMS line "
                                  "for it beside the file)")
    elif sums:
        report.problems.append(sums)
    else:
        report.notes.append("SHA-256 matches SHA256SUMS")


def verify_gguf(path: Path, *, hf_dir: Path | None = None, threshold: float = 0.9,
                mmproj: Path | None = None, generate: int = 8, llama: LlamaProcess | None = None,
                cancel: Any = None) -> VerifyReport:
    """Verify one GGUF; with ``hf_dir`` also compare logits (use on the bf16 file). llama.cpp
    runs in ``llama`` (a child process) or a child of its own; ``cancel`` (a threading.Event)
    kills it. Raises GGUFDamaged for a file whose layout is broken, LlamaBuildError for a
    llama.cpp build that crashes here (AMX)."""
    path = Path(path)
    check_layout(path)  # a damaged file is an error naming what is wrong, before any reader
    arch, types = read_types(path)
    if arch != "clip":
        require_safe_build()  # refuse at once, before minutes of scanning a big file
    report = VerifyReport(str(path), path.stat().st_size, arch, types)
    check_file(path, report)
    if arch == "clip":
        report.not_checked.append("loading it in llama.cpp (an mmproj loads beside its text "
                                  "model: verify the text GGUF with --mmproj-file)")
        return report
    with _child(llama) as proc:
        _verify_in_llama(path, report, proc, cancel, hf_dir, threshold, mmproj, generate)
    return report


def _verify_in_llama(path: Path, report: VerifyReport, proc: LlamaProcess, cancel: Any,
                     hf_dir: Path | None, threshold: float, mmproj: Path | None,
                     generate: int) -> None:
    try:
        report.generated_tokens, report.generated_text = proc.call(
            "generate", what=f"generating from {path.name}", cancel=cancel, path=str(path),
            prompt="The professor said", n=generate)
    except LlamaCrashed as e:
        report.problems.append(str(e))
        return
    except (RuntimeError, ValueError, OSError) as e:  # a file llama.cpp refuses: reported
        report.problems.append(f"llama.cpp could not load or run it: {e}")
        return
    if report.generated_tokens < generate:
        report.problems.append(f"generated only {report.generated_tokens} of {generate} tokens")
    dtype = hf_reference_dtype(Path(hf_dir)) if hf_dir is not None else None
    if hf_dir is None:
        report.not_checked.append("logits against the HF model (no HF folder given: --hf DIR)")
    elif dtype is None:
        report.not_checked.append("logits against the HF model: it does not fit in available RAM")
    else:
        try:
            report.logits = compare_logits(path, Path(hf_dir), threshold, dtype=dtype,
                                           llama=proc, cancel=cancel)
        except LlamaCrashed as e:
            report.problems.append(str(e))
            return
        if not report.logits.passed:
            report.problems.append(
                f"logits disagree with the HF model: top-1 {report.logits.top1_agreement:.1%} "
                f"(min {threshold:.0%}), r {report.logits.pearson:.4f} (min 0.99)")
    if mmproj is not None:
        try:
            report.mmproj = check_mmproj(Path(mmproj), path, hf_dir if dtype else None,
                                         dtype or "float32", llama=proc, cancel=cancel)
            mm = report.mmproj
            if not mm.get("embeddings_finite"):
                report.problems.append("mmproj produced non-finite image embeddings")
            if not mm.get("vision_pearson", 1.0) >= 0.99:  # NaN fails too
                report.problems.append(f"mmproj image embeddings disagree with the HF vision "
                                       f"tower: r {mm['vision_pearson']:.4f} (min 0.99)")
            if mm.get("img_break_ok") is False:
                report.problems.append("mmproj [IMG_BREAK] rows differ from the token's embedding")
        except (LlamaCrashed, RuntimeError, ValueError, OSError) as e:  # a failed check
            report.problems.append(f"mmproj: {e}")
