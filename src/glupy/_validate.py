"""What a FOP's reply must be before it may leave a translator, from the FOP table.

A handler may return anything and raise anything; GlusterFS's callers above it
(fuse-bridge, protocol/server's reply encoders, gfapi, md-cache...) trust what
they receive: a successful stat whose iatt is NULL is a SIGSEGV in fuse-bridge,
a readlink whose op_ret exceeds its target makes fuse-bridge write past it. So
every reply is checked against the table's rules before it is unwound:

* on success (``op_ret >= 0``) every field of :data:`~glupy.fop_table.REQUIRED_ON_SUCCESS`
  kinds is present (``Fop.required``);
* ``op_ret`` equals the length of what it counts (``Fop.counted``: readv's bytes,
  readdir(p)'s entries, readlink's target in bytes);
* ``op_ret`` is 0 where success means 0 (``Fop.zero_on_success``);
* directory entries have names a kernel accepts (1 to 255 bytes, no '/' or NUL), and
  no more of them than any caller asks for (:data:`READDIR_REPLY_MAX`);
* on failure ``op_errno`` is an errno (1 to 4095).

A reply must also agree with its request (:func:`check_against_request`): the
inode and fd it names are the request's own (``Fop.same_inode``, ``Fop.same_fd``),
the attributes of the FOP's file describe that file (``Fop.self_iatts``), and
op_ret is no more than was asked for (``Fop.op_ret_at_most``). A reply of another
FOP, kept and returned again, fails these; GlusterFS's callers would link another
inode under the request's name, or free an fd they do not own.

The native bridge's generated unwinders (native/gen_glue.py) apply the same rules
in C, so the fast path needs no Python; this module is their specification,
used by the Python driver and by the in-process harness. A reply that fails is
answered EIO and the failure logged naming the translator, the FOP and the field.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from glupy.fop_table import DIRENT_BYTES, FOP_ID, FOPS, MAX_ERRNO, READDIR_REPLY_MAX, Fop

FOP_BY_ID: dict[int, Fop] = {FOP_ID[f.name]: f for f in FOPS}


class ReplyError(TypeError):
    """A handler's reply (or exception) that cannot be given to GlusterFS as it is."""


def valid_errno(value: Any) -> bool:
    """True for an int GlusterFS can carry as op_errno."""
    return type(value) is int and 0 < value <= MAX_ERRNO


