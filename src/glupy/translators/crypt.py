"""crypt: encryption at rest, on the client side of a volume.

File data is encrypted on the client before it leaves and decrypted when it comes
back: the bricks (and anyone reading them, their backups, self-heal and
rebalance) only ever see ciphertext. The design and the threat model are in
docs/crypt.md; in short:

* A file's plaintext is cut into blocks of 4096 bytes. Block ``i`` is stored at
  ``i * 4124`` as ``nonce (12 bytes) || AES-256-GCM ciphertext || tag (16 bytes)``
  (the last block of a file may be shorter: ``r`` plaintext bytes take ``r + 28``).
  Every (re)write of a block draws a fresh random nonce. The associated data is
  the file's gfid and the block index, so a block moved to another position or
  another file fails authentication.
* The plaintext size is a function of the stored size alone
  (:func:`plain_size`), so every iatt a reply carries (lookup, stat, fstat,
  readdirp entries, writev, truncate, setattr, fsync, rename, link, create, the
  pre/post stats some replies carry in xdata, ...) is converted for regular files.
* A whole stored block of nothing but zero bytes is a hole and reads as zeros
  (files extended by truncate or by a write past the end keep their holes); a
  shorter run of zeros at the end is damage (EIO), and truncate writes the new
  partial last block of a file it extends encrypted.
* Writes that do not cover whole blocks read, decrypt, merge and re-encrypt the
  boundary blocks (read-modify-write). Every write and truncate runs under a
  GlusterFS inode lock (domain ``glupy.crypt``, whole file) so that no two
  writers, of this client or of others, interleave their read-modify-writes;
  each lock has a lock owner of its own (FUSE's writes all carry one empty
  owner, which GlusterFS's locks never make wait for each other). Writes of
  whole aligned blocks take it shared, so a sequential writer's writes still
  overlap; the rest takes it exclusive.
* Any block that fails authentication (modified on a brick, or a key that is not
  the one the data was written with) answers EIO and is logged (file gfid and
  block number; never key material). Other blocks of the file still read.

Options
-------
``key-file`` (required)
    the key: a file written by ``glupy crypt keygen FILE`` (one line
    ``glupy-crypt-v1:`` + 32 random bytes in base64url), mode 0600 or stricter.
    The translator refuses to start, with one log line, if the file is missing,
    malformed, or readable/writable by group or others.

Placement
---------
It must sit directly above the cluster translator of the client graph (the
volume's ``distribute``, or ``replicate``/``disperse``/``protocol/client`` of a
hand-made graph), below write-behind, open-behind, quick-read, io-cache and
md-cache::

    glupy attach VOL glupy.translators.crypt --side client --after dht -o key-file=/etc/glupy/VOL.key

It refuses to start above a ``performance/*`` translator (their caches would hold
ciphertext across the locks that make read-modify-write safe). Recommended volume
settings: ``performance.aggregate-size 1MB`` (fewer, bigger writes: fewer lock
round trips) and, for files written by several clients at once,
``cluster.post-op-delay-secs 0`` (see docs/crypt.md).

Behaviour worth knowing
-----------------------
* open/create turn O_WRONLY into O_RDWR (a partial write must read its boundary
  blocks) and strip O_APPEND and O_DIRECT; append offsets are computed here,
  under the lock. A file that is writable but not readable by a user cannot be
  written by that user through crypt.
* The first mount of a volume stores a key fingerprint (a keyed hash, not the
  key) in the xattr ``trusted.glupy.crypt.key-check`` of the volume root; a mount
  with another key answers EIO to every read, write and truncate of file data
  (and logs one line), so a wrong key never writes data the right key cannot read.
* FOPs it cannot translate fail rather than expose ciphertext or corrupt data:
  fallocate, discard, zerofill, put and rchecksum answer EOPNOTSUPP,
  copy_file_range answers EXDEV (the kernel and cp then copy through read and
  write). seek answers SEEK_DATA with the offset and SEEK_HOLE with the end of
  the file (no hole reporting). The lookup key ``glusterfs.content`` (quick-read
  asking for a small file's bytes) is removed from lookup requests.
* Statedump: key-file path, key fingerprint (16 hex digits of a one-way
  derivation), volume key state, counters. Never the key.
"""

