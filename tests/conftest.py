"""Shared fixtures: an isolated XDG home, the real Tekken tokenizer, tiny real models.

The tokenizer conversion and tiny models are cached under ``.pytest_cache/xdg-cache`` (or
``$SYNAPSE_TEST_CACHE``) so a second run reuses them; user state (data/config homes) is a
fresh temporary folder per test session, so tests never touch the real home.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_CACHE = Path(os.environ.get("SYNAPSE_TEST_CACHE", ROOT / ".pytest_cache" / "xdg-cache"))


def pytest_configure(config: pytest.Config) -> None:
    os.environ["XDG_CACHE_HOME"] = str(_CACHE)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except Exception:  # torch missing or broken: GPU tests cannot run either
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run on the GPU server)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("xdg")
    os.environ["XDG_DATA_HOME"] = str(home / "data")
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")


@pytest.fixture(scope="session")
def tekken_tokenizer():
    """The real Pixtral Tekken tokenizer (from the mistral-common wheel)."""
    from synapse_core.modeling.tokenizer import load_tekken_tokenizer

    return load_tekken_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_dir(tekken_tokenizer):
    """Factory: path of a tiny random-init model of a kind (pixtral, mistral, mixtral, qwen2_moe),
    built once and cached between runs."""
    from synapse_core.modeling.tiny import DEMO_VERSION, build_tiny_model

    def get(kind: str) -> Path:
        path = _CACHE / "synapse-tui" / "test-models" / f"{kind}-{DEMO_VERSION}"
        if not (path / "config.json").is_file():
            build_tiny_model(kind, path, seed=0, tokenizer=tekken_tokenizer)
        return path

    return get


@pytest.fixture
def sigterm_cli_train():
    """``run(cfg_path, run_dir, env=None, timeout_s=180) -> (exit code, output)``: `synapse
    train --config CFG --run-dir RUN` in a subprocess, sent SIGTERM (an SSH drop) once its
    first step is in metrics.jsonl; every wait is bounded, and the process is killed if the
    test fails half-way."""
    import signal
    import subprocess
    import sys
    import time

    from synapse_core.training.rundir import load_metrics

    def run(cfg_path: Path, run_dir: Path, env: dict[str, str] | None = None,
            timeout_s: float = 180.0) -> tuple[int, str]:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        proc = subprocess.Popen([sys.executable, "-m", "synapse_core.cli", "train", "--config",
                                 str(cfg_path), "--run-dir", str(run_dir)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + timeout_s
            while not load_metrics(run_dir):  # bounded poll for the first logged step
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "no step logged in time"
                try:
                    proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    continue
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        return proc.returncode, out

    return run
