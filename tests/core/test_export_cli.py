"""``synapse export``: argument errors and the --verify report."""

from __future__ import annotations

from synapse_core.cli import main


def test_verify_prints_the_report(tiny_model_dir, tmp_path, capsys):
    from synapse_core.export.mmproj import convert_mmproj

    mm = convert_mmproj(tiny_model_dir("pixtral"), tmp_path / "p.mmproj.gguf")
    assert main(["export", "--verify", str(mm)]) == 0
    out = capsys.readouterr().out
    assert "clip" in out and "vision" in out and "verdict: ok" in out


def test_bad_override_and_missing_source_exit_with_a_message(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--override", "q6_k"]) == 2
    assert "PATTERN=TYPE" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
    assert "no such folder" in capsys.readouterr().err
    assert main(["export", "--verify", str(tmp_path / "x.gguf")]) == 2


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from synapse_core.cli import build_parser; build_parser(); "
            "import synapse_core.export.queue, synapse_core.export.pipeline; "
            "print('torch' in sys.modules, 'textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
