"""audit: who did what. One JSON line per FOP in a log file, written off the FOP path.

Each line is a JSON object::

    {"time": "2026-11-27T10:15:02.123456Z", "fop": "create", "path": "/dir/f",
     "gfid": "6f0c...", "result": "OK", "latency_ms": 0.731,
     "caller": {"uid": 1000, "gid": 1000, "pid": 4242, "client": "..."}}

* ``time``: when the FOP arrived (ISO 8601, UTC); ``latency_ms``: until the
  child answered; ``result``: ``"OK"`` or the errno's name (``"ENOENT"``).
* ``caller``: ``self.caller`` as it was when the FOP arrived (``client`` is the
  client's identifier on a brick, None on a client).
* ``path`` (None when unknown; on bricks it may read ``<gfid:...>/name``) and
  ``gfid`` of the file the FOP is about; FOPs on an fd use the path the fd was
  opened with (remembered at open/create). A few FOPs add fields: ``newpath``
  (rename, link), ``target`` (symlink), ``names`` (setxattr, fsetxattr),
  ``name`` (removexattr, fremovexattr, getxattr, fgetxattr), ``offset`` and
  ``size`` (readv, writev: bytes transferred), ``flags`` (open, create),
  ``valid`` (setattr, fsetattr).

Options:

* ``path`` (required): the log file; its directory is created if missing.
* ``fops``: which FOPs to log, a comma-separated list, or ``all``. Default:
  create, mkdir, unlink, rmdir, rename, link, symlink, setattr, truncate,
  ftruncate, writev, open, setxattr, removexattr. It can be changed on a running
  volume (``gluster volume set VOL user.xlator.NAME.fops ...``). The translator
  overrides every FOP so that any can be chosen; FOPs that are not logged still
  enter Python (about 30 µs each; see README's benchmarks).
* ``max-size``: rotate when the file reaches this size (``100MB``; 0: never):
  ``file`` becomes ``file.1``, ``file.1`` becomes ``file.2`` ... and only
  ``keep`` rotated files are kept (``keep``, default 5).
* ``queue-size`` (default 10000): how many lines may wait for the writer.
* ``when-full``: what a FOP does when the queue is full.

Writing never happens on the FOP path: a handler puts a record on a bounded
``queue.Queue`` and a background thread formats, writes and flushes it (and
rotates the file). When the queue is full (the disk is slower than the FOPs, or
the file system of the log is stuck):

* ``when-full drop`` (default): the record is dropped and counted; FOPs never
  wait for the log. A warning with the number dropped goes to the GlusterFS log
  at most every ``warn-interval`` seconds (default 60). The audit trail then has
  holes, which the ``dropped`` count in the statedump and the warnings show.
* ``when-full block``: the FOP waits until the writer has made room, so no
  record is lost but a slow log slows the volume down (a stuck log stalls the
  FOPs being audited). If the writer thread is gone (it failed to write), records
  are dropped and counted instead of blocking forever.

``gluster volume statedump`` shows ``queued`` (records waiting now), ``written``
and ``dropped`` (totals). fini() writes what is queued, then stops the thread.
"""

from __future__ import annotations

import errno as _errno
import json
import os
import queue
import threading
import time
from datetime import datetime, timezone
from typing import Any

import glupy
from glupy.fop_table import FOPS, parse_fop_names

DEFAULT_FOPS = ("create,mkdir,unlink,rmdir,rename,link,symlink,setattr,truncate,ftruncate,writev,open,"
                "setxattr,removexattr")

_ALL_FOP_NAMES = frozenset(f.name for f in FOPS)
_STOP = object()


def parse_fops(text: str) -> frozenset[str]:
    """The set of FOP names of a ``fops`` option value (``all`` for every FOP)."""
    return parse_fop_names(text)


def _validate_fops(text: str) -> bool:
    parse_fops(text)
    return True


def _gfid_text(value: Any) -> str | None:
    return None if value is None else str(value)


def errno_name(number: int) -> str:
    return _errno.errorcode.get(number, str(number))


def _locate(spec: Any) -> tuple[int | None, str | None, int | None]:
    """(index of the argument the FOP is about, its kind, index of a second loc/fd) from the FOP table."""
    first: tuple[int, str] | None = None
    second = None
    for i, a in enumerate(spec.py_args):
        if a.kind in ("loc", "fd"):
            if first is None:
                first = (i, a.kind)
            elif second is None:
                second = i
    if first is None:
        return None, None, None
    return first[0], first[1], second


