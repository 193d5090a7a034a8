#!/usr/bin/env bash
# Hostile-load benchmark (issue 11): lifeboat serves 20 TFTP clients downloading firmware again
# and again and 100 DHCP clients renewing every second, once alone and once under a flood of
# refused TFTP requests, random-MAC DISCOVERs and wrong dashboard passwords, on a veth pair
# between two network namespaces created (and removed) by this script. Prints a Markdown report
# on stdout and progress on stderr. See tests/bench/README.md.
#
#   sudo tests/bench/hostile-bench.sh > report.md
#   sudo SECONDS_PER_PHASE=10 ROUNDS=1 tests/bench/hostile-bench.sh   # smoke run
#
# A benchmark, not a test: a failed download or a lost renewal is counted and reported, and the
# run goes on.
set -euo pipefail
export LC_ALL=C

# ---------------------------------------------------------------- knobs (environment variables)
ROUNDS=${ROUNDS:-3}                       # rounds; each has a phase without and one with the flood
SECONDS_PER_PHASE=${SECONDS_PER_PHASE:-60} # seconds of good load (and of flood) per phase
FLOOD_TAIL=${FLOOD_TAIL:-5}               # the flood goes on this long after the good load stops starting downloads
TFTP_CLIENTS=${TFTP_CLIENTS:-20}          # curl clients downloading in a loop, each from its own address
TFTP_SIZE_MB=${TFTP_SIZE_MB:-8}           # size of the firmware file they download
TFTP_TIMEOUT=${TFTP_TIMEOUT:-60}          # seconds allowed per download
DHCP_CLIENTS=${DHCP_CLIENTS:-100}         # DHCP clients that renew
RENEW_INTERVAL_MS=${RENEW_INTERVAL_MS:-1000} # each renews this often
RENEW_TIMEOUT_MS=${RENEW_TIMEOUT_MS:-2000}   # a renewal without an answer after this is lost
TFTP_FLOOD_RATE=${TFTP_FLOOD_RATE:-1000}  # refused read requests per second (from outside the allow-list)
DHCP_FLOOD_RATE=${DHCP_FLOOD_RATE:-1000}  # DISCOVERs from new random MACs per second
LOGIN_FLOOD_RATE=${LOGIN_FLOOD_RATE:-200} # HTTP requests per second to /login (wrong passwords)
LOGIN_WORKERS=${LOGIN_WORKERS:-16}        # connections the login flood keeps going at once
LOGIN_SOURCES=${LOGIN_SOURCES:-4}         # addresses the login flood comes from (198.51.100.2 and up)
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
LIFEBOAT=${LIFEBOAT:-$REPO/target/release/lifeboat}
HOSTILE_LOAD=${HOSTILE_LOAD:-}            # a built hostile_load example; empty: cargo build --release it
WORK_BASE=${WORK_BASE:-/dev/shm}          # TFTP root, downloads, logs (tmpfs)
DB_BASE=${DB_BASE:-/var/tmp}              # lifeboat's database: a real disk, so its fsyncs cost what they cost
KEEP_WORK=${KEEP_WORK:-0}                 # 1: keep the work directory (server, tool and client logs)

BENCH_NAME="hostile-bench"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SCRIPT_DIR/lib.sh"

require_positive_ints ROUNDS SECONDS_PER_PHASE TFTP_CLIENTS TFTP_SIZE_MB TFTP_TIMEOUT DHCP_CLIENTS \
    RENEW_INTERVAL_MS RENEW_TIMEOUT_MS TFTP_FLOOD_RATE DHCP_FLOOD_RATE LOGIN_FLOOD_RATE LOGIN_WORKERS LOGIN_SOURCES
require_non_negative_ints FLOOD_TAIL
((TFTP_CLIENTS <= 200)) || die "TFTP_CLIENTS must be at most 200 (their addresses are 10.93.0.10-209)"
((LOGIN_SOURCES <= 200)) || die "LOGIN_SOURCES must be at most 200 (their addresses are 198.51.100.2-201)"
((DHCP_CLIENTS <= 10000)) || die "DHCP_CLIENTS must be at most 10000"

require_root "network namespaces, a veth pair, raw sockets"
require_programs "(lifeboat: cargo build --release -p lifeboat; curl: apt-get install curl)" \
    ip ss timeout curl sha256sum awk sort stat "$LIFEBOAT"
SQLITE3=$(command -v sqlite3 || true)

# The link is a /16: the server is 10.93.0.1 and hands out 10.93.1.1-10.93.200.254; the client
# side is 10.93.0.2, with one more address per TFTP client (10.93.0.10 and up) and the leased
# addresses of the renewing DHCP clients (added as /32 once they have them, so that the server's
# unicast ACKs arrive). 198.51.100.0/24, outside lifeboat's default allow-list (private and
# link-local ranges), is the stranger's: 198.51.100.1 on the server side, 198.51.100.2 and up on
# the client side. All of these exist only inside the two namespaces.
SRV_IP=10.93.0.1
CLI_IP=10.93.0.2
PREFIX=16
POOL="10.93.1.1,10.93.200.254,255.255.0.0,1h"
STRANGER_SRV=198.51.100.1
STRANGER=198.51.100.2
WEB_PORT=8080
WEB=http://$SRV_IP:$WEB_PORT
PASSWORD="hostile bench password $$ of some length"

