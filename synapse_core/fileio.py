"""Small file helpers: atomic writes, so a crash never leaves a half-written file.

The temporary files and folders are created with the permissions an ordinary ``open()`` or
``mkdir()`` would give (0666/0777 less the umask), and a file that replaces another keeps the
other's permission bits, as an append would: ``tempfile.mkstemp``/``mkdtemp`` make them 0600/
0700, which left a colleague on a shared server unable to read a run folder.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterable, Iterator


def _temp_name(path: Path, suffix: str = "") -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")


def _create_temp_file(path: Path) -> tuple[int, str]:
    """A new hidden file beside ``path``, opened for writing: mode 0666 less the umask (the
    kernel applies it), or the mode of ``path`` when it exists."""
    try:
        keep = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        keep = None
    while True:
        tmp = _temp_name(path, ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:  # (48 random bits: never in practice)
            continue
        if keep is not None and hasattr(os, "fchmod"):
            try:
                os.fchmod(fd, keep)
            except OSError:  # (not the owner of the old file: the umask's mode is fine)
                pass
        return fd, str(tmp)


def make_temp_dir(parent: Path, prefix: str = ".tmp.") -> Path:
    """A new empty folder in ``parent`` with a random name starting ``prefix``, with the mode
    ``mkdir`` gives (0777 less the umask; ``tempfile.mkdtemp`` gives 0700)."""
    parent = Path(parent)
    while True:
        tmp = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            tmp.mkdir(0o777)
        except FileExistsError:
            continue
        return tmp


@contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """An open temporary file beside ``path``; when the block ends without error it is
    flushed, fsynced and renamed over ``path``, on any error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp_file(path)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync, then rename over ``path``."""
    with atomic_file(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: Path, text: str) -> Path:
    """Atomic UTF-8 text write."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> Path:
    """Atomic JSON write (UTF-8, indented, non-ASCII kept)."""
    return atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[Any]) -> Path:
    """Stream rows as JSON lines to a temporary file, then rename: bounded memory, atomic."""
    with atomic_file(path, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False))
            fh.write("\n")
    return Path(path)


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Build a folder under a temporary name beside ``path``; on success it replaces ``path``
    whole, on any error it is removed: a crash never leaves a half-built folder that looks
    finished."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(path.parent, f".{path.name}.")
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
