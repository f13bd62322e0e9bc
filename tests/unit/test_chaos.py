"""Chaos in the in-process harness: thousands of seeded misbehaving FOPs under a mixed workload.

The contract (glupy.testing.chaos): whatever a handler does, each operation of
the client either returns a valid result or fails with an errno (a positive int
no bigger than 4095: EIO, or the errno of a valid FopError the handler raised);
no Python exception of another type escapes to the caller, no FOP is left
unanswered, and once Chaos is disarmed the same graph serves clean operations.

These tests state the contract, not the behaviour of a given version of the
bridge: a violation lists the operation, what escaped, and the chaos decisions
made during that operation (FOP number, FOP, misbehaviour) with the seed, so
that ``Harness(dir, (Chaos, {"seed": ..., "rate": ..., "modes": ...}))`` and the
same workload seed replay it exactly (the harness is single-threaded).
"""

from __future__ import annotations

import errno
import gc
import json
import logging
import os
import random
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import glupy
from glupy import FopError, OptionError
from glupy.fop_table import FOP_BY_NAME, FOPS
from glupy.constants import EntrylkCmd, EntrylkType, LockCmd, LockType, SetAttr, XattropFlag
from glupy.replies import REPLIES
from glupy.testing.chaos import (ARMED_XATTR, COUNTS_XATTR, DEFAULT_FAMILIES, FAMILIES, MISBEHAVIOURS, Chaos,
                                 misbehaviours_of, parse_modes)
from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture
from glupy.testing.harness import Harness
from glupy.types import Dirent



#: the largest errno a kernel defines (Linux's MAX_ERRNO)
MAX_ERRNO = 4095
INT32_MAX = 2**31 - 1

