"""trace: log every FOP with its arguments and its result, like GlusterFS's debug/trace.

For learning what a graph does and for debugging: put it anywhere in a graph
(above a translator to see what it is asked, below it to see what it asks) and
read one line per FOP::

    glupy mount VOL /mnt/x --with glupy.translators.trace -o path=/tmp/trace.log

Each FOP gives one line when it completes (and, with ``log-entry on``, one more
when it arrives). The text format (option ``format text``, the default)::

    <- writev #42 (fd=/d/f data=<11 bytes> offset=0 flags=0100001|WRONLY|LARGEFILE) = 11
       {postbuf={REG 0644 size=11 uid=0 gid=0 gfid=6f0c1a2b}} 83us [uid=0 gid=0 pid=4242 client=-]
    <- lookup #43 (loc=/d/nope xdata={gfid-req}) = -1 ENOENT 120us [uid=0 gid=0 pid=4242 client=-]
    -> mkdir #44 (loc=/d/e mode=0755 umask=022 xdata={gfid-req}) [uid=0 gid=0 pid=4242 client=-]

(one line each; the first is folded here).

* ``<-`` a completed FOP, ``->`` an arriving one (``log-entry on``); the FOP
  name; ``#N`` a number shared by the entry and completion lines of one FOP.
* The arguments in parentheses, ``name=value`` in the FOP's order (see
  docs/fops.md): a Loc as its path (or ``<gfid:...>``) followed by ``@gfid`` once
  the gfid is known; an fd as the path it was opened with (remembered at
  open/create/opendir) or ``fd@gfid``; open flags in octal with their names
  (``0100101|WRONLY|CREAT|LARGEFILE``); modes in octal; setattr's ``valid`` by
  name; xdata and xattr dicts as their keys (``{gfid-req}``); data payloads as
  their length only (``<11 bytes>``), or with the first ``data-bytes`` bytes in
  hex (``<11 bytes 68656c6c6f...>``). Each value is cut at ``max-arg-length``.
* ``= op_ret`` on success, ``= -1 ERRNO`` on failure; then the reply's key
  fields in braces: the file's attributes (type, permission bits, size, owner,
  gfid prefix; ``{empty}`` when a translator below answered without them, as
  write-behind does for writes), readlink's target, getxattr's keys, readdir's entry count, statfs's
  blocks, seek's offset, non-empty xdata keys.
* The latency in microseconds (arrival to the child's answer), and the caller
  (``client`` is the client's identifier on a brick, ``-`` on a client).

With ``format json`` each line is a JSON object with the same content:
``{"dir": "<-", "fop": "writev", "id": 42, "args": {"fd": "/d/f", ...},
"op_ret": 11, "errno": null, "reply": {...}, "latency_us": 83, "caller": {...}}``
(values rendered as in the text format).

Options:

* ``fops`` (default ``all``): comma-separated FOP names to log;
  ``exclude`` (default none): FOP names not to log, applied after ``fops``.
  Both change live (``gluster volume set`` / reconfigure).
* ``path`` (default empty): a file to append the lines to. Empty: the
  translator's logger, i.e. the GlusterFS log of the process, at ``log-level``
  (``info`` by default; ``debug`` lines are only written when the process logs
  at DEBUG, e.g. ``glusterfs --log-level=DEBUG``).
* ``log-entry`` (default off): also log each FOP when it arrives.
* ``max-arg-length`` (default 200): longest rendered value (argument or reply
  field); longer ones end with ``...``.
* ``data-bytes`` (default 0): how many leading bytes of writev/readv data to
  show in hex.
* ``format``: ``text`` or ``json``.

Behaviour is never changed: the FOP is wound with the arguments it came with,
the child's reply is returned as it is, and a child's error is re-raised as the
same FopError (carrying the child's reply). A failure while rendering a line is
logged once and never fails the FOP.

Costs and limits: every FOP enters Python, including FOPs that are not logged
(the class overrides all 54 so that ``fops`` can change live), and lines are
written on the FOP path (to the file, flushed per line, or to the GlusterFS
log): trace is a debugging tool, not something to leave on a busy volume. The
file is neither rotated nor size-limited. On bricks, paths often read
``<gfid:...>/name`` (the server resolves by gfid). ``gluster volume statedump``
shows the number of lines written (``lines``) and of FOPs logged (``fops-logged``).
"""

