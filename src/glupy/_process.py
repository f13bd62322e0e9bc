"""What a GlusterFS process keeps from its translators: process-wide state that Python
code could change for every translator, and for GlusterFS itself, with one call.

Installed by :mod:`glupy._runtime` where glupy started Python (a GlusterFS daemon:
``EMBEDDED``); a Python program using gfapi owns its process and keeps all of this.
Each guard replaces the function in both the module a translator uses (``os``,
``resource``, ``signal``) and the C module behind it (``posix``, ``_signal``), before
any translator is imported. Code that calls the C library directly (ctypes) is not
held back: a translator in C can end its process in many ways.

Found by a ninth red-team session, each on a FUSE client of GlusterFS 10.3:

* ``signal.pthread_sigmask`` unblocking signals on a worker: GlusterFS blocks HUP, INT,
  TERM, USR1 and USR2 in its threads and takes them with ``sigwait``; with one already
  pending there (a statedump, SIGUSR1, and at once SIGUSR2), the next went to the worker,
  whose default action ended the process without a log line.
* ``resource.setrlimit`` lowering RLIMIT_CPU (SIGKILL at the hard limit), RLIMIT_AS (no
  thread could start: the worker pool stopped growing), RLIMIT_NOFILE or RLIMIT_FSIZE
  (EMFILE, EFBIG for every FOP).
* ``os.setuid`` (every lookup ENODATA: posix could no longer read ``trusted.gfid``),
  ``os.chroot`` (every FOP ESTALE), ``os.umask`` (new files of mode 000).
* ``os.closerange(3, 65536)``, the "close what was inherited" idiom: it closed
  ``/dev/fuse`` and GlusterFS's sockets, and the client ended; ``os.dup2`` over the
  ``/dev/fuse`` fd ended it too. The same loop written with ``os.close`` closed them as
  well (and, where posix runs in the process, its ``.glusterfs`` directories: every
  create EBADF): ``os.close`` leaves open ``/dev/fuse``, sockets, epoll instances, what
  was open before the first translator started and what is open in the process's
  bricks, and ``open(fd)`` (``os.fdopen``) refuses such an fd unless ``closefd=False``;
  ``socket.socket(fileno=fd)`` refuses GlusterFS's sockets (those its event loop
  watches). (Other ways to close an fd, ctypes for one, are not guarded.)
* ``os._exit`` replaced (a test double), then ``os.fork()``: the fork guard looked
  ``os._exit`` up when it ran, so the child went on, holding ``/dev/fuse``.

And what ends a process outright, where a careless handler might "exit on error":
``os._exit``, ``os.abort``, and a signal that ends or stops the process sent to itself
(``os.kill(os.getpid(), SIGKILL)``, ``signal.raise_signal(SIGSEGV)``, ...) are refused
(PermissionError: the FOP fails, the process serves on). ``sys.exit`` raises SystemExit,
which fails the FOP as any exception does.
"""

from __future__ import annotations

import os
import posix
import signal
from typing import Any, Callable

#: Signals whose default action ends the process and that GlusterFS neither handles nor
#: uses: only code inside the process sends them (a handler arming a profiling timer,
#: ``signal.setitimer(signal.ITIMER_PROF, ...)``, or an ``os.kill`` of its own process),
#: and each killed a brick or a FUSE client without a line in its log. Deliberate stops
#: (TERM, INT, HUP, QUIT, USR1/USR2: GlusterFS's) and faults (SEGV, BUS, ABRT...) keep
#: their meaning.
STRAY_SIGNALS = (signal.SIGPROF, signal.SIGVTALRM, signal.SIGALRM, signal.SIGXCPU, signal.SIGXFSZ, signal.SIGIO,
                 signal.SIGPWR, signal.SIGSYS, signal.SIGSTKFLT, *range(signal.SIGRTMIN, signal.SIGRTMAX + 1))

#: The signals GlusterFS takes on a thread of its own (``sigwait``): they stay blocked on
#: every other thread, or one of them reaches a thread that does not wait for it.
GLUSTER_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1,
                             signal.SIGUSR2})

