#!/usr/bin/env bash
# DHCP benchmark: full DISCOVER-OFFER-REQUEST-ACK exchanges per second with distinct MACs, the
# lifeboat server against kea-dhcp4 and dnsmasq, one after another on the same veth pair between
# two network namespaces created (and removed) by this script. The client is perfdhcp (kea-admin).
# Prints a Markdown report on stdout and progress on stderr. See tests/bench/README.md.
#
#   sudo tests/bench/dhcp-bench.sh > report.md
#   sudo REPEAT=1 STEP_SECONDS=2 BISECT=1 tests/bench/dhcp-bench.sh   # smoke run
#
# A benchmark, not a test: a server that fails to start or a perfdhcp that fails is reported as
# FAIL and the run goes on.
#
# Server kinds (SERVERS): lifeboat (SQLite), kea (memfile), dnsmasq, lifeboat-pg and kea-pg (leases
# in a private PostgreSQL server), and lifeboat-pg-ha: two lifeboat instances, ha-0 and ha-1, an HA
# pair sharing one PostgreSQL database. The pair has a segment of its own: a bridge in a third
# namespace, where perfdhcp runs with the same relay address, and a veth from it to each server's
# namespace (10.64.0.1 and 10.64.0.3). perfdhcp sends to the broadcast address (`all`) so both
# servers see every DISCOVER; a step starts only once both logs say "DHCP answers 1 in 2 new
# clients" (the pair found each other through the database's heartbeats), else it is FAIL:start.
# Its CPU is both processes' sum, its leases the rows of the shared database; it dies if either dies.
set -euo pipefail
export LC_ALL=C

# ---------------------------------------------------------------- knobs (environment variables)
REPEAT=${REPEAT:-3}               # rounds; the median round is reported
STEP_SECONDS=${STEP_SECONDS:-5}   # perfdhcp -p: seconds of offered load per step
START_RATE=${START_RATE:-500}     # first offered rate (exchanges/s) of every sweep
MAX_RATE=${MAX_RATE:-32000}       # the sweep never offers more
MIN_RATE=${MIN_RATE:-50}          # ... nor less, when it has to search downwards
BISECT=${BISECT:-3}               # bisection steps between the highest pass and the lowest fail
FAIL_OK=${FAIL_OK:-0.1}           # a step passes with fewer than this % of exchanges not completed
P99_MS=${P99_MS:-5}               # ... and is also fast when both phases' p99 latency is under this (ms)
DROP_TIME=${DROP_TIME:-1}         # perfdhcp -d: seconds after which a request counts as lost
EXIT_WAIT_MS=${EXIT_WAIT_MS:-500} # perfdhcp -W: how long it waits for late replies at the end
LEASE_SECONDS=${LEASE_SECONDS:-43200}
SERVERS=${SERVERS:-"lifeboat kea dnsmasq"}
# lifeboat-pg, kea-pg and lifeboat-pg-ha keep their leases in PostgreSQL: a private server that this
# script starts (tests/postgres/cluster.sh) with its data on LEASE_BASE, the same server for all, a
# new database for every step. SERVERS="lifeboat-pg kea-pg" is the comparison of issue 16;
# SERVERS="lifeboat-pg lifeboat-pg-ha" compares one lifeboat with an HA pair.
HA_WAIT=${HA_WAIT:-15}            # lifeboat-pg-ha: seconds allowed for the pair to share the clients
# lifeboat-pg-ha: lifeboat logs that it shares the clients at info level, in the module that also
# logs every OFFER and ACK at info; every other lifeboat kind runs with RUST_LOG=warn.
HA_RUST_LOG=${HA_RUST_LOG:-warn,lifeboat_app::fleet=info}
KEA_THREADS=${KEA_THREADS:-0}     # 0: Kea 2.2's default (single-threaded); N: multi-threading, N threads
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
LIFEBOAT=${LIFEBOAT:-$REPO/target/release/lifeboat}
KEA_DHCP4=${KEA_DHCP4:-/usr/sbin/kea-dhcp4}
DNSMASQ=${DNSMASQ:-/usr/sbin/dnsmasq}
PERFDHCP=${PERFDHCP:-/usr/sbin/perfdhcp}
WORK_BASE=${WORK_BASE:-/dev/shm}  # configs, logs, perfdhcp output (tmpfs)
LEASE_BASE=${LEASE_BASE:-/var/tmp} # lease files and databases: a real disk, so fsync costs what it costs
KEEP_WORK=${KEEP_WORK:-0}         # 1: keep the work directory (server and perfdhcp logs)

BENCH_NAME="dhcp-bench"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SCRIPT_DIR/lib.sh"

require_positive_ints REPEAT STEP_SECONDS START_RATE MAX_RATE MIN_RATE DROP_TIME EXIT_WAIT_MS LEASE_SECONDS HA_WAIT
require_non_negative_ints BISECT KEA_THREADS
[[ $FAIL_OK =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "FAIL_OK must be a percentage like 0.1 (got '$FAIL_OK')"
[[ $P99_MS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "P99_MS must be milliseconds like 5 (got '$P99_MS')"
((MIN_RATE <= START_RATE && START_RATE <= MAX_RATE)) || die "need MIN_RATE <= START_RATE <= MAX_RATE"

# The link is a /14: server 10.64.0.1, perfdhcp 10.64.0.2 (its relay address, giaddr), and a pool
# of 261,887 addresses, so no step runs out of addresses and every MAC of a step is new. The HA
# pair's segment uses the same subnet: ha-0 at 10.64.0.1, ha-1 at 10.64.0.3, perfdhcp at 10.64.0.2.
SRV_IP=10.64.0.1
CLI_IP=10.64.0.2
HA_IPS=(10.64.0.1 10.64.0.3)
HA_SHARE_LINE="DHCP answers 1 in 2 new clients"
PREFIX=14
NETMASK=255.252.0.0
POOL_START=10.64.1.0
POOL_END=10.67.255.254
POOL_SIZE=261887
((MAX_RATE * STEP_SECONDS <= POOL_SIZE)) ||
    die "MAX_RATE x STEP_SECONDS ($((MAX_RATE * STEP_SECONDS))) exceeds the pool of $POOL_SIZE addresses"

require_root "network namespaces, a veth pair, nftables counters"

need=(ip nft ss timeout awk sort "$PERFDHCP")
for server in $SERVERS; do
    case $server in
        lifeboat) need+=("$LIFEBOAT") ;;
        kea) need+=("$KEA_DHCP4") ;;
        dnsmasq) need+=("$DNSMASQ") ;;
        lifeboat-pg | lifeboat-pg-ha) need+=("$LIFEBOAT" psql) ;;
        kea-pg) need+=("$KEA_DHCP4" psql kea-admin) ;;
        *) die "unknown server '$server' in SERVERS (lifeboat kea dnsmasq lifeboat-pg kea-pg lifeboat-pg-ha)" ;;
    esac
