#!/usr/bin/env bash
# Boot storm benchmark: MACHINES simulated machines start at once, each in a network namespace of
# its own bridged to the server's; each takes a DHCP lease (udhcpc), downloads its boot file over
# TFTP (curl) and an image over HTTP (curl). lifeboat alone (DHCP, TFTP, HTTP) against dnsmasq
# (DHCP, TFTP) with nginx (HTTP), in alternating rounds. Prints a Markdown report on stdout and
# progress on stderr. See tests/bench/README.md.
#
#   sudo tests/bench/storm-bench.sh > report.md
#   sudo MACHINES=20 ROUNDS=1 tests/bench/storm-bench.sh   # smoke run
#
# A benchmark, not a test: a machine that fails a step is counted and the run goes on.
set -euo pipefail
export LC_ALL=C

# ---------------------------------------------------------------- knobs (environment variables)
MACHINES=${MACHINES:-200}         # simulated machines, all started at once
ROUNDS=${ROUNDS:-3}               # rounds; in each, every server set runs one storm
LOADER_KB=${LOADER_KB:-1024}      # the boot file (TFTP), KiB
HTTP_MB=${HTTP_MB:-32}            # the image (HTTP), MiB
SERVERS=${SERVERS:-"lifeboat peers"}  # lifeboat; peers = dnsmasq (DHCP + TFTP) with nginx (HTTP)
DHCP_TRIES=${DHCP_TRIES:-10}      # udhcpc -t: DISCOVERs a machine sends before it gives up
DHCP_RETRY=${DHCP_RETRY:-2}       # udhcpc -T: seconds between them
STEP_TIMEOUT=${STEP_TIMEOUT:-300} # seconds allowed for each step of a machine
STORM_TIMEOUT=${STORM_TIMEOUT:-900} # seconds allowed for a machine in all
READY_TIMEOUT=${READY_TIMEOUT:-180} # seconds allowed for all machines to reach the start barrier
LEASE_SECONDS=${LEASE_SECONDS:-3600}
HTTP_PORT=${HTTP_PORT:-4080}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
LIFEBOAT=${LIFEBOAT:-${CARGO_TARGET_DIR:-$REPO/target}/release/lifeboat}
DNSMASQ=${DNSMASQ:-/usr/sbin/dnsmasq}
NGINX=${NGINX:-/usr/sbin/nginx}
WORK_BASE=${WORK_BASE:-/dev/shm}   # files served, machine files, logs (tmpfs)
LEASE_BASE=${LEASE_BASE:-/var/tmp} # lifeboat's database and dnsmasq's lease file (a real disk)
KEEP_WORK=${KEEP_WORK:-0}          # 1: keep the logs

BENCH_NAME="storm-bench"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SCRIPT_DIR/lib.sh"

require_positive_ints MACHINES ROUNDS LOADER_KB HTTP_MB DHCP_TRIES DHCP_RETRY STEP_TIMEOUT STORM_TIMEOUT \
    READY_TIMEOUT LEASE_SECONDS HTTP_PORT
((MACHINES <= 2000)) || die "MACHINES must be at most 2000 (one namespace each)"
[[ $NGINX_WORKERS == auto || $NGINX_WORKERS =~ ^[1-9][0-9]*$ ]] || die "NGINX_WORKERS must be auto or a number"
for s in $SERVERS; do
    [[ $s == lifeboat || $s == peers ]] || die "unknown server set '$s' in SERVERS (lifeboat peers)"
done
require_root "network namespaces, a bridge, veth pairs, a cpuacct cgroup"
need=(ip ss timeout awk sort udhcpc curl openssl "$SCRIPT_DIR/storm-machine.sh")
[[ " $SERVERS " == *" lifeboat "* ]] && need+=("$LIFEBOAT")
[[ " $SERVERS " == *" peers "* ]] && need+=("$DNSMASQ" "$NGINX")
require_programs "(lifeboat: cargo build --release -p lifeboat; dnsmasq: dnsmasq-base; nginx: nginx; udhcpc: udhcpc)" \
    "${need[@]}"

