"""Writing output files: atomically, through symlinks, only over regular files, never over a read-only one.

Atomic: the data goes to a temporary file beside the target, is flushed and fsynced, and is renamed
over the target, so a crash leaves the old file whole. A symlink is written through: the rename lands
on the file it points to and the link stays a link. A target that exists but is not a regular file (a
device such as /dev/full, a FIFO, a socket, a directory) is refused before anything is written:
renaming over it would turn /dev/full into a regular file, and writing into a FIFO can block forever.
A file without write permission (mode 444) is refused unless ``force``; forced, the new file keeps
the old mode. The rename gives the target a new inode, so other hard links keep the old content.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import SpecError

KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
         (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def read_exact(path: str | Path) -> str:
    """The text with its line endings as they are (Path.read_text turns \\r\\n into \\n)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def output_target(path: str | Path, force: bool = False) -> Path:
    """The regular file that writing ``path`` replaces or creates (symlinks followed), or a SpecError
    saying why it must not be written. Commands call it before long work, so a run is not lost at the end."""
    target = Path(os.path.realpath(path))
    via = f" (a link to {target})" if target != Path(path).absolute() else ""
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return target
    except OSError as error:
        raise SpecError(f"cannot write {path}: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in KINDS if test(info.st_mode)), "not a regular file")
        hint = ": give a file name inside it" if stat.S_ISDIR(info.st_mode) else ""
        raise SpecError(f"{path}{via} is {kind}; cnnspec writes only regular files{hint}")
    if not info.st_mode & 0o222 and not force:
        raise SpecError(f"{path}{via} is read-only (mode {stat.S_IMODE(info.st_mode):o}); pass --force to replace it")
    return target


def write_atomic(path: str | Path, data: str | bytes, force: bool = False) -> None:
    """Write ``data`` to ``path`` (or the file its symlink points to) atomically; see the module's rules."""
    target = output_target(path, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _mode_for(target))  # mkstemp makes 0600; keep the old file's mode, else the umask's
        with os.fdopen(fd, mode, **({} if isinstance(data, bytes) else {"newline": ""})) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
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
