"""Exceptions of the glupy API."""

from __future__ import annotations

import errno as _errno
import os
from typing import Any


class FopError(Exception):
    """A FOP failed with an errno.

    Raise it from a handler to answer the FOP with that error. Awaiting a child's
    FOP raises it when the child answered with an error; its ``reply`` is then the
    child's full reply (``op_ret`` -1), and re-raising it passes the error on with
    everything the child sent (e.g. ``postparent`` of a failed lookup).
    """

    def __init__(self, errno: int, message: str | None = None, *, reply: Any = None) -> None:
        self.errno = errno
        self.reply = reply
        super().__init__(errno, message or os.strerror(errno))

    @property
    def name(self) -> str:
        """The errno's symbolic name, e.g. ``ENOENT``."""
        return _errno.errorcode.get(self.errno, str(self.errno))

    def __str__(self) -> str:
        return f"[{self.name}] {self.args[1]}"


class TranslatorLoadError(Exception):
    """A translator could not be loaded: bad module, class or option."""


class OptionError(TranslatorLoadError, ValueError):
    """An option value is invalid, or an option is unknown."""


class AdminError(Exception):
    """A failure of an administrative command, reported as one line (no traceback)."""


def init_error_line(exc: BaseException) -> str:
    """One line saying why a translator could not start (its own message, and where)."""
    if isinstance(exc, TranslatorLoadError):
        return str(exc)
    if isinstance(exc, SyntaxError):
        return f"SyntaxError in {exc.filename} line {exc.lineno}: {exc.msg}"
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"