# ---------------------------------------------------------------- names, state, cleanup
TAG=lbstorm-$$
NS_S=$TAG-s
BRIDGE=br0
SRV_IP=10.91.0.1
PREFIX=16
NETMASK=255.255.0.0
POOL_START=10.91.1.0
POOL_END=10.91.255.254
MACHINE_NS=()
for i in $(seq "$MACHINES"); do MACHINE_NS+=("$TAG-m$i"); done
WORK=""
LEASES=""
SERVER_PIDS=()
CLIENT_PIDS=()
NOTES=()

stop_servers() {
    local p i
    for p in "${SERVER_PIDS[@]}"; do stop_pid "$p" 50; done
    SERVER_PIDS=()
    # Anything left in the cgroup (nginx workers whose master died) goes too, by PID.
    for i in $(seq 30); do
        [[ -z $(bench_cg_procs) ]] && break
        for p in $(bench_cg_procs); do kill -KILL "$p" 2>/dev/null || true; done
        sleep 0.1
    done
}

cleanup() {
    local p
    for p in "${CLIENT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in "${CLIENT_PIDS[@]}"; do { wait "$p" || true; } 2>/dev/null; done
    stop_servers
    say "removing $((${#MACHINE_NS[@]} + 1)) namespaces"
    delete_netns "${MACHINE_NS[@]}" "$NS_S"
    bench_cg_remove
    [[ -n $LEASES && -d $LEASES ]] && rm -rf "$LEASES"
    remove_work_dir "$WORK" "$KEEP_WORK" root m
}
run_on_exit cleanup

# ---------------------------------------------------------------- setup
WORK=$(mktemp -d "$WORK_BASE/lbstorm.XXXXXX")
LEASES=$(mktemp -d "$LEASE_BASE/lbstorm-leases.XXXXXX")
chmod 755 "$WORK"
ROOT=$WORK/root
M=$WORK/m  # the machines' shared folder: env, lease.sh, the barrier, results
mkdir -p "$ROOT" "$M" "$M/tmp" "$WORK/logs" "$WORK/bin" "$WORK/nginx"
chmod 755 "$ROOT"

LOADER=loader.bin
IMAGE=image.bin
LOADER_BYTES=$((LOADER_KB << 10))
HTTP_BYTES=$((HTTP_MB << 20))
say "writing test files to $ROOT"
LOADER_SHA=$(new_random_file "$ROOT/$LOADER" "$LOADER_BYTES")
HTTP_SHA=$(new_random_file "$ROOT/$IMAGE" "$HTTP_BYTES")

if [[ " $SERVERS " == *" lifeboat "* ]]; then
    LIFEBOAT_SRC=$LIFEBOAT
    LIFEBOAT_COPY=$(copy_binary "$LIFEBOAT_SRC" "$WORK/bin/lifeboat")
    LIFEBOAT=$WORK/bin/lifeboat
fi

cat >"$M/env" <<EOF
HTTP_PORT=$HTTP_PORT
HTTP_FILE=$IMAGE
HTTP_BYTES=$HTTP_BYTES
HTTP_SHA=$HTTP_SHA
LOADER_BYTES=$LOADER_BYTES
LOADER_SHA=$LOADER_SHA
DHCP_TRIES=$DHCP_TRIES
DHCP_RETRY=$DHCP_RETRY
STEP_TIMEOUT=$STEP_TIMEOUT
TMP=$M/tmp
EOF
# udhcpc's script: on a lease, put the address on the interface and record "ADDRESS SERVER
# BOOTFILE" (the boot server is siaddr, or the server identifier when siaddr is empty).
cat >"$M/lease.sh" <<'EOF'
#!/bin/sh
case $1 in
    bound | renew)
        ip addr add "$ip/${mask:-$subnet}" dev "$interface" 2>/dev/null
        srv=${siaddr:-}
        if [ -z "$srv" ] || [ "$srv" = 0.0.0.0 ]; then srv=${serverid:-}; fi
        echo "$ip $srv ${boot_file:--}" >"$MACHINE_DIR/lease-$MACHINE_ID.tmp"
        mv "$MACHINE_DIR/lease-$MACHINE_ID.tmp" "$MACHINE_DIR/lease-$MACHINE_ID"
        ;;
esac
exit 0
EOF
chmod 755 "$M/lease.sh"
cp "$SCRIPT_DIR/storm-machine.sh" "$WORK/bin/storm-machine.sh"