done
require_programs "(lifeboat: cargo build --release -p lifeboat; perfdhcp: apt-get install kea-admin; kea-dhcp4: kea-dhcp4-server; dnsmasq: dnsmasq-base; nft: nftables)" \
    "${need[@]}"
SQLITE3=$(command -v sqlite3 || true)

# ---------------------------------------------------------------- names, state, cleanup
TAG=lbdhcp-$$
NS_S=$TAG-s
NS_C=$TAG-c
VETH_S=lbd$$s
VETH_C=lbd$$c
NFT_TABLE=lbdhcp_$$
# lifeboat-pg-ha: perfdhcp's namespace holding the bridge, and one namespace per instance with a
# veth (VETH_HA) whose peer (PORT_HA) is a port of the bridge.
NS_H=$TAG-h
NS_HA=("$TAG-h0" "$TAG-h1")
BR_H=lbd$$br
VETH_HA=("lbd$$h0" "lbd$$h1")
PORT_HA=("lbd$$p0" "lbd$$p1")
WORK=""
LEASES=""
SERVER_PID=""
SERVER_PID2="" # lifeboat-pg-ha: ha-1 (SERVER_PID is ha-0)
PG_DIR=""
PG_URL=""
CLIENT_PIDS=()
NOTES=()

cleanup() {
    # TERM reaches perfdhcp through timeout, which forwards it; KILL would orphan perfdhcp.
    local p
    for p in "${CLIENT_PIDS[@]}"; do stop_pid "$p" 30; done
    stop_servers
    delete_netns "$NS_C" "$NS_S" "$NS_H" "${NS_HA[@]}"
    if [[ -n $PG_DIR ]]; then "$REPO/tests/postgres/cluster.sh" stop "$PG_DIR" || true; fi
    [[ -n $LEASES && -d $LEASES ]] && rm -rf "$LEASES"
    remove_work_dir "$WORK" "$KEEP_WORK"
}
run_on_exit cleanup

# Stop the server under test, both instances of the HA pair (TERM to both first, so they stop
# side by side).
stop_servers() {
    if [[ -n $SERVER_PID2 ]]; then
        if [[ -n $SERVER_PID ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; fi
        stop_pid "$SERVER_PID2" 50
        SERVER_PID2=""
    fi
    stop_server
}

# ---------------------------------------------------------------- setup
WORK=$(mktemp -d "$WORK_BASE/lbdhcp.XXXXXX")
LEASES=$(mktemp -d "$LEASE_BASE/lbdhcp-leases.XXXXXX")
mkdir -p "$WORK/logs" "$WORK/kea" "$WORK/bin"
LEASE_FS=$(df -PT "$LEASES" | awk 'NR==2{print $2 " on " $1}')

say "creating $NS_S ($SRV_IP/$PREFIX) and $NS_C ($CLI_IP/$PREFIX), veth MTU 1500"
create_netns_pair "$NS_S" "$NS_C" "$VETH_S" "$VETH_C" "$SRV_IP/$PREFIX" "$CLI_IP/$PREFIX"

# Every reply reaches perfdhcp at its relay address on port 67. A DHCPNAK is the only reply with
# yiaddr 0.0.0.0 here (perfdhcp sends no DHCPINFORM), so counting those counts NAKs whatever the
# option order; perfdhcp itself only sees a NAK as a lost REQUEST. Only BOOTREPLYs (op 2) count:
# on the HA segment perfdhcp's own broadcasts (port 67 to 67) come back to its namespace too.
nft_counters() {
    ip netns exec "$1" nft -f - <<EOF
table inet $NFT_TABLE {
    counter replies {}
    counter naks {}
    chain input {
        type filter hook input priority 0; policy accept;
        udp sport 67 udp dport 67 @th,64,8 2 counter name replies
        udp sport 67 udp dport 67 @th,64,8 2 @th,192,32 0 counter name naks
    }
}
EOF
}
nft_counters "$NS_C"
# nft_count NS COUNTER: the packets COUNTER counted in perfdhcp's namespace NS.
nft_count() {
    ip netns exec "$1" nft list counter inet "$NFT_TABLE" "$2" | awk '$1=="packets"{print $2; exit}'
}

# lifeboat-pg-ha's segment: a bridge in NS_H holding perfdhcp's address, a veth from it to each
# instance's namespace. Nothing outside these namespaces changes.
if [[ " $SERVERS " == *" lifeboat-pg-ha "* ]]; then
    say "creating $NS_H (bridge $BR_H, $CLI_IP/$PREFIX) and ${NS_HA[0]} (${HA_IPS[0]}/$PREFIX)," \
        "${NS_HA[1]} (${HA_IPS[1]}/$PREFIX) on it, MTU 1500"
    ip netns add "$NS_H"
    ip -n "$NS_H" link set lo up
    ip -n "$NS_H" link add "$BR_H" mtu 1500 type bridge
    ip -n "$NS_H" addr add "$CLI_IP/$PREFIX" dev "$BR_H"
    ip -n "$NS_H" link set "$BR_H" up
    for i in 0 1; do
        ip netns add "${NS_HA[i]}"
        ip link add "${PORT_HA[i]}" netns "$NS_H" mtu 1500 type veth peer name "${VETH_HA[i]}" netns "${NS_HA[i]}" mtu 1500
        ip -n "$NS_H" link set "${PORT_HA[i]}" master "$BR_H" up
        ip -n "${NS_HA[i]}" addr add "${HA_IPS[i]}/$PREFIX" dev "${VETH_HA[i]}"
        ip -n "${NS_HA[i]}" link set lo up
        ip -n "${NS_HA[i]}" link set "${VETH_HA[i]}" up
    done
    nft_counters "$NS_H"
fi

if [[ " $SERVERS " == *-pg* ]]; then
    PG_DIR=$LEASES/postgres
    mkdir -p "$PG_DIR"
    chmod 0755 "$LEASES" "$PG_DIR"
    PG_URL=$("$REPO/tests/postgres/cluster.sh" start "$PG_DIR")
    PG_SOCKET=${PG_URL##*host=}
    say "PostgreSQL for the lease stores: $PG_URL (data on $LEASE_FS)"
fi

# A fresh, empty database named $1 on the private server.
fresh_database() {
    psql -X -q -d "$PG_URL" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}

# The URL of database $1 on the private server.
database_url() { printf 'postgres://postgres@localhost/%s?host=%s' "$1" "$PG_SOCKET"; }

# A private copy of the binary, so a rebuild during the run cannot mix two versions.
LIFEBOAT_SRC=$LIFEBOAT
if [[ " $SERVERS " == *" lifeboat"* ]]; then
    LIFEBOAT_COPY=$(copy_binary "$LIFEBOAT_SRC" "$WORK/bin/lifeboat")
    LIFEBOAT=$WORK/bin/lifeboat
fi

# ---------------------------------------------------------------- servers
# Writes the argv of SERVER into ARGV and the environment into SERVER_ENV; $2 is the fresh lease
# directory of this step, $3 the log file.
server_argv() {
    local dir=$2 log=$3
    SERVER_ENV=()
    case $1 in
        lifeboat | lifeboat-pg)
            local db=$dir/lifeboat.db
            if [[ $1 == lifeboat-pg ]]; then
                fresh_database lbbench
                db=$(database_url lbbench)
            fi
            SERVER_ENV=(RUST_LOG=warn)
            # perfdhcp is a relay inside the served subnet: lifeboat answers such relays only when
            # told to (--dhcp-relay-allow), as Kea and dnsmasq do for a giaddr in their subnet.
            ARGV=("$LIFEBOAT" serve --dhcp-interface "$VETH_S" --dhcp-skip-probe --dhcp-authoritative --db "$db"
                --dhcp-range "$POOL_START,$POOL_END,$NETMASK,$LEASE_SECONDS" --dhcp-relay-allow "$CLI_IP/32")
            ;;
        kea | kea-pg)
            local mt="" leases="{ \"type\": \"memfile\", \"persist\": true, \"name\": \"$dir/kea-leases4.csv\", \"lfc-interval\": 0 }"
            if ((KEA_THREADS > 0)); then
                mt="\"multi-threading\": { \"enable-multi-threading\": true, \"thread-pool-size\": $KEA_THREADS, \"packet-queue-size\": 64 },"
            fi
            if [[ $1 == kea-pg ]]; then
                fresh_database lbbench_kea
                kea-admin db-init pgsql -u postgres -n lbbench_kea -h "$PG_SOCKET" </dev/null >>"$log" 2>&1
                leases="{ \"type\": \"postgresql\", \"name\": \"lbbench_kea\", \"user\": \"postgres\", \"host\": \"$PG_SOCKET\" }"
            fi
            cat >"$WORK/kea/kea-dhcp4.json" <<EOF
{ "Dhcp4": {
    "interfaces-config": { "interfaces": [ "$VETH_S" ], "dhcp-socket-type": "udp" },
    "lease-database": $leases,
    "valid-lifetime": $LEASE_SECONDS,
    "authoritative": true,
    $mt
    "subnet4": [ { "id": 1, "subnet": "10.64.0.0/$PREFIX",
                   "pools": [ { "pool": "$POOL_START - $POOL_END" } ] } ],
    "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                   "output_options": [ { "output": "$log" } ] } ]
} }
EOF
            SERVER_ENV=(KEA_PIDFILE_DIR="$WORK/kea" KEA_LOCKFILE_DIR="$WORK/kea")
            ARGV=("$KEA_DHCP4" -c "$WORK/kea/kea-dhcp4.json")
            ;;
        dnsmasq)
            ARGV=("$DNSMASQ" --no-daemon --conf-file=/dev/null --port=0 --no-resolv --no-hosts
                --user=root --group=root --pid-file= "--log-facility=$log" --quiet-dhcp
                "--interface=$VETH_S" --bind-interfaces --dhcp-authoritative --no-ping
                "--dhcp-range=$POOL_START,$POOL_END,$NETMASK,$LEASE_SECONDS"
                "--dhcp-leasefile=$dir/dnsmasq.leases" "--dhcp-lease-max=$((POOL_SIZE + 1))")
            ;;
    esac
}