NON_BLOCKING = misbehaviours_of(DEFAULT_FAMILIES)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """Chaos makes the driver log thousands of tracebacks, and its junk (coroutines never
    awaited, objects whose __del__ raises) makes Python warn: keep the test output readable."""
    logging.disable(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    logging.disable(logging.NOTSET)


def chaos_harness(root: Path, seed: int, rate: float, modes: str = ",".join(DEFAULT_FAMILIES),
                  **options: str) -> Harness:
    """Chaos over a PosixBackend on `root`, armed once the harness has started (its own
    start-up lookup of the root is not for Chaos to spoil)."""
    opts = {"seed": str(seed), "rate": str(rate), "modes": modes, "armed": "off",
            **{k.replace("_", "-"): v for k, v in options.items()}}
    h = Harness(root, (Chaos, opts))
    h.reconfigure(armed="on")
    return h


# ------------------------------------------------------------------ the contract, checked per operation


def valid_errno(value: Any) -> bool:
    return type(value) is int and 0 < value <= MAX_ERRNO


def safe_text(exc: BaseException) -> str:
    """`Type: message` of an exception, even one whose str() raises."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - chaos raises exceptions that cannot be printed
        text = "<str() failed>"
    return f"{type(exc).__name__}: {text[:300]}"


def is_chaos_interrupt(exc: BaseException) -> bool:
    """A KeyboardInterrupt that Chaos raised (tagged), not the developer's Ctrl-C."""
    return getattr(exc, "glupy_chaos", False) is True


_FIELD_TYPES: dict[str, Callable[[Any], bool]] = {
    "iatt": lambda v: isinstance(v, glupy.Iatt),
    "inode": lambda v: isinstance(v, glupy.Inode),
    "fd": lambda v: isinstance(v, glupy.Fd),
    "xdata": lambda v: isinstance(v, glupy.Xdata),
    "dict": lambda v: isinstance(v, glupy.Xdata),
    "statvfs": lambda v: isinstance(v, glupy.Statvfs),
    "flock": lambda v: isinstance(v, glupy.Flock),
    "lease": lambda v: isinstance(v, glupy.Lease),
    "str": lambda v: isinstance(v, (str, bytes)),
    "outstr": lambda v: isinstance(v, (str, bytes)),
    "dirents": lambda v: isinstance(v, (list, tuple)) and all(isinstance(e, Dirent) for e in v),
    "data": lambda v: isinstance(v, (bytes, bytearray, memoryview)),
    "checksum": lambda v: isinstance(v, (bytes, bytearray)) and len(v) == 32,
}


def reply_problem(fop: str, reply: Any, args: tuple = ()) -> str | None:
    """What is wrong with a successful reply the client received for `fop` sent with
    `args`, or None.

    GlusterFS's callers trust a success: op_ret an int32 >= 0, counted op_rets
    equal to what they count, no more bytes written, read or copied than asked
    for, fields of the types the FOP table names."""
    spec = FOP_BY_NAME[fop]
    if type(reply) is not REPLIES[fop]:
        return f"{fop} answered a {type(reply).__name__}"
    if type(reply.op_ret) is not int or not 0 <= reply.op_ret <= INT32_MAX:
        return f"{fop} succeeded with op_ret {reply.op_ret!r}"
    for arg in spec.py_reply:
        value = getattr(reply, arg.name)
        check = _FIELD_TYPES.get(arg.kind)
        if value is not None and check is not None and not check(value):
            return f"{fop}.{arg.name} is a {type(value).__name__}"
    if spec.zero_on_success and reply.op_ret != 0:  # the table's rule (ANY_OP_RET: getxattr, xattrop...)
        return f"{fop} succeeded with op_ret {reply.op_ret} (its op_ret is 0 on success)"
    if fop in ("readdir", "readdirp"):
        bad = bad_names(e.name for e in reply.entries)
        if bad:
            return f"{fop} listed unusable names {bad}"
    if fop == "readv" and reply.op_ret != len(bytes(reply.data)):
        return f"readv op_ret {reply.op_ret} with {len(bytes(reply.data))} bytes"
    if fop in ("readdir", "readdirp") and reply.op_ret != len(reply.entries):
        return f"{fop} op_ret {reply.op_ret} with {len(reply.entries)} entries"
    if fop == "readlink" and isinstance(reply.path, str) and reply.op_ret != len(os.fsencode(reply.path)):
        return f"readlink op_ret {reply.op_ret} with a {len(os.fsencode(reply.path))}-byte target"
    wanted = target_gfid(fop, args)
    for arg in spec.py_reply:
        value = getattr(reply, arg.name)
        if wanted is not None and arg.name in SELF_IATTS and getattr(value, "gfid", None) not in (None, wanted):
            return f"{fop}.{arg.name} describes {value.gfid}, not the file asked about ({wanted})"
    if fop in ("open", "opendir", "create") and args and reply.fd is not None and reply.fd is not args[-2]:
        return f"{fop} answered another fd than the one it was given"
    if fop == "readv" and args and reply.op_ret > args[1]:
        return f"readv answered {reply.op_ret} bytes to a read of {args[1]}"
    if fop == "writev" and args and reply.op_ret > len(args[1]):
        return f"writev op_ret {reply.op_ret} for {len(args[1])} bytes"
    if fop == "copy_file_range" and args and reply.op_ret > args[4]:
        return f"copy_file_range op_ret {reply.op_ret} for a copy of {args[4]} bytes"
    return None


#: reply Iatts that describe the FOP's own file (its first argument), not a parent or a second file
SELF_IATTS = {"buf", "prebuf", "postbuf", "statpre", "statpost", "pre", "post"}


def target_gfid(fop: str, args: tuple) -> Any:
    """The gfid of the file a FOP is about (its first Loc or Fd argument's inode), if known."""
    spec = FOP_BY_NAME[fop]
    if not args or fop == "copy_file_range" or spec.py_args[0].kind not in ("loc", "fd"):
        return None
    inode = getattr(args[0], "inode", None)
    return getattr(inode, "gfid", None)


#: FOPs the table says answer 0 whose op_ret storage/posix sets to the value's size
def bad_names(names: Iterable[Any]) -> list[Any]:
    """Directory entry names no kernel accepts: empty, with '/' or NUL, over 255 bytes."""
    def ok(name: Any) -> bool:
        if not isinstance(name, str) or name == "":
            return False
        raw = os.fsencode(name)
        return b"/" not in raw and b"\0" not in raw and len(raw) <= 255
    return [n if len(repr(n)) < 40 else f"{n!r:.37}..." for n in names if not ok(n)]


def expect(kind: Any) -> Callable[[Any], str | None]:
    """A result check: an instance of `kind` (a type or tuple of types)."""
    def check(result: Any) -> str | None:
        return None if isinstance(result, kind) else f"returned {type(result).__name__}"
    return check


def names_list(result: Any) -> str | None:
    if not (isinstance(result, list) and all(isinstance(n, str) for n in result)):
        return f"returned {result!r:.80}"
    bad = bad_names(result)
    return f"listed unusable names {bad}" if bad else None


def dirent_list(result: Any) -> str | None:
    if not (isinstance(result, list) and all(isinstance(e, Dirent) for e in result)):
        return f"returned {result!r:.80}"
    bad = bad_names(e.name for e in result)
    return f"listed unusable names {bad}" if bad else None


def raw(fop: str, args: tuple = ()) -> Callable[[Any], str | None]:
    """A check of a raw FOP's reply (the client's h.fop) to a FOP sent with `args`."""
    return lambda reply: reply_problem(fop, reply, args)


@dataclass
class Violation:
    """One operation that broke the contract."""

    op: str
    what: str
    cases: list[tuple[int, str, str]]  # (FOP number, FOP, misbehaviour) spoiled during the op

    def __str__(self) -> str:
        shown = ", ".join(f"#{n} {fop}:{name}" for n, fop, name in self.cases[-6:]) or "none"
        return f"{self.op}: {self.what} [chaos: {shown}]"


@dataclass
class Workload:
    """A seeded mixed workload on a harness whose top is Chaos; every operation is checked
    against the contract and the violations collected (the workload goes on after them)."""

    h: Harness
    seed: int
    rng: random.Random = field(init=False)
    outcomes: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)

    FILES = ("/f0", "/f1", "/f2", "/d0/f0", "/d0/f1", "/d1/f0", "/d0/e/f0")
    DIRS = ("/d0", "/d1", "/d0/e", "/d2")

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed ^ 0x5EED)
        self.chaos: Chaos = self.h.translator()

    # ---- one checked operation

    def attempt(self, op: str, fn: Callable[[], Any], check: Callable[[Any], str | None] | None = None) -> Any:
        """Run one client operation; its result, or None if it failed (validly or not)."""
        first = self.chaos.counts.get("fops", 0)
        try:
            result = fn()
        except (FopError, OSError) as e:
            if valid_errno(e.errno):
                self.outcomes["errno"] += 1
            else:
                self._violation(op, f"failed with errno {e.errno!r} ({type(e).__name__})", first)
            return None
        except BaseException as e:  # noqa: BLE001 - anything else escaping is what we look for
            if isinstance(e, KeyboardInterrupt) and not is_chaos_interrupt(e):
                raise  # the developer's Ctrl-C
            self._violation(op, "raised " + safe_text(e), first)
            return None
        problem = check(result) if check is not None else None
        if problem is not None:
            self._violation(op, "invalid result: " + problem, first)
            return None
        self.outcomes["ok"] += 1
        return result

    def _violation(self, op: str, what: str, first: int) -> None:
        cases = [c for c in self.chaos.history if c[0] >= first]
        self.violations.append(Violation(op, what, cases))
        self.outcomes["violation"] += 1

    # ---- the operations

    def file(self) -> str:
        return self.rng.choice(self.FILES)

    def dir(self) -> str:
        return self.rng.choice(self.DIRS)

    def any_path(self) -> str:
        return self.rng.choice(self.FILES + self.DIRS + ("/", "/l0", "/h0"))

    def data(self) -> bytes:
        return self.rng.randbytes(self.rng.choice([0, 1, 7, 100, 5000]))

    def step(self) -> None:
        op = self.rng.choices(self.OPS, weights=[w for _, w in self.OPS_WEIGHTED])[0]
        op(self)

    def op_create(self) -> None:
        p, d = self.file(), self.data()
        self.attempt(f"create {p} ({len(d)} bytes)", lambda: self.h.create(p, d), expect(glupy.Inode))

    def op_write(self) -> None:
        p, d, off = self.file(), self.data(), self.rng.choice([0, 3, 4096])

        def written(n: Any) -> str | None:
            return None if type(n) is int and 0 <= n <= len(d) else f"wrote {n!r} of {len(d)} bytes"
        self.attempt(f"write {p} @{off}", lambda: self.h.write(p, d, off), written)

    def op_read(self) -> None:
        p = self.file()
        self.attempt(f"read {p}", lambda: self.h.read(p), expect(bytes))

    def op_stat(self) -> None:
        p = self.any_path()
        if self.rng.random() < 0.5:
            self.attempt(f"stat {p}", lambda: self.h.stat(p), expect(glupy.Iatt))
            return
        loc = self.attempt(f"resolve {p}", lambda: self.h.loc(p), expect(glupy.Loc))
        if loc is not None:
            self.attempt(f"stat {p} (raw)", lambda: self.h.fop("stat", loc), raw("stat", (loc, None)))

    def op_exists(self) -> None:
        p = self.any_path()
        self.attempt(f"exists {p}", lambda: self.h.exists(p), expect(bool))

    def op_listdir(self) -> None:
        d = self.rng.choice(self.DIRS + ("/",))
        if self.rng.random() < 0.5:
            self.attempt(f"listdir {d}", lambda: self.h.listdir(d), names_list)
        else:
            self.attempt(f"readdir {d}", lambda: self.h.readdir(d, plus=False), dirent_list)

    def op_mkdir(self) -> None:
        d = self.dir()
        self.attempt(f"mkdir {d}", lambda: self.h.mkdir(d), expect(glupy.Inode))

    def op_remove(self) -> None:
        if self.rng.random() < 0.7:
            p = self.file()
            self.attempt(f"unlink {p}", lambda: self.h.unlink(p))
        else:
            d = self.dir()
            self.attempt(f"rmdir {d}", lambda: self.h.rmdir(d))

    def op_rename(self) -> None:
        a, b = (self.file(), self.file()) if self.rng.random() < 0.8 else (self.dir(), self.dir())
        self.attempt(f"rename {a} {b}", lambda: self.h.rename(a, b))

    def op_truncate(self) -> None:
        p, n = self.file(), self.rng.choice([0, 1, 10, 8192])
        self.attempt(f"truncate {p} {n}", lambda: self.h.truncate(p, n))

    def op_xattr(self) -> None:
        p, name = self.any_path(), self.rng.choice(["user.a", "user.b"])
        what = self.rng.choice(["set", "get", "list", "remove"])
        if what == "set":
            v = self.rng.randbytes(self.rng.randint(0, 40))
            self.attempt(f"setxattr {p} {name}", lambda: self.h.setxattr(p, name, v))
        elif what == "get":
            self.attempt(f"getxattr {p} {name}", lambda: self.h.getxattr(p, name), expect(bytes))
        elif what == "list":
            self.attempt(f"listxattr {p}", lambda: self.h.listxattr(p), names_list)
        else:
            self.attempt(f"removexattr {p} {name}", lambda: self.h.removexattr(p, name))

    def op_links(self) -> None:
        what = self.rng.choice(["symlink", "readlink", "link"])
        if what == "symlink":
            self.attempt("symlink /l0", lambda: self.h.symlink(self.file(), "/l0"), expect(glupy.Inode))
        elif what == "readlink":
            self.attempt("readlink /l0", lambda: self.h.readlink("/l0"), expect(str))
        else:
            p = self.file()
            self.attempt(f"link {p} /h0", lambda: self.h.link(p, "/h0"), expect(glupy.Inode))

    def op_attrs(self) -> None:
        p = self.any_path()
        what = self.rng.choice(["chmod", "chown", "utime", "statfs", "access"])
        if what == "chmod":
            self.attempt(f"chmod {p}", lambda: self.h.chmod(p, 0o640), expect(glupy.Iatt))
        elif what == "chown":
            self.attempt(f"chown {p}", lambda: self.h.chown(p, 0, 0), expect(glupy.Iatt))
        elif what == "utime":
            self.attempt(f"utime {p}", lambda: self.h.utime(p, 10**18, 2 * 10**18), expect(glupy.Iatt))
        elif what == "statfs":
            self.attempt(f"statfs {p}", lambda: self.h.statfs(p), expect(glupy.Statvfs))
        else:
            self.attempt(f"access {p}", lambda: self.h.access(p, os.R_OK))

    def op_fd_session(self) -> None:
        """open, a few FOPs on the fd sent raw (their replies checked whole), close."""
        p = self.file()
        loc = self.attempt(f"resolve {p}", lambda: self.h.loc(p), expect(glupy.Loc))
        if loc is None:
            return
        wanted = loc.inode.gfid

        def same_file(f: Any) -> str | None:
            got = getattr(getattr(f.fd, "inode", None), "gfid", None)
            return None if got == wanted else f"opened {got}, not {p} ({wanted})"
        f = self.attempt(f"open {p}", lambda: self.h.open(p, os.O_RDWR), same_file)
        if f is None:
            return
        try:
            for _ in range(self.rng.randint(1, 4)):
                self._fd_fop(p, f.fd)
        finally:
            self.attempt(f"close {p}", f.close)

    def _fd_fop(self, p: str, fd: Any) -> None:
        h, rng = self.h, self.rng
        lock = glupy.Flock(type=int(LockType.WRLCK), whence=0, start=0, len=10, pid=1, owner=b"me")
        calls: dict[str, Callable[[], tuple]] = {
            "readv": lambda: (fd, rng.choice([0, 1, 4096, 131072]), rng.choice([0, 2, 5000]), 0),
            "writev": lambda: (fd, self.data(), rng.choice([0, 2, 5000]), 0),
            "fstat": lambda: (fd,),
            "fsync": lambda: (fd, rng.choice([0, 1])),
            "ftruncate": lambda: (fd, rng.choice([0, 5, 9000])),
            "fgetxattr": lambda: (fd, "user.a"),
            "fsetxattr": lambda: (fd, glupy.Xdata({"user.a": b"v"}), 0),
            "fremovexattr": lambda: (fd, "user.a"),
            "fsetattr": lambda: (fd, glupy.Iatt(uid=0, gid=0), int(SetAttr.UID | SetAttr.GID)),
            "lk": lambda: (fd, int(rng.choice([LockCmd.GETLK, LockCmd.SETLK])), lock),
            "finodelk": lambda: (rng.choice(["dom", "chaos"]), fd, int(LockCmd.SETLK), lock),
            "fentrylk": lambda: ("dom", fd, "name", int(EntrylkCmd.LOCK_NB), int(EntrylkType.WRLCK)),
            "fxattrop": lambda: (fd, int(XattropFlag.ADD_ARRAY), glupy.Xdata({"user.c": b"\0\0\0\1"})),
            "rchecksum": lambda: (fd, 0, 4096),
            "seek": lambda: (fd, 0, rng.choice([0, 1])),
            "fallocate": lambda: (fd, 0, 0, 4096),
            "discard": lambda: (fd, 0, 512),
            "zerofill": lambda: (fd, 0, 512),
            "copy_file_range": lambda: (fd, 0, fd, 8192, 16, 0),
        }
        fop = rng.choice(sorted(calls))
        args = calls[fop]()
        self.attempt(f"{fop} on {p}", lambda: h.fop(fop, *args), raw(fop, args))

    def op_dir_raw(self) -> None:
        d = self.rng.choice(self.DIRS + ("/",))
        f = self.attempt(f"opendir {d}", lambda: self.h.opendir(d))
        if f is None:
            return
        try:
            fop = self.rng.choice(["readdir", "readdirp"])
            size, off = self.rng.choice([0, 100, 4096]), self.rng.choice([0, 0, 1, 3])
            self.attempt(f"{fop} {d}", lambda: self.h.fop(fop, f.fd, size, off), raw(fop, (f.fd, size, off)))
            if self.rng.random() < 0.3:
                self.attempt(f"fsyncdir {d}", lambda: self.h.fop("fsyncdir", f.fd, 0), raw("fsyncdir"))
        finally:
            self.attempt(f"closedir {d}", f.close)

    def op_loc_raw(self) -> None:
        """FOPs no client call makes, sent raw by path (many answer ENOSYS below)."""
        p, rng = self.any_path(), self.rng
        lock = glupy.Flock(type=int(LockType.RDLCK), whence=0, start=0, len=0, pid=2, owner=b"raw")
        calls: dict[str, tuple] = {
            "inodelk": ("dom", p, int(LockCmd.SETLK), lock),
            "entrylk": ("dom", p, "n", int(EntrylkCmd.LOCK_NB), int(EntrylkType.RDLCK)),
            "xattrop": (p, int(XattropFlag.ADD_ARRAY), glupy.Xdata({"user.c": b"\0\0\0\1"})),
            "getxattr": (p, None),
            "lookup": (p,),
            "stat": (p,),
            "readlink": (p, 4096),
            "getactivelk": (p,),
            "lease": (p, glupy.Lease()),
            "ipc": (1,),
            "getspec": ("key", 0),
            "icreate": (p, 0o100644),
            "namelink": (p,),
        }
        fop = rng.choice(sorted(calls))
        args = calls[fop]
        spec = FOP_BY_NAME[fop]
        if any(a.kind == "loc" for a in spec.py_args):
            loc = self.attempt(f"resolve {p}", lambda: self.h.loc(p), expect(glupy.Loc))
            if loc is None:
                return
            args = tuple(loc if a.kind == "loc" else v for a, v in zip(spec.py_args, args))
        self.attempt(f"{fop} {p} (raw)", lambda: self.h.fop(fop, *args), raw(fop, args))

    OPS_WEIGHTED: ClassVar[tuple[tuple[Callable[["Workload"], None], int], ...]] = (
        (op_create, 8), (op_write, 6), (op_read, 8), (op_stat, 8), (op_exists, 3), (op_listdir, 5),
        (op_mkdir, 3), (op_remove, 5), (op_rename, 3), (op_truncate, 3), (op_xattr, 5), (op_links, 3),
        (op_attrs, 4), (op_fd_session, 8), (op_dir_raw, 3), (op_loc_raw, 4),
    )
    OPS: ClassVar[tuple[Callable[["Workload"], None], ...]] = tuple(op for op, _ in OPS_WEIGHTED)

    def run(self, steps: int) -> "Workload":
        with self._quiet_unraisable():
            for _ in range(steps):
                self.step()
            gc.collect()  # Chaos's junk in reference cycles dies here, under our hook
        self._answered_once()
        return self

    def _answered_once(self) -> None:
        """Every FOP answered exactly once: the driver logs any second answer it was asked for
        (in GlusterFS a second STACK_UNWIND of a frame is a use after free)."""
        for domain, context, exc in self.h.logged:
            if "cannot answer" in context or "answered twice" in safe_text(exc):
                self.violations.append(Violation(f"({domain})", f"{context}: {safe_text(exc)}", []))

    @contextmanager
    def _quiet_unraisable(self) -> Iterator[None]:
        """Count exceptions raised where Python cannot raise them (Chaos's _Hostile.__del__,
        coroutines never awaited) instead of handing them to pytest's hook: that hook
        formats a traceback, which in Python 3.11 calls ast.parse, and a garbage collection
        inside another ast.parse then breaks CPython 3.11.2's shared AST recursion counter
        ("SystemError: AST constructor recursion depth mismatch" in whatever parses next)."""
        previous = sys.unraisablehook
        sys.unraisablehook = lambda _: self.outcomes.update(unraisable=1)
        try:
            yield
        finally:
            sys.unraisablehook = previous

    def report(self, what: str) -> str:
        by_kind = Counter(v.what.split(":")[0] for v in self.violations)
        lines = [f"{len(self.violations)} contract violations ({what}; outcomes {dict(self.outcomes)}; "
                 f"chaos counts {self._chaos_summary()}):"]
        lines += [f"  {n} x {k}" for k, n in by_kind.most_common()]
        lines += ["first ones:"] + [f"  {v}" for v in self.violations[:12]]
        return "\n".join(lines)

    def _chaos_summary(self) -> str:
        c = self.chaos.counts
        return f"fops={c.get('fops', 0)} spoiled={c.get('fops', 0) - c.get('passed', 0)}"


