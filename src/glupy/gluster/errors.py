"""Exceptions raised by :mod:`glupy.gluster`."""

from __future__ import annotations

from collections.abc import Sequence


class GlusterError(Exception):
    """Base class for every error raised while driving GlusterFS."""


class GlusterNotInstalledError(GlusterError):
    """A GlusterFS program or library is missing.

    The message says what to install (``apt-get install glusterfs-server
    glusterfs-client`` on Debian/Ubuntu).
    """


class GlusterTimeoutError(GlusterError):
    """Something (a daemon, a brick, a mount) did not become ready in time."""


class GlusterCommandError(GlusterError):
    """A ``gluster`` CLI command (or another GlusterFS command) failed.

    Attributes:
        cmd: the full argument vector that was run.
        returncode: its exit status.
        stdout: its standard output.
        stderr: its standard error (or, for ``--xml`` commands, the ``opErrstr``).
    """

    def __init__(self, cmd: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        message = (stderr.strip() or stdout.strip() or "(no output)").splitlines()
        super().__init__(
            f"command failed with exit status {returncode}: {' '.join(self.cmd)}\n  "
            + "\n  ".join(message[-20:])
        )
