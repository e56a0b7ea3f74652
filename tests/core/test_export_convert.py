"""Converter, quantizer and verifier on tiny real-architecture models (CPU)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from synapse_core.export.convert import convert_to_gguf
from synapse_core.export.errors import ExportCancelled
from synapse_core.export.gguf_write import temp_path_for
from synapse_core.export.mmproj import convert_mmproj
from synapse_core.export.quantize import parse_override, quantize
from synapse_core.export.verify import read_types, verify_gguf

OVERRIDES = {r"_exps\.": "q6_k"}


def _convert_quantize(src: Path, out: Path) -> tuple[Path, Path, object]:
    bf16 = convert_to_gguf(src, out / "m.bf16.gguf")
    q = out / "m.Q4_K_M.gguf"
    rep = quantize(bf16, q, "q4_k_m", OVERRIDES)
    return bf16, q, rep


@pytest.mark.slow
def test_mixtral_experts_q6k_rest_q4km_and_logits_match(tiny_model_dir, tmp_path):
    bf16, q, rep = _convert_quantize(tiny_model_dir("mixtral"), tmp_path)
    assert len(rep.matches[r"_exps\."]) == 6  # 2 layers x gate/up/down
    _, types = read_types(q)
    assert types["experts"] == {"Q6_K": 6}
    assert set(types["attention"]) <= {"Q4_K", "Q6_K"} and types["attention"].get("Q4_K", 0) >= 6
    assert types["router"] == {"F32": 2}
    report = verify_gguf(bf16, hf_dir=tiny_model_dir("mixtral"), threshold=0.9)
    assert report.ok, report.problems
    assert report.logits.top1_agreement >= 0.9 and report.logits.pearson > 0.999
    qrep = verify_gguf(q)
    assert qrep.ok and qrep.generated_tokens == 8


@pytest.fixture(scope="module")
def mistral_gguf(tiny_model_dir, tmp_path_factory):
    """The tiny Mistral converted and quantized once for this module."""
    return _convert_quantize(tiny_model_dir("mistral"), tmp_path_factory.mktemp("mistral"))


@pytest.mark.slow
def test_mistral_dense_override_matches_nothing(tiny_model_dir, mistral_gguf):
    bf16, q, rep = mistral_gguf
    assert rep.matches[r"_exps\."] == []
    assert any("matched no tensor" in n for n in rep.notes)
    _, types = read_types(q)
    assert "experts" not in types and "Q4_K" in types["ffn"]
    report = verify_gguf(bf16, hf_dir=tiny_model_dir("mistral"), threshold=0.9)
    assert report.ok, report.problems


@pytest.mark.slow
def test_pixtral_text_and_mmproj_load_in_llama_cpp(tiny_model_dir, tmp_path, capfd):
    src = tiny_model_dir("pixtral")
    bf16 = convert_to_gguf(src, tmp_path / "p.bf16.gguf")
    mm = convert_mmproj(src, tmp_path / "p.mmproj.gguf")
    arch, types = read_types(mm)
    assert arch == "clip" and types["vision"]["F16"] > 0
    from gguf import GGUFReader

    reader = GGUFReader(str(mm))
    names = {t.name for t in reader.tensors}
    assert "v.token_embd.img_break" in names  # the tensor llama.cpp's old converter dropped
    proj = reader.fields["clip.projector_type"]
    assert bytes(proj.parts[proj.data[0]]).decode() == "pixtral"
    report = verify_gguf(bf16, hf_dir=src, threshold=0.9, mmproj=mm)
    assert report.ok, report.problems
    assert report.mmproj["loaded"] and report.mmproj["image_tokens"] == 19  # 4x4 patches + 3 breaks
    assert report.mmproj["vision_pearson"] > 0.999 and report.mmproj["img_break_ok"]
    # llama.cpp's own log lines (mtmd's "load_hparams: ...") go to the child's log file only
    from synapse_core.export.llama_proc import LlamaProcess

    log = tmp_path / "llama.log"
    with LlamaProcess(log) as proc:
        again = verify_gguf(bf16, mmproj=mm, llama=proc)
    assert again.ok and again.mmproj["embeddings_finite"]
    assert "load_hparams" in log.read_text()
    out, err = capfd.readouterr()
    assert "load_hparams" not in out + err


@pytest.mark.slow
def test_wrong_weights_fail_the_logit_check(tiny_model_dir, mistral_gguf):
    # bf16 GGUF of one model vs the HF logits of another: verification must fail.
    bf16 = mistral_gguf[0]
    report = verify_gguf(bf16, hf_dir=tiny_model_dir("pixtral"), threshold=0.9)
    assert not report.ok and "logits disagree" in report.problems[0]


def test_cancel_mid_conversion_leaves_no_file(tiny_model_dir, tmp_path):
    cancel = threading.Event()
    seen: list[str] = []

    def progress(frac: float, name: str) -> None:
        seen.append(name)
        if len(seen) == 3:
            cancel.set()

    target = tmp_path / "m.bf16.gguf"
    with pytest.raises(ExportCancelled):
        convert_to_gguf(tiny_model_dir("mistral"), target, cancel=cancel, progress=progress)
    assert len(seen) == 3
    assert not target.exists() and not temp_path_for(target).exists()
    assert list(tmp_path.iterdir()) == []


def test_override_parsing_names_the_problem():
    assert parse_override(r"_exps\.=Q6_K") == (r"_exps\.", "q6_k")
    with pytest.raises(Exception, match="PATTERN=TYPE"):
        parse_override("q6_k")
    with pytest.raises(Exception, match="not a ggml type"):
        parse_override(r"_exps\.=q9_z")


@pytest.mark.slow
def test_qwen2_moe_with_shared_expert_converts_and_matches(tiny_model_dir, tmp_path):
    src = tiny_model_dir("qwen2_moe")
    bf16 = convert_to_gguf(src, tmp_path / "q.bf16.gguf")
    arch, types = read_types(bf16)
    assert arch == "qwen2moe"
    assert types["experts"] == {"BF16": 6} and types["shared_exp"] == {"BF16": 6, "F32": 2}
    report = verify_gguf(bf16, hf_dir=src, threshold=0.9)
    assert report.ok, report.problems
    assert report.logits.pearson > 0.999
