#!/bin/bash
# Manual interop check of cvlan-ipsec against strongSwan (charon with kernel-libipsec):
# two network namespaces joined by a veth pair; charon in one, the ike_interop example in
# the other; ping through the tunnel; optional rekeys. Needs root and strongSwan.
# Usage: scripts/ipsec-interop-check.sh [we-initiate|they-initiate] [IKE] [ESP] [extra args]
#   extra args go to the example (rekey_child_at=S rekey_ike_at=S dpd=S seconds=S);
#   THEY_REKEY=1 makes strongSwan rekey the child, the IKE SA and the child again.
#   IKE: gcm-x25519 | cbc-ecp256 | cbc-modp2048   (strongSwan side: the matching proposal)
#   ESP: gcm | gcm-x25519 | cbc | cbc-modp2048
set -euo pipefail
MODE=${1:-we-initiate}; IKE=${2:-gcm-x25519}; ESP=${3:-gcm}; shift $(( $# > 3 ? 3 : $# )) || true
EXTRA=("$@")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d); P=cvi$$; NS_S=${P}s; NS_O=${P}o
cleanup() {
  set +e
  p=$(cat "$W/run/charon.pid" 2>/dev/null) && kill -TERM "$p" 2>/dev/null && sleep 0.5 && kill -KILL "$p" 2>/dev/null
  ip netns del "$NS_S" 2>/dev/null; ip netns del "$NS_O" 2>/dev/null
}
trap cleanup EXIT
declare -A SS_IKE=([gcm-x25519]=aes256gcm16-prfsha256-x25519 [cbc-ecp256]=aes256-sha256-ecp256 [cbc-modp2048]=aes256-sha256-modp2048)
declare -A SS_ESP=([gcm]=aes256gcm16 [gcm-x25519]=aes256gcm16-x25519 [cbc]=aes256-sha256 [cbc-modp2048]=aes256-sha256-modp2048)
cargo build -q -p cvlan-ipsec --example ike_interop --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/debug/examples/ike_interop"
ip netns add "$NS_S"; ip netns add "$NS_O"
ip link add "${P}a" type veth peer name "${P}b"
ip link set "${P}a" netns "$NS_S"; ip link set "${P}b" netns "$NS_O"
ip -n "$NS_S" addr add 10.77.0.1/24 dev "${P}a"; ip -n "$NS_S" link set "${P}a" up; ip -n "$NS_S" link set lo up
ip -n "$NS_O" addr add 10.77.0.2/24 dev "${P}b"; ip -n "$NS_O" link set "${P}b" up; ip -n "$NS_O" link set lo up
ip -n "$NS_S" addr add 100.64.1.1/32 dev lo
mkdir -p "$W/run"
cat > "$W/strongswan.conf" <<SS
charon {
  load_modular = no
  load = random nonce openssl pem pkcs1 x509 pubkey curve25519 gmp aes sha1 sha2 hmac gcm kdf kernel-libipsec kernel-netlink socket-default vici updown
  plugins { vici { socket = unix://$W/charon.vici } }
  filelog { lab { path = $W/charon.log
                  time_format = %T
                  default = 1
                  ike = 2
                  enc = 1
                  flush_line = yes } }
}
SS
cat > "$W/swanctl.conf" <<SW
connections {
  lab {
    version = 2
    local_addrs = 10.77.0.1
    remote_addrs = $([ "$MODE" = they-initiate ] && echo 10.77.0.2 || echo %any)
    encap = yes
    mobike = no
    dpd_delay = 5s
    proposals = ${SS_IKE[$IKE]}
    local { auth = psk
            id = strongswan.example }
    remote { auth = psk
             id = cvlan.example }
    children {
      net {
        local_ts = 100.64.1.1/32
        remote_ts = 100.64.2.1/32
        esp_proposals = ${SS_ESP[$ESP]}
      }
    }
  }
}
secrets {
  ike-lab { id-a = strongswan.example
            id-b = cvlan.example
            secret = "interop-secret-0123456789" }
}
SW
ip netns exec "$NS_S" unshare --mount --propagation private sh -c \
  "mount --bind $W/run /run && STRONGSWAN_CONF=$W/strongswan.conf exec /usr/lib/ipsec/charon" > "$W/charon.stdout" 2>&1 &
for i in $(seq 100); do [ -S "$W/charon.vici" ] && break; sleep 0.05; done
swanctl --load-all --uri "unix://$W/charon.vici" --file "$W/swanctl.conf" 2>&1 | grep -v 'opening directory' || true
ARGS=(local=10.77.0.2 local_id=cvlan.example remote_id=strongswan.example psk=interop-secret-0123456789
      local_ts=100.64.2.1/32 remote_ts=100.64.1.1/32 ike="$IKE" esp="$ESP" ping=1 seconds=${SECONDS_TO_RUN:-15})
if [ "$MODE" = we-initiate ]; then
  ip netns exec "$NS_O" "$BIN" remote=10.77.0.1 initiate=1 "${ARGS[@]}" "${EXTRA[@]}" | tee "$W/ours.log"
else
  ip netns exec "$NS_O" "$BIN" remote=any "${ARGS[@]}" "${EXTRA[@]}" > "$W/ours.log" &
  OURS=$!
  sleep 1
  swanctl --initiate --child net --uri "unix://$W/charon.vici" --timeout 10 || true
  if [ -n "${THEY_REKEY:-}" ]; then  # strongSwan rekeys the child, then the IKE SA
    sleep 3; swanctl --rekey --child net --uri "unix://$W/charon.vici" || true
    sleep 3; swanctl --rekey --ike lab --uri "unix://$W/charon.vici" || true
    sleep 3; swanctl --rekey --child net --uri "unix://$W/charon.vici" || true
  fi
  wait $OURS || true
  cat "$W/ours.log"
fi
echo "--- strongSwan --list-sas"
swanctl --list-sas --uri "unix://$W/charon.vici" || true
echo "--- strongSwan log (errors and notable lines)"
grep -E "error|failed|invalid|rekey|established|deleting|received|sending|parsed|generating" "$W/charon.log" | tail -${LOG_LINES:-40} || true
grep -q "replies [1-9]" "$W/ours.log" && echo "INTEROP OK" || { echo "INTEROP FAILED"; exit 1; }
