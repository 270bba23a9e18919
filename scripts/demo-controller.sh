# shellcheck shell=bash
# `scripts/demo --controller`: the hosts of a lab join through cvlan-controller. Sourced by
# scripts/demo, which sets bin, ctl, run_root and headless. The lab (examples/lab/
# controller.kdl) starts no daemon; this starts cvlan-controller and the cvland hosts in the
# lab's namespaces itself, and `cvlan-lab down` (or, with --headless, the EXIT trap) stops them.

# Where the controller listens, inside the lab (the ctl host's address in the topology).
DEMO_CONTROLLER=198.51.100.5:7443
# The node hosts and the overlay addresses examples/controller-network.kdl gives them.
DEMO_NODES=(alpha bravo carol)
declare -A DEMO_ADDRESS=([alpha]=100.64.0.10 [bravo]=100.64.0.11 [carol]=100.64.0.12)

# The lab's id, its output of `cvlan-lab up`, and the daemons started here (pid, and log).
lab_id=
lab_up=
demo_pids=()
demo_logs=()

# The namespace of lab host $1, as `cvlan-lab up` printed it ("NAME  (namespace NS)").
demo_namespace() {
    awk -v host="$1" '$1 == host && $2 == "(namespace" { sub(/\)$/, "", $3); print $3 }' <<<"$lab_up"
}

# Starts `$@` in lab host $1's namespace in the background, its output in file $2.
demo_start() {
    local ns log=$2
    ns=$(demo_namespace "$1")
    shift 2
    # setsid: the daemons outlive the script (and a Ctrl-C at its terminal) when the lab stays.
    setsid ip netns exec "$ns" "$@" </dev/null >"$log" 2>&1 &
    demo_pids+=("$!")
    demo_logs+=("$log")
}

# Runs `$@` in lab host $1's namespace.
demo_exec() {
    local host=$1
    shift
    "$bin/cvlan-lab" exec "$lab_id" "$host" -- "$@"
}

# cvlanctl against the controller, from the controller's host (the CVLAN_* variables say
# where it is and which API key to use).
demo_ctl() {
    demo_exec ctl "$ctl" "$@"
}

# Retries `$@` (quietly, every 0.2 s) until it succeeds; fails saying $2 after $1 seconds, or
# as soon as a daemon started here has exited.
demo_wait() {
    local timeout=$1 what=$2 deadline i
    shift 2
    deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        for i in "${!demo_pids[@]}"; do
            if ! kill -0 "${demo_pids[$i]}" 2>/dev/null; then
                echo "FAIL  $what: a daemon exited (its log: ${demo_logs[$i]})" >&2
                return 1
            fi
        done
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "FAIL  $what (not within ${timeout}s)" >&2
            return 1
        fi
        sleep 0.2
    done
}

# Whether any daemon started here still runs.
demo_any_alive() {
    local pid
    for pid in "${demo_pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            return 0
        fi
    done
    return 1
}