def clean_operations_work(h: Harness, tag: str) -> None:
    """Disarm Chaos; then a fresh directory and file are served correctly end to end."""
    h.reconfigure(armed="off")
    d = f"/clean-{tag}"
    h.mkdir(d)
    payload = b"still serving " + tag.encode() * 100
    h.create(f"{d}/file", payload)
    assert h.read(f"{d}/file") == payload
    assert h.stat(f"{d}/file").size == len(payload)
    h.setxattr(f"{d}/file", "user.clean", b"yes")
    assert h.getxattr(f"{d}/file", "user.clean") == b"yes"
    h.rename(f"{d}/file", f"{d}/moved")
    assert h.listdir(d) == ["moved"]
    h.unlink(f"{d}/moved")
    h.rmdir(d)
    assert not h.exists(d)


# ------------------------------------------------------------------ Chaos itself


def test_every_misbehaviour_happens_and_is_counted(tmp_path: Path) -> None:
    h = chaos_harness(tmp_path, seed=1, rate=1.0)
    Workload(h, seed=1).run(400)
    counts = h.translator().counts
    assert counts["fops"] >= 400
    missing = [name for name in NON_BLOCKING if not counts.get(name)]
    assert not missing, f"never chosen in 400 operations: {missing}"
    for family in DEFAULT_FAMILIES:
        assert counts[family] == sum(counts.get(m, 0) for m in misbehaviours_of([family]))
    assert "blocking" not in counts and not any(counts.get(m) for m in misbehaviours_of(["blocking"]))
    dump = dict(h.statedump())
    assert dump["count.returns"] == str(counts["returns"]) and dump["option.seed"] == "1"
    h.close()


