"""glupy._aead (native/aead.c): crypt's block format sealed and opened a run of blocks per call,
against the block-by-block code through `cryptography` that crypt falls back to."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from glupy.translators import crypt
from glupy.translators.crypt import BLOCK, CBLOCK, OVERHEAD, CorruptBlock, cipher_size

pytestmark = pytest.mark.skipif(crypt._RunKey is None, reason="glupy._aead is not built (make build)")


def _sealed_both_ways(flags: bool, first: int, last: int, plain: bytes) -> tuple[Any, Any, bytes]:
    """(C cipher, cryptography cipher, plain sealed by the C one) of one key and file."""
    key, file_id = os.urandom(32), uuid.uuid4().bytes
    in_c = crypt.FileCipher(crypt._RunKey(key), file_id, flags)
    in_python = crypt.FileCipher(AESGCM(key), file_id, flags)
    assert in_c._run_key is not None and in_python._run_key is None
    return in_c, in_python, bytes(in_c.encrypt(first, plain, last))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=5 * BLOCK + 100), st.integers(min_value=0, max_value=1 << 40), st.booleans(),
       st.integers(min_value=0, max_value=6))
def test_blocks_sealed_in_c_are_cryptographys_block_format(plain: bytes, first: int, flags: bool,
                                                            last_after: int) -> None:
    """glupy._aead writes and reads exactly the format of the block-by-block code: each opens the
    other's blocks, and both refuse the same damaged block, with the same index."""
    last = first + max(len(plain) - 1, 0) // BLOCK + last_after - 3
    in_c, in_python, stored = _sealed_both_ways(flags, first, last, plain)
    assert len(stored) == cipher_size(len(plain))
    for opener in (in_c, in_python):
        assert bytes(opener.decrypt(first, stored, last)[0]) == plain
    stored_by_python = bytes(in_python.encrypt(first, plain, last))
    assert bytes(in_c.decrypt(first, stored_by_python, last)[0]) == plain
    if plain:
        damaged = bytearray(stored)
        damaged[len(stored) // 2] ^= 0x40
        found = []
        for opener in (in_c, in_python):
            with pytest.raises(CorruptBlock) as info:
                opener.decrypt(first, bytes(damaged), last)
            found.append(info.value.index)
        assert found[0] == found[1] == first + (len(stored) // 2) // CBLOCK


def test_holes_and_short_tails_read_alike_in_c_and_python() -> None:
    in_c, in_python, stored = _sealed_both_ways(True, 0, 3, os.urandom(3 * BLOCK + 10))
    holed = bytes(CBLOCK) + stored[CBLOCK:2 * CBLOCK] + bytes(CBLOCK) + stored[3 * CBLOCK:]
    for opener in (in_c, in_python):
        plain, holes = opener.decrypt(0, holed, 3)
        assert holes == 2 and plain[:BLOCK] == bytes(BLOCK) and plain[2 * BLOCK:3 * BLOCK] == bytes(BLOCK)
        for bad, index in ((holed[:3 * CBLOCK] + bytes(10 + OVERHEAD), 3),  # zeros as the last block
                           (stored[:CBLOCK + OVERHEAD], 1), (stored[:2 * CBLOCK + 5], 2)):
            with pytest.raises(CorruptBlock) as info:
                opener.decrypt(0, bad, 3)
            assert info.value.index == index
        with pytest.raises(CorruptBlock) as info:  # in format 2 the last block is never a hole
            opener.decrypt(0, stored[:CBLOCK] + bytes(CBLOCK), 1)
        assert info.value.index == 1


def test_a_run_key_refuses_bad_sizes_and_keeps_its_own_copy_of_the_key() -> None:
    key = bytearray(os.urandom(32))
    run_key = crypt._RunKey(key)
    file_id = uuid.uuid4().bytes
    out = bytearray(cipher_size(BLOCK))
    run_key.seal_into(out, 0, file_id, True, 0, 0, bytes(BLOCK))
    key[:] = bytes(32)  # wiped by its owner: the run key still has the key
    assert crypt.FileCipher(AESGCM(bytes(key)), file_id, True)._run_key is None
    plain = bytearray(BLOCK)
    assert run_key.open_into(plain, file_id, True, 0, 0, out) == 0
    with pytest.raises(ValueError):
        crypt._RunKey(bytes(16))
    with pytest.raises(ValueError):
        run_key.seal_into(bytearray(BLOCK), 0, file_id, True, 0, 0, bytes(BLOCK))  # no room for the tag
    with pytest.raises(ValueError):
        run_key.seal_into(out, 0, b"short", True, 0, 0, bytes(BLOCK))
    with pytest.raises(ValueError):
        run_key.open_into(bytearray(BLOCK - 1), file_id, True, 0, 0, out)
    with pytest.raises(TypeError):
        run_key.__init__(bytes(32))  # its key stays the one it was made with
    assert run_key.open_into(plain, file_id, True, 0, 0, out) == 0
    with pytest.raises(ValueError):
        crypt._RunKey.__new__(crypt._RunKey).seal_into(out, 0, file_id, True, 0, 0, bytes(BLOCK))  # no key
