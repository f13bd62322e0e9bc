"""Instructions per stat of a FUSE client over posix (callgrind), plain or through a glupy
xlator: ``python tools/cost.py plain user/glupy user/glupyperf=glupy.testing.translators:TailPassthrough``.

Each argument is ``plain``, ``XLATOR_TYPE`` (with $MODULE, default the passthrough) or
``XLATOR_TYPE=MODULE``. Every stat of a file is 3 FOPs through the xlator (2 lookups, a stat),
so a configuration's extra instructions per FOP is (its per-stat figure - plain's) / 3.
The callgrind dumps stay in $OUT (default /tmp/perf) as cg-LABEL.out.1 for callgrind_annotate;
$TAG is added to the label (to keep several dumps)."""
import os, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import is_glusterfs_mount
MOUNT_ARGS = ["--attribute-timeout=0", "--entry-timeout=0", "--negative-timeout=0"]
outdir = Path(os.environ.get("OUT", "/tmp/perf")); outdir.mkdir(parents=True, exist_ok=True)
state = outdir / "state"; state.mkdir(parents=True, exist_ok=True)
brick = state / "brick"; brick.mkdir(exist_ok=True); (brick / "f").write_bytes(b"x")
N = int(os.environ.get("N", "3000"))
tag = os.environ.get("TAG", "")
results = {}
for spec in sys.argv[1:]:
    xl, _, module = spec.partition("=")
    module = module or os.environ.get("MODULE", "glupy.translators.passthrough")
    label = (xl if xl == "plain" else f"{xl}-{module.rsplit('.', 1)[-1].replace(':', '-')}").replace("/", "_") + tag
    lines = ["volume posix", "    type storage/posix", f"    option directory {brick}", "end-volume"]
    if xl != "plain":
        lines += ["volume py", f"    type {xl}", f"    option module {module}", "    subvolumes posix", "end-volume"]
    vf = state / f"{label}.vol"; vf.write_text("\n".join(lines) + "\n")
    mp = state / f"mnt-{label}"; mp.mkdir(exist_ok=True)
    out = outdir / f"cg-{label}.out"
    for d in out.parent.glob(f"{out.name}*"): d.unlink()
    log = state / f"{label}.log"
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "glusterfs", "-N",
                             f"--volfile={vf}", f"--log-file={log}", *MOUNT_ARGS, str(mp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not is_glusterfs_mount(mp):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"no mount; see {log}")
            time.sleep(0.5)
        for _ in range(N): os.stat(mp / "f")
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
        for _ in range(N): os.stat(mp / "f")
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
        total = 0
        for dump in out.parent.glob(f"{out.name}.*"):
            for line in dump.read_text(errors="replace").splitlines():
                if line.startswith(("totals:", "summary:")):
                    total = max(total, int(line.split()[1]))
        results[label] = total / N
        extra = f" ({(total / N - results['plain']) / 3:,.0f} extra per FOP)" if "plain" in results and xl != "plain" else ""
        print(f"{label}: {total / N:,.0f} instructions per stat{extra}", flush=True)
    finally:
        subprocess.run(["umount", str(mp)], capture_output=True)
        try: proc.wait(timeout=60)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()
