"""Training speed and memory at full size: the engine vs a bare Unsloth loop vs HF+PEFT.

One command, one process per stack (Unsloth patches transformers on import, so stacks never
share a process). On a CUDA machine it builds a random-init model of the exact Pixtral-12B
architecture (LlavaForConditionalGeneration: Pixtral vision tower, Mistral-Nemo-12B decoder,
131k vocabulary + the 56 reasoning tokens) unless ``--model-dir`` already holds one, then
measures, text only, at ``--seq`` tokens:

  engine   the synapse engine as the app runs it (worker thread, events, telemetry), Unsloth
  bare     a bare Unsloth FastVisionModel loop on the same model (no TRL, no engine)
  hf       transformers + PEFT + bitsandbytes 4-bit, SDPA, gradient checkpointing
  varlen   the engine on realistic variable-length rows (the bundled sample data repeated),
           SFT with packing (padding-free)
  resume   the engine's KTO run stopped at step 3 and resumed: does it continue the curve?

tokens/s is the median over timed steps after warm-up, counting non-pad tokens. Peak memory
is torch's peak allocated on the GPU. Figures go to stdout (a table, then one JSON line) and
to benchmarks/results/gpu_train.json with the date, GPU and library versions.

    python benchmarks/gpu_train.py                      # the whole GPU benchmark
    python benchmarks/gpu_train.py --stacks engine,bare  # some stacks only
    python benchmarks/gpu_train.py --quick              # tiny model, CPU: engine vs a bare
                                                        # HF+PEFT loop (checks the harness)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WARMUP = 3  # steps left out of the median (compilation, allocator warm-up)


# ------------------------------------------------------------------------------------------
# children (each runs in its own process)

def child_make(args: argparse.Namespace) -> dict:
    """Random-init Pixtral-12B (or a narrower/shallower one for --quick) saved to model_dir."""
    import torch
    import transformers as tf

    tok = tf.AutoTokenizer.from_pretrained(args.tokenizer) if args.tokenizer else None
    if tok is None:
        from synapse_core.modeling.tokenizer import load_tekken_tokenizer
        tok = load_tekken_tokenizer()
    from synapse_core.config import REASONING_TAGS
    from synapse_core.modeling.tokenizer import add_reasoning_tokens
    add_reasoning_tokens(tok, REASONING_TAGS)
    if args.quick:
        from synapse_core.modeling.tiny import build_tiny_model
        build_tiny_model("pixtral", args.model_dir, tokenizer=tok)
        return {"made": args.model_dir}
    cfg = tf.LlavaConfig(
        vision_config=tf.PixtralVisionConfig(hidden_size=1024, intermediate_size=4096,
                                             num_hidden_layers=24, num_attention_heads=16,
                                             head_dim=64, image_size=1024, patch_size=16,
                                             rope_theta=10000.0),
        text_config=tf.MistralConfig(vocab_size=131072, hidden_size=5120,
                                     intermediate_size=14336, num_hidden_layers=args.layers,
                                     num_attention_heads=32, num_key_value_heads=8,
                                     head_dim=128, rope_theta=1e9,
                                     max_position_embeddings=1024000, rms_norm_eps=1e-5,
                                     tie_word_embeddings=False),
        image_token_index=10, projector_hidden_act="gelu", vision_feature_layer=-1,
        vision_feature_select_strategy="full", tie_word_embeddings=False)
    t = time.time()
    with torch.device("cuda"):
        torch.manual_seed(0)
        model = tf.LlavaForConditionalGeneration(cfg).to(torch.bfloat16)
    model.resize_token_embeddings(len(tok), pad_to_multiple_of=64)
    params = sum(p.numel() for p in model.parameters())
    init_s = time.time() - t
    t = time.time()
    model.save_pretrained(args.model_dir, max_shard_size="5GB")
    tok.save_pretrained(args.model_dir)
    return {"params_b": params / 1e9, "init_s": init_s, "save_s": time.time() - t}


def _long_text(n_words: int) -> str:
    from synapse_core.paths import demo_dataset_path
    words: list[str] = []
    with open(demo_dataset_path(), encoding="utf-8") as fh:
        for line in fh:
            words.extend(line.replace('"', " ").split())
            if len(words) >= n_words:
                break
    while len(words) < n_words:
        words.extend(words)
    return " ".join(words[:n_words])


def _full_rows(objective: str, n: int) -> list[dict]:
    """Rows long enough to fill max_length (truncated there): every sequence is full."""
    text = _long_text(6000)
    rows = []
    for i in range(n):
        user = {"role": "user", "content": f"Question {i}: explain entropy in detail."}
        reply = {"role": "assistant", "content": f"<reasoning><goal>{i}</goal></reasoning>\n{text}"}
        if objective == "kto":
            rows.append({"prompt": [user], "completion": [reply], "label": i % 2 == 0})
        else:
            rows.append({"messages": [user, reply]})
    return rows


def _engine_config(args: argparse.Namespace, objective: str, run_root: str):
    from synapse_core.config import RunConfig
    cfg = RunConfig()
    cfg.model.name_or_path = args.model_dir
    cfg.model.max_seq_length = args.seq
    cfg.training.objective = objective
    cfg.training.logging_steps = 1
    cfg.training.save_steps = 10**6
    cfg.training.runs_dir = run_root
    cfg.training.num_train_epochs = 1.0
    # SFT: the reference's one row per step; KTO needs 2 rows per device batch for its KL term
    cfg.training.per_device_train_batch_size = 2 if objective == "kto" else 1
    cfg.training.gradient_accumulation_steps = 1
    if args.quick:
        cfg.training.learning_rate = 1e-4
    return cfg


def _run_engine(cfg, rows, max_steps: int, stop_at: int | None = None,
                resume_from: str | None = None) -> tuple[list, object, str]:
    """Run the engine in a worker thread, as the app does; returns (steps, terminal, run_dir)."""
    from synapse_core.events import CallbackSink
    from synapse_core.training.control import RunControl
    from synapse_core.training.engine import Engine
    from synapse_core.training.events import StepLogged

    control = RunControl()
    steps: list = []

    def on_event(event) -> None:
        if isinstance(event, StepLogged):
            steps.append(event)
            if stop_at is not None and event.step >= stop_at:
                control.stop("benchmark")

    engine = Engine(None if resume_from else cfg, CallbackSink(on_event), control,
                    resume_from=resume_from, rows=rows, max_steps=max_steps)
    box: dict = {}
    worker = threading.Thread(target=lambda: box.setdefault("r", engine.run()), name="training")
    worker.start()
    worker.join()
    result = box.get("r")
    run_dir = engine.rundir.path if engine.rundir else ""
    return steps, result, str(run_dir)


def _median_tps(steps: list) -> float | None:
    vals = [s.tokens_per_s for s in steps[WARMUP:] if s.tokens_per_s]
    return statistics.median(vals) if vals else None


def child_engine(args: argparse.Namespace, objective: str, varlen: bool = False) -> dict:
    import torch
    run_root = tempfile.mkdtemp(prefix="bench-runs-")
    cfg = _engine_config(args, objective, run_root)
    if varlen:
        from synapse_core.data.prepare import prepare_dataset
        cfg.training.objective = objective
        prepared = prepare_dataset(cfg)
        rows = list(prepared.rows) * 50
    else:
        rows = _full_rows(objective, max(64, args.steps * 4))
    t = time.time()
    steps, result, run_dir = _run_engine(cfg, rows, args.steps)
    out = {"stack": f"engine-{objective}" + ("-varlen" if varlen else ""),
           "terminal": type(result).__name__, "wall_s": time.time() - t,
           "tok_s": _median_tps(steps), "steps": len(steps),
           "losses": [s.loss for s in steps], "run_dir": run_dir}
    if getattr(result, "message", None):
        out["error"] = result.message[:2000]
    if torch.cuda.is_available():
        out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    metrics = Path(run_dir) / "metrics.jsonl"
    if metrics.is_file():
        first = metrics.read_text(encoding="utf-8").splitlines()[-1:]
        out["metrics_last_row"] = json.loads(first[0]) if first else None
        if os.environ.get("OUT"):
            dest = Path(os.environ["OUT"]) / f"metrics_{out['stack']}.jsonl"
            dest.write_text(metrics.read_text(encoding="utf-8"), encoding="utf-8")
    return out


def child_resume(args: argparse.Namespace) -> dict:
    """KTO run stopped after step 3, then resumed; compare with one uninterrupted run."""
    objective = "kto"
    run_root = tempfile.mkdtemp(prefix="bench-resume-")
    cfg = _engine_config(args, objective, run_root)
    rows = _full_rows(objective, max(64, args.resume_steps * 4))
    full, _, _ = _run_engine(cfg, rows, args.resume_steps)
    part, _, run_dir = _run_engine(cfg, rows, args.resume_steps, stop_at=3)
    rest, result, _ = _run_engine(cfg, rows, args.resume_steps, resume_from=run_dir)
    a = {s.step: (s.loss, s.learning_rate) for s in full}
    b = {s.step: (s.loss, s.learning_rate) for s in part + rest}
    common = sorted(set(a) & set(b))
    diffs = [abs(a[k][0] - b[k][0]) for k in common]
    lr_diffs = [abs(a[k][1] - b[k][1]) for k in common]
    return {"stack": "resume", "terminal": type(result).__name__,
            "stopped_at": max((s.step for s in part), default=None),
            "resumed_steps": [s.step for s in rest],
            "uninterrupted_loss": [a[k][0] for k in common],
            "resumed_loss": [b[k][0] for k in common],
            "max_abs_loss_diff": max(diffs) if diffs else None,
            "max_abs_lr_diff": max(lr_diffs) if lr_diffs else None}


def child_bare(args: argparse.Namespace) -> dict:
    """A bare Unsloth FastVisionModel loop: LoRA on language layers, PagedAdamW8bit."""
    import unsloth  # noqa: F401  # must patch transformers before it loads
    import torch
    from unsloth import FastVisionModel
    import bitsandbytes as bnb

    t = time.time()
    model, _ = FastVisionModel.from_pretrained(args.model_dir, load_in_4bit=True,
                                               use_gradient_checkpointing="unsloth",
                                               max_seq_length=args.seq)
    model = FastVisionModel.get_peft_model(
        model, finetune_vision_layers=False, finetune_language_layers=True,
        finetune_attention_modules=True, finetune_mlp_modules=True, r=16, lora_alpha=32,
        lora_dropout=0, bias="none", random_state=3407)
    load_s = time.time() - t
    FastVisionModel.for_training(model)
    opt = bnb.optim.PagedAdamW8bit([p for p in model.parameters() if p.requires_grad], lr=5e-7)
    return _time_loop(model, opt, args, "bare-unsloth", load_s)


def child_hf(args: argparse.Namespace) -> dict:
    """transformers + PEFT + bitsandbytes 4-bit, SDPA, gradient checkpointing, PagedAdamW8bit."""
    import torch
    import transformers as tf
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    import bitsandbytes as bnb

    t = time.time()
    q = tf.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_use_double_quant=True)
    model = tf.LlavaForConditionalGeneration.from_pretrained(
        args.model_dir, quantization_config=q, dtype=torch.bfloat16, attn_implementation="sdpa",
        device_map={"": 0})
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    targets = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                             target_modules=targets, task_type="CAUSAL_LM"))
    load_s = time.time() - t
    opt = bnb.optim.PagedAdamW8bit([p for p in model.parameters() if p.requires_grad], lr=5e-7)
    return _time_loop(model, opt, args, "hf-peft", load_s)


def _time_loop(model, opt, args, name: str, load_s: float) -> dict:
    import torch
    model.train()
    torch.cuda.reset_peak_memory_stats()
    g = torch.Generator().manual_seed(0)
    times, losses = [], []
    for _ in range(args.steps):
        ids = torch.randint(1000, 100000, (1, args.seq), generator=g).cuda()
        torch.cuda.synchronize()
        t = time.time()
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.time() - t)
        losses.append(float(out.loss))
    med = statistics.median(times[WARMUP:])
    return {"stack": name, "tok_s": args.seq / med, "median_step_s": med, "load_s": load_s,
            "steps": len(times), "losses": losses,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30}


def child_cpu_bare(args: argparse.Namespace) -> dict:
    """--quick: a bare HF+PEFT loop on the tiny model on CPU (the engine's CPU yardstick)."""
    import torch
    import transformers as tf
    from peft import LoraConfig, get_peft_model

    model = tf.LlavaForConditionalGeneration.from_pretrained(args.model_dir, dtype=torch.float32)
    targets = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(args.steps):
        ids = torch.randint(1000, 100000, (1, args.seq), generator=g)
        t = time.time()
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.time() - t)
    med = statistics.median(times[WARMUP:])
    return {"stack": "bare-hf-cpu", "tok_s": args.seq / med, "median_step_s": med}


