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
