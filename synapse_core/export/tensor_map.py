"""Which GGUF tensors a HF checkpoint becomes, and how each is built from its sources.

The plan is made from the safetensors headers alone (names, shapes), so the GGUF header can be
written before any weight is read; then each planned tensor is built and written in turn.
Supported: Mistral/Llama decoders, Pixtral's language model and vision tower
(LlavaForConditionalGeneration), Mixtral experts (per-expert ``w1/w2/w3`` as saved on disk and
the fused ``gate_up_proj``/``down_proj`` layout of transformers 5), Qwen2-MoE experts with
their shared expert (llama.cpp architecture ``qwen2moe``).

llama.cpp's ``llama`` architecture applies rotary embeddings to interleaved pairs, HF to two
halves, so q/k rows are permuted (``_unrotate``); Pixtral's vision tower likewise. ``qwen2moe``
uses the half-split (NeoX) form in llama.cpp too, so its rows stay as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from synapse_core.export.safetensors_io import TensorRef


@dataclass
class PlannedTensor:
    """One GGUF tensor: name, shape (row-major, torch order), stored type, how to build it."""

    name: str
    shape: tuple[int, ...]
    out_type: str  # "bf16", "f16" or "f32"
    sources: list[TensorRef]
    build: Callable[[list[Any]], Any]

    @property
    def nbytes(self) -> int:
        """Bytes of the stored tensor."""
        n = 1
        for s in self.shape:
            n *= s
        return n * (4 if self.out_type == "f32" else 2)


@dataclass(frozen=True)
class TextParams:
    """The decoder hyper-parameters the GGUF header needs."""

    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    rms_eps: float
    rope_theta: float
    n_ctx: int
    vocab_size: int
    n_expert: int = 0
    n_expert_used: int = 0
    arch: str = "llama"
    n_ff_exp: int = 0
    n_ff_shexp: int = 0


def text_params(cfg: dict[str, Any]) -> TextParams:
    """Read decoder hyper-parameters from a (text) config dict."""
    heads = int(cfg["num_attention_heads"])
    hidden = int(cfg["hidden_size"])
    rope = cfg.get("rope_parameters") or {}
    theta = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
    if cfg.get("model_type") == "qwen2_moe":
        return TextParams(
            n_layer=int(cfg["num_hidden_layers"]), n_embd=hidden,
            n_ff=int(cfg["intermediate_size"]), n_head=heads,
            n_head_kv=int(cfg.get("num_key_value_heads") or heads),
            head_dim=int(cfg.get("head_dim") or hidden // heads),
            rms_eps=float(cfg.get("rms_norm_eps", 1e-6)), rope_theta=float(theta),
            n_ctx=int(cfg.get("max_position_embeddings", 4096)),
            vocab_size=int(cfg["vocab_size"]), n_expert=int(cfg["num_experts"]),
            n_expert_used=int(cfg["num_experts_per_tok"]), arch="qwen2moe",
            n_ff_exp=int(cfg["moe_intermediate_size"]),
            n_ff_shexp=int(cfg.get("shared_expert_intermediate_size") or 0))
    return TextParams(
        n_layer=int(cfg["num_hidden_layers"]), n_embd=hidden,
        n_ff=int(cfg["intermediate_size"]), n_head=heads,
        n_head_kv=int(cfg.get("num_key_value_heads") or heads),
        head_dim=int(cfg.get("head_dim") or hidden // heads),
        rms_eps=float(cfg.get("rms_norm_eps", 1e-5)), rope_theta=float(theta),
        n_ctx=int(cfg.get("max_position_embeddings", 4096)), vocab_size=int(cfg["vocab_size"]),
        n_expert=int(cfg.get("num_local_experts") or 0),
        n_expert_used=int(cfg.get("num_experts_per_tok") or 0) if cfg.get("num_local_experts") else 0)


def _unrotate(w: Any, n_head: int) -> Any:
    """HF half-split rotary layout -> llama.cpp interleaved layout (rows of q or k)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def _one(fn: Callable[[Any], Any] | None = None) -> Callable[[list[Any]], Any]:
    return (lambda ts: fn(ts[0])) if fn else (lambda ts: ts[0])


def _stack(ts: list[Any]) -> Any:
    import torch  # heavy: only while building

    return torch.stack(ts, dim=0)


def _find(refs: dict[str, TensorRef], *candidates: str) -> TensorRef | None:
    for c in candidates:
        if c in refs:
            return refs[c]
    return None


def text_prefixes(refs: dict[str, TensorRef]) -> tuple[str, list[str]]:
    """The decoder's key prefix and the candidate lm_head keys for this checkpoint layout."""
    for prefix, heads in (("language_model.model.", ["language_model.lm_head.weight", "lm_head.weight"]),
                          ("model.language_model.", ["lm_head.weight", "model.lm_head.weight"]),
                          ("model.", ["lm_head.weight"])):
        if f"{prefix}embed_tokens.weight" in refs:
            return prefix, heads
    raise ValueError("no embed_tokens.weight found: not a supported decoder checkpoint "
                     "(supported: Mistral/Llama, Mixtral, Pixtral/Llava)")