say "creating $NS_S (bridge $BRIDGE, $SRV_IP/$PREFIX) and $MACHINES machine namespaces"
ip netns add "$NS_S"
ip -n "$NS_S" link set lo up
ip -n "$NS_S" link add "$BRIDGE" type bridge
ip -n "$NS_S" addr add "$SRV_IP/$PREFIX" dev "$BRIDGE"
ip -n "$NS_S" link set "$BRIDGE" up
# One batch for the namespaces and veth pairs (eth0 in the machine, mN in the server's), one for
# the bridge ports: thousands of `ip` processes would take minutes.
for i in $(seq "$MACHINES"); do echo "netns add $TAG-m$i"; done | ip -batch -
for i in $(seq "$MACHINES"); do
    echo "link add eth0 netns $TAG-m$i up type veth peer name m$i netns $NS_S"
done | ip -batch -
for i in $(seq "$MACHINES"); do echo "link set m$i master $BRIDGE up"; done | ip -n "$NS_S" -batch -
# Counters in the server's namespace: the DHCP messages that reach it, by type (udhcpc puts option
# 53 first, 240 bytes into the BOOTP payload: 248 past the UDP header), so retries show whichever
# server runs; and the kernel's UDP receive-buffer drops there (/proc/net/snmp).
NFT_TABLE=lbstorm_$$
HAVE_NFT=0
if command -v nft >/dev/null && ip netns exec "$NS_S" nft -f - <<EOF
table inet $NFT_TABLE {
    counter discover {}
    counter request {}
    chain input {
        type filter hook input priority 0; policy accept;
        udp dport 67 @th,1984,24 0x350101 counter name discover
        udp dport 67 @th,1984,24 0x350103 counter name request
    }
}
EOF
then HAVE_NFT=1; else NOTES+=("No nftables: DHCP messages were not counted."); fi
nft_count() {
    ((HAVE_NFT)) || { echo -; return; }
    ip netns exec "$NS_S" nft list counter inet "$NFT_TABLE" "$1" | awk '$1=="packets"{print $2; exit}'
}
udp_rcvbuf_errors() {
    ip netns exec "$NS_S" awk '$1 == "Udp:" { if (!h) { for (i = 2; i <= NF; i++) col[$i] = i; h = 1 } else { print $col["RcvbufErrors"]; exit } }' /proc/net/snmp
}
bench_cg_create "$TAG" ||
    NOTES+=("No usable cpuacct cgroup: server CPU is utime + stime of the server processes from /proc.")

# ---------------------------------------------------------------- servers
# Most TFTP transfers at once: lifeboat keeps a quarter of its places for known clients, so the
# limit is raised when three quarters of it would not hold every machine; dnsmasq's default is 50.
LB_MAX_TRANSFERS=256
((MACHINES * 4 / 3 + 1 > 256)) && LB_MAX_TRANSFERS=$((MACHINES * 4 / 3 + 1))

listening() {
    local proto=$1 port=$2
    [[ -n $(ip netns exec "$NS_S" ss -Hln"$proto" "sport = :$port") ]]
}
all_listening() { listening u 67 && listening u 69 && listening t "$HTTP_PORT"; }

# start_in_cgroup LOG COMMAND...: COMMAND in the server namespace and the cgroup, output to LOG.
start_in_cgroup() {
    local log=$1
    shift
    (bench_cg_exec ip netns exec "$NS_S" "$@") >>"$log" 2>&1 &
    SERVER_PIDS+=($!)
}

