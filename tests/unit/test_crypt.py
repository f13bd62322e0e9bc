"""glupy.translators.crypt: sizes, blocks, key files, and the translator in the in-process harness."""

from __future__ import annotations

import concurrent.futures
import errno
import os
import random
import stat
import types
import uuid
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

import glupy
from glupy import FopError
from glupy.errors import TranslatorLoadError
from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture
from glupy.translators import crypt
from glupy.testing.model import FileModel
from glupy.translators.crypt import (BLOCK, CBLOCK, OVERHEAD, BlockCodec, CorruptBlock, Crypt, KeyFileError,
                                     cipher_size, plain_size, read_key_file, write_key_file)

@pytest.fixture(autouse=True, scope="module", params=["aead", "cryptography"])
def block_sealer(request):
    """Every test here once with crypt's blocks sealed in C (glupy._aead) and once through
    `cryptography`, block by block (what crypt does when glupy._aead is not built)."""
    if request.param == "aead" and crypt._RunKey is None:
        pytest.skip("glupy._aead is not built (make build)")
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "cryptography":
            patch.setattr(crypt, "_RunKey", None)
        yield request.param


# ------------------------------------------------------------------ sizes


@given(st.integers(min_value=0, max_value=1 << 50))
def test_plain_size_inverts_cipher_size(plain: int) -> None:
    assert plain_size(cipher_size(plain)) == plain
    assert cipher_size(plain) >= plain


@given(st.integers(min_value=0, max_value=1 << 50), st.integers(min_value=0, max_value=1 << 20))
def test_sizes_are_monotonic(a: int, delta: int) -> None:
    assert cipher_size(a) <= cipher_size(a + delta)
    assert plain_size(a) <= plain_size(a + delta)


def test_size_examples() -> None:
    assert cipher_size(0) == 0
    assert cipher_size(1) == 1 + OVERHEAD
    assert cipher_size(BLOCK) == CBLOCK
    assert cipher_size(BLOCK + 1) == CBLOCK + 1 + OVERHEAD
    for damaged_tail in range(1, OVERHEAD + 1):  # not a block: counts as nothing
        assert plain_size(CBLOCK + damaged_tail) == BLOCK


# ------------------------------------------------------------------ blocks


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=3 * BLOCK + 100), st.integers(min_value=0, max_value=1 << 40))
def test_blocks_round_trip(plain: bytes, first: int) -> None:
    codec = BlockCodec(bytes(range(32)))
    file_id = uuid.UUID(int=42).bytes
    stored = codec.encrypt(file_id, first, plain)
    assert len(stored) == cipher_size(len(plain))
    assert codec.decrypt(file_id, first, stored) == (plain, 0)


def test_a_block_is_bound_to_its_file_and_position() -> None:
    codec = BlockCodec(os.urandom(32))
    a, b = uuid.uuid4().bytes, uuid.uuid4().bytes
    stored = codec.encrypt(a, 5, os.urandom(2 * BLOCK))
    with pytest.raises(CorruptBlock):
        codec.decrypt(b, 5, stored)  # another file
    with pytest.raises(CorruptBlock):
        codec.decrypt(a, 6, stored)  # another position
    swapped = stored[CBLOCK:] + stored[:CBLOCK]
    with pytest.raises(CorruptBlock) as info:
        codec.decrypt(a, 5, swapped)
    assert info.value.index == 5


def test_same_plaintext_twice_is_stored_differently() -> None:
    codec = BlockCodec(os.urandom(32))
    gfid = uuid.uuid4().bytes
    assert codec.encrypt(gfid, 0, b"x" * BLOCK) != codec.encrypt(gfid, 0, b"x" * BLOCK)


def test_zero_blocks_are_holes_and_damage_is_found() -> None:
    codec = BlockCodec(os.urandom(32))
    gfid = uuid.uuid4().bytes
    assert codec.decrypt(gfid, 0, bytes(2 * CBLOCK)) == (bytes(2 * BLOCK), 2)
    for tail in (OVERHEAD + 1, 100, CBLOCK - 1):  # zeros short of a whole block are no hole
        with pytest.raises(CorruptBlock) as info:
            codec.decrypt(gfid, 0, bytes(CBLOCK + tail))
        assert info.value.index == 1
    stored = bytearray(codec.encrypt(gfid, 0, os.urandom(3 * BLOCK)))
    stored[CBLOCK + 100] ^= 1
    with pytest.raises(CorruptBlock) as info:
        codec.decrypt(gfid, 0, bytes(stored))
    assert info.value.index == 1
    with pytest.raises(CorruptBlock):
        codec.decrypt(gfid, 0, bytes(stored[:CBLOCK + 10]))  # a tail too short to be a block
    other = BlockCodec(os.urandom(32))
    with pytest.raises(CorruptBlock):
        other.decrypt(gfid, 0, codec.encrypt(gfid, 0, b"secret"))



@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=3 * BLOCK + 100), st.integers(min_value=0, max_value=1 << 40))
def test_format_2_blocks_round_trip(plain: bytes, first: int) -> None:
    codec = BlockCodec(bytes(range(32)), crypt.FORMAT_V2)
    file_id = uuid.UUID(int=42).bytes
    last = first + (len(plain) - 1) // BLOCK
    stored = codec.encrypt(file_id, first, plain, last)
    assert len(stored) == cipher_size(len(plain))
    assert codec.decrypt(file_id, first, stored, last) == (plain, 0)


def test_format_2_seals_the_last_block_and_keys_each_file() -> None:
    codec = BlockCodec(os.urandom(32), crypt.FORMAT_V2)
    gfid, other = uuid.uuid4().bytes, uuid.uuid4().bytes
    assert codec.file_key(gfid) != codec.file_key(other) and len(codec.file_key(gfid)) == 32
    stored = codec.encrypt(gfid, 0, os.urandom(3 * BLOCK), last=2)
    for wrong_last in (1, 3, -1):  # the end moved: a block sealed "last" that is not, or the reverse
        with pytest.raises(CorruptBlock) as info:
            codec.decrypt(gfid, 0, stored, wrong_last)
        assert info.value.index == {1: 1, 3: 2, -1: 2}[wrong_last]
    assert codec.decrypt(gfid, 0, stored[:2 * CBLOCK], 2)[1] == 0  # blocks 0, 1: not last, fine
    # holes: whole zero blocks read as zeros, except at the last block
    assert codec.decrypt(gfid, 0, bytes(2 * CBLOCK), 5) == (bytes(2 * BLOCK), 2)
    with pytest.raises(CorruptBlock) as info:
        codec.decrypt(gfid, 0, bytes(2 * CBLOCK), 1)
    assert info.value.index == 1
    # the same key material in format 1 opens nothing of format 2 (and the reverse)
    v1 = BlockCodec(bytes(32))
    with pytest.raises(CorruptBlock):
        BlockCodec(bytes(32), crypt.FORMAT_V2).decrypt(gfid, 0, v1.encrypt(gfid, 0, b"abc"), 0)

# ------------------------------------------------------------------ key files


def test_keygen_writes_a_private_key_that_reads_back(tmp_path) -> None:
    path = tmp_path / "vol.key"
    write_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = read_key_file(path)
    assert len(key) == 32
    text = path.read_text()
    assert text.startswith("glupy-crypt-v1:") and text.endswith("\n") and text.count("\n") == 1
    with pytest.raises(FileExistsError):
        write_key_file(path)
    write_key_file(path, force=True)
    assert read_key_file(path) != key
    assert [p.name for p in tmp_path.iterdir()] == ["vol.key"]  # no temporary file left


def test_key_file_problems_are_one_clear_line_without_the_key(tmp_path) -> None:
    path = tmp_path / "k"
    with pytest.raises(KeyFileError, match="does not exist.*glupy crypt keygen"):
        read_key_file(path)
    write_key_file(path)
    secret = path.read_text().strip().split(":", 1)[1]
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError) as info:
        read_key_file(path)
    message = str(info.value)
    assert "0644" in message and "chmod 600" in message and secret not in message and "\n" not in message
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match="group or others"):
        read_key_file(path)
    os.chmod(path, 0o600)
    for bad in ("hello\n", "glupy-crypt-v1:abc\n", "glupy-crypt-v1:" + "A" * 43 + "!\n", ""):
        path.write_text(bad)
        with pytest.raises(KeyFileError) as info:
            read_key_file(path)
        assert "\n" not in str(info.value)
    (tmp_path / "d").mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        read_key_file(tmp_path / "d")


