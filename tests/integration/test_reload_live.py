"""Live reload on a real volume, as issue 13 checks it.

A replica-2 volume with a probe translator on both bricks and one in the FUSE
client graph, one mount. Two workers do random file operations on the mount
(create, write, read back, rename, truncate, unlink, mkdir, list) against a model
of what every file holds, all along; a poller reads the probes' xattrs without
pause. Meanwhile ``glupy reload`` switches both probes, every second or so, between
two versions whose getxattr answers differ (``1:N`` and ``2:N``, N the reloads the
instance's line has seen, carried by ``migrate``). Checked:

* no operation of the workers fails or reads other data; at the end the model
  matches the mount and both bricks' copies;
* once ``glupy reload`` returned, every reply shows the new version: on the bricks
  (several files, so both bricks answer) and on the client. ``glupy reload`` waits
  for the bricks of this node and for the FUSE clients of this node whose graph has
  the translator (each logs the reload or its refusal), so the bound is the
  command's return, not a poll; the poller never sees a reply older than one it
  saw before;
* ``glupy list --json`` records the new identity, and what each brick and the
  client run is that identity;
* a version that fails to import (refused before anything changes), to init or to
  migrate (refused by each process: exit 1 naming each and why) leaves the old one
  serving on the bricks and the client; a good version after them goes on, this
  time by ``glupy attach`` of the new version, which switches it live too.

This module runs its own glusterd (127.1.1.24, brick ports 26800-26899).
"""

from __future__ import annotations

import json
import os
import random
import re
import sysconfig
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from glupy.gluster import GlusterNode, xlators
from test_cli import glupy, ok, refused

MODULE = "glupy_reload_live_probe"
BRICK, CLIENT = "live-brick", "live-client"
XATTR = {BRICK: "glupy.reload.brick", CLIENT: "glupy.reload.client"}
ROUNDS = 6  # each reloads both sides: 12 reloads, alternating versions
PROBES = 8  # files whose xattrs are read after each reload (afr reads each from one brick, by its gfid)

PROBE = '''"""A probe for tests/integration/test_reload_live.py (written by the test)."""
import glupy
{import_error}from glupy.translators.passthrough import Passthrough

VERSION = {version!r}


class LiveProbe(Passthrough):
    """Every FOP through Python (counted, as Passthrough); a getxattr of the xattr named
    by option `xattr` answered VERSION:N, N the reloads this instance's line has seen."""

    xattr = glupy.Option(str, default="glupy.reload.probe", doc="the xattr this probe answers")

    def init(self):
        super().init()
        # trouble that only shows inside GlusterFS (glupy reload's trial start runs in the harness)
        if {fail_init!r} and not type(self._glupy_xlator).__module__.startswith("glupy.testing"):
            raise RuntimeError("version {version} cannot init here")
        self.reloads = 0

    def migrate(self, old):
        if {fail_migrate!r}:
            raise RuntimeError("version {version} cannot migrate")
        self._counters = old._counters
        self.reloads = old.reloads + 1

    async def getxattr(self, loc, name, xdata):
        if name == self.xattr:
            return glupy.GetxattrReply(dict=glupy.Xdata({{name: f"{{VERSION}}:{{self.reloads}}".encode()}}))
        return await super().getxattr(loc, name, xdata)
'''


