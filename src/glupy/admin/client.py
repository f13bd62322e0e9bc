"""Client side: a glupy translator in the graph of every FUSE client of a volume.

The volume records it as ``user.glupy.client.NAME`` (module, options, place), a
key glusterd does not understand; glupy's volfile filter, which glusterd runs on
every volfile it writes, puts the translator into the client volfiles
(:mod:`glupy.volfile_filter`). glusterd pushes a new volfile to connected clients,
which switch graphs; new mounts load it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from glupy import volfile_filter as gfilter
from glupy.admin.glusterd import volume_names, volume_options, volume_set
from glupy.admin.options import regenerate_client_volfiles
from glupy.admin.side import AttachPlan, DetachResult, Entry, Side, running_identity
from glupy.admin.translators import class_name, placement_after, translator_error
from glupy.errors import AdminError
from glupy.gluster import FuseMount, GlusterNode, VolumeInfo
from glupy.gluster.errors import GlusterError
from glupy.gluster.volfile import Volfile, VolfileError


class ClientSide(Side):
    """Translators in the FUSE client graph (``user.glupy.client.NAME``, the volfile filter)."""

    name = "client"
    runs_on = "clients"
    default_after = ""
    detach_restarts = False
    brings_guards = True

    def entries(self, volume: str, options: Mapping[str, str]) -> list[Entry]:
        return client_entries(volume, options)

    def attached(self, options: Mapping[str, str], name: str) -> tuple[str, dict[str, str]] | None:
        cx = _find(options, name)
        return None if cx is None else (cx.module, cx.options)

    def place(self, cls: type, after: str | None) -> str | None:
        return placement_after(cls, after)

    def guard_key(self, cls: type) -> str:
        return getattr(cls, "bypass_guard", None) or ""

    def check_attach(self, node: GlusterNode, volume: str, name: str, after: str | None,
                     options: Mapping[str, str]) -> None:
        if self.has(options, name):
            raise AdminError(f"volume {volume} already has a client-side translator {name}: detach it first "
                             "or choose another --name")
        if after:
            try:
                graph = Volfile.read(client_volfile_path(node, volume))
                names = {c.name for c in gfilter.client_config(options)}
                if after not in names:
                    gfilter.find_xlator(graph, after, volume)
            except OSError:
                pass
            except VolfileError as error:
                raise AdminError(f"--after: {error}") from None

    def attach(self, node: GlusterNode, plan: AttachPlan) -> list[str]:
        notes: list[str] = []
        done: list[str] = []
        try:
            path = gfilter.install_filter()
            notes.append(f"client volfile filter: {path}")
            cx = gfilter.ClientXlator(plan.name, plan.spec, plan.options, plan.after)
            volume_set(node, plan.volume, cx.key, _value(cx))
            done.append(cx.key)
            regenerate_client_volfiles(node, plan.volume)
        except AdminError:
            if done:
                try:
                    node.gluster("volume", "set", plan.volume, done[0], gfilter.DETACHED, retries=3)
                except GlusterError:
                    pass
            raise
        return notes

    def roll_back(self, node: GlusterNode, plan: AttachPlan) -> list[str]:
        volume_set(node, plan.volume, f"{gfilter.CLIENT_PREFIX}{plan.name}", gfilter.DETACHED)
        regenerate_client_volfiles(node, plan.volume)
        return []

    def detach(self, node: GlusterNode, info: VolumeInfo, name: str, *, restart: bool) -> DetachResult:
        """``user.glupy.client.NAME`` is set to ``-`` (detached) and the volfiles
        regenerated; the filter goes when no volume has a client-side translator left."""
        volume_set(node, info.name, f"{gfilter.CLIENT_PREFIX}{name}", gfilter.DETACHED)
        regenerate_client_volfiles(node, info.name)
        result = DetachResult("client", info.started)
        if not any(client_entries(v, volume_options(node, v)) for v in volume_names(node)):
            result.filter_removed = gfilter.remove_filter()
        return result

    def fill_states(self, node: GlusterNode, info: VolumeInfo, entries: list[Entry]) -> None:
        for e in entries:
            e.state = client_state(node, info.name, e.name)
            for mountpoint, log in self.process_logs(node, info, e.name).items():
                text = log.read_text(errors="replace")
                if (found := running_identity(text[text.rfind("Started running"):], e.name)):
                    e.running[mountpoint] = found

    def process_logs(self, node: GlusterNode, info: VolumeInfo, name: str) -> dict[str, Path]:
        """The FUSE clients of this machine whose active graph has *name*: each mount's log."""
        found = {}
        for mountpoint in local_mounts(info.name):
            try:
                if not (mountpoint / ".meta" / "graphs" / "active" / name).exists():
                    continue
            except OSError:
                continue
            log = client_log(mountpoint)
            if log is not None and log.exists():
                found[str(mountpoint)] = log
        return found

    def record(self, node: GlusterNode, info: VolumeInfo, name: str, changes: Mapping[str, str]) -> None:
        cx = _find(info.options, name)
        if cx is None:
            raise AdminError(f"volume {info.name} has no client-side translator {name}")
        cx.options.update(changes)
        volume_set(node, info.name, cx.key, _value(cx))
        regenerate_client_volfiles(node, info.name)


