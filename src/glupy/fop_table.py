"""The FOP table: the single source of truth for every file operation glupy exposes.

Everything else is generated from this module:

* the C glue of the bridge (``native/gen_glue.py`` -> ``native/build/glue.c``):
  the FOP entry points, the wind and callback functions, the unwind functions;
* the Python side: handler signatures of :class:`glupy.Child` methods and the
  reply classes in :mod:`glupy.replies`;
* the reference page ``docs/fops.md`` (``python -m glupy.fop_table --markdown``);
* the type stubs ``src/glupy/*.pyi`` (``python -m glupy.fop_table --stubs``, see
  :mod:`glupy._stubgen`).

The order and argument lists follow GlusterFS 10's ``libglusterfs/src/generator.py``
and ``struct xlator_fops``. An argument is described by a *kind* (see :data:`KINDS`),
which says what the C type is and which Python type a handler sees.

This module is plain data and imports nothing from glupy, so that build scripts
can load it without the rest of the package.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hold:
    """How the bridge holds a value of a kind while its FOP (or reply) waits for a
    worker: C templates of a generated struct's field(s), with ``{v}`` the field's
    name and ``{a}`` the incoming argument (native/gen_glue.py fills them)."""

    decl: str  # the struct field(s)
    store: str  # copy the argument in ("goto fail" when it can run out of memory)
    passed: str  # the expression handed on for the argument
    release: str = ""  # what the worker does once the FOP ran


@dataclass(frozen=True)
class Kind:
    """How one C argument type crosses the bridge: its types on both sides, and the
    C the generator writes for it (native/gen_glue.py reads only this). Adding a
    kind is adding it here and writing its converters in native/types.c."""

    ctype: str  # the C declaration type, e.g. "loc_t *"
    pytype: str  # the annotation shown to Python authors
    nullable: bool = False  # whether None (NULL) is allowed
    doc: str = ""
    to_py: str = ""  # C expression making the Python object from `{v}` (default gp_py_KIND({v}))
    to_py_taken: str = ""  # the same, taking over the bridge's own held copy (a worker's, see Hold)
    to_c: tuple[str, str, str] = ("", "", "ptr")  # (temporary's type, converter, style): see gen_glue.c_from_py
    hold: Hold | None = None  # default: a reference-counted pointer (see _refcounted)
    on_error: bool = False  # carried in error replies too (GlusterFS's callers look at it)
    py_default: str = "Py_NewRef(Py_None)"  # the Python value when not converted (error replies)


def _refcounted(ref: str, unref: str, ctype: str) -> Hold:
    return Hold(f"{ctype}{{v}};", f"h->{{v}} = {{a}} ? {ref}({{a}}) : NULL;", "h->{v}",
                f"if (h->{{v}}) {unref}(h->{{v}});")


def _by_value(ctype: str) -> Hold:
    """A structure copied as it is (an iatt, a lock...)."""
    return Hold(f"{ctype[:-2]} {{v}}; int {{v}}_set;", "if ({a}) {{ h->{v} = *{a}; h->{v}_set = 1; }}",
                "h->{v}_set ? &h->{v} : NULL")


def _number(ctype: str, pytype: str = "int", doc: str = "", signed: bool = True) -> Kind:
    to_py = "gp_py_int((long long){v})" if signed else "gp_py_uint((unsigned long long){v})"
    to_c = ("int64_t", "gp_c_int64", "int") if signed else ("uint64_t", "gp_c_uint64", "int")
    return Kind(ctype, pytype, doc=doc, to_py=to_py, to_c=to_c, hold=Hold(f"{ctype} {{v}};", "h->{v} = {a};", "h->{v}"))


_STRING = Hold("char *{v};", "if ({a} && !(h->{v} = gf_strdup({a}))) goto fail;", "h->{v}", "GF_FREE(h->{v});")
_XDATA = _refcounted("dict_ref", "dict_unref", "dict_t *")

KINDS: dict[str, Kind] = {
    "loc": Kind("loc_t *", "Loc", doc="a location: path, name, inode, parent, gfids",
                to_py="gp_py_loc({v}, {fop})", to_py_taken="gp_py_loc_take({v}, {fop})",
                # held as loc_copy would copy it, but with its path in the held block (gp_loc_hold,
                # types.c): loc_copy's path is a GF_MALLOC made on the thread that brings the FOP
                # and freed on a worker, and its gfids go through libuuid (about 500 instructions a
                # FOP, callgrind)
                hold=Hold("loc_t {v}; char {v}_path[GP_LOC_HELD_PATH];",
                          "if ({a} && gp_loc_hold(&h->{v}, {a}, h->{v}_path) < 0) goto fail;", "&h->{v}",
                          "gp_loc_unhold(&h->{v}, h->{v}_path);")),
    "fd": Kind("fd_t *", "Fd", doc="an open file or directory", hold=_refcounted("fd_ref", "fd_unref", "fd_t *"),
               on_error=True),
    "xdata": Kind("dict_t *", "Xdata | None", nullable=True, doc="extra data, a mapping of str to bytes/str/int",
                  to_c=("", "gp_c_xdata_held", "tmp"), hold=_XDATA, on_error=True),
    "dict": Kind("dict_t *", "Xdata | None", nullable=True, doc="extended attributes, a mapping",
                 to_py="gp_py_xdata({v})", to_c=("", "gp_c_xdata_held", "tmp"), hold=_XDATA),
    "inode": Kind("inode_t *", "Inode | None", nullable=True, doc="an inode",
                  hold=_refcounted("inode_ref", "inode_unref", "inode_t *"), on_error=True),
    "iatt": Kind("struct iatt *", "Iatt | None", nullable=True, doc="file attributes", hold=_by_value("struct iatt *"),
                 on_error=True),
    "str": Kind("const char *", "str | None", nullable=True, doc="a string", hold=_STRING),
    "outstr": Kind("char *", "str | None", nullable=True, doc="a string", to_py="gp_py_str({v})", hold=_STRING),
    "int32": _number("int32_t"),
    "uint32": _number("uint32_t", signed=False),
    "size": _number("size_t", signed=False),
    "off": _number("off_t"),
    "off64": _number("off64_t"),
    "mode": _number("mode_t", signed=False),
    "dev": _number("dev_t", signed=False),
    "xattrop_flags": _number("gf_xattrop_flags_t", doc="GF_XATTROP_* (glupy.XattropFlag)"),
    "entrylk_cmd": _number("entrylk_cmd", doc="ENTRYLK_LOCK, ENTRYLK_UNLOCK, ENTRYLK_LOCK_NB"),
    "entrylk_type": _number("entrylk_type", doc="ENTRYLK_RDLCK, ENTRYLK_WRLCK"),
    "seek_what": _number("gf_seek_what_t", doc="SEEK_DATA (0) or SEEK_HOLE (1)"),
    "flock": Kind("struct gf_flock *", "Flock", doc="a POSIX-style lock", hold=_by_value("struct gf_flock *")),
    "statvfs": Kind("struct statvfs *", "Statvfs | None", nullable=True, doc="file system statistics",
                    hold=_by_value("struct statvfs *")),
    "dirents": Kind("gf_dirent_t *", "list[Dirent]", doc="directory entries", to_c=("", "gp_c_dirents", "tmp"),
                    hold=Hold("gf_dirent_t {v}; int {v}_set;",
                              "if ({a}) {{ h->{v}_set = 1; if (gp_dirents_copy(&h->{v}, {a}) < 0) goto fail; }}",
                              "h->{v}_set ? &h->{v} : NULL", "if (h->{v}_set) gf_dirent_free(&h->{v});"),
                    py_default="PyList_New(0)"),
    # A data payload: struct iovec *vector + int32_t count, with its struct iobref *
    # as a separate hidden argument (kind "iobref") placed where GlusterFS puts it.
    "data": Kind("struct iovec *", "Buffer | bytes", doc="data; a bytes-like object",
                 to_py="gp_py_data({v}_vector, {v}_count, {iobref})", to_c=("", "gp_c_data", "tmp"),
                 hold=Hold("struct iovec *{v}_vector; int32_t {v}_count;",
                           "if ({a}_vector && !(h->{v}_vector = iov_dup({a}_vector, {a}_count))) goto fail;\n"
                           "    h->{v}_count = {a}_count;",
                           "h->{v}_vector, h->{v}_count", "GF_FREE(h->{v}_vector);"),
                 py_default="gp_py_data(NULL, 0, NULL)"),
    "iobref": Kind("struct iobref *", "", doc="(hidden: travels with the data)",
                   hold=_refcounted("iobref_ref", "iobref_unref", "struct iobref *")),
    "checksum": Kind("uint8_t *", "bytes | None", nullable=True, doc="SHA-256 digest (32 bytes)",
                     hold=Hold("uint8_t {v}[SHA256_DIGEST_LENGTH]; int {v}_set;",
                               "if ({a}) {{ memcpy(h->{v}, {a}, SHA256_DIGEST_LENGTH); h->{v}_set = 1; }}",
                               "h->{v}_set ? h->{v} : NULL")),
    "lease": Kind("struct gf_lease *", "Lease | None", nullable=True, doc="a lease",
                  hold=_by_value("struct gf_lease *")),
    "locklist": Kind("lock_migration_info_t *", "list[LockInfo]", doc="active locks",
                     to_c=("", "gp_c_locklist", "tmp"),
                     hold=Hold("lock_migration_info_t {v}; int {v}_set;",
                               "if ({a}) {{ h->{v}_set = 1; if (gp_locklist_copy(&h->{v}, {a}) < 0) goto fail; }}",
                               "h->{v}_set ? &h->{v} : NULL", "if (h->{v}_set) gf_free_mig_locks(&h->{v});"),
                     py_default="PyList_New(0)"),
}


#: What the bridge's C driver (native/task.c) hands the Python driver
#: (glupy._driver.make_takeover), numbered by position: C's enum gp_kind is checked
#: against this at compile time (native/gen_glue.py), as the FOP numbers are.
TAKEOVERS: tuple[str, ...] = (
    "called",   # a handler's return value that is not a coroutine
    "error",    # the exception the handler (or its coroutine) raised
    "result",   # a coroutine's result the C driver could not answer with
    "reply",    # a failed reply, or an exception, to resume the coroutine with
    "request",  # something the coroutine awaited that is not a Wind (a gather...)
)

#: Kinds of reply fields that must be present in a successful reply. Only xdata,
#: numbers, lists and data may be absent: every other field is dereferenced by
#: GlusterFS's own callers when op_ret >= 0 (a NULL iatt in a stat reply is a
#: SIGSEGV in fuse-bridge, in protocol/server's reply encoders, ...).
REQUIRED_ON_SUCCESS = frozenset({"inode", "iatt", "fd", "statvfs", "flock", "lease", "str", "outstr",
                                 "checksum", "dict"})

#: FOPs whose op_ret counts what the reply carries: readv bytes, readdir(p) entries,
#: readlink the target's bytes (fuse-bridge writes a NUL at path[op_ret]).
COUNTED: dict[str, str] = {"readv": "data", "readdir": "entries", "readdirp": "entries", "readlink": "path"}

#: FOPs whose op_ret on success may be any non-negative number (storage/posix sets
#: getxattr's to the value's size, locks sets getactivelk's to the number of locks);
#: every other FOP the table says answers "0 on success" must answer exactly 0
#: (fuse-bridge tests ``op_ret == 0`` and would send errno op_errno, maybe 0, instead).
ANY_OP_RET = frozenset({"getxattr", "fgetxattr", "xattrop", "fxattrop", "getactivelk", "rchecksum", "ipc"})

#: op_ret on success is at most this argument: bytes read (size), written (the
#: data's length), copied (len). A kernel refuses a read reply longer than it asked.
OP_RET_AT_MOST: dict[str, str] = {"readv": "size", "writev": "data", "copy_file_range": "len"}

#: The reply's inode must be the inode of this location argument: GlusterFS links
#: the reply's inode under the request's parent and name (fuse-bridge, protocol/server),
#: so another FOP's inode there makes a dentry loop or a file under the wrong name.
SAME_INODE: dict[str, str] = {"lookup": "loc", "mknod": "loc", "mkdir": "loc", "symlink": "loc",
                              "create": "loc", "link": "oldloc", "put": "loc", "icreate": "loc"}

#: The reply's fd must be this fd argument: the caller owns the fd it opened with
#: (fuse-bridge's fd table, protocol/server's), another FOP's fd is freed under it.
SAME_FD: dict[str, str] = {"open": "fd", "opendir": "fd", "create": "fd"}

#: Reply iatts that describe the FOP's own file (its first loc or fd argument): when
#: both that file's gfid and the iatt's are known they must agree (a stat answered
#: with another file's attributes). Not checked for lookup (a revalidation may find
#: a new file under the name: fuse-bridge handles it), namelink (its iatts are the
#: parent's) and copy_file_range (two files).
SELF_IATTS = frozenset({"buf", "prebuf", "postbuf", "statpre", "statpost", "pre", "post"})
NO_SUBJECT_CHECK = frozenset({"lookup", "namelink", "copy_file_range"})

#: Arguments of nullable kinds that a wind must still give (not None): the
#: translators below dereference them (storage/posix's removexattr compares the
#: name, features/locks the lock domain, posix's xattrop walks the dict).
NOT_NONE: dict[str, tuple[str, ...]] = {
    "removexattr": ("name",), "fremovexattr": ("name",), "symlink": ("linkname",),
    "inodelk": ("volume",), "finodelk": ("volume",), "entrylk": ("volume",), "fentrylk": ("volume",),
    "setxattr": ("dict",), "fsetxattr": ("dict",), "xattrop": ("dict",), "fxattrop": ("dict",),
    "getspec": ("key",),
}

#: String arguments a wind may not give empty: a lock domain (GlusterFS's own callers
#: always name one; a run of lock winds ending with an empty domain crashed a client's
#: replicate translator, cause not established, in a red-team session).
NOT_EMPTY: dict[str, tuple[str, ...]] = {fop: ("volume",) for fop in ("inodelk", "finodelk", "entrylk", "fentrylk")}

#: Winds creating an entry whose xdata's ``gfid-req`` (the new entry's gfid) must be 16
#: bytes, neither null nor the root's: storage/posix relinks its handle of the gfid to the
#: new entry, and a mkdir given the root's gfid left bricks that never started again.
GFID_REQ_CHECKED = frozenset({"mknod", "mkdir", "create", "symlink", "put"})

#: Arguments a wind may not give above a bound: storage/posix of GlusterFS 10.3 puts
#: a readlink's reply buffer on the stack (``alloca(size + 1)``), and one readlink
#: wound with a size of 1 GiB, from a translator on a client, ended both bricks of
#: its volume without a log line. A link's target is shorter than PATH_MAX (4096
#: with its NUL) on Linux; GlusterFS's own callers ask for that.
WIND_AT_MOST: dict[str, dict[str, int]] = {"readlink": {"size": 4096}}

#: FOPs a wind may only give to a glupy translator (one handling them in Python), not to
#: a C one: no translator of a brick takes them (storage/posix has none of them, and
#: GlusterFS's defaults pass them down to posix's missing child: a crash), and features/
#: locks and io-threads' call stub of 10.3 crash on any setactivelk. A wind of one that
#: no glupy translator below takes is answered ENOSYS, as a wind of any FOP is that
#: would reach a leaf without it (native/gen_glue.py, gp_unreachable_NAME).
GLUPY_ONLY = frozenset({"namelink", "icreate", "setactivelk"})

#: FOPs whose failures GlusterFS 10.3's protocol/server logs with a format string it gives
#: no value for (server4_fsetattr_cbk: "frame=%" PRId64 without the frame): a brick
#: crashed on any failed fsetattr but ENOENT and ESTALE (logged at DEBUG, not formatted),
#: so a glupy translator answering one with an exception, a FopError or its deadline killed
#: its brick. Under protocol/server, the bridge answers such a failure ESTALE (logged).
SERVER_SAFE_ERRNO = frozenset({"fsetattr"})

#: C translators that answer a FOP the leaf below them lacks: a wind reaching one of them
#: on its way down is answered there (features/locks answers getactivelk on a brick).
ANSWERED_BELOW: dict[str, tuple[str, ...]] = {"getactivelk": ("features/locks",)}

#: What a wound location argument must hold, for the translators below not to crash
#: (they dereference a location's inode unchecked: fuse always gives one) and not to
#: reach outside a directory (posix, dht, afr and locks build entry paths and entry
#: locks from the parent and the name). 0 (every location not listed): an inode.
#: 1: an existing entry: an inode, a parent (not its own inode) and an entry name.
#: 2: lookup's loc: as 1 when it has a name; without one a lookup by gfid, which
#: needs a gfid. 3: an entry that may not exist yet (rename's newloc): a parent and
#: an entry name. 4: a new entry: a parent and an entry name, and the wind gives a
#: Loc without an inode a new one from its parent's inode table (as a C translator
#: calls inode_new before it creates). 5: icreate's, by gfid: a gfid. A Loc that
#: GlusterFS gave with a FOP is never refused when wound with the same FOP (DHT's
#: statfs sends only the root's gfid), see types.c gp_loc_check.
ENTRY_LOCS: dict[str, dict[str, int]] = {
    "lookup": {"loc": 2}, "create": {"loc": 4}, "mkdir": {"loc": 4}, "mknod": {"loc": 4},
    "symlink": {"loc": 4}, "link": {"newloc": 4}, "unlink": {"loc": 1}, "rmdir": {"loc": 1},
    "rename": {"oldloc": 1, "newloc": 3}, "put": {"loc": 4}, "namelink": {"loc": 4}, "icreate": {"loc": 5},
}

#: Kinds of wind arguments that are never None (NULL): every translator below
#: dereferences them (cluster/replicate's lk its lock, posix's setattr the iatt).
WIND_REQUIRED_KINDS = frozenset({"loc", "fd", "flock", "iatt", "lease"})

#: An errno GlusterFS can carry: 1 .. MAX_ERRNO (4095), as the kernel defines it.
MAX_ERRNO = 4095
#: what one directory entry counts against a readdir(p)'s size besides its name and NUL, as
#: storage/posix counts it (max(sizeof(gf_dirent_t), sizeof(gfs3_dirplist)), rounded up)
DIRENT_BYTES = 256
#: the most a readdir(p) reply may carry so counted: GlusterFS's callers ask for 128 KiB at most
#: (fuse, readdir-ahead, gfapi). A brick's reply of 60,000 entries with 200-byte names (28 MB
#: so counted) or of 90,000 short ones (23 MB) ended every FUSE client that listed the
#: directory (decoding it), 30,000 short ones (8 MB) did not; this bound is half that.
READDIR_REPLY_MAX = 4 << 20


@dataclass(frozen=True)
class Arg:
    """One argument of a FOP, or one field of its reply."""

    name: str
    kind: str

    @property
    def hidden(self) -> bool:
        """True for C-only arguments (the iobref that goes with a data payload)."""
        return self.kind == "iobref"


@dataclass(frozen=True)
class Fop:
    """One file operation: its arguments, its reply fields, and what it does."""

    name: str
    gf_fop: str  # the GF_FOP_* enum member
    args: tuple[Arg, ...]
    reply: tuple[Arg, ...]
    doc: str
    op_ret: str = "0 on success"  # what op_ret means on success
    fuse: str = ""  # how a FUSE mount triggers it ("" = cannot)
    notes: str = ""

    @property
    def py_args(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if not a.hidden)

    @property
    def py_reply(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.reply if not a.hidden)

    @property
    def reply_class(self) -> str:
        return "".join(p.capitalize() for p in self.name.split("_")) + "Reply"

    @property
    def required(self) -> tuple[str, ...]:
        """Reply fields a successful reply must carry (not None): the callers above
        (fuse-bridge, protocol/server, gfapi, md-cache...) dereference them on success."""
        return tuple(a.name for a in self.py_reply if a.kind in REQUIRED_ON_SUCCESS)

    @property
    def may_be_empty(self) -> bool:
        """True if a handler may return None for an empty success (nothing is required)."""
        return not self.required

    @property
    def counted(self) -> str | None:
        """The reply field whose length op_ret must equal on success (bytes read,
        entries, the link target's bytes), or None."""
        return COUNTED.get(self.name)

    @property
    def loc_checks(self) -> dict[str, int]:
        """Each location argument with what a wind of it must hold (0 .. 5, see
        :data:`ENTRY_LOCS`)."""
        return {a.name: ENTRY_LOCS.get(self.name, {}).get(a.name, 0) for a in self.py_args if a.kind == "loc"}

    @property
    def not_none(self) -> tuple[str, ...]:
        """Arguments a wind must give (not None): those of the kinds every FOP needs
        (a loc, an fd, a lock, attributes to set, a lease) and the :data:`NOT_NONE` ones."""
        return tuple(a.name for a in self.py_args
                     if a.kind in WIND_REQUIRED_KINDS or a.name in NOT_NONE.get(self.name, ()))

    @property
    def not_empty(self) -> tuple[str, ...]:
        """String arguments a wind may not give empty (:data:`NOT_EMPTY`)."""
        return NOT_EMPTY.get(self.name, ())

    @property
    def at_most(self) -> dict[str, int]:
        """Each argument a wind may not give above a bound, with it (:data:`WIND_AT_MOST`)."""
        return WIND_AT_MOST.get(self.name, {})

    @property
    def zero_on_success(self) -> bool:
        """True if a successful reply's op_ret must be exactly 0."""
        return self.op_ret.startswith("0") and self.name not in ANY_OP_RET

    @property
    def op_ret_at_most(self) -> str | None:
        """The argument bounding op_ret on success (its value, or its data's length), or None."""
        return OP_RET_AT_MOST.get(self.name)

    @property
    def same_inode(self) -> str | None:
        """The location argument whose inode a successful reply's inode must be, or None."""
        return SAME_INODE.get(self.name)

    @property
    def same_fd(self) -> str | None:
        """The fd argument a successful reply's fd must be, or None."""
        return SAME_FD.get(self.name)

    @property
    def subject(self) -> Arg | None:
        """The argument naming the FOP's own file (first loc or fd), whose gfid the
        reply's :attr:`self_iatts` must carry, or None if not checked."""
        if self.name in NO_SUBJECT_CHECK or not self.self_iatts:
            return None
        return next((a for a in self.args if a.kind in ("loc", "fd")), None)

    @property
    def self_iatts(self) -> tuple[str, ...]:
        """Reply iatt fields describing the FOP's own file."""
        return tuple(a.name for a in self.py_reply if a.kind == "iatt" and a.name in SELF_IATTS)


def _args(spec: str) -> tuple[Arg, ...]:
    """Parse "name:kind name:kind ..." into Args."""
    return tuple(Arg(*item.split(":")) for item in spec.split())


def _fop(name: str, args: str, reply: str, doc: str, **kw: str) -> Fop:
    gf = "GF_FOP_" + {"writev": "WRITE", "readv": "READ"}.get(name, name.upper())
    return Fop(name, gf, _args(args), _args(reply), doc, **kw)


# In the order of struct xlator_fops (GlusterFS 10). The placeholders for forget,
# release and releasedir are callbacks, not FOPs (see Translator.forget/release);
# compound is deprecated and not exposed (see NOT_EXPOSED).
FOPS: tuple[Fop, ...] = (
    _fop("stat", "loc:loc xdata:xdata", "buf:iatt xdata:xdata",
         "Attributes of a file by location.", fuse="stat(2) (when attributes are not cached)"),
    _fop("readlink", "loc:loc size:size xdata:xdata", "path:str buf:iatt xdata:xdata",
         "Target of a symbolic link.", op_ret="length of path", fuse="readlink(2)"),
    _fop("mknod", "loc:loc mode:mode rdev:dev umask:mode xdata:xdata",
         "inode:inode buf:iatt preparent:iatt postparent:iatt xdata:xdata",
         "Create a special file or FIFO.", fuse="mknod(2), mkfifo(3)"),
    _fop("mkdir", "loc:loc mode:mode umask:mode xdata:xdata",
         "inode:inode buf:iatt preparent:iatt postparent:iatt xdata:xdata",
         "Create a directory.", fuse="mkdir(2)"),
    _fop("unlink", "loc:loc flags:int32 xdata:xdata", "preparent:iatt postparent:iatt xdata:xdata",
         "Remove a name.", fuse="unlink(2)"),
    _fop("rmdir", "loc:loc flags:int32 xdata:xdata", "preparent:iatt postparent:iatt xdata:xdata",
         "Remove a directory.", fuse="rmdir(2)"),
    _fop("symlink", "linkname:str loc:loc umask:mode xdata:xdata",
         "inode:inode buf:iatt preparent:iatt postparent:iatt xdata:xdata",
         "Create a symbolic link at loc pointing to linkname.", fuse="symlink(2)"),
    _fop("rename", "oldloc:loc newloc:loc xdata:xdata",
         "buf:iatt preoldparent:iatt postoldparent:iatt prenewparent:iatt postnewparent:iatt xdata:xdata",
         "Rename oldloc to newloc.", fuse="rename(2)"),
    _fop("link", "oldloc:loc newloc:loc xdata:xdata",
         "inode:inode buf:iatt preparent:iatt postparent:iatt xdata:xdata",
         "Create a hard link newloc to oldloc.", fuse="link(2)"),
    _fop("truncate", "loc:loc offset:off xdata:xdata", "prebuf:iatt postbuf:iatt xdata:xdata",
         "Set the size of a file by location.", fuse="truncate(2) (FUSE usually sends ftruncate or setattr)"),
    _fop("open", "loc:loc flags:int32 fd:fd xdata:xdata", "fd:fd xdata:xdata",
         "Open a file; fd is the new open file.", fuse="open(2)"),
    _fop("readv", "fd:fd size:size offset:off flags:uint32 xdata:xdata",
         "data:data buf:iatt iobref:iobref xdata:xdata",
         "Read up to size bytes at offset.", op_ret="number of bytes read (glupy sets it from len(data))",
         fuse="read(2)"),
    _fop("writev", "fd:fd data:data offset:off flags:uint32 iobref:iobref xdata:xdata",
         "prebuf:iatt postbuf:iatt xdata:xdata",
         "Write data at offset.", op_ret="number of bytes written (a reply you build must set it)",
         fuse="write(2)"),
    _fop("statfs", "loc:loc xdata:xdata", "buf:statvfs xdata:xdata",
         "File system statistics.", fuse="statvfs(3), df(1)"),
    _fop("flush", "fd:fd xdata:xdata", "xdata:xdata",
         "Called on each close(2) of a file descriptor.", fuse="close(2)"),
    _fop("fsync", "fd:fd flags:int32 xdata:xdata", "prebuf:iatt postbuf:iatt xdata:xdata",
         "Flush file data (flags != 0: data only).", fuse="fsync(2), fdatasync(2)"),
    _fop("setxattr", "loc:loc dict:dict flags:int32 xdata:xdata", "xdata:xdata",
         "Set extended attributes (dict) by location.", fuse="setxattr(2)"),
    _fop("getxattr", "loc:loc name:str xdata:xdata", "dict:dict xdata:xdata",
         "Get one extended attribute (or all when name is None) by location.",
         op_ret="any (storage/posix: the value's size)", fuse="getxattr(2), listxattr(2)"),
    _fop("removexattr", "loc:loc name:str xdata:xdata", "xdata:xdata",
         "Remove an extended attribute by location.", fuse="removexattr(2)"),
    _fop("opendir", "loc:loc fd:fd xdata:xdata", "fd:fd xdata:xdata",
         "Open a directory.", fuse="opendir(3)"),
    _fop("fsyncdir", "fd:fd flags:int32 xdata:xdata", "xdata:xdata",
         "Flush a directory.", fuse="fsync(2) on a directory"),
    _fop("access", "loc:loc mask:int32 xdata:xdata", "xdata:xdata",
         "Check access permissions.", fuse="access(2) (only when the mount checks permissions itself)"),
    _fop("create", "loc:loc flags:int32 mode:mode umask:mode fd:fd xdata:xdata",
         "fd:fd inode:inode buf:iatt preparent:iatt postparent:iatt xdata:xdata",
         "Create and open a regular file.", fuse="open(2) with O_CREAT"),
    _fop("ftruncate", "fd:fd offset:off xdata:xdata", "prebuf:iatt postbuf:iatt xdata:xdata",
         "Set the size of an open file.", fuse="ftruncate(2), truncate(2)"),
    _fop("fstat", "fd:fd xdata:xdata", "buf:iatt xdata:xdata",
         "Attributes of an open file.", fuse="fstat(2)"),
    _fop("lk", "fd:fd cmd:int32 lock:flock xdata:xdata", "lock:flock xdata:xdata",
         "POSIX byte-range lock (cmd: GF_LK_GETLK, GF_LK_SETLK, GF_LK_SETLKW, ...).", fuse="fcntl(F_SETLK)"),
    _fop("lookup", "loc:loc xdata:xdata", "inode:inode buf:iatt xdata:xdata postparent:iatt",
         "Resolve a name: the first FOP on any path.", fuse="any path resolution, stat(2)"),
    _fop("readdir", "fd:fd size:size offset:off xdata:xdata", "entries:dirents xdata:xdata",
         "Read directory entries (names only).", op_ret="number of entries (glupy sets it from entries)",
         fuse="readdir(3) on a mount with use-readdirp=no"),
    _fop("inodelk", "volume:str loc:loc cmd:int32 lock:flock xdata:xdata", "xdata:xdata",
         "GlusterFS internal inode lock in a domain (volume).", fuse="(internal: afr, ec, dht)"),
    _fop("finodelk", "volume:str fd:fd cmd:int32 lock:flock xdata:xdata", "xdata:xdata",
         "Inode lock by fd.", fuse="(internal: afr on writes)"),
    _fop("entrylk", "volume:str loc:loc basename:str cmd:entrylk_cmd type:entrylk_type xdata:xdata", "xdata:xdata",
         "GlusterFS internal lock on a directory entry name.", fuse="(internal: afr on create/unlink)"),
    _fop("fentrylk", "volume:str fd:fd basename:str cmd:entrylk_cmd type:entrylk_type xdata:xdata", "xdata:xdata",
         "Entry lock by fd.", fuse="(internal)"),
    _fop("xattrop", "loc:loc flags:xattrop_flags dict:dict xdata:xdata", "dict:dict xdata:xdata",
         "Atomic arithmetic on extended attributes (afr changelog).", fuse="(internal: afr)"),
    _fop("fxattrop", "fd:fd flags:xattrop_flags dict:dict xdata:xdata", "dict:dict xdata:xdata",
         "xattrop by fd.", fuse="(internal: afr on writes)"),
    _fop("fgetxattr", "fd:fd name:str xdata:xdata", "dict:dict xdata:xdata",
         "Get extended attributes of an open file.", op_ret="any (storage/posix: the value's size)",
         fuse="fgetxattr(2)"),
    _fop("fsetxattr", "fd:fd dict:dict flags:int32 xdata:xdata", "xdata:xdata",
         "Set extended attributes of an open file.", fuse="fsetxattr(2)"),
    _fop("rchecksum", "fd:fd offset:off len:int32 xdata:xdata", "weak_checksum:uint32 strong_checksum:checksum xdata:xdata",
         "Checksums of a region (self-heal's diff algorithm).", fuse="(internal: afr self-heal)"),
    _fop("setattr", "loc:loc stbuf:iatt valid:int32 xdata:xdata", "statpre:iatt statpost:iatt xdata:xdata",
         "Change attributes (valid: GF_SET_ATTR_* mask) by location.", fuse="chmod(2), chown(2), utimes(2)"),
    _fop("fsetattr", "fd:fd stbuf:iatt valid:int32 xdata:xdata", "statpre:iatt statpost:iatt xdata:xdata",
         "Change attributes of an open file.", fuse="fchmod(2), fchown(2), futimens(3)"),
    _fop("readdirp", "fd:fd size:size offset:off xdata:xdata", "entries:dirents xdata:xdata",
         "Read directory entries with attributes and inodes.", op_ret="number of entries (glupy sets it from entries)",
         fuse="readdir(3)"),
    _fop("getspec", "key:str flags:int32", "spec_data:outstr",
         "Fetch a volfile (management; not used in data paths).", fuse="(management only)"),
    _fop("fremovexattr", "fd:fd name:str xdata:xdata", "xdata:xdata",
         "Remove an extended attribute of an open file.", fuse="fremovexattr(2)"),
    _fop("fallocate", "fd:fd mode:int32 offset:off len:size xdata:xdata", "pre:iatt post:iatt xdata:xdata",
         "Allocate space (mode: FALLOC_FL_KEEP_SIZE ...).", fuse="fallocate(2)"),
    _fop("discard", "fd:fd offset:off len:size xdata:xdata", "pre:iatt post:iatt xdata:xdata",
         "Punch a hole.", fuse="fallocate(2) with FALLOC_FL_PUNCH_HOLE"),
    _fop("zerofill", "fd:fd offset:off len:off xdata:xdata", "pre:iatt post:iatt xdata:xdata",
         "Write zeroes.", fuse="(gfapi glfs_zerofill only)"),
    _fop("ipc", "op:int32 xdata:xdata", "xdata:xdata",
         "Inter-translator messages.", fuse="(internal)"),
    _fop("seek", "fd:fd offset:off what:seek_what xdata:xdata", "offset:off xdata:xdata",
         "Find data or a hole (SEEK_DATA/SEEK_HOLE).", fuse="lseek(2) with SEEK_DATA/SEEK_HOLE"),
    _fop("lease", "loc:loc lease:lease xdata:xdata", "lease:lease xdata:xdata",
         "Acquire or release a lease.", fuse="(gfapi glfs_lease only)"),
    _fop("getactivelk", "loc:loc xdata:xdata", "locklist:locklist xdata:xdata",
         "List active locks (lock migration).", op_ret="any (features/locks: the number of locks)",
         fuse="(internal: rebalance)"),
    _fop("setactivelk", "loc:loc locklist:locklist xdata:xdata", "xdata:xdata",
         "Install locks (lock migration).", fuse="(internal: rebalance)"),
    _fop("put", "loc:loc mode:mode umask:mode flags:uint32 data:data offset:off iobref:iobref dict:dict xdata:xdata",
         "inode:inode buf:iatt preparent:iatt postparent:iatt xdata:xdata",
         "Create a file with data and xattrs in one call.", fuse="(gfapi only)"),
    _fop("icreate", "loc:loc mode:mode xdata:xdata", "inode:inode buf:iatt xdata:xdata",
         "Create an inode without a name (internal).", fuse="(internal)"),
    _fop("namelink", "loc:loc xdata:xdata", "prebuf:iatt postbuf:iatt xdata:xdata",
         "Link a name to an inode created by icreate (internal).", fuse="(internal)"),
    _fop("copy_file_range", "fd_in:fd off_in:off64 fd_out:fd off_out:off64 len:size flags:uint32 xdata:xdata",
         "stbuf:iatt prebuf_dst:iatt postbuf_dst:iatt xdata:xdata",
         "Copy a range between two open files on the server.", op_ret="number of bytes copied",
         fuse="copy_file_range(2)"),
)

FOP_BY_NAME: dict[str, Fop] = {f.name: f for f in FOPS}

# struct xlator_fops keeps three callback placeholders and the deprecated compound
# so that a FOP's position + 1 equals its GF_FOP_* number.
_STRUCT_ORDER = (
    [f.name for f in FOPS[:40]] + ["forget", "release", "releasedir"] + [f.name for f in FOPS[40:48]]
    + ["compound"] + [f.name for f in FOPS[48:]]
)

#: GF_FOP_* numbers; the C glue asserts them at compile time.
FOP_ID: dict[str, int] = {name: i + 1 for i, name in enumerate(_STRUCT_ORDER)}
FOP_MAXVALUE = len(_STRUCT_ORDER) + 1

NOT_EXPOSED: dict[str, str] = {
    "compound": "deprecated in GlusterFS 6 and generated by no client since; GlusterFS's own "
                "generator.py lists no arguments for it. A translator that needs it can not be "
                "written in Python; it passes through in C.",
    "forget_placeholder": "not a FOP: the forget callback (Translator.forget).",
    "release_placeholder": "not a FOP: the release callback (Translator.release).",
    "releasedir_placeholder": "not a FOP: the releasedir callback (Translator.releasedir).",
}

#: GlusterFS notify events (enum glusterfs_event_t). The C glue asserts these values
#: at compile time, so a GlusterFS that renumbers them fails the build.
EVENTS: dict[str, int] = {
    "PARENT_UP": 1, "POLLIN": 2, "POLLOUT": 3, "POLLERR": 4, "CHILD_UP": 5, "CHILD_DOWN": 6,
    "CHILD_CONNECTING": 7, "CLEANUP": 9, "TRANSPORT_CONNECTED": 10, "VOLFILE_MODIFIED": 11,
    "GRAPH_NEW": 12, "TRANSLATOR_INFO": 13, "TRANSLATOR_OP": 14, "AUTH_FAILED": 15,
    "VOLUME_DEFRAG": 16, "PARENT_DOWN": 17, "VOLUME_BARRIER_OP": 18, "UPCALL": 19,
    "SCRUB_STATUS": 20, "SOME_DESCENDENT_DOWN": 21, "SCRUB_ONDEMAND": 22,
    "SOME_DESCENDENT_UP": 23, "CHILD_PING": 24,
}


def parse_fop_names(text: str, *, empty_ok: bool = False) -> frozenset[str]:
    """FOP names of a comma-separated option value such as ``"create, mkdir"``
    (``all`` for every FOP; an empty list is an error unless `empty_ok`)."""
    names = {n.strip().lower() for n in text.split(",") if n.strip()}
    if names == {"all"}:
        return _ALL_FOP_NAMES
    unknown = sorted(names - _ALL_FOP_NAMES)
    if unknown:
        raise ValueError(f"unknown FOP{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                         f"(use names from docs/fops.md, or all)")
    if not names and not empty_ok:
        raise ValueError("no FOP named (use a comma-separated list, or all)")
    return frozenset(names)


_ALL_FOP_NAMES = frozenset(f.name for f in FOPS)


def signature(fop: Fop) -> str:
    """The Python handler signature, e.g. ``lookup(self, loc: Loc, xdata: Xdata | None)``."""
    params = ", ".join(f"{a.name}: {KINDS[a.kind].pytype}" for a in fop.py_args)
    return f"async def {fop.name}(self, {params}) -> {fop.reply_class}"


def markdown() -> str:
    """The reference page docs/fops.md."""
    out = [
        "# FOP reference",
        "",
        "Generated from `src/glupy/fop_table.py` by `python -m glupy.fop_table --markdown`;"
        " do not edit by hand.",
        "",
        f"GlusterFS 10's `struct xlator_fops` has {len(FOPS) + 1} FOPs; glupy exposes {len(FOPS)}"
        " (all but `compound`, see below)."
        " A translator overrides a FOP by defining an `async def` method of that name;"
        " FOPs it does not define pass to the first child in C and never enter Python.",
        "A handler returns the reply class shown (or the reply of a child) or raises"
        " `glupy.FopError(errno)`. Every reply also has `op_ret` and `op_errno`."
        " A handler that answers without winding may be a plain `def` returning the reply"
        " (e.g. a cache hit): the bridge then unwinds it without creating a coroutine;"
        " it may also return a coroutine when it must wind after all.",
        "",
        "Every reply is checked before it leaves the translator (`glupy._validate`, and the same"
        " rules in the bridge's generated C): a successful reply must carry the fields listed under"
        " *required on success* (GlusterFS's callers dereference them), `op_ret` must equal the"
        " length of what it counts (readv, readdir, readdirp, readlink) and be 0 where the table says"
        " *0 on success*, directory entries need names a kernel accepts (1 to 255 bytes, no `/` or NUL),"
        f" no more of them than {READDIR_REPLY_MAX >> 20} MiB counted as storage/posix counts them"
        f" ({DIRENT_BYTES} bytes an entry, its name and a NUL; callers ask for 128 KiB at most),"
        " and a failure's `op_errno` must be an errno (1 to 4095)."
        " A successful reply must also answer its own request: the `inode` of a lookup, mknod, mkdir,"
        " symlink, create, link, put or icreate reply is the request's `loc.inode` (`oldloc.inode` for link),"
        " the `fd` of an open, opendir or create reply is the request's `fd`, the attributes of the FOP's"
        " own file (`buf`, `prebuf`, `postbuf`, `statpre`, `statpost`, `pre`, `post`) carry its gfid when"
        " both are known (not checked for lookup, namelink and copy_file_range), and readv, writev and"
        " copy_file_range answer no more bytes than `size`, the data or `len`: a reply kept from another"
        " FOP and returned again is refused. A handler may return `None` for an empty success only where"
        " nothing is required. A reply that breaks a rule, any other return value and any exception"
        " but a `FopError` with a valid errno answer EIO, with a rate-limited log line naming the"
        " translator, the FOP and the fault.",
        "",
        "A wind is checked too, before it leaves the handler (`TypeError` or `ValueError` raised in it):"
        " arguments of the FOP's types, the ones GlusterFS dereferences present, Locs that can be wound,"
        " lock domains (`volume` of inodelk, finodelk, entrylk, fentrylk) not empty, a `gfid-req` in the"
        " xdata of " + ", ".join(sorted(GFID_REQ_CHECKED)) + " 16 bytes and neither null nor the root's, and "
        + "; ".join(f"`{f.name}`'s `{a}` at most {bound}" for f in FOPS for a, bound in f.at_most.items())
        + " (storage/posix puts that buffer on its stack: a bigger one ended the bricks)."
        " A wind that no translator below would take (a FOP storage/posix lacks, passed down to it by"
        " GlusterFS's defaults, or namelink, icreate and setactivelk to anything but a glupy translator)"
        " is answered ENOSYS.",
        "",
        "| FOP | arguments | reply | required on success (else: `None` allowed) | op_ret on success |"
        " triggered from a FUSE mount by |",
        "|---|---|---|---|---|---|",
    ]
    for f in FOPS:
        args = ", ".join(f"`{a.name}`: {KINDS[a.kind].pytype}" for a in f.py_args)
        reply = ", ".join(f"`{a.name}`: {KINDS[a.kind].pytype}" for a in f.py_reply)
        required = ", ".join(f"`{n}`" for n in f.required) or "nothing: `None` allowed"
        out.append(f"| `{f.name}` | {args} | `{f.reply_class}`({reply}) | {required} | {f.op_ret} | {f.fuse} |")
    out += ["", "## What each FOP does", ""]
    for f in FOPS:
        out.append(f"- `{signature(f)}`: {f.doc}")
    out += ["", "## Not exposed", ""]
    for name, why in NOT_EXPOSED.items():
        out.append(f"- `{name}`: {why}")
    out += ["", "## Argument types", "", "| type | meaning |", "|---|---|"]
    seen = set()
    for kind in KINDS.values():
        if kind.pytype and kind.pytype not in seen:
            seen.add(kind.pytype)
            out.append(f"| `{kind.pytype}` | {kind.doc} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown())
    elif sys.argv[1:2] == ["--stubs"]:
        # the .pyi of what glupy makes at import time (Child's FOPs, the replies): see glupy._stubgen
        from glupy import _stubgen

        for path in _stubgen.write(*sys.argv[2:3]):
            print(path)
    else:
        for f in FOPS:
            print(signature(f))
