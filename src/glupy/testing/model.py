"""Models the tests compare file systems with."""

from __future__ import annotations


class FileModel:
    """The bytes one file should hold after writes at offsets (holes read as zeros) and truncates."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, offset: int, chunk: bytes) -> None:
        if offset > len(self.data):
            self.data += bytes(offset - len(self.data))
        self.data[offset:offset + len(chunk)] = chunk

    def truncate(self, size: int) -> None:
        if size < len(self.data):
            del self.data[size:]
        else:
            self.data += bytes(size - len(self.data))