#: Process-wide identity and place (a translator that needs another user or root runs a
#: program for it: subprocess), and closerange, which closes GlusterFS's descriptors
#: (/dev/fuse, sockets, brick files) with the translator's own.
REFUSED = ("setuid", "setgid", "seteuid", "setegid", "setreuid", "setregid", "setresuid", "setresgid",
           "setgroups", "initgroups", "chroot", "closerange")

_exit = posix._exit  # bound now: a translator may replace os._exit (a test double)

#: The stack of every thread of glupy's that runs Python (the bridge's GP_STACK_BYTES),
#: and the default of the threads translators start (threading.stack_size).
THREAD_STACK = 32 << 20
#: The highest recursion limit a translator may set: recursion through C (a __repr__, a
#: sort key, a __getattr__ calling itself) takes up to about 2 KiB of stack a level, and a
#: thread whose stack overflows ends the process (sys.setrecursionlimit(10**6) and a
#: __repr__ recursing did, in a plain Python 3.11 on an 8 MiB stack). 4 KiB a level.
RECURSION_CAP = THREAD_STACK // 4096
#: The longest switch interval a translator may set (Python's default, 5 ms).
SWITCH_INTERVAL_MAX = 0.005


def _end_forked_child() -> None:
    """os.fork() in a handler: the child would go on with copies of the process's
    /dev/fuse, sockets and brick files, and its one thread would wait for work that
    never comes. End it at once (starting programs with subprocess execs without this)."""
    _exit(70)


