"""adversary3: misbehaving translators from a seventh red-team session, for
tests/integration/test_adversary3.py (issue 11: whatever a handler does, the process
keeps its PID and serves every other FOP).

* :class:`SlowLogger`: getxattr ``user.slowlog`` logs an object whose ``__str__`` blocks
  ``block`` seconds (an exception whose message asks a server); every other FOP is
  logged at debug level, as a tracing translator does.
* :class:`BlockingFinally`: getxattr ``user.finblock`` awaits a Future never set, in a
  ``try`` whose ``finally`` sleeps an hour (cleanup closing a connection to a dead
  server: it runs when the bridge closes the handler at its deadline); ``user.spin``
  spins in Python for ever.
* :class:`LockLeaker`: getxattr ``user.take-N`` takes an inodelk of its own (domain
  ``adv3``, lock owner N) on the file and never releases it: ``user.take-1`` twice
  waits for good for a lock it leaked.
* :class:`HoldsLoggingLock` (above) and :class:`LogsEveryStat` (below): getxattr
  ``user.slowlogger`` makes a logger whose class takes ``block`` seconds to construct,
  which logging does under its module lock (a logger loading its settings from a
  server); every stat through the one below logs at debug level, and waits for that
  lock past its deadline.
* :class:`Hoarder`: getxattr ``user.hoard`` appends 1 MiB buffers to a list in a loop
  (a cache never trimmed), stopping by itself at ``cap`` MiB (a guard for the machine,
  should nothing stop it first); ``user.hoard-on-thread`` and ``user.hoard-on-loop`` do it
  in a ``glupy.to_thread`` call and on ``glupy.on_loop``'s loop, ``user.hoard-one-call``
  in one C call (``b"x" * (cap << 20)``); ``user.hoard-own-thread``
  in a ``threading.Thread`` of its own, started and left (``user.hoard-outcome``: what
  that thread came to, and a second thread's, which waits in a loop all along).
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import logging
import os
import threading
import time

import glupy


class _SlowText:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __str__(self) -> str:
        time.sleep(self.seconds)
        return "slow text"


class SlowLogger(glupy.Translator):
    block = glupy.Option(float, default=4.0, min=0)

    async def getxattr(self, loc, name, xdata):
        if name == "user.slowlog":
            self.log.warning("value: %s", _SlowText(self.block))
            raise glupy.FopError(errno.ENODATA)
        return await self.child.getxattr(loc, name, xdata)

    async def lookup(self, loc, xdata):
        self.log.debug("lookup %s", loc.path)
        return await self.child.lookup(loc, xdata)

    async def stat(self, loc, xdata):
        self.log.debug("stat %s", loc.path)
        return await self.child.stat(loc, xdata)


class BlockingFinally(glupy.Translator):
    async def getxattr(self, loc, name, xdata):
        if name == "user.finblock":
            try:
                await glupy.Future()  # never set
            finally:
                time.sleep(3600)
        if name == "user.spin":
            while True:
                pass
        return await self.child.getxattr(loc, name, xdata)


class LockLeaker(glupy.Translator):
    async def getxattr(self, loc, name, xdata):
        if name.startswith("user.take-"):
            owner = name.removeprefix("user.take-").encode()
            lock = glupy.Flock(type=fcntl.F_WRLCK, whence=0, start=0, len=0)
            await self.child.inodelk("adv3", loc, fcntl.F_SETLKW, lock, None, lk_owner=owner)
            raise glupy.FopError(errno.ENODATA)  # and the lock stays taken
        return await self.child.getxattr(loc, name, xdata)


class Hoarder(glupy.Translator):
    cap = glupy.Option(int, default=3000, min=1)

    def _hoard(self) -> int:
        hoard: list[bytearray] = []
        while len(hoard) < self.cap:
            hoard.append(bytearray(1 << 20))
        return len(hoard)

    async def _hoard_async(self) -> int:
        return self._hoard()

    def init(self) -> None:
        self._outcomes = {"hoarder": "not started", "idler": "waiting"}
        self._stop = threading.Event()
        threading.Thread(target=self._idle, daemon=True).start()

    def fini(self) -> None:
        self._stop.set()

    def _idle(self) -> None:
        try:  # wakes 20 times a second (it runs Python), but computes nothing
            while not self._stop.wait(0.05):
                pass
            self._outcomes["idler"] = "stopped"
        except BaseException as error:  # noqa: BLE001 - what it came to is the point
            self._outcomes["idler"] = type(error).__name__

    def _hoard_in_thread(self) -> None:
        try:
            self._outcomes["hoarder"] = str(self._hoard())
        except BaseException as error:  # noqa: BLE001
            self._outcomes["hoarder"] = type(error).__name__

    async def getxattr(self, loc, name, xdata):
        if name == "user.hoard":  # in the handler
            return glupy.GetxattrReply(dict=glupy.Xdata({name: str(self._hoard())}))
        if name == "user.hoard-on-thread":  # in a call on glupy's thread pool
            return glupy.GetxattrReply(dict=glupy.Xdata({name: str(await glupy.to_thread(self._hoard))}))
        if name == "user.hoard-on-loop":  # in a coroutine on glupy's event loop
            return glupy.GetxattrReply(dict=glupy.Xdata({name: str(await glupy.on_loop(self._hoard_async()))}))
        if name == "user.hoard-one-call":  # in one C call: no Python runs until it ends
            return glupy.GetxattrReply(dict=glupy.Xdata({name: str(len(b"x" * (self.cap << 20)))}))
        if name == "user.hoard-own-thread":  # in a thread of its own, left running
            self._outcomes["hoarder"] = "running"
            threading.Thread(target=self._hoard_in_thread, daemon=True).start()
            return glupy.GetxattrReply(dict=glupy.Xdata({name: "started"}))
        if name == "user.hoard-outcome":
            return glupy.GetxattrReply(dict=glupy.Xdata({name: "{hoarder} {idler}".format(**self._outcomes)}))
        return await self.child.getxattr(loc, name, xdata)


class _SlowLogger(logging.Logger):
    block = 4.0

    def __init__(self, name: str, level: int = logging.NOTSET) -> None:
        time.sleep(self.block)  # fetching its settings from a server
        super().__init__(name, level)


class HoldsLoggingLock(glupy.Translator):
    block = glupy.Option(float, default=4.0, min=0)
    _names = itertools.count()

    async def getxattr(self, loc, name, xdata):
        if name == "user.slowlogger":
            self.log.setLevel(logging.DEBUG)  # (every logger's level cache is cleared)
            _SlowLogger.block = self.block
            old = logging.getLoggerClass()
            logging.setLoggerClass(_SlowLogger)
            try:
                logging.getLogger(f"adv3.remote{next(self._names)}")
            finally:
                logging.setLoggerClass(old)
            raise glupy.FopError(errno.ENODATA)
        return await self.child.getxattr(loc, name, xdata)


class LogsEveryStat(glupy.Translator):
    async def stat(self, loc, xdata):
        self.log.debug("stat %s", loc.path)
        return await self.child.stat(loc, xdata)


class ProcessMeddler(glupy.Translator):
    """Process-wide changes a ninth red-team session made from handlers (each ended a FUSE
    client or broke every FOP of it; glupy._process refuses them). A getxattr
    ``user.meddle-WHAT`` tries one and answers the outcome: ``refused:ERROR`` when it was
    refused, ``done`` when it was not.

    * ``sigmask``: unblock every signal on the worker; the answer lists GlusterFS's signals
      (HUP, INT, TERM, USR1, USR2) still blocked after it.
    * ``setuid``, ``chroot``, ``umask``, ``rlimit-cpu``, ``rlimit-as``, ``closerange``,
      ``dup2``: as named (``dup2`` over an open fd of the process).
    * ``close-all``: ``os.close`` of every fd from 3 to 4095 (what it closed is seen from
      outside, in ``/proc/PID/fd``); ``fdopen-all``: the same through ``os.fdopen(fd).close()``.
    * ``recursion``: the recursion limit raised to a million and threads' stacks set to
      64 KiB, then a recursion through C (a sort key calling itself) in a thread of its
      own and in the handler; the answer names what each came to.
    * ``switch-interval``: ``sys.setswitchinterval(100)``; the answer is the interval after.
    * ``nan-sleep``: a glupy.sleep whose seconds are set to NaN after it was made.
    * ``fork``: ``os._exit`` replaced by a function that returns, then ``os.fork()``; the
      parent answers ``child:STATUS`` (the child's exit status, 70 when the fork guard ended
      it).
    """

    async def getxattr(self, loc, name, xdata):
        if not name.startswith("user.meddle-"):
            return await self.child.getxattr(loc, name, xdata)
        what = name.removeprefix("user.meddle-")
        try:
            answer = await self._meddle(what)
        except Exception as error:  # noqa: BLE001 - the outcome is the answer
            answer = f"refused:{type(error).__name__}"
        return glupy.GetxattrReply(dict=glupy.Xdata({name: answer}))

    async def _meddle(self, what: str) -> str:
        import resource
        import signal

        if what == "sigmask":
            signal.pthread_sigmask(signal.SIG_UNBLOCK, signal.valid_signals())
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, ())
            kept = [signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2]
            return ",".join(s.name for s in kept if s in blocked)
        if what == "setuid":
            os.setuid(65534)
        elif what == "chroot":
            os.chroot("/tmp")
        elif what == "umask":
            os.umask(0o777)
        elif what == "rlimit-cpu":
            used = int(resource.getrusage(resource.RUSAGE_SELF).ru_utime) + 2
            resource.setrlimit(resource.RLIMIT_CPU, (used, used + 1))
        elif what == "rlimit-as":
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        elif what == "closerange":
            os.closerange(3, 65536)
        elif what == "close-all":  # closerange's loop, written out
            for fd in range(3, 4096):
                try:
                    os.close(fd)
                except OSError:
                    continue
        elif what == "fdopen-all":  # the same through file objects that close their fd
            for fd in range(3, 4096):
                try:
                    os.fdopen(fd, "rb").close()
                except OSError:
                    continue
        elif what == "dup2":
            target = os.open("/dev/null", os.O_RDONLY)
            try:
                os.dup2(target, 3)  # fd 3 of a GlusterFS process is its own (a log, a socket)
            finally:
                os.close(target)
        elif what == "recursion":  # a deep recursion through C, past a raised limit
            import sys
            import threading

            sys.setrecursionlimit(10**6)
            threading.stack_size(1 << 16)  # and small stacks for the translator's threads

            def deeper(n: int) -> int:
                return sorted([1], key=lambda x: deeper(n + 1))[0]

            out: dict[str, str] = {}

            def in_own_thread() -> None:
                try:
                    deeper(0)
                except RecursionError:
                    out["thread"] = "RecursionError"

            worker = threading.Thread(target=in_own_thread)
            worker.start()
            worker.join()
            try:
                deeper(0)
            except RecursionError:
                out["handler"] = "RecursionError"
            return f"thread:{out.get('thread')},handler:{out.get('handler')}"
        elif what == "switch-interval":  # a thread computing keeps the GIL this long
            import sys

            sys.setswitchinterval(100)
            return str(sys.getswitchinterval())
        elif what == "nan-sleep":
            request = glupy.sleep(0)
            request.seconds = float("nan")
            await request
        elif what == "fork":
            real = os._exit
            os._exit = lambda code: None  # type: ignore[assignment,return-value]  # a test double left in place
            try:
                pid = os.fork()
                if pid == 0:
                    return "the child went on"  # (only without the fork guard)
            finally:
                os._exit = real
            return f"child:{os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}"
        else:
            raise ValueError(what)
        return "done"


class HugeListing(glupy.Translator):
    """readdirp of a directory whose name starts with ``huge``: each entry of the child's reply
    multiplied into 5,000 of 200-byte names (a red-team session's brick answered 60,000
    such entries, 13 MB: every FUSE client that listed the directory ended decoding it).
    Refused now (EIO): more than any caller asks for."""

    async def readdirp(self, fd, size, offset, xdata):
        reply = await self.child.readdirp(fd, size, offset, xdata)
        if reply.op_ret <= 0 or not (self.inode_ctx(fd.inode) or "").startswith("huge"):
            return reply
        entries = [glupy.Dirent(name=f"{e.name}-{k}-" + "n" * 200, ino=e.ino, off=e.off, type=e.type, stat=e.stat)
                   for e in reply.entries if e.name not in (".", "..") for k in range(5000)]
        return glupy.ReaddirpReply(entries, reply.xdata)

    async def lookup(self, loc, xdata):
        reply = await self.child.lookup(loc, xdata)
        if reply.op_ret == 0 and loc.name:
            self.set_inode_ctx(reply.inode, loc.name)
        return reply
