"""metrics: a Prometheus exporter of the FOPs that pass through this point of the graph.

Every FOP is overridden (like ``passthrough``), timed and passed on unchanged.
Exposed at ``http://LISTEN/metrics`` (option ``listen``, default
``127.0.0.1:9280``; port 0 picks a free port, shown in the log, the statedump
and the virtual xattr ``glupy.metrics.listen``):

* ``glupy_fops_total{fop}``: FOPs answered (successes and failures);
* ``glupy_fop_errors_total{fop, errno}``: failed FOPs by errno name (``ENOENT``);
* ``glupy_fop_latency_seconds{fop}``: a histogram of the time until the child
  answered (buckets from 50 µs to 10 s);
* ``glupy_read_bytes_total`` and ``glupy_written_bytes_total``: bytes returned
  by readv and written by writev (the reply's op_ret);
* the process's CPU, memory and open fds (``process_*``), as prometheus-client
  reports them.

Each translator instance has its own ``CollectorRegistry`` and its own HTTP
server (``prometheus_client.start_http_server``), so two instances in one
process (two bricks' graphs, or two places in one client graph) never share or
collide in metrics; they need different ports. If the port is busy when the
translator starts (a client's old graph still holds it during a graph switch),
it logs a warning and keeps trying every 2 seconds instead of failing the
graph; fini() shuts the server down and frees the port.

On bricks, give each brick of a machine its own port, or use port 0 and read
the port from the brick log (``metrics: serving on``) or the statedump.
"""

from __future__ import annotations

import errno as _errno
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, start_http_server

import glupy
from glupy.fop_table import FOPS
from glupy.listen import parse_listen as _parse_listen

LISTEN_XATTR = "glupy.metrics.listen"

