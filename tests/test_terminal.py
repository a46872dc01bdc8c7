"""The commands as a user sees them in an 80x50 terminal (a pseudo-terminal, COLUMNS=80): no line
wider than the terminal, no figure cut, and every figure shown either exact or correctly rounded.

The exact figures come from the same command piped, which prints every column with every digit.
"""
import fcntl
import math
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from cnnspec.render import text_width

WIDTH, HEIGHT = 80, 50
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?[KMGT]?")
UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def on_terminal(args: list[str]) -> str:
    """The command's output on a pseudo-terminal of WIDTH x HEIGHT, colours stripped (and checked to be
    there: the command saw a terminal)."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
    env = {**os.environ, "COLUMNS": str(WIDTH), "LINES": str(HEIGHT), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen([sys.executable, "-m", "cnnspec", *args], stdin=child, stdout=child, stderr=child,
                               env=env, close_fds=True)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.wait(timeout=300) == 0
    text = b"".join(chunks).decode()
    assert ANSI.search(text), "no colour: the command did not see a terminal"
    return ANSI.sub("", text).replace("\r\n", "\n")


def piped(args: list[str]) -> str:
    result = subprocess.run([sys.executable, "-m", "cnnspec", *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def table_rows(text: str) -> dict[str, str]:
    """Body rows of every boxed table by their first cell, continuation lines of wrapped cells joined."""
    rows: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if not line.startswith(("│", "|")):
            continue
        first = line.strip("│| ").split("│")[0].strip()
        if first:
            last = first
            rows.setdefault(first, "")
        rows[last] += " " + line
    return rows


def value(figure: str) -> int | float:
    number, unit = (figure[:-1], figure[-1]) if figure[-1] in "KMGT" else (figure, "")
    return float(number.replace(",", "")) * UNITS[unit]


def rounds_to(exact: str, shown: str) -> bool:
    """``shown`` is ``exact`` itself, or ``exact`` rounded to at most 3 significant digits in K, M, G, T."""
    if shown == exact:
        return True
    if shown[-1] not in "KMGT" or not re.fullmatch(r"[\d,]+", exact):
        return False
    mantissa = float(shown[:-1])
    if len(shown[:-1].replace(".", "").lstrip("0")) > 3 or not 1 <= mantissa < 1000:
        return False
    last_digit = 10 ** (math.floor(math.log10(mantissa)) - 2) * UNITS[shown[-1]]
    return abs(value(exact) - mantissa * UNITS[shown[-1]]) <= last_digit / 2 + 1e-9 * last_digit


NOTE = re.compile(r"Fitted to \d+ columns:.*?(?:a pipe|--columns)\.", re.DOTALL)
"""What a fitted table gave up: its figures (the width, '3 significant digits') are about the table."""


def check_figures(shown_text: str, exact_text: str) -> None:
    shown_text = NOTE.sub("", shown_text)
    exact_rows = table_rows(exact_text)
    everywhere = set(FIGURE.findall(exact_text))
    for name, row in table_rows(shown_text).items():
        candidates = set(FIGURE.findall(exact_rows[name])) if name in exact_rows else everywhere
        for figure in FIGURE.findall(row):
            assert any(rounds_to(e, figure) for e in candidates), f"row {name!r}: {figure} matches no exact figure"
    for line in shown_text.splitlines():
        if not line.startswith(("│", "|")):
            for figure in FIGURE.findall(line):
                assert any(rounds_to(e, figure) for e in everywhere), f"{line!r}: {figure} is in no exact output"


COMMANDS = [["analyze", "vgg16"], ["analyze", "resnet50", "--depth", "1"], ["whatif", "inception3a"],
            ["compare", "vgg16", "resnet50"], ["compare", "vgg16", "resnet50", "--by", "block"],
            ["verify", "vgg16"], ["verify", "lenet5", "--details"]]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_fits_80_columns_without_cutting_a_figure(args):
    if args[0] == "verify":
        pytest.importorskip("fvcore")
    shown = on_terminal(args)
    too_wide = [line for line in shown.splitlines() if text_width(line) > WIDTH]
    assert not too_wide, "\n".join(too_wide)
    assert "…" not in shown and "..." not in shown
    check_figures(shown, piped(args))


def test_the_fitted_analysis_says_what_it_gave_up():
    shown = on_terminal(["analyze", "resnet50"])
    assert "Fitted to 80 columns: figures with K, M, G, T rounded to 3 significant digits; hidden: type" in (
        " ".join(shown.split()))
    assert "│ layer1.0.downsample.conv │" in shown and "25.6M" in shown
    assert "Fitted" not in piped(["analyze", "resnet50"])


def test_the_figure_check_catches_a_cut_or_misrounded_figure():
    exact = "│ conv1 │ 110,592 │ 86,704,128 │\n"
    check_figures("│ conv1 │ 111K │ 86.7M │\n", exact)
    for wrong in ("│ conv1 │ 110 │ 86.7M │\n", "│ conv1 │ 111K │ 86.8M │\n", "│ conv1 │ 110.6K │ 86.7M │\n"):
        with pytest.raises(AssertionError):
            check_figures(wrong, exact)