def test_decisions_replay_from_the_seed(tmp_path: Path) -> None:
    def history(seed: int, where: str) -> list[tuple[int, str, str]]:
        h = chaos_harness(tmp_path / where, seed=seed, rate=0.4)
        Workload(h, seed=seed).run(150)
        found = list(h.translator().history)
        h.close()
        return found

    first = history(11, "a")
    assert first and history(11, "b") == first
    assert history(12, "c") != first


def test_options(glupy_harness) -> None:
    assert {m.name for m in parse_modes("")} == set(NON_BLOCKING)
    assert {m.family for m in parse_modes("all")} == set(FAMILIES)
    assert [m.name for m in parse_modes("raise_custom, block_sleep")] == ["raise_custom", "block_sleep"]
    assert [m.name for m in parse_modes("sleep,spin,hang")] == ["block_sleep", "block_spin", "block_hang"]
    with pytest.raises(OptionError, match="unknown chaos mode 'explode'"):
        glupy_harness(Chaos, modes="returns,explode")
    with pytest.raises(OptionError, match="more than the maximum"):
        glupy_harness(Chaos, rate="1.5")
    h = glupy_harness(Chaos, rate="0", modes="raises")
    assert h.translator().enabled == tuple(misbehaviours_of(["raises"]))
    h.reconfigure(modes="winds,return_none")
    assert h.translator().enabled == (*misbehaviours_of(["winds"]), "return_none")


