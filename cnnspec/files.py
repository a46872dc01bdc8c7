"""Atomic file writes: write beside the target, flush, fsync, rename. A crash leaves the old file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def read_exact(path: str | Path) -> str:
    """The text with its line endings as they are (Path.read_text turns \\r\\n into \\n)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def write_atomic(path: str | Path, data: str | bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp makes 0600; keep the old file's mode, else the umask's
        with os.fdopen(fd, mode, **({} if isinstance(data, bytes) else {"newline": ""})) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
