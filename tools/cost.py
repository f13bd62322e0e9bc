"""Instructions per stat of a FUSE client over posix (callgrind), plain or through a glupy
xlator: ``python tools/cost.py plain user/glupy user/glupyperf=glupy.testing.translators:TailPassthrough``.

Each argument is ``plain``, ``XLATOR_TYPE`` (with $MODULE, default the passthrough) or
``XLATOR_TYPE=MODULE``. Every stat of a file is 3 FOPs through the xlator (2 lookups, a stat),
so a configuration's extra instructions per FOP is (its per-stat figure - plain's) / 3.
The counted callgrind dumps stay in $OUT (default /tmp/perf) as cg-LABEL.out for
callgrind_annotate; $TAG is added to the label (to keep several dumps)."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import client_instructions  # noqa: E402

MOUNT_ARGS = ["--attribute-timeout=0", "--entry-timeout=0", "--negative-timeout=0"]
outdir = Path(os.environ.get("OUT", "/tmp/perf"))
state = outdir / "state"
state.mkdir(parents=True, exist_ok=True)
brick = state / "brick"
brick.mkdir(exist_ok=True)
(brick / "f").write_bytes(b"x")
N = int(os.environ.get("N", "3000"))
tag = os.environ.get("TAG", "")
results = {}


def stats(mountpoint: Path) -> None:
    for _ in range(N):
        os.stat(mountpoint / "f")


for spec in sys.argv[1:]:
    xl, _, module = spec.partition("=")
    module = module or os.environ.get("MODULE", "glupy.translators.passthrough")
    label = (xl if xl == "plain" else f"{xl}-{module.rsplit('.', 1)[-1].replace(':', '-')}").replace("/", "_") + tag
    lines = ["volume posix", "    type storage/posix", f"    option directory {brick}", "end-volume"]
    if xl != "plain":
        lines += ["volume py", f"    type {xl}", f"    option module {module}", "    subvolumes posix", "end-volume"]
    vf = state / f"{label}.vol"
    vf.write_text("\n".join(lines) + "\n")
    total = client_instructions(vf, state / f"mnt-{label}", state / f"{label}.log", MOUNT_ARGS, stats,
                                keep=outdir / f"cg-{label}.out")
    if total is None:
        raise SystemExit("valgrind (callgrind) is not installed")
    results[label] = total / N
    extra = f" ({(total / N - results['plain']) / 3:,.0f} extra per FOP)" if "plain" in results and xl != "plain" else ""
    print(f"{label}: {total / N:,.0f} instructions per stat{extra}", flush=True)