# The EXIT trap of --headless: stops the daemons (SIGTERM, up to 5 s), removes the lab, and
# on failure shows the end of every daemon's log.
demo_teardown() {
    local rc=$? i
    trap - EXIT
    if [ "$rc" -ne 0 ]; then
        for log in "${demo_logs[@]}"; do
            echo "--- the end of $log" >&2
            tail -n 15 "$log" >&2 || true
        done
    fi
    if [ ${#demo_pids[@]} -gt 0 ]; then
        kill -TERM "${demo_pids[@]}" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            demo_any_alive || break
            sleep 0.1
        done
    fi
    if [ -n "$lab_id" ]; then
        echo "==> removing the lab"
        "$bin/cvlan-lab" down "$lab_id" || rc=1
    fi
    exit "$rc"
}

controller_demo() {
    local topology=examples/lab/controller.kdl network=examples/controller-network.kdl
    local lab_dir ctl_dir key api_key auth_key created node dir from to

    echo
    echo "==> offline: cvlanctl check $network"
    "$ctl" check "$network"

    echo
    echo "==> live: starting the lab ($topology)"
    if [ "$headless" = true ]; then
        trap demo_teardown EXIT
    fi
    lab_up=$("$bin/cvlan-lab" up --bin-dir "$bin" "$topology")
    lab_id=$(awk 'NR == 1 { print $2 }' <<<"$lab_up")
    lab_dir=$run_root/$lab_id
    ctl_dir=$lab_dir/ctl/controller
    if [ "$headless" = false ]; then
        trap 'echo "the demo stopped early; remove the lab with: $bin/cvlan-lab down $lab_id" >&2' ERR
    fi
    echo "lab $lab_id: hosts ctl, ${DEMO_NODES[*]} on 198.51.100.0/24"

    echo
    echo "==> ctl: controller.kdl, its key and the first admin API key"
    mkdir -p -m 700 "$ctl_dir"
    cat >"$ctl_dir/controller.kdl" <<EOF
listen "$DEMO_CONTROLLER"
key-file "$ctl_dir/controller.key"
database "sqlite" path="$ctl_dir/controller.db"
EOF
    key=$(RUST_LOG=warn "$bin/cvlan-controller" pubkey --config "$ctl_dir/controller.kdl")
    echo "  cvlan-controller pubkey --config $ctl_dir/controller.kdl"
    echo "    $key"
    created=$(RUST_LOG=warn "$bin/cvlan-controller" apikey create --config "$ctl_dir/controller.kdl" --scope admin --json)
    api_key=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$created")
    if [ -z "$api_key" ]; then
        echo "FAIL  cvlan-controller apikey create printed no key: $created" >&2
        return 1
    fi
    (umask 077 && printf '%s' "$api_key" >"$ctl_dir/admin.key")
    echo "  cvlan-controller apikey create --config $ctl_dir/controller.kdl --scope admin"
    echo "    written to $ctl_dir/admin.key"

    echo
    echo "==> ctl: cvlan-controller --config $ctl_dir/controller.kdl"
    demo_start ctl "$ctl_dir/controller.log" "$bin/cvlan-controller" --config "$ctl_dir/controller.kdl"
    export CVLAN_CONTROLLER=$DEMO_CONTROLLER CVLAN_CONTROLLER_KEY=$key CVLAN_API_KEY=$api_key
    demo_wait 20 "the controller answers on $DEMO_CONTROLLER" demo_ctl revisions
    echo "ok    the controller answers on $DEMO_CONTROLLER"

    echo
    echo "==> cvlanctl apply --file $network (with the controller's key in it)"
    sed "/^controller /s#public-key=\"[^\"]*\"#public-key=\"$key\"#" "$network" >"$ctl_dir/network.kdl"
    demo_ctl apply --file "$ctl_dir/network.kdl" --message "the demo's network"

    echo
    echo "==> cvlanctl authkey create --reusable --expires 1h"
    created=$(demo_ctl --json authkey create --reusable --expires 1h)
    auth_key=$(sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' <<<"$created")
    if [ -z "$auth_key" ]; then
        echo "FAIL  cvlanctl authkey create printed no key: $created" >&2
        return 1
    fi
    echo "  $(sed -n 's/.*"id": *"\([^"]*\)".*/id \1/p' <<<"$created"), shown once; every node host gets it in its auth-key file"

    echo
    echo "==> cvland on ${DEMO_NODES[*]}, following the controller"
    for node in "${DEMO_NODES[@]}"; do
        dir=$lab_dir/$node
        (umask 077 && printf '%s' "$auth_key" >"$dir/auth-key")
        cat >"$dir/cvland.kdl" <<EOF
node "$node"
state-dir "$dir/state"
socket "$dir/cvland.sock"
tun "cvl0"
source "controller" address="$DEMO_CONTROLLER" public-key="$key" auth-key-file="$dir/auth-key"
EOF
        demo_start "$node" "$dir/cvland.log" "$bin/cvland" --config "$dir/cvland.kdl"
    done
    echo "  $lab_dir/alpha/cvland.kdl:"
    sed 's/^/    /' "$lab_dir/alpha/cvland.kdl"

    echo
    echo "==> pings across the overlay"
    for from in "${DEMO_NODES[@]}"; do
        for to in "${DEMO_NODES[@]}"; do
            if [ "$from" != "$to" ]; then
                demo_wait 30 "ping $from → $to (${DEMO_ADDRESS[$to]})" \
                    demo_exec "$from" ping -n -q -c 1 -W 1 "${DEMO_ADDRESS[$to]}"
                echo "ok    ping $from → $to (${DEMO_ADDRESS[$to]})"
            fi
        done
    done

    echo
    echo "==> cvlanctl nodes"
    demo_ctl nodes
    echo
    echo "==> cvlanctl revisions"
    demo_ctl revisions
    echo
    echo "==> alpha: cvlanctl status"
    "$ctl" --socket "$lab_dir/alpha/cvland.sock" status

    if [ "$headless" = true ]; then
        echo
        echo "==> the controller demo passed"
        return 0
    fi

    cat <<EOF

==> the lab is still running, with the controller and the nodes. cvlanctl against the
    controller (it listens inside the lab, so run cvlanctl in the ctl host; cvlan-lab exec
    passes the environment on):
  export CVLAN_CONTROLLER=$DEMO_CONTROLLER
  export CVLAN_CONTROLLER_KEY=$key
  export CVLAN_API_KEY=\$(cat $ctl_dir/admin.key)
  $bin/cvlan-lab exec $lab_id ctl -- $ctl nodes
  $bin/cvlan-lab exec $lab_id ctl -- $ctl audit --since 1h
Change the network: edit $ctl_dir/network.kdl (e.g. remove node "carol"), then
  $bin/cvlan-lab exec $lab_id ctl -- $ctl plan --file $ctl_dir/network.kdl --controller
  $bin/cvlan-lab exec $lab_id ctl -- $ctl apply --file $ctl_dir/network.kdl --message "no carol"
  $bin/cvlan-lab exec $lab_id ctl -- $ctl rollback 1
A node's local API (its socket is reachable from here):
  $ctl --socket $lab_dir/alpha/cvland.sock peers
  $ctl --socket $lab_dir/alpha/cvland.sock events --follow
EOF
    if [ -x "$bin/cvtui" ]; then
        echo "  $bin/cvtui --socket $lab_dir/alpha/cvland.sock"
    fi
    cat <<EOF
  $bin/cvlan-lab exec $lab_id alpha -- ping -c 3 ${DEMO_ADDRESS[carol]}
Logs: $ctl_dir/controller.log, $lab_dir/HOST/cvland.log
Remove the lab (it stops the controller and the nodes too): $bin/cvlan-lab down $lab_id
EOF
}