# Leases the server has written to its lease file or database so far ("n/a" without sqlite3).
leases_on_disk() {
    local dir=$1
    case $2 in
        lifeboat)
            if [[ -z $SQLITE3 ]]; then echo n/a; return; fi
            "$SQLITE3" -readonly "file:$dir/lifeboat.db" "select count(*) from leases;" 2>/dev/null || echo n/a
            ;;
        kea) awk 'NR > 1 && NF' "$dir/kea-leases4.csv" 2>/dev/null | wc -l ;;
        lifeboat-pg) psql -X -At -d "$(database_url lbbench)" -c "select count(*) from leases" 2>/dev/null || echo n/a ;;
        kea-pg) psql -X -At -d "$(database_url lbbench_kea)" -c "select count(*) from lease4" 2>/dev/null || echo n/a ;;
        lifeboat-pg-ha) psql -X -At -d "$(database_url lbbench_ha)" -c "select count(*) from leases" 2>/dev/null || echo n/a ;;
        dnsmasq) awk 'NF' "$dir/dnsmasq.leases" 2>/dev/null | wc -l ;;
    esac
}

# lifeboat-pg-ha: the leases of the shared database per instance, like "ha-0 1021, ha-1 979".
ha_leases_by_instance() {
    psql -X -At -F ' ' -d "$(database_url lbbench_ha)" \
        -c "select instance, count(*) from leases group by instance order by instance" 2>/dev/null |
        paste -sd, - | sed 's/,/, /g'
}

# utime + stime of the server process (both processes of the HA pair) in seconds.
server_cpu() {
    local a b
    a=$(proc_cpu_seconds "$SERVER_PID")
    b=0
    [[ -n $SERVER_PID2 ]] && b=$(proc_cpu_seconds "$SERVER_PID2")
    awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a + b}'
}

# Whether the server is still alive (both instances of the HA pair).
server_alive() { alive "$SERVER_PID" && { [[ -z $SERVER_PID2 ]] || alive "$SERVER_PID2"; }; }

# udp67_listening [NS]: something listens on UDP port 67 in NS (default: the server namespace).
udp67_listening() { [[ -n $(ip netns exec "${1:-$NS_S}" ss -Hlun 'sport = :67') ]]; }

# Start SERVER with a fresh lease directory; true once it listens on UDP port 67 (within 5 s).
# A server that dies or does not listen in time is stopped and reaped.
start_server() {
    local server=$1 dir=$2 log=$3
    rm -rf "$dir"
    mkdir -p "$dir"
    if [[ $server == lifeboat-pg-ha ]]; then
        start_ha_pair "$log"
        return
    fi
    server_argv "$server" "$dir" "$log"
    env "${SERVER_ENV[@]}" ip netns exec "$NS_S" "${ARGV[@]}" >>"$log" 2>&1 &
    SERVER_PID=$!
    if wait_for_server "$SERVER_PID" 100 0.05 udp67_listening; then
        sleep 0.2
        return 0
    fi
    stop_server
    return 1
}