def _refused(name: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(f"glupy: os.{name}() would change the GlusterFS process for every translator in it "
                              "(and for GlusterFS itself); run a program for it (subprocess)")

    refuse.__name__ = refuse.__qualname__ = name
    return refuse


def _current_umask() -> int:
    """The process's umask, read without changing it (Linux 4.7 and later)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    raise OSError("no Umask in /proc/self/status")


def umask(mask: int) -> int:
    """os.umask that only reads: ``os.umask(os.umask(0))`` style code keeps working, a
    change is refused (storage/posix creates files with the modes it is given)."""
    current = _current_umask()
    if mask != current:
        raise PermissionError(f"glupy: os.umask({mask:#o}) would change the GlusterFS process's umask ({current:#o}) "
                              "for every translator in it")
    return current


def _guard_dup2() -> None:
    real = posix.dup2

    def dup2(fd: int, fd2: int, inheritable: bool = True) -> int:
        """os.dup2 that does not replace an open fd other than 0-2: the target may be
        GlusterFS's (/dev/fuse: the FUSE reader saw its end and the client went down; a
        socket, a brick's file)."""
        if fd2 > 2:
            try:
                os.fstat(fd2)
            except OSError:
                pass  # not open: nothing of anyone's is replaced
            else:
                raise PermissionError(f"glupy: os.dup2() onto fd {fd2}, which is open, may replace one of the "
                                      "GlusterFS process's own files or sockets")
        return real(fd, fd2, inheritable)

    posix.dup2 = os.dup2 = dup2


def _fd_target(fd: int) -> str:
    try:
        return posix.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # not open (close says so), or no /proc
        return ""


#: What os.close leaves open whoever opened it: the FUSE device (the client ends when its
#: reader sees it closed), sockets (GlusterFS's connections to bricks and glusterd; a
#: translator closes its own through the socket object, whose close is not os.close) and
#: epoll instances (GlusterFS's event loop; Python's close through their objects too).
KEPT_OPEN = ("/dev/fuse", "socket:", "anon_inode:[eventpoll]")


#: The directories of the process's bricks (storage/posix below a glupy translator): what
#: posix keeps open in them (the brick's and .glusterfs's directories, the files of open
#: fds) is GlusterFS's; closing its .glusterfs directories made every create EBADF.
_BRICKS: list[str] = []


def keep_bricks_open(xlator: Any) -> None:
    """Record the brick directories of every storage/posix below *xlator* (a translator of
    the process's graph) for os.close to leave alone."""
    todo, seen = [xlator], set()
    while todo:
        x = todo.pop()
        try:
            if x.name in seen:
                continue
            seen.add(x.name)
            directory = x.options.get("directory") if x.type == "storage/posix" else None
            if isinstance(directory, bytes):
                directory = directory.rstrip(b"\0").decode(errors="replace")
            if directory and (real := os.path.realpath(directory)) not in _BRICKS:
                _BRICKS.append(real)  # (as /proc/self/fd shows it)
            todo.extend(x.children)
        except Exception:  # noqa: BLE001 - a guard's bookkeeping never fails a translator's start
            continue


def _guard_close() -> None:
    import builtins
    import io

    import _io  # type: ignore[import-not-found]

    real = posix.close
    # what was open before any translator: GlusterFS's log, its pidfile's lock, a brick's
    # directory (a number that is now something else is no longer theirs)
    theirs = {fd: target for fd in map(int, os.listdir("/proc/self/fd")) if fd > 2
              and (target := _fd_target(fd)) not in ("", "/dev/null")}

    def kept(fd: int) -> str:
        """What fd is open on, if it is one of the process's own (else "")."""
        target = _fd_target(fd)
        if (target.startswith(KEPT_OPEN) or (target and theirs.get(fd) == target)
                or any(target == b or target.startswith(b + "/") for b in _BRICKS)):
            return target
        return ""

    def close(fd: int) -> None:
        """os.close that leaves GlusterFS's own descriptors open (the "close every fd"
        idiom closed /dev/fuse and the client ended)."""
        if target := kept(fd):
            raise PermissionError(f"glupy: os.close({fd}) of {target} may close one of the GlusterFS process's own "
                                  "(close a socket through its socket object)")
        real(fd)

    posix.close = os.close = close
    real_open = _io.open

    def open(file: Any, mode: str = "r", buffering: int = -1, encoding: Any = None, errors: Any = None,
             newline: Any = None, closefd: bool = True, opener: Any = None) -> Any:
        """open() that does not wrap one of the process's own fds in a file object that
        would close it (open(fd).close(), os.fdopen: pass closefd=False to read it)."""
        if isinstance(file, int) and closefd and (target := kept(file)):
            raise PermissionError(f"glupy: open({file}) of {target} would close one of the GlusterFS process's own "
                                  "when the file object is closed (use closefd=False)")
        return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)

    builtins.open = io.open = _io.open = open
    _guard_socket_objects(theirs)


def _registered_in(epoll_fds: list[int], fd: int) -> bool:
    """fd is watched by one of the epoll instances `epoll_fds` (their ``tfd:`` lines)."""
    for epoll_fd in epoll_fds:
        try:
            with open(f"/proc/self/fdinfo/{epoll_fd}") as info:
                if any(line.startswith("tfd:") and line.split()[1] == str(fd) for line in info):
                    return True
        except (OSError, IndexError):
            continue
    return False


def _guard_socket_objects(theirs: dict[int, str]) -> None:
    """socket.socket(fileno=fd) refuses a socket of GlusterFS's: one open before the first
    translator, or one GlusterFS's event loop watches (its epoll instances were open before
    too). Closing the socket object would close GlusterFS's connection under it (a
    translator's own sockets, socketpair's, accept's, fromfd's, asyncio's, are not in
    GlusterFS's event loop)."""
    import socket

    gluster_epolls = [fd for fd, target in theirs.items() if target == "anon_inode:[eventpoll]"]
    real_init = socket.socket.__init__

    def __init__(self: Any, family: Any = -1, type: Any = -1, proto: Any = -1, fileno: Any = None) -> None:
        if isinstance(fileno, int) and (target := _fd_target(fileno)).startswith("socket:") and (
                theirs.get(fileno) == target or _registered_in(gluster_epolls, fileno)):
            raise PermissionError(f"glupy: socket.socket(fileno={fileno}) of {target}, one of the GlusterFS "
                                  "process's own connections, would close it when the socket object is closed "
                                  "(socket.fromfd makes a copy)")
        real_init(self, family, type, proto, fileno)

    socket.socket.__init__ = __init__  # type: ignore[method-assign]