def test_control_xattrs_arm_and_count(glupy_harness) -> None:
    h = glupy_harness(Chaos, seed="3", rate="1", modes="raise_custom", armed="off")
    h.create("/f", b"x")  # disarmed: everything passes on
    h.setxattr("/", ARMED_XATTR, b"1")
    with pytest.raises(FopError) as info:
        h.stat("/f")
    assert info.value.errno == errno.EIO
    counts = json.loads(h.getxattr("/", COUNTS_XATTR))  # answered even while armed at rate 1
    assert counts["raise_custom"] >= 1 and counts["raises"] == counts["raise_custom"]
    h.setxattr("/", ARMED_XATTR, b"0")
    assert h.read("/f") == b"x"
    with pytest.raises(FopError) as info:
        h.setxattr("/", ARMED_XATTR, b"maybe")
    assert info.value.errno == errno.EINVAL


# ------------------------------------------------------------------ the contract


@pytest.mark.parametrize("name", NON_BLOCKING)
def test_contract_for_each_misbehaviour(tmp_path: Path, name: str) -> None:
    """One misbehaviour at a time, on half the FOPs of a 200-operation mixed workload."""
    seed = 1000 + list(MISBEHAVIOURS).index(name)
    h = chaos_harness(tmp_path, seed=seed, rate=0.5, modes=name)
    w = Workload(h, seed=seed).run(200)
    assert h.translator().counts.get(name, 0) > 0
    assert not w.violations, w.report(f"modes={name} seed={seed} rate=0.5")
    clean_operations_work(h, name)
    h.close()


