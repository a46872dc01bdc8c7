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
