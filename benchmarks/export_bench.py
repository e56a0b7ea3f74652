"""Export benchmark: a random-init Pixtral-shaped checkpoint, converted and quantized.

Writes the checkpoint to disk shard by shard (the 12B one is 25 GB and is never whole in RAM),
then converts it to a bf16 GGUF with our streaming converter and quantizes it to Q4_K_M, each
in a child process so its wall time and peak resident memory (VmHWM) are its own. Target:
conversion peak RSS under 2 GB at 12B. Free disk is checked first.

    python benchmarks/export_bench.py --quick          # ~0.2B, well under a minute
    python benchmarks/export_bench.py --size mid       # ~1.7B
    python benchmarks/export_bench.py --size full      # 12.7B, needs ~60 GB of free disk

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = {
    # text: hidden, layers, ffn, heads, kv heads, head_dim; vision: hidden, layers, ffn, heads
    "quick": dict(hidden=512, layers=4, ffn=1536, heads=8, kv=4, head_dim=64,
                  v_hidden=256, v_layers=2, v_ffn=512, v_heads=4),
    "mid": dict(hidden=2048, layers=16, ffn=8192, heads=16, kv=8, head_dim=128,
                v_hidden=1024, v_layers=8, v_ffn=4096, v_heads=16),
    "full": dict(hidden=5120, layers=40, ffn=14336, heads=32, kv=8, head_dim=128,
                 v_hidden=1024, v_layers=24, v_ffn=4096, v_heads=16),  # Pixtral-12B-2409
}
VOCAB = 131072
SHARD_BYTES = 2 * 2**30


def _tensors(s: dict[str, int]):
    """(name, shape) of every tensor, in file order (legacy Llava key layout)."""
    h, f, hd = s["hidden"], s["ffn"], s["head_dim"]
    yield "language_model.model.embed_tokens.weight", (VOCAB, h)
    for i in range(s["layers"]):
        p = f"language_model.model.layers.{i}."
        yield p + "input_layernorm.weight", (h,)
        yield p + "post_attention_layernorm.weight", (h,)
        yield p + "self_attn.q_proj.weight", (s["heads"] * hd, h)
        yield p + "self_attn.k_proj.weight", (s["kv"] * hd, h)
        yield p + "self_attn.v_proj.weight", (s["kv"] * hd, h)
        yield p + "self_attn.o_proj.weight", (h, s["heads"] * hd)
        yield p + "mlp.gate_proj.weight", (f, h)
        yield p + "mlp.up_proj.weight", (f, h)
        yield p + "mlp.down_proj.weight", (h, f)
    yield "language_model.model.norm.weight", (h,)
    yield "language_model.lm_head.weight", (VOCAB, h)
    vh, vf = s["v_hidden"], s["v_ffn"]
    yield "vision_tower.patch_conv.weight", (vh, 3, 16, 16)
    yield "vision_tower.ln_pre.weight", (vh,)
    for i in range(s["v_layers"]):
        p = f"vision_tower.transformer.layers.{i}."
        for n in ("q", "k", "v", "o"):
            yield p + f"attention.{n}_proj.weight", (vh, vh)
        yield p + "attention_norm.weight", (vh,)
        yield p + "ffn_norm.weight", (vh,)
        yield p + "feed_forward.gate_proj.weight", (vf, vh)
        yield p + "feed_forward.up_proj.weight", (vf, vh)
        yield p + "feed_forward.down_proj.weight", (vh, vf)
    yield "multi_modal_projector.linear_1.weight", (h, vh)
    yield "multi_modal_projector.linear_1.bias", (h,)
    yield "multi_modal_projector.linear_2.weight", (h, h)
    yield "multi_modal_projector.linear_2.bias", (h,)


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def param_count(s: dict[str, int]) -> int:
    """Parameters of the checkpoint of size ``s``."""
    return sum(_numel(shape) for _, shape in _tensors(s))


def write_checkpoint(folder: Path, s: dict[str, int]) -> None:
    """Random-init bf16 shards of at most SHARD_BYTES, one shard in RAM at a time."""
    import torch
    from safetensors.torch import save_file

    from synapse_core.modeling.tokenizer import load_tekken_tokenizer

    folder.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    shard: dict[str, torch.Tensor] = {}
    size, n, index = 0, 0, {}

    def flush() -> None:
        nonlocal shard, size, n
        if shard:
            n += 1
            name = f"model-{n:05d}.safetensors"
            save_file(shard, str(folder / name), metadata={"format": "pt"})
            index.update({k: name for k in shard})
            shard, size = {}, 0

    for name, shape in _tensors(s):
        nbytes = _numel(shape) * 2
        if size + nbytes > SHARD_BYTES:
            flush()
        if len(shape) == 1:
            t = torch.ones(shape, dtype=torch.bfloat16)
        else:
            t = (torch.randn(shape, generator=gen, dtype=torch.float32) * 0.02).to(torch.bfloat16)
        shard[name] = t
        size += nbytes
    flush()
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": index}))
    text = dict(model_type="mistral", hidden_size=s["hidden"], intermediate_size=s["ffn"],
                num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
                num_key_value_heads=s["kv"], head_dim=s["head_dim"], vocab_size=VOCAB,
                rms_norm_eps=1e-5, rope_parameters={"rope_theta": 1e9, "rope_type": "default"},
                max_position_embeddings=131072, tie_word_embeddings=False)
    vision = dict(model_type="pixtral", hidden_size=s["v_hidden"], intermediate_size=s["v_ffn"],
                  num_hidden_layers=s["v_layers"], num_attention_heads=s["v_heads"],
                  head_dim=s["v_hidden"] // s["v_heads"], image_size=1024, patch_size=16,
                  hidden_act="silu")
    cfg = dict(architectures=["LlavaForConditionalGeneration"], model_type="llava",
               text_config=text, vision_config=vision, image_token_index=10)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    load_tekken_tokenizer().save_pretrained(str(folder))


def _child(step: str, src: str, dst: str) -> None:
    t0 = time.perf_counter()
    if step == "convert":
        from synapse_core.export.convert import convert_to_gguf

        convert_to_gguf(Path(src), Path(dst))
    else:
        from synapse_core.export.quantize import quantize

        quantize(Path(src), Path(dst), "q4_k_m", {r"_exps\.": "q6_k"})
    print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_rss_kb() / 1024}))


def _peak_rss_kb() -> int:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so a
    child would report the parent's peak when that was higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _measure(step: str, src: Path, dst: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", step, str(src), str(dst)],
                         check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=list(SIZES), default="full")
    ap.add_argument("--quick", action="store_true", help="same as --size quick")
    ap.add_argument("--dir", help="work folder (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the files")
    ap.add_argument("--skip-quantize", action="store_true",
                    help="convert only (quantizing 12B takes ~20 min on 2 cores)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return 0
    size = "quick" if args.quick else args.size
    s = SIZES[size]
    params = param_count(s)
    ckpt_bytes = params * 2
    work = Path(args.dir or tempfile.mkdtemp(prefix="export-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    need = int(ckpt_bytes * (2.05 if args.skip_quantize else 2.35))  # ckpt + bf16 (+ Q4_K_M)
    free = shutil.disk_usage(work).free
    if free < need:
        print(f"{work}: needs {need / 2**30:.1f} GiB free disk, {free / 2**30:.1f} GiB free; "
              "try --size mid or --quick", file=sys.stderr)
        return 2
    print(f"{size}: {params / 1e9:.2f}B parameters, {ckpt_bytes / 2**30:.1f} GiB checkpoint in {work}")
    try:
        t0 = time.perf_counter()
        write_checkpoint(work / "ckpt", s)
        write_s = time.perf_counter() - t0
        print(f"checkpoint written in {write_s:.1f}s", flush=True)
        conv = _measure("convert", work / "ckpt", work / "model.bf16.gguf")
        print(f"convert: {conv['seconds']:.1f}s, peak RSS {conv['peak_rss_mb']:.0f} MB", flush=True)
        quant = {"seconds": float("nan"), "peak_rss_mb": float("nan")}
        if not args.skip_quantize:
            quant = _measure("quantize", work / "model.bf16.gguf", work / "model.Q4_K_M.gguf")
            print(f"quantize: {quant['seconds']:.1f}s, peak RSS {quant['peak_rss_mb']:.0f} MB",
                  flush=True)
        qfile = work / "model.Q4_K_M.gguf"
        figures = {
            "size": size, "params_b": round(params / 1e9, 3),
            "checkpoint_gib": round(ckpt_bytes / 2**30, 2),
            "bf16_gguf_gib": round((work / "model.bf16.gguf").stat().st_size / 2**30, 2),
            "q4_k_m_gib": round(qfile.stat().st_size / 2**30, 2) if qfile.exists() else None,
            "write_s": round(write_s, 1),
            "convert_s": round(conv["seconds"], 1), "convert_peak_rss_mb": round(conv["peak_rss_mb"]),
            "quantize_s": None if args.skip_quantize else round(quant["seconds"], 1),
            "quantize_peak_rss_mb": None if args.skip_quantize else round(quant["peak_rss_mb"]),
            "convert_rss_target_met": conv["peak_rss_mb"] < 2048, "cpus": os.cpu_count(),
        }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