def test_only_a_valid_fop_error_reaches_the_caller_as_itself(tmp_path: Path) -> None:
    """raise_fop_error_valid answers ENOENT; the invalid FopErrors answer EIO."""
    h = chaos_harness(tmp_path, seed=5, rate=1.0, modes="raise_fop_error_valid")
    with pytest.raises(FopError) as info:
        h.fop("statfs", glupy.Loc(path="/", inode=h.itable.root), None)
    assert info.value.errno == errno.ENOENT
    h.reconfigure(modes="raise_fop_error_zero,raise_fop_error_negative,raise_fop_error_huge,raise_fop_error_not_int")
    for _ in range(20):
        with pytest.raises(FopError) as info:
            h.fop("statfs", glupy.Loc(path="/", inode=h.itable.root), None)
        assert info.value.errno == errno.EIO
    h.close()


_family_sets = st.sets(st.sampled_from(DEFAULT_FAMILIES), min_size=1).map(lambda s: ",".join(sorted(s)))
_single = st.sampled_from(NON_BLOCKING)


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), rate=st.floats(0.02, 1.0),
       modes=st.one_of(_family_sets, st.lists(_single, min_size=1, max_size=4).map(",".join)))
def test_contract_under_mixed_chaos(tmp_path_factory: pytest.TempPathFactory, seed: int, rate: float,
                                    modes: str) -> None:
    """Seeds, rates and modes chosen by hypothesis, 80 operations each."""
    root = tmp_path_factory.mktemp("mixed")
    h = chaos_harness(root, seed=seed, rate=rate, modes=modes)
    w = Workload(h, seed=seed).run(80)
    assert not w.violations, w.report(f"modes={modes} seed={seed} rate={rate}")
    clean_operations_work(h, "mixed")
    h.close()