# start_servers SET ROUND: starts the set fresh (empty lease store); true once DHCP, TFTP and
# HTTP all listen.
start_servers() {
    local set=$1 round=$2 dir=$LEASES/$1-r$2
    rm -rf "$dir"
    mkdir -p "$dir"
    case $set in
        lifeboat)
            start_in_cgroup "$WORK/logs/lifeboat-r$round.log" "$LIFEBOAT" serve --tftp-root "$ROOT" \
                --tftp-listen "$SRV_IP:69" --tftp-max-transfers "$LB_MAX_TRANSFERS" \
                --dhcp-interface "$BRIDGE" --dhcp-range "$POOL_START,$POOL_END,$NETMASK,$LEASE_SECONDS" \
                --dhcp-boot "$LOADER" --dhcp-skip-probe \
                --http-boot-listen "$SRV_IP:$HTTP_PORT" --db "$dir/lifeboat.db"
            ;;
        peers)
            local dnsmasq_args=(--no-daemon --conf-file=/dev/null --port=0 --no-resolv --no-hosts
                --user=root --group=root --pid-file= "--log-facility=$WORK/logs/dnsmasq-r$round.log"
                "--interface=$BRIDGE" --bind-interfaces --no-ping
                "--dhcp-range=$POOL_START,$POOL_END,$NETMASK,$LEASE_SECONDS" "--dhcp-boot=$LOADER"
                "--dhcp-leasefile=$dir/dnsmasq.leases" --enable-tftp "--tftp-root=$ROOT")
            ((MACHINES > 50)) && dnsmasq_args+=("--tftp-max=$MACHINES")
            ((MACHINES >= 1000)) && dnsmasq_args+=("--dhcp-lease-max=$((MACHINES + 1))")
            start_in_cgroup "$WORK/logs/dnsmasq-r$round.out" "$DNSMASQ" "${dnsmasq_args[@]}"
            write_nginx_conf "$WORK/nginx/nginx.conf" "$WORK/nginx" "$SRV_IP:$HTTP_PORT" "$ROOT" \
                "$WORK/logs" "$NGINX_WORKERS"
            start_in_cgroup "$WORK/logs/nginx-r$round.out" "$NGINX" -p "$WORK/nginx" \
                -e "$WORK/logs/nginx-error.log" -c "$WORK/nginx/nginx.conf"
            ;;
    esac
    local i p
    for i in $(seq 100); do
        for p in "${SERVER_PIDS[@]}"; do alive "$p" || return 1; done
        if all_listening; then return 0; fi
        sleep 0.1
    done
    return 1
}

# CPU seconds (utime + stime) of each process in the cgroup now, as "NAME=S" words.
per_process_cpu() {
    local pid hz
    hz=$(getconf CLK_TCK)
    for pid in $(bench_cg_procs); do
        awk -v hz="$hz" -v pid="$pid" '{
            name = $0; sub(/^[^(]*\(/, "", name); sub(/\).*/, "", name)
            rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
            printf "%s[%s]=%.2f ", name, pid, (f[12] + f[13]) / hz }' "/proc/$pid/stat" 2>/dev/null || true
    done
}

# ---------------------------------------------------------------- one storm
RESULTS=$WORK/rounds.tsv
: >"$RESULTS"
MACHINE_ROWS=$WORK/machines.tsv
: >"$MACHINE_ROWS"