#: Signals a translator may send its own process: none of them ends it (0 only checks that
#: a process exists; HUP, USR1 and USR2 GlusterFS takes on a thread of its own, for a log
#: rotation or a statedump; the stray ones are ignored; the last four are ignored by
#: default). Any other signal ends or stops the process: KILL, STOP, SEGV, ABRT, ... and
#: TERM, INT and QUIT, which GlusterFS takes as an order to shut down.
HARMLESS_SIGNALS = frozenset({0, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, *STRAY_SIGNALS, signal.SIGCHLD,
                              signal.SIGURG, signal.SIGWINCH, signal.SIGCONT})


def _ends_process(sig: Any) -> bool:
    return isinstance(sig, int) and sig not in HARMLESS_SIGNALS


def _ours(pid: int) -> bool:
    """pid is this process: its pid, or the id of one of its threads (a signal or a resource
    limit aimed at a thread's id reaches the whole process: SIGKILL to a worker's
    native_id ended a FUSE client, prlimit on it lowered the process's limits)."""
    return pid == os.getpid() or (pid > 0 and os.path.isdir(f"/proc/self/task/{pid}"))


def _reaches_self(pid: int) -> bool:
    """os.kill(pid, ...) reaches this process: its pid or a thread's, its group (0, -pgid) or
    every process (-1)."""
    return pid in (0, -1) or _ours(pid) or (pid < -1 and -pid == os.getpgrp())


def _pidfd_of_self(fd: int) -> bool:
    try:
        with open(f"/proc/self/fdinfo/{fd}") as info:
            return any(line.startswith("Pid:") and _ours(int(line.split()[1])) for line in info)
    except (OSError, ValueError, IndexError):
        return False


def _refuse_ending(call: str) -> None:
    raise PermissionError(f"glupy: {call} would end the GlusterFS process (and every FOP of every translator "
                          "in it); raise an exception to fail the FOP")


def _guard_ending() -> None:
    """Refuse what ends the process outright from a handler: os._exit and os.abort, a
    signal that ends or stops it sent to itself or one of its threads (os.kill,
    os.killpg, signal.raise_signal, signal.pthread_kill, signal.pidfd_send_signal), and
    faulthandler's exit=True watchdog. (sys.exit raises SystemExit, which fails the FOP
    like any exception.)"""
    import _signal  # type: ignore[import-not-found]

    def _exit(code: int) -> None:
        _refuse_ending(f"os._exit({code!r})")

    def abort() -> None:
        _refuse_ending("os.abort()")

    real_kill, real_killpg = posix.kill, posix.killpg

    def kill(pid: int, sig: int) -> None:
        if _ends_process(sig) and isinstance(pid, int) and _reaches_self(pid):
            _refuse_ending(f"os.kill({pid}, {sig})")
        real_kill(pid, sig)

    def killpg(pgid: int, sig: int) -> None:
        if _ends_process(sig) and pgid in (0, os.getpgrp()):
            _refuse_ending(f"os.killpg({pgid}, {sig})")
        real_killpg(pgid, sig)

    posix._exit = os._exit = _exit
    posix.abort = os.abort = abort
    posix.kill = os.kill = kill
    posix.killpg = os.killpg = killpg
    real_raise, real_pthread_kill = _signal.raise_signal, _signal.pthread_kill

    def raise_signal(sig: int) -> None:
        if _ends_process(sig):
            _refuse_ending(f"signal.raise_signal({sig})")
        real_raise(sig)

    def pthread_kill(thread_id: int, sig: int) -> None:
        if _ends_process(sig):  # (every thread is this process's)
            _refuse_ending(f"signal.pthread_kill(..., {sig})")
        real_pthread_kill(thread_id, sig)

    signal.raise_signal = _signal.raise_signal = raise_signal
    signal.pthread_kill = _signal.pthread_kill = pthread_kill
    _guard_faulthandler()
    if hasattr(_signal, "pidfd_send_signal"):
        real_pidfd_send = _signal.pidfd_send_signal

        def pidfd_send_signal(pidfd: int, sig: int, siginfo: Any = None, flags: int = 0) -> None:
            if _ends_process(sig) and _pidfd_of_self(pidfd):
                _refuse_ending(f"signal.pidfd_send_signal(..., {sig})")
            real_pidfd_send(pidfd, sig, siginfo, flags)

        signal.pidfd_send_signal = _signal.pidfd_send_signal = pidfd_send_signal