class Integrity(threading.Thread):
    """Random file operations under *root* checked against a model of every file's content."""

    WEIGHTS = {"create": 4, "write": 5, "read": 6, "rename": 2, "truncate": 2, "unlink": 2, "mkdir": 1,
               "listdir": 1}

    def __init__(self, root: Path, seed: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.rng = random.Random(seed)
        self.files: dict[str, bytes] = {}  # path under root -> what it holds
        self.dirs = [""]
        self.done: Counter[str] = Counter()
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.n = 0

    def run(self) -> None:
        ops, weights = zip(*self.WEIGHTS.items())
        while not self.stop.is_set() and len(self.errors) < 20:
            self.n += 1
            op = self.rng.choices(ops, weights)[0]
            if op not in ("create", "mkdir") and not self.files or op == "create" and len(self.files) > 60:
                op = "create" if not self.files else "unlink"
            try:
                getattr(self, op)()
                self.done[op] += 1
            except (OSError, AssertionError) as error:
                self.errors.append(f"{op} #{self.n}: {type(error).__name__}: {error}")

    def pick(self) -> str:
        return self.rng.choice(sorted(self.files))

    def create(self) -> None:
        rel = f"{self.rng.choice(self.dirs)}/f{self.n}".lstrip("/")
        data = self.rng.randbytes(self.rng.randint(0, 70000))
        with open(self.root / rel, "xb") as f:
            f.write(data)
        self.files[rel] = data

    def write(self) -> None:
        rel = self.pick()
        old = bytearray(self.files[rel])
        offset = self.rng.randint(0, len(old) + 1000)
        data = self.rng.randbytes(self.rng.randint(1, 20000))
        fd = os.open(self.root / rel, os.O_WRONLY)
        try:
            assert os.pwrite(fd, data, offset) == len(data), "short write"
        finally:
            os.close(fd)
        old[len(old):] = bytes(max(0, offset - len(old)))
        old[offset:offset + len(data)] = data
        self.files[rel] = bytes(old)

    def read(self) -> None:
        rel = self.pick()
        data = (self.root / rel).read_bytes()
        assert data == self.files[rel], f"{rel}: read {len(data)} bytes, not the {len(self.files[rel])} written"
        assert os.stat(self.root / rel).st_size == len(data), f"{rel}: stat size"

    def rename(self) -> None:
        rel = self.pick()
        new = f"{self.rng.choice(self.dirs)}/r{self.n}".lstrip("/")
        os.rename(self.root / rel, self.root / new)
        self.files[new] = self.files.pop(rel)

    def truncate(self) -> None:
        rel = self.pick()
        size = self.rng.randint(0, len(self.files[rel]) + 5000)
        os.truncate(self.root / rel, size)
        self.files[rel] = self.files[rel][:size] + bytes(max(0, size - len(self.files[rel])))

    def unlink(self) -> None:
        rel = self.pick()
        os.unlink(self.root / rel)
        del self.files[rel]

    def mkdir(self) -> None:
        parent = self.rng.choice(self.dirs)
        if parent.count("/") >= 2 or len(self.dirs) > 12:
            return self.listdir()
        rel = f"{parent}/d{self.n}".lstrip("/")
        os.mkdir(self.root / rel)
        self.dirs.append(rel)

    def listdir(self) -> None:
        d = self.rng.choice(self.dirs)
        want = {p.rpartition("/")[2] for p in [*self.files, *self.dirs[1:]] if p.rpartition("/")[0] == d}
        got = set(os.listdir(self.root / d))
        assert got == want, f"{d or '.'}: lists {sorted(got ^ want)} against the model"

    def check_all(self, *roots: Path) -> list[str]:
        """What differs from the model under each of *roots* (the mount, the bricks' copies)."""
        wrong = []
        for root in roots:
            for rel, data in sorted(self.files.items()):
                try:
                    if (root / rel).read_bytes() != data:
                        wrong.append(f"{root / rel}: other data")
                except OSError as error:
                    wrong.append(f"{root / rel}: {error}")
        return wrong


class Poller(threading.Thread):
    """Reads both probes' xattrs on the mount's root without pause: the replies' reload
    counts must never go back (a reply from the old code after one from the new)."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.seen: dict[str, list[str]] = {name: [] for name in XATTR}
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and len(self.errors) < 20:
            for name, key in XATTR.items():
                try:
                    value = os.getxattr(self.root, key).decode()
                except OSError as error:
                    self.errors.append(f"getxattr {key}: {error}")
                    continue
                seen = self.seen[name]
                if seen and int(value.split(":")[1]) < int(seen[-1].split(":")[1]):
                    self.errors.append(f"{key}: {value} after {seen[-1]}")
                if not seen or seen[-1] != value:
                    seen.append(value)
            time.sleep(0.01)


@pytest.fixture(scope="module")
def node(module_node: GlusterNode):
    try:
        yield module_node
    finally:
        for name in module_node.volume_names():
            module_node.volume(name).delete()
        from glupy import volfile_filter as gfilter

        gfilter.remove_filter()
        xlators.remove_alias(BRICK)


def test_reload_both_sides_under_random_io(node: GlusterNode, volume_factory, fuse_mount) -> None:
    module = Path(sysconfig.get_paths()["purelib"]) / f"{MODULE}.py"

    def install(version: str, *, import_error: bool = False, fail_init: bool = False,
                fail_migrate: bool = False) -> None:
        module.write_text(PROBE.format(version=version, import_error="import glupy_no_such_module\n"
                                       if import_error else "", fail_init=fail_init, fail_migrate=fail_migrate))

    def answers(name: str) -> set[str]:
        """What the probe *name* answers, asked on the root and on every probe file."""
        return {os.getxattr(p, XATTR[name]).decode() for p in [m.mountpoint, *probe_files]}

    def listed() -> dict[str, dict]:
        return {e["name"]: e for e in json.loads(ok(glupy("list", vol.name, "--json", node=node)))}

    def attach(name: str, *more: str) -> str:
        side = ["--side", "client"] if name == CLIENT else []
        return glupy("attach", vol.name, f"{MODULE}:LiveProbe", "--name", name, *side, "-o", f"xattr={XATTR[name]}",
                     *more, node=node)

    def reload(name: str, how: str = "reload") -> str:
        """glupy reload NAME (or attach of the new version), each process of this node
        reloaded; the identity it recorded."""
        out = ok(glupy("reload", vol.name, name, node=node) if how == "reload" else attach(name))
        want = bricks if name == BRICK else [str(m.mountpoint)]
        assert re.findall(r"^  (\S+): reloaded$", out, re.M) == want, out
        return re.search(rf"reloading {name} \((\S+), generation \d+\)", out).group(1)

    install("1")
    vol = volume_factory(node, bricks=2, replica=2)
    bricks = [str(b.path) for b in vol.info().bricks]
    workers: list[Integrity] = []
    poller = None
    try:
        ok(attach(BRICK, "--yes"))
        ok(attach(CLIENT))
        m = fuse_mount(vol, server=node)
        assert CLIENT in m.graph_xlators()
        probe_files = [m.mountpoint / f"probe-{i}" for i in range(PROBES)]
        for p in probe_files:
            p.write_bytes(b"p")
        assert answers(BRICK) == {"1:0"} and answers(CLIENT) == {"1:0"}
        entries = listed()
        identity = {"1": entries[BRICK]["options"]["identity"]}
        assert entries[CLIENT]["options"]["identity"] == identity["1"]
        assert entries[BRICK]["running"] == {b: identity["1"] for b in bricks}, entries[BRICK]
        assert entries[CLIENT]["running"] == {str(m.mountpoint): identity["1"]}, entries[CLIENT]

        workers = [Integrity(m.mountpoint / f"w{i}", seed=i) for i in range(2)]
        for w in workers:
            w.root.mkdir()
            w.start()
        poller = Poller(m.mountpoint)
        poller.start()
        time.sleep(1)
        reloads = 0
        for round_ in range(1, ROUNDS + 1):
            version = "2" if round_ % 2 else "1"
            install(version)
            reloads += 1
            for name in (BRICK, CLIENT):
                recorded = reload(name)
                assert identity.setdefault(version, recorded) == recorded
                # every reply once glupy reload returned: the new code, with its predecessor's state
                assert answers(name) == {f"{version}:{reloads}"}, (name, round_)
            entries = listed()
            for name, running in ((BRICK, bricks), (CLIENT, [str(m.mountpoint)])):
                assert entries[name]["options"]["identity"] == identity[version]
                assert entries[name]["running"] == {p: identity[version] for p in running}, entries[name]
            time.sleep(1)
        assert identity["1"] != identity["2"]

        # versions that cannot take over: refused, the running one keeps serving on both sides
        install("3", import_error=True)
        for name in (BRICK, CLIENT):
            refused(glupy("reload", vol.name, name, node=node), "importing it failed",
                    "No module named 'glupy_no_such_module'")
        for why, broken in (("cannot init here", {"fail_init": True}), ("cannot migrate", {"fail_migrate": True})):
            install("3", **broken)
            for name, count in ((BRICK, "2 of 2 bricks"), (CLIENT, "1 of 1 clients")):
                err = refused(glupy("reload", vol.name, name, node=node), f"{count} kept the old code",
                              f"version 3 {why}")
                assert err.count(f"RuntimeError: version 3 {why}") == (2 if name == BRICK else 1), err
                assert answers(name) == {f"{version}:{reloads}"}, (name, why)
            entries = listed()
            assert entries[BRICK]["running"] == {b: identity[version] for b in bricks}, entries[BRICK]
            assert entries[CLIENT]["running"] == {str(m.mountpoint): identity[version]}, entries[CLIENT]
        # a good version after the refused ones, by glupy attach of the new version (the same name, module
        # and options): switched live as glupy reload does; attaching the running version again changes nothing
        version = "2" if version == "1" else "1"
        install(version)
        reloads += 1
        for name in (BRICK, CLIENT):
            assert reload(name, how="attach") == identity[version]
            assert answers(name) == {f"{version}:{reloads}"}
            refused(attach(name), f"already runs {name} with this version")
        time.sleep(1)

        poller.stop.set()
        for w in workers:
            w.stop.set()
        for t in (*workers, poller):
            t.join(60)
        assert poller.errors == []
        for name in XATTR:  # the poller saw every version switch
            assert len(poller.seen[name]) >= ROUNDS, poller.seen[name]
        for w in workers:
            assert w.errors == [], w.errors
            assert sum(w.done.values()) > 200 and len(w.done) == len(Integrity.WEIGHTS), w.done
            backends = [Path(b) / w.root.relative_to(m.mountpoint) for b in bricks]
            assert w.check_all(w.root, *backends) == []
        print(f"operations: {sum((w.done for w in workers), Counter())}; versions seen: {poller.seen}")
        counts = json.loads(os.getxattr(m.mountpoint, "glupy.passthrough.counts"))  # the client probe's
        assert counts.get("writev", 0) > 100 and counts.get("create", 0) > 20, counts  # carried by migrate
    finally:
        for t in (*workers, *([poller] if poller else [])):
            t.stop.set()
            t.join(60)
        install("1")
        glupy("detach", vol.name, CLIENT, "--yes", node=node)
        module.unlink(missing_ok=True)
