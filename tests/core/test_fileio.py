"""Atomic writes: a failure leaves the old file or folder as it was, and no stray temp files."""

import pytest

from synapse_core.fileio import atomic_directory, atomic_write_jsonl, atomic_write_text


def test_atomic_directory_replaces_whole_on_success(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with atomic_directory(out) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (out / "new.txt").exists()  # nothing visible until complete
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_directory_failure_keeps_the_old_folder(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(out) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("crash mid-build")
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_jsonl_failure_leaves_previous_file(tmp_path):
    path = tmp_path / "rows.jsonl"
    atomic_write_text(path, "kept\n")

    def rows():
        yield {"a": 1}
        raise ValueError("bad row")

    with pytest.raises(ValueError):
        atomic_write_jsonl(path, rows())
    assert path.read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_atomic_text_round_trips_unicode_and_replaces(tmp_path):
    path = tmp_path / "sub" / "note.txt"
    atomic_write_text(path, "first")
    atomic_write_text(path, "ähnlich 🧙\n")
    assert path.read_text(encoding="utf-8") == "ähnlich 🧙\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["note.txt"]
