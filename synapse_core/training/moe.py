"""Mixture-of-experts detection and the LoRA targets that follow from it.

transformers 5 stores a layer's experts fused, as 3-D parameters of one module
(Mixtral's ``mlp.experts.gate_up_proj`` and ``mlp.experts.down_proj``: experts x out x in),
so they are not ``nn.Linear`` modules and ``target_modules`` cannot reach them. PEFT's
``target_parameters`` can: it wraps the parameter itself. Older or remote-code models keep
experts as a ModuleList of Linear layers (``experts.0.w1``); those are reached by module
name. Experts get their own rank/alpha through ``rank_pattern``/``alpha_pattern``; the
router (``mlp.gate``) is left as trained unless ``train_router`` asks for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_FUSED_RE = re.compile(r"^(?P<prefix>.*\.experts)\.(?P<param>[A-Za-z_]+)$")
_LISTED_RE = re.compile(r"^(?P<prefix>.*\.experts)\.\d+\.(?P<leaf>[A-Za-z_0-9]+)$")
_ROUTER_NAMES = ("gate", "router")


@dataclass
class ExpertInfo:
    """What the model has: fused expert parameters, expert Linear modules, routers."""

    fused_params: list[str] = field(default_factory=list)    # "mlp.experts.gate_up_proj", ...
    expert_modules: list[str] = field(default_factory=list)  # leaf names: "w1", "gate_proj"
    routers: list[str] = field(default_factory=list)         # full module names
    num_experts: int = 0
    layers: int = 0

    @property
    def has_experts(self) -> bool:
        return bool(self.fused_params or self.expert_modules)

    def describe(self) -> str:
        """One line for ModelLoaded.experts and the log."""
        if not self.has_experts:
            return "no experts (dense model)"
        what = ", ".join(self.fused_params or [f"experts.N.{m}" for m in self.expert_modules])
        return f"{self.num_experts} experts x {self.layers} layers: {what}"


def detect_experts(model: Any) -> ExpertInfo:
    """Find expert weights and routers in ``model`` (any transformers model)."""
    info = ExpertInfo()
    fused: set[str] = set()
    layers: set[str] = set()
    for name, param in model.named_parameters():
        m = _FUSED_RE.match(name)
        if m and param.ndim == 3:
            # suffix from the block ("mlp.experts.gate_up_proj"): what target_parameters matches
            parts = m.group("prefix").split(".")
            fused.add(".".join(parts[-2:] + [m.group("param")]))
            layers.add(m.group("prefix"))
            info.num_experts = max(info.num_experts, int(param.shape[0]))
    listed: set[str] = set()
    counts: dict[str, set[str]] = {}
    import torch  # heavy: only when a model is here anyway

    for name, module in model.named_modules():
        m = _LISTED_RE.match(name)
        if m and isinstance(module, torch.nn.Linear):
            listed.add(m.group("leaf"))
            layers.add(m.group("prefix"))
            counts.setdefault(m.group("prefix"), set()).add(name.split(".")[-2])
        leaf = name.rsplit(".", 1)[-1]
        parent = name.rsplit(".", 1)[0] if "." in name else ""
        if leaf in _ROUTER_NAMES and parent and _has_experts_child(model, parent):
            info.routers.append(name)
    if counts:
        info.num_experts = max(info.num_experts, max(len(v) for v in counts.values()))
    info.fused_params = sorted(fused)
    info.expert_modules = sorted(listed)
    info.layers = len(layers)
    return info


def _has_experts_child(model: Any, parent: str) -> bool:
    try:
        block = model.get_submodule(parent)
    except AttributeError:
        return False
    return hasattr(block, "experts")


def expert_lora_kwargs(info: ExpertInfo, expert_r: int, expert_alpha: int,
                       train_router: bool) -> dict[str, Any]:
    """Extra ``peft.LoraConfig`` kwargs: target_parameters, rank/alpha patterns, router."""
    if not info.has_experts:
        return {}
    kwargs: dict[str, Any] = {"rank_pattern": {}, "alpha_pattern": {}}
    if info.fused_params:
        kwargs["target_parameters"] = list(info.fused_params)
        leaves = "|".join(sorted({p.rsplit(".", 1)[-1] for p in info.fused_params}))
        pattern = rf"experts\.({leaves})"
        kwargs["rank_pattern"][pattern] = expert_r
        kwargs["alpha_pattern"][pattern] = expert_alpha
    if info.expert_modules:
        pattern = rf"experts\.\d+\.({'|'.join(info.expert_modules)})"
        kwargs["rank_pattern"][pattern] = expert_r
        kwargs["alpha_pattern"][pattern] = expert_alpha
        kwargs["extra_target_modules"] = pattern
    if train_router and info.routers:
        kwargs["modules_to_save"] = sorted({r.rsplit(".", 1)[-1] for r in info.routers})
    return kwargs