def _guard_faulthandler() -> None:
    """faulthandler.dump_traceback_later(..., exit=True) ("dump the stacks and restart if I
    hang") ends the process with _exit when its timer runs out, from a C thread: refused
    (exit=False, the dump alone, goes through); so are faulthandler's own crash helpers
    (_sigsegv, _sigabrt, ...), which exist to crash a process."""
    import faulthandler

    real_later = faulthandler.dump_traceback_later

    def dump_traceback_later(timeout: float, repeat: bool = False, file: Any = None, exit: bool = False) -> None:
        if exit:
            _refuse_ending("faulthandler.dump_traceback_later(..., exit=True)")
        if file is None:
            real_later(timeout, repeat=repeat, exit=False)
        else:
            real_later(timeout, repeat=repeat, file=file, exit=False)

    faulthandler.dump_traceback_later = dump_traceback_later
    for name in ("_sigsegv", "_sigabrt", "_sigfpe", "_read_null", "_fatal_error", "_fatal_error_c_thread",
                 "_stack_overflow"):
        if hasattr(faulthandler, name):
            setattr(faulthandler, name, lambda *args, _name=name, **kwargs: _refuse_ending(f"faulthandler.{_name}()"))


def _lowers(resource_mod: Any, which: int, limits: tuple[int, int]) -> bool:
    soft, hard = resource_mod.getrlimit(which)
    new_soft, new_hard = limits

    def below(new: int, old: int) -> bool:
        infinity = resource_mod.RLIM_INFINITY
        return new != infinity and (old == infinity or new < old)

    return below(new_soft, soft) or below(new_hard, hard)


def _guard_resource() -> None:
    import resource

    setrlimit, prlimit = resource.setrlimit, resource.prlimit

    def guarded_setrlimit(which: int, limits: tuple[int, int]) -> None:
        if _lowers(resource, which, limits):
            raise PermissionError(f"glupy: lowering the GlusterFS process's resource limit {which} would change it for "
                                  "every translator in it (and for GlusterFS itself)")
        setrlimit(which, limits)

    def guarded_prlimit(pid: int, which: int, *limits: Any) -> Any:
        if limits and (pid == 0 or _ours(pid)) and _lowers(resource, which, limits[0]):
            raise PermissionError(f"glupy: lowering the GlusterFS process's resource limit {which} would change it for "
                                  "every translator in it (and for GlusterFS itself)")
        return prlimit(pid, which, *limits)

    guarded_setrlimit.__name__ = "setrlimit"
    guarded_prlimit.__name__ = "prlimit"
    resource.setrlimit, resource.prlimit = guarded_setrlimit, guarded_prlimit