from __future__ import annotations

import errno as _errno
import itertools
import json
import logging
import os
import platform
import threading
import time
from typing import Any, Callable

import glupy
from glupy.constants import EntrylkCmd, EntrylkType, FileType, LockCmd, LockType, SetAttr, XattropFlag
from glupy.fop_table import FOP_BY_NAME, FOPS, parse_fop_names

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}

#: reply fields that are about the parent directory or the state before the FOP:
#: left out of the line (the file's own attributes after the FOP are shown)
_QUIET_REPLY_FIELDS = frozenset({"preparent", "postparent", "preoldparent", "postoldparent", "prenewparent",
                                 "postnewparent", "prebuf", "statpre", "pre", "prebuf_dst", "inode", "fd"})

_OPEN_FLAG_NAMES = [(getattr(os, "O_" + n), n) for n in (
    "CREAT", "EXCL", "NOCTTY", "TRUNC", "APPEND", "NONBLOCK", "DSYNC", "DIRECT", "LARGEFILE", "DIRECTORY",
    "NOFOLLOW", "NOATIME", "CLOEXEC", "PATH") if hasattr(os, "O_" + n)]
if not getattr(os, "O_LARGEFILE", 0) and platform.machine() in ("x86_64", "i686", "i386"):
    # 64-bit glibc defines O_LARGEFILE as 0, but the kernel sets its bit in the flags FUSE passes on
    _OPEN_FLAG_NAMES.append((0o100000, "LARGEFILE"))
_O_SYNC_ONLY = os.O_SYNC & ~os.O_DSYNC  # O_SYNC is __O_SYNC|O_DSYNC on Linux
_ACCESS = {os.O_RDONLY: "RDONLY", os.O_WRONLY: "WRONLY", os.O_RDWR: "RDWR"}


#: setattr's `valid` bits after MODE, and the Iatt attribute each one sets (in trace's order)
_SETATTR_FIELDS = ((SetAttr.UID, "uid"), (SetAttr.GID, "gid"), (SetAttr.SIZE, "size"),
                   (SetAttr.ATIME, "atime"), (SetAttr.MTIME, "mtime"))


def errno_name(number: int) -> str:
    """``ENOENT`` for 2; the number as text if it has no name."""
    return _errno.errorcode.get(number, str(number))


def open_flags_text(flags: int) -> str:
    """``0100101|WRONLY|CREAT|LARGEFILE``: open(2) flags in octal and by name."""
    names = [_ACCESS.get(flags & os.O_ACCMODE, "ACCMODE3")]
    for bit, name in _OPEN_FLAG_NAMES:
        if flags & bit:
            names.append(name)
    if flags & _O_SYNC_ONLY:
        names.append("SYNC")
        names = [n for n in names if n != "DSYNC"]
    return f"0{flags:o}|" + "|".join(names)


def mode_text(mode: int) -> str:
    """A mode in octal, ``0644``; with the file type bits if present (``010644``)."""
    return f"0{mode:o}" if mode else "0"


def _enum_text(enum_cls: Any, value: int) -> str:
    try:
        return enum_cls(value).name
    except ValueError:
        return str(value)


def setattr_valid_text(valid: int) -> str:
    names = [f.name for f in SetAttr if f.name and valid & f.value]
    return "|".join(names) if names else "0"


def _access_text(mask: int) -> str:
    letters = "".join(c for bit, c in ((os.R_OK, "r"), (os.W_OK, "w"), (os.X_OK, "x")) if mask & bit)
    return letters or "F_OK"


def _gfid_short(gfid: Any) -> str:
    return str(gfid)[:8] if gfid is not None else "?"


