"""Type checks of FOP arguments and reply fields, as strict as the native bridge's conversions.

The kinds themselves (which C type an argument is, whether it may be NULL) are
:data:`glupy.fop_table.KINDS`, the one table of them; this module adds the one
thing the bridge knows only in C (``types.c``'s converters): which Python
objects each kind accepts. The harness checks every wind and every answer with
it, so a translator that passes a test here does not get a TypeError from the
bridge. What a reply means (op_ret against the request, the same inode, ...) is
checked by :mod:`glupy._validate`, here and in the bridge alike.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable

from glupy import _pytypes as T
from glupy.fop_table import FOP_BY_NAME, GFID_REQ_CHECKED, KINDS
from glupy.testing.common import FOP_NAME
from glupy.types import Dirent, LockInfo

__all__ = ["check_arg_types", "check_loc", "check_reply_types"]


def _kind_check(kind: str) -> tuple[Callable[[Any], bool], str]:
    """(accepts, what it accepts in words) for values of `kind`."""
    opt = KINDS[kind].nullable
    def inst(*types: type) -> Callable[[Any], bool]:
        return (lambda v: v is None or isinstance(v, types)) if opt else (lambda v: isinstance(v, types))

    def is_bytes_like(v: Any) -> bool:
        try:
            memoryview(v)
            return True
        except TypeError:
            return False

    table: dict[str, tuple[Callable[[Any], bool], str]] = {
        "loc": (inst(T.Loc), "Loc"), "fd": (inst(T.Fd), "Fd"), "xdata": (inst(T.Xdata), "glupy.Xdata or None"),
        "dict": (inst(T.Xdata), "glupy.Xdata or None"), "inode": (inst(T.Inode), "Inode or None"),
        "iatt": (inst(T.Iatt), "Iatt or None"), "str": (lambda v: v is None or isinstance(v, (str, bytes)), "str or None"),
        "outstr": (lambda v: v is None or isinstance(v, (str, bytes)), "str or None"),
        "flock": (inst(T.Flock), "Flock"), "statvfs": (inst(T.Statvfs), "Statvfs or None"),
        "lease": (inst(T.Lease), "Lease or None"),
        "dirents": (lambda v: isinstance(v, (list, tuple)) and all(isinstance(e, Dirent) for e in v), "a list of Dirent"),
        "locklist": (lambda v: isinstance(v, (list, tuple)) and all(isinstance(e, LockInfo) for e in v),
                     "a list of LockInfo"),
        "data": (is_bytes_like, "a bytes-like object"),
        "checksum": (lambda v: v is None or (isinstance(v, (bytes, bytearray)) and len(v) == 32), "32 bytes or None"),
    }
    if kind in table:
        return table[kind]
    return (lambda v: isinstance(v, int)), "int"


# iobref is never a Python value: it travels hidden with its data argument
_CHECKS = {k: _kind_check(k) for k in KINDS if k != "iobref"}


def check_arg_types(fop: int, args: tuple) -> None:
    """Raise TypeError as the native wind would for arguments of the wrong type or number."""
    spec = FOP_BY_NAME[FOP_NAME[fop]]
    names = spec.py_args
    if len(args) != len(names):
        raise TypeError(f"{spec.name}({', '.join(a.name for a in names)}) takes {len(names)} arguments, "
                        f"got {len(args)}")
    for arg, value in zip(names, args):
        ok, what = _CHECKS[arg.kind]
        if not ok(value):
            raise TypeError(f"{spec.name}: {arg.name} must be {what}, not {type(value).__name__}")
        if value is None and arg.name in spec.not_none:
            raise TypeError(f"{spec.name}() argument {arg.name} must not be None")
    values = {arg.name: value for arg, value in zip(names, args)}
    if spec.name in GFID_REQ_CHECKED and values.get("xdata") is not None and "gfid-req" in values["xdata"]:
        gfid = values["xdata"]["gfid-req"]
        raw = gfid.bytes if isinstance(gfid, uuid.UUID) else bytes(gfid) if isinstance(gfid, (bytes, bytearray)) else b""
        if len(raw) != 16 or raw == bytes(16) or raw == bytes(15) + b"\x01":
            raise ValueError(f"{spec.name}() argument xdata: gfid-req must be 16 bytes, neither null nor the root's gfid")
    for name in spec.not_empty:
        if values[name] == "":
            raise ValueError(f"{spec.name}() argument {name} must not be empty")
    for name, bound in spec.at_most.items():
        if values[name] > bound:
            raise ValueError(f"{spec.name}() argument {name} must be at most {bound}, not {values[name]}")
    for name, entry in spec.loc_checks.items():
        check_loc(values[name], entry, f"{spec.name}() argument {name}", fop)


def check_loc(loc: Any, entry: int, what: str, fop: int = -1) -> None:
    """Raise ValueError as the native wind does (types.c gp_loc_check) for a Loc that
    GlusterFS's translators cannot take (``entry`` as in :data:`glupy.fop_table.ENTRY_LOCS`):
    no inode (0 to 2); for an entry (1 to 4) no parent, its own inode as parent, or a name
    that is not an entry name; for a lookup without a name or an icreate, no gfid. A Loc
    given with FOP ``fop`` (the harness's client marks them) goes on unchecked. A new
    entry's Loc without an inode (4) is not given one here: the posix backend makes it."""
    if getattr(loc, "given_with", None) == fop:
        return
    name = loc.name or ""
    size = len(name.encode("utf-8", "surrogateescape"))
    if loc.inode is None and entry <= 2:
        raise ValueError(f"{what}: a Loc without an inode cannot be wound (use the FOP's own Loc, or give inode=)")
    if entry == 2 and size == 0:
        if not _known(loc.gfid) and not _known(loc.inode.gfid):  # by gfid
            raise ValueError(f"{what}: a lookup without a name needs a gfid (of the Loc or its inode)")
    elif entry == 5:
        if not _known(loc.gfid) and not (loc.inode is not None and _known(loc.inode.gfid)):
            raise ValueError(f"{what}: a Loc created by gfid needs a gfid")
    elif entry:
        if loc.parent is None:
            raise ValueError(f"{what}: a Loc naming an entry needs its parent")
        if loc.inode is not None and loc.parent is loc.inode:
            raise ValueError(f"{what}: a Loc's parent cannot be its own inode")
        if not 0 < size <= 255 or "/" in name or name in (".", ".."):
            raise ValueError(f"{what}: '{name[:60]}' is not an entry name (1 to 255 bytes, no '/', not . or ..)")


def _known(gfid: Any) -> bool:
    return gfid is not None and int(gfid) != 0


def check_reply_types(fop: int, reply: Any) -> None:
    """Raise TypeError as the native unwind would for reply fields of the wrong type."""
    spec = FOP_BY_NAME[FOP_NAME[fop]]
    if reply.op_ret < 0:
        return  # GlusterFS carries an error reply's fields as they are (mostly NULL)
    for arg in spec.py_reply:
        value = getattr(reply, arg.name)
        ok, what = _CHECKS[arg.kind]
        if value is not None and not ok(value):
            raise TypeError(f"{type(reply).__name__}.{arg.name} must be {what}, not {type(value).__name__}")
