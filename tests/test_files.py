import os
import stat

import pytest

from cnnspec.files import read_exact, write_atomic


def test_write_atomic_replaces_and_keeps_line_endings(tmp_path):
    path = tmp_path / "sub" / "a.md"
    write_atomic(path, "one\r\ntwo\n")
    assert read_exact(path) == "one\r\ntwo\n"
    write_atomic(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    assert [p.name for p in path.parent.iterdir()] == ["a.md"]  # no temporary file left behind


def test_new_files_follow_the_umask_and_old_files_keep_their_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "report.html"
        write_atomic(fresh, "x")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        fresh.chmod(0o600)
        write_atomic(fresh, "y")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    finally:
        os.umask(umask)


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "weights.pt"
    path.write_text("good")
    with pytest.raises(TypeError):
        write_atomic(path, 42)
    assert path.read_text() == "good" and len(list(tmp_path.iterdir())) == 1


# --- what a write may replace: symlinks, devices, FIFOs, read-only files, directories ---------------

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

from cnnspec.errors import SpecError  # noqa: E402
from cnnspec.files import output_target  # noqa: E402

DATA = Path(__file__).parent / "data"
TINY = DATA / "train" / "tiny_mnist1d.yaml"


def char_device(path: Path) -> bool:
    """A character device like /dev/full (1, 7) at ``path``, where this user may make one."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except (PermissionError, AttributeError):
        return False
    return True


def test_a_write_through_a_symlink_updates_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "docs" / "real.md"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(Path("docs") / "real.md")
    write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["real.md"]  # the temporary file was beside the target
    dangling = tmp_path / "dangling.md"
    dangling.symlink_to(tmp_path / "made.md")
    write_atomic(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "made.md").read_text() == "made"


def test_devices_fifos_sockets_and_directories_are_refused_untouched(tmp_path):
    fifo = tmp_path / "pipe.svg"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match=f"{fifo} is a FIFO \\(named pipe\\); cnnspec writes only regular files"):
        write_atomic(fifo, "x")  # refused before opening: opening a FIFO with no reader would block
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(SpecError, match=f"{tmp_path} is a directory; cnnspec writes only regular files: give a file"):
        write_atomic(tmp_path, "x")
    link = tmp_path / "full.pt"
    link.symlink_to("/dev/full")  # the link is followed; /dev/full itself is never written
    with pytest.raises(SpecError, match=r"full.pt \(a link to /dev/full\) is a character device"):
        write_atomic(link, b"x")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode) and link.is_symlink()


def test_a_read_only_file_is_refused_unless_forced_and_keeps_its_mode(tmp_path):
    path = tmp_path / "weights.pt"
    path.write_text("old")
    path.chmod(0o444)
    with pytest.raises(SpecError, match=f"{path} is read-only \\(mode 444\\); pass --force to replace it"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    write_atomic(path, "new", force=True)
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert output_target(tmp_path / "missing" / "x.txt") == (tmp_path / "missing" / "x.txt").resolve()


MANAGED = "# doc\n<!-- cnnspec table lenet5 columns=name,params -->\n<!-- /cnnspec -->\n"


def commands():
    """(id, arguments writing to PATH, suffix, what it needs): every command that writes a file."""
    torch_ok = importlib.util.find_spec("torch") is not None
    plots_ok = importlib.util.find_spec("matplotlib") is not None
    onnx_ok = importlib.util.find_spec("onnx") is not None
    mark = lambda ok, why: () if ok else (pytest.mark.skip(reason=why),)  # noqa: E731
    return [
        pytest.param(["schema", "-o", "PATH"], ".json", id="schema -o"),
        pytest.param(["whatif", str(DATA / "compare" / "five_by_five.yaml"), "--apply", "reduce:conv5x5:16",
                      "--write", "PATH"], ".yaml", id="whatif --write"),
        pytest.param(["table", "--update", "PATH"], ".md", id="table --update"),
        pytest.param(["graph", "lenet5", "-o", "PATH"], ".svg", id="graph -o"),
        pytest.param(["plot", "lenet5", "-o", "PATH"], ".png", id="plot -o", marks=mark(plots_ok, "no matplotlib")),
        pytest.param(["report", "lenet5", "-o", "PATH"], ".html", id="report -o"),
        pytest.param(["build", str(TINY), "--out", "PATH"], ".pt", id="build --out", marks=mark(torch_ok, "no torch")),
        pytest.param(["build", str(TINY), "--onnx", "PATH"], ".onnx", id="build --onnx",
                     marks=mark(torch_ok and onnx_ok, "no onnx")),
        pytest.param(["build", str(TINY), "--python", "PATH"], ".py", id="build --python",
                     marks=mark(torch_ok, "no torch")),
    ]


def invoke(arguments: list[str], path: Path, *extra: str) -> tuple[int, str]:
    """Exit code and message as `cnnspec` gives them (cli.main turns a SpecError into 2)."""
    from typer.testing import CliRunner

    from cnnspec.cli import app
    result = CliRunner().invoke(app, [str(path) if a == "PATH" else a for a in arguments] + list(extra))
    if isinstance(result.exception, SpecError):
        return 2, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def old_file(path: Path) -> None:
    path.write_text(MANAGED if path.suffix == ".md" else "old")


@pytest.mark.parametrize("arguments, suffix", commands())
def test_every_writing_command_writes_through_a_symlink(arguments, suffix, tmp_path):
    target = tmp_path / "real" / f"target{suffix}"
    target.parent.mkdir()
    old_file(target)
    link = tmp_path / f"link{suffix}"
    link.symlink_to(target)
    code, output = invoke(arguments, link)
    assert code == 0, output
    assert link.is_symlink() and target.read_bytes() not in (b"old", MANAGED.encode())


@pytest.mark.parametrize("arguments, suffix", commands())
def test_every_writing_command_refuses_a_device_and_a_fifo(arguments, suffix, tmp_path):
    fifo = tmp_path / f"pipe{suffix}"
    os.mkfifo(fifo)
    targets = [fifo] + ([tmp_path / f"full{suffix}"] if char_device(tmp_path / f"full{suffix}") else [])
    for path in targets:
        kind = stat.S_IFMT(os.stat(path).st_mode)
        code, message = invoke(arguments, path)
        assert code == 2 and str(path) in message and "regular file" in message, message
        assert stat.S_IFMT(os.stat(path).st_mode) == kind  # still the device or FIFO it was


@pytest.mark.parametrize("arguments, suffix", commands())
def test_every_writing_command_respects_a_read_only_file_unless_forced(arguments, suffix, tmp_path):
    path = tmp_path / f"locked{suffix}"
    old_file(path)
    before = path.read_bytes()
    path.chmod(0o444)
    code, message = invoke(arguments, path)
    assert code == 2 and message == f"{path} is read-only (mode 444); pass --force to replace it"
    assert path.read_bytes() == before
    code, output = invoke(arguments, path, "--force")
    assert code == 0, output
    assert path.read_bytes() != before and stat.S_IMODE(path.stat().st_mode) == 0o444


@pytest.mark.parametrize("arguments, suffix", [c for c in commands() if c.id != "table --update"])
def test_every_writing_command_refuses_a_directory(arguments, suffix, tmp_path):
    folder = tmp_path / f"folder{suffix}"
    folder.mkdir()
    code, message = invoke(arguments, folder)
    assert code == 2 and message.startswith(f"{folder} is a directory; cnnspec writes only regular files"), message
    assert folder.is_dir() and not list(folder.iterdir())


def test_report_refuses_a_pdf_path(tmp_path):
    code, message = invoke(["report", "lenet5", "-o", "PATH"], tmp_path / "x.pdf")
    assert code == 2 and "the report is an HTML page; give a .html path" in message
    assert not (tmp_path / "x.pdf").exists()