# ---------------------------------------------------------------- names, state, cleanup
TAG=lbhostile-$$
NS_S=$TAG-s
NS_C=$TAG-c
VETH_S=lbh$$s
VETH_C=lbh$$c
WORK=""
DB_DIR=""
SERVER_PID=""
CLIENT_PIDS=()
NOTES=()

cleanup() {
    # TERM reaches the tools through timeout, which forwards it; the curl loops are subshells.
    local p
    for p in "${CLIENT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${CLIENT_PIDS[@]}"; do stop_pid "$p" 30; done
    stop_server
    delete_netns "$NS_C" "$NS_S"
    [[ -n $DB_DIR && -d $DB_DIR ]] && rm -rf "$DB_DIR"
    remove_work_dir "$WORK" "$KEEP_WORK" root dl
}
run_on_exit cleanup

# ---------------------------------------------------------------- the load tool
# tests/examples/hostile_load.rs: DHCP clients (DORA, renewals) and the floods. It is built once
# here, before anything is measured, and a copy runs in the namespace: `cargo run` per phase would
# wait on cargo's build lock whenever another build runs on the machine.
if [[ -z $HOSTILE_LOAD ]]; then
    command -v cargo >/dev/null 2>&1 ||
        die "no cargo: build the load tool (cargo build --release -p lifeboat-e2e --example hostile_load)" \
            "and pass HOSTILE_LOAD=…/examples/hostile_load"
    say "building the load tool: cargo build --release -p lifeboat-e2e --example hostile_load"
    (cd "$REPO" && cargo build --quiet --release -p lifeboat-e2e --example hostile_load) ||
        die "cargo build of the hostile_load example failed"
    HOSTILE_LOAD=${CARGO_TARGET_DIR:-$REPO/target}/release/examples/hostile_load
fi
require_programs "(cargo build --release -p lifeboat-e2e --example hostile_load)" "$HOSTILE_LOAD"

# ---------------------------------------------------------------- setup
WORK=$(mktemp -d "$WORK_BASE/lbhostile.XXXXXX")
chmod 755 "$WORK"
ROOT=$WORK/root
mkdir -p "$ROOT" "$WORK/dl" "$WORK/phases" "$WORK/bin"
chmod 755 "$ROOT"
DB_FS=$(df -PT "$DB_BASE" | awk 'NR==2{print $2 " on " $1}')

say "creating $NS_S ($SRV_IP/$PREFIX) and $NS_C ($CLI_IP/$PREFIX), veth MTU 1500"
create_netns_pair "$NS_S" "$NS_C" "$VETH_S" "$VETH_C" "$SRV_IP/$PREFIX" "$CLI_IP/$PREFIX"
ip -n "$NS_S" addr add "$STRANGER_SRV/24" dev "$VETH_S"
GOOD_ADDRS=()
LOGIN_ADDRS=()
{
    for i in $(seq 0 $((TFTP_CLIENTS - 1))); do
        GOOD_ADDRS+=("10.93.0.$((10 + i))")
        echo "addr add 10.93.0.$((10 + i))/32 dev $VETH_C"
    done
    for i in $(seq 0 $((LOGIN_SOURCES - 1))); do
        LOGIN_ADDRS+=("198.51.100.$((2 + i))")
        echo "addr add 198.51.100.$((2 + i))/24 dev $VETH_C"
    done
    # The DHCP clients' DISCOVERs and first REQUESTs go to the limited broadcast address.
    echo "route add 255.255.255.255/32 dev $VETH_C"
} >"$WORK/client-addresses.batch"
ip -n "$NS_C" -batch "$WORK/client-addresses.batch"
LOGIN_FROM=$(IFS=,; echo "${LOGIN_ADDRS[*]}")

# Private copies of the binaries, so a rebuild during the run cannot mix two versions.
LIFEBOAT_SRC=$LIFEBOAT
LIFEBOAT_COPY=$(copy_binary "$LIFEBOAT_SRC" "$WORK/bin/lifeboat")
LIFEBOAT=$WORK/bin/lifeboat
HOSTILE_LOAD_SRC=$HOSTILE_LOAD
HOSTILE_LOAD_COPY=$(copy_binary "$HOSTILE_LOAD_SRC" "$WORK/bin/hostile_load")
HOSTILE_LOAD=$WORK/bin/hostile_load

FW=fw.bin
FW_BYTES=$((TFTP_SIZE_MB << 20))
say "writing the $TFTP_SIZE_MB MiB firmware file to $ROOT"
FW_SHA=$(new_random_file "$ROOT/$FW" "$FW_BYTES")

# ---------------------------------------------------------------- the server
listening() {
    [[ -n $(ip netns exec "$NS_S" ss -Hlun 'sport = :69') ]] &&
        [[ -n $(ip netns exec "$NS_S" ss -Hlun 'sport = :67') ]] &&
        [[ -n $(ip netns exec "$NS_S" ss -Hltn "sport = :$WEB_PORT") ]]
}

# start_server DB LOG: lifeboat with a fresh database (password set first), listening on TFTP,
# DHCP and the dashboard within 15 s.
start_server() {
    local db=$1 log=$2
    echo "$PASSWORD" | "$LIFEBOAT" passwd --db "$db" >>"$log" 2>&1 || die_with_log "$log" "lifeboat passwd failed"
    SERVER_ARGV=("$LIFEBOAT" serve --tftp-root "$ROOT" --tftp-listen "$SRV_IP:69" --dhcp-interface "$VETH_S"
        --dhcp-range "$POOL" --dhcp-skip-probe --dhcp-authoritative --web-listen "$SRV_IP:$WEB_PORT" --db "$db")
    ip netns exec "$NS_S" "${SERVER_ARGV[@]}" >>"$log" 2>&1 &
    SERVER_PID=$!
    wait_for_server "$SERVER_PID" 150 0.1 listening ||
        die_with_log "$log" "lifeboat did not listen on UDP 67 and 69 and TCP $WEB_PORT within 15 s"
}