# lifeboat-pg-ha: start ha-0 and, once it listens on UDP port 67 (so that the two do not migrate
# the new database at once), ha-1, each in its namespace on the bridge, both on one fresh
# database; true once both listen and both logs say they share the new clients (within HA_WAIT
# s). Otherwise both are stopped. SERVER_PID is ha-0, SERVER_PID2 ha-1; their logs are LOG.ha-N
# until merge_ha_logs makes them LOG.
start_ha_pair() {
    local log=$1 url i pid
    fresh_database lbbench_ha
    url=$(database_url lbbench_ha)
    for i in 0 1; do
        env RUST_LOG="$HA_RUST_LOG" ip netns exec "${NS_HA[i]}" "$LIFEBOAT" serve --instance "ha-$i" --db "$url" \
            --dhcp-interface "${VETH_HA[i]}" --dhcp-skip-probe --dhcp-authoritative \
            --dhcp-range "$POOL_START,$POOL_END,$NETMASK,$LEASE_SECONDS" --dhcp-relay-allow "$CLI_IP/32" \
            --no-web >>"$log.ha-$i" 2>&1 &
        pid=$!
        if ((i == 0)); then SERVER_PID=$pid; else SERVER_PID2=$pid; fi
        if ! wait_for_server "$pid" 100 0.05 udp67_listening "${NS_HA[i]}"; then
            ha_start_failed "$log" "ha-$i died or did not listen on UDP port 67 within 5 s"
            return 1
        fi
    done
    local deadline=$((SECONDS + HA_WAIT)) missing
    until grep -qF "$HA_SHARE_LINE" "$log.ha-0" && grep -qF "$HA_SHARE_LINE" "$log.ha-1"; do
        if ! server_alive || ((SECONDS >= deadline)); then
            missing=""
            for i in 0 1; do grep -qF "$HA_SHARE_LINE" "$log.ha-$i" || missing+=" ha-$i"; done
            if server_alive; then
                ha_start_failed "$log" "no \"$HA_SHARE_LINE\" from$missing within $HA_WAIT s"
            else
                ha_start_failed "$log" "an instance died before both said \"$HA_SHARE_LINE\""
            fi
            return 1
        fi
        sleep 0.1
    done
    sleep 0.2
}

# ha_start_failed LOG WHY: stop the pair, merge its logs into LOG and end LOG with WHY (the last
# line, which the step's progress message shows).
ha_start_failed() {
    stop_servers
    merge_ha_logs "$1"
    echo "lifeboat-pg-ha did not start: $2" >>"$1"
}

# lifeboat-pg-ha: the logs of both instances (LOG.ha-0, LOG.ha-1) into LOG, each line prefixed
# with its instance, without any line per OFFER and ACK (a wider HA_RUST_LOG lets them through;
# their count is kept).
merge_ha_logs() {
    local log=$1 i n
    for i in 0 1; do
        [[ -f $log.ha-$i ]] || continue
        n=$(grep -cE 'DHCP[A-Z]+ from .*: DHCP(OFFER|ACK)( |$)' "$log.ha-$i" || true)
        {
            echo "($n lines of DHCPOFFERs and DHCPACKs left out)"
            grep -vE 'DHCP[A-Z]+ from .*: DHCP(OFFER|ACK)( |$)' "$log.ha-$i" || true
        } | sed "s/^/[ha-$i] /" >>"$log"
        rm -f "$log.ha-$i"
    done
}

# ---------------------------------------------------------------- one step
RESULTS=$WORK/steps.tsv
: >"$RESULTS"
STEP_NO=0

# Summarise a perfdhcp log (-x t): counters of both phases and per-phase latency statistics.
# Prints: do_sent do_recv ra_sent ra_recv orphans do_avg do_p50 do_p99 do_max ra_avg ra_p50 ra_p99 ra_max
summarise_perfdhcp() {
    local log=$1 dir=$2
    awk -v dir="$dir" '
        /^\*\*\*Statistics for: DISCOVER-OFFER/ { sec = "do"; next }
        /^\*\*\*Statistics for: REQUEST-ACK/ { sec = "ra"; next }
        /^\*\*\*Timestamps for packets: DISCOVER-OFFER/ { ts = dir "/lat-do"; next }
        /^\*\*\*Timestamps for packets: REQUEST-ACK/ { ts = dir "/lat-ra"; next }
        /^\*\*\*/ { sec = ""; ts = ""; next }
        ts != "" && /^sent \/ received:/ { printf "%.3f\n", ($6 - $4) * 1000 > ts; next }
        sec != "" && /^sent packets:/ { sent[sec] = $3 }
        sec != "" && /^received packets:/ { recv[sec] = $3 }
        sec != "" && /^orphans:/ { orph += $2 }
        END { printf "%d %d %d %d %d", sent["do"], recv["do"], sent["ra"], recv["ra"], orph }
    ' "$log"
    local phase
    for phase in "do" ra; do
        touch "$dir/lat-$phase"
        sort -n "$dir/lat-$phase" | awk '
            { v[NR] = $1; s += $1 }
            END {
                if (NR == 0) { printf " - - - -"; exit }
                p50 = int(NR * 0.50); if (p50 < NR * 0.50) p50++
                p99 = int(NR * 0.99); if (p99 < NR * 0.99) p99++
                printf " %.3f %.3f %.3f %.3f", s / NR, v[p50], v[p99], v[NR]
            }'
        rm -f "$dir/lat-$phase"
    done
    echo
}

