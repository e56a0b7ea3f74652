"""Full-size training throughput: the engine vs a bare Unsloth loop vs transformers+PEFT+bnb.

One command, one process per stack (Unsloth patches transformers on import, so stacks must
not share a process). The model is a random-init Pixtral-12B of the exact architecture
(LlavaForConditionalGeneration: Pixtral vision tower, Mistral-Nemo-12B decoder, 131k vocab
+ the 56 reasoning tokens), built on the GPU: speed and memory do not depend on the weights.

    python benchmarks/gpu_train.py                     # full size, needs CUDA (+ unsloth)
    python benchmarks/gpu_train.py --quick             # tiny Pixtral on the CPU (smoke test)
    python benchmarks/gpu_train.py --stacks engine --workloads full --objective kto
    (on the GPU machine, after `. .gpusite/use-site.sh`: add --tokenizer-dir .gpusite/pixtok
     --out-dir runs/gpu_train, a git-ignored folder kept between calls on a warm machine)

Stacks: (a) ``engine``: the engine as the app runs it, a run process of its own followed
through its folder (``supervisor.run``; with --profile or --mem-history the engine runs in a
thread of the benchmark's process instead, so that the trace sees it), SFT/KTO through TRL, Unsloth backend; (b) ``bare_unsloth``: a hand
loop over FastVisionModel with PagedAdamW8bit; (c) ``hf_peft``: transformers + PEFT +
bitsandbytes 4-bit, SDPA, gradient checkpointing; (d) ``engine_decoder``: the engine with
``model.decoder_only`` (Pixtral's decoder trained alone, adapter mapped back); all with LoRA r 16 / alpha 32 / dropout 0 on
the language layers and PagedAdamW8bit; ``engine_resume`` stops the engine half-way, resumes
it and compares its curve with ``engine``'s. Workloads: ``full`` rows of exactly
--seq tokens, and ``varlen`` (engine only): the bundled sample data repeated, packed.
tokens/s = median over timed steps after --warmup, counting non-pad tokens; peak = torch's
max allocated. Prints a table and one JSON line; writes benchmarks/results/gpu_train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout (the GPU machine has no install)
    sys.path.insert(0, str(ROOT))
GIB = float(1 << 30)


# -- model ------------------------------------------------------------------------------------

def make_model(out: Path, quick: bool, tokenizer_dir: str | None) -> None:
    """Random-init Pixtral (full size on CUDA, tiny on CPU) with the 56 reasoning tokens."""
    if quick:
        from synapse_core.modeling.tiny import build_tiny_model

        build_tiny_model("pixtral", out, seed=0)
        return
    import torch
    from transformers import (AutoTokenizer, LlavaConfig, LlavaForConditionalGeneration,
                              MistralConfig, PixtralVisionConfig)

    from synapse_core.config import REASONING_TAGS
    from synapse_core.modeling.tokenizer import add_reasoning_tokens

    if tokenizer_dir:
        tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    else:
        from synapse_core.modeling.tokenizer import load_tekken_tokenizer

        tok = load_tekken_tokenizer()
    add_reasoning_tokens(tok, REASONING_TAGS)
    cfg = LlavaConfig(
        vision_config=PixtralVisionConfig(hidden_size=1024, intermediate_size=4096,
                                          num_hidden_layers=24, num_attention_heads=16,
                                          head_dim=64, image_size=1024, patch_size=16,
                                          rope_theta=10000.0),
        text_config=MistralConfig(vocab_size=131072, hidden_size=5120, intermediate_size=14336,
                                  num_hidden_layers=40, num_attention_heads=32,
                                  num_key_value_heads=8, head_dim=128, rope_theta=1e9,
                                  max_position_embeddings=1024000, rms_norm_eps=1e-5,
                                  tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                                  pad_token_id=11),
        image_token_index=10, projector_hidden_act="gelu", vision_feature_layer=-1,
        vision_feature_select_strategy="full", tie_word_embeddings=False)
    with torch.device("cuda"):
        torch.manual_seed(0)
        model = LlavaForConditionalGeneration(cfg).to(torch.bfloat16)
    model.resize_token_embeddings(len(tok), pad_to_multiple_of=64)
    model.save_pretrained(out, max_shard_size="5GB")
    tok.save_pretrained(out)
    try:  # FastVisionModel loads an AutoProcessor; the processor needs torchvision
        from transformers import PixtralImageProcessor, PixtralProcessor

        PixtralProcessor(image_processor=PixtralImageProcessor(), tokenizer=tok,
                         patch_size=16).save_pretrained(out)
    except Exception as e:  # said aloud: the Unsloth stacks may then fail to load
        print(f"processor not saved: {e!r}"[:300], file=sys.stderr)


# -- rows -------------------------------------------------------------------------------------

def full_rows(tok, seq: int, n: int) -> list[dict]:
    """SFT rows whose chat rendering is at least ``seq`` tokens (truncated to exactly seq)."""
    words = "the model reasons about entropy light graphs proofs and doubts".split()
    text = " ".join(words[i % len(words)] for i in range(seq + 64))
    return [{"messages": [{"role": "user", "content": f"Row {i}: explain."},
                          {"role": "assistant", "content": text}]} for i in range(n)]


def varlen_rows(objective: str, n: int) -> list[dict]:
    """The bundled sample data through the data module, repeated to ``n`` rows."""
    from synapse_core.config import RunConfig
    from synapse_core.data.prepare import prepare_dataset

    cfg = RunConfig()
    cfg.training.objective = objective
    rows = prepare_dataset(cfg).rows
    return [rows[i % len(rows)] for i in range(n)]


def kto_from_sft(rows: list[dict]) -> list[dict]:
    return [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:], "label": i % 2 == 0}
            for i, r in enumerate(rows)]


# -- stacks (each runs in its own process) ----------------------------------------------------

def engine_config(a: argparse.Namespace) -> Any:
    """The engine stacks' run config: the reference settings at --seq tokens, one optimizer
    step per batch (2 rows for KTO, 1 packed row for SFT), no warm-up, no checkpoints."""
    from synapse_core.config import RunConfig

    cfg = RunConfig()
    cfg.model.name_or_path = a.model_dir
    cfg.model.max_seq_length = a.seq
    cfg.lora.lora_dropout = 0.0  # as the bare loops (and Unsloth's fast LoRA path)
    cfg.model.decoder_only = getattr(a, "stack", "engine") == "engine_decoder"
    t = cfg.training
    t.objective = a.objective
    t.max_steps = a.steps
    t.per_device_train_batch_size = 2 if a.objective == "kto" else 1
    t.gradient_accumulation_steps = 1
    t.logging_steps = 1
    t.save_steps = 10_000
    t.warmup_ratio = 0.0
    t.packing = True
    if a.quick:
        t.gradient_checkpointing = False
    return cfg


def run_engine(a: argparse.Namespace) -> dict:
    """The engine exactly as the app runs it: a worker thread, a sink, telemetry."""
    from synapse_core.events import ListSink
    from synapse_core.training.engine import Engine
    from synapse_core.training.events import ModelLoaded, StepLogged, TrainingFinished

    cfg = engine_config(a)
    t = cfg.training
    n = a.steps * t.per_device_train_batch_size * 4
    if a.workload == "full":
        from transformers import AutoTokenizer

        rows = full_rows(AutoTokenizer.from_pretrained(a.model_dir), a.seq, n)
    else:
        rows = varlen_rows("sft", n * 8)
    if a.objective == "kto":
        rows = kto_from_sft(rows)
    sink = ListSink()
    run_dir = Path(a.out_dir) / f"run-{a.objective}-{a.workload}-{a.stack}"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    if a.stack in ("engine", "engine_decoder") and not (a.profile or a.mem_history):
        return _through_run_process(a, cfg, rows, run_dir)
    if a.stack == "engine_resume":
        # stop half-way (as SIGTERM would), then resume in a fresh engine, as the app does
        from synapse_core.events import CallbackSink
        from synapse_core.training.control import RunControl

        control = RunControl()

        def stop_half_way(e):
            if isinstance(e, StepLogged) and e.step == a.steps // 2:
                control.stop("signal")

        _in_worker(Engine(cfg, CallbackSink(stop_half_way), control, run_dir=run_dir,
                          rows=rows, telemetry_interval_s=0.5))
        engine = Engine(None, sink, resume_from=run_dir, rows=rows, telemetry_interval_s=0.5)
    else:
        engine = Engine(cfg, sink, run_dir=run_dir, rows=rows, telemetry_interval_s=0.5)
    profiler = _profiler(a) if a.profile else None
    from synapse_core.events import CallbackSink, TeeSink

    marks: dict[str, float | None] = {}

    def on_event(e) -> None:
        if isinstance(e, ModelLoaded):  # how much of the peak the load itself reaches
            marks["peak_after_load_gib"] = _peak()
        elif isinstance(e, StepLogged):
            if e.step == 1:
                marks["peak_after_step1_gib"] = _peak()
            if profiler is not None:  # the last two steps are traced (left out of the median)
                profiler.step()

    engine.sink = TeeSink(sink, CallbackSink(on_event))
    result = _in_worker(engine, profiler)
    if not isinstance(result, TrainingFinished):
        raise RuntimeError(f"engine failed: {getattr(result, 'message', result)}\n"
                           f"{getattr(result, 'traceback', '')}")
    if a.stack == "engine_resume":
        from synapse_core.training.rundir import load_metrics

        rows_ = load_metrics(run_dir)
        return dict(tok_s=None, peak_gib=_peak(), steps=len(rows_),
                    losses=[r["loss"] for r in rows_],
                    learning_rates=[r["learning_rate"] for r in rows_], run_dir=str(run_dir))
    steps = sink.of(StepLogged)
    timed = steps[a.warmup:len(steps) - (2 if a.profile else 0)]
    tps = [s.tokens_per_s for s in timed if s.tokens_per_s]
    # tokens and seconds of each step, from the event times: a mean over all timed steps
    # beside the median (packed variable-length steps carry different token counts)
    secs = [b.ts - p.ts for p, b in zip(steps, steps[1:])][a.warmup - 1:len(steps) - 1
                                                           - (2 if a.profile else 0)]
    step_tokens = [round((s.tokens_per_s or 0) * dt) for s, dt in zip(timed, secs)]
    loaded = sink.of(ModelLoaded)[0]
    return dict(marks, tok_s=statistics.median(tps) if tps else None, peak_gib=_peak(),
                tok_s_mean=sum(step_tokens) / sum(secs) if secs and sum(secs) else None,
                step_tokens=step_tokens, step_s=[round(x, 3) for x in secs],
                steps=len(steps), backend=loaded.backend, attn=loaded.attn_implementation,
                load_s=loaded.seconds, losses=[s.loss for s in steps],
                learning_rates=[s.learning_rate for s in steps], run_dir=str(run_dir),
                nvml_in_metrics=_nvml_in_metrics(run_dir), notes=list(loaded.notes))


def _through_run_process(a: argparse.Namespace, cfg: Any, rows: list[dict],
                         run_dir: Path) -> dict:
    """The engine as the app runs it now: a run process of its own (``supervisor.run``),
    followed through its folder; tokens/s from the events it wrote, peak GPU memory from its
    metrics (``gpu_peak_gib``, torch's max allocated in that process)."""
    from synapse_core.events import ListSink
    from synapse_core.training import supervisor
    from synapse_core.training.events import ModelLoaded, StepLogged, TrainingFinished
    from synapse_core.training.rundir import load_metrics

    sink = ListSink()
    result = supervisor.run(cfg, sink, run_dir=run_dir, rows=rows, telemetry_interval_s=0.5,
                            from_start=True)
    if not isinstance(result, TrainingFinished):
        raise RuntimeError(f"run process failed: {getattr(result, 'message', result)}")
    steps = sink.of(StepLogged)
    timed = steps[a.warmup:]
    tps = [s.tokens_per_s for s in timed if s.tokens_per_s]
    secs = [b.ts - p.ts for p, b in zip(steps, steps[1:])][a.warmup - 1:]
    step_tokens = [round((s.tokens_per_s or 0) * dt) for s, dt in zip(timed, secs)]
    peaks = [r["gpu_peak_gib"] for r in load_metrics(run_dir) if r.get("gpu_peak_gib")]
    loaded = sink.of(ModelLoaded)
    return dict(tok_s=statistics.median(tps) if tps else None,
                peak_gib=max(peaks) if peaks else None,
                tok_s_mean=sum(step_tokens) / sum(secs) if secs and sum(secs) else None,
                step_tokens=step_tokens, step_s=[round(x, 3) for x in secs], steps=len(steps),
                backend=loaded[0].backend if loaded else None,
                attn=loaded[0].attn_implementation if loaded else None,
                load_s=loaded[0].seconds if loaded else None, losses=[s.loss for s in steps],
                learning_rates=[s.learning_rate for s in steps], run_dir=str(run_dir),
                nvml_in_metrics=_nvml_in_metrics(run_dir), via="run process",
                notes=list(loaded[0].notes) if loaded else [])


def _in_worker(engine, profiler=None):
    """Run ``engine`` in a worker thread, as the app does, and wait for it."""
    def target() -> None:
        if profiler is None:
            engine.run()
            return
        with profiler:
            engine.run()

    worker = threading.Thread(target=target, name="engine-worker")
    worker.start()
    worker.join()
    if profiler is not None:
        _write_profile(profiler)
    return engine.result


def _profiler(a: argparse.Namespace):
    """torch.profiler over the run's last two steps (CPU and CUDA kernels)."""
    import torch
    from torch.profiler import ProfilerActivity, profile, schedule

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available()
                                     else [])
    return profile(activities=acts, schedule=schedule(wait=max(a.steps - 3, 0), warmup=1,
                                                      active=2, repeat=1))