# admin_login JAR: logs in from the server's own namespace (another address than the flood's),
# so that /metrics can be read with the session in JAR.
admin_login() {
    local jar=$1 csrf code
    csrf=$(ip netns exec "$NS_S" curl -sS --max-time 10 -c "$jar" "$WEB/login" |
        sed -n 's/.*name="csrf-token" content="\([0-9a-f]*\)".*/\1/p')
    [[ -n $csrf ]] || return 1
    code=$(ip netns exec "$NS_S" curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" \
        --data "csrf=$csrf&next=%2F" --data-urlencode "password=$PASSWORD" "$WEB/login")
    [[ $code == 303 ]]
}

# metrics JAR FILE: /metrics into FILE (empty when it cannot be read).
metrics() {
    ip netns exec "$NS_S" curl -sS --max-time 10 -b "$1" "$WEB/metrics" >"$2" 2>/dev/null || : >"$2"
}

# metric FILE NAME LABELS: the value of one sample (0 when absent).
metric() {
    awk -v name="$2" -v labels="$3" '
        { key = $1; sub(/ .*/, "", key) }
        key == name labels { print $2; found = 1; exit }
        END { if (!found) print 0 }' "$1"
}

file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }
db_bytes() { echo $(($(file_size "$1") + $(file_size "$1-wal"))); }

# sql DB QUERY: the answer of sqlite3, or n/a.
sql() {
    [[ -n $SQLITE3 ]] || { echo n/a; return 0; }
    "$SQLITE3" -readonly "file:$1" "$2" 2>/dev/null || echo n/a
}

# metric_delta BEFORE AFTER NAME LABELS: how much a sample grew between two /metrics files.
metric_delta() {
    awk -v a="$(metric "$1" "$3" "$4")" -v b="$(metric "$2" "$3" "$4")" 'BEGIN { print b - a }'
}

# kv KEY LINE: the value of KEY=VALUE in the tool's result LINE ("" when absent).
kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) { print substr($i, n + 1); exit } } }' <<<"$2"; }

# p50 p99 max of the numbers in FILE (nearest rank), "- - -" when it is empty.
stats3() {
    sort -g "$1" | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "- - -"; exit }
            p50 = int(NR * 0.50); if (p50 < NR * 0.50) p50++
            p99 = int(NR * 0.99); if (p99 < NR * 0.99) p99++
            printf "%s %s %s\n", v[p50], v[p99], v[NR]
        }'
}

# ---------------------------------------------------------------- the good clients
# good_client N ADDR END_US DIR: downloads the firmware from ADDR again and again until the
# clock passes END_US (microseconds since the epoch), checking size and sha256 each time; one
# line "START END STATUS" per download in DIR/tftp-N.tsv.
good_client() {
    local n=$1 addr=$2 end_us=$3 dir=$4 rc t0 t1 st
    local out=$WORK/dl/out-$n log=$dir/curl-$n.log
    while ((${EPOCHREALTIME/./} < end_us)); do
        rm -f "$out"
        rc=0
        t0=$EPOCHREALTIME
        timeout -k 5 "$TFTP_TIMEOUT" ip netns exec "$NS_C" curl -sS --interface "$addr" --tftp-blksize 1468 \
            -o "$out" "tftp://$SRV_IP/$FW" >>"$log" 2>&1 || rc=$?
        t1=$EPOCHREALTIME
        st=$(transfer_status "$rc" "$TFTP_TIMEOUT" "$log" "$out" "$FW_BYTES" "$FW_SHA") || st="FAIL:check"
        printf '%s\t%s\t%s\n' "$t0" "$t1" "$st" >>"$dir/tftp-$n.tsv"
    done
    rm -f "$out"
}

# in_client SECONDS OUT ERR ARG...: the load tool in the client namespace, in the background,
# bounded by timeout; its PID goes into CLIENT_PIDS.
in_client() {
    local seconds=$1 out=$2 err=$3
    shift 3
    timeout -k 5 "$seconds" ip netns exec "$NS_C" "$HOSTILE_LOAD" "$@" >"$out" 2>"$err" &
    CLIENT_PIDS+=($!)
}

# ---------------------------------------------------------------- one phase
RESULTS=$WORK/phases.tsv
: >"$RESULTS"