from __future__ import annotations

import base64
import binascii
import errno
import itertools
import os
import stat as _stat
import uuid
from pathlib import Path
from typing import Any, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import glupy
from glupy.constants import FileType, LockCmd, LockType
from glupy.errors import TranslatorLoadError
from glupy.fop_table import FOP_BY_NAME
from glupy.translators.guard import CRYPT_KEY, MarkedChild

#: plaintext bytes per block
BLOCK = 4096
#: bytes a stored block adds: the nonce (12) and the GCM tag (16)
NONCE = 12
TAG = 16
OVERHEAD = NONCE + TAG
#: stored bytes of a full block
CBLOCK = BLOCK + OVERHEAD

KEY_PREFIX = "glupy-crypt-v1:"
KEY_BYTES = 32
KEYCHECK_XATTR = "trusted.glupy.crypt.key-check"
LOCK_DOMAIN = "glupy.crypt"
#: quick-read's lookup key: posix would answer it with the stored (encrypted) bytes
CONTENT_KEY = "glusterfs.content"
#: pre/post iatts that posix puts in the xdata of setxattr-like replies (md-cache caches them)
STAT_XDATA_KEYS = ("virt-gf-prestat", "virt-gf-poststat")
ROOT_GFID = uuid.UUID(int=1)
XATTR_CREATE = 1
SEEK_DATA, SEEK_HOLE = 0, 1  # gf_seek_what_t

_ZEROS = bytes(CBLOCK)


# ------------------------------------------------------------------ sizes

def cipher_size(plain: int) -> int:
    """Stored size of a file of `plain` plaintext bytes."""
    full, rest = divmod(plain, BLOCK)
    return full * CBLOCK + (rest + OVERHEAD if rest else 0)


def plain_size(cipher: int) -> int:
    """Plaintext size of a file of `cipher` stored bytes.

    A tail of 1..28 bytes cannot be a block (it is damage); it counts as nothing,
    and reading that block answers EIO.
    """
    full, rest = divmod(cipher, CBLOCK)
    return full * BLOCK + (rest - OVERHEAD if rest > OVERHEAD else 0)


def plain_iatt(ia: Any) -> Any:
    """Turn a regular file's iatt from stored to plaintext size, in place; returns it."""
    if ia is not None and ia.type == FileType.REG:
        ia.size = plain_size(ia.size)
    return ia


# ------------------------------------------------------------------ keys

class KeyFileError(TranslatorLoadError):
    """The key file is missing, malformed or too open. The message never contains key material."""


def generate_key_text() -> str:
    """A new key file's content: one line."""
    return KEY_PREFIX + base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=") + "\n"


def parse_key_text(text: str, where: str = "key file") -> bytes:
    """The 32 key bytes of a key file's content; KeyFileError if it is not a glupy crypt key."""
    line = text.strip()
    if not line.startswith(KEY_PREFIX) or "\n" in line:
        raise KeyFileError(f"{where} is not a glupy crypt key (expected one line {KEY_PREFIX}...; "
                           "make one with `glupy crypt keygen FILE`)")
    body = line[len(KEY_PREFIX):]
    try:
        key = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES or not body.replace("-", "").replace("_", "").isalnum():
        raise KeyFileError(f"{where} is malformed: the key must be {KEY_BYTES} bytes in base64url")
    return key


def read_key_file(path: str | os.PathLike[str]) -> bytes:
    """Read and check a key file: it must exist, be a regular file, not be accessible by
    group or others, and hold a well-formed key. Raises KeyFileError (one line)."""
    where = f"key file {os.fspath(path)}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeyFileError(f"{where} does not exist (make one with `glupy crypt keygen {os.fspath(path)}`)") \
            from None
    except OSError as e:
        raise KeyFileError(f"{where} cannot be opened: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"{where} is not a regular file")
        mode = _stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyFileError(f"{where} has mode {mode:04o}: it is accessible by group or others; "
                               f"run chmod 600 {os.fspath(path)}")
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"{where} is not a glupy crypt key (not text)") from None
    return parse_key_text(text, where)


