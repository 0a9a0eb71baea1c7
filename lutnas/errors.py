"""User-facing errors.

Every error a user can cause (bad names, bad files, missing tools, mismatched tables, lost devices)
is a `LutnasError`; the CLI prints its message on one line and exits non-zero, with no traceback.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class LutnasError(Exception):
    """Base class: the message must name the cause in one line."""

    exit_code = 2


class UnknownNameError(LutnasError):
    """A registry lookup failed; the message lists the valid names."""


class ArchError(LutnasError):
    """An architecture does not fit its search space."""


class OnnxError(LutnasError):
    """An ONNX file is unreadable, fails the checker, or holds an operator TVM cannot import."""


class ToolchainError(LutnasError):
    """A compiler or system tool is missing or failed."""


class TableError(LutnasError):
    """A latency table is corrupt, missing, or does not match what it is used with."""


class DeviceError(LutnasError):
    """A device (local or remote) failed or disconnected while measuring."""


class NumericsError(LutnasError):
    """A lowered model's outputs disagree with the reference beyond tolerance."""


def error_line(err: BaseException, *, last: bool = False, limit: int = 300) -> str:
    """One line of an exception's message, for an error that must fit on one line.

    The first non-empty line, or with `last` the last one (TVM and RPC errors end a C++ or remote
    traceback with the message that names the cause); the exception's type name when it says
    nothing. Cut to `limit` characters.
    """
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return (lines[-1] if last else lines[0])[:limit]
