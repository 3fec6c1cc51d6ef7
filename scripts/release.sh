#!/usr/bin/env bash
# Build a static Linux release of the `lipa` command, check that it is static, and start it once.
#
#   scripts/release.sh            # -> dist/lipa-<version>-<target>/lipa and dist/lipa-<version>-<target>.tar.gz
#
# No OpenSSL is involved: TLS is rustls and SQLite is compiled into the binary. The target is
# x86_64-unknown-linux-musl when that Rust target is installed (`rustup target add x86_64-unknown-linux-musl`),
# otherwise x86_64-unknown-linux-gnu linked statically against glibc (`-C target-feature=+crt-static`; needs
# glibc's static libraries, Debian's libc6-dev). LIPA_RELEASE_TARGET picks one explicitly.
# The target is always given with --target, so build scripts and proc macros stay ordinary host programs.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${LIPA_RELEASE_TARGET:-}"
if [ -z "$target" ]; then
    if rustup target list --installed 2>/dev/null | grep -qx 'x86_64-unknown-linux-musl'; then
        target=x86_64-unknown-linux-musl
    else
        target=x86_64-unknown-linux-gnu
        echo "release: the musl target is not installed; building a static glibc binary instead" >&2
    fi
fi
case "$target" in
    *-linux-musl) static_flags="" ;;                             # musl links statically by default
    *-linux-gnu) static_flags="-C target-feature=+crt-static" ;;  # glibc: ask for it
    *) echo "release: unsupported target $target" >&2; exit 2 ;;
esac

RUSTFLAGS="${RUSTFLAGS:-} $static_flags" cargo build --release --locked -p lipa --target "$target"
bin="${CARGO_TARGET_DIR:-target}/$target/release/lipa"

echo "== $(file -b "$bin")"
if ! file -b "$bin" | grep -Eq 'statically linked|static-pie linked'; then
    echo "release: $bin is not statically linked" >&2
    exit 1
fi
if ldd "$bin" 2>&1 | grep -q '=>'; then
    echo "release: ldd lists shared libraries for $bin:" >&2
    ldd "$bin" >&2
    exit 1
fi

version="$("$bin" --version | awk '{print $2}')"
name="lipa-$version-$target"
rm -rf "dist/$name"
mkdir -p "dist/$name"
cp "$bin" "dist/$name/lipa"
strip "dist/$name/lipa"
cp README.md "dist/$name/"
cp -r deploy "dist/$name/deploy"
tar -C dist -czf "dist/$name.tar.gz" "$name"
(cd dist && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")

# Smoke: the stripped binary starts `lipa serve` in simulator mode (empty environment, fresh directory)
# and answers /healthz.
work="$(mktemp -d)"
log="$work/serve.log"
(cd "$work" && exec env -i PATH=/usr/bin:/bin LIPA_LISTEN=127.0.0.1:0 "$OLDPWD/dist/$name/lipa" serve >"$log" 2>&1) &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
health=""
for _ in $(seq 1 100); do
    health="$(sed -n 's/^ *Health: *\(http[^ ]*\).*/\1/p' "$log" | head -1)"
    [ -n "$health" ] && break
    sleep 0.1
done
if [ -z "$health" ] || ! curl -fsS "$health" >/dev/null; then
    echo "release: the binary did not answer /healthz; its output:" >&2
    cat "$log" >&2
    exit 1
fi
echo "== $health answered; simulator mode started from the static binary"
grep -q '^API key: lipa_sk_' "$log" || { echo "release: no API key line in the banner" >&2; exit 1; }

ls -l "dist/$name/lipa" "dist/$name.tar.gz"
cat "dist/$name.tar.gz.sha256"
