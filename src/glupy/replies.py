"""Reply classes, one per FOP, generated from the FOP table at import time.

``LookupReply(inode, buf, xdata, postparent, op_ret=0, op_errno=0)`` and so on:
the fields are the FOP's reply fields in GlusterFS's order (see docs/fops.md).
Every field defaults to None (an empty list for directory entries and lock lists,
empty data for readv). ``op_ret`` defaults to what success means for the FOP:
``len(data)`` for readv, ``len(entries)`` for readdir/readdirp, the target's
length in bytes for readlink, 0 otherwise (see :mod:`glupy._validate`).
"""

from __future__ import annotations

from typing import Any

from glupy._validate import measure
from glupy.fop_table import FOP_ID, FOPS, KINDS, Fop

_LIST_KINDS = {"dirents", "locklist"}


def _make_reply_class(fop: Fop) -> type:
    fields = tuple(a.name for a in fop.py_reply)
    lists = {a.name for a in fop.py_reply if a.kind in _LIST_KINDS}
    counted = fop.counted
    params = ", ".join(f"{n}=None" for n in fields)
    body = [f"def __init__(self, {params}{', ' if params else ''}*, op_ret=None, op_errno=0):"]
    for n in fields:
        if n in lists:
            body.append(f"    self.{n} = [] if {n} is None else {n}")
        elif fop.name == "readv" and n == "data":
            body.append(f"    self.{n} = b'' if {n} is None else {n}")
        else:
            body.append(f"    self.{n} = {n}")
    if counted:
        body.append(f"    self.op_ret = (0 if self.{counted} is None else _measure(self.{counted})) "
                    "if op_ret is None else op_ret")
    else:
        body.append("    self.op_ret = 0 if op_ret is None else op_ret")
    body.append("    self.op_errno = op_errno")
    ns: dict[str, Any] = {"_measure": measure}
    exec("\n".join(body), ns)
    init = ns["__init__"]
    init.__doc__ = f"Reply of {fop.name}: " + ", ".join(
        f"{a.name}: {KINDS[a.kind].pytype}" for a in fop.py_reply)

    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in fields)
        return f"{type(self).__name__}({shown}, op_ret={self.op_ret}, op_errno={self.op_errno})"

    return type(fop.reply_class, (), {
        "__slots__": fields + ("op_ret", "op_errno"),
        "__init__": init,
        "__repr__": __repr__,
        "__doc__": f"The reply of ``{fop.name}``: {fop.doc}",
        "__module__": __name__,
        "fields": fields,
        "fop": fop.name,
    })


def copy_reply(reply: Any) -> Any:
    """A shallow copy of a reply (same class, same field objects)."""
    cls = type(reply)
    new = cls.__new__(cls)
    for name in cls.fields + ("op_ret", "op_errno"):
        setattr(new, name, getattr(reply, name))
    return new


#: reply class by FOP name
REPLIES: dict[str, type] = {f.name: _make_reply_class(f) for f in FOPS}
#: reply class by GF_FOP_* number
REPLY_BY_ID: dict[int, type] = {FOP_ID[name]: cls for name, cls in REPLIES.items()}

globals().update({cls.__name__: cls for cls in REPLIES.values()})
__all__ = [cls.__name__ for cls in REPLIES.values()]