#: latency buckets in seconds: FUSE round trips are ~100 µs to ms; network and disks up to seconds
BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
           1.0, 2.5, 5.0, 10.0)


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) -> (host, port): :func:`glupy.listen.parse_listen`."""
    host, port, _ = _parse_listen(text)
    return host, port


def _validate_listen(text: str) -> bool:
    parse_listen(text)
    return True


def _timed(name: str):
    wind = getattr(glupy.Child, name)
    perf = time.perf_counter

    if name == "readv":
        def account(self, reply):
            if reply.op_ret > 0:
                self.read_bytes.inc(reply.op_ret)
    elif name == "writev":
        def account(self, reply):
            if reply.op_ret > 0:
                self.written_bytes.inc(reply.op_ret)
    else:
        account = None

    async def handler(self, *args):
        t0 = perf()
        try:
            reply = await wind(self.child, *args)
        except glupy.FopError as error:
            self._failed(name, error.errno, perf() - t0)
            raise
        except BaseException:
            self._failed(name, _errno.EIO, perf() - t0)
            raise
        elapsed = perf() - t0
        self._count[name].inc()
        self._latency[name].observe(elapsed)
        if account is not None:
            account(self, reply)
        return reply

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"Time and count {name}, then pass it on unchanged."
    return handler


class Metrics(glupy.Translator):
    """Counts, times and measures every FOP; serves the numbers to Prometheus over HTTP."""

    listen = glupy.Option(str, default="127.0.0.1:9280", validate=_validate_listen, reconfigurable=False,
                          doc="host:port of the HTTP server (port 0: any free port)")

    def init(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.fops = Counter("glupy_fops", "FOPs answered, by FOP", ["fop"], registry=self.registry)
        self.errors = Counter("glupy_fop_errors", "Failed FOPs, by FOP and errno", ["fop", "errno"],
                              registry=self.registry)
        self.latency = Histogram("glupy_fop_latency_seconds", "Time until the child answered, by FOP", ["fop"],
                                 buckets=BUCKETS, registry=self.registry)
        self.read_bytes = Counter("glupy_read_bytes", "Bytes returned by readv", registry=self.registry)
        self.written_bytes = Counter("glupy_written_bytes", "Bytes written by writev", registry=self.registry)
        try:
            ProcessCollector(registry=self.registry)
        except Exception:  # noqa: BLE001 - process metrics are a bonus (no /proc: none)
            pass
        self._count = {f.name: self.fops.labels(f.name) for f in FOPS}
        self._latency = {f.name: self.latency.labels(f.name) for f in FOPS}
        self._errors: dict[tuple[str, int], Any] = {}
        self._errors_lock = threading.Lock()
        self.server: Any = None
        self.server_thread: threading.Thread | None = None
        self.address: tuple[str, int] | None = None
        self._stopping = threading.Event()
        self._retry: threading.Thread | None = None
        host, port = parse_listen(self.listen)
        try:
            self._serve(host, port)
        except OSError as error:
            if error.errno != _errno.EADDRINUSE:
                raise OSError(error.errno, f"metrics: cannot listen on {self.listen}: {error.strerror}") from None
            self.log.warning("metrics: %s is in use; retrying every 2 s", self.listen)
            self._retry = threading.Thread(target=self._retry_serve, args=(host, port),
                                           name=f"glupy-metrics-{self.name}", daemon=True)
            self._retry.start()

    def _serve(self, host: str, port: int) -> None:
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        if self._stopping.is_set():  # fini ran while we were binding
            server.shutdown()
            server.server_close()
            return
        self.server, self.server_thread = server, thread
        self.address = (host, server.server_port)
        self.log.info("metrics: serving on http://%s/metrics", self.listen_address)

    def _retry_serve(self, host: str, port: int) -> None:
        while not self._stopping.wait(2.0):
            try:
                self._serve(host, port)
                return
            except OSError as error:
                if error.errno != _errno.EADDRINUSE:
                    self.log.error("metrics: cannot listen on %s: %s", self.listen, error)
                    return

    @property
    def listen_address(self) -> str | None:
        """``host:port`` the server listens on (the real port when the option said 0), or None."""
        if self.address is None:
            return None
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _failed(self, name: str, number: int, elapsed: float) -> None:
        self._count[name].inc()
        self._latency[name].observe(elapsed)
        key = (name, number)
        child = self._errors.get(key)
        if child is None:
            with self._errors_lock:
                child = self._errors.get(key)
                if child is None:
                    child = self.errors.labels(name, _errno.errorcode.get(number, str(number)))
                    self._errors[key] = child
        child.inc()

    def statedump(self):
        totals = {"glupy_fops_total": 0.0, "glupy_fop_errors_total": 0.0, "glupy_read_bytes_total": 0.0,
                  "glupy_written_bytes_total": 0.0}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name in totals:
                    totals[sample.name] += sample.value
        return {"listening": self.listen_address or "not yet", "fops": int(totals["glupy_fops_total"]),
                "errors": int(totals["glupy_fop_errors_total"]), "read-bytes": int(totals["glupy_read_bytes_total"]),
                "written-bytes": int(totals["glupy_written_bytes_total"])}

    def fini(self) -> None:
        self._stopping.set()
        if self._retry is not None:
            self._retry.join(timeout=5)
        server = self.server
        if server is not None:
            server.shutdown()  # stops serve_forever and waits for it
            server.server_close()
            if self.server_thread is not None:
                self.server_thread.join(timeout=5)
            self.log.info("metrics: stopped serving on %s", self.listen_address)
            self.server = None

    async def getxattr(self, loc, name, xdata):
        """Answers ``glupy.metrics.listen`` (``.NAME`` for the instance named NAME) with host:port."""
        if name == LISTEN_XATTR or name == f"{LISTEN_XATTR}.{self.name}":
            value = (self.listen_address or "").encode()
            return glupy.GetxattrReply(dict=glupy.Xdata({name: value}))
        return await _GETXATTR(self, loc, name, xdata)


_GETXATTR = _timed("getxattr")

for _fop in FOPS:
    if _fop.name not in vars(Metrics):
        setattr(Metrics, _fop.name, _timed(_fop.name))