def plan_text(refs: dict[str, TensorRef], hp: TextParams, out_type: str,
              n_vocab_out: int) -> list[PlannedTensor]:
    """Plan the decoder tensors (llama.cpp ``llama`` architecture names)."""
    prefix, head_keys = text_prefixes(refs)
    plan: list[PlannedTensor] = []

    def req(key: str) -> TensorRef:
        if key not in refs:
            raise ValueError(f"checkpoint lacks tensor {key}")
        return refs[key]

    def add(name: str, srcs: Sequence[TensorRef], build: Callable[[list[Any]], Any],
            shape: tuple[int, ...] | None = None, force_f32: bool = False) -> None:
        shp = shape if shape is not None else srcs[0].shape
        typ = "f32" if force_f32 or len(shp) == 1 else out_type
        plan.append(PlannedTensor(name, tuple(shp), typ, list(srcs), build))

    emb = req(f"{prefix}embed_tokens.weight")

    def pad_rows(t: Any) -> Any:
        # Rows beyond the checkpoint's (vocab padded to the tokenizer's size) are zeros.
        if t.shape[0] >= n_vocab_out:
            return t[:n_vocab_out]
        import torch
        pad = torch.zeros((n_vocab_out - t.shape[0], *t.shape[1:]), dtype=t.dtype)
        return torch.cat([t, pad], dim=0)

    add("token_embd.weight", [emb], _one(pad_rows), (n_vocab_out, emb.shape[1]))
    for i in range(hp.n_layer):
        p = f"{prefix}layers.{i}."
        add(f"blk.{i}.attn_norm.weight", [req(p + "input_layernorm.weight")], _one())
        add(f"blk.{i}.ffn_norm.weight", [req(p + "post_attention_layernorm.weight")], _one())
        neox = hp.arch == "qwen2moe"
        for gg, hf, heads in (("q", "q", hp.n_head), ("k", "k", hp.n_head_kv), ("v", "v", 0)):
            for kind in ("weight", "bias"):
                key = f"{p}self_attn.{hf}_proj.{kind}"
                if kind == "bias" and key not in refs:
                    continue
                fn = None if neox or not heads else (lambda w, h=heads: _unrotate(w, h))
                add(f"blk.{i}.attn_{gg}.{kind}", [req(key)], _one(fn))
        add(f"blk.{i}.attn_output.weight", [req(p + "self_attn.o_proj.weight")], _one())
        if hp.arch == "qwen2moe" and f"{p}mlp.gate.weight" in refs:
            _plan_qwen_moe(refs, p, i, hp, add, req)
        elif hp.n_expert and hp.arch == "llama":
            _plan_experts(refs, p, i, hp, add, req)
        else:
            add(f"blk.{i}.ffn_gate.weight", [req(p + "mlp.gate_proj.weight")], _one())
            add(f"blk.{i}.ffn_up.weight", [req(p + "mlp.up_proj.weight")], _one())
            add(f"blk.{i}.ffn_down.weight", [req(p + "mlp.down_proj.weight")], _one())
    add("output_norm.weight", [req(f"{prefix}norm.weight")], _one())
    head = _find(refs, *head_keys)
    if head is not None:
        add("output.weight", [head], _one(pad_rows), (n_vocab_out, head.shape[1]))
    return plan


def _plan_experts(refs: dict[str, TensorRef], p: str, i: int, hp: TextParams,
                  add: Callable[..., None], req: Callable[[str], TensorRef]) -> None:
    E = hp.n_expert
    legacy = f"{p}block_sparse_moe.experts.0.w1.weight" in refs
    if legacy:
        moe = f"{p}block_sparse_moe."
        add(f"blk.{i}.ffn_gate_inp.weight", [req(moe + "gate.weight")], _one(), force_f32=True)
        for gg, hf in (("gate", "w1"), ("up", "w3"), ("down", "w2")):
            srcs = [req(f"{moe}experts.{e}.{hf}.weight") for e in range(E)]
            add(f"blk.{i}.ffn_{gg}_exps.weight", srcs, _stack, (E, *srcs[0].shape))
        return
    moe = f"{p}mlp."
    add(f"blk.{i}.ffn_gate_inp.weight", [req(moe + "gate.weight")], _one(), force_f32=True)
    _plan_fused_experts(moe, i, E, add, req)


def _plan_fused_experts(moe: str, i: int, E: int, add: Callable[..., None],
                        req: Callable[[str], TensorRef]) -> None:
    """transformers 5's fused experts: ``gate_up_proj`` [E, 2I, H] split into gate and up
    (forward: ``.chunk(2, dim=-1)`` -> gate, up), ``down_proj`` [E, H, I] as it is."""
    gu = req(moe + "experts.gate_up_proj")
    half = gu.shape[1] // 2
    add(f"blk.{i}.ffn_gate_exps.weight", [gu], _one(lambda t: t[:, :half].contiguous()),
        (E, half, gu.shape[2]))
    add(f"blk.{i}.ffn_up_exps.weight", [gu], _one(lambda t: t[:, half:].contiguous()),
        (E, half, gu.shape[2]))
    add(f"blk.{i}.ffn_down_exps.weight", [req(moe + "experts.down_proj")], _one())


