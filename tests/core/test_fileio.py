"""Atomic writes: a failure leaves the old file or folder as it was, and no stray temp files."""

import os
import stat

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


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_atomic_writes_follow_the_umask_like_appends(tmp_path, umask_022):
    """A colleague must be able to read what we write: 0644 under umask 022, as open() gives."""
    appended = tmp_path / "log.txt"
    with open(appended, "a") as fh:
        fh.write("x\n")
    new = atomic_write_text(tmp_path / "state.json", "{}")
    rows = atomic_write_jsonl(tmp_path / "rows.jsonl", [{"a": 1}])
    assert _mode(new) == _mode(rows) == _mode(appended) == 0o644
    with atomic_directory(tmp_path / "folder") as tmp:
        (tmp / "f").write_text("f")
    assert _mode(tmp_path / "folder") == 0o755


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path, umask_022):
    path = tmp_path / "run.toml"
    path.write_text("a")
    os.chmod(path, 0o640)
    atomic_write_text(path, "b")
    assert path.read_text() == "b" and _mode(path) == 0o640


def test_prepared_dataset_folder_follows_the_umask(tmp_path, umask_022):
    from synapse_core.data.prepare import PreparedDataset, write_prepared

    out = write_prepared(PreparedDataset("kto", "x.jsonl"), tmp_path / "prep")
    assert _mode(out / "dataset") == 0o755
    assert _mode(out / "train.jsonl") == 0o644