def test_long_run_then_clean_operations(tmp_path: Path) -> None:
    """1500 operations on one harness, every non-blocking misbehaviour at rate 0.3: state kept
    across FOPs (replies kept and mutated, stale Locs and Fds) accumulates; the graph then
    still serves clean operations and closes."""
    h = chaos_harness(tmp_path, seed=20240601, rate=0.3)
    w = Workload(h, seed=20240601).run(1500)
    assert not w.violations, w.report("all non-blocking modes, seed=20240601 rate=0.3")
    # every failure is reported, but rate-limited: a few tracebacks per FOP and 10 s, not one per FOP
    failed = w.outcomes["errno"]
    assert h.logged and len(h.logged) <= 10 * len(FOPS), (len(h.logged), failed)
    clean_operations_work(h, "long")
    h.close()


# ------------------------------------------------------------------ blocking (never by default)


def test_sleep_and_spin_only_delay(tmp_path: Path) -> None:
    h = chaos_harness(tmp_path, seed=9, rate=1.0, modes="block_sleep,block_spin", block_seconds="0.001")
    h.create("/f", b"slow but right")
    assert h.read("/f") == b"slow but right"
    counts = h.translator().counts
    assert counts["block_sleep"] + counts["block_spin"] == counts["fops"] == counts["blocking"]
    h.close()