# Run perfdhcp at RATE against a fresh SERVER; appends a line to $RESULTS and sets STEP_PASS.
run_step() {
    local server=$1 round=$2 rate=$3
    STEP_NO=$((STEP_NO + 1))
    local id=$STEP_NO-$server-r$round-$rate
    local dir=$LEASES/$id log=$WORK/logs/server-$id.log plog=$WORK/logs/perfdhcp-$id.log
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    STEP_PASS=0
    STEP_FAST=0
    # perfdhcp's namespace, and where it sends: the HA pair's segment, and the broadcast address
    # (`all`) so that both instances receive every DISCOVER.
    local cns=$NS_C target=$SRV_IP
    if [[ $server == lifeboat-pg-ha ]]; then cns=$NS_H target=all; fi
    if ! start_server "$server" "$dir" "$log"; then
        printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$server" "$rate" "FAIL:start (see $(basename "$log"))" "$load" >>"$RESULTS"
        say "[$server] round $round, $rate/s: server did not start: $(tail -n 2 "$log" | tr '\n' ' ')"
        return
    fi
    ip netns exec "$cns" nft reset counters >/dev/null
    local c0 c1 rc=0
    c0=$(server_cpu)
    # -R: that many simulated clients; perfdhcp numbers their MACs sequentially from its base, so
    # with more clients than requests every DISCOVER comes from a new MAC. -l: perfdhcp acts as a
    # relay at CLI_IP (giaddr), which the servers answer on port 67.
    run_client $((STEP_SECONDS + DROP_TIME + 60)) "$plog" ip netns exec "$cns" "$PERFDHCP" -4 -r "$rate" \
        -R "$POOL_SIZE" -p "$STEP_SECONDS" -d "$DROP_TIME" -W $((EXIT_WAIT_MS * 1000)) -x t \
        -l "$CLI_IP" "$target" || rc=$?
    c1=$(server_cpu)
    local leases naks replies again
    # dnsmasq truncates and rewrites its lease file: a read at that instant finds it empty, so
    # read twice and keep the larger count.
    leases=$(leases_on_disk "$dir" "$server")
    sleep 0.2
    again=$(leases_on_disk "$dir" "$server")
    if [[ $leases == n/a ]] || { [[ $again != n/a ]] && ((again > leases)); }; then leases=$again; fi
    # The HA pair: which instance holds how many of those leases (both should hold about half).
    # And whether the pair broke up during the step (read before the pair stops, which may say so).
    local by_instance=- broke_up=""
    if [[ $server == lifeboat-pg-ha ]]; then
        by_instance=$(ha_leases_by_instance) && [[ -n $by_instance ]] || by_instance=n/a
        broke_up=$(cat "$log.ha-0" "$log.ha-1" | grep -m1 -F "DHCP answers every client" | cut -c1-120 || true)
    fi
    naks=$(nft_count "$cns" naks)
    replies=$(nft_count "$cns" replies)
    local alive_after=1
    server_alive || alive_after=0
    stop_servers
    local warn warn_re='warn|error'
    if [[ $server == lifeboat-pg-ha ]]; then
        merge_ha_logs "$log"
        warn_re='Z +(WARN|ERROR) ' # its log has INFO lines too: match the level after the time
    fi
    warn=$(grep -ciE "$warn_re" "$log" || true)
    rm -rf "$dir"

    local status=ok
    if ((rc != 0 && rc != 3)); then status="FAIL:perfdhcp exit $rc: $(tail -n 1 "$plog" | tr -d '|\t' | cut -c1-60)"; fi
    ((alive_after)) || status="FAIL:server died"
    local s do_sent do_recv ra_sent ra_recv orph do_avg do_p99 do_max ra_avg ra_p99 ra_max
    s=$(summarise_perfdhcp "$plog" "$WORK")
    # The two p50s (_) are not reported.
    read -r do_sent do_recv ra_sent ra_recv orph do_avg _ do_p99 do_max ra_avg _ ra_p99 ra_max <<<"$s"
    local fail xps offered cpu wall
    fail=$(awk -v s="$do_sent" -v a="$ra_recv" 'BEGIN{printf "%.3f", (s > 0) ? 100 * (s - a) / s : 100}')
    xps=$(awk -v a="$ra_recv" -v p="$STEP_SECONDS" 'BEGIN{printf "%.0f", a / p}')
    offered=$(awk -v s="$do_sent" -v p="$STEP_SECONDS" 'BEGIN{printf "%.0f", s / p}')
    cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b - a}')
    wall=$(awk -v t="$CLIENT_SECONDS" 'BEGIN{printf "%.2f", t}')
    if [[ $status == ok ]] && ((do_sent > 0)) && awk -v f="$fail" -v ok="$FAIL_OK" 'BEGIN{exit !(f < ok)}'; then
        STEP_PASS=1
        if awk -v a="$do_p99" -v b="$ra_p99" -v limit="$P99_MS" 'BEGIN{exit !(a + 0 < limit && b + 0 < limit)}'; then
            STEP_FAST=1
        fi
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$round" "$server" "$rate" "$status" "$load" "$STEP_PASS" "$offered" "$xps" "$fail" \
        "$do_sent" "$do_recv" "$ra_sent" "$ra_recv" "$orph" "$naks" "$replies" "$leases" \
        "$do_avg" "$do_p99" "$do_max" "$ra_avg" "$ra_p99" "$ra_max" "$cpu" "$wall" "$STEP_FAST" "$by_instance" >>"$RESULTS"
    local verdict=fail
    ((STEP_PASS)) && verdict=pass
    ((STEP_FAST)) && verdict="pass, p99 < $P99_MS ms"
    local split=""
    [[ $by_instance != - ]] && split=" ($by_instance)"
    say "[$server] round $round, offered $rate/s (sent $offered/s): $xps DORA/s, ${fail}% not completed, $naks NAKs," \
        "leases on disk $leases$split / $ra_recv ACKs, OFFER p99 ${do_p99} ms, ACK p99 ${ra_p99} ms, server CPU ${cpu}s," \
        "load $load: $verdict${status#ok}"
    if [[ $server == lifeboat* && $warn -gt 0 ]]; then
        NOTES+=("$server round $round at $rate/s logged $warn WARN/ERROR lines, e.g.: $(grep -m1 -iE "$warn_re" "$log" | cut -c1-160)")
    fi
    if [[ $server == lifeboat-pg-ha ]]; then
        if [[ $by_instance != *ha-0* || $by_instance != *ha-1* ]] && ((ra_recv > 0)); then
            NOTES+=("$server round $round at $rate/s: not both instances hold leases ($by_instance).")
        fi
        # A pair that broke up during the step: an instance went back to answering every client.
        if [[ -n $broke_up ]]; then
            NOTES+=("$server round $round at $rate/s: the pair broke up during the step: \"$broke_up\".")
        fi
    fi
}

# One round of one server: double the rate from START_RATE until a step fails (or halve it from
# START_RATE until one passes), then bisect between the highest pass and the lowest fail. Then
# the same for the latency bound: bisect between the highest fast step (passed, p99 < P99_MS) and
# the lowest step above it that was not fast. Every step of the round counts for both.
sweep() {
    local server=$1 round=$2 rate lo=0 hi=0
    local -a tried=() fast=()
    step() {
        run_step "$server" "$round" "$1"
        tried+=("$1")
        ((STEP_FAST)) && fast+=("$1")
        return 0
    }
    # BISECT steps between $1 (passed) and $2 (did not), judged by the flag named $3.
    bisect() {
        local good=$1 bad=$2 flag=$3 i mid
        for ((i = 0; i < BISECT; i++)); do
            ((good > 0 && bad > 0)) || break
            mid=$(((good + bad) / 2 / 50 * 50))
            ((mid > good && mid < bad)) || break
            step "$mid"
            if ((${!flag})); then good=$mid; else bad=$mid; fi
        done
    }
    rate=$START_RATE
    while ((rate <= MAX_RATE)); do
        step "$rate"
        if ((STEP_PASS)); then lo=$rate; rate=$((rate * 2)); else hi=$rate; break; fi
    done
    if ((lo == 0)); then
        rate=$((START_RATE / 2))
        while ((rate >= MIN_RATE)); do
            step "$rate"
            if ((STEP_PASS)); then lo=$rate; break; else hi=$rate; rate=$((rate / 2)); fi
        done
    fi
    bisect "$lo" "$hi" STEP_PASS
    local flo=0 fhi=0 r
    for r in "${fast[@]}"; do ((r > flo)) && flo=$r; done
    for r in "${tried[@]}"; do
        ((r > flo)) && [[ " ${fast[*]} " != *" $r "* ]] && ((fhi == 0 || r < fhi)) && fhi=$r
    done
    bisect "$flo" "$fhi" STEP_FAST
}