def test_key_bytes_are_the_base64url_of_the_file_in_a_wipeable_bytearray(tmp_path) -> None:
    import base64

    path = tmp_path / "k"
    for _ in range(20):
        write_key_file(path, force=True)
        body = path.read_text().strip().split(":", 1)[1]
        key = read_key_file(path)
        assert type(key) is bytearray and bytes(key) == base64.urlsafe_b64decode(body + "=")
        crypt.wipe(key)
        assert key == bytearray(32)
    data_key, check = crypt.derive_keys(read_key_file(path))
    assert type(data_key) is bytearray and len(check) == 16 and len(check.hex()) == 32


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_key_file_of_another_user_is_refused(tmp_path) -> None:
    """Issue 14, item 12: a key file owned by another user than the mount's is refused,
    whatever its mode (that user could replace the key, or chmod it open)."""
    path = tmp_path / "k"
    write_key_file(path)
    secret = path.read_text().strip().split(":", 1)[1]
    os.chown(path, 4242, 4242)
    with pytest.raises(KeyFileError) as info:
        read_key_file(path)
    message = str(info.value)
    assert message == (f"key file {path} is owned by uid 4242, not by uid 0 (this client's user); "
                       f"run chown 0 {path}") and secret not in message
    os.chown(path, 0, 0)
    assert len(read_key_file(path)) == 32


# ------------------------------------------------------------------ the translator


@pytest.fixture(params=[crypt.FORMAT_V2, crypt.FORMAT_V1], ids=["v2", "v1"])
def volume_format(request, monkeypatch) -> int:
    """The translator tests run on a new volume (format 2) and on a volume recorded in
    format 1 (as the code before format 2 made them: `glupy-crypt-v1:` + fingerprint)."""
    monkeypatch.setattr(crypt, "NEW_FORMAT", request.param)
    return request.param


@pytest.fixture
def key(tmp_path, volume_format):
    return str(write_key_file(tmp_path / "test.key"))


def brick_file(glupy_harness, path: str) -> bytes:
    return (glupy_harness.bricks[0] / path.lstrip("/")).read_bytes()