# run_phase ROUND quiet|flood: a fresh lifeboat with a fresh database, 100 leases, then
# SECONDS_PER_PHASE of good load (and the flood); appends one line to $RESULTS.
run_phase() {
    local round=$1 phase=$2
    local dir=$WORK/phases/r$round-$phase
    mkdir -p "$dir"
    DB_DIR=$(mktemp -d "$DB_BASE/lbhostile-db.XXXXXX")
    local db=$DB_DIR/lifeboat.db log=$dir/server.log jar=$dir/admin.jar
    start_server "$db" "$log"
    admin_login "$jar" || die_with_log "$log" "the admin login to $WEB failed"

    # The renewing DHCP clients get their leases, and their addresses go onto the client side.
    local out
    timeout -k 5 60 ip netns exec "$NS_C" "$HOSTILE_LOAD" dora --server "$SRV_IP" --clients "$DHCP_CLIENTS" \
        --leases "$dir/leases" --seconds 30 >"$dir/dora.out" 2>"$dir/dora.err" ||
        die_with_log "$dir/dora.err" "the DHCP clients did not get leases"
    out=$(cat "$dir/dora.out")
    local bound
    bound=$(kv bound "$out")
    if ((bound < DHCP_CLIENTS)); then
        NOTES+=("Round $round, $phase: only $bound of $DHCP_CLIENTS DHCP clients got a lease before the phase ($out).")
    fi
    awk -v dev="$VETH_C" 'NF == 2 { print "addr add " $2 "/32 dev " dev }' "$dir/leases" >"$dir/leases.batch"
    ip -n "$NS_C" -batch "$dir/leases.batch"
    sleep 1

    # Before.
    local db0 dbonly0 log0 cpu0 rows0 load
    metrics "$jar" "$dir/metrics-before"
    db0=$(db_bytes "$db")
    dbonly0=$(file_size "$db")
    log0=$(file_size "$log")
    rows0=$(sql "$db" "select count(*) from transfers")
    cpu0=$(proc_cpu_seconds "$SERVER_PID")
    load=$(cut -d' ' -f1 /proc/loadavg)

    local what=""
    [[ $phase == flood ]] &&
        what=", flood: $TFTP_FLOOD_RATE refused RRQs/s, $DHCP_FLOOD_RATE DISCOVERs/s, $LOGIN_FLOOD_RATE login requests/s"
    say "[round $round, $phase] $SECONDS_PER_PHASE s: $TFTP_CLIENTS TFTP clients, $bound DHCP clients renewing$what"
    local start_us end_us i
    start_us=${EPOCHREALTIME/./}
    end_us=$((start_us + SECONDS_PER_PHASE * 1000000))
    CLIENT_PIDS=()
    for i in $(seq 0 $((TFTP_CLIENTS - 1))); do
        good_client "$i" "${GOOD_ADDRS[i]}" "$end_us" "$dir" &
        CLIENT_PIDS+=($!)
    done
    local slack=$((SECONDS_PER_PHASE + FLOOD_TAIL + 60))
    in_client "$slack" "$dir/renew.out" "$dir/renew.err" renew --server "$SRV_IP" --leases "$dir/leases" \
        --seconds "$SECONDS_PER_PHASE" --interval-ms "$RENEW_INTERVAL_MS" --timeout-ms "$RENEW_TIMEOUT_MS" \
        --latencies "$dir/renew-ms"
    if [[ $phase == flood ]]; then
        local flood_s=$((SECONDS_PER_PHASE + FLOOD_TAIL))
        in_client "$slack" "$dir/tftp-flood.out" "$dir/tftp-flood.err" tftp-flood --from "$STRANGER" \
            --server "$SRV_IP:69" --rate "$TFTP_FLOOD_RATE" --seconds "$flood_s"
        in_client "$slack" "$dir/dhcp-flood.out" "$dir/dhcp-flood.err" dhcp-flood --rate "$DHCP_FLOOD_RATE" \
            --seconds "$flood_s"
        in_client "$slack" "$dir/login-flood.out" "$dir/login-flood.err" login-flood --server "$SRV_IP:$WEB_PORT" \
            --from "$LOGIN_FROM" --rate "$LOGIN_FLOOD_RATE" --workers "$LOGIN_WORKERS" --seconds "$flood_s"
    fi
    local pid
    for pid in "${CLIENT_PIDS[@]}"; do wait "$pid" || true; done
    CLIENT_PIDS=()
    # The log thread and the history writer catch up.
    sleep 2

    # After.
    local db1 dbonly1 log1 cpu1 rows1 rss
    metrics "$jar" "$dir/metrics-after"
    db1=$(db_bytes "$db")
    dbonly1=$(file_size "$db")
    log1=$(file_size "$log")
    rows1=$(sql "$db" "select count(*) from transfers")
    cpu1=$(proc_cpu_seconds "$SERVER_PID")
    rss=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
    local ev_failed ev_locked
    ev_failed=$(sql "$db" "select count(*) from events where kind = 'login_failed'")
    ev_locked=$(sql "$db" "select count(*) from events where kind = 'login_locked'")
    local alive_after=1
    alive "$SERVER_PID" || alive_after=0
    # The part of the log written during the phase.
    tail -c +$((log0 + 1)) "$log" >"$dir/server-phase.log"
    local warn
    warn=$(grep -c ' WARN ' "$dir/server-phase.log" || true)
    stop_server
    # What lifeboat's own reports of dropped requests add up to: one line per source when it is
    # first dropped, a summary per minute, and the rest when it stops. (/metrics counts a
    # stranger's requests only when such a report is made.)
    local dropped_logged
    dropped_logged=$(awk '/dropped without an answer/ { for (i = 2; i <= NF; i++) if ($i == "request(s)") n += $(i - 1) } END { print n + 0 }' "$log")
    ((alive_after)) || NOTES+=("Round $round, $phase: lifeboat died during the phase (see its log).")
    awk -v dev="$VETH_C" 'NF == 2 { print "addr del " $2 "/32 dev " dev }' "$dir/leases" >"$dir/leases.batch"
    ip -n "$NS_C" -batch "$dir/leases.batch" || true
    rm -rf "$DB_DIR"
    DB_DIR=""

    # The good clients.
    local ok=0 fails=0 why="" t_first t_last wall mbps dl_p50 dl_p99 dl_max
    cat "$dir"/tftp-*.tsv >"$dir/downloads.tsv" 2>/dev/null || : >"$dir/downloads.tsv"
    ok=$(awk -F'\t' '$3 == "ok"' "$dir/downloads.tsv" | wc -l)
    fails=$(awk -F'\t' '$3 != "ok"' "$dir/downloads.tsv" | wc -l)
    why=$(awk -F'\t' '$3 != "ok" { n[$3]++ } END { for (k in n) printf "%s%s x%d", sep, k, n[k]; sep = "; " }' "$dir/downloads.tsv" | tr -d '|')
    read -r t_first t_last <<<"$(awk -F'\t' 'NR == 1 || $1 < a { a = $1 } NR == 1 || $2 > b { b = $2 } END { printf "%.6f %.6f\n", a, b }' "$dir/downloads.tsv")"
    wall=$(awk -v a="$t_first" -v b="$t_last" 'BEGIN { printf "%.2f", b - a }')
    mbps=$(awk -v n="$ok" -v s="$FW_BYTES" -v t="$wall" 'BEGIN { printf "%.1f", (t > 0) ? n * s / t / 1e6 : 0 }')
    awk -F'\t' '$3 == "ok" { printf "%.3f\n", $2 - $1 }' "$dir/downloads.tsv" >"$dir/download-s"
    read -r dl_p50 dl_p99 dl_max <<<"$(stats3 "$dir/download-s")"

    # The renewals.
    local rn rn_sent rn_acked rn_naks rn_lost rn_p50 rn_p99 rn_max
    rn=$(cat "$dir/renew.out" 2>/dev/null || true)
    [[ -n $rn ]] || NOTES+=("Round $round, $phase: the renewing clients reported nothing: $(tail -n 1 "$dir/renew.err" 2>/dev/null)")
    rn_sent=$(kv sent "$rn") rn_acked=$(kv acked "$rn") rn_naks=$(kv naks "$rn") rn_lost=$(kv lost "$rn")
    read -r rn_p50 rn_p99 rn_max <<<"$(stats3 "$dir/renew-ms" 2>/dev/null || echo "- - -")"

    # The flood, and what lifeboat counted.
    local tf df lg m0=$dir/metrics-before m1=$dir/metrics-after
    tf=$(cat "$dir/tftp-flood.out" 2>/dev/null || true)
    df=$(cat "$dir/dhcp-flood.out" 2>/dev/null || true)
    lg=$(cat "$dir/login-flood.out" 2>/dev/null || true)
    if [[ $phase == flood ]]; then
        local tool
        for tool in tftp-flood dhcp-flood login-flood; do
            [[ -s $dir/$tool.out ]] || NOTES+=("Round $round: $tool reported nothing: $(tail -n 1 "$dir/$tool.err" 2>/dev/null)")
        done
    fi
    local counted_out counted_budget written dropped failed replies
    counted_out=$(metric_delta "$m0" "$m1" lifeboat_tftp_requests_counted_total '{reason="outside_allow_list"}')
    counted_budget=$(metric_delta "$m0" "$m1" lifeboat_tftp_requests_counted_total '{reason="over_budget"}')
    written=$(metric_delta "$m0" "$m1" lifeboat_log_records_total '{result="written"}')
    dropped=$(metric_delta "$m0" "$m1" lifeboat_log_records_total '{result="dropped"}')
    failed=$(metric_delta "$m0" "$m1" lifeboat_log_records_total '{result="failed"}')
    replies=$(metric_delta "$m0" "$m1" lifeboat_dhcp_replies_total '')
    [[ -s $m1 ]] || NOTES+=("Round $round, $phase: /metrics could not be read at the end of the phase.")
    local dhcp_line offers held
    dhcp_line=$(grep -m1 'DHCP stopped: ' "$log" || true)
    offers=$(sed -n 's/.* \([0-9]*\) offers,.*/\1/p' <<<"$dhcp_line")
    held=$(sed -n 's/.* \([0-9]*\) new clients held back.*/\1/p' <<<"$dhcp_line")
    local rows=n/a
    [[ $rows0 == n/a || $rows1 == n/a ]] || rows=$((rows1 - rows0))
    local cpu
    cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }')

    local fields=("$round" "$phase" "$ok" "$fails" "$mbps" "$wall" "$dl_p50" "$dl_p99" "$dl_max"
        "${rn_sent:--}" "${rn_acked:--}" "${rn_naks:--}" "${rn_lost:--}" "$rn_p50" "$rn_p99" "$rn_max"
        "$((db1 - db0))" "$((dbonly1 - dbonly0))" "$((log1 - log0))" "${rss:-0}" "$cpu" "$load"
        "$(kv sent "$tf")" "$(kv answered "$tf")" "$(kv sent "$df")" "$(kv posts "$lg")" "$(kv status_401 "$lg")"
        "$(kv status_429 "$lg")" "$(kv status_403 "$lg")" "$(kv errors "$lg")" "$counted_out" "$counted_budget"
        "$written" "$dropped" "$failed" "$ev_failed" "$ev_locked" "$warn" "$rows" "${offers:--}" "${held:--}"
        "$replies" "$(kv sessions "$lg")" "$(kv other "$lg")" "$dropped_logged" "${why:-}")
    (IFS=$'\t'; echo "${fields[*]}") >>"$RESULTS"
    say "[round $round, $phase] TFTP $ok ok / $fails failed, $mbps MB/s, download p99 ${dl_p99} s;" \
        "renewals ${rn_acked:-?}/${rn_sent:-?} acked, p99 ${rn_p99} ms; db +$((db1 - db0)) B, log +$((log1 - log0)) B," \
        "VmHWM $rss kB, server CPU ${cpu} s${tf:+; tftp-flood $tf}${df:+; dhcp-flood $df}${lg:+; login-flood $lg}"
    if ((warn > 0)); then
        NOTES+=("Round $round, $phase: lifeboat logged $warn WARN lines during the phase; the first: \`$(grep -m1 ' WARN ' "$dir/server-phase.log" | cut -c1-220 | tr -d '`|')\`")
    fi
}