# ---------------------------------------------------------------- run everything
# Milliseconds per synchronous 4 KiB write in LEASE_BASE (100 writes with O_DSYNC): what one
# commit that must reach the disk costs at least, right now. On a shared VM it varies a lot.
sync_write_ms() {
    local f=$LEASES/sync-probe out
    out=$(dd if=/dev/zero of="$f" bs=4k count=100 oflag=dsync 2>&1 | tail -n 1) || true
    rm -f "$f"
    awk -v line="$out" 'BEGIN { n = split(line, w, " "); for (i = 1; i < n; i++) if (w[i + 1] ~ /^s,?$/) { printf "%.2f", w[i] * 1000 / 100; exit } print "?" }'
}
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
SYNC_START=$(sync_write_ms)
for rep in $(seq "$REPEAT"); do
    for server in $SERVERS; do sweep "$server" "$rep"; done
done
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)
short=$(awk -F'\t' 'NF >= 25 && $7 + 0 < 0.95 * $3 {n++} END {print n + 0}' "$RESULTS")
if ((short > 0)); then
    NOTES+=("In $short step(s) perfdhcp sent fewer than 95 % of the DISCOVERs asked for (column sent/s): the client, which shares the machine's $(nproc) CPUs with the server, was the limit there.")
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
SYNC_END=$(sync_write_ms)

# ---------------------------------------------------------------- report
fsync_of() {
    case $1 in
        lifeboat) echo "yes: SQLite WAL, synchronous=FULL, commit (group commit) before the ACK is sent" ;;
        kea) echo "no: memfile appends one CSV line per lease, never fsyncs" ;;
        lifeboat-pg) echo "yes: PostgreSQL, synchronous_commit=on, commit (group commit) before the ACK is sent" ;;
        kea-pg) echo "yes: PostgreSQL lease backend, one commit per lease before the ACK" ;;
        lifeboat-pg-ha) echo "yes: one PostgreSQL database for both, synchronous_commit=on, each instance commits (group commit) before its ACK" ;;
        dnsmasq) echo "yes, after the ACK: rewrites and fsyncs the whole lease file per change" ;;
    esac
}
kea_mode="single-threaded (Kea 2.2 default)"
((KEA_THREADS > 0)) && kea_mode="multi-threaded, $KEA_THREADS threads"

echo "# DHCP benchmark: lifeboat vs kea-dhcp4, dnsmasq"
echo
echo "- Run: $START – $END on $(machine_description);" \
    "load average at start $LOAD_START, at end $LOAD_END"
echo "- Link: veth pair between two network namespaces, MTU 1500; server $SRV_IP/$PREFIX, perfdhcp" \
    "$CLI_IP acting as a relay (giaddr $CLI_IP, replies to port 67); pool $POOL_START–$POOL_END" \
    "($POOL_SIZE addresses), lease $LEASE_SECONDS s"
echo "- perfdhcp $(first_line "$PERFDHCP" -v | awk '{print $NF}'); lifeboat: $(first_line "$LIFEBOAT" --version);" \
    "kea-dhcp4 $(first_line "$KEA_DHCP4" -v) ($kea_mode, memfile); dnsmasq: $(first_line "$DNSMASQ" --version | awk '{print $3}')"
if [[ " $SERVERS " == *" lifeboat"* ]]; then
    echo "- lifeboat binary: copy of $LIFEBOAT_SRC taken at start ($LIFEBOAT_COPY)," \
        "RUST_LOG=warn, --dhcp-skip-probe --dhcp-authoritative --dhcp-relay-allow $CLI_IP/32"
fi
if [[ " $SERVERS " == *" lifeboat-pg-ha "* ]]; then
    echo "- **lifeboat-pg-ha** is an HA pair: two lifeboats, \`serve --instance ha-0\` at ${HA_IPS[0]} and" \
        "\`--instance ha-1\` at ${HA_IPS[1]} (each also \`--no-web\`), one PostgreSQL database for both," \
        "each in a namespace of its own with a veth into a bridge (MTU 1500) in a third namespace, where" \
        "perfdhcp runs with the same relay address $CLI_IP; perfdhcp sends to 255.255.255.255 (\`all\`)" \
        "so that both see every DISCOVER. A step starts once both logged \"$HA_SHARE_LINE\" (within $HA_WAIT s," \
        "not counted in the step), i.e. each answers the half of the MACs that hashes to it. RUST_LOG=$HA_RUST_LOG:" \
        "that line comes from the fleet module, so the pair logs no line per exchange, like the other lifeboat kinds." \
        "Server CPU is the sum of both processes; leases on disk are the rows of the shared database," \
        "with those of each instance in brackets; the step fails as \"server died\" if either died."
fi
echo "- Lease files and databases on $LEASE_FS ($LEASE_BASE), fresh for every step; logs on $WORK_BASE." \
    "A synchronous 4 KiB write there (dd oflag=dsync) took $SYNC_START ms at the start and $SYNC_END ms at the end."
echo "- Knobs: REPEAT=$REPEAT STEP_SECONDS=$STEP_SECONDS START_RATE=$START_RATE MAX_RATE=$MAX_RATE" \
    "MIN_RATE=$MIN_RATE BISECT=$BISECT FAIL_OK=$FAIL_OK P99_MS=$P99_MS DROP_TIME=$DROP_TIME EXIT_WAIT_MS=$EXIT_WAIT_MS KEA_THREADS=$KEA_THREADS"
echo "- Order: $REPEAT rounds; in each round every server in turn ($SERVERS) sweeps the offered rate:" \
    "doubling from $START_RATE/s until a step fails, then $BISECT bisection steps, then up to $BISECT" \
    "more between the highest step with p99 < $P99_MS ms and the lowest without. Every step starts" \
    "the server fresh with an empty lease file, runs \`perfdhcp -4 -r RATE -R $POOL_SIZE -p $STEP_SECONDS\`" \
    "(a new MAC for every exchange) and stops the server."
echo
if [[ ! -s $RESULTS ]]; then
    echo "No steps ran."
    exit 0