class Renderer:
    """Turns FOP arguments and reply fields into short readable text."""

    def __init__(self, max_length: int, data_bytes: int, fd_path: Callable[[Any], str | None]) -> None:
        self.max_length = max_length
        self.data_bytes = data_bytes
        self.fd_path = fd_path

    def cut(self, text: str) -> str:
        if self.max_length and len(text) > self.max_length:
            return text[: max(self.max_length - 3, 1)] + "..."
        return text

    def loc(self, loc: Any) -> str:
        if loc is None:
            return "-"
        path = loc.path
        gfid = loc.gfid
        if gfid is None and loc.inode is not None:
            gfid = loc.inode.gfid
        if not path:
            path = f"<gfid:{gfid}>" if gfid is not None else "<?>"
            return path
        return f"{path}@{gfid}" if gfid is not None and not path.startswith("<gfid:") else path

    def fd(self, fd: Any) -> str:
        if fd is None:
            return "-"
        path = self.fd_path(fd)
        inode = fd.inode
        gfid = inode.gfid if inode is not None else None
        prefix = "anon-fd" if getattr(fd, "anonymous", False) else "fd"
        if path:
            return path if prefix == "fd" else f"{prefix}:{path}"
        return f"{prefix}@{gfid}"

    def iatt(self, ia: Any) -> str:
        if ia is None:
            return "-"
        if not ia.type and ia.gfid is None:
            return "{empty}"  # e.g. write-behind answers a write before the brick did
        kind = _enum_text(FileType, ia.type)
        return f"{{{kind} 0{ia.mode & 0o7777:o} size={ia.size} uid={ia.uid} gid={ia.gid} gfid={_gfid_short(ia.gfid)}}}"

    def keys(self, d: Any) -> str:
        if d is None:
            return "-"
        return "{" + ",".join(str(k) for k in d.keys()) + "}"

    def data(self, data: Any) -> str:
        if data is None:
            return "-"
        size = len(data)
        if self.data_bytes and size:
            head = bytes(memoryview(data)[: self.data_bytes]).hex()
            more = "..." if size > self.data_bytes else ""
            return f"<{size} bytes {head}{more}>"
        return f"<{size} bytes>"

    def flock(self, lock: Any) -> str:
        if lock is None:
            return "-"
        return (f"{{{_enum_text(LockType, lock.type)} start={lock.start} len={lock.len} pid={lock.pid}}}")

    def statvfs(self, st: Any) -> str:
        if st is None:
            return "-"
        return f"{{bsize={st.f_bsize} blocks={st.f_blocks} bfree={st.f_bfree} files={st.f_files}}}"

    def value(self, fop: str, name: str, kind: str, value: Any) -> str:
        """One argument or reply field as text."""
        if kind == "loc":
            text = self.loc(value)
        elif kind == "fd":
            text = self.fd(value)
        elif kind in ("xdata", "dict"):
            text = self.keys(value)
        elif kind == "iatt":
            text = self.iatt(value)
        elif kind == "inode":
            text = f"<inode {value.gfid}>" if value is not None else "-"
        elif kind in ("str", "outstr"):
            text = "-" if value is None else json.dumps(str(value), ensure_ascii=False)
        elif kind == "data":
            text = self.data(value)
        elif kind == "mode":
            text = mode_text(value)
        elif kind == "int32" and name == "flags" and fop in ("open", "create"):
            text = open_flags_text(value)
        elif kind == "uint32" and name == "flags" and fop in ("put", "readv", "writev"):
            text = open_flags_text(value)
        elif kind == "int32" and name == "valid":
            text = setattr_valid_text(value)
        elif kind == "int32" and name == "mask" and fop == "access":
            text = _access_text(value)
        elif kind == "int32" and name == "cmd" and fop in ("lk", "inodelk", "finodelk"):
            text = _enum_text(LockCmd, value)
        elif kind == "int32" and name == "flags" and fop in ("setxattr", "fsetxattr"):
            text = {0: "0", 1: "CREATE", 2: "REPLACE"}.get(value, str(value))
        elif kind == "entrylk_cmd":
            text = _enum_text(EntrylkCmd, value)
        elif kind == "entrylk_type":
            text = _enum_text(EntrylkType, value)
        elif kind == "xattrop_flags":
            text = _enum_text(XattropFlag, value)
        elif kind == "seek_what":
            text = {0: "DATA", 1: "HOLE"}.get(value, str(value))
        elif kind == "flock":
            text = self.flock(value)
        elif kind == "statvfs":
            text = self.statvfs(value)
        elif kind in ("dirents", "locklist"):
            text = f"[{len(value)} entries]" if value is not None else "-"
        elif kind == "checksum":
            text = f"<{len(value)} bytes>" if value is not None else "-"
        elif kind == "lease":
            text = "-" if value is None else f"{{type={value.lease_type} cmd={value.cmd}}}"
        else:
            text = str(value)
        return self.cut(text)

    def stbuf(self, ia: Any, valid: int) -> str:
        """setattr's new attributes: only those ``valid`` says are set."""
        if ia is None:
            return "-"
        parts = [f"mode=0{ia.mode & 0o7777:o}"] if valid & SetAttr.MODE else []
        parts += [f"{attr}={getattr(ia, attr)}" for flag, attr in _SETATTR_FIELDS if valid & flag]
        return "{" + " ".join(parts) + "}"

    def args(self, fop: Any, args: tuple) -> dict[str, str]:
        """The arguments by name; xdata only when it has keys."""
        out = {}
        for a, v in zip(fop.py_args, args):
            if a.kind == "xdata" and (v is None or not len(v)):
                continue
            if a.name == "stbuf" and fop.name in ("setattr", "fsetattr"):
                out[a.name] = self.cut(self.stbuf(v, args[2]))
            else:
                out[a.name] = self.value(fop.name, a.name, a.kind, v)
        return out

    def reply(self, fop: Any, reply: Any) -> dict[str, str]:
        out: dict[str, str] = {}
        if reply is None:
            return out
        for a in fop.py_reply:
            if a.name in _QUIET_REPLY_FIELDS:
                continue
            value = getattr(reply, a.name, None)
            if value is None or (a.kind == "xdata" and not len(value)):
                continue
            if a.kind == "data":
                continue  # its length is op_ret
            out[a.name] = self.value(fop.name, a.name, a.kind, value)
        return out