class _Where:
    """Where a FOP's file is described in its arguments."""

    __slots__ = ("index", "kind", "second")

    def __init__(self, spec: Any) -> None:
        self.index, self.kind, self.second = _locate(spec)


_WHERE = {f.name: _Where(f) for f in FOPS}


def _loc_target(loc: Any) -> tuple[str | None, str | None]:
    gfid = loc.gfid
    if gfid is None and loc.inode is not None:
        gfid = loc.inode.gfid
    return loc.path, _gfid_text(gfid)


def _extras(name: str, args: tuple, reply: Any) -> dict[str, Any]:
    """Fields some FOPs add to their line."""
    if name == "writev":
        out = {"offset": args[2], "size": len(args[1])}
        if reply is not None and reply.op_ret >= 0:
            out["size"] = reply.op_ret
        return out
    if name == "readv":
        out = {"offset": args[2], "size": args[1]}
        if reply is not None and reply.op_ret >= 0:
            out["size"] = reply.op_ret
        return out
    if name in ("rename", "link"):
        return {"newpath": args[1].path}
    if name == "symlink":
        return {"target": args[0]}
    if name in ("setxattr", "fsetxattr"):
        return {"names": sorted(args[1]) if args[1] is not None else []}
    if name in ("removexattr", "fremovexattr", "getxattr", "fgetxattr"):
        return {"name": args[1]}
    if name in ("open", "create"):
        return {"flags": args[1]}
    if name in ("setattr", "fsetattr"):
        return {"valid": args[2]}
    return {}


def _auditor(name: str):
    wind = getattr(glupy.Child, name)
    where = _WHERE[name]
    remembers_path = name in ("open", "create")

    async def handler(self, *args):
        if remembers_path:
            loc, fd = args[0], args[-2]
            if loc.path:
                self.set_fd_ctx(fd, loc.path)
        if name not in self._fops:
            return await wind(self.child, *args)
        c = self.caller
        caller = {"uid": c.uid, "gid": c.gid, "pid": c.pid, "client": c.client}
        when = time.time()
        path = gfid = None
        if where.index is not None:
            obj = args[where.index]
            if where.kind == "loc":
                path, gfid = _loc_target(obj)
            elif obj is not None:
                path = self.fd_ctx(obj)
                inode = obj.inode
                gfid = _gfid_text(inode.gfid) if inode is not None else None
        t0 = time.perf_counter()
        reply = None
        result = "OK"
        try:
            reply = await wind(self.child, *args)
            return reply
        except glupy.FopError as error:
            result = errno_name(error.errno)
            raise
        except BaseException:
            result = "EIO"
            raise
        finally:
            latency = (time.perf_counter() - t0) * 1000.0
            if gfid is None and reply is not None:
                buf = getattr(reply, "buf", None)
                inode = getattr(reply, "inode", None)
                found = getattr(buf, "gfid", None) or getattr(inode, "gfid", None)
                gfid = _gfid_text(found)
            record = {"time": when, "fop": name, "path": path, "gfid": gfid, "result": result,
                      "latency_ms": round(latency, 3), "caller": caller}
            try:
                record.update(_extras(name, args, reply))
            except Exception:  # noqa: BLE001 - extras are best effort
                pass
            self._enqueue(record)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"Log {name} (if chosen by the fops option) and pass it on."
    return handler


def iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Audit(glupy.Translator):
    """Writes one JSON line per chosen FOP (who, what, on which file, the result, the latency)."""

    path = glupy.Option(str, doc="the log file (JSON lines)")
    fops = glupy.Option(str, default=DEFAULT_FOPS, validate=_validate_fops,
                        doc="comma-separated FOP names to log, or all")
    max_size = glupy.Option(glupy.Size, default=glupy.Size(100 << 20), min=0,
                            doc="rotate the log at this size (0: never)")
    keep = glupy.Option(int, default=5, min=1, doc="rotated files kept (file.1 ... file.KEEP)")
    queue_size = glupy.Option(int, default=10000, min=1, reconfigurable=False,
                              doc="records that may wait for the writer thread")
    when_full = glupy.Option(str, default="drop", choices=("drop", "block"),
                             doc="drop: count and drop records when the queue is full; block: the FOP waits")
    warn_interval = glupy.Option(float, default=60.0, min=0,
                                 doc="at most one warning about dropped records per this many seconds")

    def init(self) -> None:
        self._fops = parse_fops(self.fops)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.queue_size)
        self._lock = threading.Lock()
        self.enqueued = 0
        self.written = 0
        self.dropped = 0
        self.write_errors = 0
        self._dropped_since_warning = 0
        self._last_warning = 0.0
        self._file = None
        self._file_path = ""
        self._open(self.path)  # fails init with a clear error if the file cannot be opened
        self._thread = threading.Thread(target=self._writer, name=f"glupy-audit-{self.name}", daemon=True)
        self._thread.start()
        self.log.info("audit: logging %s to %s", "all FOPs" if self._fops == _ALL_FOP_NAMES
                      else ",".join(sorted(self._fops)), self.path)

    def reconfigure(self, changed) -> None:
        if "fops" in changed:
            self._fops = parse_fops(self.fops)

    def statedump(self):
        return {"queued": self._queue.qsize(), "written": self.written, "dropped": self.dropped,
                "write-errors": self.write_errors, "file": self._file_path}

    def fini(self) -> None:
        thread = getattr(self, "_thread", None)
        if thread is None:
            return
        deadline = time.monotonic() + 10
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                self._queue.put(_STOP, timeout=0.5)
                break
            except queue.Full:
                continue
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
        if thread.is_alive():
            self.log.warning("audit: the writer did not finish in time; %d records not written",
                             self._queue.qsize())
        self._close()
        self._thread = None

    # ---- the FOP side

    def _enqueue(self, record: dict[str, Any]) -> None:
        q = self._queue
        try:
            q.put_nowait(record)
        except queue.Full:
            if self.when_full == "block":
                while self._thread is not None and self._thread.is_alive():
                    try:
                        q.put(record, timeout=1.0)
                        break
                    except queue.Full:
                        continue
                else:
                    self._drop()
                    return
            else:
                self._drop()
                return
        with self._lock:
            self.enqueued += 1

    def _drop(self) -> None:
        now = time.monotonic()
        with self._lock:
            self.dropped += 1
            self._dropped_since_warning += 1
            if self._last_warning and now - self._last_warning < self.warn_interval:
                return
            n, self._dropped_since_warning = self._dropped_since_warning, 0
            self._last_warning = now
        self.log.warning("audit: queue full (%d records): dropped %d record%s (%d in all)",
                         self.queue_size, n, "" if n == 1 else "s", self.dropped)

    # ---- the writer thread

    def _open(self, path: str) -> None:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")
        self._file_path = path

    def _close(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
                self._file.close()
            except OSError:
                pass
            self._file = None

    def _rotate(self) -> None:
        path = self._file_path
        self._close()
        keep = self.keep
        for i in range(keep - 1, 0, -1):
            src = f"{path}.{i}"
            if os.path.exists(src):
                os.replace(src, f"{path}.{i + 1}")
        if os.path.exists(path):
            os.replace(path, f"{path}.1")
        self._open(path)

    def _write_lines(self, records: list[dict[str, Any]]) -> None:
        if self._file is None or self._file_path != self.path:  # reconfigured to another file
            self._close()
            self._open(self.path)
        f = self._file
        for r in records:
            r["time"] = iso_utc(r["time"])
            f.write(json.dumps(r, separators=(", ", ": "), default=str))
            f.write("\n")
            if self.max_size and f.tell() >= self.max_size:
                f.flush()
                self._rotate()
                f = self._file
        f.flush()

    def _writer(self) -> None:
        q = self._queue
        stop = False
        while not stop:
            batch = [q.get()]
            while len(batch) < 512:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            records = []
            for r in batch:
                if r is _STOP:
                    stop = True
                else:
                    records.append(r)
            if stop:  # write everything that came before the stop request
                while True:
                    try:
                        r = q.get_nowait()
                    except queue.Empty:
                        break
                    if r is not _STOP:
                        records.append(r)
            if not records:
                continue
            try:
                self._write_lines(records)
                with self._lock:
                    self.written += len(records)
            except Exception as error:  # noqa: BLE001 - a full disk must not kill the writer
                with self._lock:
                    self.write_errors += 1
                    self.dropped += len(records)
                self.log.error("audit: cannot write %d records to %s: %s", len(records), self.path, error)
                self._close()
                time.sleep(1.0)


for _fop in FOPS:
    if _fop.name not in vars(Audit):
        setattr(Audit, _fop.name, _auditor(_fop.name))
