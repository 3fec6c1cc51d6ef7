#!/usr/bin/env bash
# Installs the third-party Daraja SDKs that tests/compat.rs runs against the simulator, at the versions
# pinned in requirements.txt and node/package-lock.json, from PyPI and npm into a cache folder:
#   DIR/py    a Python virtualenv (python3 -m venv)
#   DIR/node  node_modules from `npm ci`
# DIR defaults to <workspace>/target/compat-deps. Idempotent: a stamp records what was installed, so a
# second run with unchanged pins returns at once. Safe to run concurrently (flock).
# Exit status: 0 when both are installed; 2 when python3/node/npm is missing; 1 when an install failed
# (for instance no access to the registry). Nothing here is vendored into the repository.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$here/../../../target/compat-deps}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

for tool in python3 node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "compat install: $tool is not installed" >&2
    exit 2
  fi
done

exec 9>"$dir/.lock"
flock 9

want="$(cat "$here/requirements.txt" "$here/node/package.json" "$here/node/package-lock.json" \
  | sha256sum | cut -d' ' -f1) $(python3 --version 2>&1) node $(node --version)"
if [ -f "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$want" ]; then
  echo "compat install: up to date in $dir"
  exit 0
fi
rm -f "$dir/stamp"

echo "compat install: Python SDKs into $dir/py"
rm -rf "$dir/py"
python3 -m venv "$dir/py"
# --no-deps: requirements.txt pins the whole tree, so nothing unpinned sneaks in.
if ! timeout 120 "$dir/py/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
  --timeout 20 --retries 1 -r "$here/requirements.txt"; then
  echo "compat install: pip install failed" >&2
  exit 1
fi

echo "compat install: Node SDKs into $dir/node"
rm -rf "$dir/node"
mkdir -p "$dir/node"
cp "$here/node/package.json" "$here/node/package-lock.json" "$dir/node/"
if ! (cd "$dir/node" && timeout 120 npm ci --no-audit --no-fund --loglevel=error \
  --fetch-retries=1 --fetch-timeout=20000 >/dev/null); then
  echo "compat install: npm ci failed" >&2
  exit 1
fi

echo "$want" >"$dir/stamp"
echo "compat install: done in $dir"
