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


class HandlerTimedOut(BaseException):
    """Raised by the bridge inside a handler still running on a thread after its FOP's
    deadline (option ``fop-timeout``) passed and the FOP was answered ETIMEDOUT: a handler
    looping in Python stops there and lets its thread go (one blocked in a call sees it
    when the call returns). A BaseException, so that ``except Exception`` does not
    swallow it; a handler has nothing to do with it."""


class TranslatorLoadError(Exception):
    """A translator could not be loaded: bad module, class or option."""


class OptionError(TranslatorLoadError, ValueError):
    """An option value is invalid, or an option is unknown."""


class AdminError(Exception):
    """A failure of an administrative command, reported as one line (no traceback)."""


#: what failure_text keeps of one failure, at most
FAILURE_TEXT_CHARS = 16384
#: exceptions of a __cause__/__context__ chain failure_text shows (the last ones raised)
FAILURE_TEXT_CHAIN = 8
#: characters of one line failure_text keeps (a 20 MB exception message is one line)
FAILURE_TEXT_LINE = 2000

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def failure_text(exc: BaseException, *, max_chars: int = FAILURE_TEXT_CHARS, max_chain: int = FAILURE_TEXT_CHAIN,
                 max_line: int = FAILURE_TEXT_LINE) -> str:
    """A handler's exception and traceback as text for a log, in bounded space.

    ``traceback.format_exception`` writes whatever the exception carries: a message
    of 20 MB, a chain of 20,000 causes (and takes seconds to walk it). A log line per
    failure must not cost the volume its disk: this keeps the last `max_chain`
    exceptions of the chain (saying how many it left out), cuts each line to
    `max_line` characters and the whole to about `max_chars` (the end, where the
    exception that reached the bridge is, is kept). Never raises."""
    import traceback

    try:
        chain: list[tuple[BaseException, str]] = []  # newest first, with the separator above it
        seen: set[int] = set()
        current: BaseException | None = exc
        link = ""
        left_out = 0
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            if len(chain) < max_chain:
                chain.append((current, link))
            else:
                left_out += 1
                if left_out > 1_000_000:
                    break
            if current.__cause__ is not None:
                current, link = current.__cause__, _CAUSE
            elif current.__context__ is not None and not current.__suppress_context__:
                current, link = current.__context__, _CONTEXT
            else:
                current = None
        parts = []
        if left_out:
            parts.append(f"({left_out} earlier exceptions of this chain left out)\n")
        for error, _ in reversed(chain):
            text = _format_one(error)
            parts.append(text)
            parts.append(_separator(chain, error))
        lines = []
        for line in "".join(parts).rstrip().splitlines():
            if len(line) > max_line:
                line = f"{line[:max_line]}... [{len(line) - max_line} more characters]"
            lines.append(line)
        text = "\n".join(lines)
        if len(text) > max_chars:
            head = max_chars // 4
            tail = max_chars - head
            text = f"{text[:head]}\n... [{len(text) - max_chars} characters left out] ...\n{text[-tail:]}"
        return text
    except BaseException as failure:  # noqa: BLE001 - logging must never fail a FOP
        return f"{type(exc).__name__} (cannot be formatted: {type(failure).__name__})"


def _format_one(error: BaseException) -> str:
    """One exception of a chain as Python prints it, without walking the rest of the chain
    (traceback.TracebackException walks all of it even with chain=False: seconds for
    20,000 causes): its links are cut while it is formatted, then put back."""
    import traceback

    try:
        saved = (error.__cause__, error.__context__, error.__suppress_context__)
    except BaseException:  # noqa: BLE001
        saved = None
    try:
        if saved is not None:
            error.__cause__ = error.__context__ = None
        return "".join(traceback.format_exception(type(error), error, error.__traceback__, chain=False))
    except BaseException as failure:  # noqa: BLE001 - e.g. a __str__ that raises something odd
        return f"{type(error).__name__} (its traceback cannot be formatted: {type(failure).__name__})\n"
    finally:
        if saved is not None:
            try:
                error.__cause__, error.__context__, error.__suppress_context__ = saved
            except BaseException:  # noqa: BLE001
                pass


def _separator(chain: list[tuple[BaseException, str]], error: BaseException) -> str:
    """What Python prints between `error` and the exception raised after it (none for the last)."""
    for i, (e, link) in enumerate(chain):
        if e is error:
            return link if i > 0 else ""  # chain[i]'s link says how chain[i - 1] (newer) follows it
    return ""


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