storm() {
    local set=$1 round=$2
    say "[$set] round $round: starting"
    ip -n "$NS_S" neigh flush all 2>/dev/null || true
    if ! start_servers "$set" "$round"; then
        NOTES+=("$set round $round: the servers did not start (see logs/*-r$round.*)")
        printf '%s\t%s\tFAIL:start\n' "$set" "$round" >>"$RESULTS"
        stop_servers
        return
    fi
    rm -f "$M"/res-* "$M"/ready-* "$M"/lease-* "$M"/go
    rm -rf "${M:?}/tmp" && mkdir -p "$M/tmp"
    mkfifo "$M/go"
    local i t_ready
    CLIENT_PIDS=()
    for i in $(seq "$MACHINES"); do
        timeout -k 5 "$STORM_TIMEOUT" ip netns exec "$TAG-m$i" bash "$WORK/bin/storm-machine.sh" "$i" "$M" \
            >>"$WORK/logs/machines-$set-r$round.log" 2>&1 &
        CLIENT_PIDS+=($!)
    done
    t_ready=$((SECONDS + READY_TIMEOUT))
    while (($(find "$M" -maxdepth 1 -name 'ready-*' | wc -l) < MACHINES)) && ((SECONDS < t_ready)); do sleep 0.2; done
    local ready
    ready=$(find "$M" -maxdepth 1 -name 'ready-*' | wc -l)
    ((ready == MACHINES)) || NOTES+=("$set round $round: only $ready of $MACHINES machines reached the barrier in ${READY_TIMEOUT} s")
    sleep 0.5  # the last ones from their flag to the FIFO's open
    local c0 c1 t_go drops0 drops1
    ((HAVE_NFT)) && ip netns exec "$NS_S" nft reset counters >/dev/null
    drops0=$(udp_rcvbuf_errors)
    c0=$(bench_cg_cpu "${SERVER_PIDS[@]}")
    # Opening the FIFO releases every machine blocked in its open; closing it ends their read.
    exec 9>"$M/go"
    sleep 0.2
    t_go=$EPOCHREALTIME
    exec 9>&-
    say "[$set] round $round: $ready machines released"
    local p
    for p in "${CLIENT_PIDS[@]}"; do wait "$p" || true; done
    CLIENT_PIDS=()
    c1=$(bench_cg_cpu "${SERVER_PIDS[@]}")
    drops1=$(udp_rcvbuf_errors)
    local discovers requests
    discovers=$(nft_count discover)
    requests=$(nft_count request)
    local procs hwm cpu_each alive_all=1
    for p in "${SERVER_PIDS[@]}"; do alive "$p" || alive_all=0; done
    procs=$(bench_cg_procs)
    [[ -n $procs ]] || procs="${SERVER_PIDS[*]}"
    # shellcheck disable=SC2086  # a list of PIDs
    hwm=$(hwm_of_pids $procs)
    cpu_each=$(per_process_cpu)
    stop_servers
    ((alive_all)) || NOTES+=("$set round $round: a server process died during the storm (see its log)")

    # The machines' results: one line each (a machine killed by its timeout left none).
    local res=$WORK/res-$set-$round
    for i in $(seq "$MACHINES"); do
        if [[ -f $M/res-$i ]]; then cat "$M/res-$i"; else echo "$i FAIL $t_go - - - - - killed_after_${STORM_TIMEOUT}s"; fi
    done >"$res"
    awk -v set="$set" -v round="$round" -v OFS='\t' '{print set, round, $0}' "$res" >>"$MACHINE_ROWS"
    local summary
    summary=$(awk -v go="$t_go" -v c0="$c0" -v c1="$c1" -v hwm="$hwm" '
        function pct(arr, n, q,   k) { if (n == 0) return "-"; k = int(n * q); if (k < n * q) k++; if (k < 1) k = 1; return arr[k] }
        function r2(v) { return (v == "-") ? v : sprintf("%.2f", v) }
        function sortn(arr, n,   i, j, t) { for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t } }
        {
            if (first == "" || $3 < first) first = $3
            if ($7 != "-" && $7 > last) last = $7
            if ($2 == "ok") {
                ok++
                d[++nd] = $4 - $3; t[++nt] = $5 - $4; h[++nh] = $6 - $5
                if ($4 > lease_last) lease_last = $4
            } else { fail++; why[$9]++ }
        }
        END {
            sortn(d, nd); sortn(t, nt); sortn(h, nh)
            split(hwm, m, " ")
            reasons = ""
            for (r in why) reasons = reasons sprintf("%s%d× %s", reasons == "" ? "" : "; ", why[r], r)
            printf "%d\t%d\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%s\n",
                ok, fail, last - first, c1 - c0, (lease_last > 0 ? lease_last - first : 0), m[1], m[2], m[3],
                r2(pct(d, nd, 0.5)), r2(pct(d, nd, 1)), r2(pct(t, nt, 0.5)), r2(pct(t, nt, 1)), r2(pct(h, nh, 0.5)), r2(pct(h, nh, 1)),
                first - go, (reasons == "" ? "-" : reasons)
        }' "$res")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$set" "$round" "$summary" "$cpu_each" "$discovers" "$requests" \
        "$((drops1 - drops0))" >>"$RESULTS"
    local ok fail wall cpu rss
    IFS=$'\t' read -r ok fail wall cpu _ rss _ <<<"$summary"
    say "[$set] round $round: $ok ok, $fail failed, first DISCOVER to last byte ${wall}s, server CPU ${cpu}s, peak RSS $((rss / 1024)) MiB ($cpu_each), DISCOVER/REQUEST received $discovers/$requests, UDP receive-buffer drops $((drops1 - drops0))"
    if [[ $set == lifeboat ]]; then
        local log=$WORK/logs/lifeboat-r$round.log warn
        warn=$(grep -cE ' (WARN|ERROR) ' "$log" || true)
        if ((warn > 0)); then
            NOTES+=("lifeboat round $round logged $warn WARN/ERROR lines, e.g.: $(grep -m1 -E ' (WARN|ERROR) ' "$log" | cut -c1-200)")
        fi
    fi
}

