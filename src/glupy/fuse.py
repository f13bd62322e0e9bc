"""The FUSE mount a ``glusterfs`` client process serves, seen from inside that process.

GlusterFS's fuse bridge offers the kernel a read-ahead of 128 KiB (``max_readahead``
is fixed in fuse-bridge.c), so the kernel keeps one or two 128 KiB reads of a
sequential reader in flight and each read's latency is the reader's throughput. A
translator that adds latency to every read (crypt: the bridge's hand-overs and a
decryption per read) can ask the kernel for a deeper read-ahead on its mount with
:func:`raise_read_ahead`: more reads in flight, whose latencies overlap. Linux
keeps a mount's read-ahead in its backing device (``/sys/class/bdi/MAJ:MIN``), which
root may raise once the mount is up; the FUSE handshake would otherwise cut it back.

Nothing here touches the mount itself: a ``stat`` of its own mount point from the
process that serves it would wait on that process's own threads. The device
number comes from ``/proc/self/mountinfo``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: where Linux exposes a backing device's read-ahead, in KiB
BDI_READ_AHEAD = "/sys/class/bdi/{major}:{minor}/read_ahead_kb"


def _unescape(field: str) -> str:
    """A mountinfo path field: the kernel writes space, tab, newline and backslash as \\ooo
    (octal), and nothing else escaped."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def served_mount(cmdline: bytes | None = None, mountinfo: str | None = None,
                 exe: str | None = None) -> tuple[str, int, int] | None:
    """(mount point, major, minor) of the ``fuse.glusterfs`` mount this process serves,
    or None in any other process (a brick, a gfapi program). A ``glusterfs`` FUSE client
    is started with its mount point as the last argument (by ``mount.glusterfs`` and by
    :class:`glupy.gluster.FuseMount`); it counts only in GlusterFS's own executable and
    if a ``fuse.glusterfs`` mount is there. (*cmdline*, *mountinfo* and *exe*: this
    process's, unless given.)"""
    try:
        if exe is None:
            exe = os.readlink("/proc/self/exe")
        if cmdline is None:
            cmdline = Path("/proc/self/cmdline").read_bytes()
        if mountinfo is None:
            mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return None
    argv = cmdline.rstrip(b"\0").split(b"\0")
    # glusterfs is glusterfsd under another name; a program of its own using gfapi is not
    if not os.path.basename(exe).startswith("glusterfs") or len(argv) < 2 or not argv[-1].startswith(b"/"):
        return None
    wanted = os.path.normpath(os.fsdecode(argv[-1]))
    found = None
    for line in mountinfo.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-")
            fstype, device, point = fields[sep + 1], fields[2], _unescape(fields[4])
        except (ValueError, IndexError):
            continue
        if fstype == "fuse.glusterfs" and point == wanted:
            major, _, minor = device.partition(":")
            found = (point, int(major), int(minor))  # the last one: mounted over any earlier one
    return found


def read_ahead_path(major: int, minor: int) -> Path:
    """The file that holds the read-ahead (KiB) of the device MAJOR:MINOR."""
    return Path(BDI_READ_AHEAD.format(major=major, minor=minor))


def read_ahead_file(mountpoint: Path | str) -> Path:
    """The file that holds the read-ahead (KiB) of the mount at *mountpoint*, for a process
    other than the one serving it (this one stats the mount point)."""
    dev = os.stat(mountpoint).st_dev
    return read_ahead_path(os.major(dev), os.minor(dev))


def raise_read_ahead(kib: int) -> tuple[str, int, int] | None:
    """Raise the kernel's read-ahead of the mount this process serves to *kib* KiB if it
    is lower. Returns (mount point, KiB before, KiB after), or None where this process
    serves no FUSE mount. Call it once the mount is up (for example at the first read):
    until the FUSE handshake is done, the kernel would cut it back to 128 KiB. OSError
    where the value cannot be read or written (not root, a read-only /sys)."""
    mount = served_mount()
    if mount is None:
        return None
    point, major, minor = mount
    path = read_ahead_path(major, minor)
    before = int(path.read_text())
    if before < kib:
        path.write_text(str(kib))
    return point, before, int(path.read_text())
