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
* Two formats; the volume root's record (below) says which. Format 2 (every volume
  this version creates): each file has a key of its own, HKDF-SHA256 of the data
  key with the file's gfid (derived once per inode, kept in the inode context), so
  the GCM bound of 2^32 random-nonce encryptions is per file, not per volume; and
  the associated data ends with a "last block" byte: the file's last block is
  sealed "last" and always stored (never a hole), the others "not last", so a file
  whose stored end moved by whole blocks on a brick (truncated, or zero blocks
  appended) reads EIO. Writes that move the end re-seal the old last block and take
  the lock exclusive. Format 1 (volumes recorded before format 2): one data key for
  the volume, no last-block byte; such volumes keep it.
* The plaintext size is a function of the stored size alone
  (:func:`plain_size`), so every iatt a reply carries (lookup, stat, fstat,
  readdirp entries, writev, truncate, setattr, fsync, rename, link, create, the
  pre/post stats some replies carry in xdata, ...) is converted for regular files.
* A whole stored block of nothing but zero bytes is a hole and reads as zeros
  (files extended by truncate or by a write past the end keep their holes); a
  shorter run of zeros at the end is damage (EIO), and truncate writes the new
  partial last block of a file it extends encrypted (format 2: the new last block,
  partial or whole).
* Writes that do not cover whole blocks read, decrypt, merge and re-encrypt the
  boundary blocks (read-modify-write). Every write and truncate runs under a
  GlusterFS inode lock (domain ``glupy.crypt``, whole file) so that no two
  writers, of this client or of others, interleave their read-modify-writes;
  each lock has a lock owner of its own (FUSE's writes all carry one empty
  owner, which GlusterFS's locks never make wait for each other). Writes of
  whole aligned blocks inside the file (by the size this client last saw) take it
  shared; the rest takes it exclusive, through the file's runner on this client
  (:meth:`Crypt._serve`): the writes and truncates that arrive while it runs queue
  behind it, contiguous ones are merged into one writev, and the lock is kept while
  the queue is not empty (at most HOLD_MAX seconds; given back at once on a
  contention upcall or a subvolume going down), with the file's exact size and
  last block known under it: a sequential writer's writes cost one writev each run.
* Any block that fails authentication (modified on a brick, or a key that is not
  the one the data was written with) answers EIO and is logged (file gfid and
  block number; never key material). Other blocks of the file still read.

Options
-------
``key-file`` (required)
    the key: a file written by ``glupy crypt keygen FILE`` (one line
    ``glupy-crypt-v1:`` + 32 random bytes in base64url), mode 0600 or stricter.
    The translator refuses to start, with one log line, if the file is missing,
    malformed, owned by another user than the client's, or readable/writable by
    group or others. Key material is kept in bytearrays and zeroed once used
    (see docs/crypt.md, Keys, for the copies Python cannot wipe).

``read-hold`` (default 128)
    the latest readv replies of more than 128 KiB kept referenced after decryption (0: none):
    GlusterFS receives such replies into iobuf arenas that it unmaps as soon as all their
    buffers are free, and every arena mapped again has its pages faulted in; see docs/crypt.md,
    Performance. Costs memory (ciphertext), not correctness.

``new-volume-format`` (default 0: the newest, 3)
    the format the first mount of a new volume records: 3 authenticates owners and modes
    (a round trip more per open of a file and per create, chmod and chown), 2 does not. A
    volume keeps the format it recorded first.

Placement
---------
It must sit directly above the cluster translator of the client graph (the
volume's ``distribute``, or ``replicate``/``disperse``/``protocol/client`` of a
hand-made graph), below write-behind, open-behind, quick-read, io-cache and
md-cache::

    glupy attach VOL glupy.translators.crypt --side client --after dht -o key-file=/etc/glupy/VOL.key

It refuses to start when a ``performance/*`` translator lies anywhere between it and
the cluster translator below it (their caches would hold ciphertext across the locks
that make read-modify-write safe); see :func:`placement_problem`. Recommended volume
setting, for files written by several clients at once: ``cluster.post-op-delay-secs 0``
(see docs/crypt.md). GlusterFS's default ``performance.aggregate-size`` (128KB) suits
crypt best: write-behind then sends several writes at once, which crypt merges.

Behaviour worth knowing
-----------------------
* open/create turn O_WRONLY into O_RDWR (a partial write must read its boundary
  blocks) and strip O_APPEND and O_DIRECT; append offsets are computed here,
  under the lock. A file that is writable but not readable by a user cannot be
  written by that user through crypt.
* The first mount of a volume stores ``glupy-crypt-v2:`` and a key fingerprint (a
  keyed hash, not the key) in the xattr ``trusted.glupy.crypt.key-check`` of the
  volume root; ``glupy-crypt-v1:`` there means format 1. A mount with another key,
  or of a volume whose format it does not know, answers EIO to every read, write
  and truncate of file data (and logs one line), so a wrong key never writes data
  the right key cannot read. (glupy before format 2 reads a format 2 record as
  another key's: it refuses file data rather than mix formats.) The check fails
  closed: until it has succeeded (a first check that errored with ENOTCONN, EPERM,
  ...), every read, write, truncate and O_TRUNC answers EIO, and the record is read
  again on the next one, at most once per RECHECK_INTERVAL.
* Format 3 (every volume this version records; ``glupy-crypt-v3:``): format 2's blocks, and
  each regular file's owner, group and mode authenticated, so that someone who can write to the
  bricks cannot make a user's file readable by other users of a shared client: crypt stores a
  MAC of (gfid, uid, gid, mode) in ``trusted.glupy.crypt.attr`` after create, mknod and
  setattr/fsetattr of mode or owner (from the bricks' reply; by fd), and checks it at every
  open of a regular file (one lookup asking for it) and at reads through fds it did not open:
  a missing or wrong MAC answers EACCES (logged); root's chmod or chown through crypt signs
  the attributes again. Format 1 and 2 volumes neither write nor check it.
* A shrinking truncate writes the new last block before it cuts the file; a crash
  in between is completed by running the same truncate again (see _reseal_kept).
* Upcalls (features.cache-invalidation, which glupy attach refuses) about files
  carry stored sizes: crypt replaces them by SOME_DESCENDENT_DOWN (see notify).
* FOPs it cannot translate fail rather than expose ciphertext or corrupt data:
  fallocate, discard, zerofill, put and rchecksum answer EOPNOTSUPP,
  copy_file_range answers EXDEV (the kernel and cp then copy through read and
  write). seek answers SEEK_DATA with the offset and SEEK_HOLE with the end of
  the file (no hole reporting). The lookup key ``glusterfs.content`` (quick-read
  asking for a small file's bytes) is removed from lookup requests.
* Statedump: key-file path, key fingerprint (32 hex digits of a one-way
  derivation), volume key state, format, counters (file-keys-derived: per-file keys
  derived, once per inode in memory). Never the key.
"""

from __future__ import annotations

import base64
import collections
import errno
import hashlib
import hmac
import itertools
import os
import stat as _stat
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

import glupy
from glupy.constants import ROOT_GFID, Event, FileType, LockCmd, LockType, SetAttr, UpcallKind
from glupy.errors import TranslatorLoadError
from glupy.fop_table import FOP_BY_NAME
from glupy.fuse import raise_read_ahead
from glupy.translators.guard import CRYPT_KEY, MarkedChild

try:  # crypt's blocks sealed and opened in C, a run per call (native/aead.c, built by make)
    from glupy._aead import Key as _RunKey
except ImportError:  # (not built: one `cryptography` call per block)
    _RunKey = None

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
#: block formats; the volume root's key-check record (``glupy-crypt-vN:<fingerprint>``) says which one
#: a volume uses. 1: one data key for the volume. 2: a key per file and the last block sealed "last".
#: 3: format 2's blocks, and each regular file's owner, group and mode authenticated (ATTR_XATTR)
FORMAT_V1, FORMAT_V2, FORMAT_V3 = 1, 2, 3
FORMATS = (FORMAT_V1, FORMAT_V2, FORMAT_V3)
#: the format of volumes this version records (volumes with another record keep theirs)
NEW_FORMAT = FORMAT_V3
#: format 2's per-file keys: HKDF-SHA256(salt, data key), info = this + the file's gfid
FILE_KEY_SALT = b"glupy-crypt v2 file keys"
FILE_KEY_INFO = b"glupy-crypt v2 file "
LOCK_DOMAIN = "glupy.crypt"
#: format 3: a regular file's MAC over (gfid, uid, gid, mode), 32 hex digits (see attr_mac)
ATTR_XATTR = "trusted.glupy.crypt.attr"
ATTR_TAG = b"glupy-crypt attr v1 "
#: the setattr bits that change what ATTR_XATTR authenticates
ATTR_BITS = SetAttr.MODE | SetAttr.UID | SetAttr.GID
#: quick-read's lookup key: posix would answer it with the stored (encrypted) bytes
CONTENT_KEY = "glusterfs.content"
#: pre/post iatts that posix puts in the xdata of setxattr-like replies (md-cache caches them)
STAT_XDATA_KEYS = ("virt-gf-prestat", "virt-gf-poststat")
XATTR_CREATE = 1
#: seconds between two reads of the volume record while it cannot be read (ENOTCONN, EPERM, ...);
#: file data is refused (EIO) meanwhile, without a round trip
RECHECK_INTERVAL = 1.0
_clock = time.monotonic  # (tests move it)
SEEK_DATA, SEEK_HOLE = 0, 1  # gf_seek_what_t

_ZEROS = bytes(CBLOCK)
_ZERO_BLOCK = bytes(BLOCK)


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


_B64URL = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
_SPACE = b" \t\r\n\v\f"


def wipe(buf: bytearray | None) -> None:
    """Overwrite key material held in a bytearray with zeros, in place."""
    if buf is not None:
        buf[:] = bytes(len(buf))


def _parse_key(raw: Any, where: str) -> bytearray:
    """The 32 key bytes of a key file's content (bytes-like, not copied), decoded by hand into
    a bytearray: no intermediate immutable copy of the key (base64's decoders return bytes)."""
    view = memoryview(raw)
    start, end = 0, len(view)
    while start < end and view[start] in _SPACE:
        start += 1
    while end > start and view[end - 1] in _SPACE:
        end -= 1
    prefix = KEY_PREFIX.encode()
    if any(c >= 0x80 for c in view[start:end]):
        raise KeyFileError(f"{where} is not a glupy crypt key (not text)")
    if view[start:start + len(prefix)] != prefix or any(c == 0x0A for c in view[start:end]):
        raise KeyFileError(f"{where} is not a glupy crypt key (expected one line {KEY_PREFIX}...; "
                           "make one with `glupy crypt keygen FILE`)")
    body = view[start + len(prefix):end]
    malformed = KeyFileError(f"{where} is malformed: the key must be {KEY_BYTES} bytes in base64url")
    if len(body) != -(-KEY_BYTES * 4 // 3) or any(c not in _B64URL for c in body):
        raise malformed
    key = bytearray(KEY_BYTES)
    acc = bits = n = 0
    for c in body:
        acc = (acc << 6 | _B64URL[c]) & 0xFFF
        bits += 6
        if bits >= 8:
            bits -= 8
            key[n] = (acc >> bits) & 0xFF
            n += 1
    return key


def parse_key_text(text: str, where: str = "key file") -> bytearray:
    """The 32 key bytes of a key file's content; KeyFileError if it is not a glupy crypt key."""
    return _parse_key(text.encode("utf-8", "replace"), where)


def read_key_file(path: str | os.PathLike[str]) -> bytearray:
    """Read and check a key file: it must exist, be a regular file owned by this process's
    user (the mount's), not be accessible by group or others, and hold a well-formed key.
    Raises KeyFileError (one line). The key comes back in a bytearray (wipe() it when done);
    the buffer the file was read into is wiped."""
    where = f"key file {os.fspath(path)}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeyFileError(f"{where} does not exist (make one with `glupy crypt keygen {os.fspath(path)}`)") \
            from None
    except OSError as e:
        raise KeyFileError(f"{where} cannot be opened: {e.strerror}") from None
    raw = bytearray(4096)
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"{where} is not a regular file")
        owner = os.geteuid()
        if st.st_uid != owner:
            # another user could replace the key (or read it: they can chmod their own file)
            raise KeyFileError(f"{where} is owned by uid {st.st_uid}, not by uid {owner} (this client's user); "
                               f"run chown {owner} {os.fspath(path)}")
        mode = _stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyFileError(f"{where} has mode {mode:04o}: it is accessible by group or others; "
                               f"run chmod 600 {os.fspath(path)}")
        n = os.readv(fd, [raw])
        return _parse_key(memoryview(raw)[:n], where)
    finally:
        wipe(raw)
        os.close(fd)


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


def attr_mac(key: Any, gfid: bytes, uid: int, gid: int, mode: int) -> bytes:
    """Format 3: the MAC of a regular file's owner, group and mode (st_mode: type and the 12
    permission bits), bound to its gfid: HMAC-SHA256 keyed with the attribute key, cut to 16
    bytes, as the 32 hex digits stored in ATTR_XATTR."""
    message = ATTR_TAG + gfid + struct.pack(">III", uid & 0xFFFFFFFF, gid & 0xFFFFFFFF, mode & 0o177777)
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32].encode()


def derive_attr_key(master: Any) -> bytearray:
    """Format 3: the key of the MACs over owners and modes (HKDF-SHA256 of the master key with
    its own info string, ``glupy-crypt v1 attributes``), in a bytearray (wipe() it when done)."""
    return bytearray(_derive(master, b"attributes", 32))


def derive_keys(master: Any) -> tuple[bytearray, bytes]:
    """(data key, key check value) of a master key. The data key comes back in a bytearray
    (wipe() it when done). The check value (16 bytes, shown as 32 hex digits: the key's
    fingerprint, stored on the volume) identifies the key and reveals nothing of it."""
    return bytearray(_derive(master, b"data", 32)), _derive(master, b"check", 16)


# ------------------------------------------------------------------ blocks

class CorruptBlock(Exception):
    """A stored block failed authentication (or is too short to be a block, or is a hole
    where the file's last block must be)."""

    def __init__(self, index: int) -> None:
        super().__init__(f"block {index} failed authentication")
        self.index = index


#: (without glupy._aead) held around each run of AES-GCM calls: every call lets the GIL go for a
#: few microseconds, and two threads sealing or opening blocks at once would hand the GIL to each
#: other at every block
_CRYPTO = threading.Lock()
#: associated data: gfid (16 bytes) || block index (8, big-endian) [|| last (1: 01 or 00), format 2]
_AD_V1 = struct.Struct(">16sQ")
_AD_V2 = struct.Struct(">16sQ?")


def _cipher_of(key: Any) -> Any:
    """What seals and opens blocks with `key` (32 bytes): a glupy._aead.Key (its own copy of
    the key, zeroed when it is freed) or, without that module, cryptography's AESGCM (given an
    immutable copy: older versions keep a reference to the key and use it for every operation)."""
    return _RunKey(key) if _RunKey is not None else AESGCM(bytes(key))


class FileCipher:
    """Seals and opens runs of consecutive blocks of one file.

    Format 1: the volume's data key, associated data ``gfid || index``. Format 2: the
    file's own key, associated data ``gfid || index || last`` where ``last`` (one byte)
    says whether the block is the file's last one. `size` is a hint kept with the file
    (its plaintext size when this client last saw it), never trusted for data."""

    __slots__ = ("_run_key", "_seal_into", "_open_into", "_id", "_flags", "size", "queue", "runner", "held",
                 "known", "contended", "unanswered")

    def __init__(self, aead: Any, file_id: bytes, flags: bool) -> None:
        # aead: a glupy._aead.Key (a run of blocks per call), or cryptography's AESGCM
        self._run_key = aead if _RunKey is not None and isinstance(aead, _RunKey) else None
        self._seal_into = None if self._run_key else aead.encrypt_into
        self._open_into = None if self._run_key else aead.decrypt_into
        self._id = file_id
        self._flags = flags
        self.size: int | None = None
        # this client's exclusive writers of the file, one at a time (see Crypt._serve): the
        # requests waiting, the one running them, the lock it holds ((loc, owner, generation,
        # since) or None) and, while that lock is held, the exact (size, plaintext of the
        # last block or None) the runner learnt under it
        self.queue: list[_Request] = []
        self.runner: _Request | None = None
        self.held: tuple[Any, bytes, int, float] | None = None
        self.known: tuple[int, bytes | None] | None = None
        self.contended = False
        self.unanswered: list[_Request] = []  # done, told when the runner next waits (Crypt._answer)

    def encrypt(self, first: int, plaintext: Any, last: int = -1) -> bytearray:
        """The stored form of `plaintext` (bytes-like) starting at block `first` (its last block
        may be partial). `last` is the index of the file's last block once this is written
        (format 2 seals that block "last"; format 1 ignores it)."""
        out = bytearray(cipher_size(len(plaintext)))
        self.seal_into(memoryview(out), 0, first, plaintext, last)
        return out

    def seal_into(self, out: memoryview, pos: int, first: int, plaintext: Any, last: int = -1) -> int:
        """Write the stored form of `plaintext` (blocks from `first` on) into `out` at `pos`,
        with no intermediate copy; returns the position after it."""
        if self._run_key is not None:
            return self._run_key.seal_into(out, pos, self._id, self._flags, first, last, plaintext)
        view = memoryview(plaintext)
        size = len(view)
        n = -(-size // BLOCK)
        if n == 0:
            return pos
        nonces = memoryview(os.urandom(NONCE * n))
        seal_into, file_id, flags = self._seal_into, self._id, self._flags
        ad_of = _AD_V2.pack if flags else _AD_V1.pack
        at = 0
        with _CRYPTO:
            for i in range(n):
                index = first + i
                chunk = view[at:at + BLOCK]
                at += BLOCK
                nonce = nonces[i * NONCE:(i + 1) * NONCE]
                start = pos + NONCE
                pos = start + len(chunk) + TAG
                out[start - NONCE:start] = nonce
                seal_into(nonce, chunk, ad_of(file_id, index, index == last) if flags else ad_of(file_id, index),
                          out[start:pos])
        return pos

    def decrypt(self, first: int, stored: Any, last: int = -1) -> tuple[bytearray, int]:
        """(plaintext, holes) of stored blocks starting at block `first`; `last` is the index
        of the file's last block (from its size; format 2 only). Whole all-zero blocks are
        holes and read as zeros, except, in format 2, at the last block. Raises CorruptBlock
        for the first block that fails (a partial last block of zeros included; in format
        2 also a block sealed "last" that is not, or the last block not sealed "last")."""
        view = memoryview(stored)
        size = len(view)
        full, rest = divmod(size, CBLOCK)
        out = bytearray(full * BLOCK + (rest - OVERHEAD if rest > OVERHEAD else 0))
        if self._run_key is not None:
            holes = self._run_key.open_into(out, self._id, self._flags, first, last, view)
            if holes < 0:
                raise CorruptBlock(-1 - holes)
            return out, holes
        target = memoryview(out)
        with _CRYPTO:
            return self._open_all(view, size, first, last, out, target)

    def _open_all(self, view: memoryview, size: int, first: int, last: int, out: bytearray,
                  target: memoryview) -> tuple[bytearray, int]:
        open_into, file_id, flags = self._open_into, self._id, self._flags
        ad_of = _AD_V2.pack if flags else _AD_V1.pack
        holes = 0
        index = first
        at = 0
        whole = size - size % CBLOCK
        for pos in range(0, whole, CBLOCK):  # whole blocks (a readv's are nearly all whole)
            try:
                open_into(view[pos:pos + NONCE], view[pos + NONCE:pos + CBLOCK],
                          ad_of(file_id, index, index == last) if flags else ad_of(file_id, index),
                          target[at:at + BLOCK])
            except InvalidTag:
                # only a whole stored block of zeros is a hole (a sparse region); in format 2
                # the last block is always stored: a hole there is damage
                if (flags and index == last) or view[pos:pos + CBLOCK] != _ZEROS:
                    raise CorruptBlock(index) from None
                target[at:at + BLOCK] = _ZERO_BLOCK  # (nothing unauthenticated is left there)
                holes += 1
            index += 1
            at += BLOCK
        if whole < size:
            # a partial last block; a short tail of zeros is damage, never a hole: otherwise
            # anyone with the bricks could append zeros
            length = size - whole - OVERHEAD
            if length <= 0:
                raise CorruptBlock(index)
            try:
                open_into(view[whole:whole + NONCE], view[whole + NONCE:size],
                          ad_of(file_id, index, index == last) if flags else ad_of(file_id, index),
                          target[at:at + length])
            except InvalidTag:
                raise CorruptBlock(index) from None
        return out, holes


class BlockCodec:
    """The block format of a volume: makes the :class:`FileCipher` of each file.

    Format 1 (volumes recorded ``glupy-crypt-v1:``): every file is sealed with the data
    key. Format 2 (``glupy-crypt-v2:``): each file has a key of its own, HKDF-SHA256 of
    the data key with the file's gfid as info, and every block's associated data says
    whether it is the file's last block."""

    def __init__(self, data_key: bytes, version: int = FORMAT_V1) -> None:
        if version not in FORMATS:
            raise ValueError(f"unknown crypt format {version}")
        self.version = version
        self.flags = version >= FORMAT_V2
        self._prk: bytearray | None = None
        self._aead: Any = None
        if self.flags:
            # HKDF's extract step, once: each file's key is then one expand (RFC 5869)
            self._prk = bytearray(hmac.new(FILE_KEY_SALT, data_key, hashlib.sha256).digest())
        else:
            # a copy (the caller wipes data_key; _cipher_of copies it)
            self._aead = _cipher_of(data_key)
        self.files_keyed = 0

    def wipe(self) -> None:
        """Forget the key material: zero the bytearray format 2 derives file keys from, drop
        format 1's cipher (its copy of the key is zeroed or freed with it). The FileCiphers
        already made keep their own cipher until their inodes are forgotten."""
        wipe(self._prk)
        self._prk = None
        self._aead = None

    def file_key(self, file_id: bytes) -> bytes:
        """Format 2: the key of the file whose gfid is `file_id`."""
        return HKDFExpand(algorithm=hashes.SHA256(), length=32, info=FILE_KEY_INFO + file_id).derive(self._prk)

    def file(self, file_id: bytes) -> FileCipher:
        """The cipher of one file (derive it once per file and keep it: see Crypt._file)."""
        if not self.flags:
            return FileCipher(self._aead, file_id, False)
        self.files_keyed += 1
        return FileCipher(_cipher_of(self.file_key(file_id)), file_id, True)

    def encrypt(self, file_id: bytes, first: int, plaintext: bytes, last: int = -1) -> bytes:
        """One-off :meth:`FileCipher.encrypt` (tests and tools; the translator keeps its FileCiphers)."""
        return self.file(file_id).encrypt(first, plaintext, last)

    def decrypt(self, file_id: bytes, first: int, stored: Any, last: int = -1) -> tuple[bytes, int]:
        """One-off :meth:`FileCipher.decrypt`."""
        return self.file(file_id).decrypt(first, stored, last)


# ------------------------------------------------------------------ the translator

#: the most plaintext one merged writev of queued writes carries
MERGE_MAX = 1 << 20
#: GlusterFS 10.3 (iobuf_get2, USE_IOBUF_POOL_IF_SIZE_GREATER_THAN) receives a reply of up to this
#: many bytes into malloc'd memory, a bigger one into an iobuf arena (mmap), unmapped once all its
#: buffers are free: crypt keeps the latest such readv replies referenced (option read-hold)
READ_POOLED = 131072
#: a runner holding a file's lock gives it back after this many seconds even while writes keep
#: coming, so that other writers (other clients, a read retried under the lock) get their turn
HOLD_MAX = 0.2
#: a runner whose own write is done goes on with the writes queued meanwhile for at most this long
RUNNER_MAX = 0.05


class _Request:
    """A write (or a truncate) of one file that takes the file's lock exclusive: run by the
    file's runner on this client (Crypt._serve), merged with the contiguous writes queued
    with it. `aligned`: whole blocks at a block boundary."""

    __slots__ = ("fd", "payload", "offset", "append", "flags", "xdata", "truncate", "aligned", "future", "outcome")

    def __init__(self, fd: Any, payload: Any, offset: int, append: bool, flags: int, xdata: Any,
                 truncate: bool = False, aligned: bool = False) -> None:
        self.fd, self.payload, self.offset, self.append = fd, payload, offset, append
        self.flags, self.xdata, self.truncate, self.aligned = flags, xdata, truncate, aligned
        self.future: glupy.Future | None = None  # set when it waits for another runner
        self.outcome: tuple[Any, BaseException | None] | None = None

    def follows(self, prev: "_Request", total: int) -> bool:
        """Whether this write continues `prev` exactly, so both go in one writev."""
        return (not self.truncate and not prev.truncate and not self.append and not prev.append
                and bool(self.payload) and bool(prev.payload) and self.offset == prev.offset + len(prev.payload)
                and self.flags == prev.flags and self.xdata is None and prev.xdata is None
                and total + len(self.payload) <= MERGE_MAX)


#: what a waiting request is told when it becomes its file's runner
_RUN = ("run", None)


_UNKNOWN, _OK, _MISMATCH, _UNSUPPORTED = "unknown", "ok", "mismatch", "unsupported-format"


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
SIZE_ONLY_FOPS = ("stat", "fstat", "fsync", "rename", "link", "icreate", "namelink", "setxattr", "fsetxattr",
                  "removexattr", "fremovexattr")
#: what crypt keeps in an fd's context: opened with O_APPEND; its file's owner and mode verified (format 3)
_FD_APPEND, _FD_VERIFIED = 1, 2


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


#: where crypt's path down the graph ends: the cluster translator (or, in a hand-made graph of
#: one brick, its protocol/client; storage in the in-process harness)
PATH_ENDS = ("cluster/", "protocol/", "storage/")


def placement_problem(child: Any) -> str:
    """Why crypt may not sit above the translator `child` ('' if it may): a ``performance/*``
    translator anywhere between crypt and the cluster translator below it (every branch,
    down to the first cluster/protocol/storage translator). Its cache would hold
    ciphertext or sizes across crypt's locks (write-behind below crypt would let another
    client read a block between crypt's unlock and the actual write)."""
    seen: set[str] = set()  # by name: unique in a graph (a translator with several parents is walked once)
    todo = [(child, [])]
    while todo:
        x, above = todo.pop()
        if x.name in seen:
            continue
        seen.add(x.name)
        kind = x.type or ""
        path = above + [f"{x.name} ({kind})"]
        if kind.startswith("performance/"):
            return (f"crypt sits above {' -> '.join(path)}; it must sit directly above the cluster translator, "
                    "below every performance translator (glupy attach and glupy mount --with put it there "
                    "unless --after says otherwise)")
        if not kind.startswith(PATH_ENDS):
            todo.extend((c, path) for c in x.children)
    return ""


class Crypt(glupy.Translator):
    """Encrypts file data with AES-256-GCM per 4 KiB block (see the module doc and docs/crypt.md)."""

    key_file = glupy.Option(str, doc="the key file (glupy crypt keygen FILE), mode 0600", reconfigurable=False)
    new_volume_format = glupy.Option(
        int, default=0, choices=(0, FORMAT_V2, FORMAT_V3), reconfigurable=False,
        doc="the format the first mount of a new volume records: 3 (the default, 0: this version's newest) "
            "authenticates owners and modes at a round trip per open and per create, chmod and chown; 2 does not "
            "(for volumes whose clients are not shared by users who do not trust each other). A volume keeps "
            "the format it recorded first")

    read_ahead = glupy.Option(
        glupy.Size, default=glupy.Size(4 << 20), min=0, max=1 << 30,
        doc="on a FUSE mount, the kernel's read-ahead crypt raises the mount's to (0: leave it): more "
            "sequential reads in flight, whose latencies (the bridge's round trip and a decryption each) "
            "overlap; GlusterFS's fuse bridge offers 128KB. Applied at the first read, in KiB")

    read_hold = glupy.Option(
        int, default=128, min=0, max=4096,
        doc="how many of the latest readv replies of more than 128 KiB (the stored form of a 128 KiB read) crypt "
            "keeps after decrypting them (0: none). GlusterFS receives such a reply into an iobuf arena of 8 "
            "buffers of 256 KiB, which it maps when all are taken and unmaps when all are free: without this, "
            "every arena's pages were faulted in again and again (about 160 page faults per MiB read). Each "
            "reply kept holds 132 KB of ciphertext")

    #: directly above dht: every FOP of the volume passes here, and no cache above
    #: the cluster translator ever holds ciphertext sizes or blocks
    placement = "cluster"
    #: never bypassed: attach also guards the bricks against clients without crypt
    bypass_guard = CRYPT_KEY
    #: volume options glupy attach refuses (see notify for what happens if they are set later)
    refused_volume_options = {
        "features.cache-invalidation": "its upcalls carry stored (encrypted) file sizes to the caches above crypt"}

    def init(self) -> None:
        # lock owners of this client's own: this prefix and a number per lock taken
        self._lk_owner = b"glupy-crypt:" + uuid.uuid4().bytes
        self._lock_numbers = itertools.count(1)
        if len(self.children) != 1:
            raise TranslatorLoadError("crypt needs exactly one child (the volume's cluster translator)")
        problem = placement_problem(self.children[0].xlator)
        if problem:
            raise TranslatorLoadError(problem)
        # data FOPs carry the guard's key: the bricks refuse those of clients without crypt
        self.child = self.children[0] = MarkedChild(self.child, CRYPT_KEY)
        # key material only in bytearrays, wiped as soon as the next step has it: the master
        # key once the data key is derived, the data key once the codecs hold what they need
        master = read_key_file(self.key_file)
        try:
            data_key, self._check = derive_keys(master)
            self._attr_key = derive_attr_key(master)
        finally:
            wipe(master)
        try:
            # one codec per format; the volume root's record chooses (_check_volume)
            self._codecs = {version: BlockCodec(data_key, version) for version in FORMATS}
        finally:
            wipe(data_key)
        self._codec: BlockCodec | None = None
        self._root: Any = None  # the root inode, to read the record again if a data FOP comes first
        self.fingerprint = self._check.hex()
        self._volume = _UNKNOWN
        self._volume_fingerprint = ""
        self._attrs = False  # format 3: owners and modes of regular files authenticated
        # while the record cannot be read: when to try again, whether a check is in flight,
        # and the error logged (one line per change of error, not per FOP)
        self._next_check = 0.0
        self._checking = False
        self._check_error = ""
        self.stats = {"blocks-encrypted": 0, "blocks-decrypted": 0, "holes-read": 0, "auth-failures": 0,
                      "read-retries": 0, "writes-shared": 0, "writes-exclusive": 0, "refused": 0,
                      "upcalls-replaced": 0, "writes-merged": 0, "runs-under-kept-lock": 0, "locks-given-back": 0,
                      "attrs-signed": 0, "attrs-refused": 0}
        self._upcall_logged = False
        # the runners of this client's exclusive writes (see _serve): their queues and what
        # they hold live in each file's FileCipher; this guards the hand-overs between workers
        self._mutex = threading.Lock()
        # bumped when a subvolume goes down: locks held since then may be gone on some brick
        self._generation = 0
        self._holding: dict[Any, FileCipher] = {}  # gfid -> cipher, while its runner holds the lock
        self._read_ahead_due = self.read_ahead > 0  # raised at the first read: the mount is up by then
        # the latest big readv replies (ciphertext), kept referenced (option read-hold; see READ_POOLED)
        self._held: collections.deque[Any] = collections.deque(maxlen=self.read_hold)
        self.log.info("crypt: key from %s (fingerprint %s); blocks sealed %s", self.key_file, self.fingerprint,
                      "a run per call (glupy._aead)" if _RunKey is not None
                      else "one by one through cryptography (glupy._aead is not built: make build)")

    def fini(self) -> None:
        self._held.clear()
        for codec in self._codecs.values():
            codec.wipe()
        wipe(self._attr_key)

    def reconfigure(self, changed: Any) -> None:
        if "read-ahead" in changed:  # applied at the next read (raised, never lowered: see glupy.fuse)
            self._read_ahead_due = self.read_ahead > 0
        if "read-hold" in changed:
            self._held = collections.deque(self._held, maxlen=self.read_hold)

    def migrate(self, old: Any) -> None:
        """glupy reload: keep the volume root's inode, so that the record is read again on the
        next data FOP (a new instance that never saw a lookup of the root would refuse file
        data until one came). The verdict itself is not carried over: it is read again."""
        self._root = getattr(old, "_root", None)

    def notify(self, event: Any, source: Any) -> Any:
        """Upcalls (features.cache-invalidation on the volume, which glupy attach refuses):
        a cache invalidation carries the inode's iatt as the bricks see it, with the stored
        size, and md-cache above would cache that size as the file's. crypt cannot rewrite the
        upcall, so one about a regular file (or one it cannot read) is replaced by
        SOME_DESCENDENT_DOWN: md-cache, quick-read and nl-cache above then take everything they
        cached before as stale and ask again, through crypt (plaintext sizes). One error line
        per process. Upcalls about directories and symlinks, lease recalls and lock
        contention carry no file size and pass unchanged; every other event too."""
        if event != Event.UPCALL:
            if event in (Event.CHILD_DOWN, Event.SOME_DESCENDENT_DOWN, Event.CHILD_CONNECTING, Event.PARENT_DOWN):
                # a brick went away: a lock a runner keeps may be gone there; runners take it again
                self._generation += 1
            return None
        if isinstance(source, glupy.Upcall) and source.kind == UpcallKind.INODELK_CONTENTION:
            held = self._holding.get(source.gfid)
            if held is not None:
                held.contended = True  # another client waits for the lock this client keeps
            return None
        if isinstance(source, glupy.Upcall) and (
                source.kind != UpcallKind.CACHE_INVALIDATION
                or getattr(source.stat, "type", FileType.INVAL) not in (FileType.INVAL, FileType.REG)):
            return None
        self.stats["upcalls-replaced"] += 1
        if not self._upcall_logged:
            self._upcall_logged = True
            self.log.error("crypt: an upcall reached crypt: features.cache-invalidation is on for this volume, and its "
                           "notifications carry stored (encrypted) sizes; crypt replaces each one about a file by a "
                           "flush of the caches above it. Turn it off: gluster volume set VOLUME "
                           "features.cache-invalidation off (see docs/crypt.md)")
        return Event.SOME_DESCENDENT_DOWN

    def _record(self, version: int) -> bytes:
        return f"glupy-crypt-v{version}:{self._check.hex()}".encode()

    def statedump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key-fingerprint": self.fingerprint, "volume-key": self._volume,
                               "format": self._codec.version if self._codec is not None else "unknown",
                               "attributes": "authenticated" if self._attrs else "not authenticated",
                               "file-keys-derived": sum(c.files_keyed for c in self._codecs.values()),
                               "read-replies-held": len(self._held)}
        out.update(self.stats)
        return out

    # ------------------------------------------------------------ helpers

    def _refuse(self, err: int, what: str) -> glupy.FopError:
        self.stats["refused"] += 1
        return glupy.FopError(err, f"crypt: {what} is not supported on encrypted files")

    def _may_check(self) -> bool:
        """Whether to read the volume record now: not known yet, no check in flight, and the
        last failed check at least RECHECK_INTERVAL ago (a volume whose bricks cannot answer
        costs one getxattr a second, not one per FOP)."""
        return self._volume == _UNKNOWN and not self._checking and _clock() >= self._next_check

    async def _settle(self) -> None:
        """Before a data FOP (and anything else that changes file data) while the volume's
        format is not known: read the volume root's record again (at most once per
        RECHECK_INTERVAL); EIO until the key is verified as the volume's and the format known.
        Fails closed: a check that errors (ENOTCONN, EPERM, ...) leaves every data FOP refused."""
        if self._root is not None and self._may_check():
            await self._check_volume(glupy.Loc(path="/", inode=self._root))
        if self._volume == _MISMATCH:
            raise glupy.FopError(errno.EIO, "crypt: this mount's key is not the volume's key")
        if self._codec is None:
            raise glupy.FopError(errno.EIO, "crypt: the volume's crypt record cannot be read or is of an "
                                 "unknown format")

    def _raise_read_ahead(self) -> None:
        """The read-ahead option, on the FUSE mount this process serves (glupy.fuse); a line
        in the log either way, nothing where the process serves no mount (gfapi)."""
        kib = self.read_ahead // 1024
        try:
            done = raise_read_ahead(kib)
        except (OSError, ValueError) as e:
            self.log.warning("crypt: could not raise the mount's read-ahead to %d KiB: %s", kib, e)
            return
        if done is not None:
            point, before, after = done
            self.log.info("crypt: the kernel's read-ahead of %s: %d KiB (was %d; option read-ahead)",
                          point, after, before)

    def _file(self, inode: Any) -> FileCipher:
        """The file's cipher, kept in its inode context: format 2 derives a file's key once,
        not per FOP (the context goes when GlusterFS forgets the inode)."""
        if inode is None:
            raise glupy.FopError(errno.EIO, "crypt: a file without an inode")
        cipher = self.inode_ctx(inode)
        if cipher.__class__ is not FileCipher:  # none yet (or one of a module before a reload)
            cipher = self._codec.file(_gfid_bytes(inode))
            self.set_inode_ctx(inode, cipher)
        return cipher

    def _decrypt(self, cipher: FileCipher, first: int, stored: Any, last: int) -> bytes:
        plain, holes = cipher.decrypt(first, stored, last)
        self.stats["blocks-decrypted"] += -(-len(stored) // CBLOCK) - holes
        self.stats["holes-read"] += holes
        return plain

    def _encrypt(self, cipher: FileCipher, first: int, plaintext: bytes, last: int) -> bytes:
        self.stats["blocks-encrypted"] += -(-len(plaintext) // BLOCK)
        return cipher.encrypt(first, plaintext, last)

    def _corrupt(self, inode: Any, error: CorruptBlock) -> glupy.FopError:
        self.stats["auth-failures"] += 1
        self.log.error("crypt: file gfid %s, block %d (bytes %d-%d) failed authentication: modified, truncated "
                       "or extended on a brick, or written with another key; answering EIO",
                       getattr(inode, "gfid", None), error.index, error.index * BLOCK, (error.index + 1) * BLOCK - 1)
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

    async def _read_blocks(self, fd: Any, cipher: FileCipher, indexes: Iterable[int], last: int,
                           raw: dict[int, Any] | None = None) -> dict[int, bytes]:
        """Plaintext of the given existing blocks (lock held); `last` is the index of the
        file's last block, `raw` stored blocks already read."""
        have = raw or {}
        wanted = sorted(set(indexes) - have.keys())
        replies = await glupy.gather(*(self.child.readv(fd, CBLOCK, i * CBLOCK, 0, None) for i in wanted)) \
            if wanted else []
        stored = dict(have)
        stored.update(zip(wanted, (reply.data for reply in replies)))
        out = {}
        for i in set(indexes):
            try:
                out[i] = self._decrypt(cipher, i, stored[i], last)
            except CorruptBlock as error:
                raise self._corrupt(fd.inode, error) from None
        return out

    # ------------------------------------------------------------ the volume record

    async def _check_volume(self, loc: Any) -> None:
        """Compare this key with the one the volume root records and take the volume's
        format from the record; record this key and the new format if there is none."""
        self._root = loc.inode
        self._checking = True
        try:
            failed = await self._read_record(loc)
        finally:
            self._checking = False
        if failed:
            self._next_check = _clock() + RECHECK_INTERVAL
            if failed != self._check_error:
                self._check_error = failed
                self.log.error("crypt: %s: file data is refused (EIO) until this key is verified as the volume's "
                               "(retried at most every %g s, when file data is asked for)", failed, RECHECK_INTERVAL)
        elif self._check_error:
            self._check_error = ""
            self.log.info("crypt: the volume's key check could be read again")

    async def _read_record(self, loc: Any) -> str:
        """Read (or make) the record; '' when done, else why it could not be read."""
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
                    return f"cannot read the volume's key check ({errno.errorcode.get(e.errno, e.errno)})"
            if found is not None:
                self._take_record(found)
                return ""
            try:
                record = self._record(self.new_volume_format or NEW_FORMAT)
                await child.setxattr(loc, glupy.Xdata({KEYCHECK_XATTR: record}), XATTR_CREATE, None)
            except glupy.FopError as e:
                if e.errno == errno.EEXIST:
                    continue  # another client recorded its key first: compare with it
                return f"cannot record the volume's key check ({errno.errorcode.get(e.errno, e.errno)})"
            self._take_record(record)
            self.log.info("crypt: recorded this key's fingerprint and crypt format %d on the volume root",
                          self.new_volume_format or NEW_FORMAT)
            return ""
        return "the volume's key check keeps changing"

    def _take_record(self, found: bytes) -> None:
        prefix, _, fingerprint = found.partition(b":")
        fingerprint_text = fingerprint.decode("ascii", "replace")
        version = {f"glupy-crypt-v{v}".encode(): v for v in FORMATS}.get(prefix)
        if fingerprint_text != self.fingerprint:
            self._volume = _MISMATCH
            self._volume_fingerprint = fingerprint_text
            self.log.error("crypt: the key in %s (fingerprint %s) is not this volume's key (fingerprint "
                           "%s): reads and writes of file data answer EIO", self.key_file,
                           self.fingerprint, self._volume_fingerprint)
        elif version is None:
            self._volume = _UNSUPPORTED
            self.log.error("crypt: the volume root records crypt format %r, which this version does not know: "
                           "reads and writes of file data answer EIO", prefix.decode("ascii", "replace"))
        else:
            self._volume = _OK
            self._codec = self._codecs[version]
            self._attrs = version >= FORMAT_V3
            if version not in (NEW_FORMAT, self.new_volume_format):
                self.log.info("crypt: the volume uses crypt format %d (see docs/crypt.md: a volume keeps its "
                              "format; copy to a new volume to get format %d)", version, NEW_FORMAT)

    # ------------------------------------------------------------ entries and attributes

    async def lookup(self, loc, xdata):
        if xdata is not None and CONTENT_KEY in xdata:
            del xdata[CONTENT_KEY]
        reply = await self.child.lookup(loc, xdata)
        buf = reply.buf
        if buf is not None:
            if buf.type == FileType.REG:
                buf.size = plain_size(buf.size)
            elif buf.gfid == ROOT_GFID and self._may_check():
                inode = loc.inode if loc.inode is not None else reply.inode
                if inode is not None:
                    await self._check_volume(glupy.Loc(path="/", inode=inode))
        if reply.xdata is not None and CONTENT_KEY in reply.xdata:
            del reply.xdata[CONTENT_KEY]
        return reply

    async def readdirp(self, fd, size, offset, xdata):
        if xdata is not None and CONTENT_KEY in xdata:
            del xdata[CONTENT_KEY]
        reply = await self.child.readdirp(fd, size, offset, xdata)
        for entry in reply.entries:
            plain_iatt(entry.stat)
            if entry.xdata is not None and CONTENT_KEY in entry.xdata:
                del entry.xdata[CONTENT_KEY]  # the stored bytes, as lookup strips them
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
        if flags & os.O_TRUNC and (loc.inode is None or loc.inode.type != FileType.DIR):
            await self._settle()  # emptying a file is a write: only with the volume's key
        verified = 0
        if self._attrs and (loc.inode is None or loc.inode.type in (FileType.REG, FileType.INVAL)):
            # format 3: EACCES if the owner or mode changed on a brick. An open that changes
            # nothing goes out at the same time as the check (no plaintext leaves before both
            # answered; a refused open's fd is released by its caller); one that may change the
            # file (O_TRUNC, or opened for writing) waits for the check
            verified = _FD_VERIFIED
            if flags & (os.O_TRUNC | os.O_ACCMODE) == os.O_RDONLY:
                reply, _ = await glupy.gather(self.child.open(loc, self._open_flags(flags), fd, xdata),
                                              self._verify_attrs(loc, "open"))
            else:
                await self._verify_attrs(loc, "open")
                reply = await self.child.open(loc, self._open_flags(flags), fd, xdata)
        else:
            reply = await self.child.open(loc, self._open_flags(flags), fd, xdata)
        if flags & os.O_APPEND or verified:
            self.set_fd_ctx(fd, (_FD_APPEND if flags & os.O_APPEND else 0) | verified)
        return reply

    async def create(self, loc, flags, mode, umask, fd, xdata):
        if flags & os.O_TRUNC:
            await self._settle()  # a create that finds the file (another client made it) empties it
        elif self._volume == _UNKNOWN:
            await self._try_settle()  # format 3 signs the new file: the format must be known
        reply = await self.child.create(loc, self._open_flags(flags), mode, umask, fd, xdata)
        verified = 0
        if self._attrs and reply.buf is not None and reply.buf.type == FileType.REG:
            await self._sign_new(reply.buf, fd, None, loc, "create")
            verified = _FD_VERIFIED
        if flags & os.O_APPEND or verified:
            self.set_fd_ctx(fd, (_FD_APPEND if flags & os.O_APPEND else 0) | verified)
        plain_iatt(reply.buf)
        return reply

    async def mknod(self, loc, mode, rdev, umask, xdata):
        if self._volume == _UNKNOWN:
            await self._try_settle()
        reply = await self.child.mknod(loc, mode, rdev, umask, xdata)
        if self._attrs and reply.buf is not None and reply.buf.type == FileType.REG:
            where = glupy.Loc(path=loc.path, inode=loc.inode, parent=loc.parent, gfid=reply.buf.gfid,
                              pargfid=loc.pargfid, name=loc.name)
            await self._sign_new(reply.buf, None, where, where, "mknod")
        plain_iatt(reply.buf)
        _plain_xdata(reply.xdata)
        return reply

    async def setattr(self, loc, stbuf, valid, xdata):
        check = await self._attrs_before_change(loc, loc.inode, valid, "setattr")
        reply = await self.child.setattr(loc, stbuf, valid, xdata)
        if check is not None:
            fd = glupy.Fd.anonymous_for(loc.inode) if loc.inode is not None and loc.inode.gfid is not None else None
            await self._sign_changed(check, reply.statpre, reply.statpost, fd, loc)
        plain_iatt(reply.statpre)
        plain_iatt(reply.statpost)
        _plain_xdata(reply.xdata)
        return reply

    async def fsetattr(self, fd, stbuf, valid, xdata):
        check = await self._attrs_before_change(glupy.Loc(inode=fd.inode), fd.inode, valid, "fsetattr")
        reply = await self.child.fsetattr(fd, stbuf, valid, xdata)
        if check is not None:
            await self._sign_changed(check, reply.statpre, reply.statpost, fd, None)
        plain_iatt(reply.statpre)
        plain_iatt(reply.statpost)
        _plain_xdata(reply.xdata)
        return reply

    # ------------------------------------------------------------ owners and modes (format 3)

    async def _try_settle(self) -> None:
        """Read the volume record if it is not known yet (at most once per RECHECK_INTERVAL);
        errors are not this FOP's (it needs no file data)."""
        try:
            await self._settle()
        except glupy.FopError:
            pass

    def _attr_mac(self, gfid: Any, ia: Any) -> bytes:
        return attr_mac(self._attr_key, gfid.bytes, ia.uid, ia.gid, ia.mode)

    async def _verify_attrs(self, loc: Any, what: str, caller_may_resign: bool = False) -> Any:
        """Format 3: the file's current iatt, after checking its owner, group and mode against
        their MAC (one lookup, asking the bricks for ATTR_XATTR with it). EACCES, logged, when the
        MAC is missing or does not match: they were changed on a brick (or by a client without
        crypt), so the permission checks made with them cannot be trusted. Not a regular file:
        its iatt, unchecked. With `caller_may_resign` (root changing the attributes: the way
        to repair a file), a mismatch is logged and the iatt returned."""
        if loc.gfid is None and loc.inode is not None and loc.inode.gfid is not None:
            loc = glupy.Loc(path=loc.path, inode=loc.inode, parent=loc.parent, gfid=loc.inode.gfid,
                            pargfid=loc.pargfid, name=loc.name)
        reply = await self.child.lookup(loc, glupy.Xdata({ATTR_XATTR: b"1"}))
        ia = reply.buf
        if ia is None or ia.type != FileType.REG:
            return ia
        gfid = loc.inode.gfid if loc.inode is not None and loc.inode.gfid is not None else ia.gfid
        found = reply.xdata[ATTR_XATTR] if reply.xdata is not None and ATTR_XATTR in reply.xdata else None
        if isinstance(found, str):
            found = found.encode()
        found = bytes(found).rstrip(b"\0") if found is not None else None
        if found is not None and hmac.compare_digest(found, self._attr_mac(gfid, ia)):
            return ia
        self.stats["attrs-refused"] += 1
        problem = "have no MAC" if found is None else "do not match their MAC"
        if caller_may_resign:
            self.log.warning("crypt: file gfid %s: owner %d, group %d and mode %o %s; root's %s signs them again",
                             gfid, ia.uid, ia.gid, ia.mode, problem, what)
            return ia
        self.log.error("crypt: file gfid %s: owner %d, group %d and mode %o %s: changed on a brick, or by a "
                       "client without crypt; answering EACCES to %s (root's chmod or chown of the file signs "
                       "its attributes again)", gfid, ia.uid, ia.gid, ia.mode, problem, what)
        raise glupy.FopError(errno.EACCES, "crypt: the file's owner or mode failed authentication")

    async def _sign(self, ia: Any, fd: Any, loc: Any, flags: int) -> None:
        """Store the MAC of `ia` (the bricks' reply after the change) in ATTR_XATTR: by fd when
        there is one (the bricks' access control asks a path setxattr for write permission, so
        an owner who made the file read-only could not sign it), else by path."""
        gfid = ia.gfid
        value = glupy.Xdata({ATTR_XATTR: self._attr_mac(gfid, ia)})
        if fd is not None:
            await self.child.fsetxattr(fd, value, flags, None)
        else:
            await self.child.setxattr(loc, value, flags, None)
        self.stats["attrs-signed"] += 1

    async def _sign_new(self, ia: Any, fd: Any, loc: Any, check_loc: Any, what: str) -> None:
        """A file this FOP created: sign its attributes, only if it has no MAC yet (a create that
        found the file, made meanwhile by another client, must not sign what the bricks say)."""
        try:
            await self._sign(ia, fd, loc, XATTR_CREATE)
        except glupy.FopError as e:
            if e.errno != errno.EEXIST:
                self.log.error("crypt: cannot sign the owner and mode of new file gfid %s (%s): it will be "
                               "refused until root's chmod signs it", ia.gfid, errno.errorcode.get(e.errno, e.errno))
                raise
            await self._verify_attrs(check_loc, what)  # it existed: is it authentic?

    async def _attrs_before_change(self, loc: Any, inode: Any, valid: int, what: str) -> Any:
        """Format 3, a setattr that changes owner, group or mode of a regular file (or of a file
        of unknown type): its authenticated iatt before the change, else None."""
        if not self._attrs or not valid & ATTR_BITS or (inode is not None and inode.type not in (
                FileType.REG, FileType.INVAL)):
            return None
        ia = await self._verify_attrs(loc, what, caller_may_resign=self.caller.uid == 0)
        return ia if ia is not None and ia.type == FileType.REG else None

    async def _sign_changed(self, before: Any, pre: Any, post: Any, fd: Any, loc: Any) -> None:
        """After a setattr of owner, group or mode: sign the new attributes, if the bricks' own
        pre-change iatt is the one verified before (else something changed them in between:
        nothing is signed, EIO)."""
        if post is None or post.type != FileType.REG:
            return
        if pre is None or (pre.uid, pre.gid, pre.mode) != (before.uid, before.gid, before.mode):
            self.log.error("crypt: file gfid %s changed owner or mode between crypt's check and its setattr: "
                           "its new attributes are not signed (it will be refused until root's chmod signs it)",
                           post.gfid)
            raise glupy.FopError(errno.EIO, "crypt: attributes changed during setattr")
        await self._sign(post, fd, loc, 0)

    # ------------------------------------------------------------ data

    async def _last_block(self, fd: Any, cipher: FileCipher, buf: Any) -> int:
        """The index of the file's last block (-1: empty) from a reply's iatt (stored size),
        for format 2's "last" flag (format 1: -1, nothing asked). Notes the size hint."""
        if buf is None:
            if not self._codec.flags:
                return -1
            buf = (await self.child.fstat(fd, None)).buf
        size = cipher.size = plain_size(buf.size)
        return (size - 1) // BLOCK

    async def readv(self, fd, size, offset, flags, xdata):
        if self._codec is None:
            await self._settle()
        if self._read_ahead_due:
            self._read_ahead_due = False
            await glupy.to_thread(self._raise_read_ahead)
        if offset < 0:
            raise glupy.FopError(errno.EINVAL)
        if self._attrs and not (self.fd_ctx(fd) or 0) & _FD_VERIFIED:
            # format 3: an fd whose open crypt did not check (opened before the format was known;
            # an anonymous fd of a translator above, checked at every read: it is any caller's)
            await self._verify_attrs(glupy.Loc(inode=fd.inode), "read")
            if not fd.anonymous:
                self.set_fd_ctx(fd, (self.fd_ctx(fd) or 0) | _FD_VERIFIED)
        cipher = self._file(fd.inode)
        first = offset // BLOCK
        count = (offset + size - 1) // BLOCK - first + 1 if size > 0 else 0
        reply = await self.child.readv(fd, count * CBLOCK, first * CBLOCK, flags, xdata)
        buf = reply.buf
        if buf is not None:  # (as _last_block, without a coroutine: nearly every readv)
            cipher.size = size_hint = plain_size(buf.size)
            last = (size_hint - 1) // BLOCK
        else:
            last = await self._last_block(fd, cipher, None)
        data = reply.data
        try:
            plain = self._decrypt(cipher, first, data, last)
            if len(data) > READ_POOLED:
                self._held.append(data)  # (a deque of maxlen 0 keeps nothing)
        except CorruptBlock:
            # a write of another client may have been half-way: read again under the lock
            self.stats["read-retries"] += 1
            loc = await self._lock(fd)
            try:
                reply = await self.child.readv(fd, count * CBLOCK, first * CBLOCK, flags, xdata)
                try:
                    plain = self._decrypt(cipher, first, reply.data, await self._last_block(fd, cipher, reply.buf))
                except CorruptBlock as error:
                    raise self._corrupt(fd.inode, error) from None
            finally:
                await self._unlock(fd, loc)
        start = offset - first * BLOCK
        if start or len(plain) > size:
            plain = memoryview(plain)[start:start + size]  # (the bridge copies it once, into an iobuf)
        return glupy.ReadvReply(data=plain, buf=plain_iatt(reply.buf), xdata=reply.xdata)

    async def writev(self, fd, data, offset, flags, xdata):
        if self._codec is None:
            await self._settle()
        cipher = self._file(fd.inode)
        append = bool((self.fd_ctx(fd) or 0) & _FD_APPEND) or bool(fd.flags & os.O_APPEND)
        if offset < 0 and not append:
            raise glupy.FopError(errno.EINVAL)
        payload = memoryview(data)  # (the request's own buffer: no copy)
        # whole blocks at a block boundary inside the file (by the size hint) need no
        # read-modify-write: a shared lock, unless the write turns out to move the file's last
        # block (format 1: the partial last block lies before them and must be padded; format 2:
        # the write extends the file, so the last block's flag changes), then exclusive. A
        # write the hint says extends the file (sequential writing) goes exclusive at once.
        aligned = not append and offset % BLOCK == 0 and len(payload) % BLOCK == 0
        end, hint = offset + len(payload), cipher.size
        shared = aligned and hint is not None and end <= hint
        if shared and payload:
            # whole blocks are encrypted before the lock is taken (writes in flight overlap their
            # encryption with the lock holder's round trips), sealed for the last block the size
            # hint predicts; _write_locked encrypts again only if the prediction was wrong
            predicted = (end - 1) // BLOCK if hint is None or end >= hint else (hint - 1) // BLOCK
            sealed = predicted, self._encrypt(cipher, offset // BLOCK, payload, predicted)
            loc = await self._lock(fd, True)
            try:
                reply = await self._write_locked(fd, cipher, payload, offset, append, flags, xdata, True, sealed)
            finally:
                await self._unlock(fd, loc, True)
            if reply is not None:
                self.stats["writes-shared"] += 1
                return reply
        # everything else takes the lock exclusive, through the file's runner (_serve), which
        # merges the contiguous writes queued meanwhile into one writev and seals them (one
        # thread sealing: each AES-GCM call lets the GIL go, and several threads sealing at
        # once would hand it to each other at every block)
        return await self._submit(cipher, _Request(fd, payload, offset, append, flags, xdata, aligned=aligned))

    # ------------------------------------------------------------ exclusive writes: one runner per file

    async def _submit(self, cipher: FileCipher, request: _Request) -> Any:
        """Run `request` under the file's exclusive lock: at once if no runner is at work on
        the file on this client (this handler becomes it), else queued for the runner, which
        answers it or hands its role over to it."""
        with self._mutex:
            cipher.queue.append(request)
            if cipher.runner is None:
                cipher.runner = request
            else:
                request.future = glupy.Future()
        if request.future is not None:
            outcome = await request.future  # holds no thread while the runner works
            if outcome is not _RUN:
                value, error = outcome
                if error is not None:
                    raise error
                return value
        return await self._serve(cipher, request)

    def _must_give_back(self, cipher: FileCipher) -> bool:
        held = cipher.held
        return held is not None and (cipher.contended or held[2] != self._generation
                                     or _clock() - held[3] > HOLD_MAX)

    async def _serve(self, cipher: FileCipher, me: _Request) -> Any:
        """The file's runner: takes every request queued (its own among them), runs them under
        one exclusive lock (contiguous writes merged), answers each; then, its own request
        answered, hands the role (and the lock, still held) to the first request queued
        meanwhile, or gives the lock back when none is. While the lock is held the runner
        knows the file's exact size and last block (nobody else can change them), so a
        queued write costs no fstat or read of the old last block: one writev. The lock goes
        back when the queue is empty, after HOLD_MAX seconds, when another client waits for
        it (a contention upcall) and when a subvolume went down."""
        try:
            started = _clock()
            while True:
                # its own request answered, the runner goes on while requests keep coming (handing
                # the role over costs a wake-up of another handler in the way of the next writev),
                # but answers its own within RUNNER_MAX seconds
                with self._mutex:
                    if me.outcome is not None and (not cipher.queue or _clock() - started > RUNNER_MAX):
                        break
                    batch, cipher.queue = cipher.queue, []
                await self._run_batch(cipher, batch, me)
            self._answer(cipher)
            while True:
                with self._mutex:
                    if cipher.queue and not self._must_give_back(cipher):
                        successor = cipher.runner = cipher.queue[0]
                        successor.future.set_result(_RUN)
                        break
                    if not cipher.queue and cipher.held is None:
                        cipher.runner = None
                        break
                await self._give_back(cipher)
        except BaseException:
            # (a handler abandoned at its deadline): the next request runs, lock or not
            self._answer(cipher)
            with self._mutex:
                cipher.held = cipher.known = None
                successor = cipher.runner = cipher.queue[0] if cipher.queue else None
                if successor is not None:
                    successor.future.set_result(_RUN)
            raise
        value, error = me.outcome
        if error is not None:
            raise error
        return value

    async def _give_back(self, cipher: FileCipher) -> None:
        held, cipher.held, cipher.known, cipher.contended = cipher.held, None, None, False
        if held is not None:
            loc, owner = held[0], held[1]
            self._holding.pop(loc.inode.gfid, None)
            self.stats["locks-given-back"] += 1
            await self._unlock(glupy.Fd.anonymous_for(loc.inode), (loc, owner))

    async def _run_batch(self, cipher: FileCipher, batch: list[_Request], me: _Request) -> None:
        runs: list[list[_Request]] = []
        total = 0
        for request in batch:
            if runs and request.follows(runs[-1][-1], total):
                runs[-1].append(request)
                total += len(request.payload)
            else:
                runs.append([request])
                total = len(request.payload)
        for run in runs:
            try:
                values = await self._run(cipher, run)
                outcomes = [(value, None) for value in values]
            except Exception as error:  # noqa: BLE001 - each request of the run answers it
                outcomes = [(None, error)] * len(run)
                try:
                    await self._give_back(cipher)  # what the file holds is not known any more
                except Exception:  # noqa: BLE001
                    pass
            for request, outcome in zip(run, outcomes):
                request.outcome = outcome
                if request is not me:
                    cipher.unanswered.append(request)

    def _answer(self, cipher: FileCipher) -> None:
        """Tell the requests done that they are: called by the runner just before it waits
        (for its next writev, or at the end), so that their handlers resume while it waits
        rather than while it seals the next blocks."""
        done, cipher.unanswered = cipher.unanswered, []
        for request in done:
            request.future.set_result(request.outcome)

    async def _run(self, cipher: FileCipher, run: list[_Request]) -> list[Any]:
        """Run contiguous writes (or one truncate) under the exclusive lock; their answers."""
        first = run[0]
        if cipher.held is not None and self._must_give_back(cipher):
            await self._give_back(cipher)
        if cipher.held is None:
            loc, owner = await self._lock(first.fd)
            cipher.held, cipher.known, cipher.contended = (loc, owner, self._generation, _clock()), None, False
            self._holding[first.fd.inode.gfid] = cipher
        else:
            self.stats["runs-under-kept-lock"] += 1
        if first.truncate:
            try:
                done = await self._truncate_locked(first.fd, first.offset, first.xdata)
            except BaseException:
                cipher.known = None
                raise
            cipher.known = (first.offset, None)
            return [done]
        parts: list[_Request] | None = run
        if not all(r.aligned for r in run):
            parts = None
        payload = first.payload if len(run) == 1 else b"" if parts is not None else b"".join(r.payload for r in run)
        self.stats["writes-merged"] += len(run) - 1
        try:
            reply = await self._write_locked(first.fd, cipher, payload, first.offset, first.append, first.flags,
                                             first.xdata, parts=parts)
        except BaseException:
            cipher.known = None
            raise
        self.stats["writes-exclusive"] += len(run)
        if len(run) == 1:
            return [reply]
        return [glupy.WritevReply(prebuf=reply.prebuf, postbuf=reply.postbuf, xdata=reply.xdata,
                                  op_ret=len(r.payload)) for r in run]

    def _plan(self, old_size: int, offset: int, n: int, append: bool) -> tuple[int, set[int], int]:
        """(offset, blocks to read, block to re-seal or -1) of writing n > 0 bytes at offset
        into a file of old_size plaintext bytes. The block to re-seal is the old last block
        when the write starts in a later block: format 1 pads it if it is partial (it stops
        being the last block: it must be full); format 2 always re-seals it "not last"."""
        if append:
            offset = old_size
        end = offset + n
        first, last = offset // BLOCK, (end - 1) // BLOCK
        need = set()
        if first * BLOCK < old_size and (offset % BLOCK or (first == last and end < min(old_size, (first + 1) * BLOCK))):
            need.add(first)
        if last != first and last * BLOCK < old_size and end < min(old_size, (last + 1) * BLOCK):
            need.add(last)
        if self._codec.flags:
            reseal = (old_size - 1) // BLOCK if old_size else -1
            if reseal >= first:
                reseal = -1
        else:
            tail_block, tail_len = divmod(old_size, BLOCK)
            reseal = tail_block if tail_len and tail_block < first else -1
        if reseal >= 0:
            need.add(reseal)
        return offset, need, reseal

    async def _write_locked(self, fd, cipher: FileCipher, payload: bytes, offset: int, append: bool, flags: int,
                            xdata, shared: bool = False, sealed: tuple[int, bytes] | None = None,
                            parts: list[_Request] | None = None):
        """Write under the lock; None if the shared lock is not enough (retry exclusive).
        `sealed`: (last block index assumed, stored form) of an aligned payload encrypted already;
        `parts`: the aligned contiguous writes the payload joins (sealed one after the other,
        not joined). Exclusive (the runner's): when cipher.known holds what the runner
        learnt under the lock it still holds (the exact size, the last block's plaintext),
        no fstat and no read of that block; cipher.known is updated for the next write."""
        n = len(payload) if parts is None else sum(len(part.payload) for part in parts)
        pre = None
        raw: dict[int, Any] = {}
        known = None if shared else cipher.known
        have: dict[int, bytes] = {}
        if known is not None:
            old_size = known[0]
            if known[1] is not None and old_size:
                have[(old_size - 1) // BLOCK] = known[1]
        else:
            hint = cipher.size
            if not shared and n and hint:
                # read the blocks the size hint says the write needs at once: their replies carry
                # the file's iatt, so when the hint is right no fstat round trip is needed (and the
                # blocks read are the current ones at their positions, right or wrong hint)
                guess = sorted(self._plan(hint, offset, n, append)[1])
                if guess:
                    replies = await glupy.gather(*(self.child.readv(fd, CBLOCK, i * CBLOCK, 0, None) for i in guess))
                    pre = replies[0].buf
                    raw = {i: reply.data for i, reply in zip(guess, replies)}
            if pre is None:
                pre = (await self.child.fstat(fd, None)).buf
            old_size = plain_size(pre.size)
        cipher.size = old_size
        if n == 0:
            if pre is None:
                pre = (await self.child.fstat(fd, None)).buf
            post = (await self.child.fstat(fd, None)).buf
            return glupy.WritevReply(prebuf=plain_iatt(pre), postbuf=plain_iatt(post), op_ret=0)
        offset, need, reseal = self._plan(old_size, offset, n, append)
        end = offset + n
        if shared and (reseal >= 0 or (self._codec.flags and end > old_size)):
            return None
        first, last = offset // BLOCK, (end - 1) // BLOCK
        new_size = max(old_size, end)
        new_last = (new_size - 1) // BLOCK
        old_last = (old_size - 1) // BLOCK
        old = {i: have[i] for i in need if i in have}
        if len(old) < len(need):
            old.update(await self._read_blocks(fd, cipher, need - old.keys(), old_last, raw))

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
        written = head + payload + tail if head or tail else payload  # plaintext of blocks first..last
        at = first * CBLOCK
        resealed = b""
        first_reply = None
        padded = None
        if reseal >= 0:
            block = old[reseal]
            padded = block + bytes(BLOCK - len(block))
            if reseal + 1 != first:
                resealed = self._encrypt(cipher, reseal, padded, new_last)
                padded = None
                if not self._codec.flags:
                    # format 1: pad first; if the write then fails, the file is only longer by zeros
                    if not shared:
                        self._answer(cipher)
                    first_reply = await self._write_all(fd, resealed, reseal * CBLOCK, flags, None)
                    resealed = b""
        if sealed is not None and not head and not tail and (sealed[0] == new_last or not self._codec.flags):
            stored = sealed[1]
        else:
            # one buffer for the whole stored range (the re-sealed block before the data when
            # adjacent), every block sealed straight into it
            stored = bytearray((CBLOCK if padded is not None else 0) + cipher_size(n if parts else len(written)))
            view = memoryview(stored)
            pos = 0
            if padded is not None:
                pos = cipher.seal_into(view, 0, reseal, padded, new_last)
                at = reseal * CBLOCK
            if parts is not None and not head and not tail:
                for part in parts:
                    pos = cipher.seal_into(view, pos, part.offset // BLOCK, part.payload, new_last)
            else:
                pos = cipher.seal_into(view, pos, first, written, new_last)
            self.stats["blocks-encrypted"] += (1 if padded is not None else 0) + (
                n // BLOCK if parts is not None and not head and not tail else -(-len(written) // BLOCK))
        if not shared:
            self._answer(cipher)
        reply = await self._write_all(fd, stored, at, flags, xdata)
        if resealed:
            # format 2: the new data first; if it fails (ENOSPC), the old last block is untouched
            await self._write_all(fd, resealed, reseal * CBLOCK, flags, None)
        cipher.size = new_size
        if not shared:
            # what the runner knows for its next write under the same lock: the size, and the
            # last block's plaintext when this write holds it (or left it alone)
            if new_last == last and parts is not None:
                tail_block = bytes(memoryview(parts[-1].payload)[-BLOCK:])
            elif new_last == last:
                tail_block = bytes(written[(new_last - first) * BLOCK:(new_last - first + 1) * BLOCK])
            elif new_last == old_last:
                tail_block = have.get(old_last, old.get(old_last))
            else:
                tail_block = None
            if tail_block is not None and len(tail_block) != new_size - new_last * BLOCK:
                tail_block = None
            # the stored size before and after the write must be these; if not (a lock lost, a
            # brick writer, an open with O_TRUNC: it takes no lock), learn it again under the next lock
            before = (first_reply or reply).prebuf
            exact = (reply.postbuf is not None and reply.postbuf.size == cipher_size(new_size)
                     and before is not None and before.size == cipher_size(old_size))
            cipher.known = (new_size, tail_block) if exact else None
        if pre is None:
            pre = (first_reply or reply).prebuf
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
        cipher = self._file(fd.inode)
        flags = self._codec.flags
        pre = (await self.child.fstat(fd, None)).buf
        old_size = plain_size(pre.size)
        old_last = (old_size - 1) // BLOCK
        cipher.size = size
        if size < old_size:
            if size % BLOCK or (flags and size):
                # the new last block keeps `keep` bytes: re-seal it (a partial block; in format 2
                # also a whole one, now sealed "last"), written over the old block *before* the
                # cut, so that a crash in between loses nothing: see _reseal_kept
                await self._reseal_kept(fd, cipher, size, old_last)
            cut = await self.child.ftruncate(fd, cipher_size(size), xdata)
            return pre, cut.postbuf, cut.xdata
        if size > old_size and flags:
            await self._extend_sealed(fd, cipher, old_size, size)
        elif size > old_size:
            block, have = divmod(old_size, BLOCK)
            if have:  # the old last block grows (to a full block, or to the new end)
                grown = min(BLOCK, size - block * BLOCK)
                old = (await self._read_blocks(fd, cipher, [block], old_last))[block]
                await self._write_all(fd, self._encrypt(cipher, block, old + bytes(grown - len(old)), -1),
                                      block * CBLOCK, 0, None)
            last, rest = divmod(size, BLOCK)
            if rest and (last > block or not have):
                # a new partial last block is written encrypted: only whole blocks may be holes
                await self._write_all(fd, self._encrypt(cipher, last, bytes(rest), -1), last * CBLOCK, 0, None)
        cut = await self.child.ftruncate(fd, cipher_size(size), xdata)
        return pre, cut.postbuf, cut.xdata

    async def _reseal_kept(self, fd, cipher: FileCipher, size: int, old_last: int) -> None:
        """Shrinking truncate to `size`, before the cut: write the new last block (its kept
        bytes, sealed as the last block, format 2's flag set) over the old one.

        Order (issue 14, item 9): the kept bytes are written first, then the file is cut. A crash
        between the two leaves the stored file at its old size with the new last block's
        stored form in front of what is left of the old block: that block reads EIO (its
        stored bytes are neither the old block nor a block that ends the file where the
        stored size says), but the kept bytes are on the bricks, sealed, and the same
        truncate run again completes it: a block that fails authentication here is accepted
        when its first bytes are exactly the new last block this truncate writes (index,
        length, "last"), i.e. what an interrupted truncate to this size wrote. (Cutting first,
        as before, lost those bytes altogether.)"""
        block = (size - 1) // BLOCK
        keep = size - block * BLOCK
        stored = (await self.child.readv(fd, CBLOCK, block * CBLOCK, 0, None)).data
        try:
            kept = self._decrypt(cipher, block, stored, old_last)[:keep]
        except CorruptBlock as error:
            try:
                self._decrypt(cipher, block, bytes(stored[:keep + OVERHEAD]), block)
            except CorruptBlock:
                raise self._corrupt(fd.inode, error) from None
            self.log.info("crypt: file gfid %s: completing a truncate to %d bytes that was interrupted after "
                          "writing its new last block", fd.inode.gfid, size)
            return  # written already: only the cut is left
        await self._write_all(fd, self._encrypt(cipher, block, kept, block), block * CBLOCK, 0, None)

    async def _extend_sealed(self, fd, cipher: FileCipher, old_size: int, size: int) -> None:
        """Format 2: extend a file with zeros from old_size to size. The new last block is
        stored (never a hole) and sealed "last"; the old one, if another, re-sealed "not last"."""
        old_last, new_last = (old_size - 1) // BLOCK, (size - 1) // BLOCK
        old = (await self._read_blocks(fd, cipher, [old_last], old_last))[old_last] if old_size else b""
        if old_size and old_last == new_last:  # grows within its last block
            await self._write_all(fd, self._encrypt(cipher, old_last, old + bytes(size - old_size), new_last),
                                  old_last * CBLOCK, 0, None)
            return
        stored = self._encrypt(cipher, new_last, bytes(size - new_last * BLOCK), new_last)
        at = new_last * CBLOCK
        if not old_size:
            await self._write_all(fd, stored, at, 0, None)
            return
        resealed = self._encrypt(cipher, old_last, old + bytes(BLOCK - len(old)), new_last)
        if old_last + 1 == new_last:
            await self._write_all(fd, resealed + stored, old_last * CBLOCK, 0, None)
        else:
            await self._write_all(fd, stored, at, 0, None)  # new end first, as writes do
            await self._write_all(fd, resealed, old_last * CBLOCK, 0, None)

    async def _regular(self, inode: Any, stat: Any) -> bool:
        """Whether the file is a regular one (its data is encrypted). An inode whose type is not
        known yet (FileType.INVAL: not linked from a lookup's reply, e.g. reached by gfid) is
        asked for its type first: `stat` winds stat/fstat to the child."""
        kind = inode.type if inode is not None else FileType.INVAL
        if kind == FileType.INVAL:
            kind = (await stat()).buf.type
        return kind == FileType.REG

    async def ftruncate(self, fd, offset, xdata):
        if not await self._regular(fd.inode, lambda: self.child.fstat(fd, None)):
            reply = await self.child.ftruncate(fd, offset, xdata)
            plain_iatt(reply.prebuf)
            plain_iatt(reply.postbuf)
            return reply
        if self._codec is None:
            await self._settle()
        if offset < 0:
            raise glupy.FopError(errno.EINVAL)
        pre, post, out = await self._submit(self._file(fd.inode), _Request(fd, b"", offset, False, 0, xdata, True))
        return glupy.FtruncateReply(prebuf=plain_iatt(pre), postbuf=plain_iatt(post), xdata=_plain_xdata(out))

    async def truncate(self, loc, offset, xdata):
        if not await self._regular(loc.inode, lambda: self.child.stat(loc, None)):
            reply = await self.child.truncate(loc, offset, xdata)
            plain_iatt(reply.prebuf)
            plain_iatt(reply.postbuf)
            return reply
        if loc.inode is None:
            # a regular file, but no inode to lock it by: never cut ciphertext unconverted
            raise glupy.FopError(errno.EIO, "crypt: truncate of a file without an inode")
        if self._codec is None:
            await self._settle()
        if offset < 0:
            raise glupy.FopError(errno.EINVAL)
        fd = glupy.Fd.anonymous_for(loc.inode)
        pre, post, out = await self._submit(self._file(fd.inode), _Request(fd, b"", offset, False, 0, xdata, True))
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