def _plan_qwen_moe(refs: dict[str, TensorRef], p: str, i: int, hp: TextParams,
                   add: Callable[..., None], req: Callable[[str], TensorRef]) -> None:
    E, moe = hp.n_expert, f"{p}mlp."
    add(f"blk.{i}.ffn_gate_inp.weight", [req(moe + "gate.weight")], _one(), force_f32=True)
    if f"{moe}experts.gate_up_proj" in refs:
        _plan_fused_experts(moe, i, E, add, req)
    else:
        for gg in ("gate", "up", "down"):
            srcs = [req(f"{moe}experts.{e}.{gg}_proj.weight") for e in range(E)]
            add(f"blk.{i}.ffn_{gg}_exps.weight", srcs, _stack, (E, *srcs[0].shape))
    if f"{moe}shared_expert_gate.weight" in refs:
        add(f"blk.{i}.ffn_gate_inp_shexp.weight", [req(moe + "shared_expert_gate.weight")],
            _one(lambda t: t.reshape(-1)), (refs[moe + "shared_expert_gate.weight"].shape[1],),
            force_f32=True)
    for gg in ("gate", "up", "down"):
        add(f"blk.{i}.ffn_{gg}_shexp.weight", [req(f"{moe}shared_expert.{gg}_proj.weight")], _one())


VISION_PREFIXES = ("vision_tower.", "model.vision_tower.")
PROJECTOR_PREFIXES = ("multi_modal_projector.", "model.multi_modal_projector.")


def plan_vision(refs: dict[str, TensorRef], n_head: int, n_layer: int,
                img_break: tuple[TensorRef, int]) -> list[PlannedTensor]:
    """Plan Pixtral's vision tower + projector as llama.cpp mmproj tensors (f16 weights)."""
    vp = next((p for p in VISION_PREFIXES if f"{p}patch_conv.weight" in refs), None)
    pp = next((p for p in PROJECTOR_PREFIXES if f"{p}linear_1.weight" in refs), None)
    if vp is None or pp is None:
        raise ValueError("no Pixtral vision tower (vision_tower.patch_conv.weight) or projector "
                         "(multi_modal_projector.linear_1.weight) in the checkpoint")
    plan: list[PlannedTensor] = []

    def add(name: str, key: str, fn: Callable[[Any], Any] | None = None) -> None:
        ref = refs.get(key)
        if ref is None:
            raise ValueError(f"checkpoint lacks tensor {key}")
        typ = "f32" if len(ref.shape) == 1 else "f16"
        plan.append(PlannedTensor(name, ref.shape, typ, [ref], _one(fn)))

    add("v.patch_embd.weight", vp + "patch_conv.weight")
    add("v.pre_ln.weight", vp + "ln_pre.weight")
    for i in range(n_layer):
        s = f"{vp}transformer.layers.{i}."
        add(f"v.blk.{i}.attn_q.weight", s + "attention.q_proj.weight", lambda w: _unrotate(w, n_head))
        add(f"v.blk.{i}.attn_k.weight", s + "attention.k_proj.weight", lambda w: _unrotate(w, n_head))
        add(f"v.blk.{i}.attn_v.weight", s + "attention.v_proj.weight")
        add(f"v.blk.{i}.attn_out.weight", s + "attention.o_proj.weight")
        add(f"v.blk.{i}.ln1.weight", s + "attention_norm.weight")
        add(f"v.blk.{i}.ln2.weight", s + "ffn_norm.weight")
        add(f"v.blk.{i}.ffn_gate.weight", s + "feed_forward.gate_proj.weight")
        add(f"v.blk.{i}.ffn_up.weight", s + "feed_forward.up_proj.weight")
        add(f"v.blk.{i}.ffn_down.weight", s + "feed_forward.down_proj.weight")
    for n in (1, 2):
        add(f"mm.{n}.weight", f"{pp}linear_{n}.weight")
        if f"{pp}linear_{n}.bias" in refs:
            add(f"mm.{n}.bias", f"{pp}linear_{n}.bias")
    emb, row = img_break
    # [IMG_BREAK]'s text embedding row: clip.cpp inserts it after every row of image patches.
    plan.append(PlannedTensor("v.token_embd.img_break", (emb.shape[1],), "f32", [emb],
                              _one(lambda t: t[row].clone())))
    return plan


def is_expert_tensor(name: str) -> bool:
    """True for stacked expert tensors (``blk.N.ffn_{gate,up,down}_exps.weight``)."""
    return re.search(r"_exps\.", name) is not None