def _tracer(name: str):
    wind = getattr(glupy.Child, name)
    spec = FOP_BY_NAME[name]
    remembers_path = name in ("open", "create", "opendir")

    async def handler(self, *args):
        if remembers_path:
            loc, fd = args[0], args[-2]
            if loc.path and self.fd_ctx(fd) is None:
                self.set_fd_ctx(fd, loc.path)
        if name not in self._chosen:
            return await wind(self.child, *args)
        number = self.last_id = next(self._numbers)
        try:
            caller = self._caller_of(self.caller)
            rendered = self.render.args(spec, args)
            if self.log_entry:
                self._emit({"dir": "->", "fop": name, "id": number, "args": rendered, "caller": caller})
        except Exception as error:  # noqa: BLE001 - tracing must never fail a FOP
            self._render_failed(error)
            return await wind(self.child, *args)
        t0 = time.perf_counter()
        reply = None
        error_number = None
        try:
            reply = await wind(self.child, *args)
            return reply
        except glupy.FopError as error:
            error_number = error.errno
            raise
        except BaseException:
            error_number = _errno.EIO  # what the bridge answers for any other exception
            raise
        finally:
            latency_us = int((time.perf_counter() - t0) * 1e6)
            try:
                record = {"dir": "<-", "fop": name, "id": number, "args": rendered,
                          "op_ret": reply.op_ret if error_number is None else -1,
                          "errno": None if error_number is None else errno_name(error_number),
                          "reply": self.render.reply(spec, reply) if error_number is None else {},
                          "latency_us": latency_us, "caller": caller}
                self._emit(record)
            except Exception as failure:  # noqa: BLE001
                self._render_failed(failure)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"Log {name} with its arguments and result, then return the child's answer unchanged."
    return handler


