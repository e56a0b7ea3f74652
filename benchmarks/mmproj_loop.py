"""How often llama.cpp's mmproj encode of the verification test image is not finite.

The tiny demo Pixtral is converted to a bf16 GGUF and an mmproj once; then, N times, a fresh
llama.cpp child process (as a verification job uses) generates 8 tokens from the text model
(other work first, as verification does) and encodes the test image ``--encodes`` times.
Each encode is checked for NaN/Inf and compared with the HF vision tower + projector (Pearson
r, computed once). Also printed: the CPU, whether libllama reports AMX, and the load average.

    python benchmarks/mmproj_loop.py --quick      # 5 children
    python benchmarks/mmproj_loop.py --n 50       # what issue 14 asks for

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 children")
    ap.add_argument("--n", type=int, default=50, help="children (default 50)")
    ap.add_argument("--encodes", type=int, default=3, help="encodes per child (default 3)")
    args = ap.parse_args()
    n = 5 if args.quick else args.n

    import numpy as np

    from synapse_core.export.convert import convert_to_gguf
    from synapse_core.export.llama_proc import LlamaProcess, system_info
    from synapse_core.export.mmproj import convert_mmproj
    from synapse_core.export.verify import _hf_image_features, _test_image
    from synapse_core.modeling.tiny import ensure_demo_model

    src = ensure_demo_model()
    side, patch = 64, 16
    rows = cols = side // patch
    keep = [r * (cols + 1) + c for r in range(rows) for c in range(cols)]
    feats, _ = _hf_image_features(src, _test_image(side))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "?")
    info = system_info()
    amx_cpu = "amx_int8" in open("/proc/cpuinfo").read()
    with tempfile.TemporaryDirectory() as tmp:
        bf16 = convert_to_gguf(src, Path(tmp) / "demo.bf16.gguf")
        mm = convert_mmproj(src, Path(tmp) / "demo.mmproj.gguf")
        bad_children = bad_encodes = 0
        pearsons: list[float] = []
        t0 = time.monotonic()
        for i in range(n):
            with LlamaProcess() as proc:
                proc.call("generate", what="generating", path=str(bf16), prompt="The professor said",
                          n=8)
                child_bad = 0
                for _ in range(args.encodes):
                    emb = proc.call("mmproj_encode", what="encoding", mmproj=str(mm),
                                    text_gguf=str(bf16), side=side)
                    finite = bool(np.isfinite(emb).all())
                    child_bad += not finite
                    if finite:
                        pearsons.append(float(np.corrcoef(feats.ravel(), emb[keep].ravel())[0, 1]))
            bad_encodes += child_bad
            bad_children += child_bad > 0
            print(f"child {i + 1}/{n}: {args.encodes - child_bad}/{args.encodes} encodes finite",
                  flush=True)
        seconds = time.monotonic() - t0
    result = {
        "children": n, "encodes": n * args.encodes, "children_with_nonfinite": bad_children,
        "nonfinite_encodes": bad_encodes,
        "min_vision_pearson": round(min(pearsons), 6) if pearsons else None,
        "seconds": round(seconds, 1), "cpu": cpu, "cpu_has_amx": amx_cpu,
        "libllama_amx_int8": "AMX_INT8 = 1" in info,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
