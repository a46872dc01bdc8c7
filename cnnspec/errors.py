"""Errors that point at the spec: ``file:line:col: layer 'conv3': message``, like a compiler."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    """A position in a spec file; line and column are 1-based, as editors count."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class TrainError(Exception):
    """A training run that cannot go on (NaN loss, out of memory, a corrupt checkpoint); exit code 1."""


class SpecError(Exception):
    """Bad input that the user must fix. The CLI prints it and exits with code 2."""

    def __init__(self, message: str, loc: Loc | None = None, layer: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.layer = layer

    def __str__(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        layer = f"layer '{self.layer}': " if self.layer else ""
        return f"{where}{layer}{self.message}"
