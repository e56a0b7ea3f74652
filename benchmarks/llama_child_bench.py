"""Verify and chat latency with llama.cpp in a child process vs in this process.

The tiny demo Pixtral's text model is converted to a bf16 GGUF once. Then, ``--runs`` times
each (medians printed):
- verify's load + generate 8 tokens: in-process (``llama_child.op_generate``) vs through a
  running child (``LlamaProcess.call("generate")``), and the child's start-up (Python +
  libllama, paid once per job);
- chat: time to the first streamed token and tokens/s after it, ``ChatSession`` in-process vs
  ``ChildChatSession`` (the model loaded once per session in both).

    python benchmarks/llama_child_bench.py --quick   # 2 runs
    python benchmarks/llama_child_bench.py           # 5 runs

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

PROMPT = "Tell me about entropy."


def _chat_once(session: Any, max_tokens: int) -> tuple[float, float]:
    """(seconds to the first streamed token, tokens/s after it) of one reply."""
    t0 = time.perf_counter()
    stamps: list[float] = []
    session.send(PROMPT, on_delta=lambda k, t: stamps.append(time.perf_counter()),
                 max_tokens=max_tokens, temperature=0.0)
    session.clear()  # every run answers the same one-turn prompt
    if not stamps:
        return float("nan"), float("nan")
    first = stamps[0] - t0
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
    return first, rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 runs instead of 5")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=48)
    args = ap.parse_args()
    runs = 2 if args.quick else args.runs

    from synapse_core.export.chat import ChatSession, ChildChatSession
    from synapse_core.export.convert import convert_to_gguf
    from synapse_core.export.llama_child import op_generate
    from synapse_core.export.llama_proc import LlamaProcess
    from synapse_core.modeling.tiny import ensure_demo_model

    med = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        gguf = convert_to_gguf(ensure_demo_model(), Path(tmp) / "demo.bf16.gguf")
        inproc, child, starts = [], [], []
        for _ in range(runs):
            t = time.perf_counter()
            op_generate(str(gguf), "The professor said", 8)
            inproc.append(time.perf_counter() - t)
            with LlamaProcess() as proc:
                t = time.perf_counter()
                proc.start()
                starts.append(time.perf_counter() - t)
                t = time.perf_counter()
                proc.call("generate", what="generating", path=str(gguf),
                          prompt="The professor said", n=8)
                child.append(time.perf_counter() - t)
        chats: dict[str, dict[str, float]] = {}
        for name, session in (("in_process", ChatSession(gguf)),
                              ("child", ChildChatSession(gguf))):
            t = time.perf_counter()
            session.load()
            load = time.perf_counter() - t
            got = [_chat_once(session, args.max_tokens) for _ in range(runs)]
            session.close()
            chats[name] = {"load_s": round(load, 3),
                           "first_token_s": round(med(g[0] for g in got), 4),
                           "tokens_per_s": round(med(g[1] for g in got), 1)}
    result = {
        "runs": runs, "model": "tiny demo Pixtral text model, bf16 GGUF",
        "verify_generate_s": {"in_process": round(med(inproc), 3), "child": round(med(child), 3)},
        "child_start_s": round(med(starts), 3),
        "chat": chats,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    for k, v in result.items():
        print(f"{k}: {v}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