def _find(options: Mapping[str, str], name: str) -> gfilter.ClientXlator | None:
    return next((cx for cx in gfilter.client_config(options) if cx.name == name), None)


def _value(cx: gfilter.ClientXlator) -> str:
    """The key's value recording *cx*; AdminError if it cannot be stored."""
    try:
        return cx.value()
    except ValueError as error:
        raise AdminError(str(error)) from None


def client_entries(volume: str, options: Mapping[str, str]) -> list[Entry]:
    """Client-side glupy translators among a volume's options (the filter's configuration)."""
    return [Entry(volume, cx.name, cx.module, class_name(cx.module, cx.options), "client",
                  f"above {cx.after}" if cx.after else "below top", dict(cx.options))
            for cx in gfilter.client_config(options)]


def client_volfile_path(node: GlusterNode, volume: str) -> Path:
    """The FUSE client volfile glusterd wrote for *volume* on this node."""
    return node.volume_dir(volume) / f"{volume}.tcp-fuse.vol"


def client_state(node: GlusterNode, volume: str, name: str) -> str:
    """"new mounts" if this node's client volfile has *name*, else "pending",
    "configured" (no volfile here) or "filter missing"."""
    if not gfilter.filter_installed():
        return "filter missing"
    try:
        graph = Volfile.read(client_volfile_path(node, volume))
    except (OSError, VolfileError):
        return "configured"
    return "new mounts" if name in graph else "pending"


def verify_client_volfile(node: GlusterNode, volume: str, name: str, present: bool = True) -> bool:
    """True if this node's client volfile of *volume* has (or, not *present*, lacks) *name*."""
    try:
        return (name in Volfile.read(client_volfile_path(node, volume))) == present
    except (OSError, VolfileError):
        return False


def trial_mount(node: GlusterNode, volume: str, name: str) -> str | None:
    """Mount *volume* as a new client would, check that translator *name* is in its
    active graph, unmount. None if it is, else why not (the translator's own error
    line when the client log has one)."""
    from glupy.gluster.mount import is_glusterfs_mount

    trial = Path(tempfile.mkdtemp(prefix="glupy-trial-"))
    mp, log = trial / "mnt", trial / "client.log"
    mp.mkdir()
    fm = FuseMount(mp, volfile_server=node.address, volfile_id=volume, log_file=log)
    try:
        try:
            fm.mount()
        except GlusterError as error:
            return translator_error([log]) or f"a trial mount failed: {str(error).splitlines()[0]}"
        if name not in fm.graph_xlators():
            return translator_error([log]) or f"a trial mount's active graph has no {name} (see {log})"
        return None
    finally:
        if is_glusterfs_mount(mp):
            fm.unmount()
        shutil.rmtree(trial, ignore_errors=True)


def local_mounts(volume: str) -> list[Path]:
    """FUSE mounts on this machine that fetched *volume* from a glusterd (``HOST:VOL`` sources)."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) > 4 and len(rfields) > 1 and rfields[0].startswith("fuse.glusterfs"):
            source = rfields[1]
            if source.rpartition(":")[2].lstrip("/") == volume:
                found.append(Path(fields[4].replace("\\040", " ")))
    return found


def client_log(mountpoint: Path) -> Path | None:
    """The log of the ``glusterfs`` process serving *mountpoint* (its ``--log-file``,
    else where glusterfs writes it by default); None if no such process is found."""
    from glupy.gluster import _proc
    from glupy.gluster.mount import default_client_log

    pid = FuseMount(mountpoint, volfile_server="-", volfile_id="-").pid
    if pid is None:
        return None
    given = _proc.option_value(_proc.read_cmdline(pid), "-l", "--log-file")
    return Path(given) if given else default_client_log(mountpoint)


def graph_switch(volume: str, name: str, present: bool = True, timeout: float = 10.0) -> dict[Path, bool]:
    """Wait until the existing mounts of *volume* have (or no longer have) *name* in their active graph."""
    mounts = local_mounts(volume)
    result = {m: False for m in mounts}
    deadline = time.monotonic() + timeout
    while mounts and time.monotonic() < deadline:
        for m in mounts:
            try:
                os.stat(m)  # a FOP lets FUSE switch to a new graph
                result[m] = (m / ".meta" / "graphs" / "active" / name).exists() == present
            except OSError:
                result[m] = False
        if all(result.values()):
            break
        time.sleep(0.5)
    return result