fi
# Per server: its median round's best step under the pass column $1 (6: loss only; 26: loss and
# p99), the range of that rate over rounds, the median peak and the number of rounds.
summarise_sweeps() {
    awk -F'\t' -v servers="$SERVERS" -v col="$1" '
        NF >= 25 {
            key = $2 SUBSEP $1
            if ($col == 1 && (!(key in best) || $3 + 0 > rate[key] + 0)) { best[key] = $0; rate[key] = $3 }
            if ($8 + 0 > peak[key] + 0) peak[key] = $8
            rounds[$2] = rounds[$2] " " $1
        }
        NF < 25 { rounds[$2] = rounds[$2] " " $1 }
        END {
            n = split(servers, names, " ")
            for (i = 1; i <= n; i++) {
                s = names[i]
                # Rounds of this server, sorted by sustained DORA/s (a round without a pass counts as 0).
                m = 0; delete seen; delete list
                split(rounds[s], rr, " ")
                for (j in rr) if (!(rr[j] in seen)) { seen[rr[j]] = 1; list[++m] = rr[j] }
                if (m == 0) continue
                delete val; delete pk
                for (j = 1; j <= m; j++) {
                    k = s SUBSEP list[j]
                    if (k in best) { split(best[k], f, "\t"); val[j] = f[8] + 0 } else val[j] = 0
                    pk[j] = peak[k] + 0
                }
                for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) {
                    if (val[b] < val[a]) { t = val[a]; val[a] = val[b]; val[b] = t; t = list[a]; list[a] = list[b]; list[b] = t }
                }
                for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (pk[b] < pk[a]) { t = pk[a]; pk[a] = pk[b]; pk[b] = t }
                mid = int((m + 1) / 2)
                lo = ""; hi = ""
                for (j = 1; j <= m; j++) {
                    k = s SUBSEP list[j]
                    r = (k in best) ? rate[k] + 0 : 0
                    if (lo == "" || r < lo) lo = r
                    if (hi == "" || r > hi) hi = r
                }
                k = s SUBSEP list[mid]
                printf "%s\t%s\t%s\t%s\t%s\t%s\n", s, (k in best) ? best[k] : "-", lo, hi, pk[mid], m
            }
        }' "$RESULTS"
}

TABLE_HEAD="| server | sustained offered rate, median (min–max) | DORA/s completed | not completed | NAKs | OFFER latency avg / p99 / max | ACK latency avg / p99 / max | leases on disk / ACKs | fsync | server CPU s (% of a core) | server CPU s per 10,000 DORA | peak DORA/s (any rate) | ÷ kea |"
TABLE_RULE="|---|---:|---:|---:|---:|---|---|---:|---|---:|---:|---:|---:|"

