# shellcheck shell=bash
# Helpers shared by scripts/demo, scripts/test and the bench scripts.

# The system packages the lab, the tests and the interop peers need.
CVLAN_PACKAGES=(
    iputils-ping iproute2 nftables socat tcpdump conntrack iperf3 tmux
    wireguard-go wireguard-tools
    strongswan-charon strongswan-swanctl libcharon-extra-plugins
    libstrongswan-extra-plugins libstrongswan-standard-plugins
    git ca-certificates
    bind9-dnsutils
)

# Installs whatever of CVLAN_PACKAGES is missing (apt-get, as root).
ensure_packages() {
    local missing=()
    for pkg in "${CVLAN_PACKAGES[@]}"; do
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
