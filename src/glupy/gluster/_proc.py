"""Process helpers shared by :mod:`glupy.gluster` (private).

Everything here identifies processes by PID and verifies them through
``/proc/PID/cmdline`` before signalling them: nothing is ever looked up or
killed by a broad process name.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from .errors import GlusterNotInstalledError, GlusterTimeoutError

T = TypeVar("T")

#: Where Debian (and most distributions) install the GlusterFS daemons.
_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def find_program(name: str) -> str:
    """Return the absolute path of a GlusterFS program (``gluster``, ``glusterd``...).

    ``/usr/sbin`` is searched even when it is not on ``$PATH``.

    Raises:
        GlusterNotInstalledError: the program cannot be found.
    """
    found = shutil.which(name)
    if found:
        return found
    for directory in _SBIN_DIRS:
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    raise GlusterNotInstalledError(
        f"GlusterFS program {name!r} not found (searched $PATH and {', '.join(_SBIN_DIRS)}). "
        "Install GlusterFS: apt-get install glusterfs-server glusterfs-client"
    )


def pid_alive(pid: int) -> bool:
    """True if *pid* exists and is not a zombie.

    ``os.kill(pid, 0)`` succeeds on zombies (daemonized GlusterFS processes are
    re-parented to PID 1, which may reap them late), so ``/proc/PID/stat`` is
    checked instead.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return True
    # Format: "pid (comm) state ..."; comm may contain spaces and parens.
    state = data[data.rfind(b")") + 2 : data.rfind(b")") + 3]
    return state not in (b"Z", b"X", b"x")


def read_cmdline(pid: int) -> list[str]:
    """The argument vector of *pid* (empty list if it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def read_pidfile(path: Path) -> int | None:
    """The PID stored in *path*, or None if the file is absent or malformed."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        return int(text.split()[0]) if text else None
    except ValueError:
        return None


def iter_pids() -> Iterator[int]:
    """All numeric entries of ``/proc``."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def pids_with_cmdline_containing(needles: Iterable[str]) -> dict[int, list[str]]:
    """Live processes whose command line contains one of *needles* as a substring.

    Use only with needles that are unique to something we created (a state
    directory path, a unique volume name), never with a program name.
    """
    wanted = [n for n in needles if n]
    found: dict[int, list[str]] = {}
    me = os.getpid()
    for pid in iter_pids():
        if pid == me:
            continue
        argv = read_cmdline(pid)
        if not argv:
            continue
        joined = "\0".join(argv) + "\0"  # a needle ending in NUL matches a whole argument end
        if any(n in joined for n in wanted) and pid_alive(pid):
            found[pid] = argv
    return found


def wait_for(
    predicate: Callable[[], T | None | bool],
    timeout: float,
    what: str,
    interval: float = 0.2,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll *predicate* until it returns a truthy value and return that value.

    Raises:
        GlusterTimeoutError: *timeout* seconds passed; the message names *what*
            and includes ``detail()`` if given.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            extra = ""
            if detail is not None:
                try:
                    extra = "\n" + detail()
                except Exception as exc:  # noqa: BLE001 - diagnostics only
                    extra = f"\n(could not collect details: {exc})"
            raise GlusterTimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


def terminate_pids(pids: Iterable[int], timeout: float = 10.0) -> list[int]:
    """SIGTERM each PID, wait up to *timeout*, then SIGKILL the survivors.

    Returns the PIDs that had to be SIGKILLed.
    """
    pending = [p for p in dict.fromkeys(pids) if p > 1 and p != os.getpid() and pid_alive(p)]
    for pid in pending:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if pid_alive(p)]
        if pending:
            time.sleep(0.1)
    killed = []
    for pid in pending:
        if pid_alive(pid):
            _signal(pid, signal.SIGKILL)
            killed.append(pid)
    deadline = time.monotonic() + 5.0
    while killed and time.monotonic() < deadline and any(pid_alive(p) for p in killed):
        time.sleep(0.05)
    return killed


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    except OSError as exc:  # pragma: no cover - EPERM when not root
        if exc.errno != errno.ESRCH:
            raise


def option_value(argv: list[str], *names: str) -> str | None:
    """Value of a command-line option given as ``NAME VALUE`` or ``NAME=VALUE``."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1 :]
    return None


def tail(path: Path, lines: int = 30) -> str:
    """The last *lines* lines of a (log) file, or a note that it is unreadable."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"
    return "\n".join(data.splitlines()[-lines:])
