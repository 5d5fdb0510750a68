#!/bin/sh
# Installs what ukai needs on a fresh Debian machine, or says exactly what to run:
#   - Deno 2 (from npm, pinned),
#   - fuse3 (libfuse3 + fusermount3), and for the tests and benchmarks gcc,
#     libfuse3-dev, qemu-utils, fio, openssl and util-linux's `script`.
# Safe to run again: it only installs what is missing. Used by the README's
# commands and by .ci/run.
set -eu

DENO_VERSION=2.9.6
PACKAGES="fuse3 libfuse3-dev gcc qemu-utils fio openssl util-linux"

missing=""
for package in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $package"
  fi
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing$missing" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "setup: missing Debian packages:$missing" >&2
    echo "setup: run: sudo apt-get install -y$missing" >&2
    exit 1
  fi
fi

if ! command -v deno >/dev/null 2>&1 || ! deno --version 2>/dev/null | grep -q "^deno 2\."; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: Deno comes from npm, which is missing: install Node.js and npm first" >&2
    exit 1
  fi
  echo "setup: installing deno@$DENO_VERSION from npm" >&2
  if ! npm install -g "deno@$DENO_VERSION" >/dev/null 2>&1; then
    echo "setup: npm could not install deno globally; run: sudo npm install -g deno@$DENO_VERSION" >&2
    exit 1
  fi
fi

if [ ! -e /dev/fuse ]; then
  echo "setup: /dev/fuse is missing: load the fuse module (modprobe fuse) or run on a machine with FUSE" >&2
  exit 1
fi

# Fetch the pinned npm dependencies once (recorded in deno.lock).
cd "$(dirname "$0")/.."
deno install --frozen >/dev/null 2>&1 || deno install >/dev/null
echo "setup: ready ($(deno --version | head -n 1))" >&2
