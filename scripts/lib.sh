# shellcheck shell=bash
# Helpers shared by scripts/demo, scripts/test, scripts/package and the bench scripts.

# The system packages the lab, the tests and the interop peers need.
CVLAN_PACKAGES=(
    iputils-ping iproute2 nftables socat tcpdump conntrack iperf3 tmux
    wireguard-go wireguard-tools
    strongswan-charon strongswan-swanctl libcharon-extra-plugins
    libstrongswan-extra-plugins libstrongswan-standard-plugins
    git ca-certificates
    bind9-dnsutils
    systemd
    prometheus
)

# What scripts/package needs to build and check the .debs: dpkg-shlibdeps (the packages'
# library dependencies), strip, lintian, and man (the install test reads the man pages).
CVLAN_PACKAGING_TOOLS=(dpkg-dev binutils lintian man-db)

# Installs whatever of CVLAN_PACKAGES is missing (apt-get, as root).
ensure_packages() {
    ensure_debian_packages "${CVLAN_PACKAGES[@]}"
}

# Installs whatever of the Debian packages named is missing (apt-get, as root).
ensure_debian_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: missing packages (${missing[*]}); run as root so they can be installed" >&2
        return 1
    fi
    echo "==> installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Fails with a clear message when there is no Rust toolchain.
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "error: cargo not found; install Rust 1.95 or newer (rustup) and re-run" >&2
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# Protobuf tooling (protodefs/): buf, ts-proto and TypeScript, pinned in protodefs/package.json
# and installed from protodefs/package-lock.json with `npm ci`.

# Where the proto sources, buf's configuration and the npm project are.
PROTO_DIR=protodefs
# The image of the released protos that `buf breaking` compares against.
PROTO_BASELINE=baseline/cloudvlan-v1.binpb
# Where `buf generate` writes the TypeScript (relative to PROTO_DIR; committed).
PROTO_TS_OUT=gen/ts

# Installs the pinned proto tools into protodefs/node_modules unless the lockfile they were
# installed from is the current one. `npm ci` takes exactly what the lockfile names, from npm's
# cache when it has it (--prefer-offline), so after the first install no network is needed.
ensure_proto_tools() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "error: node and npm not found; install Node.js 20 or newer and re-run" >&2
        return 1
    fi
    local stamp="$PROTO_DIR/node_modules/.cvlan-lock.sha256" want
    want="$(cat "$PROTO_DIR/package.json" "$PROTO_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    echo "==> npm ci (protodefs: buf, ts-proto, typescript)"
    # --ignore-scripts: buf's postinstall only re-links its binary; the bin wrapper works without.
    (cd "$PROTO_DIR" && npm ci --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
}

# Runs the pinned buf in protodefs/ (its module root; buf.gen.yaml's plugin path is relative).
proto_buf() {
    (cd "$PROTO_DIR" && node_modules/.bin/buf "$@")
}

# Type-checks the generated TypeScript (protodefs/tsconfig.json) with the pinned tsc.
proto_tsc() {
    (cd "$PROTO_DIR" && node_modules/.bin/tsc --noEmit -p tsconfig.json)
}

# (A subshell, as the next one: its EXIT trap removes the temporary directory.)
# Fails when protodefs/gen/ts is not what `buf generate` makes of the protos now: generates into
# a temporary directory and compares both ways (changed, missing and extra files).
proto_ts_fresh() (
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    proto_buf generate -o "$tmp"
    if ! diff -r "$tmp/$PROTO_TS_OUT" "$PROTO_DIR/$PROTO_TS_OUT" >"$tmp/diff.txt"; then
        head -n 40 "$tmp/diff.txt" >&2
        echo "error: $PROTO_DIR/$PROTO_TS_OUT is stale; run scripts/gen-proto and commit the result" >&2
        return 1
    fi
)

# Proves that `buf breaking` bites: in a temporary copy of the protos, a field renumbered
# (Capacity.limit, 1 -> 7) must fail the check against the baseline, while the unchanged copy
# passes it (so the failure comes from the edit, not from the copy).
proto_breaking_bites() (
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    cp -r "$PROTO_DIR/buf.yaml" "$PROTO_DIR/cloudvlan" "$tmp/"
    local baseline="$PWD/$PROTO_DIR/$PROTO_BASELINE" buf="$PWD/$PROTO_DIR/node_modules/.bin/buf"
    if ! (cd "$tmp" && "$buf" breaking --against "$baseline"); then
        echo "error: the unchanged copy of the protos already fails buf breaking" >&2
        return 1
    fi
    local file="$tmp/cloudvlan/v1/common.proto" line='  uint64 limit = 1;'
    if ! grep -qxF "$line" "$file"; then
        echo "error: the breaking-check test expects \`$line\` in cloudvlan/v1/common.proto" >&2
        return 1
    fi
    sed -i 's/^  uint64 limit = 1;$/  uint64 limit = 7;/' "$file"
    if (cd "$tmp" && "$buf" breaking --against "$baseline") >"$tmp/out.txt" 2>&1; then
        echo "error: buf breaking accepted a renumbered field (Capacity.limit 1 -> 7)" >&2
        return 1
    fi
    if ! grep -q 'Capacity' "$tmp/out.txt"; then
        cat "$tmp/out.txt" >&2
        echo "error: buf breaking failed, but not on the renumbered Capacity.limit" >&2
        return 1
    fi
    echo "    caught, as it must be:"
    sed 's/^/    /' "$tmp/out.txt"
)