def _write_profile(profiler) -> None:
    """The top kernels by device time, printed and written beside the run files."""
    import torch

    key = "cuda_time_total" if torch.cuda.is_available() else "cpu_time_total"
    table = profiler.key_averages().table(sort_by=key, row_limit=40, max_name_column_width=70)
    print(table, file=sys.stderr)
    if os.environ.get("OUT"):
        name = f"profile-{os.getpid()}.txt"
        (Path(os.environ["OUT"]) / name).write_text(table, encoding="utf-8")


def _nvml_in_metrics(run_dir: Path) -> bool:
    from synapse_core.training.rundir import load_metrics

    return any(r.get("nvml_mem_used_gib") for r in load_metrics(run_dir))


def _peak() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / GIB if torch.cuda.is_available() else None


def _timed_loop(model, a: argparse.Namespace, vocab: int) -> dict:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    on_cuda = torch.cuda.is_available()
    if on_cuda:
        import bitsandbytes as bnb

        opt = bnb.optim.PagedAdamW8bit(params, lr=5e-7)
        torch.cuda.reset_peak_memory_stats()
    else:
        opt = torch.optim.AdamW(params, lr=5e-7)
    device = next(p for p in model.parameters() if p.requires_grad).device
    g = torch.Generator().manual_seed(0)
    times = []
    model.train()
    for _ in range(a.steps):
        ids = torch.randint(1000, min(vocab, 100_000), (1, a.seq), generator=g).to(device)
        if on_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if on_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times[a.warmup:] or times)
    return dict(tok_s=a.seq / med, peak_gib=_peak(), steps=len(times))