def test_random_operations_match_a_plaintext_model(glupy_harness, key, volume_format) -> None:
    h = glupy_harness(Crypt, key_file=key)
    rng = random.Random(6)
    h.create("/f")
    model = FileModel()
    f = h.open("/f", os.O_RDWR)
    appender = h.open("/f", os.O_WRONLY | os.O_APPEND)
    for step in range(600):
        op = rng.random()
        size = len(model.data)
        if op < 0.45:
            if rng.random() < 0.3:  # whole blocks at a block boundary: the shared-lock path
                offset = rng.randrange(0, size // BLOCK + 3) * BLOCK
                chunk = os.urandom(BLOCK * rng.randrange(1, 4))
            else:
                offset = rng.randrange(0, size + 3 * BLOCK)
                chunk = os.urandom(rng.choice([1, 7, 100, BLOCK - 1, BLOCK, BLOCK + 1, rng.randrange(1, 5 * BLOCK)]))
            assert f.write(chunk, offset) == len(chunk)
            model.write(offset, chunk)
        elif op < 0.55:
            chunk = os.urandom(rng.randrange(1, 2 * BLOCK))
            assert appender.write(chunk, 0) == len(chunk)  # the offset an O_APPEND write carries is ignored
            model.write(size, chunk)
        elif op < 0.65:
            new = rng.choice([0, rng.randrange(0, size + 1), size + rng.randrange(1, 3 * BLOCK)])
            if rng.random() < 0.5:
                f.truncate(new)
            else:
                h.truncate("/f", new)
            model.truncate(new)
        else:
            offset = rng.randrange(0, size + 100)
            length = rng.randrange(0, 3 * BLOCK)
            assert f.read(length, offset) == bytes(model.data[offset:offset + length]), f"step {step}"
        assert f.fstat().size == len(model.data)
        if volume_format == crypt.FORMAT_V2 and step % 20 == 0:
            assert_sealed(glupy_harness, h, "/f", bytes(model.data))
    f.close()
    appender.close()
    assert h.read("/f") == bytes(model.data)
    assert h.stat("/f").size == len(model.data)
    assert len(brick_file(glupy_harness, "/f")) == cipher_size(len(model.data))
    stats = h.translator().statedump()
    assert stats["writes-shared"] > 0 and stats["writes-exclusive"] > 0
    # every lock given back, each taken with an owner of crypt's own
    held = [lock for table in h["posix"]._inodelks.values() for lock in table]
    assert held == []


def test_bricks_hold_only_ciphertext(glupy_harness, key) -> None:
    h = glupy_harness(Crypt, key_file=key)
    marker = b"GLUPY-CRYPT-KNOWN-PLAINTEXT-0123456789abcdef!" * 500
    h.create("/plain.txt", marker)
    stored = brick_file(glupy_harness, "/plain.txt")
    assert len(stored) == cipher_size(len(marker))
    for i in range(0, len(marker) - 16, 16):
        assert marker[i:i + 16] not in stored
    assert h.read("/plain.txt") == marker


def test_big_readv_replies_are_kept_and_small_ones_not(glupy_harness, key) -> None:
    """Option read-hold: the latest readv replies of more than 128 KiB (GlusterFS receives those into
    iobuf arenas it unmaps once all their buffers are free) stay referenced, at most read-hold of
    them; 0 keeps none. What is kept is the stored ciphertext; reads are unchanged."""
    data = os.urandom(1 << 20)
    h = glupy_harness(Crypt, key_file=key, read_hold=3)
    h.create("/big", data)
    assert h.read("/big") == data  # 128 KiB readvs: 131,968 stored bytes each
    held = list(h.translator()._held)
    assert len(held) == 3 and all(len(x) == 32 * CBLOCK for x in held)
    assert h.translator().statedump()["read-replies-held"] == 3
    assert bytes(held[-1]) == brick_file(glupy_harness, "/big")[-32 * CBLOCK:]
    h.translator()._held.clear()
    assert h.read("/big", 64 * 1024) == data[:64 * 1024]  # 16 blocks: GlusterFS mallocs those
    assert not h.translator()._held


def test_read_hold_0_keeps_no_reply(glupy_harness, key) -> None:
    data = os.urandom(1 << 20)
    h = glupy_harness(Crypt, key_file=key, read_hold=0)
    h.create("/big", data)
    assert h.read("/big") == data and not h.translator()._held


def test_sizes_are_plaintext_sizes_everywhere(glupy_harness, key) -> None:
    h = glupy_harness(Crypt, key_file=key)
    h.create("/a", b"x" * 5000)
    assert h.stat("/a").size == 5000
    assert h.lookup("/a").buf.size == 5000
    entries = {e.name: e for e in h.readdir("/")}
    assert entries["a"].stat.size == 5000
    with h.open("/a", os.O_RDWR) as f:
        reply = h.fop("writev", f.fd, b"y" * 10, 4995, 0, None)
        assert (reply.op_ret, reply.prebuf.size, reply.postbuf.size) == (10, 5000, 5005)
        reply = h.fop("ftruncate", f.fd, 3, None)
        assert (reply.prebuf.size, reply.postbuf.size) == (5005, 3)
        reply = h.fop("fsync", f.fd, 0, None)
        assert reply.postbuf.size == 3
    reply = h.fop("truncate", "/a", 9000)
    assert (reply.prebuf.size, reply.postbuf.size) == (3, 9000)
    assert h.chmod("/a", 0o600).size == 9000
    h.rename("/a", "/b")
    h.link("/b", "/c")
    assert h.stat("/c").size == 9000 and h.read("/c") == b"xxx" + bytes(8997)


def test_truncate_of_an_inode_of_unknown_type_is_converted(glupy_harness, key) -> None:
    """Issue 14, item 7: an inode whose type is not known yet (FileType.INVAL: reached by gfid,
    not linked from a lookup) may be a regular file: crypt asks the child first, and a
    regular file's truncate/ftruncate is converted, not passed through to cut ciphertext."""
    h = glupy_harness(Crypt, key_file=key)
    data = os.urandom(2 * BLOCK + 100)
    h.create("/f", data)
    loc = h.loc("/f")
    loc.inode.type = glupy.FileType.INVAL
    reply = h.fop("truncate", loc, BLOCK + 5)
    assert (reply.prebuf.size, reply.postbuf.size) == (len(data), BLOCK + 5)
    assert len(brick_file(glupy_harness, "/f")) == cipher_size(BLOCK + 5)
    with h.open("/f", os.O_RDWR) as f:
        f.fd.inode.type = glupy.FileType.INVAL
        reply = h.fop("ftruncate", f.fd, 10, None)
        assert (reply.prebuf.size, reply.postbuf.size) == (BLOCK + 5, 10)
    assert h.read("/f") == data[:10]
    assert len(brick_file(glupy_harness, "/f")) == cipher_size(10)
    # what is not a regular file still passes through (the child answers for it)
    h.mkdir("/d")
    d = h.loc("/d")
    d.inode.type = glupy.FileType.INVAL
    with pytest.raises(FopError) as info:
        h.fop("truncate", d, 0)
    assert info.value.errno == errno.EISDIR


class CrashAfter(glupy.Translator):
    """Below crypt: once `armed`, lets `allow` FOPs that change stored data through and fails
    the later ones with ENOTCONN, as a client that died (or lost the bricks) half-way would."""

    def init(self) -> None:
        self.armed = False
        self.allow = 0
        self.passed: list[str] = []

    def _changes(self, name: str) -> None:
        if self.armed:
            if self.allow <= 0:
                raise FopError(errno.ENOTCONN, f"crashed before {name}")
            self.allow -= 1
            self.passed.append(name)

    async def writev(self, fd, data, offset, flags, xdata):
        self._changes("writev")
        return await self.child.writev(fd, data, offset, flags, xdata)

    async def ftruncate(self, fd, offset, xdata):
        self._changes("ftruncate")
        return await self.child.ftruncate(fd, offset, xdata)

    async def truncate(self, loc, offset, xdata):
        self._changes("truncate")
        return await self.child.truncate(loc, offset, xdata)


@pytest.mark.parametrize("size", [BLOCK + 10, 2 * BLOCK, 3 * BLOCK + 50, 1, BLOCK])
def test_a_shrinking_truncate_interrupted_loses_nothing(glupy_harness, key, volume_format, size) -> None:
    """Issue 14, item 9: the kept bytes of the new last block are written (re-sealed "last")
    before the file is cut. Interrupted after that first step, the blocks before the new last
    one still read, and the same truncate run again completes it with the kept bytes (cutting
    first lost them: format 1 read zeros, format 2 EIO)."""
    h = glupy_harness(Crypt, CrashAfter, key_file=key)
    crash = h.translator("crashafter")
    data = os.urandom(3 * BLOCK + 100)
    h.create("/f", data)
    crash.armed, crash.allow = True, 1
    try:
        h.truncate("/f", size)
        assert volume_format == crypt.FORMAT_V1 and size % BLOCK == 0  # only a cut: one step
        assert crash.passed == ["ftruncate"]
    except FopError as error:
        assert error.errno == errno.ENOTCONN
        assert crash.passed == ["writev"]  # the kept block first, never the cut first
    crash.armed = False
    keep_from = (size - 1) // BLOCK * BLOCK
    with h.open("/f") as f:
        assert f.read(keep_from, 0) == data[:keep_from]  # the blocks before the new last one
    h.truncate("/f", size)  # run again: completes it
    assert h.read("/f") == data[:size] and h.stat("/f").size == size
    assert len(brick_file(glupy_harness, "/f")) == cipher_size(size)
    if volume_format == crypt.FORMAT_V2:
        assert_sealed(glupy_harness, h, "/f", data[:size])


def test_holes_read_as_zeros(glupy_harness, key) -> None:
    h = glupy_harness(Crypt, key_file=key)
    h.create("/sparse", b"head")
    h.write("/sparse", b"tail", 10 * 1024 * 1024)
    assert h.stat("/sparse").size == 10 * 1024 * 1024 + 4
    data = h.read("/sparse")
    assert data[:4] == b"head" and data[-4:] == b"tail" and data[4:-4] == bytes(len(data) - 8)
    assert h.translator().stats["holes-read"] > 0
    assert os.stat(glupy_harness.bricks[0] / "sparse").st_blocks * 512 < 1024 * 1024  # holes stay holes


def test_zeros_appended_on_a_brick_read_eio(glupy_harness, key) -> None:
    """An attacker with the bricks appends zeros to a file: short of a whole block they
    are damage, not a hole."""
    h = glupy_harness(Crypt, key_file=key)
    data = os.urandom(2 * BLOCK)  # ends on a block boundary: appended bytes make a block of their own
    h.create("/f", data)
    path = glupy_harness.bricks[0] / "f"
    for zeros in (OVERHEAD + 1, 100, CBLOCK - 1):
        stored = path.read_bytes()
        path.write_bytes(stored[:cipher_size(len(data))] + bytes(zeros))
        with pytest.raises(FopError) as info:
            h.read("/f")
        assert info.value.errno == errno.EIO
    path.write_bytes(stored[:cipher_size(len(data))])
    assert h.read("/f") == data


def test_truncate_extends_with_an_encrypted_tail(glupy_harness, key) -> None:
    h = glupy_harness(Crypt, key_file=key)
    h.create("/f", b"abc")
    for size in (BLOCK - 5, 3 * BLOCK + 7, 3 * BLOCK + 9, 6 * BLOCK):
        h.truncate("/f", size)
        assert h.stat("/f").size == size
        stored = (glupy_harness.bricks[0] / "f").read_bytes()
        assert len(stored) == cipher_size(size)
        if size % BLOCK:  # a partial last block is stored encrypted; whole blocks may stay holes
            assert stored[size // BLOCK * CBLOCK:].strip(b"\0")
        assert h.read("/f") == b"abc" + bytes(size - 3)
    h.truncate("/f", 20 * BLOCK + 1)
    assert h.read("/f") == b"abc" + bytes(20 * BLOCK + 1 - 3)


# ------------------------------------------------------------------ formats (issue 14)


def data_key_of(key: str) -> bytes:
    return crypt.derive_keys(crypt.read_key_file(key))[0]


def gfid_of(h, path: str) -> bytes:
    return h.lookup(path).buf.gfid.bytes


def record_of(glupy_harness) -> bytes:
    return os.getxattr(glupy_harness.bricks[0], crypt.KEYCHECK_XATTR).rstrip(b"\0")


def test_a_new_volume_records_format_2_and_seals_each_file_with_a_key_of_its_own(glupy_harness, key,
                                                                                  volume_format) -> None:
    if volume_format != crypt.FORMAT_V2:
        pytest.skip("new volumes only")
    h = glupy_harness(Crypt, key_file=key)
    data = os.urandom(BLOCK + 10)
    h.create("/f", data)
    fingerprint = crypt.derive_keys(crypt.read_key_file(key))[1].hex()
    assert record_of(glupy_harness) == f"glupy-crypt-v2:{fingerprint}".encode()
    assert h.translator().statedump()["format"] == 2
    gfid = gfid_of(h, "/f")
    stored = brick_file(glupy_harness, "/f")
    block0 = stored[:CBLOCK]
    ad = gfid + (0).to_bytes(8, "big")
    volume_key = AESGCM(data_key_of(key))
    for flag in (b"", b"\0", b"\x01"):  # not sealed with the volume's data key, whatever the flag
        with pytest.raises(InvalidTag):
            volume_key.decrypt(block0[:12], block0[12:], ad + flag)
    # the file's key: HKDF-SHA256 of the data key, salt FILE_KEY_SALT, info FILE_KEY_INFO || gfid
    file_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=crypt.FILE_KEY_SALT,
                    info=crypt.FILE_KEY_INFO + gfid).derive(data_key_of(key))
    assert AESGCM(file_key).decrypt(block0[:12], block0[12:], ad + b"\0") == data[:BLOCK]
    last = stored[CBLOCK:]
    assert AESGCM(file_key).decrypt(last[:12], last[12:], gfid + (1).to_bytes(8, "big") + b"\x01") == data[BLOCK:]
    # another file's key differs: its blocks do not open with this file's key
    h.create("/g", data)
    other = brick_file(glupy_harness, "/g")[:CBLOCK]
    with pytest.raises(InvalidTag):
        AESGCM(file_key).decrypt(other[:12], other[12:], gfid_of(h, "/g") + (0).to_bytes(8, "big") + b"\0")


def test_file_keys_are_derived_once_per_file_not_per_fop(glupy_harness, key, volume_format) -> None:
    h = glupy_harness(Crypt, key_file=key)
    for name in ("a", "b"):
        h.create(f"/{name}", b"x" * 100)
        with h.open(f"/{name}", os.O_RDWR) as f:
            for i in range(20):
                f.write(os.urandom(BLOCK + 3), i * 1000)
                f.read(5000, i * 700)
            f.truncate(3 * BLOCK)
        h.truncate(f"/{name}", 2 * BLOCK + 1)
        assert h.read(f"/{name}") == h.read(f"/{name}")
    assert h.translator().statedump()["file-keys-derived"] == (2 if volume_format == crypt.FORMAT_V2 else 0)


def test_a_format_1_volume_keeps_format_1(glupy_harness, key, volume_format) -> None:
    """A volume whose root records `glupy-crypt-v1:` (every volume crypt made before
    format 2) keeps the volume-wide data key and the associated data gfid || index: files
    written before read back, and files written now are what the old code writes."""
    if volume_format != crypt.FORMAT_V2:
        pytest.skip("the record is set by hand here")
    brick = glupy_harness.brick()
    fingerprint = crypt.derive_keys(crypt.read_key_file(key))[1].hex()
    os.setxattr(brick, crypt.KEYCHECK_XATTR, f"glupy-crypt-v1:{fingerprint}".encode())
    h = glupy_harness(Crypt, root=brick, key_file=key)
    old = BlockCodec(data_key_of(key))  # format 1, as before format 2 existed
    h.create("/old")
    written_before = os.urandom(3 * BLOCK + 77)
    (brick / "old").write_bytes(old.encrypt(gfid_of(h, "/old"), 0, written_before))
    assert h.read("/old") == written_before
    data = os.urandom(2 * BLOCK + 5)
    h.create("/new", data)
    with h.open("/new", os.O_RDWR) as f:
        f.write(b"tail", len(data))
    data += b"tail"
    assert old.decrypt(gfid_of(h, "/new"), 0, (brick / "new").read_bytes()) == (data, 0)
    assert h.translator().statedump()["format"] == 1 and h.translator().statedump()["file-keys-derived"] == 0
    assert record_of(glupy_harness) == f"glupy-crypt-v1:{fingerprint}".encode()  # left as it was


def test_a_volume_of_an_unknown_format_is_refused(glupy_harness, key, caplog) -> None:
    brick = glupy_harness.brick()
    fingerprint = crypt.derive_keys(crypt.read_key_file(key))[1].hex()
    os.setxattr(brick, crypt.KEYCHECK_XATTR, f"glupy-crypt-v9:{fingerprint}".encode())
    h = glupy_harness(Crypt, root=brick, key_file=key)
    h.lookup("/")
    h.mknod("/f", stat.S_IFREG | 0o644)  # an empty file: names still work
    for call in (lambda: h.create("/g", b"data"), lambda: h.write("/f", b"data"), lambda: h.read("/f")):
        with pytest.raises(FopError) as info:
            call()
        assert info.value.errno == errno.EIO
    assert h.translator().statedump()["volume-key"] == "unsupported-format" and "format 'glupy-crypt-v9'" in caplog.text


def chop(glupy_harness, path: str, stored_size: int) -> None:
    os.truncate(glupy_harness.bricks[0] / path.lstrip("/"), stored_size)


def test_truncation_at_a_block_boundary_on_a_brick_reads_eio(glupy_harness, key, volume_format) -> None:
    """Dropping trailing whole blocks of the stored file: format 2 reads EIO (the new last
    block was not sealed "last"); format 1 cannot tell (documented)."""
    h = glupy_harness(Crypt, key_file=key)
    for name, size, keep in (("partial", 5 * BLOCK + 100, 3), ("whole", 4 * BLOCK, 2), ("one", 2 * BLOCK + 1, 1)):
        data = os.urandom(size)
        h.create(f"/{name}", data)
        chop(glupy_harness, name, keep * CBLOCK)
        assert h.stat(f"/{name}").size == keep * BLOCK
        if volume_format == crypt.FORMAT_V1:
            assert h.read(f"/{name}") == data[:keep * BLOCK]
            continue
        with pytest.raises(FopError) as info:
            h.read(f"/{name}")
        assert info.value.errno == errno.EIO
        with h.open(f"/{name}") as f:  # the blocks before the new end still read
            assert f.read((keep - 1) * BLOCK, 0) == data[:(keep - 1) * BLOCK]
            with pytest.raises(FopError):
                f.read(1, keep * BLOCK - 1)
        # and nothing is written over what is left: a write needing that block fails
        with pytest.raises(FopError) as info:
            h.write(f"/{name}", b"z", keep * BLOCK + 10)
        assert info.value.errno == errno.EIO


def test_whole_zero_blocks_appended_on_a_brick_read_eio(glupy_harness, key, volume_format) -> None:
    """Whole blocks of zeros after the end: in format 2 the old last block (sealed "last") is
    no longer last, and the new last block may not be a hole."""
    h = glupy_harness(Crypt, key_file=key)
    data = os.urandom(2 * BLOCK)
    h.create("/f", data)
    path = glupy_harness.bricks[0] / "f"
    stored = path.read_bytes()
    for blocks in (1, 3):
        path.write_bytes(stored + bytes(blocks * CBLOCK))
        assert h.stat("/f").size == len(data) + blocks * BLOCK
        if volume_format == crypt.FORMAT_V1:
            assert h.read("/f") == data + bytes(blocks * BLOCK)  # holes: undetected in format 1
            continue
        with pytest.raises(FopError) as info:
            h.read("/f")
        assert info.value.errno == errno.EIO
        with h.open("/f") as f:
            with pytest.raises(FopError):
                f.read(10, len(data) - 5)  # the old last block
            with pytest.raises(FopError):
                f.read(10, len(data) + blocks * BLOCK - 10)  # the new one, a hole
            assert f.read(BLOCK, 0) == data[:BLOCK]
    path.write_bytes(stored)
    assert h.read("/f") == data


def assert_sealed(glupy_harness, h, path: str, expected: bytes) -> None:
    """The file reads back, its last block is stored (not a hole), and dropping its last
    block reads EIO (format 2)."""
    brick = glupy_harness.bricks[0] / path.lstrip("/")
    stored = brick.read_bytes()
    assert h.read(path) == expected
    if not expected:
        assert stored == b""
        return
    last = (len(expected) - 1) // BLOCK
    assert stored[last * CBLOCK:].strip(b"\0"), "the last block is a hole"
    if last:
        brick.write_bytes(stored[:last * CBLOCK])
        with pytest.raises(FopError):
            h.read(path)
        brick.write_bytes(stored)


def test_every_way_of_changing_the_end_seals_the_last_block(glupy_harness, key, volume_format) -> None:
    if volume_format != crypt.FORMAT_V2:
        pytest.skip("format 2")
    h = glupy_harness(Crypt, key_file=key)
    model = FileModel()
    h.create("/f")
    steps = [("write", 0, 3 * BLOCK), ("write", 3 * BLOCK, BLOCK), ("write", 6 * BLOCK + 5, 10),  # holes before
             ("write", 10, 5), ("truncate", 5 * BLOCK), ("truncate", 5 * BLOCK - 7), ("truncate", 2 * BLOCK),
             ("truncate", 9 * BLOCK), ("truncate", 9 * BLOCK + 1), ("append", 1), ("append", BLOCK - 2),
             ("append", 3 * BLOCK), ("truncate", 0), ("truncate", BLOCK), ("truncate", 1), ("truncate", 3 * BLOCK),
             ("write", 3 * BLOCK, 2 * BLOCK), ("ftruncate", BLOCK + 1), ("ftruncate", 4 * BLOCK)]
    with h.open("/f", os.O_RDWR) as f, h.open("/f", os.O_WRONLY | os.O_APPEND) as app:
        for op, a, *b in steps:
            if op == "write":
                chunk = os.urandom(b[0])
                f.write(chunk, a)
                model.write(a, chunk)
            elif op == "append":
                chunk = os.urandom(a)
                app.write(chunk, 0)
                model.write(len(model.data), chunk)
            elif op == "truncate":
                h.truncate("/f", a)
                model.truncate(a)
            else:
                f.truncate(a)
                model.truncate(a)
            assert_sealed(glupy_harness, h, "/f", bytes(model.data))



def test_size_hints_of_another_client_are_only_hints(glupy_harness, key, volume_format) -> None:
    """Each client keeps a file's size as a hint (lock choice, what to read ahead, how to
    seal a payload encrypted before locking); another client changing the file makes it
    wrong, which must cost time only."""
    a = glupy_harness(Crypt, key_file=key)
    data = bytearray(os.urandom(3 * BLOCK))
    a.create("/f", bytes(data))
    b = glupy_harness(Crypt, root=a.backends[0], key_file=key)  # no hint yet: assumes writes extend
    chunk = os.urandom(BLOCK)
    b.write("/f", chunk, 0)
    data[:BLOCK] = chunk
    b.truncate("/f", BLOCK)  # a's hint still says 3 blocks
    del data[BLOCK:]
    for offset in (BLOCK, 3 * BLOCK, 0):  # a believes these are inside the file
        chunk = os.urandom(BLOCK)
        a.write("/f", chunk, offset)
        data[len(data):offset] = bytes(max(0, offset - len(data)))
        data[offset:offset + BLOCK] = chunk
        assert b.read("/f") == bytes(data)
        if volume_format == crypt.FORMAT_V2:
            assert_sealed(glupy_harness, b, "/f", bytes(data))
    b.truncate("/f", BLOCK + 10)
    del data[BLOCK + 10:]
    with a.open("/f", os.O_WRONLY | os.O_APPEND) as f:
        f.write(b"appended", 0)
    data += b"appended"
    assert a.read("/f") == b.read("/f") == bytes(data)
    if volume_format == crypt.FORMAT_V2:
        assert_sealed(glupy_harness, a, "/f", bytes(data))

class Count(glupy.Translator):
    """Below crypt: counts the FOPs crypt winds."""

    def init(self) -> None:
        self.counts: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    async def inodelk(self, volume, loc, cmd, lock, xdata):
        self._count("inodelk")
        return await self.child.inodelk(volume, loc, cmd, lock, xdata)

    async def fstat(self, fd, xdata):
        self._count("fstat")
        return await self.child.fstat(fd, xdata)

    async def readv(self, fd, size, offset, flags, xdata):
        self._count("readv")
        return await self.child.readv(fd, size, offset, flags, xdata)

    async def writev(self, fd, data, offset, flags, xdata):
        self._count("writev")
        return await self.child.writev(fd, data, offset, flags, xdata)


def test_round_trips_of_writes(glupy_harness, key, volume_format) -> None:
    """What a write costs below crypt: sequential writes, in format 2, re-seal the old last
    block, read in the round trip that replaces fstat; overwrites inside the file take
    the shared lock."""
    h = glupy_harness(Crypt, Count, key_file=key)
    count = h.translator("count")
    h.create("/f")
    with h.open("/f", os.O_RDWR) as f:
        f.write(os.urandom(BLOCK), 0)
        count.counts.clear()
        for i in range(1, 9):  # sequential whole blocks
            f.write(os.urandom(2 * BLOCK), i * 2 * BLOCK - BLOCK)
        sequential = dict(count.counts)
        count.counts.clear()
        shared_before = h.translator().stats["writes-shared"]
        for i in range(8):  # whole blocks inside the file
            f.write(os.urandom(BLOCK), i * BLOCK)
        inside = dict(count.counts)
        assert h.translator().stats["writes-shared"] - shared_before == 8
        count.counts.clear()
        for i in range(8):  # unaligned, inside
            f.write(b"x" * 100, i * 1000 + 7)
        unaligned = dict(count.counts)
    assert inside == {"inodelk": 16, "fstat": 8, "writev": 8}
    if volume_format == crypt.FORMAT_V2:
        assert sequential == {"inodelk": 16, "readv": 8, "writev": 8}
    else:
        assert sequential == {"inodelk": 16, "fstat": 8, "writev": 8}
    assert unaligned["inodelk"] == 16 and unaligned["writev"] == 8 and unaligned.get("fstat", 0) == 0


class Arrivals(glupy.Translator):
    """Between crypt and Count: while a writev crypt winds is in flight, makes the requests of
    `arrivals.pop(0)` (a list per writev) arrive at crypt's runner for the file, as writes and
    truncates of other handlers would (a FUSE mount's write-behind sends several at once);
    `contend` sends crypt an inodelk contention upcall for the file first (another client
    waiting for the lock)."""

    def init(self) -> None:
        self.crypt: Any = None
        self.arrivals: list[list[Any]] = []
        self.contend = False

    async def writev(self, fd, data, offset, flags, xdata):
        if self.arrivals:
            arrived = self.arrivals.pop(0)
            cipher = self.crypt._file(fd.inode)
            with self.crypt._mutex:
                for request in arrived:
                    request.future = concurrent.futures.Future()
                    cipher.queue.append(request)
            if self.contend:
                self.contend = False
                self.crypt.notify(glupy.Event.UPCALL, glupy.Upcall(gfid=fd.inode.gfid,
                                                                   kind=glupy.UpcallKind.INODELK_CONTENTION))
        return await self.child.writev(fd, data, offset, flags, xdata)


def queued_write(fd: Any, data: bytes, offset: int) -> Any:
    aligned = offset % BLOCK == 0 and len(data) % BLOCK == 0
    return crypt._Request(fd, memoryview(data), offset, False, 0, None, aligned=aligned)


def queued_truncate(fd: Any, size: int) -> Any:
    return crypt._Request(fd, b"", size, False, 0, None, truncate=True)


def test_writes_queued_meanwhile_run_under_the_kept_lock(glupy_harness, key, volume_format) -> None:
    """The runner of a file's exclusive writes runs the writes and truncates that arrive while
    its writev is in flight under the lock it holds: contiguous ones merged into one writev,
    no fstat and no read of the old last block (it knows the size and that block), one lock
    and one unlock for all of them; each request is answered with its own count. The file
    is then what a plaintext model says, sealed (format 2), and exactly the stored size."""
    h = glupy_harness(Crypt, Arrivals, Count, key_file=key)
    inst, arrivals, count = h.translator(), h.translator("arrivals"), h.translator("count")
    arrivals.crypt = inst
    h.create("/f")
    model = FileModel()
    with h.open("/f", os.O_RDWR) as f:
        first = os.urandom(3 * BLOCK + 10)
        f.write(first, 0)
        model.write(0, first)
        chunks = [os.urandom(n) for n in (2 * BLOCK, 2 * BLOCK, 3 * BLOCK, 5000, 100)]
        offsets = [4 * BLOCK, 6 * BLOCK, 8 * BLOCK, 11 * BLOCK, 20]
        waves = [[queued_write(f.fd, chunks[0], offsets[0])],  # arrive during the first writev
                 [queued_write(f.fd, chunks[1], offsets[1]), queued_write(f.fd, chunks[2], offsets[2])],  # merged
                 [queued_write(f.fd, chunks[3], offsets[3]), queued_truncate(f.fd, 9 * BLOCK + 7)],
                 [queued_write(f.fd, chunks[4], offsets[4])]]  # inside, unaligned: reads its block
        arrivals.arrivals = [list(w) for w in waves]
        count.counts.clear()
        tail = os.urandom(BLOCK)
        assert f.write(tail, 3 * BLOCK) == BLOCK  # a sequential aligned write: the runner
        model.write(3 * BLOCK, tail)
        for wave in waves:
            for request in wave:
                value, error = request.future.result(timeout=0)
                assert error is None
                if request.truncate:
                    model.truncate(request.offset)
                else:
                    assert value.op_ret == len(request.payload)
                    model.write(request.offset, bytes(request.payload))
                    assert value.postbuf.size >= request.offset + len(request.payload)
        # the first write: lock, fstat (its size hint names no block to read), writev; then one
        # writev per run under the kept lock (the merged pair in one), none of them reading the
        # old last block or asking the size; the truncate asks the size and reads the block it
        # keeps, as always (fstat, readv, writev); the unaligned write after it reads the one
        # block it changes in part (what the runner knows after a truncate is the size only)
        assert count.counts == {"inodelk": 2, "fstat": 2, "readv": 2, "writev": 6}, count.counts
        assert f.fstat().size == len(model.data)
    assert h.read("/f") == bytes(model.data)
    assert len(brick_file(glupy_harness, "/f")) == cipher_size(len(model.data))
    if volume_format == crypt.FORMAT_V2:
        assert_sealed(glupy_harness, h, "/f", bytes(model.data))
    stats = inst.statedump()
    assert stats["writes-merged"] == 1 and stats["runs-under-kept-lock"] == 5
    assert [lock for table in h["posix"]._inodelks.values() for lock in table] == []


def test_the_kept_lock_goes_back_when_another_client_wants_it(glupy_harness, key, volume_format) -> None:
    """A contention upcall for a file whose lock a runner keeps (another client waits for it)
    makes the runner give the lock back before its next run; the next run locks again and
    learns the file again (what it knew may change meanwhile). A subvolume going down does
    the same for every kept lock."""
    h = glupy_harness(Crypt, Arrivals, Count, key_file=key)
    inst, arrivals, count = h.translator(), h.translator("arrivals"), h.translator("count")
    arrivals.crypt = inst
    h.create("/f", os.urandom(BLOCK))
    data = bytearray(h.read("/f"))
    with h.open("/f", os.O_RDWR) as f:
        later = os.urandom(BLOCK)
        arrivals.arrivals = [[queued_write(f.fd, later, 2 * BLOCK)]]
        arrivals.contend = True
        count.counts.clear()
        given_back = inst.statedump()["locks-given-back"]
        now = os.urandom(BLOCK)
        f.write(now, BLOCK)
        data += now + later
        assert count.counts["inodelk"] == 4  # lock, unlock on contention, lock, unlock
        assert inst.statedump()["locks-given-back"] - given_back == 2
        assert arrivals.arrivals == [] and inst._holding == {}
    assert h.read("/f") == bytes(data)
    if volume_format == crypt.FORMAT_V2:
        assert_sealed(glupy_harness, h, "/f", bytes(data))
    generation = inst._generation
    inst.notify(glupy.Event.SOME_DESCENDENT_DOWN, None)
    assert inst._generation == generation + 1
    assert inst._holding == {}


class FailWrites(glupy.Translator):
    """Between crypt and the bricks: the writevs whose numbers (counted from 1) are in
    `fail_at` answer ENOSPC."""

    def init(self) -> None:
        self.fail_at: set[int] = set()
        self.seen = 0

    async def writev(self, fd, data, offset, flags, xdata):
        self.seen += 1
        if self.seen in self.fail_at:
            raise glupy.FopError(errno.ENOSPC)
        return await self.child.writev(fd, data, offset, flags, xdata)


def test_a_failed_run_answers_each_of_its_writes_and_gives_the_lock_back(glupy_harness, key,
                                                                          volume_format) -> None:
    """A writev that fails under the kept lock fails every write merged into it (each gets
    the error), the runner gives the lock back and forgets what it knew, and the writes
    queued after it run: the file is what the writes that succeeded made it."""
    h = glupy_harness(Crypt, Arrivals, FailWrites, key_file=key)
    inst, arrivals, failing = h.translator(), h.translator("arrivals"), h.translator("failwrites")
    arrivals.crypt = inst
    data = os.urandom(2 * BLOCK)
    h.create("/f", data)
    with h.open("/f", os.O_RDWR) as f:
        merged = [queued_write(f.fd, os.urandom(BLOCK), 3 * BLOCK), queued_write(f.fd, os.urandom(BLOCK), 4 * BLOCK)]
        later = queued_write(f.fd, os.urandom(BLOCK), 3 * BLOCK)
        arrivals.arrivals = [merged, [later]]  # during the first writev, then during the pair's
        failing.seen, failing.fail_at = 0, {2}  # the first write succeeds, the pair's writev fails
        first = os.urandom(BLOCK)
        assert f.write(first, 2 * BLOCK) == BLOCK
        data += first
        for request in merged:
            value, error = request.future.result(timeout=0)
            assert value is None and isinstance(error, FopError) and error.errno == errno.ENOSPC
        value, error = later.future.result(timeout=0)
        assert error is None and value.op_ret == BLOCK
        data += bytes(later.payload)
        assert f.fstat().size == len(data)
    assert h.read("/f") == bytes(data)
    if volume_format == crypt.FORMAT_V2:
        assert_sealed(glupy_harness, h, "/f", bytes(data))
    assert inst._holding == {} and inst.statedump()["writes-merged"] >= 1
    assert [lock for table in h["posix"]._inodelks.values() for lock in table] == []


def test_a_modified_block_reads_eio_and_the_others_still_read(glupy_harness, key, caplog) -> None:
    h = glupy_harness(Crypt, key_file=key)
    data = os.urandom(5 * BLOCK)
    h.create("/f", data)
    path = glupy_harness.bricks[0] / "f"
    stored = bytearray(path.read_bytes())
    stored[2 * CBLOCK + 50] ^= 0x01
    path.write_bytes(stored)
    with h.open("/f") as f:
        with pytest.raises(FopError) as info:
            f.read(10, 2 * BLOCK + 5)
        assert info.value.errno == errno.EIO
        assert f.read(2 * BLOCK, 0) == data[:2 * BLOCK]
        assert f.read(2 * BLOCK, 3 * BLOCK) == data[3 * BLOCK:]
        with pytest.raises(FopError) as info:  # a partial write cannot merge with a damaged block
            h.fop("writev", f.fd, b"zz", 2 * BLOCK + 1, 0, None)
        assert info.value.errno == errno.EIO
    assert "block 2" in caplog.text
    assert bytearray(path.read_bytes()) == stored  # nothing was written over it


def test_a_wrong_key_reads_eio_and_damages_nothing(glupy_harness, key, tmp_path) -> None:
    h = glupy_harness(Crypt, key_file=key)
    data = os.urandom(3 * BLOCK + 5)
    h.create("/f", data)
    backend = h.backends[0]
    before = (glupy_harness.bricks[0] / "f").read_bytes()
    other = str(write_key_file(tmp_path / "other.key"))
    wrong = glupy_harness(Crypt, root=backend, key_file=other)
    with pytest.raises(FopError) as info:
        wrong.read("/f")
    assert info.value.errno == errno.EIO
    for offset in (0, BLOCK):  # aligned full-block writes too: they would not need to decrypt anything
        with pytest.raises(FopError) as info:
            wrong.write("/f", b"w" * BLOCK, offset)
        assert info.value.errno == errno.EIO
    with pytest.raises(FopError):
        wrong.truncate("/f", 1)
    with pytest.raises(FopError) as info:  # O_TRUNC empties the file: a write like any other
        wrong.open("/f", os.O_WRONLY | os.O_TRUNC)
    assert info.value.errno == errno.EIO
    assert (glupy_harness.bricks[0] / "f").read_bytes() == before
    assert h.read("/f") == data
    assert wrong.translator().statedump()["volume-key"] == "mismatch"


class Unreachable(glupy.Translator):
    """Below crypt: the volume record cannot be read or written (ENOTCONN: the bricks are
    not reachable yet, or EPERM) while `down`; counts the attempts."""

    errno = errno.ENOTCONN

    def init(self) -> None:
        self.down = True
        self.attempts = 0

    async def getxattr(self, loc, name, xdata):
        if name == crypt.KEYCHECK_XATTR:
            self.attempts += 1
            if self.down:
                raise FopError(self.errno)
        return await self.child.getxattr(loc, name, xdata)

    async def setxattr(self, loc, dict, flags, xdata):
        if crypt.KEYCHECK_XATTR in dict and self.down:
            raise FopError(self.errno)
        return await self.child.setxattr(loc, dict, flags, xdata)


def every_write_is_refused(h, path: str) -> None:
    """Each way of changing a file's data answers EIO (issue 14, item 5)."""
    calls = {
        "aligned write": lambda: h.write(path, b"w" * BLOCK, 0),  # needs to decrypt nothing
        "unaligned write": lambda: h.write(path, b"w", 5),
        "append": lambda: h.open(path, os.O_WRONLY | os.O_APPEND).write(b"w" * BLOCK, 0),
        "truncate": lambda: h.truncate(path, 1),
        "truncate up": lambda: h.truncate(path, 10 * BLOCK),
        "ftruncate": lambda: h.open(path, os.O_RDWR).truncate(0),
        "open O_TRUNC": lambda: h.open(path, os.O_WRONLY | os.O_TRUNC),
        "create O_TRUNC": lambda: h.create("/new-" + path.strip("/"), b"w" * BLOCK),
    }
    for what, call in calls.items():
        with pytest.raises(FopError) as info:
            call()
        assert info.value.errno == errno.EIO, what


@pytest.mark.parametrize("error", [errno.ENOTCONN, errno.EPERM])
def test_writes_are_refused_until_the_key_is_verified(glupy_harness, key, tmp_path, monkeypatch, caplog,
                                                      error) -> None:
    """Issue 14, item 5: the key check fails closed. While the volume record cannot be read
    (the first check errored), no write, truncate or O_TRUNC reaches the bricks, and the
    check is retried on the next data FOP, at most once per RECHECK_INTERVAL."""
    now = [1000.0]
    monkeypatch.setattr(crypt, "_clock", lambda: now[0], raising=False)
    monkeypatch.setattr(Unreachable, "errno", error)
    h = glupy_harness(Crypt, key_file=key)
    data = os.urandom(3 * BLOCK + 5)
    h.create("/f", data)
    brick = glupy_harness.bricks[0] / "f"
    before = brick.read_bytes()
    other = str(write_key_file(tmp_path / "other.key"))
    wrong = glupy_harness(Crypt, Unreachable, root=h.backends[0], key_file=other)
    down = wrong.translator("unreachable")
    wrong.lookup("/")
    assert down.attempts >= 1 and wrong.translator().statedump()["volume-key"] == "unknown"
    every_write_is_refused(wrong, "/f")
    with pytest.raises(FopError) as info:
        wrong.read("/f")
    assert info.value.errno == errno.EIO
    assert brick.read_bytes() == before and not (glupy_harness.bricks[0] / "new-f").exists()
    # bounded: no round trip per refused FOP, one check per interval
    attempts = down.attempts
    for _ in range(5):
        with pytest.raises(FopError):
            wrong.write("/f", b"w" * BLOCK, 0)
    assert down.attempts == attempts
    now[0] += crypt.RECHECK_INTERVAL
    with pytest.raises(FopError):
        wrong.write("/f", b"w" * BLOCK, 0)
    assert down.attempts == attempts + 1
    assert caplog.text.count("is refused (EIO) until this key is verified") == 1  # one line, not one per FOP
    # the bricks answer again: the next write checks, finds another key, and is still refused
    down.down = False
    now[0] += crypt.RECHECK_INTERVAL
    every_write_is_refused(wrong, "/f")
    assert wrong.translator().statedump()["volume-key"] == "mismatch" and "is not this volume's key" in caplog.text
    assert brick.read_bytes() == before and h.read("/f") == data
    # the right key, first check failed: refused too, then served once the check succeeds
    right = glupy_harness(Crypt, Unreachable, root=h.backends[0], key_file=key)
    right.lookup("/")
    with pytest.raises(FopError) as info:
        right.write("/f", b"r" * BLOCK, 0)
    assert info.value.errno == errno.EIO and brick.read_bytes() == before
    right.translator("unreachable").down = False
    now[0] += crypt.RECHECK_INTERVAL
    right.write("/f", b"r" * BLOCK, 0)
    assert right.read("/f") == h.read("/f") == b"r" * BLOCK + data[BLOCK:]
    assert right.translator().statedump()["volume-key"] == "ok"


def test_without_the_volume_record_a_wrong_key_still_reads_eio(glupy_harness, key, tmp_path) -> None:
    h = glupy_harness(Crypt, key_file=key)
    h.create("/f", b"secret data")
    os.removexattr(glupy_harness.bricks[0], crypt.KEYCHECK_XATTR)
    wrong = glupy_harness(Crypt, root=h.backends[0], key_file=str(write_key_file(tmp_path / "o.key")))
    with pytest.raises(FopError) as info:
        wrong.read("/f")
    assert info.value.errno == errno.EIO


def test_key_material_is_wiped_once_used(glupy_harness, key, monkeypatch) -> None:
    """Issue 14, item 12: the master key and the data key live in bytearrays that crypt zeroes
    as soon as the next step has what it needs; format 2's key-derivation key is zeroed at fini."""
    kept: list[bytearray] = []
    real_read, real_derive = crypt.read_key_file, crypt.derive_keys

    def read(path):
        kept.append(real_read(path))
        return kept[-1]

    def derive(master):
        data_key, check = real_derive(master)
        kept.append(data_key)
        return data_key, check

    monkeypatch.setattr(crypt, "read_key_file", read)
    monkeypatch.setattr(crypt, "derive_keys", derive)
    h = glupy_harness(Crypt, key_file=key)
    h.create("/f", b"data")
    assert h.read("/f") == b"data"
    master, data_key = kept
    assert master == bytearray(32) and data_key == bytearray(32)
    prk = h.translator()._codecs[crypt.FORMAT_V2]._prk
    assert type(prk) is bytearray and prk != bytearray(32)
    h.close()
    assert prk == bytearray(32)


def test_statedump_and_logs_never_show_the_key(glupy_harness, key, caplog) -> None:
    h = glupy_harness(Crypt, key_file=key)
    h.create("/f", b"x")
    dump = dict(h.statedump())
    secret = open(key).read().strip().split(":", 1)[1]
    assert dump["option.key-file"] == key and len(dump["key-fingerprint"]) == 32
    assert secret not in repr(dump) and secret not in caplog.text
    assert bytes(crypt.read_key_file(key)).hex() not in repr(dump) + caplog.text


def test_unsupported_fops_fail_with_a_clear_errno(glupy_harness, key) -> None:
    h = glupy_harness(Crypt, key_file=key)
    h.create("/f", b"0123456789")
    h.create("/g")
    with h.open("/f", os.O_RDWR) as f, h.open("/g", os.O_RDWR) as g:
        for fop, args, err in [("fallocate", (f.fd, 0, 0, 100), errno.EOPNOTSUPP),
                               ("discard", (f.fd, 0, 5), errno.EOPNOTSUPP),
                               ("zerofill", (f.fd, 0, 5), errno.EOPNOTSUPP),
                               ("rchecksum", (f.fd, 0, 10), errno.EOPNOTSUPP),
                               ("copy_file_range", (f.fd, 0, g.fd, 0, 10, 0), errno.EXDEV)]:
            with pytest.raises(FopError) as info:
                h.fop(fop, *args)
            assert info.value.errno == err, fop
        assert h.fop("seek", f.fd, 3, crypt.SEEK_DATA).offset == 3
        assert h.fop("seek", f.fd, 3, crypt.SEEK_HOLE).offset == 10
        with pytest.raises(FopError) as info:
            h.fop("seek", f.fd, 10, crypt.SEEK_DATA)
        assert info.value.errno == errno.ENXIO
    assert h.read("/f") == b"0123456789" and h.read("/g") == b""


class Spy(glupy.Translator):
    """Below crypt: records lookup xdata keys; answers setxattr with posix's pre/post stats in xdata."""

    def init(self) -> None:
        self.lookup_keys: list[set[str]] = []

    async def lookup(self, loc, xdata):
        self.lookup_keys.append(set(xdata or ()))
        return await self.child.lookup(loc, xdata)

    async def setxattr(self, loc, dict, flags, xdata):
        reply = await self.child.setxattr(loc, dict, flags, xdata)
        st = (await self.child.stat(loc, None)).buf
        reply.xdata = glupy.Xdata({"virt-gf-prestat": st, "virt-gf-poststat": st.copy()})
        return reply


def test_no_ciphertext_reaches_callers_through_xdata(glupy_harness, key) -> None:
    h = glupy_harness(Crypt, Spy, key_file=key)
    h.create("/f", b"z" * 100)
    loc = h.loc("/f")
    h.fop("lookup", loc, glupy.Xdata({"glusterfs.content": 65536, "gfid-req": uuid.uuid4()}))
    spy = h.translator("spy")
    assert "glusterfs.content" not in spy.lookup_keys[-1] and "gfid-req" in spy.lookup_keys[-1]
    reply = h.fop("setxattr", loc, glupy.Xdata({"user.a": b"1"}), 0)
    assert reply.xdata["virt-gf-poststat"].size == 100 and reply.xdata["virt-gf-prestat"].size == 100


class ServesContent(glupy.Translator):
    """Below crypt, as posix answers quick-read: each entry's stored bytes in its xdata."""

    async def readdirp(self, fd, size, offset, xdata):
        reply = await self.child.readdirp(fd, size, offset, xdata)
        if xdata is not None and crypt.CONTENT_KEY in xdata:
            for entry in reply.entries:
                entry.xdata = glupy.Xdata({crypt.CONTENT_KEY: b"the stored bytes"})
        return reply


def test_readdirp_entries_never_carry_the_stored_bytes(glupy_harness, key) -> None:
    h = glupy_harness((Crypt, {"key-file": key}), ServesContent)
    h.mkdir("/d")
    h.create("/d/f", b"secret words")
    with h.opendir("/d") as d:
        reply = h.fop("readdirp", d.fd, 4096, 0, glupy.Xdata({crypt.CONTENT_KEY: 64 * 1024}))
    entries = [e for e in reply.entries if e.name == "f"]
    assert entries and all(e.xdata is None or crypt.CONTENT_KEY not in e.xdata for e in entries)


def test_open_turns_write_only_into_read_write_and_drops_append(glupy_harness, key) -> None:
    h = glupy_harness(Crypt, key_file=key)  # the backend opens files with the flags it is given
    h.create("/f", b"abc")
    with h.open("/f", os.O_WRONLY | os.O_APPEND) as f:
        assert f.write(b"def", 0) == 3
        assert f.write(b"x", 1) == 1  # unaligned: needs to read the block through a write-only fd
    assert h.read("/f") == b"abcdefx"


def test_refuses_to_start_without_a_usable_key(glupy_harness, tmp_path) -> None:
    path = tmp_path / "k"
    with pytest.raises(KeyFileError):
        glupy_harness(Crypt, key_file=str(path))
    write_key_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        glupy_harness(Crypt, key_file=str(path))


def test_placement_is_checked_down_to_the_cluster_translator(glupy_harness, key) -> None:
    """Issue 14, item 10: a performance translator anywhere between crypt and the cluster
    translator (not only crypt's immediate child) is refused; below the cluster translator
    is not crypt's business."""
    h = glupy_harness(Crypt, Count, Spy, key_file=key)  # crypt -> count -> spy -> posix
    h.create("/f", b"data")
    h.nodes["spy"].type = "performance/write-behind"  # two levels down
    with pytest.raises(TranslatorLoadError) as info:
        h.reload(cls=Crypt)
    message = str(info.value)
    assert "it must sit directly above the cluster translator" in message
    assert "count (user/glupy) -> spy (performance/write-behind)" in message
    h.nodes["spy"].type = "user/glupy"
    h.reload(cls=Crypt)
    assert h.read("/f") == b"data"

    def node(name, kind, *children):
        return types.SimpleNamespace(name=name, type=kind, children=list(children))

    client = node("vol-client-0", "protocol/client")
    below = node("vol-replicate-0", "cluster/replicate", node("vol-io-cache", "performance/io-cache", client))
    assert crypt.placement_problem(node("vol-dht", "cluster/distribute", below)) == ""
    assert crypt.placement_problem(node("vol-utime", "features/utime", node("vol-dht", "cluster/distribute"))) == ""
    assert "vol-md-cache (performance/md-cache)" in crypt.placement_problem(
        node("vol-utime", "features/utime", node("vol-md-cache", "performance/md-cache", below)))
    two = node("fan", "user/glupy", node("a", "features/x", client), node("b", "features/y",
                                                                       node("wb", "performance/write-behind", client)))
    assert "fan (user/glupy) -> b (features/y) -> wb (performance/write-behind)" in crypt.placement_problem(two)


def test_upcalls_with_stored_sizes_never_reach_the_caches_above(glupy_harness, key, caplog) -> None:
    """Issue 14, item 11: with features.cache-invalidation on, a brick's upcall carries a file's
    stored size, which md-cache above would cache. crypt replaces an upcall about a regular
    file (or one it cannot read) by SOME_DESCENDENT_DOWN (the caches above take what they
    hold as stale), logs one error, and passes what carries no file size."""
    h = glupy_harness(Crypt, key_file=key)
    h.create("/f", b"x" * 100)
    inst = h.translator()
    stored = glupy.Iatt()
    stored.type, stored.size = glupy.FileType.REG, cipher_size(100)
    directory = glupy.Iatt()
    directory.type, directory.size = glupy.FileType.DIR, 4096
    ci = glupy.UpcallKind.CACHE_INVALIDATION
    for _ in range(3):
        up = glupy.Upcall(gfid=h.lookup("/f").buf.gfid, kind=ci, flags=0xff, stat=stored, parent_stat=directory)
        assert inst.notify(glupy.Event.UPCALL, up) == glupy.Event.SOME_DESCENDENT_DOWN
    assert inst.notify(glupy.Event.UPCALL, None) == glupy.Event.SOME_DESCENDENT_DOWN  # data it could not read
    assert caplog.text.count("an upcall reached crypt: features.cache-invalidation is on") == 1
    assert inst.statedump()["upcalls-replaced"] == 4
    passed = [glupy.Upcall(gfid=crypt.ROOT_GFID, kind=ci, flags=1, stat=directory, parent_stat=directory),
              glupy.Upcall(gfid=crypt.ROOT_GFID, kind=glupy.UpcallKind.RECALL_LEASE)]
    for up in passed:
        assert inst.notify(glupy.Event.UPCALL, up) is None
    assert inst.notify(glupy.Event.CHILD_DOWN, None) is None
    assert inst.statedump()["upcalls-replaced"] == 4


def test_glupy_crypt_keygen_command(tmp_path) -> None:
    from click.testing import CliRunner

    from glupy.cli import main

    path = tmp_path / "cli.key"
    result = CliRunner().invoke(main, ["crypt", "keygen", str(path)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(read_key_file(path)) == 32
    first = path.read_text()
    assert first.strip() not in result.output  # the key itself is never printed
    result = CliRunner().invoke(main, ["crypt", "keygen", str(path)])
    assert result.exit_code == 1 and "--force" in result.output and path.read_text() == first
    result = CliRunner().invoke(main, ["crypt", "keygen", "--force", str(path)])
    assert result.exit_code == 0 and path.read_text() != first



# ------------------------------------------------------------------ format 3: owners and modes authenticated


@pytest.fixture
def v3_key(tmp_path, monkeypatch) -> str:
    monkeypatch.setattr(crypt, "NEW_FORMAT", crypt.FORMAT_V3)
    return str(write_key_file(tmp_path / "v3.key"))


def test_a_new_volume_is_format_3_and_signs_each_new_file(glupy_harness, tmp_path) -> None:
    """Issue 14, threat model: a new volume records format 3; every regular file crypt creates
    (create, mknod) carries the MAC of (gfid, uid, gid, mode) in trusted.glupy.crypt.attr, keyed
    with an HKDF output of the key file's key with its own info string."""
    assert crypt.NEW_FORMAT == crypt.FORMAT_V3
    key = str(write_key_file(tmp_path / "k"))
    h = glupy_harness(Crypt, key_file=key)
    h.create("/f", b"secret " * 1000, mode=0o600)
    h.mknod("/n", stat.S_IFREG | 0o640)
    h.mknod("/fifo", stat.S_IFIFO | 0o644)
    assert record_of(glupy_harness) == f"glupy-crypt-v3:{h.translator().fingerprint}".encode()
    master = read_key_file(key)
    attr_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"glupy-crypt v1 attributes").derive(bytes(master))
    assert attr_key == bytes(crypt.derive_attr_key(master))
    for name in ("f", "n"):
        brick = glupy_harness.bricks[0] / name
        st = os.stat(brick)
        gfid = h.stat("/" + name).gfid
        assert os.getxattr(brick, crypt.ATTR_XATTR).rstrip(b"\0") == crypt.attr_mac(
            attr_key, gfid.bytes, st.st_uid, st.st_gid, st.st_mode)
    assert crypt.ATTR_XATTR not in os.listxattr(glupy_harness.bricks[0] / "fifo")
    assert h.read("/f") == b"secret " * 1000 and h.read("/n") == b""
    dump = h.translator().statedump()
    assert dump["attributes"] == "authenticated" and dump["attrs-signed"] == 2 and dump["format"] == 3


@pytest.mark.parametrize("tamper", ["chmod", "chown", "chgrp", "no-mac"])
def test_format_3_refuses_a_file_whose_owner_or_mode_changed_on_a_brick(glupy_harness, v3_key, caplog,
                                                                         tamper) -> None:
    """Issue 14, threat model: someone who can write to the bricks makes user A's 0600 file
    readable by others (chmod 644, chown, chgrp, or a file without a MAC): open through crypt
    answers EACCES (logged), and so does a read through an fd crypt did not open; root's chmod
    through crypt signs the attributes again."""
    h = glupy_harness(Crypt, key_file=v3_key)
    h.create("/f", b"A's data", mode=0o600)
    brick = glupy_harness.bricks[0] / "f"
    if tamper == "chmod":
        os.chmod(brick, 0o644)
    elif tamper == "chown":
        os.chown(brick, 4242, -1)
    elif tamper == "chgrp":
        os.chown(brick, -1, 4242)
    else:
        os.removexattr(brick, crypt.ATTR_XATTR)
    with pytest.raises(FopError) as info:
        h.open("/f")
    assert info.value.errno == errno.EACCES
    assert "answering EACCES to open" in caplog.text
    with pytest.raises(FopError) as info:
        h.fop("readv", glupy.Fd.anonymous_for(h.loc("/f").inode), 100, 0, 0, None)
    assert info.value.errno == errno.EACCES
    assert h.translator().statedump()["attrs-refused"] == 2
    h.chmod("/f", 0o600)  # root repairs it: signs what the bricks now say
    assert h.read("/f") == b"A's data"


def test_format_3_changes_of_owner_and_mode_through_crypt_are_signed(glupy_harness, v3_key) -> None:
    """chmod and chown through crypt sign the bricks' new attributes, also for an owner who
    makes the file read-only (signed by fd: the bricks ask a path setxattr for write permission)."""
    h = glupy_harness(Crypt, key_file=v3_key)
    data = os.urandom(5000)
    h.create("/f", data, mode=0o644)
    h.chmod("/f", 0o400)
    h.chown("/f", 1000, 1000)
    owner = h.as_user(1000, 1000)
    owner.chmod("/f", 0o440)
    assert owner.read("/f") == data
    f = h.open("/f", os.O_RDWR)
    h.fop("fsetattr", f.fd, glupy.Iatt(mode=0o600), int(glupy.SetAttr.MODE), None)
    assert h.read("/f") == data and stat.S_IMODE(os.stat(glupy_harness.bricks[0] / "f").st_mode) == 0o600


def test_format_1_and_2_volumes_keep_files_without_macs(glupy_harness, key, volume_format) -> None:
    """Volumes recorded in format 1 or 2 have files without MACs: crypt neither writes nor checks
    them there (the gap the threat model names for them stays; a copy to a new volume closes it)."""
    h = glupy_harness(Crypt, key_file=key)
    h.create("/f", b"data", mode=0o600)
    brick = glupy_harness.bricks[0] / "f"
    assert crypt.ATTR_XATTR not in os.listxattr(brick)
    os.chmod(brick, 0o644)
    assert h.read("/f") == b"data"
    assert h.translator().statedump()["attributes"] == "not authenticated"


def test_new_volume_format_2_can_be_chosen(glupy_harness, tmp_path) -> None:
    """The option new-volume-format 2 makes a new volume record format 2 (no MACs: no round trip
    per open, create, chmod or chown); a volume keeps the format it recorded first."""
    key = str(write_key_file(tmp_path / "k"))
    h = glupy_harness(Crypt, key_file=key, new_volume_format=2)
    h.create("/f", b"data", mode=0o600)
    fingerprint = h.translator().fingerprint
    assert record_of(glupy_harness) == f"glupy-crypt-v2:{fingerprint}".encode()
    assert crypt.ATTR_XATTR not in os.listxattr(glupy_harness.bricks[0] / "f")
    assert h.translator().statedump()["attributes"] == "not authenticated"