def _guard_interpreter() -> None:
    import sys
    import threading

    import _thread

    set_stack = _thread.stack_size

    def stack_size(size: int = 0) -> int:
        """threading.stack_size that gives threads no less than :data:`THREAD_STACK`
        (0, the platform's default, included): a smaller stack overflows below the
        recursion limit."""
        return set_stack(max(size, THREAD_STACK) if isinstance(size, int) else size)

    _thread.stack_size = threading.stack_size = stack_size
    stack_size(THREAD_STACK)
    real = sys.setrecursionlimit

    def setrecursionlimit(limit: int) -> None:
        """sys.setrecursionlimit that keeps the limit within what a thread's stack holds
        (:data:`RECURSION_CAP`): past it, deep recursion raises RecursionError rather
        than overflowing the stack (a crash of the process)."""
        real(min(limit, RECURSION_CAP) if isinstance(limit, int) else limit)

    sys.setrecursionlimit = setrecursionlimit
    set_interval = sys.setswitchinterval

    def setswitchinterval(interval: float) -> None:
        """sys.setswitchinterval that keeps the interval at :data:`SWITCH_INTERVAL_MAX` at
        most: a thread computing in Python keeps the GIL for as long as the interval asks
        before it is made to give it up, and every other FOP of the process waits."""
        set_interval(min(interval, SWITCH_INTERVAL_MAX) if isinstance(interval, (int, float)) else interval)

    sys.setswitchinterval = setswitchinterval


def _guard_signal_mask() -> None:
    import _signal  # type: ignore[import-not-found]

    real = _signal.pthread_sigmask

    def pthread_sigmask(how: int, mask: Any) -> Any:
        """signal.pthread_sigmask that leaves GlusterFS's signals blocked on the thread."""
        wanted = set(mask)
        if how == signal.SIG_UNBLOCK:
            wanted -= GLUSTER_SIGNALS
        elif how == signal.SIG_SETMASK:
            wanted |= GLUSTER_SIGNALS & real(signal.SIG_BLOCK, ())
        return real(how, wanted)

    signal.pthread_sigmask = _signal.pthread_sigmask = pthread_sigmask


def ignore_stray_signals() -> None:
    """Ignore :data:`STRAY_SIGNALS` where the process leaves them at their default. (Python's
    main thread here is the one that started it: this runs on it, while the bridge
    imports glupy._runtime.)"""
    for signum in STRAY_SIGNALS:
        try:
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_IGN)
        except (OSError, ValueError, RuntimeError):  # a signal this kernel does not have
            continue


#: Exceptions Python cannot raise anywhere (in a __del__, a weakref callback, a finalizer) are
#: logged in full at most this many times per UNRAISABLE_WINDOW seconds, then counted: a
#: context whose __del__ raised logged 6,000 traceback lines for 3,000 opens.
UNRAISABLE_BURST = 5
UNRAISABLE_WINDOW = 10.0


def _limit_unraisable() -> None:
    import sys
    import threading
    import time

    real = sys.unraisablehook
    lock = threading.Lock()
    state = {"since": 0.0, "shown": 0, "dropped": 0}

    def unraisablehook(unraisable: Any) -> None:
        """sys.unraisablehook that shows UNRAISABLE_BURST exceptions per UNRAISABLE_WINDOW and
        counts the rest (said in one line when the next window opens)."""
        now = time.monotonic()
        with lock:
            dropped = 0
            if now - state["since"] >= UNRAISABLE_WINDOW:
                dropped = state["dropped"]
                state.update(since=now, shown=0, dropped=0)
            show = state["shown"] < UNRAISABLE_BURST
            state["shown" if show else "dropped"] += 1
        if dropped:
            print(f"glupy: {dropped} more exceptions Python could not raise (in __del__ methods, finalizers) "
                  "were not logged", file=sys.stderr)
        if show:
            real(unraisable)

    sys.unraisablehook = unraisablehook


#: guard() ran: this is a GlusterFS daemon whose translators are held back (glupy.testing.chaos
#: ends its own process only then: in the in-process harness nothing would refuse it)
GUARDED = False


def guard() -> None:
    """Install every guard of this module (once, in a GlusterFS daemon)."""
    global GUARDED
    GUARDED = True
    os.register_at_fork(after_in_child=_end_forked_child)
    ignore_stray_signals()
    for name in REFUSED:
        if hasattr(posix, name):
            setattr(posix, name, _refused(name))
            setattr(os, name, getattr(posix, name))
    posix.umask = os.umask = umask
    _guard_dup2()
    _guard_close()
    _guard_ending()
    _guard_resource()
    _guard_signal_mask()
    _guard_interpreter()
    _limit_unraisable()