# ------------------------------------------------------------------------------------------
# parent

def _spawn(args: argparse.Namespace, which: str) -> dict:
    cmd = [sys.executable, __file__, "--child", which, "--model-dir", args.model_dir,
           "--seq", str(args.seq), "--steps", str(args.steps), "--layers", str(args.layers),
           "--resume-steps", str(args.resume_steps)]
    if args.quick:
        cmd.append("--quick")
    if args.tokenizer:
        cmd += ["--tokenizer", args.tokenizer]
    print(f"== {which}", flush=True)
    t = time.time()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    tail = "\n".join(proc.stdout.splitlines()[-25:])
    if result is None:
        print(tail, flush=True)
        return {"stack": which, "error": f"exit {proc.returncode}", "log_tail": tail[-3000:]}
    result["process_s"] = time.time() - t
    print(json.dumps({k: v for k, v in result.items() if k not in ("losses", "log_tail")}),
          flush=True)
    return result


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for name in ("torch", "transformers", "trl", "peft", "unsloth", "bitsandbytes"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _gpu_name() -> str:
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
        return r.stdout.strip().splitlines()[0] if r.returncode == 0 and r.stdout.strip() else "cpu"
    except (OSError, subprocess.TimeoutExpired):
        return "cpu"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny model on CPU, < 1 minute")
    ap.add_argument("--model-dir", default="")
    ap.add_argument("--tokenizer", default="", help="saved Tekken tokenizer (GPU machine has "
                                                     "no mistral-common)")
    ap.add_argument("--layers", type=int, default=40)
    ap.add_argument("--seq", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--resume-steps", type=int, default=6)
    ap.add_argument("--stacks", default="engine-sft,bare,hf,engine-kto,varlen,resume")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu_train.json"))
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        fn = {"make": child_make, "bare": child_bare, "hf": child_hf, "resume": child_resume,
              "cpu-bare": child_cpu_bare,
              "engine-sft": lambda a: child_engine(a, "sft"),
              "engine-kto": lambda a: child_engine(a, "kto"),
              "varlen": lambda a: child_engine(a, "sft", varlen=True)}[args.child]
        print("RESULT " + json.dumps(fn(args)), flush=True)
        return 0

    if args.quick:
        args.seq, args.steps, args.resume_steps = min(args.seq, 256), min(args.steps, 6), 5
        args.stacks = "engine-sft,cpu-bare"
    if not args.model_dir:
        args.model_dir = str(Path(tempfile.gettempdir()) / ("synapse-bench-tiny" if args.quick
                                                             else "synapse-bench-pixtral12b"))
    results: dict[str, dict] = {}
    if not (Path(args.model_dir) / "config.json").is_file():
        results["make"] = _spawn(args, "make")
    for which in args.stacks.split(","):
        results[which] = _spawn(args, which)

    def tps(name: str) -> float | None:
        return results.get(name, {}).get("tok_s")

    eng, bare, hf = tps("engine-sft"), tps("bare") or tps("cpu-bare"), tps("hf")
    summary = {
        "date": dt.date.today().isoformat(), "gpu": _gpu_name(), "versions": _versions(),
        "seq": args.seq, "layers": args.layers, "quick": args.quick,
        "objective": "sft (ratios); kto measured too",
        "engine_tok_s": eng, "bare_unsloth_tok_s": tps("bare"), "hf_peft_tok_s": hf,
        "engine_kto_tok_s": tps("engine-kto"), "varlen_tok_s": tps("varlen"),
        "engine_peak_gib": results.get("engine-sft", {}).get("peak_gib"),
        "engine_kto_peak_gib": results.get("engine-kto", {}).get("peak_gib"),
        "bare_peak_gib": results.get("bare", {}).get("peak_gib"),
        "hf_peak_gib": results.get("hf", {}).get("peak_gib"),
        "ratio_engine_over_bare": (eng / bare) if eng and bare else None,
        "ratio_engine_over_hf": (eng / hf) if eng and hf else None,
        "ratio_varlen_over_full": (tps("varlen") / eng) if tps("varlen") and eng else None,
        "resume_max_abs_loss_diff": results.get("resume", {}).get("max_abs_loss_diff"),
        "stacks": results,
    }
    print()
    print(f"{'stack':<16}{'tokens/s':>12}{'peak GiB':>10}")
    for name, r in results.items():
        if name == "make":
            continue
        t, p = r.get("tok_s"), r.get("peak_gib")
        print(f"{name:<16}{(f'{t:,.0f}' if t else r.get('error', '-')):>12}"
              f"{(f'{p:.1f}' if p else '-'):>10}")
    if not args.quick:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        from synapse_core.fileio import atomic_write_json
        atomic_write_json(Path(args.out), summary)
        if os.environ.get("OUT"):
            atomic_write_json(Path(os.environ["OUT"]) / "gpu_train.json", summary)
    brief = {k: v for k, v in summary.items() if k != "stacks"}
    print(json.dumps(brief))
    return 0


if __name__ == "__main__":
    sys.exit(main())
