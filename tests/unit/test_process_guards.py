"""glupy._process: the guards a GlusterFS process keeps against its translators (their
effect inside GlusterFS: tests/integration/test_adversary3.py)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from glupy import _process


def test_a_limit_counts_as_lowered_only_when_it_goes_down():
    which = resource.RLIMIT_NOFILE
    soft, hard = resource.getrlimit(which)
    assert not _process._lowers(resource, which, (soft, hard))
    assert _process._lowers(resource, which, (max(soft - 1, 0), hard))
    assert not _process._lowers(resource, which, (soft, resource.RLIM_INFINITY if hard == resource.RLIM_INFINITY
                                                  else hard))


def test_umask_reads_and_refuses_a_change():
    current = os.umask(0)
    os.umask(current)
    assert _process.umask(current) == current
    with pytest.raises(PermissionError):
        _process.umask(current ^ 0o077)
    assert _process._current_umask() == current  # nothing changed


def test_the_guards_in_a_process_of_their_own():
    """guard() as a GlusterFS daemon runs it: GlusterFS's signals stay blocked, identity,
    limits, umask and others' fds are refused, the recursion limit and threads' stacks
    stay within what is safe, what would end the process (os._exit, os.abort, a fatal
    signal to itself) is refused, a fork's child ends at once even with os._exit replaced."""
    code = r"""
import faulthandler, os, resource, signal, sys, threading
from glupy import _process
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
_process.guard()
signal.pthread_sigmask(signal.SIG_UNBLOCK, signal.valid_signals())
assert {signal.SIGUSR1, signal.SIGTERM} <= signal.pthread_sigmask(signal.SIG_BLOCK, ())
signal.pthread_sigmask(signal.SIG_SETMASK, ())
assert {signal.SIGUSR1, signal.SIGTERM} <= signal.pthread_sigmask(signal.SIG_BLOCK, ())
refused = []
for call in (lambda: os.setuid(65534), lambda: os.chroot("/"), lambda: os.umask(0o777),
             lambda: os.closerange(3, 4), lambda: os.dup2(0, os.open("/dev/null", os.O_RDONLY)),
             lambda: resource.setrlimit(resource.RLIMIT_CPU, (1000, 1000))):
    try:
        call()
    except PermissionError:
        refused.append(True)
assert len(refused) == 6, refused
sys.setrecursionlimit(10**6)
assert sys.getrecursionlimit() == _process.RECURSION_CAP
import threading
threading.stack_size(1 << 16)
assert threading.stack_size() == _process.THREAD_STACK
sys.setswitchinterval(100)
assert sys.getswitchinterval() == _process.SWITCH_INTERVAL_MAX
ending = []
for call in (lambda: os._exit(1), os.abort, lambda: os.kill(os.getpid(), signal.SIGKILL),
             lambda: os.kill(0, signal.SIGTERM), lambda: os.kill(-1, signal.SIGSEGV),
             lambda: os.kill(-os.getpgrp(), signal.SIGSTOP), lambda: os.killpg(0, signal.SIGKILL),
             lambda: signal.raise_signal(signal.SIGSEGV), lambda: signal.pthread_kill(threading.get_ident(), 9),
             lambda: signal.pidfd_send_signal(os.pidfd_open(os.getpid()), signal.SIGKILL),
             lambda: os.kill(threading.get_native_id(), signal.SIGKILL),  # a thread's id: the whole process
             lambda: faulthandler.dump_traceback_later(0.01, exit=True), faulthandler._sigsegv,
             lambda: resource.prlimit(threading.get_native_id(), resource.RLIMIT_NOFILE, (3, 3))):
    try:
        call()
    except PermissionError:
        ending.append(True)
assert len(ending) == 14, ending
faulthandler.dump_traceback_later(60)  # a dump without exit goes through
faulthandler.cancel_dump_traceback_later()
os.kill(os.getpid(), 0)  # what does not end the process still goes
signal.raise_signal(signal.SIGCHLD)
child = os.fork()  # (ended by the fork guard with 70)
os.kill(child, signal.SIGKILL)  # another process: not this guard's business
assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) in (70, -signal.SIGKILL)
os._exit = lambda code: None
pid = os.fork()
if pid == 0:
    print("child went on")
    sys.exit(0)
assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 70
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", (out.stdout, out.stderr)


def test_os_close_leaves_what_was_open_before_and_sockets_open():
    """After guard(): os.close of a file open before it (GlusterFS's log), of a socket and
    of an epoll instance is refused, and so is open(fd) of them (closefd=False reads one);
    a translator's own file, pipe and eventfd close."""
    code = r"""
import io, os, select, socket
from glupy import _process
before = os.open("/etc/hostname", os.O_RDONLY)
theirs_ep = select.epoll()  # an event loop of "GlusterFS's", and a connection it watches, made later
_process.guard()
later = socket.socket()
theirs_ep.register(later.fileno(), select.EPOLLIN)
try:
    socket.socket(fileno=later.fileno())
    raise AssertionError("socket(fileno=) of a socket GlusterFS's event loop watches was not refused")
except PermissionError:
    pass
a, b = socket.socketpair()  # (socket(fileno=) of fds of their own)
copy = socket.fromfd(later.fileno(), socket.AF_INET, socket.SOCK_STREAM)
mine_too = socket.socket(fileno=os.dup(a.fileno()))
for s in (a, b, copy, mine_too):
    s.close()
sock, ep = socket.socket(), select.epoll()
refused = []
for fd in (before, sock.fileno(), ep.fileno()):
    try:
        os.close(fd)
    except PermissionError:
        refused.append(fd)
assert refused == [before, sock.fileno(), ep.fileno()], refused
wrapped = []  # a file object that would close them when it is closed
for wrap in (lambda: open(before), lambda: os.fdopen(sock.fileno(), "rb"), lambda: io.open(ep.fileno())):
    try:
        wrap()
    except PermissionError:
        wrapped.append(True)
assert wrapped == [True] * 3, wrapped
with open(before, "rb", closefd=False) as f:  # read, not closed
    f.read()
os.fstat(before)
with open("/etc/hostname") as f, os.fdopen(os.open("/etc/hostname", os.O_RDONLY)) as g:
    assert f.read() == g.read()
mine = os.open("/etc/hostname", os.O_RDONLY)
r, w = os.pipe()
for fd in (mine, r, w, os.eventfd(0)):
    os.close(fd)
sock.close(); ep.close()  # through their objects
try:
    os.close(mine)  # closed already: the usual error
except OSError as error:
    assert not isinstance(error, PermissionError)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", (out.stdout, out.stderr)


def test_exceptions_python_cannot_raise_are_logged_a_few_times_then_counted():
    """guard(): a __del__ that raises, 200 times, shows 5 tracebacks in 10 s, not 200."""
    code = r"""
import gc
from glupy import _process
_process.guard()

class Raises:
    def __del__(self):
        raise RuntimeError("from __del__")

for _ in range(200):
    Raises()
gc.collect()
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", (out.stdout, out.stderr)
    assert out.stderr.count("RuntimeError: from __del__") == _process.UNRAISABLE_BURST, out.stderr[-500:]
