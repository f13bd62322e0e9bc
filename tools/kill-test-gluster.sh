#!/usr/bin/env bash
# Unmount and stop what an interrupted test run left under pytest's temporary
# directories (its GlusterFS mounts and processes), by mount point and PID only.
set -u
for m in $(awk '$5 ~ /^\/tmp\/pytest-of-[^/]+\// {print $5}' /proc/self/mountinfo); do
    umount -l "$m" && echo "unmounted $m"
done
for p in $(pgrep -f '/tmp/pytest-of-[^/]+/pytest-[0-9]+/gluster'); do
    kill "$p" 2>/dev/null && echo "stopped $p: $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | cut -c1-100)"
done
