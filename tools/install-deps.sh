#!/usr/bin/env bash
# Install the Debian packages glupy needs (GlusterFS, its headers, Python's
# headers and venv, OpenSSL's headers, graphviz), and any packages named as arguments (make bench:
# valgrind). Idempotent: installs only what is missing.
set -euo pipefail

PACKAGES=(glusterfs-server glusterfs-client libglusterfs-dev liburcu-dev uuid-dev
          python3-dev python3-venv libssl-dev attr graphviz psmisc redis-server "$@")

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "glupy needs these Debian packages: ${missing[*]}" >&2
    echo "run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"
# The package's postinst may start a system glusterd on 24007; glupy's tests and
# demo run their own, isolated ones. A system glusterd is left alone if it runs.
