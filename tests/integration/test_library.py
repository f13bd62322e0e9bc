"""The library translators on real GlusterFS: audit and metrics on a FUSE client, worm on the bricks.

Everything runs on this module's own glusterd (127.1.1.12, brick ports 29200-29299).
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy.gluster import FuseMount, GlusterNode, Volume
from glupy.gluster import xlators
from glupy.gluster.volfile import Volfile, glupy_xlator
from glupy.translators.metrics import LISTEN_XATTR

WORM_NAME = "gpworm"
WORM_KEY = "trusted.glupy.worm.retention"


@pytest.fixture(scope="module")
def node(module_node: GlusterNode) -> GlusterNode:
    return module_node


@pytest.fixture(scope="module")
def plain_volume(node: GlusterNode) -> Iterator[Volume]:
    """A one-brick volume with no translator of ours on the brick: the client side gets them."""
    with Volume.running(node, "libclient", [node.brick("libclient", 0)]) as vol:
        yield vol


def mount_with(volume: Volume, state: Path, label: str, xlator) -> FuseMount:
    graph = Volfile.read(volume.client_volfile())
    graph.insert_below_top(xlator)
    vf = state / f"lib-{label}.vol"
    graph.write(vf)
    m = FuseMount.from_volfile(vf, state / "mnt" / f"lib-{label}", log_file=state / f"lib-{label}-client.log")
    m.mount()
    return m


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# ------------------------------------------------------------------ audit, client side


def test_audit_on_the_client_logs_fuse_operations(plain_volume: Volume, gluster_state_dir: Path) -> None:
    log = gluster_state_dir / "library-audit" / "audit.jsonl"
    m = mount_with(plain_volume, gluster_state_dir, "audit",
                   glupy_xlator("audit", "glupy.translators.audit", {"path": str(log)}))
    try:
        mp = m.mountpoint
        d = mp / "adir"
        d.mkdir()
        os.chmod(d, 0o777)
        (d / "f").write_bytes(b"hello audit")
        os.rename(d / "f", d / "g")
        os.setxattr(d / "g", "user.colour", b"blue")
        os.removexattr(d / "g", "user.colour")
        with pytest.raises(OSError) as e:
            os.rmdir(d)
        assert e.value.errno == errno.ENOTEMPTY
        # another user, another process: its uid and pid are in the line (cwd: the state directory's
        # parents are private to root; the child changes directory before it drops its privileges)
        out = subprocess.run(["sh", "-c", "echo $$ > u.txt"], cwd=d, user=4242, group=4343, extra_groups=[],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        user_pid = int((d / "u.txt").read_text())
        assert (d / "g").read_bytes() == b"hello audit"  # open, read (readv is not logged)
        os.unlink(d / "g")
        os.unlink(d / "u.txt")
        os.rmdir(d)

        def lines():
            if not log.exists():
                return []
            return [json.loads(line) for line in log.read_text().splitlines()]

        def complete():
            got = lines()
            return got if any(r["fop"] == "rmdir" and r["result"] == "OK" for r in got) else None

        records = wait_for(complete, what="the audit lines")
    finally:
        m.unmount()
    ours = [r for r in records if (r.get("path") or "").startswith("/adir")]
    seen = [(r["fop"], r["path"], r["result"]) for r in ours]
    expected = [
        ("mkdir", "/adir", "OK"),
        ("setattr", "/adir", "OK"),
        ("create", "/adir/f", "OK"),
        ("writev", "/adir/f", "OK"),
        ("rename", "/adir/f", "OK"),
        ("setxattr", "/adir/g", "OK"),
        ("removexattr", "/adir/g", "OK"),
        ("rmdir", "/adir", "ENOTEMPTY"),
        ("create", "/adir/u.txt", "OK"),
        ("writev", "/adir/u.txt", "OK"),
        ("open", "/adir/u.txt", "OK"),
        ("open", "/adir/g", "OK"),
        ("unlink", "/adir/g", "OK"),
        ("unlink", "/adir/u.txt", "OK"),
        ("rmdir", "/adir", "OK"),
    ]
    missing = [x for x in expected if x not in seen]
    assert not missing, f"missing {missing}; the log has {seen}"
    # order of the operations is kept (each appears after the one before it)
    positions = [seen.index(x) for x in expected if x[0] != "open"]
    assert positions == sorted(positions), seen
    for r in ours:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", r["time"]), r
        assert r["latency_ms"] >= 0 and set(r["caller"]) == {"uid", "gid", "pid", "client"}
    create_u = next(r for r in ours if r["fop"] == "create" and r["path"] == "/adir/u.txt")
    assert (create_u["caller"]["uid"], create_u["caller"]["gid"], create_u["caller"]["pid"]) == (4242, 4343, user_pid)
    mkdir = next(r for r in ours if r["fop"] == "mkdir")
    assert mkdir["caller"]["uid"] == 0 and mkdir["caller"]["pid"] == os.getpid() and mkdir["gfid"]
    rename = next(r for r in ours if r["fop"] == "rename")
    assert rename["newpath"] == "/adir/g"
    writev = next(r for r in ours if r["fop"] == "writev" and r["path"] == "/adir/f")
    assert writev["size"] == len(b"hello audit") and writev["gfid"] == next(
        r for r in ours if r["fop"] == "create" and r["path"] == "/adir/f")["gfid"]
    assert not any(r["fop"] in ("lookup", "readv", "stat") for r in records)  # not in the default set


# ------------------------------------------------------------------ metrics, client side


def curl(url: str) -> dict[tuple[str, tuple], float]:
    text = subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "10", url], check=True,
                          capture_output=True, text=True).stdout
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
            assert m, line
            out[m.group(1), tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))] = float(m.group(3))
    return out


def test_metrics_on_the_client_move_during_a_workload(plain_volume: Volume, gluster_state_dir: Path) -> None:
    m = mount_with(plain_volume, gluster_state_dir, "metrics",
                   glupy_xlator("metrics", "glupy.translators.metrics", {"listen": "127.0.0.1:0"}))
    try:
        mp = m.mountpoint
        address = os.getxattr(mp, LISTEN_XATTR).decode().rstrip("\0")
        assert re.fullmatch(r"127\.0\.0\.1:\d+", address) and not address.endswith(":0"), address
        url = f"http://{address}/metrics"
        before = curl(url)
        chunk = b"m" * (128 << 10)
        total = 16 << 20
        progress = {"written": 0}
        one_mib, eight_mib = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def workload() -> None:
            try:
                with open(mp / "load.bin", "wb", buffering=0) as fh:
                    while progress["written"] < total:
                        fh.write(chunk)
                        progress["written"] += len(chunk)
                        if progress["written"] >= 1 << 20:
                            one_mib.set()
                        if progress["written"] >= 8 << 20:
                            eight_mib.set()
                        time.sleep(0.002)
            except BaseException as error:  # noqa: BLE001
                errors.append(error)
                one_mib.set()
                eight_mib.set()

        writer = threading.Thread(target=workload)
        writer.start()
        try:
            assert one_mib.wait(60)
            first = curl(url)
            assert eight_mib.wait(60)
            second = curl(url)
        finally:
            writer.join(120)
        assert not errors, errors
        assert (mp / "load.bin").stat().st_size == total
        with open(mp / "load.bin", "rb") as fh:
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # read from GlusterFS, not the page cache
            assert len(fh.read()) == total
        with pytest.raises(FileNotFoundError):
            os.stat(mp / "no-such-file")
        final = curl(url)
    finally:
        m.unmount()

    def value(sample, name, **labels):
        return sample.get((name, tuple(sorted(labels.items()))), 0.0)

    w1, w2, w3 = (value(s, "glupy_written_bytes_total") for s in (first, second, final))
    assert value(before, "glupy_written_bytes_total") == 0
    assert (1 << 20) <= w1 < w2 < w3 and w2 >= 8 << 20 and w3 >= total, (w1, w2, w3)
    c1, c2 = (value(s, "glupy_fops_total", fop="writev") for s in (first, second))
    assert 0 < c1 < c2
    assert value(final, "glupy_read_bytes_total") >= total
    assert value(final, "glupy_fop_latency_seconds_count", fop="writev") == value(final, "glupy_fops_total",
                                                                                    fop="writev")
    assert value(final, "glupy_fop_latency_seconds_bucket", fop="writev", le="+Inf") >= c2
    assert value(final, "glupy_fop_errors_total", fop="lookup", errno="ENOENT") >= 1
    assert value(final, "process_resident_memory_bytes") > 0


# ------------------------------------------------------------------ worm, server side


@pytest.fixture(scope="module")
def worm_volume(node: GlusterNode) -> Iterator[Volume]:
    xlators.ensure_alias(WORM_NAME)
    vol = Volume.create(node, "libworm", [node.brick("libworm", 0)])
    try:
        vol.set(f"user.xlator.{WORM_NAME}", "posix")
        vol.set(f"user.xlator.{WORM_NAME}.module", "glupy.translators.worm")
        vol.set(f"user.xlator.{WORM_NAME}.retention", "3600")
        # errors at the system call that causes them, not at a later close
        vol.set("performance.write-behind", "off")
        vol.set("performance.open-behind", "off")
        vol.start()
        yield vol
    finally:
        try:
            vol.delete()
        finally:
            xlators.remove_alias(WORM_NAME)


def erofs(fn, *args) -> None:
    with pytest.raises(OSError) as e:
        fn(*args)
    assert e.value.errno == errno.EROFS, f"{fn.__name__}{args}: {e.value}"


def check_retained(mp: Path, f: Path, other: Path, content: bytes) -> None:
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND, os.O_RDONLY | os.O_TRUNC):
        erofs(os.open, f, flags)
    erofs(os.truncate, f, 0)
    erofs(os.unlink, f)
    erofs(os.rename, f, mp / "renamed")
    erofs(os.rename, other, f)  # over it
    erofs(os.chmod, f, 0o777)
    erofs(os.chown, f, 1234, 1234)
    erofs(os.utime, f, (1, 1))
    erofs(os.setxattr, f, "user.k", b"v")
    erofs(os.removexattr, f, "user.before")
    assert f.read_bytes() == content
    assert os.stat(f).st_size == len(content)
    assert os.getxattr(f, "user.before") == b"1"
    assert sorted(os.listdir(mp)) == sorted(["kept", "other"])


def test_worm_on_the_bricks_protects_after_close_and_across_restarts(worm_volume: Volume,
                                                                    gluster_state_dir: Path) -> None:
    vol = worm_volume
    mnt = gluster_state_dir / "mnt" / "lib-worm"
    content = b"write once " * 1000
    with FuseMount.from_volume(vol, mnt, log_file=gluster_state_dir / "lib-worm-client.log") as m:
        mp = m.mountpoint
        f, other = mp / "kept", mp / "other"
        other.write_bytes(b"")  # created, never written: not retained
        fd_a = os.open(f, os.O_CREAT | os.O_WRONLY, 0o644)
        os.setxattr(f, "user.before", b"1")  # still writable
        os.write(fd_a, content[:5000])
        fd_b = os.open(f, os.O_WRONLY)  # a second writer, opened before the commit
        os.pwrite(fd_a, content[5000:], 5000)
        os.close(fd_a)  # flush of an fd that wrote: committed
        erofs(os.pwrite, fd_b, b"late", 0)
        erofs(os.ftruncate, fd_b, 0)
        erofs(os.posix_fallocate, fd_b, 0, 1 << 20)
        os.close(fd_b)
        check_retained(mp, f, other, content)
        stored = json.loads(os.getxattr(f, WORM_KEY))
        assert 3599 <= stored["expiry"] - stored["start"] <= 3601 and abs(stored["start"] - time.time()) < 60
        # a file that was never written stays an ordinary file
        os.chmod(other, 0o600)
        os.rename(other, mp / "other2")
        os.rename(mp / "other2", other)
    # the retention is in the brick's file system
    brick = vol.info().bricks[0]
    assert json.loads(os.getxattr(Path(brick.path) / "kept", WORM_KEY)) == stored

    vol.stop()
    vol.start()
    with FuseMount.from_volume(vol, mnt, log_file=gluster_state_dir / "lib-worm-client.log") as m:
        mp = m.mountpoint
        check_retained(mp, mp / "kept", mp / "other", content)
    log = "\n".join(p.read_text(errors="replace") for p in vol.brick_logs().values() if p.exists())
    assert "glupy.translators.worm.Worm (" in log and "signal received" not in log