def measure(value: Any) -> int:
    """The length op_ret counts for a counted field: bytes of data or of a path, entries."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogateescape"))
    if isinstance(value, (list, tuple)):
        return len(value)
    return memoryview(value).nbytes


def none_returned(fop: int) -> ReplyError | None:
    """Why a handler of `fop` may not return None (an empty success), or None if it may."""
    spec = FOP_BY_ID[fop]
    if spec.may_be_empty:
        return None
    return ReplyError(f"the {spec.name} handler returned None, but a successful {spec.name} reply must carry "
                      f"{', '.join(spec.required)}: return the child's reply, a {spec.reply_class}(...) "
                      f"or raise glupy.FopError(errno)")


def check_reply(fop: int, reply: Any) -> None:
    """Raise :class:`ReplyError` naming the field if `reply` (of the FOP's reply
    class) breaks the FOP's rules; return quietly if GlusterFS may receive it."""
    spec = FOP_BY_ID[fop]
    op_ret, op_errno = reply.op_ret, reply.op_errno
    if type(op_ret) is not int or not -(2**31) <= op_ret < 2**31:
        raise ReplyError(f"{spec.reply_class}.op_ret must be an int32, not {op_ret!r}")
    if op_ret < 0:
        if not valid_errno(op_errno):
            raise ReplyError(f"{spec.reply_class}.op_errno must be an errno (1..{MAX_ERRNO}) when op_ret < 0, "
                             f"not {op_errno!r}")
        return
    for name in spec.required:
        if getattr(reply, name) is None:
            raise ReplyError(f"{spec.reply_class}.{name} is required in a successful {spec.name} reply")
    if spec.counted:
        value = getattr(reply, spec.counted)
        try:
            length = measure(value)
        except TypeError:
            raise ReplyError(f"{spec.reply_class}.{spec.counted} must be "
                             f"{'a list' if spec.name.startswith('readdir') else 'str' if spec.name == 'readlink' else 'bytes-like'}, "
                             f"not {type(value).__name__}") from None
        if op_ret != length:
            raise ReplyError(f"{spec.reply_class}.op_ret is {op_ret} but {spec.counted} has {length} "
                             f"{'entries' if spec.name.startswith('readdir') else 'bytes'}")
    elif spec.zero_on_success and op_ret != 0:
        raise ReplyError(f"{spec.reply_class}.op_ret must be 0 on success, not {op_ret}")
    if spec.name.startswith("readdir"):
        packed = 0
        for entry in reply.entries:
            name = getattr(entry, "name", None)
            problem = bad_entry_name(name)
            if problem:
                raise ReplyError(f"{spec.reply_class}.entries: {problem}")
            packed += DIRENT_BYTES + len(name.encode("utf-8", "surrogateescape")) + 1
        if packed > READDIR_REPLY_MAX:
            raise ReplyError(f"{spec.reply_class}.entries: {len(reply.entries)} entries take about {packed} bytes, "
                             f"more than any caller asks for ({READDIR_REPLY_MAX}): answer what fits the request's "
                             "size, the rest at the next offset")


def bad_entry_name(name: Any) -> str | None:
    """Why `name` cannot be a directory entry's name (a kernel refuses it), or None."""
    if not isinstance(name, str):
        return f"an entry's name must be a str, not {type(name).__name__}"
    raw = name.encode("utf-8", "surrogateescape")
    if not 0 < len(raw) <= 255 or b"/" in raw or b"\0" in raw:
        return f"{name[:40]!r} is not a file name (1 to 255 bytes, no '/' or NUL)"
    return None


def check_against_request(fop: int, args: tuple, reply: Any) -> None:
    """Raise :class:`ReplyError` if a successful `reply` does not answer the request
    made with `args` (the handler's arguments, in order): the bridge's generated
    unwinders make the same checks on the request they recorded."""
    spec = FOP_BY_ID[fop]
    if reply.op_ret < 0 or len(args) != len(spec.py_args):
        return
    given = {a.name: v for a, v in zip(spec.py_args, args)}
    if spec.same_inode:
        want = getattr(given[spec.same_inode], "inode", None)
        if want is not None and reply.inode is not want:
            raise ReplyError(f"{spec.reply_class}.inode is not the inode of the request's {spec.same_inode} "
                             f"(a reply to another FOP?)")
    if spec.same_fd and reply.fd is not given[spec.same_fd]:
        raise ReplyError(f"{spec.reply_class}.fd is not the fd of the request (a reply to another FOP?)")
    if spec.subject is not None:
        target = given[spec.subject.name]
        inode = target if spec.subject.kind == "inode" else getattr(target, "inode", None)
        gfid = getattr(inode, "gfid", None)
        if isinstance(gfid, UUID) and gfid.int:
            for name in spec.self_iatts:
                got = getattr(getattr(reply, name), "gfid", None)
                if isinstance(got, UUID) and got.int and got != gfid:
                    raise ReplyError(f"{spec.reply_class}.{name} describes {got}, not the request's file {gfid} "
                                     f"(a reply to another FOP?)")
    if spec.op_ret_at_most:
        bound = given[spec.op_ret_at_most]
        limit = bound if isinstance(bound, int) else measure(bound)
        if reply.op_ret > limit:
            raise ReplyError(f"{spec.reply_class}.op_ret is {reply.op_ret}, more than the request's "
                             f"{spec.op_ret_at_most} ({limit})")