def format_text(record: dict[str, Any]) -> str:
    """The text line of a record (see the module docstring)."""
    args = " ".join(f"{k}={v}" for k, v in record["args"].items())
    c = record["caller"]
    who = f"[uid={c['uid']} gid={c['gid']} pid={c['pid']} client={c['client'] or '-'}]"
    head = f"{record['dir']} {record['fop']} #{record['id']} ({args})"
    if record["dir"] == "->":
        return f"{head} {who}"
    if record["errno"] is None:
        result = f"= {record['op_ret']}"
        if record["reply"]:
            result += " {" + " ".join(f"{k}={v}" for k, v in record["reply"].items()) + "}"
    else:
        result = f"= -1 {record['errno']}"
    return f"{head} {result} {record['latency_us']}us {who}"


class Trace(glupy.Translator):
    """Logs every chosen FOP: arguments, result, latency and caller; changes nothing."""

    fops = glupy.Option(str, default="all", validate=lambda t: parse_fop_names(t) is not None,
                        doc="comma-separated FOP names to log, or all")
    exclude = glupy.Option(str, default="", validate=lambda t: parse_fop_names(t, empty_ok=True) is not None,
                           doc="comma-separated FOP names not to log")
    path = glupy.Option(str, default="", doc="append lines to this file (empty: the GlusterFS log)")
    log_level = glupy.Option(str, default="info", choices=tuple(_LEVELS),
                             doc="level of the lines in the GlusterFS log (when path is empty)")
    log_entry = glupy.Option(bool, default=False, doc="also log each FOP when it arrives")
    max_arg_length = glupy.Option(int, default=200, min=0, doc="longest rendered value (0: no limit)")
    data_bytes = glupy.Option(int, default=0, min=0, doc="leading bytes of read/write data shown in hex")
    format = glupy.Option(str, default="text", choices=("text", "json"), doc="text lines or JSON objects")

    def init(self) -> None:
        self._numbers = itertools.count(1)
        self.last_id = 0  # the number of the last FOP logged
        self._lock = threading.Lock()
        self._file: Any = None
        self._file_path = ""
        self.lines = 0
        self.render_errors = 0
        self._apply()

    def _apply(self) -> None:
        self._chosen = parse_fop_names(self.fops) - parse_fop_names(self.exclude, empty_ok=True)
        self._level = _LEVELS[self.log_level]
        self.render = Renderer(self.max_arg_length, self.data_bytes, self.fd_ctx)
        with self._lock:
            if self.path != self._file_path:
                self._close()
                if self.path:
                    directory = os.path.dirname(self.path)
                    if directory:
                        os.makedirs(directory, exist_ok=True)
                    self._file = open(self.path, "a", encoding="utf-8")
                    self._file_path = self.path

    def reconfigure(self, changed) -> None:
        self._apply()

    def fini(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
        self._file = None
        self._file_path = ""

    def statedump(self):
        return {"lines": self.lines, "fops-logged": self.last_id, "file": self._file_path or "-",
                "render-errors": self.render_errors}

    @staticmethod
    def _caller_of(c: Any) -> dict[str, Any]:
        return {"uid": c.uid, "gid": c.gid, "pid": c.pid, "client": c.client}

    def _emit(self, record: dict[str, Any]) -> None:
        if self.format == "json":
            line = json.dumps(record, separators=(", ", ": "), default=str)
        else:
            line = format_text(record)
        with self._lock:
            f = self._file
            if f is not None:
                try:
                    f.write(line + "\n")
                    f.flush()
                except OSError as error:
                    self.render_errors += 1
                    self.log.error("trace: cannot write to %s: %s", self._file_path, error)
                    return
            self.lines += 1
        if f is None:
            self.log.log(self._level, "%s", line)

    def _render_failed(self, error: BaseException) -> None:
        with self._lock:
            self.render_errors += 1
            first = self.render_errors == 1
        if first:
            self.log.warning("trace: cannot render a line (%s: %s); the FOP goes on", type(error).__name__, error)


for _fop in FOPS:
    if _fop.name not in vars(Trace):
        setattr(Trace, _fop.name, _tracer(_fop.name))