def write_key_file(path: str | os.PathLike[str], force: bool = False) -> Path:
    """Write a new key file with mode 0600, atomically: no other process ever sees it
    partly written or with a wider mode. An existing file is kept unless `force`."""
    target = Path(path)
    if target.exists() and not force:
        raise FileExistsError(errno.EEXIST, "exists (give --force to replace it)", str(target))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, generate_key_text().encode())
        os.fsync(fd)
        os.close(fd)
        fd = -1
        if force:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if the name appeared meanwhile
            os.unlink(tmp)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    return target


def _derive(master: bytes, purpose: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                info=b"glupy-crypt v1 " + purpose).derive(master)


def derive_keys(master: bytes) -> tuple[bytes, bytes]:
    """(data key, key check value) of a master key. The check value identifies the
    key (it is stored on the volume and shown as the fingerprint) and reveals nothing of it."""
    return _derive(master, b"data", 32), _derive(master, b"check", 16)


# ------------------------------------------------------------------ blocks

class CorruptBlock(Exception):
    """A stored block failed authentication (or is too short to be a block)."""

    def __init__(self, index: int) -> None:
        super().__init__(f"block {index} failed authentication")
        self.index = index


class BlockCodec:
    """Encrypts and decrypts runs of consecutive blocks of one file."""

    def __init__(self, data_key: bytes) -> None:
        self._aead = AESGCM(data_key)

    def encrypt(self, file_id: bytes, first: int, plaintext: bytes) -> bytes:
        """The stored form of `plaintext` starting at block `first` (its last block may be partial)."""
        n = -(-len(plaintext) // BLOCK)
        if n == 0:
            return b""
        nonces = os.urandom(NONCE * n)
        seal = self._aead.encrypt
        view = memoryview(plaintext)
        out = []
        for i in range(n):
            nonce = nonces[i * NONCE:(i + 1) * NONCE]
            out.append(nonce)
            out.append(seal(nonce, view[i * BLOCK:(i + 1) * BLOCK], file_id + (first + i).to_bytes(8, "big")))
        return b"".join(out)

    def decrypt(self, file_id: bytes, first: int, stored: Any) -> tuple[bytes, int]:
        """(plaintext, holes) of stored blocks starting at block `first`; whole all-zero
        blocks are holes and read as zeros. Raises CorruptBlock for the first block that
        fails (a partial last block of zeros included)."""
        view = memoryview(stored)
        size = len(view)
        open_ = self._aead.decrypt
        out = []
        holes = 0
        i = 0
        pos = 0
        while pos < size:
            chunk = view[pos:pos + CBLOCK]
            if len(chunk) <= OVERHEAD:
                raise CorruptBlock(first + i)
            try:
                out.append(open_(chunk[:NONCE], chunk[NONCE:], file_id + (first + i).to_bytes(8, "big")))
            except InvalidTag:
                # only a whole stored block of zeros is a hole (a sparse region); a short
                # zero tail is damage: otherwise anyone with the bricks could append zeros
                if len(chunk) != CBLOCK or chunk != _ZEROS:
                    raise CorruptBlock(first + i) from None
                out.append(_ZEROS[:BLOCK])
                holes += 1
            pos += CBLOCK
            i += 1
        return b"".join(out), holes


# ------------------------------------------------------------------ the translator

_UNKNOWN, _OK, _MISMATCH = "unknown", "ok", "mismatch"


def _gfid_bytes(inode: Any) -> bytes:
    gfid = inode.gfid if inode is not None else None
    if gfid is None:
        raise glupy.FopError(errno.EIO, "crypt: a file without a gfid")
    return gfid.bytes


def _plain_xdata(xdata: Any) -> Any:
    """Convert the pre/post iatts some replies carry in xdata (md-cache caches them)."""
    if xdata is not None:
        for key in STAT_XDATA_KEYS:
            if key in xdata:
                ia = xdata[key]
                if getattr(ia, "type", None) == FileType.REG:
                    ia.size = plain_size(ia.size)
                    xdata[key] = ia
    return xdata


#: FOPs whose replies only need their iatts (and the iatts md-cache finds in xdata) in plaintext sizes
SIZE_ONLY_FOPS = ("stat", "fstat", "setattr", "fsetattr", "fsync", "rename", "link", "mknod", "icreate",
                  "namelink", "setxattr", "fsetxattr", "removexattr", "fremovexattr")


def _size_converter(name: str) -> Any:
    """A handler that winds FOP `name` and converts every iatt of its reply (from the FOP table)."""
    reply_args = FOP_BY_NAME[name].py_reply
    iatt_fields = tuple(a.name for a in reply_args if a.kind == "iatt")
    has_xdata = any(a.kind == "xdata" for a in reply_args)

    async def handler(self, *args):
        reply = await getattr(self.child, name)(*args)  # bound: a MarkedChild marks mknod
        for field in iatt_fields:
            plain_iatt(getattr(reply, field))
        if has_xdata:
            _plain_xdata(reply.xdata)
        return reply

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"Wind {name}; the reply's sizes in plaintext."
    return handler


class Crypt(glupy.Translator):
    """Encrypts file data with AES-256-GCM per 4 KiB block (see the module doc and docs/crypt.md)."""

    key_file = glupy.Option(str, doc="the key file (glupy crypt keygen FILE), mode 0600", reconfigurable=False)

    #: directly above dht: every FOP of the volume passes here, and no cache above
    #: the cluster translator ever holds ciphertext sizes or blocks
    placement = "cluster"
    #: never bypassed: attach also guards the bricks against clients without crypt
    bypass_guard = CRYPT_KEY

    def init(self) -> None:
        # lock owners of this client's own: this prefix and a number per lock taken
        self._lk_owner = b"glupy-crypt:" + uuid.uuid4().bytes
        self._lock_numbers = itertools.count(1)
        child_type = self.child.type if self.child is not None else ""
        if len(self.children) != 1:
            raise TranslatorLoadError("crypt needs exactly one child (the volume's cluster translator)")
        if child_type.startswith("performance/"):
            raise TranslatorLoadError(
                f"crypt sits above {self.child.name} ({child_type}); it must sit directly above the cluster "
                "translator, below every performance translator (glupy attach and glupy mount --with put it there "
                "unless --after says otherwise)")
        # data FOPs carry the guard's key: the bricks refuse those of clients without crypt
        self.child = self.children[0] = MarkedChild(self.child, CRYPT_KEY)
        master = read_key_file(self.key_file)
        data_key, self._check = derive_keys(master)
        del master
        self._codec = BlockCodec(data_key)
        del data_key
        self.fingerprint = self._check.hex()
        self._check_value = f"{KEY_PREFIX}{self._check.hex()}".encode()
        self._volume = _UNKNOWN
        self._volume_fingerprint = ""
        self.stats = {"blocks-encrypted": 0, "blocks-decrypted": 0, "holes-read": 0, "auth-failures": 0,
                      "read-retries": 0, "writes-shared": 0, "writes-exclusive": 0, "refused": 0}
        self.log.info("crypt: key from %s (fingerprint %s)", self.key_file, self.fingerprint)

    def statedump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key-fingerprint": self.fingerprint, "volume-key": self._volume}
        out.update(self.stats)
        return out

    # ------------------------------------------------------------ helpers

    def _refuse(self, err: int, what: str) -> glupy.FopError:
        self.stats["refused"] += 1
        return glupy.FopError(err, f"crypt: {what} is not supported on encrypted files")

    def _require_key(self) -> None:
        if self._volume == _MISMATCH:
            raise glupy.FopError(errno.EIO, "crypt: this mount's key is not the volume's key")

    def _decrypt(self, inode: Any, first: int, stored: Any) -> bytes:
        plain, holes = self._codec.decrypt(_gfid_bytes(inode), first, stored)
        self.stats["blocks-decrypted"] += -(-len(stored) // CBLOCK) - holes
        self.stats["holes-read"] += holes
        return plain

    def _encrypt(self, inode: Any, first: int, plaintext: bytes) -> bytes:
        self.stats["blocks-encrypted"] += -(-len(plaintext) // BLOCK)
        return self._codec.encrypt(_gfid_bytes(inode), first, plaintext)

    def _corrupt(self, inode: Any, error: CorruptBlock) -> glupy.FopError:
        self.stats["auth-failures"] += 1
        self.log.error("crypt: file gfid %s, block %d (bytes %d-%d) failed authentication: modified on a "
                       "brick, or written with another key; answering EIO", getattr(inode, "gfid", None),
                       error.index, error.index * BLOCK, (error.index + 1) * BLOCK - 1)
        return glupy.FopError(errno.EIO, f"crypt: block {error.index} failed authentication")

    async def _lock(self, fd: Any, shared: bool = False) -> tuple[Any, bytes]:
        """Take the GlusterFS inode lock of the file; returns what _unlock needs.

        Each acquisition has a lock owner of its own, so GlusterFS's locks order this
        client's writes as well as other clients' (FUSE's writes all carry one empty
        owner, which locks never make wait for each other). Shared for writes of whole
        blocks that neither read blocks back nor change which block is the partial
        last one (several run at once, from this client and others); exclusive for
        everything else."""
        # By inode, not by fd: GlusterFS 10.3's AFR forwards an finodelk unlock with a NULL fd.
        loc = glupy.Loc(inode=fd.inode)
        owner = self._lk_owner + next(self._lock_numbers).to_bytes(8, "big")
        lock = glupy.Flock(type=LockType.RDLCK if shared else LockType.WRLCK, whence=0, start=0, len=0)
        await self.child.inodelk(LOCK_DOMAIN, loc, LockCmd.SETLKW, lock, None, lk_owner=owner)
        return loc, owner

    async def _unlock(self, fd: Any, held: tuple[Any, bytes], shared: bool = False) -> None:
        loc, owner = held
        try:
            lock = glupy.Flock(type=LockType.UNLCK, whence=0, start=0, len=0)
            await self.child.inodelk(LOCK_DOMAIN, loc, LockCmd.SETLK, lock, None, lk_owner=owner)
        except glupy.FopError as e:
            self.log.warning("crypt: unlocking file gfid %s failed: %s", fd.inode.gfid, e)

    async def _read_blocks(self, fd: Any, indexes: Iterable[int]) -> dict[int, bytes]:
        """Plaintext of the given existing blocks (lock held)."""
        wanted = sorted(set(indexes))
        if not wanted:
            return {}
        replies = await glupy.gather(*(self.child.readv(fd, CBLOCK, i * CBLOCK, 0, None) for i in wanted))
        out = {}
        for i, reply in zip(wanted, replies):
            try:
                out[i] = self._decrypt(fd.inode, i, reply.data)
            except CorruptBlock as error:
                raise self._corrupt(fd.inode, error) from None
        return out

    # ------------------------------------------------------------ the volume key

    async def _check_volume(self, loc: Any) -> None:
        """Compare this key with the one the volume root records (record it if there is none)."""
        child = self.child
        for _ in range(2):
            found = None
            try:
                reply = await child.getxattr(loc, KEYCHECK_XATTR, None)
                got = reply.dict
                value = got[KEYCHECK_XATTR] if got is not None and KEYCHECK_XATTR in got else None
                if isinstance(value, str):
                    value = value.encode()
                found = bytes(value).rstrip(b"\0") if value is not None else None
            except glupy.FopError as e:
                if e.errno not in (errno.ENODATA, getattr(errno, "ENOATTR", errno.ENODATA)):
                    self.log.debug("crypt: cannot read the volume's key check: %s", e)
                    return
            if found is not None:
                if found == self._check_value:
                    self._volume = _OK
                else:
                    self._volume = _MISMATCH
                    self._volume_fingerprint = found.decode("ascii", "replace")[len(KEY_PREFIX):]
                    self.log.error("crypt: the key in %s (fingerprint %s) is not this volume's key (fingerprint "
                                   "%s): reads and writes of file data answer EIO", self.key_file,
                                   self.fingerprint, self._volume_fingerprint)
                return
            try:
                await child.setxattr(loc, glupy.Xdata({KEYCHECK_XATTR: self._check_value}), XATTR_CREATE, None)
            except glupy.FopError as e:
                if e.errno == errno.EEXIST:
                    continue  # another client recorded its key first: compare with it
                self.log.debug("crypt: cannot record the volume's key check: %s", e)
                return
            self._volume = _OK
            self.log.info("crypt: recorded this key's fingerprint on the volume root")
            return

    # ------------------------------------------------------------ entries and attributes

    async def lookup(self, loc, xdata):
        if xdata is not None and CONTENT_KEY in xdata:
            del xdata[CONTENT_KEY]
        reply = await self.child.lookup(loc, xdata)
        buf = reply.buf
        if buf is not None:
            if buf.type == FileType.REG:
                buf.size = plain_size(buf.size)
            elif self._volume == _UNKNOWN and buf.gfid == ROOT_GFID:
                inode = loc.inode if loc.inode is not None else reply.inode
                if inode is not None:
                    await self._check_volume(glupy.Loc(path="/", inode=inode))
        if reply.xdata is not None and CONTENT_KEY in reply.xdata:
            del reply.xdata[CONTENT_KEY]
        return reply

    async def readdirp(self, fd, size, offset, xdata):
        reply = await self.child.readdirp(fd, size, offset, xdata)
        for entry in reply.entries:
            plain_iatt(entry.stat)
        return reply

    # ------------------------------------------------------------ open

    @staticmethod
    def _open_flags(flags: int) -> int:
        # read-modify-write reads through the fd; appends are placed here (posix would
        # append at the end of the ciphertext); O_DIRECT would refuse unaligned stored offsets
        flags &= ~(os.O_APPEND | getattr(os, "O_DIRECT", 0))
        if flags & os.O_ACCMODE == os.O_WRONLY:
            flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
        return flags

    async def open(self, loc, flags, fd, xdata):
        reply = await self.child.open(loc, self._open_flags(flags), fd, xdata)
        if flags & os.O_APPEND:
            self.set_fd_ctx(fd, True)
        return reply

    async def create(self, loc, flags, mode, umask, fd, xdata):
        reply = await self.child.create(loc, self._open_flags(flags), mode, umask, fd, xdata)
        if flags & os.O_APPEND:
            self.set_fd_ctx(fd, True)
        plain_iatt(reply.buf)
        return reply

    # ------------------------------------------------------------ data

    async def readv(self, fd, size, offset, flags, xdata):
        self._require_key()
        if offset < 0:
            raise glupy.FopError(errno.EINVAL)
        first = offset // BLOCK
        count = (offset + size - 1) // BLOCK - first + 1 if size > 0 else 0
        reply = await self.child.readv(fd, count * CBLOCK, first * CBLOCK, flags, xdata)
        try:
            plain = self._decrypt(fd.inode, first, reply.data)
        except CorruptBlock:
            # a write of another client may have been half-way: read again under the lock
            self.stats["read-retries"] += 1
            loc = await self._lock(fd)
            try:
                reply = await self.child.readv(fd, count * CBLOCK, first * CBLOCK, flags, xdata)
                try:
                    plain = self._decrypt(fd.inode, first, reply.data)
                except CorruptBlock as error:
                    raise self._corrupt(fd.inode, error) from None
            finally:
                await self._unlock(fd, loc)
        start = offset - first * BLOCK
        return glupy.ReadvReply(data=plain[start:start + size], buf=plain_iatt(reply.buf), xdata=reply.xdata)

    async def writev(self, fd, data, offset, flags, xdata):
        self._require_key()
        append = self.fd_ctx(fd) is not None or bool(fd.flags & os.O_APPEND)
        if offset < 0 and not append:
            raise glupy.FopError(errno.EINVAL)
        payload = bytes(data)
        # whole blocks at a block boundary need no read-modify-write: a shared lock, unless
        # the file's partial last block lies before them (it must be padded: exclusive)
        shared = not append and offset % BLOCK == 0 and len(payload) % BLOCK == 0
        while True:
            loc = await self._lock(fd, shared)
            try:
                reply = await self._write_locked(fd, payload, offset, append, flags, xdata, shared)
            finally:
                await self._unlock(fd, loc, shared)
            if reply is not None:
                self.stats["writes-shared" if shared else "writes-exclusive"] += 1
                return reply
            shared = False

    async def _write_locked(self, fd, payload: bytes, offset: int, append: bool, flags: int, xdata,
                            shared: bool = False):
        """Write under the lock; None if the shared lock is not enough (retry exclusive)."""
        pre = (await self.child.fstat(fd, None)).buf
        old_size = plain_size(pre.size)
        if append:
            offset = old_size
        if shared and old_size % BLOCK and old_size // BLOCK < offset // BLOCK:
            return None
        n = len(payload)
        if n == 0:
            post = (await self.child.fstat(fd, None)).buf
            return glupy.WritevReply(prebuf=plain_iatt(pre), postbuf=plain_iatt(post), op_ret=0)
        end = offset + n
        first, last = offset // BLOCK, (end - 1) // BLOCK
        tail_block, tail_len = divmod(old_size, BLOCK)  # the old last block, if partial
        pad = tail_len and tail_block < first  # it stops being the last block: make it full
        need = set()
        if first * BLOCK < old_size and (offset % BLOCK or (first == last and end < min(old_size, (first + 1) * BLOCK))):
            need.add(first)
        if last != first and last * BLOCK < old_size and end < min(old_size, (last + 1) * BLOCK):
            need.add(last)
        if pad:
            need.add(tail_block)
        old = await self._read_blocks(fd, need)

        head = b""
        if offset % BLOCK:
            k = offset - first * BLOCK
            base = old.get(first, b"")[:k]
            head = base + bytes(k - len(base))
        tail = b""
        if last * BLOCK < old_size:
            old_len = min(BLOCK, old_size - last * BLOCK)
            e = end - last * BLOCK
            if old_len > e:
                tail = old[last][e:old_len]
        stored = self._encrypt(fd.inode, first, head + payload + tail)
        at = first * CBLOCK
        if pad:
            block = old[tail_block]
            padded = self._encrypt(fd.inode, tail_block, block + bytes(BLOCK - len(block)))
            if tail_block + 1 == first:
                stored, at = padded + stored, tail_block * CBLOCK
            else:
                await self._write_all(fd, padded, tail_block * CBLOCK, flags, None)
        reply = await self._write_all(fd, stored, at, flags, xdata)
        return glupy.WritevReply(prebuf=plain_iatt(pre), postbuf=plain_iatt(reply.postbuf),
                                 xdata=_plain_xdata(reply.xdata), op_ret=n)

    async def _write_all(self, fd, stored: bytes, at: int, flags: int, xdata):
        reply = await self.child.writev(fd, stored, at, flags, xdata)
        if reply.op_ret != len(stored):
            self.log.error("crypt: short write of file gfid %s (%d of %d stored bytes at %d): answering EIO",
                           fd.inode.gfid, reply.op_ret, len(stored), at)
            raise glupy.FopError(errno.EIO, "crypt: short write")
        return reply

    async def _truncate_locked(self, fd, size: int, xdata) -> tuple[Any, Any, Any]:
        """(prebuf, postbuf, xdata) of setting the plaintext size to `size` (lock held)."""
        pre = (await self.child.fstat(fd, None)).buf
        old_size = plain_size(pre.size)
        if size < old_size:
            block, keep = divmod(size, BLOCK)
            if keep:
                kept = (await self._read_blocks(fd, [block]))[block][:keep]
                cut = await self.child.ftruncate(fd, block * CBLOCK, xdata)
                reply = await self._write_all(fd, self._encrypt(fd.inode, block, kept), block * CBLOCK, 0, None)
                return pre, reply.postbuf, cut.xdata
            cut = await self.child.ftruncate(fd, block * CBLOCK, xdata)
            return pre, cut.postbuf, cut.xdata
        if size > old_size:
            block, have = divmod(old_size, BLOCK)
            if have:  # the old last block grows (to a full block, or to the new end)
                grown = min(BLOCK, size - block * BLOCK)
                old = (await self._read_blocks(fd, [block]))[block]
                await self._write_all(fd, self._encrypt(fd.inode, block, old + bytes(grown - len(old))),
                                      block * CBLOCK, 0, None)
            last, rest = divmod(size, BLOCK)
            if rest and (last > block or not have):
                # a new partial last block is written encrypted: only whole blocks may be holes
                await self._write_all(fd, self._encrypt(fd.inode, last, bytes(rest)), last * CBLOCK, 0, None)
        cut = await self.child.ftruncate(fd, cipher_size(size), xdata)
        return pre, cut.postbuf, cut.xdata

    async def ftruncate(self, fd, offset, xdata):
        if fd.inode.type != FileType.REG:
            return await self.child.ftruncate(fd, offset, xdata)
        self._require_key()
        if offset < 0:
            raise glupy.FopError(errno.EINVAL)
        loc = await self._lock(fd)
        try:
            pre, post, out = await self._truncate_locked(fd, offset, xdata)
        finally:
            await self._unlock(fd, loc)
        return glupy.FtruncateReply(prebuf=plain_iatt(pre), postbuf=plain_iatt(post), xdata=_plain_xdata(out))

    async def truncate(self, loc, offset, xdata):
        if loc.inode is None or loc.inode.type != FileType.REG:
            reply = await self.child.truncate(loc, offset, xdata)
            plain_iatt(reply.prebuf)
            plain_iatt(reply.postbuf)
            return reply
        self._require_key()
        if offset < 0:
            raise glupy.FopError(errno.EINVAL)
        fd = glupy.Fd.anonymous_for(loc.inode)
        lock_loc = await self._lock(fd)
        try:
            pre, post, out = await self._truncate_locked(fd, offset, xdata)
        finally:
            await self._unlock(fd, lock_loc)
        return glupy.TruncateReply(prebuf=plain_iatt(pre), postbuf=plain_iatt(post), xdata=_plain_xdata(out))

    async def seek(self, fd, offset, what, xdata):
        size = plain_size((await self.child.fstat(fd, None)).buf.size)
        if offset < 0 or offset >= size:
            raise glupy.FopError(errno.ENXIO)
        if what == SEEK_DATA:
            return glupy.SeekReply(offset=offset)
        if what == SEEK_HOLE:
            return glupy.SeekReply(offset=size)
        raise glupy.FopError(errno.EINVAL)

    # ------------------------------------------------------------ refused

    async def fallocate(self, fd, mode, offset, len, xdata):
        raise self._refuse(errno.EOPNOTSUPP, "fallocate")

    async def discard(self, fd, offset, len, xdata):
        raise self._refuse(errno.EOPNOTSUPP, "discard (hole punching)")

    async def zerofill(self, fd, offset, len, xdata):
        raise self._refuse(errno.EOPNOTSUPP, "zerofill")

    async def put(self, loc, mode, umask, flags, data, offset, dict, xdata):
        raise self._refuse(errno.EOPNOTSUPP, "put")

    async def rchecksum(self, fd, offset, len, xdata):
        raise self._refuse(errno.EOPNOTSUPP, "rchecksum")

    async def copy_file_range(self, fd_in, off_in, fd_out, off_out, len, flags, xdata):
        # EXDEV: the kernel (and cp) fall back to copying through read and write
        raise self._refuse(errno.EXDEV, "copy_file_range")


for _name in SIZE_ONLY_FOPS:
    setattr(Crypt, _name, _size_converter(_name))
