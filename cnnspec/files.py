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

from .errors import Loc, SpecError

KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
         (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


MAX_INPUT_BYTES = 32 * 2**20
"""The largest spec, table or document cnnspec reads: a 100,000-layer spec is about 6 MB."""


def read_input(path: str | Path, loc: Loc | None = None, what: str = "", exact: bool = False) -> str:
    """The UTF-8 text of a file the user named (a spec, an include, a table), or a SpecError at ``loc`` (where
    the file is named; else the file itself) that says why not. Only a regular file is read, opened without
    blocking, so a FIFO or a device (/dev/zero) is refused at once instead of hanging or filling memory; at
    most MAX_INPUT_BYTES are read. ``exact`` keeps the line endings as they are (for rewriting a file),
    else \\r\\n and \\r become \\n, as Path.read_text does."""
    name = what or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise SpecError(f"cannot read {name}: {error.strerror}", loc) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((kind for test, kind in KINDS if test(mode)), "not a regular file")
        raise SpecError(f"{name} is {kind}; cnnspec reads only regular files", loc)
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(MAX_INPUT_BYTES + 1)
        except OSError as error:
            raise SpecError(f"cannot read {name}: {error.strerror}", loc) from None
    if len(data) > MAX_INPUT_BYTES:
        raise SpecError(f"{name} is larger than {MAX_INPUT_BYTES // 2**20} MiB, more than any spec or table; "
                        "refusing to read it", loc)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        col = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        where = loc or Loc(str(path), line, col)
        at = f" (byte 0x{data[error.start]:02x} at line {line}, column {col})" if loc else ""
        raise SpecError(f"{name} is not UTF-8 text{at}: a binary file?", where) from None
    return text if exact else text.replace("\r\n", "\n").replace("\r", "\n")


def read_exact(path: str | Path) -> str:
    """The text with its line endings as they are (Path.read_text turns \\r\\n into \\n)."""
    return read_input(path, exact=True)


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