def run_bare_unsloth(a: argparse.Namespace) -> dict:
    import unsloth  # noqa: F401  # before transformers
    from unsloth import FastVisionModel

    t0 = time.time()
    model, _ = FastVisionModel.from_pretrained(a.model_dir, load_in_4bit=True,
                                               use_gradient_checkpointing="unsloth",
                                               max_seq_length=a.seq)
    model = FastVisionModel.get_peft_model(model, finetune_vision_layers=False,
                                           finetune_language_layers=True,
                                           finetune_attention_modules=True,
                                           finetune_mlp_modules=True, r=16, lora_alpha=32,
                                           lora_dropout=0, bias="none", random_state=3407)
    FastVisionModel.for_training(model)
    load_s = time.time() - t0
    res = _timed_loop(model, a, model.get_input_embeddings().weight.shape[0])
    return dict(res, load_s=load_s)


def run_hf_peft(a: argparse.Namespace) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig, LlavaForConditionalGeneration

    t0 = time.time()
    kw: dict = dict(attn_implementation="sdpa")
    if torch.cuda.is_available():
        kw.update(dtype=torch.bfloat16, device_map={"": 0},
                  quantization_config=BitsAndBytesConfig(
                      load_in_4bit=True, bnb_4bit_quant_type="nf4",
                      bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_use_double_quant=True))
    model = LlavaForConditionalGeneration.from_pretrained(a.model_dir, **kw)
    if torch.cuda.is_available():
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    model = get_peft_model(model, LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0, task_type="CAUSAL_LM",
        target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"))
    load_s = time.time() - t0
    res = _timed_loop(model, a, model.get_input_embeddings().weight.shape[0])
    return dict(res, load_s=load_s)


STACKS = {"engine": run_engine, "engine_resume": run_engine, "engine_decoder": run_engine,
          "bare_unsloth": run_bare_unsloth, "hf_peft": run_hf_peft}


# -- where the peak memory goes ------------------------------------------------------------------

def _start_memory_history() -> None:
    """Record every CUDA allocation with its Python stack (torch's memory snapshot)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.memory._record_memory_history(max_entries=2_000_000, stacks="python")


def _memory_at_peak(name: str, top: int = 30) -> list[dict] | None:
    """Replay the allocation trace, find the moment of the peak and group what was live then
    by the first frame of ours or of a library (synapse_core, trl, unsloth, peft,
    transformers, bitsandbytes, torch.optim): which code holds the peak. Printed, and written
    to $OUT/mem-NAME.json with the largest single allocations."""
    import torch

    if not torch.cuda.is_available():
        return None
    snap = torch.cuda.memory._snapshot()
    trace = snap["device_traces"][torch.cuda.current_device()]
    total, peak, peak_at = 0, 0, -1
    sizes: dict[int, int] = {}
    for i, ev in enumerate(trace):
        if ev["action"] == "alloc":
            sizes[ev["addr"]] = ev["size"]
            total += ev["size"]
            if total > peak:
                peak, peak_at = total, i
        elif ev["action"] == "free_completed" and ev["addr"] in sizes:
            total -= sizes.pop(ev["addr"])
    live: dict[int, dict] = {}
    for ev in trace[:peak_at + 1]:
        if ev["action"] == "alloc":
            live[ev["addr"]] = ev
        elif ev["action"] == "free_completed":
            live.pop(ev["addr"], None)
    marks = ("synapse_core", "/trl/", "/unsloth", "/peft/", "/transformers/", "bitsandbytes",
             "torch/optim", "benchmarks/")

    def where(ev: dict) -> str:
        frames = ev.get("frames") or []
        ours = [f for f in frames if any(m in f["filename"] for m in marks)]
        f = ours[0] if ours else (frames[0] if frames else {"filename": "?", "line": 0, "name": "?"})
        return f"{f['filename'].rsplit('site-packages/', 1)[-1]}:{f['line']} {f['name']}"

    groups: dict[str, list[int]] = {}
    for ev in live.values():
        g = groups.setdefault(where(ev), [0, 0])
        g[0] += ev["size"]
        g[1] += 1
    rows = [dict(where=k, gib=round(v[0] / GIB, 4), n=v[1])
            for k, v in sorted(groups.items(), key=lambda kv: -kv[1][0])[:top]]
    biggest = [dict(gib=round(ev["size"] / GIB, 4), where=where(ev),
                    stack=[f"{f['filename'].rsplit('site-packages/', 1)[-1]}:{f['line']} {f['name']}"
                           for f in (ev.get("frames") or [])[:12]])
               for ev in sorted(live.values(), key=lambda e: -e["size"])[:15]]
    print(f"memory at the trace's peak ({peak / GIB:.3f} GiB live, event {peak_at} of "
          f"{len(trace)}; the ring keeps the last 2M events):", file=sys.stderr)
    for r in rows:
        print(f"  {r['gib']:8.3f} GiB  {r['n']:6d}  {r['where']}", file=sys.stderr)
    if os.environ.get("OUT"):
        (Path(os.environ["OUT"]) / f"mem-{name}.json").write_text(json.dumps(
            dict(peak_gib=peak / GIB, groups=rows, biggest=biggest), indent=1), encoding="utf-8")
    return rows


# -- driver -----------------------------------------------------------------------------------

def child(a: argparse.Namespace) -> None:
    try:
        if a.mem_history:
            _start_memory_history()
        res = STACKS[a.stack](a)
        res["ok"] = True
        if a.mem_history:
            res["memory_at_peak"] = _memory_at_peak(f"{a.stack}-{a.workload}")
    except Exception as e:  # reported in the table, not hidden
        import traceback

        res = {"ok": False, "error": f"{type(e).__name__}: {e}",
               "traceback": traceback.format_exc()[-3000:]}
    print("RESULT " + json.dumps(res), flush=True)


def spawn(a: argparse.Namespace, stack: str, workload: str) -> dict:
    cmd = [sys.executable, __file__, "--child", "--stack", stack, "--workload", workload,
           "--model-dir", a.model_dir, "--seq", str(a.seq), "--steps", str(a.steps),
           "--warmup", str(a.warmup), "--objective", a.objective, "--out-dir", a.out_dir]
    if a.quick:
        cmd.append("--quick")
    if a.profile:
        cmd.append("--profile")
    if a.mem_history:
        cmd.append("--mem-history")
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if lines:
        res = json.loads(lines[-1][len("RESULT "):])
    else:
        res = {"ok": False, "error": f"exit {proc.returncode}: {proc.stderr[-2000:]}"}
    res["wall_s"] = time.time() - t0
    print(f"  {stack}/{workload}: " + ("ok" if res.get("ok") else res.get("error", "?"))[:300],
          file=sys.stderr, flush=True)
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny Pixtral on the CPU")
    p.add_argument("--stacks", default="engine,engine_resume,engine_decoder,bare_unsloth,hf_peft",
                   help="engine_resume: stop half-way, resume, compare the curve with engine; "
                        "engine_decoder: model.decoder_only (the decoder trained alone)")
    p.add_argument("--workloads", default="full,varlen")
    p.add_argument("--objective", default="sft", choices=("sft", "kto"))
    p.add_argument("--seq", type=int, default=None, help="tokens per row (4096; quick 128)")
    p.add_argument("--steps", type=int, default=None, help="steps per stack (12; quick 6)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--model-dir", default=None)
    p.add_argument("--tokenizer-dir", default=None,
                   help="saved Tekken tokenizer (the GPU machine has no mistral-common)")
    p.add_argument("--out-dir", default=None)
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "gpu_train.json"))
    p.add_argument("--profile", action="store_true",
                   help="engine stacks: trace the last two steps with torch.profiler and print "
                        "the top kernels (those steps are left out of tokens/s)")
    p.add_argument("--mem-history", action="store_true",
                   help="record every CUDA allocation and print what is live at the peak, "
                        "grouped by the code that allocated it (slows the run: figures only)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--stack", help=argparse.SUPPRESS)
    p.add_argument("--workload", default="full", help=argparse.SUPPRESS)
    a = p.parse_args()
    a.seq = a.seq or (128 if a.quick else 4096)
    a.steps = a.steps or (6 if a.quick else 12)
    if a.out_dir is None:
        # models and run folders are big: keep them out of the working tree (and out of $OUT,
        # which is copied back from the GPU machine); only the small run files are copied
        from synapse_core.paths import cache_dir

        a.out_dir = str(cache_dir() / "gpu_train")
    if a.child:
        child(a)
        return 0
    if a.model_dir is None:
        a.model_dir = str(Path(a.out_dir) / ("pixtral-tiny" if a.quick else "pixtral-12b-random"))
    if not (Path(a.model_dir) / "config.json").is_file():
        t0 = time.time()
        make_model(Path(a.model_dir), a.quick, a.tokenizer_dir)
        print(f"model built in {time.time() - t0:.0f}s: {a.model_dir}", file=sys.stderr)
    results: dict[str, dict] = {}
    for stack in a.stacks.split(","):
        for workload in a.workloads.split(","):
            if workload == "varlen" and stack not in ("engine", "engine_decoder"):
                continue  # the variable-length workload measures the engine's packing
            if stack == "bare_unsloth" and a.quick:
                results[f"{stack}/{workload}"] = {"ok": False, "error": "skipped: needs CUDA"}
                continue
            results[f"{stack}/{workload}"] = spawn(a, stack, workload)
    print_table(a, results)
    return 0


def _fig(results: dict, key: str, field: str):
    r = results.get(key, {})
    return r.get(field) if r.get("ok") else None


def _curve_diff(results: dict, field: str):
    """Largest per-step difference between the resumed and the uninterrupted engine run."""
    full = _fig(results, "engine/full", field)
    resumed = _fig(results, "engine_resume/full", field)
    if not full or not resumed or len(full) != len(resumed):
        return None
    return max(abs(x - y) for x, y in zip(full, resumed))


def print_table(a: argparse.Namespace, results: dict) -> None:
    print(f"\n{'stack/workload':24s} {'tokens/s':>10s} {'peak GiB':>9s} {'load s':>7s}  note")
    for key, r in results.items():
        tok = f"{r['tok_s']:,.0f}" if r.get("tok_s") else "-"
        peak = f"{r['peak_gib']:.2f}" if r.get("peak_gib") else "-"
        load = f"{r['load_s']:.0f}" if r.get("load_s") else "-"
        note = "" if r.get("ok") else r.get("error", "")[:60]
        print(f"{key:24s} {tok:>10s} {peak:>9s} {load:>7s}  {note}")
    eng = _fig(results, "engine/full", "tok_s")
    bare = _fig(results, "bare_unsloth/full", "tok_s")
    hf = _fig(results, "hf_peft/full", "tok_s")
    varlen = _fig(results, "engine/varlen", "tok_s")
    ratio = lambda x, y: round(x / y, 3) if x and y else None  # noqa: E731
    gpu = "cpu"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        gpu = "unknown"
    summary = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "gpu": gpu,
        "objective": a.objective, "seq": a.seq, "steps": a.steps, "quick": a.quick,
        "engine_tok_s": eng, "bare_unsloth_tok_s": bare, "hf_peft_tok_s": hf,
        "engine_peak_gib": _fig(results, "engine/full", "peak_gib"),
        "varlen_tok_s": varlen, "ratio_engine_bare": ratio(eng, bare),
        "engine_decoder_tok_s": _fig(results, "engine_decoder/full", "tok_s"),
        "engine_decoder_peak_gib": _fig(results, "engine_decoder/full", "peak_gib"),
        "engine_decoder_varlen_tok_s": _fig(results, "engine_decoder/varlen", "tok_s"),
        "ratio_engine_hf": ratio(eng, hf), "ratio_varlen_full": ratio(varlen, eng),
        "nvml_in_metrics": _fig(results, "engine/full", "nvml_in_metrics"),
        "resume_max_loss_diff": _curve_diff(results, "losses"),
        "resume_max_lr_diff": _curve_diff(results, "learning_rates"),
        "stacks": {k: {f: v for f, v in r.items() if f != "traceback"} for k, r in results.items()},
    }
    print(f"\na/b (engine / bare Unsloth) {summary['ratio_engine_bare']}   "
          f"a/c (engine / HF+PEFT) {summary['ratio_engine_hf']}   "
          f"varlen/full {summary['ratio_varlen_full']}   "
          f"resumed curve max |dloss| {summary['resume_max_loss_diff']}")
    print(json.dumps({k: v for k, v in summary.items() if k != "stacks"}))
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    from synapse_core.fileio import atomic_write_json

    atomic_write_json(out, summary)
    if os.environ.get("OUT"):
        copy_run_files(results, Path(os.environ["OUT"]), summary)


def copy_run_files(results: dict, dest: Path, summary: dict) -> None:
    """The engine runs' small files (config, metrics, events, log) and the JSON, to ``dest``."""
    import shutil

    from synapse_core.fileio import atomic_write_json

    for r in results.values():
        run_dir = r.get("run_dir")
        if not run_dir:
            continue
        target = dest / Path(run_dir).name
        target.mkdir(parents=True, exist_ok=True)
        for name in ("run.toml", "metrics.jsonl", "events.jsonl", "train.log", "state.json"):
            if (Path(run_dir) / name).is_file():
                shutil.copy2(Path(run_dir) / name, target / name)
    atomic_write_json(dest / "gpu_train.json", summary)


if __name__ == "__main__":
    sys.exit(main())