# ---------------------------------------------------------------- run everything
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
    # The order alternates, so a noisy minute on the shared machine does not land on one side only.
    if ((round % 2)); then order="quiet flood"; else order="flood quiet"; fi
    for phase in $order; do run_phase "$round" "$phase"; done
done
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
# Columns of $RESULTS: 1 round, 2 phase, 3 ok, 4 failed, 5 MB/s, 6 wall s, 7-9 download p50 p99 max s,
# 10 renewals sent, 11 acked, 12 NAKs, 13 lost, 14-16 renewal p50 p99 max ms, 17 db+wal growth,
# 18 db growth, 19 log growth (bytes), 20 VmHWM kB, 21 server CPU s, 22 load, 23 refused RRQs sent,
# 24 answered, 25 DISCOVERs sent, 26 login POSTs, 27 401s, 28 429s, 29 403s, 30 errors,
# 31 counted outside_allow_list, 32 counted over_budget, 33-35 log records written dropped failed,
# 36 login_failed events, 37 login_locked events, 38 WARN lines, 39 transfers recorded,
# 40 DHCP offers, 41 new clients held back, 42 DHCP replies, 43 login sessions, 44 other statuses,
# 45 stranger's requests dropped according to lifeboat's log, 46 download failures.
# summary COLUMN PHASE: the median over the rounds of PHASE, then the lowest and the highest.
summary() {
    awk -F'\t' -v c="$1" -v p="$2" '$2 == p && $c != "-" && $c != "" { print $c }' "$RESULTS" | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "- - -"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%s %s %s\n", m, v[1], v[NR]
        }'
}
# total COLUMN PHASE: the sum over the rounds.
total() { awk -F'\t' -v c="$1" -v p="$2" '$2 == p { s += $c } END { printf "%d\n", s }' "$RESULTS"; }
fmt_range() { # MEDIAN LOW HIGH DECIMALS [DIVISOR]
    awk -v m="$1" -v lo="$2" -v hi="$3" -v d="$4" -v div="${5:-1}" -v n="$ROUNDS" 'BEGIN {
        if (m == "-") { print "—"; exit }
        f = "%." d "f"
        s = sprintf(f, m / div)
        if (n > 1) s = s sprintf(" (" f "–" f ")", lo / div, hi / div)
        print s
    }'
}
# range_of COLUMN PHASE DECIMALS [DIVISOR]: "median (lowest–highest)" of a column over the rounds.
range_of() {
    local v
    read -r -a v <<<"$(summary "$1" "$2")"
    fmt_range "${v[@]}" "$3" "${4:-1}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "—"; else printf "%.2f", a / b }'; }
row() { # LABEL COLUMN DECIMALS [DIVISOR]: a row with quiet, flood and flood ÷ quiet
    local q f
    read -r -a q <<<"$(summary "$2" quiet)"
    read -r -a f <<<"$(summary "$2" flood)"
    echo "| $1 | $(range_of "$2" quiet "$3" "${4:-1}") | $(range_of "$2" flood "$3" "${4:-1}") | $(ratio "${f[0]}" "${q[0]}") |"
}

read -r -a MB_Q <<<"$(summary 5 quiet)"
read -r -a MB_F <<<"$(summary 5 flood)"
read -r -a DLP99_Q <<<"$(summary 8 quiet)"
read -r -a DLP99_F <<<"$(summary 8 flood)"
read -r -a RNP99_Q <<<"$(summary 15 quiet)"
read -r -a RNP99_F <<<"$(summary 15 flood)"
read -r -a DBG_F <<<"$(summary 17 flood)"
read -r -a LOGG_F <<<"$(summary 19 flood)"
read -r -a RSS_ALL <<<"$(awk -F'\t' '{ print $20 }' "$RESULTS" | sort -g | awk 'END { print $1 + 0 }')"
TP_RATIO=$(ratio "${MB_F[0]}" "${MB_Q[0]}")
TARGET=$(awk -v r="$TP_RATIO" -v db="${DBG_F[2]}" -v lg="${LOGG_F[2]}" -v rss="${RSS_ALL[0]}" \
    -v dl="$(ratio "${DLP99_F[0]}" "${DLP99_Q[0]}")" -v rn="$(ratio "${RNP99_F[0]}" "${RNP99_Q[0]}")" 'BEGIN {
    t = sprintf("TFTP throughput with ÷ without the flood %s (target ≥ 0.8): %s", r, (r != "—" && r + 0 >= 0.8) ? "met" : "not met")
    t = t sprintf("; database growth during the flood %.2f MB, the largest of the rounds (target < 5 MB): %s", db / 1e6, (db != "-" && db + 0 < 5e6) ? "met" : "not met")
    t = t sprintf("; log growth during the flood %.2f MB, the largest (target < 5 MB): %s", lg / 1e6, (lg != "-" && lg + 0 < 5e6) ? "met" : "not met")
    t = t sprintf("; peak RSS %.1f MiB (target < 64 MiB): %s", rss / 1024, (rss + 0 > 0 && rss + 0 < 65536) ? "met" : "not met")
    t = t sprintf(". Also reported: p99 download time with ÷ without %s, p99 renewal latency with ÷ without %s", dl, rn)
    print t
}')

echo "# Hostile load: good TFTP and DHCP clients with and without a flood (issue 11)"
echo
echo "- Run: $START – $END on $(machine_description);" \
    "load average at start $LOAD_START, at end $LOAD_END"
echo "- Link: veth pair between two network namespaces, MTU 1500; server $SRV_IP/$PREFIX (and" \
    "$STRANGER_SRV/24), client side $CLI_IP/$PREFIX, the TFTP clients' 10.93.0.10–$((9 + TFTP_CLIENTS))," \
    "the DHCP clients' leased addresses, and the stranger's ${LOGIN_ADDRS[0]}–${LOGIN_ADDRS[-1]}/24"
echo "- lifeboat: $(first_line "$LIFEBOAT" --version), copy of $LIFEBOAT_SRC taken at start ($LIFEBOAT_COPY)"
echo "- \`lifeboat serve --tftp-root DIR --tftp-listen $SRV_IP:69 --dhcp-interface VETH --dhcp-range $POOL" \
    "--dhcp-skip-probe --dhcp-authoritative --web-listen $SRV_IP:$WEB_PORT --db DIR/lifeboat.db\` after \`lifeboat passwd\`;" \
    "default log level (info), default limits. Database on $DB_FS ($DB_BASE), fresh for every phase; log and TFTP root on $WORK_BASE."
echo "- Load tool: tests/examples/hostile_load.rs, copy of $HOSTILE_LOAD_SRC ($HOSTILE_LOAD_COPY); curl: $(first_line curl --version | cut -d' ' -f1-2)"
echo "- Knobs: ROUNDS=$ROUNDS SECONDS_PER_PHASE=$SECONDS_PER_PHASE FLOOD_TAIL=$FLOOD_TAIL TFTP_CLIENTS=$TFTP_CLIENTS" \
    "TFTP_SIZE_MB=$TFTP_SIZE_MB TFTP_TIMEOUT=$TFTP_TIMEOUT DHCP_CLIENTS=$DHCP_CLIENTS RENEW_INTERVAL_MS=$RENEW_INTERVAL_MS" \
    "RENEW_TIMEOUT_MS=$RENEW_TIMEOUT_MS TFTP_FLOOD_RATE=$TFTP_FLOOD_RATE DHCP_FLOOD_RATE=$DHCP_FLOOD_RATE" \
    "LOGIN_FLOOD_RATE=$LOGIN_FLOOD_RATE LOGIN_WORKERS=$LOGIN_WORKERS LOGIN_SOURCES=$LOGIN_SOURCES"
echo "- Good load in every phase: $TFTP_CLIENTS curl clients, each from its own address, download the same" \
    "$TFTP_SIZE_MB MiB file at blksize 1468 again and again for $SECONDS_PER_PHASE s (each download's size and" \
    "sha256 checked); $DHCP_CLIENTS DHCP clients, leased just before, renew every $RENEW_INTERVAL_MS ms" \
    "(REQUEST with ciaddr, unicast; a renewal unanswered after $RENEW_TIMEOUT_MS ms is lost)."
echo "- The flood, in the flood phases, for $SECONDS_PER_PHASE + $FLOOD_TAIL s: $TFTP_FLOOD_RATE read requests/s" \
    "from $STRANGER (outside the allow-list, new names, 16 source ports); $DHCP_FLOOD_RATE DISCOVERs/s, each from a new" \
    "random MAC (broadcast from port 68, no broadcast flag); $LOGIN_FLOOD_RATE HTTP requests/s at most from" \
    "$LOGIN_WORKERS connections at a time over $LOGIN_SOURCES addresses, each a \`POST /login\` with a wrong" \
    "password, a session cookie and its CSRF token (a fresh \`GET /login\` when the session ends)."
echo "- Order: $ROUNDS rounds of two phases, without and with the flood, the order alternating; every phase" \
    "starts lifeboat fresh, leases the DHCP clients, logs an admin in (for /metrics), measures, and stops it."
echo "- The machine's $(nproc) CPUs are shared by lifeboat, the $TFTP_CLIENTS curl loops (with their sha256 checks)," \
    "the renewing clients, the flood generators and whatever else runs on the machine: with the flood," \
    "its generators take CPU time from lifeboat and the good clients too."
echo
echo "## Targets"
echo
echo "Targets of the issue (medians of $ROUNDS round(s)): $TARGET."
echo
echo "## Good clients without and with the flood"
echo
echo "Median over the rounds (lowest–highest)."
echo
echo "| | without the flood | with the flood | with ÷ without |"
echo "|---|---:|---:|---:|"
row "TFTP MB/s, all downloads" 5 1
echo "| TFTP downloads ok / failed, all rounds | $(total 3 quiet) / $(total 4 quiet) | $(total 3 flood) / $(total 4 flood) | |"
row "download time p50, s" 7 2
row "download time p99, s" 8 2
row "download time max, s" 9 2
echo "| DHCP renewals acked / sent, all rounds | $(total 11 quiet) / $(total 10 quiet) | $(total 11 flood) / $(total 10 flood) | |"
echo "| renewals NAKed / lost, all rounds | $(total 12 quiet) / $(total 13 quiet) | $(total 12 flood) / $(total 13 flood) | |"
row "renewal REQUEST→ACK p50, ms" 14 3
row "renewal REQUEST→ACK p99, ms" 15 3
row "renewal REQUEST→ACK max, ms" 16 3
row "lifeboat CPU during the phase, s" 21 1
row "database growth (lifeboat.db + -wal), MB" 17 2 1e6
row "of which lifeboat.db, MB" 18 2 1e6
row "log growth (the server log), MB" 19 2 1e6
row "lifeboat peak RSS (VmHWM at the end of the phase), MiB" 20 1 1024
row "transfers recorded in the history" 39 0
row "load average (1 min) at the start" 22 2
echo
echo "MB/s = bytes of the good downloads / time from the first download's start to the last one's end" \
    "(10^6 bytes/s). Download time = one curl run (process start to exit). Renewal latency = REQUEST sent to" \
    "ACK received, in the client (so it includes the client's own scheduling delays). Growth = size at the" \
    "end of the phase minus the size after the leases were handed out, the good clients and the flood still" \
    "to come. SQLite's write-ahead log is reused after each checkpoint (every 1000 pages, about 4 MB) rather" \
    "than shrunk, so once the renewals (one commit each) have filled it, -wal stays about 4 MB in both kinds" \
    "of phase. The peak RSS of the whole run is the largest of all phases."
echo
echo "## The flood and what lifeboat counted"
echo
echo "Per flood phase: median over the rounds (lowest–highest); \"counted\" is the change of /metrics over the phase."
echo
flood_row() { echo "| $1 | $(range_of "$2" flood "${3:-0}") |"; } # LABEL COLUMN [DECIMALS]
echo "| | per flood phase |"
echo "|---|---:|"
flood_row "refused TFTP read requests sent from $STRANGER" 23
flood_row "… answered (should be 0)" 24
flood_row "… dropped, according to lifeboat's log (its reports, the last at shutdown)" 45
flood_row "lifeboat_tftp_requests_counted_total{reason=\"outside_allow_list\"}, counted" 31
flood_row "lifeboat_tftp_requests_counted_total{reason=\"over_budget\"}, counted" 32
flood_row "random-MAC DISCOVERs sent" 25
flood_row "DHCP offers lifeboat made (from its closing log line, the good clients' 100 included)" 40
flood_row "new clients held back under pool pressure (same line)" 41
flood_row "lifeboat_dhcp_replies_total, counted (renewal ACKs included)" 42
flood_row "login POSTs sent" 26
flood_row "… answered 401 (password checked, wrong)" 27
flood_row "… answered 429 (too many attempts under way, or locked)" 28
flood_row "… answered 403 (session ended, CSRF token no longer valid)" 29
flood_row "… connection errors or timeouts" 30
flood_row "login sessions the flood started (GET /login)" 43
flood_row "events of kind login_failed in the database (logins checked)" 36
flood_row "events of kind login_locked" 37
flood_row "lifeboat_log_records_total{result=\"written\"}, counted" 33
flood_row "lifeboat_log_records_total{result=\"dropped\"}, counted" 34
flood_row "lifeboat_log_records_total{result=\"failed\"}, counted" 35
flood_row "WARN lines in lifeboat's log" 38
echo
echo "For comparison, the phases without the flood: lifeboat_log_records_total written $(range_of 33 quiet 0)," \
    "WARN lines $(range_of 38 quiet 0), DHCP offers $(range_of 40 quiet 0)."
echo
print_notes "${NOTES[@]}"
echo "<details><summary>Every phase</summary>"
echo
echo "| round | phase | TFTP ok / failed | MB/s | download p50 / p99 / max s | renewals acked / sent (NAK, lost) | renewal p50 / p99 / max ms | db + wal growth, B (db) | log growth, B | VmHWM kB | server CPU s | load | refused RRQs sent / answered / dropped (log) / counted (metrics) | DISCOVERs sent / offers / held back | login POSTs: 401 / 429 / 403 / errors | login_failed / login_locked events | log records written / dropped / failed | WARN lines | download failures |"
echo "|---:|---|---:|---:|---|---|---|---|---:|---:|---:|---:|---|---|---|---|---|---:|---|"
awk -F'\t' '{
    printf "| %s | %s | %s / %s | %s | %s / %s / %s | %s / %s (%s, %s) | %s / %s / %s | %s (%s) | %s | %s | %s | %s |",
        $1, $2, $3, $4, $5, $7, $8, $9, $11, $10, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22
    if ($2 == "flood")
        printf " %s / %s / %s / %s | %s / %s / %s | %s: %s / %s / %s / %s | %s / %s |", $23, $24, $45, $31, $25, $40, $41, $26, $27, $28, $29, $30, $36, $37
    else
        printf " — / — / %s / %s | — / %s / %s | — | %s / %s |", $45, $31, $40, $41, $36, $37
    printf " %s / %s / %s | %s | %s |\n", $33, $34, $35, $38, $46
}' "$RESULTS"
echo
echo "</details>"