# ---------------------------------------------------------------- run everything
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
order=($SERVERS)
for round in $(seq "$ROUNDS"); do
    # Alternate which set goes first, so neither always meets the machine right after setup.
    if ((round % 2 == 0)); then
        for ((k = ${#order[@]} - 1; k >= 0; k--)); do storm "${order[k]}" "$round"; done
    else
        for set in "${order[@]}"; do storm "$set" "$round"; done
    fi
done
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
# Per set: the round with the median time (rounds that did not start are left out), the
# failures summed, the range of times and CPU.
medians() {
    local set rows n
    for set in $SERVERS; do
        rows=$(awk -F'\t' -v s="$set" '$1 == s && $3 != "FAIL:start"' "$RESULTS" | sort -t$'\t' -k5,5g)
        [[ -n $rows ]] || continue
        n=$(wc -l <<<"$rows")
        awk -F'\t' -v OFS='\t' -v mid=$(((n + 1) / 2)) '
            { ok += $3; fails += $4; if ($8 > rss) rss = $8; if ($9 > rsum) rsum = $9
              if (lo == "" || $5 < lo) lo = $5; if ($5 > hi) hi = $5
              if (clo == "" || $6 < clo) clo = $6; if ($6 > chi) chi = $6 }
            NR == mid { split($0, m, "\t") }
            END { print m[1], ok, fails, m[5], lo, hi, m[6], clo, chi, rss, rsum, m[7], m[11], m[12], m[13], m[14], m[15], m[16], m[18], NR, m[20], m[21], m[22] }' <<<"$rows"
    done
}
MED=$WORK/medians.tsv
medians >"$MED"

echo "# Boot storm: lifeboat vs dnsmasq + nginx"
echo
echo "- Run: $START – $END on $(machine_description); load average at start $LOAD_START, at end $LOAD_END"
echo "- $MACHINES machines, each in its own network namespace with a veth into bridge $BRIDGE in the server's" \
    "namespace ($SRV_IP/$PREFIX, MTU 1500); pool $POOL_START–$POOL_END, lease $LEASE_SECONDS s. All machines wait at" \
    "one barrier (a FIFO) and start together. Each: \`udhcpc -f -q -n -t $DHCP_TRIES -T $DHCP_RETRY\` (DISCOVER," \
    "OFFER, REQUEST, ACK), then the boot file of the lease from its boot server with \`curl --tftp-blksize 1468\`" \
    "($LOADER_KB KiB), then \`curl http://SERVER:$HTTP_PORT/$IMAGE\` ($HTTP_MB MiB, hashed as it arrives);" \
    "size and sha256 of both are checked, a mismatch is a failure; each step may take $STEP_TIMEOUT s."
echo "- lifeboat: $([[ -n ${LIFEBOAT_COPY:-} ]] && echo "$(first_line "$LIFEBOAT" --version), copy of $LIFEBOAT_SRC ($LIFEBOAT_COPY)," || echo "not run;")" \
    "\`serve --tftp-root --dhcp-interface $BRIDGE --dhcp-range … --dhcp-boot $LOADER --dhcp-skip-probe" \
    "--http-boot-listen $SRV_IP:$HTTP_PORT --tftp-max-transfers $LB_MAX_TRANSFERS --db\`, default logging."
echo "- peers: dnsmasq $(first_line "$DNSMASQ" --version | awk '{print $3}') (DHCP with --no-ping, TFTP," \
    "--tftp-max=$MACHINES when that is above its default of 50, default logging) and nginx $(first_line "$NGINX" -v | sed 's/.*nginx\///')" \
    "(sendfile on, worker_processes $NGINX_WORKERS, access log on, nginx's defaults otherwise). Lease stores on $LEASE_BASE."
echo "- Rounds: $ROUNDS; in each every set ($SERVERS) starts fresh, runs one storm and stops; the order alternates."
echo "- Knobs: MACHINES=$MACHINES ROUNDS=$ROUNDS LOADER_KB=$LOADER_KB HTTP_MB=$HTTP_MB DHCP_TRIES=$DHCP_TRIES" \
    "DHCP_RETRY=$DHCP_RETRY STEP_TIMEOUT=$STEP_TIMEOUT STORM_TIMEOUT=$STORM_TIMEOUT NGINX_WORKERS=$NGINX_WORKERS"
echo
echo "## Results (the round with the median time)"
echo
echo "| servers | ok / failed (all rounds) | first DISCOVER → last byte, s (min–max) | all leased after, s | server CPU s (min–max) | peak RSS: largest process / sum | DHCP s p50 / max | TFTP s p50 / max | HTTP s p50 / max | DISCOVER / REQUEST received | UDP receive-buffer drops |"
echo "|---|---:|---:|---:|---:|---|---|---|---|---:|---:|"
awk -F'\t' '{
    printf "| %s | %d / %d | %.2f (%.2f–%.2f) | %.2f | %.2f (%.2f–%.2f) | %.1f MiB / %.1f MiB | %s / %s | %s / %s | %s / %s | %s / %s | %s |\n",
        ($1 == "peers" ? "dnsmasq + nginx" : $1), $2, $3, $4, $5, $6, $12, $7, $8, $9, $10 / 1024, $11 / 1024, $13, $14, $15, $16, $17, $18, $21, $22, $23 }' "$MED"
echo
awk -F'\t' '
    $1 == "lifeboat" { lt = $4; lc = $7; lr = $10; lf = $3 }
    $1 == "peers" { pt = $4; pc = $7; pf = $3 }
    END {
        if (lt == "" || pt == "") { print "Targets: need both lifeboat and peers results."; exit }
        printf "Targets (median rounds): failures lifeboat %d, peers %d (target 0: %s); ", lf, pf, (lf == 0 ? "met" : "not met")
        printf "time lifeboat ÷ peers %.2f, peers ÷ lifeboat %.2f× (target ≥ 1.1×: %s); ", lt / pt, pt / lt, (pt / lt >= 1.1 ? "met" : "not met")
        printf "server CPU lifeboat ÷ peers %.2f (target ≤ 0.8: %s); ", (pc > 0 ? lc / pc : 0), (pc > 0 && lc / pc <= 0.8 ? "met" : "not met")
        printf "lifeboat peak RSS %.1f MiB (target < 64 MiB: %s).\n", lr / 1024, (lr < 65536 ? "met" : "not met")
    }' "$MED"
echo
echo "Time = the last machine's end (last byte, or its failure) minus the first machine's start" \
    "(its udhcpc, which sends the first DISCOVER at once). All leased after = from that start to the" \
    "last good machine's ACK. DHCP, TFTP, HTTP = each good machine's time in that step. Server CPU =" \
    "cpuacct of one cgroup holding every server process (dnsmasq, nginx master and workers; lifeboat) over the" \
    "storm, idle included. DISCOVER / REQUEST received = DHCP messages of those types reaching the server's" \
    "namespace (nftables counters; $MACHINES each means no retry). UDP receive-buffer drops = RcvbufErrors of" \
    "the server's namespace over the storm. Peak RSS = VmHWM at the end of the storm of each process; for the peers both the" \
    "largest process and the sum over processes. The $MACHINES machines (udhcpc, curl, the hashing) share the" \
    "machine's $(nproc) CPUs with the servers: compare within a run."
echo
print_notes "${NOTES[@]}"
echo "<details><summary>Every round</summary>"
echo
echo "| servers | round | ok / failed | time s | all leased s | server CPU s (per process) | peak RSS largest / sum / procs | DHCP p50 / max | TFTP p50 / max | HTTP p50 / max | DISCOVER / REQUEST received | UDP receive-buffer drops | release → first start s | failures |"
echo "|---|---:|---:|---:|---:|---|---|---|---|---|---:|---:|---:|---|"
awk -F'\t' '$3 == "FAIL:start" { printf "| %s | %s | servers did not start | | | | | | | | | | | |\n", $1, $2; next }
    { printf "| %s | %s | %d / %d | %.2f | %.2f | %.2f (%s) | %.1f / %.1f MiB / %d | %s / %s | %s / %s | %s / %s | %s / %s | %s | %s | %s |\n",
        $1, $2, $3, $4, $5, $7, $6, $19, $8 / 1024, $9 / 1024, $10, $11, $12, $13, $14, $15, $16, $20, $21, $22, $17, $18 }' "$RESULTS"
echo
echo "</details>"
