"""A private redis-server for the events translator's durable sink: started on a free
port of 127.0.0.1 by the test that needs it, stopped by its PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def running_redis(directory: Path) -> Iterator[str]:
    """redis://127.0.0.1:PORT/0 of a redis-server (no persistence) living for the with block."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("GLUPY_REQUIRE_GLUSTER") == "1":
            pytest.fail("redis-server is missing (make deps installs it)", pytrace=False)
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
