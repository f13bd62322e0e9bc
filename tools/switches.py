"""Per small-file operation: wall time, client CPU, context switches and FOPs through the
passthrough, for plain GlusterFS and the passthrough through one or more builds side by side:
``python tools/switches.py glupy glupyprev`` (each argument: an xlator installed as
``user/NAME.so``; ``make install`` installs ``glupy``, copy it to keep an older build).

One replica-2 volume on its own glusterd (127.1.1.9, bricks on ports 29800-29899), one FUSE
mount per configuration (the passthrough below the top of the client graph, as in
``python -m bench``), zero kernel timeouts. Each round creates $FILES files of 4 KiB, drops
the page cache and times one phase ($PHASE: read, stat or delete) on each mount in turn, the
order rotated every round; medians of $ROUNDS rounds. Context switches are the client
process's (all threads, /proc/PID/task/*/status); with $THREADS=1 each round also prints
them per thread name. Hand-overs between threads show here long before they show in ops/s."""
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.__main__ import MOUNT_ARGS, client_graph  # noqa: E402
from bench._common import cpu_seconds, drop_caches, tear_down  # noqa: E402
from glupy.gluster import FuseMount, GlusterNode, Volume  # noqa: E402
from glupy.translators.passthrough import COUNTS_XATTR  # noqa: E402

PHASE = os.environ.get("PHASE", "read")
FILES = int(os.environ.get("FILES", "400"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))


def switches_by_thread(pid: int) -> dict[str, list[int]]:
    """{thread name: [voluntary, involuntary]} of every thread of pid."""
    out: dict[str, list[int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            status = (task / "status").read_text().splitlines()
        except OSError:  # the thread ended meanwhile
            continue
        counts = out.setdefault(name, [0, 0])
        for line in status:
            if line.startswith("voluntary_ctxt_switches"):
                counts[0] += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                counts[1] += int(line.split()[1])
    return out


def fops_seen(mountpoint: Path) -> int:
    try:
        return sum(json.loads(os.getxattr(mountpoint, COUNTS_XATTR)).values())
    except OSError:  # plain GlusterFS: no passthrough to ask
        return 0


def phase(names: list[Path]) -> None:
    for p in names:
        if PHASE == "read":
            fd = os.open(p, os.O_RDONLY)
            os.read(fd, 4096)
            os.close(fd)
        elif PHASE == "stat":
            os.stat(p)
        else:
            os.unlink(p)


def main() -> None:
    configs = [("plain", None, "glupy")] + [(f"passthrough [{x}]", "glupy.translators.passthrough", x)
                                            for x in sys.argv[1:]]
    state = Path(tempfile.mkdtemp(prefix="glupy-switches-"))
    node = GlusterNode(state, 9, port_range=(29800, 29899))
    node.start()
    mounts: dict[str, FuseMount] = {}
    try:
        vol = Volume.create(node, "switches", [node.brick("switches", 0), node.brick("switches", 1)], replica=2)
        vol.start()
        for i, (label, module, xlator) in enumerate(configs):
            vf = client_graph(vol, state / f"client-{i}.vol", module, xlator)
            m = FuseMount.from_volfile(vf, state / f"mnt-{i}", log_file=state / f"client-{i}.log",
                                       extra_args=MOUNT_ARGS)
            m.mount()
            mounts[label] = m
        payload = os.urandom(4096)
        rows: dict[str, list[tuple[float, ...]]] = {label: [] for label in mounts}
        labels = list(mounts)
        for rnd in range(ROUNDS):
            for label in labels[rnd % len(labels):] + labels[:rnd % len(labels)]:
                m = mounts[label]
                d = m.mountpoint / f"round-{rnd}"
                d.mkdir()
                names = [d / f"f{i}" for i in range(FILES)]
                for p in names:
                    p.write_bytes(payload)
                drop_caches()
                pid = m.pid
                before = switches_by_thread(pid)
                f0, c0, t0 = fops_seen(m.mountpoint), cpu_seconds(pid), time.perf_counter()
                phase(names)
                t1, c1 = time.perf_counter(), cpu_seconds(pid)
                after = switches_by_thread(pid)
                f1 = fops_seen(m.mountpoint)
                if os.environ.get("THREADS"):
                    print(label, {name: [round((a - b) / FILES, 2) for a, b in zip(v, before.get(name, [0, 0]))]
                                  for name, v in after.items() if v != before.get(name)})
                vol_cs = sum(v[0] for v in after.values()) - sum(v[0] for v in before.values())
                invol = sum(v[1] for v in after.values()) - sum(v[1] for v in before.values())
                fops = max(0, f1 - f0 - 1)  # minus the getxattr that read the counts
                rows[label].append(((t1 - t0) / FILES * 1e6, (c1 - c0) / FILES * 1e6, vol_cs / FILES,
                                    invol / FILES, fops / FILES))
                for p in names:
                    if p.exists():
                        p.unlink()
                d.rmdir()
        print(f"{PHASE} of a 4 KiB file, per operation, medians of {ROUNDS} rounds of {FILES} files")
        print(f"{'configuration':28}{'wall µs':>10}{'client CPU µs':>15}{'voluntary cs':>14}{'involuntary':>13}"
              f"{'FOPs':>6}")
        for label, samples in rows.items():
            med = [statistics.median(s[i] for s in samples) for i in range(5)]
            print(f"{label:28}{med[0]:10.1f}{med[1]:15.1f}{med[2]:14.1f}{med[3]:13.1f}{med[4]:6.1f}")
    finally:
        tear_down(mounts.values(), node, ["switches"], state)


if __name__ == "__main__":
    main()