# The rows of a sustained-rate table from a summary ($1); with $2 = target, lifeboat's row also
# sets TARGET, the check of the issue's target against Kea's loss-only rate (KEA_XPS). $3 says
# what passing meant, for a server without a passing step.
print_sustained() {
    local label leases_cell
    while IFS=$'\t' read -r -a row; do
        server=${row[0]}
        n=${#row[@]}
        lo=${row[n - 4]} hi=${row[n - 3]} peak=${row[n - 2]}
        if ((n < 30)); then
            label=$server
            [[ $server == lifeboat-pg-ha ]] && label="$server (HA pair ha-0 + ha-1)"
            echo "| $label | none ≥ $MIN_RATE/s (no step passed$3) | — | — | — | — | — | — | $(fsync_of "$server") | — | — | $peak | |"
            continue
        fi
        # row[1..27] is the step: round server rate status load pass offered xps fail do_sent do_recv
        # ra_sent ra_recv orphans naks replies leases do_avg do_p99 do_max ra_avg ra_p99 ra_max cpu wall fast
        # leases-per-instance
        rate=${row[3]} xps=${row[8]} fail=${row[9]} naks=${row[15]} leases=${row[17]} acks=${row[13]}
        # row[27]: the HA pair's leases per instance ("-" for the other kinds).
        label=$server leases_cell=$leases
        if [[ $server == lifeboat-pg-ha ]]; then
            label="$server (HA pair ha-0 + ha-1)"
            [[ ${row[27]:--} != - ]] && leases_cell="$leases (${row[27]})"
        fi
        do_avg=${row[18]} do_p99=${row[19]} do_max=${row[20]} ra_avg=${row[21]} ra_p99=${row[22]} ra_max=${row[23]}
        cpu=${row[24]}
        cpu_pct=$(awk -v c="$cpu" -v p="$STEP_SECONDS" 'BEGIN{printf "%.0f", 100 * c / p}')
        cpu_10k=$(awk -v c="$cpu" -v a="$acks" 'BEGIN{if (a > 0) printf "%.2f", 10000 * c / a; else printf "—"}')
        ratio=""
        if [[ $server != kea && -n $KEA_XPS && $KEA_XPS != 0 ]]; then
            ratio=$(awk -v a="$xps" -v b="$KEA_XPS" 'BEGIN{printf "%.2f×", a / b}')
        fi
        echo "| $label | $rate/s ($lo–$hi) | $xps | ${fail} % | $naks | $do_avg / $do_p99 / $do_max ms |" \
            "$ra_avg / $ra_p99 / $ra_max ms | $leases_cell / $acks | $(fsync_of "$server") | $cpu ($cpu_pct %) | $cpu_10k | $peak | $ratio |"
        if [[ $server == lifeboat && $2 == target ]]; then
            TARGET=$(awk -v x="$xps" -v k="${KEA_XPS:-0}" -v n="$naks" -v l="$leases" -v a="$acks" -v p1="$do_p99" -v p2="$ra_p99" 'BEGIN {
                r = (k > 0) ? sprintf("%.2f× Kea (target ≥ 1.5×): %s", x / k, (x >= 1.5 * k) ? "met" : "not met") : "no Kea result"
                r = r sprintf("; NAKs %d: %s", n, (n == 0) ? "met" : "not met")
                r = r sprintf("; leases on disk %s ≥ ACKs %s: %s", l, a, (l == "n/a") ? "not checked (no sqlite3)" : ((l + 0 >= a + 0) ? "met" : "not met"))
                worst = (p2 + 0 > p1 + 0) ? p2 : p1
                r = r sprintf("; p99 latency %s ms (the slower phase; target < 5 ms): %s", worst, (worst + 0 < 5) ? "met" : "not met")
                print r
            }')
            if [[ -n ${KEA_FAST_XPS:-} && $KEA_FAST_XPS != 0 ]]; then
                TARGET+=$(awk -v x="$xps" -v k="$KEA_FAST_XPS" 'BEGIN{printf " (against Kea'"'"'s own rate with p99 < 5 ms, %s DORA/s: %.2f×)", k, x / k}')
            fi
        fi
    done <"$1"
}

SUMMARY=$WORK/summary.tsv
SUMMARY_FAST=$WORK/summary-fast.tsv
summarise_sweeps 6 >"$SUMMARY"
summarise_sweeps 26 >"$SUMMARY_FAST"
KEA_XPS=$(awk -F'\t' '$1 == "kea" && NF >= 30 {print $9}' "$SUMMARY")
KEA_FAST_XPS=$(awk -F'\t' '$1 == "kea" && NF >= 30 {print $9}' "$SUMMARY_FAST")

echo "## Sustained rate: the highest offered rate with < ${FAIL_OK} % of exchanges not completed"
echo
echo "$TABLE_HEAD"
echo "$TABLE_RULE"
print_sustained "$SUMMARY" no ""
echo
echo "## Sustained rate with p99 latency under $P99_MS ms: the highest offered rate that also kept both phases' p99 under $P99_MS ms"
echo
echo "$TABLE_HEAD"
echo "$TABLE_RULE"
print_sustained "$SUMMARY_FAST" target " with p99 < $P99_MS ms"
echo
if [[ -n ${TARGET:-} ]]; then
    echo "Target of the issue, lifeboat's median round: $TARGET."
    echo
fi
# Server CPU per 10,000 DORA where the servers can be compared on equal terms: at the same offered
# rate, in rounds where lifeboat and Kea (or, without both, every server) passed that rate (sweeps
# share their doubling steps); another server's value shows where it passed that rate too.
cpu_per_dora_table() {
    local pair=$SERVERS
    [[ " $SERVERS " == *" lifeboat "* && " $SERVERS " == *" kea "* ]] && pair="lifeboat kea"
    awk -F'\t' -v servers="$SERVERS" -v pair="$pair" '
        function median(list,   n, v, i, j, t) {
            n = split(list, v, " "); if (n == 0) return ""
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
            return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        NF >= 25 && $6 == 1 && $13 > 0 { val[$1, $3, $2] = 10000 * $24 / $13; rates[$3] = 1; rounds[$1] = 1 }
        END {
            ns = split(servers, ss, " "); np = split(pair, ps, " ")
            nr = 0; for (r in rates) list[++nr] = r + 0
            for (i = 1; i <= nr; i++) for (j = i + 1; j <= nr; j++) if (list[j] < list[i]) { t = list[i]; list[i] = list[j]; list[j] = t }
            for (i = 1; i <= nr; i++) {
                rate = list[i]; n = 0; delete got
                for (rd in rounds) {
                    all = 1; for (k = 1; k <= np; k++) if (!((rd, rate, ps[k]) in val)) all = 0
                    if (!all) continue
                    n++; for (k = 1; k <= ns; k++) if ((rd, rate, ss[k]) in val) got[ss[k]] = got[ss[k]] " " val[rd, rate, ss[k]]
                }
                if (n == 0) continue
                line = sprintf("| %d/s | %d |", rate, n)
                for (k = 1; k <= ns; k++) { m = median(got[ss[k]]); line = line ((m == "") ? " — |" : sprintf(" %.2f |", m)) }
                lb = median(got["lifeboat"]); kea = median(got["kea"])
                line = line ((lb != "" && kea != "" && kea > 0) ? sprintf(" %.2f |", lb / kea) : " |")
                print line
                if (lb != "" && kea != "" && kea > 0) last = sprintf("%d/s: lifeboat %.2f s, Kea %.2f s per 10,000 DORA, %.2f× (target ≤ 0.67×: %s)", rate, lb, kea, lb / kea, (lb / kea <= 0.67) ? "met" : "not met")
            }
            if (last != "") print "TARGET\t" last
        }' "$RESULTS"
}
CPU_TABLE=$(cpu_per_dora_table)
pair_shown=$SERVERS
[[ " $SERVERS " == *" lifeboat "* && " $SERVERS " == *" kea "* ]] && pair_shown="lifeboat kea"
if [[ -n $CPU_TABLE ]]; then
    echo "## Server CPU seconds per 10,000 DORA at the same offered rate"
    echo
    echo "Only rates that each of $pair_shown passed in the same round; the median over those rounds (another server: over those of them in which it passed too, — where it never did)."
    echo
    header="| offered rate | rounds |" rule="|---:|---:|"
    for server in $SERVERS; do header+=" $server |"; rule+="---:|"; done
    echo "$header lifeboat ÷ kea |"
    echo "$rule---:|"
    grep -v '^TARGET' <<<"$CPU_TABLE" || true
    echo
    cpu_target=$(sed -n 's/^TARGET\t//p' <<<"$CPU_TABLE")
    if [[ -n $cpu_target ]]; then
        echo "Target of the issue, server CPU per DORA at the highest rate both passed, $cpu_target."
        echo
    fi
fi
echo "Each row is the median round (by DORA/s at its sustained rate); the range is the sustained" \
    "offered rate over all $REPEAT rounds. DORA/s completed = DHCPACKs perfdhcp received / $STEP_SECONDS s." \
    "Not completed = DISCOVERs sent without a matching ACK (lost, late beyond ${DROP_TIME} s, or NAKed)," \
    "in % of DISCOVERs. NAKs = replies with yiaddr 0.0.0.0 counted by nftables in the client namespace" \
    "(perfdhcp counts a NAK only as a lost REQUEST). Latency = perfdhcp's per-exchange timestamps" \
    "(\`-x t\`): DISCOVER sent to OFFER received, and REQUEST sent to ACK received, over every" \
    "completed exchange of the step, as seen by the client (so it includes the client's own" \
    "scheduling delay on this shared machine); p99 by nearest rank. Leases on disk = rows in" \
    "lifeboat's SQLite database (sqlite3, read while the server still runs), data lines in Kea's" \
    "memfile CSV, lines in dnsmasq's lease file, rows of the \`leases\` table for the PostgreSQL kinds" \
    "(for the HA pair: of its shared database, with each instance's rows in brackets), counted right after" \
    "perfdhcp exits. Server CPU = utime + stime of the server process (the HA pair: both) during the step; per 10,000 DORA: divided by the ACKs" \
    "received, times 10,000 (it includes the server's idle cost over the step, so it falls as the rate" \
    "rises: compare servers at the same rate, as the CPU table does). Peak DORA/s = the median over rounds" \
    "of the highest completion rate of any step, passed or not. ÷ kea = DORA/s at the sustained" \
    "rate divided by Kea's sustained rate of the first table (loss only), in both tables: the" \
    "issue's target is lifeboat keeping p99 under 5 ms at 1.5 times the rate Kea sustains at all."
echo
print_notes "${NOTES[@]}"
echo "<details><summary>Every step</summary>"
echo
echo "| round | server | offered rate | sent/s | DORA/s | not completed | NAKs | replies | leases on disk | OFFER avg / p99 / max ms | ACK avg / p99 / max ms | server CPU s | load | result |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---|"
awk -F'\t' -v p99="$P99_MS" '
    NF < 25 { printf "| %s | %s | %s | | | | | | | | | | %s | %s |\n", $1, $2, $3, $5, $4; next }
    {
        result = ($6 == 1) ? "pass" : "fail"
        if ($26 == 1) result = result ", p99 < " p99 " ms"
        if ($4 != "ok") result = result " (" $4 ")"
        leases = $17
        if (NF >= 27 && $27 != "-") leases = leases " (" $27 ")"
        printf "| %s | %s | %s | %s | %s | %s %% | %s | %s | %s | %s / %s / %s | %s / %s / %s | %s | %s | %s |\n",
            $1, $2, $3, $7, $8, $9, $15, $16, leases, $18, $19, $20, $21, $22, $23, $24, $5, result
    }' "$RESULTS"
echo
echo "</details>"