def test_hang_is_answered(tmp_path: Path) -> None:
    """A handler that never finishes must not leave its FOP unanswered forever: once the
    bridge's fop-timeout has passed, the FOP is answered with an errno (ETIMEDOUT in
    GlusterFS), and the other FOPs are served meanwhile."""
    if not hasattr(glupy, "sleep"):
        h = chaos_harness(tmp_path, seed=9, rate=1.0, modes="block_hang")
        h.create("/f", b"x")  # without glupy.sleep block_hang passes the FOP on
        assert h.translator().counts["block_hang.unavailable"] >= 1
        h.close()
        pytest.skip("glupy has no sleep(): block_hang cannot hang")
    h = chaos_harness(tmp_path, seed=9, rate=0.5, modes="hang,hang_on_loop", fop_timeout="0.3")
    h.fop_timeout = 5  # the harness's own wait for a FOP: far past the translator's deadline
    w = Workload(h, seed=9).run(8)
    assert not w.violations, w.report("modes=hang,hang_on_loop")
    assert w.outcomes["errno"] >= h.translator().counts["blocking"] > 0
    timeouts = [context for _, context, _ in h.logged if "option fop-timeout" in context]
    assert len(timeouts) == h.translator().counts["blocking"], timeouts
    clean_operations_work(h, "hang")
    h.close()
