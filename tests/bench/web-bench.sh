#!/usr/bin/env bash
# Dashboard benchmark, the two targets of issue 4:
#  1. latency: dashboard pages and API lists with a million transfer rows, p99 under 50 ms,
#     measured with wrk on the loopback of a network namespace created by this script;
#  2. throughput: TFTP throughput with the transfer log and the dashboard running (a live SSE
#     watcher and a page poller) within 5 % of a binary built before the dashboard existed, both
#     serving the same root on the same veth pair between two namespaces.
# Prints a Markdown report on stdout and progress on stderr. See tests/bench/README.md.
#
#   sudo LIFEBOAT_BASELINE=/path/to/lifeboat-without-dashboard tests/bench/web-bench.sh > report.md
#   sudo ROWS=100000 DURATION=2 REPEAT=1 PAR_CLIENTS=5 PAR_SIZE_MB=1 SIZE_MB=4 tests/bench/web-bench.sh  # smoke
#
# A benchmark, not a test: a failed transfer or endpoint is reported as FAIL and the run goes on.
set -euo pipefail
export LC_ALL=C

# ---------------------------------------------------------------- knobs (environment variables)
PARTS=${PARTS:-"latency throughput"}   # which parts run
ROWS=${ROWS:-1000000}                  # transfer rows in the seeded database
THREADS=${THREADS:-1}                  # wrk threads
CONNECTIONS=${CONNECTIONS:-4}          # wrk connections (kept open, one request at a time each)
DURATION=${DURATION:-5}                # seconds of measurement per endpoint
WARMUP=${WARMUP:-1}                    # seconds of unmeasured load per endpoint first (0: none)
WRK_TIMEOUT=${WRK_TIMEOUT:-10}         # wrk counts a slower response as a timeout error
TARGET_MS=${TARGET_MS:-50}             # the p99 target
ENDPOINTS_MATCH=${ENDPOINTS_MATCH:-}   # extended regex: only endpoints whose path matches
WEB_PORT=${WEB_PORT:-8080}             # dashboard port, on the namespace's 127.0.0.1
REPEAT=${REPEAT:-5}                    # throughput rounds (baseline and current alternate)
PAR_CLIENTS=${PAR_CLIENTS:-50}         # parallel curl clients
PAR_SIZE_MB=${PAR_SIZE_MB:-8}          # file size per parallel client
SIZE_MB=${SIZE_MB:-64}                 # lock-step file size
RUN_TIMEOUT=${RUN_TIMEOUT:-120}        # seconds allowed for one lock-step transfer
PAR_TIMEOUT=${PAR_TIMEOUT:-300}        # seconds allowed for each parallel client
LOCKSTEP_CLIENTS=${LOCKSTEP_CLIENTS:-"curl atftp"}
VARIANTS=${VARIANTS:-"baseline current"}  # also: current-noweb (current binary, log on, --no-web)
POLL_INTERVAL=${POLL_INTERVAL:-1}      # seconds between the poller's loads of /transfers
PIN=${PIN:-none}                       # lock-step only: none | same | split (as in tftp-bench.sh)
BASELINE_WAIT=${BASELINE_WAIT:-0}      # seconds to wait for LIFEBOAT_BASELINE to appear
START_TIMEOUT=${START_TIMEOUT:-60}     # seconds allowed for a server to start listening
SEED_TIMEOUT=${SEED_TIMEOUT:-1800}     # seconds allowed for seeding (and building the example)
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
LIFEBOAT=${LIFEBOAT:-$REPO/target/release/lifeboat}
LIFEBOAT_BASELINE=${LIFEBOAT_BASELINE:-/work/notes/bench-bin/lifeboat-f136f73-no-dashboard}
SEED_BIN=${SEED_BIN:-}                 # a built seed_transfers example; empty: cargo run --release
WRK=${WRK:-wrk}
DB_CACHE_DIR=${DB_CACHE_DIR:-/var/tmp} # seeded databases are kept here between runs
DB_WORK_BASE=${DB_WORK_BASE:-/var/tmp} # the working copy the server opens (a real disk)
WORK_BASE=${WORK_BASE:-/dev/shm}       # TFTP root, downloads, logs (tmpfs)
KEEP_WORK=${KEEP_WORK:-0}              # 1: keep the work directory (logs)

BENCH_NAME="web-bench"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SCRIPT_DIR/lib.sh"
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

require_positive_ints ROWS THREADS CONNECTIONS DURATION WRK_TIMEOUT TARGET_MS WEB_PORT REPEAT PAR_CLIENTS \
    PAR_SIZE_MB SIZE_MB RUN_TIMEOUT PAR_TIMEOUT POLL_INTERVAL START_TIMEOUT SEED_TIMEOUT
require_non_negative_ints WARMUP BASELINE_WAIT
((CONNECTIONS >= THREADS)) || die "CONNECTIONS must be at least THREADS (wrk needs a connection per thread)"
for part in $PARTS; do
    [[ $part == latency || $part == throughput ]] || die "unknown part '$part' in PARTS (latency throughput)"
done
for variant in $VARIANTS; do
    [[ $variant =~ ^(baseline|current|current-noweb)$ ]] ||
        die "unknown variant '$variant' in VARIANTS (baseline current current-noweb)"
done
for client in $LOCKSTEP_CLIENTS; do
    [[ $client == curl || $client == atftp ]] || die "unknown client '$client' in LOCKSTEP_CLIENTS (curl atftp)"
done
case $PIN in
    none) SERVER_CPUS="" CLIENT_PIN=() ;;
    same) SERVER_CPUS=0 CLIENT_PIN=(taskset -c 0) ;;
    split) SERVER_CPUS=0 CLIENT_PIN=(taskset -c 1) ;;
    *) die "PIN must be none, same or split (got '$PIN')" ;;
esac

require_root "network namespaces, a veth pair, port 69"

need=(ip ss timeout sha256sum awk sort stat curl "$LIFEBOAT")
if has_part latency; then need+=("$WRK"); fi
if has_part throughput; then
    for client in $LOCKSTEP_CLIENTS; do need+=("$client"); done
    if [[ $PIN != none ]]; then need+=(taskset); fi
    if [[ $PIN == split ]] && (($(nproc) < 2)); then die "PIN=split needs two CPUs"; fi
fi
require_programs "(lifeboat: cargo build --release -p lifeboat; wrk: apt-get install wrk; atftp: apt-get install atftp)" \
    "${need[@]}"
SQLITE3=$(command -v sqlite3 || true)

if has_part throughput && [[ " $VARIANTS " == *" baseline "* ]]; then
    waited=0
    while [[ ! -x $LIFEBOAT_BASELINE ]] && ((waited < BASELINE_WAIT)); do
        ((waited % 60 == 0)) && say "waiting for $LIFEBOAT_BASELINE (up to ${BASELINE_WAIT}s)"
        sleep 5
        waited=$((waited + 5))
    done
    [[ -x $LIFEBOAT_BASELINE ]] || die "the baseline binary $LIFEBOAT_BASELINE does not exist:" \
        "set LIFEBOAT_BASELINE to a lifeboat built before the dashboard (or VARIANTS without baseline)"
fi

# ---------------------------------------------------------------- names, state, cleanup
TAG=lbweb-$$
NS_S=$TAG-s
NS_C=$TAG-c
VETH_S=lbw$$s
VETH_C=lbw$$c
SRV_IP=10.98.0.1
CLI_IP=10.98.0.2
BASE_URL=http://127.0.0.1:$WEB_PORT
WORK=""
DB_DIR=""
SERVER_PID=""
SERVER_LOG=""
WATCH_PIDS=()
CLIENT_PIDS=()
NOTES=()

# The poller ends by itself once its flag file is gone (within one load and one pause); the
# SSE client never does.
stop_watchers() {
    local p i
    if [[ -n $WORK ]]; then rm -f "$WORK/polling"; fi
    if ((${#WATCH_PIDS[@]} > 1)); then
        for i in $(seq $(((POLL_INTERVAL + 11) * 10))); do
            alive "${WATCH_PIDS[1]}" || break
            sleep 0.1
        done
    fi
    for p in "${WATCH_PIDS[@]}"; do stop_pid "$p" 10; done
    WATCH_PIDS=()
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    stop_pid "$SERVER_PID" 100
    SERVER_PID=""
}

cleanup() {
    local p
    for p in "${CLIENT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    stop_watchers
    stop_server
    delete_netns "$NS_C" "$NS_S"
    [[ -n $DB_DIR && -d $DB_DIR ]] && rm -rf "$DB_DIR"
    remove_work_dir "$WORK" "$KEEP_WORK" root out par
}
run_on_exit cleanup

# ---------------------------------------------------------------- setup
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
UPTIME_START=$(uptime)
say "load at start: $UPTIME_START"
WORK=$(mktemp -d "$WORK_BASE/lbweb.XXXXXX")
chmod 755 "$WORK"
ROOT=$WORK/root
mkdir -p "$ROOT" "$WORK/out" "$WORK/par" "$WORK/logs" "$WORK/bin" "$WORK/run"
chmod 755 "$ROOT"

# Private copies of the binaries, so a rebuild during the run cannot mix two versions.
CURRENT=$WORK/bin/lifeboat
CURRENT_DESC="$LIFEBOAT ($(copy_binary "$LIFEBOAT" "$CURRENT"))"
BASELINE=""
BASELINE_DESC="not run"
if has_part throughput && [[ " $VARIANTS " == *" baseline "* ]]; then
    BASELINE=$WORK/bin/lifeboat-baseline
    BASELINE_DESC="$LIFEBOAT_BASELINE ($(copy_binary "$LIFEBOAT_BASELINE" "$BASELINE"))"
fi
[[ $("$CURRENT" serve --help 2>/dev/null) == *--web-listen* ]] ||
    die "$LIFEBOAT has no --web-listen: it is not a build with the dashboard"

say "creating $NS_S ($SRV_IP) and $NS_C ($CLI_IP), veth MTU 1500"
create_netns_pair "$NS_S" "$NS_C" "$VETH_S" "$VETH_C" "$SRV_IP/24" "$CLI_IP/24"

say "writing test files to $ROOT"
BIG=big.bin
PAR=par.bin
BIG_BYTES=$((SIZE_MB << 20))
PAR_BYTES=$((PAR_SIZE_MB << 20))
BIG_SHA=$(new_random_file "$ROOT/$BIG" "$BIG_BYTES")
PAR_SHA=$(new_random_file "$ROOT/$PAR" "$PAR_BYTES")

# ---------------------------------------------------------------- the seeded database
# The cache is keyed by the row count and by the seeding program and migrations, so a change
# to either seeds afresh. A seed is written under a temporary name and renamed when complete.
SEED_KEY=$(cat "$REPO/crates/store/examples/seed_transfers.rs" "$REPO"/migrations/sqlite/*.sql | sha256sum | cut -c1-12)
DB_CACHE=$DB_CACHE_DIR/lifeboat-webbench-$ROWS-$SEED_KEY.db
DB_SEEDED_NOTE=""
seed_database() {
    local tmp=$DB_CACHE.seeding.$$ rc=0 t0
    rm -f "$tmp" "$tmp-wal" "$tmp-shm"
    t0=$SECONDS
    if [[ -n $SEED_BIN ]]; then
        say "seeding $ROWS transfer rows with $SEED_BIN into $tmp"
        timeout -k 5 "$SEED_TIMEOUT" "$SEED_BIN" "$tmp" "$ROWS" 2>"$WORK/logs/seed.log" || rc=$?
    else
        command -v cargo >/dev/null 2>&1 ||
            die "no cached database $DB_CACHE and no cargo: build the example" \
                "(cargo build --release -p lifeboat-store --example seed_transfers) and pass SEED_BIN=…/examples/seed_transfers"
        say "seeding $ROWS transfer rows with cargo run --release --example seed_transfers into $tmp"
        (cd "$REPO" && timeout -k 5 "$SEED_TIMEOUT" cargo run --quiet --release -p lifeboat-store \
            --example seed_transfers -- "$tmp" "$ROWS") 2>"$WORK/logs/seed.log" || rc=$?
    fi
    if ((rc != 0)); then
        rm -f "$tmp" "$tmp-wal" "$tmp-shm"
        tail -n 5 "$WORK/logs/seed.log" >&2
        die "seeding failed (exit $rc)"
    fi
    if [[ -n $SQLITE3 ]]; then "$SQLITE3" "$tmp" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null; fi
    local suffix
    for suffix in -wal -shm ""; do
        if [[ -e $tmp$suffix ]]; then mv "$tmp$suffix" "$DB_CACHE$suffix"; fi
    done
    DB_SEEDED_NOTE="seeded by this run in $((SECONDS - t0)) s"
    say "seeded: $(tail -n 1 "$WORK/logs/seed.log" | tr '\r' '\n' | tail -n 1)"
}
if [[ -e $DB_CACHE ]]; then
    DB_SEEDED_NOTE="cached, seeded $(date -u -r "$DB_CACHE" +%Y-%m-%dT%H:%MZ)"
    say "using the cached database $DB_CACHE"
else
    mkdir -p "$DB_CACHE_DIR"
    seed_database
fi
DB_DIR=$(mktemp -d "$DB_WORK_BASE/lbweb-db.XXXXXX")
DB=$DB_DIR/lifeboat.db
for suffix in "" -wal -shm; do
    if [[ -e $DB_CACHE$suffix ]]; then cp --reflink=auto "$DB_CACHE$suffix" "$DB$suffix"; fi
done
DB_SIZE_MB=$(du -cm "$DB"* | awk 'END{print $1}')
DB_FS=$(df -PT "$DB_DIR" | awk 'NR==2{print $2 " on " $1}')
say "working copy of the database: $DB ($DB_SIZE_MB MiB, $DB_FS)"

# ---------------------------------------------------------------- servers
# Whether `BINARY serve` knows FLAG (its help lists it followed by a space).
has_flag() { [[ $("$1" serve --help 2>/dev/null) == *"$2 "* ]]; }

# Whether the server listens on UDP port 69 and, if $1 is 1, on the dashboard's TCP port.
server_listening() {
    [[ -n $(ip netns exec "$NS_S" ss -Hlun "sport = :69") ]] &&
        { (($1 == 0)) || [[ -n $(ip netns exec "$NS_S" ss -Hltn "sport = :$WEB_PORT") ]]; }
}

# A server runs in the server namespace from its own working directory (a binary that opens
# lifeboat.db by default finds none of ours). Sets SERVER_PID and SERVER_LOG.
start_server() {
    local variant=$1 what=$2 dir=$WORK/run/$2
    local argv=() web=0
    local bin=$CURRENT
    [[ $variant == baseline ]] && bin=$BASELINE
    argv=("$bin" serve --tftp-root "$ROOT" --tftp-listen "$SRV_IP:69")
    # Every client of the parallel case comes from one address; an older binary may lack a limit.
    # (and a binary before the --tftp- prefix spells them without it).
    local prefix=--tftp-
    has_flag "$bin" --tftp-max-transfers || prefix=--
    if has_flag "$bin" "${prefix}max-transfers-per-client"; then
        argv+=("${prefix}max-transfers-per-client" $((PAR_CLIENTS > 8 ? PAR_CLIENTS : 8)))
    fi
    if has_flag "$bin" "${prefix}max-transfers"; then
        argv+=("${prefix}max-transfers" $((PAR_CLIENTS > 256 ? PAR_CLIENTS : 256)))
    fi
    case $variant in
        current) argv+=(--db "$DB" --web-listen "127.0.0.1:$WEB_PORT") web=1 ;;
        current-noweb) argv+=(--db "$DB" --no-web) ;;
    esac
    mkdir -p "$dir"
    SERVER_LOG=$WORK/logs/server-$what.log
    (cd "$dir" && exec ip netns exec "$NS_S" "${argv[@]}") >>"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    if wait_for_server "$SERVER_PID" $((START_TIMEOUT * 10)) 0.1 server_listening "$web"; then
        say "[$variant] started (pid $SERVER_PID): ${argv[*]}"
        return 0
    fi
    die_with_log "$SERVER_LOG" "$variant did not start listening within ${START_TIMEOUT}s"
}

# utime + stime of the server process (all its threads) in seconds.
server_cpu() { proc_cpu_seconds "$SERVER_PID"; }

server_hwm_mib() {
    awk '$1=="VmHWM:"{printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?"
}

# curl inside the server namespace against the dashboard.
web_get() { ip netns exec "$NS_S" curl -sS --max-time 30 "$@"; }

# ---------------------------------------------------------------- part 1: latency with wrk
LAT_RESULTS=$WORK/latency.tsv
: >"$LAT_RESULTS"
WRK_LUA=$WORK/report.lua
cat >"$WRK_LUA" <<'EOF'
-- Machine-readable summary of a wrk run: counts, then latency percentiles in microseconds.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("WRKRESULT %d %d %d %.0f %.0f %.0f %.0f %.0f %d %d %d %d %d\n",
        summary.requests, summary.duration, summary.bytes,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
        e.status, e.connect, e.read, e.write, e.timeout))
end
EOF

# One endpoint: a first request with curl (status, size, time), WARMUP s of unmeasured load,
# then DURATION s measured with wrk.
measure_endpoint() {
    local label=$1 path=$2 url=$BASE_URL$2 n=$3
    local log=$WORK/logs/wrk-$n.log first status size secs
    if [[ -n $ENDPOINTS_MATCH && ! $path =~ $ENDPOINTS_MATCH ]]; then return 0; fi
    first=$(web_get -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$url" 2>>"$log" || echo "000 0 0")
    read -r status size secs <<<"$first"
    local first_ms
    first_ms=$(awk -v s="$secs" 'BEGIN{printf "%.1f", s * 1000}')
    if ((WARMUP > 0)); then
        timeout -k 5 $((WARMUP + 30)) ip netns exec "$NS_S" "$WRK" -t "$THREADS" -c "$CONNECTIONS" \
            -d "${WARMUP}s" --timeout "${WRK_TIMEOUT}s" "$url" >>"$log" 2>&1 || true
    fi
    local cpu0 cpu1 rc=0
    cpu0=$(server_cpu)
    run_client $((DURATION + WRK_TIMEOUT + 30)) "$log" ip netns exec "$NS_S" "$WRK" -t "$THREADS" \
        -c "$CONNECTIONS" -d "${DURATION}s" --timeout "${WRK_TIMEOUT}s" --latency -s "$WRK_LUA" "$url" || rc=$?
    cpu1=$(server_cpu)
    local line
    line=$(grep '^WRKRESULT ' "$log" | tail -n 1 || true)
    if ((rc != 0)) || [[ -z $line ]]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$path" "$status" "$size" "$first_ms" "FAIL:wrk exit $rc" >>"$LAT_RESULTS"
        say "$label $path: wrk failed (exit $rc), see $(basename "$log")"
        return 0
    fi
    local _ reqs dur bytes p50 p90 p99 max mean e_status e_conn e_read e_write e_timeout
    read -r _ reqs dur bytes p50 p90 p99 max mean e_status e_conn e_read e_write e_timeout <<<"$line"
    local cpu
    cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b - a}')
    printf '%s\t%s\t%s\t%s\t%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$label" "$path" "$status" "$size" "$first_ms" "$reqs" "$dur" "$bytes" "$p50" "$p90" "$p99" "$max" "$mean" \
        "$e_status" "$e_conn" "$e_read" "$e_write" "$e_timeout" "$cpu" >>"$LAT_RESULTS"
    say "$label $path: first $status ${first_ms} ms; $(awk -v r="$reqs" -v d="$dur" 'BEGIN{printf "%.0f", r / (d / 1e6)}') req/s," \
        "p50 $(awk -v v="$p50" 'BEGIN{printf "%.2f", v / 1000}') ms, p99 $(awk -v v="$p99" 'BEGIN{printf "%.2f", v / 1000}') ms," \
        "max $(awk -v v="$max" 'BEGIN{printf "%.2f", v / 1000}') ms, status errors $e_status, server CPU ${cpu}s"
}

# Values for the filters, taken from the data: a MAC and names that seed_transfers writes, a day
# 30 days before the newest transfer, and the id in the middle of the history for deep pages.
LAT_SERVER_NOTE=""
run_latency() {
    start_server current latency
    local newest id ended
    newest=$(web_get "$BASE_URL/api/v1/transfers?limit=1")
    id=$(grep -o '"id":[0-9]*' <<<"$newest" | head -n 1 | cut -d: -f2)
    ended=$(grep -o '"ended_at":[0-9]*' <<<"$newest" | head -n 1 | cut -d: -f2)
    [[ -n $id && -n $ended ]] || die "could not read the newest transfer from /api/v1/transfers: $newest"
    local mid=$((id / 2)) day=$((24 * 3600 * 1000))
    local since=$((ended - 31 * day)) until=$((ended - 30 * day))
    local mac=52:54:00:5e:00:2a
    LAT_PARAMS="newest transfer id $id; deep pages start before id $mid (about half-way down the history); time range = the day from $(date -u -d "@$((since / 1000))" +%Y-%m-%dT%H:%MZ) (31 to 30 days before the newest transfer); MAC $mac is one of the 200 seeded machines"
    # DB pages stay in the OS cache between runs; read the file once so that every endpoint
    # starts from the same warm cache instead of the first one paying for the disk.
    cat "$DB" >/dev/null
    local endpoints=(
        "overview|/"
        "transfers|/transfers"
        "transfers, mac|/transfers?mac=$mac"
        "transfers, file (requested name)|/transfers?file=grubx64.efi"
        "transfers, file (rare)|/transfers?file=images/old-7.img"
        "transfers, outcome|/transfers?outcome=failed"
        "transfers, time range (1 day)|/transfers?since=$since&until=$until"
        "transfers, mac + outcome|/transfers?mac=$mac&outcome=failed"
        "transfers, mac + file (no match)|/transfers?mac=$mac&file=no-such-file"
        "transfers, deep page|/transfers?before=$mid"
        "transfers, outcome, deep page|/transfers?outcome=failed&before=$mid"
        "missing files|/missing"
        "events|/events"
        "hosts|/hosts"
        "leases|/leases"
        "images|/images"
        "API transfers|/api/v1/transfers"
        "API transfers, mac|/api/v1/transfers?mac=$mac"
        "API transfers, file|/api/v1/transfers?file=grubx64.efi"
        "API transfers, outcome|/api/v1/transfers?outcome=failed"
        "API transfers, time range|/api/v1/transfers?since=$since&until=$until"
        "API transfers, deep page|/api/v1/transfers?before=$mid"
        "API events|/api/v1/events"
        "API missing|/api/v1/missing"
        "API hosts|/api/v1/hosts"
        "API leases|/api/v1/leases"
        "metrics|/metrics"
    )
    local entry n=0
    for entry in "${endpoints[@]}"; do
        n=$((n + 1))
        measure_endpoint "${entry%%|*}" "${entry#*|}" "$n"
        alive "$SERVER_PID" || die "the server died during the latency part (log: $SERVER_LOG)"
    done
    LAT_SERVER_NOTE="server peak RSS $(server_hwm_mib) MiB, CPU $(server_cpu) s in all"
    stop_server
}

# ---------------------------------------------------------------- part 2: throughput
TP_RESULTS=$WORK/throughput.tsv
DASH_RESULTS=$WORK/dashboard.tsv
: >"$TP_RESULTS"
: >"$DASH_RESULTS"

# The dashboard's audience while transfers run: one client on the live SSE stream, and a
# poller that loads /transfers every POLL_INTERVAL seconds (status and time of each load).
start_watchers() {
    local run=$1
    : >"$WORK/sse-$run.txt"
    : >"$WORK/poll-$run.txt"
    ip netns exec "$NS_S" curl -sS -N --max-time 3600 -o "$WORK/sse-$run.txt" \
        "$BASE_URL/api/v1/transfers/live/stream" 2>>"$WORK/logs/watch-$run.log" &
    WATCH_PIDS+=($!)
    touch "$WORK/polling"
    (
        deadline=$((SECONDS + 3600))
        while [[ -e $WORK/polling ]] && ((SECONDS < deadline)); do
            ip netns exec "$NS_S" curl -s --max-time 10 -o /dev/null -w '%{http_code} %{time_total}\n' \
                "$BASE_URL/transfers" >>"$WORK/poll-$run.txt" 2>>"$WORK/logs/watch-$run.log" || true
            sleep "$POLL_INTERVAL"
        done
    ) &
    WATCH_PIDS+=($!)
}

# "snapshots max_live polls non200 p50_ms max_ms" of one run's watchers.
watch_summary() {
    local run=$1 snapshots max_live
    snapshots=$(grep -c '^event: transfers' "$WORK/sse-$run.txt" || true)
    max_live=$(awk '/^data:/ { n = gsub(/"requested":/, "&"); if (n > m) m = n } END { print m + 0 }' "$WORK/sse-$run.txt")
    awk -v s="$snapshots" -v l="$max_live" '
        { n++; if ($1 != "200") bad++; t[n] = $2 * 1000 }
        END {
            if (n == 0) { printf "%d %d 0 0 - -\n", s, l; exit }
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
            p = int(n * 0.5); if (p < n * 0.5) p++
            printf "%d %d %d %d %.1f %.1f\n", s, l, n, bad, t[p], t[n]
        }' "$WORK/poll-$run.txt"
}

transfers_in_db() {
    if [[ -z $SQLITE3 ]]; then echo n/a; return; fi
    "$SQLITE3" -readonly "file:$DB" 'SELECT count(*) FROM transfers;' 2>/dev/null || echo n/a
}

# PAR_CLIENTS curl downloads of the same file at once -> P_OK P_FAILS P_MBPS P_WALL P_CPU P_WHY
measure_parallel() {
    local run=$1
    local c0 c1
    c0=$(server_cpu)
    parallel_tftp_downloads "$NS_C" "tftp://$SRV_IP/$PAR" "$PAR_CLIENTS" "$PAR_TIMEOUT" "$WORK/par" \
        "$WORK/logs/par-$run"
    c1=$(server_cpu)
    tally_parallel_downloads "$WORK/par" "$PAR_CLIENTS" "$PAR_BYTES" "$PAR_SHA"
    P_MBPS=$(awk -v n="$P_OK" -v s="$PAR_BYTES" -v t="$P_WALL" 'BEGIN{printf "%.1f", n * s / t / 1e6}')
    P_CPU=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b - a}')
}

# One lock-step SIZE_MB download at blksize 1468 -> R_STATUS R_MBPS R_WALL R_CPU
measure_lockstep() {
    local client=$1 run=$2 out=$WORK/out/lockstep.bin log=$WORK/logs/lockstep-$2-$1.log argv=()
    case $client in
        curl) argv=(curl -sS --tftp-blksize 1468 -o "$out" "tftp://$SRV_IP/$BIG") ;;
        atftp) argv=(atftp --option "blksize 1468" -g -r "$BIG" -l "$out" "$SRV_IP") ;;
    esac
    rm -f "$out"
    if [[ -n $SERVER_CPUS ]]; then taskset -a -p -c "$SERVER_CPUS" "$SERVER_PID" >/dev/null; fi
    local rc=0 c0 c1
    c0=$(server_cpu)
    run_client "$RUN_TIMEOUT" "$log" ip netns exec "$NS_C" "${CLIENT_PIN[@]}" "${argv[@]}" || rc=$?
    c1=$(server_cpu)
    if [[ -n $SERVER_CPUS ]]; then taskset -a -p -c "0-$(($(nproc) - 1))" "$SERVER_PID" >/dev/null; fi
    R_WALL=$(awk -v t="$CLIENT_SECONDS" 'BEGIN{printf "%.3f", t}')
    R_CPU=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b - a}')
    R_MBPS=""
    R_STATUS=$(transfer_status "$rc" "$RUN_TIMEOUT" "$log" "$out" "$BIG_BYTES" "$BIG_SHA")
    if [[ $R_STATUS == ok ]]; then
        R_MBPS=$(awk -v n="$BIG_BYTES" -v t="$R_WALL" 'BEGIN{printf "%.1f", n / t / 1e6}')
    fi
    rm -f "$out"
}

# One round of one variant: a fresh server, watchers for `current`, the parallel case, then
# each lock-step client; results go to $TP_RESULTS as
# round variant measurement status MB/s wall server-CPU detail.
measure_variant() {
    local variant=$1 round=$2 run=$1-r$2 rows0 rows1 client
    start_server "$variant" "$run"
    sleep 0.5
    rows0=$(transfers_in_db)
    if [[ $variant == current ]]; then
        start_watchers "$run"
        sleep 1.5  # the first snapshot and the first page load happen before any transfer
    fi
    measure_parallel "$run"
    local status=ok
    ((P_FAILS == 0)) || status="FAIL:$P_FAILS of $PAR_CLIENTS failed:$P_WHY"
    printf '%s\t%s\tparallel\t%s\t%s\t%s\t%s\t%s ok\n' "$round" "$variant" "$status" "$P_MBPS" "$P_WALL" "$P_CPU" \
        "$P_OK/$PAR_CLIENTS" >>"$TP_RESULTS"
    say "[$variant] round $round: $PAR_CLIENTS x ${PAR_SIZE_MB} MiB: $P_OK ok, $P_FAILS failed, $P_MBPS MB/s in ${P_WALL}s, server CPU ${P_CPU}s"
    for client in $LOCKSTEP_CLIENTS; do
        alive "$SERVER_PID" || die "[$variant] the server died (log: $SERVER_LOG)"
        measure_lockstep "$client" "$run"
        printf '%s\t%s\tlockstep-%s\t%s\t%s\t%s\t%s\t\n' "$round" "$variant" "$client" "$R_STATUS" "$R_MBPS" "$R_WALL" \
            "$R_CPU" >>"$TP_RESULTS"
        say "[$variant] round $round: lock-step $client ${SIZE_MB} MiB: ${R_MBPS:-—} MB/s, $R_STATUS, server CPU ${R_CPU}s / ${R_WALL}s"
    done
    if [[ $variant == current ]]; then
        sleep 1.2  # one more snapshot after the last transfer
        stop_watchers
        local summary
        summary=$(watch_summary "$run")
        printf '%s\t%s\n' "$round" "${summary// /$'\t'}" >>"$DASH_RESULTS"
        say "[$variant] round $round: dashboard: SSE snapshots, most live, polls, non-200, p50 ms, max ms: $summary"
    fi
    alive "$SERVER_PID" || NOTES+=("$variant died during round $round (log: $(basename "$SERVER_LOG")).")
    stop_server
    # The log writer flushes at least every second and on shutdown: count what it recorded.
    if [[ $variant != baseline ]]; then
        rows1=$(transfers_in_db)
        if [[ $rows0 != n/a && $rows1 != n/a ]]; then
            local expected=$((PAR_CLIENTS + $(wc -w <<<"$LOCKSTEP_CLIENTS")))
            RECORDED+=("$variant round $round: $((rows1 - rows0)) of $expected")
        fi
    fi
}

RECORDED=()
run_throughput() {
    local round variants=() variant i
    read -r -a variants <<<"$VARIANTS"
    for round in $(seq "$REPEAT"); do
        # Alternate the order (A B, B A, ...) so drift on the shared machine hits both alike.
        if ((round % 2 == 1)); then
            for variant in "${variants[@]}"; do measure_variant "$variant" "$round"; done
        else
            for ((i = ${#variants[@]} - 1; i >= 0; i--)); do measure_variant "${variants[i]}" "$round"; done
        fi
    done
}

# ---------------------------------------------------------------- run everything
LAT_PARAMS=""
if has_part latency; then run_latency; fi
if has_part throughput; then run_throughput; fi
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)
UPTIME_END=$(uptime)
say "load at end: $UPTIME_END"

# ---------------------------------------------------------------- report
echo "# Dashboard benchmark: page latency with $ROWS transfer rows, TFTP throughput with the dashboard on"
echo
echo "- Run: $START – $END on $(machine_description)"
echo "- Load (\`uptime\`) at start: \`${UPTIME_START# }\`"
echo "- Load (\`uptime\`) at end: \`${UPTIME_END# }\`"
echo "- lifeboat (current): $(first_line "$CURRENT" --version), copy of $CURRENT_DESC"
echo "- lifeboat (baseline, built before the dashboard): $BASELINE_DESC"
echo "- Database: $ROWS transfer rows from \`seed_transfers\` (200 machines over 90 days; $DB_SEEDED_NOTE;" \
    "cache $DB_CACHE), a working copy of $DB_SIZE_MB MiB on $DB_FS, read once into the page cache before part 1"
echo "- Network: server namespace $SRV_IP, client namespace $CLI_IP (veth, MTU 1500); the dashboard" \
    "listens on 127.0.0.1:$WEB_PORT inside the server namespace, and wrk, the SSE watcher and the" \
    "poller run there too"
echo
if has_part latency && [[ -s $LAT_RESULTS ]]; then
    echo "## 1. Pages and API lists with $ROWS transfer rows (target: p99 < $TARGET_MS ms)"
    echo
    echo "$(first_line "$WRK" --version | cut -d' ' -f1-2), $THREADS thread(s), $CONNECTIONS connections" \
        "(keep-alive, each sends its next request when the answer arrives), ${WARMUP} s warm-up then" \
        "${DURATION} s measured per endpoint, timeout ${WRK_TIMEOUT} s. $LAT_PARAMS."
    echo
    echo "| endpoint | path | first request | requests/s | p50 ms | p99 ms | max ms | non-2xx | server CPU ms / request | p99 < $TARGET_MS ms |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    awk -F'\t' -v target="$TARGET_MS" '
        function ms(us) { return sprintf("%.2f", us / 1000) }
        {
            path = $2; gsub(/\|/, "\\|", path)
            first = sprintf("%s, %.1f kB, %s ms", $3, $4 / 1000, $5)
            if ($6 != "ok") { printf "| %s | `%s` | %s | | | | | | | FAIL (%s) |\n", $1, path, first, substr($6, 6); bad++; n++; next }
            n++
            rps = $7 / ($8 / 1e6)
            errs = $16 + $17 + $18 + $19
            non2xx = $15 + 0
            if ($3 !~ /^2/) non2xx = non2xx " (first: " $3 ")"
            if (errs > 0) non2xx = non2xx " + " errs " socket errors/timeouts"
            met = ($12 / 1000 < target && $15 == 0 && errs == 0 && $3 ~ /^2/) ? "yes" : "**no**"
            if (met == "yes") good++; else bad++
            cpu = ($7 > 0) ? sprintf("%.2f", 1000 * $20 / $7) : "—"
            printf "| %s | `%s` | %s | %.0f | %s | %s | %s | %s | %s | %s |\n", $1, path, first, rps, ms($10), ms($12), ms($13), non2xx, cpu, met
        }
        END { printf "\n**%d of %d endpoints meet the target.**\n", good, n }' "$LAT_RESULTS"
    echo
    echo "first request = status, body size and time of one curl request before any load (every" \
        "measured request repeats it). requests/s, p50, p99 and max come from wrk's latency" \
        "histogram over the ${DURATION} s (latency = time from sending a request to the end of its" \
        "response, so with $CONNECTIONS connections it includes waiting behind the other connections'" \
        "requests). non-2xx = wrk's count of responses with status ≥ 400 (plus socket errors and" \
        "timeouts, if any); a 3xx would show in the first request's status. Server CPU ms / request =" \
        "the server process's utime + stime over the measured seconds ÷ requests. The pages render 50" \
        "rows, the API 100 (its default limit). Server: ${LAT_SERVER_NOTE:-n/a}."
    echo
fi
if has_part throughput && [[ -s $TP_RESULTS ]]; then
    echo "## 2. TFTP throughput, log and dashboard on vs. off (target: within 5 %)"
    echo
    echo "- baseline = the binary built before the dashboard (no transfer log, no web server);" \
        "current = this build with \`--db\` (the $ROWS-row database: every transfer is recorded by the" \
        "log writer) and the dashboard on 127.0.0.1:$WEB_PORT, watched during the transfers by one" \
        "\`curl -N\` on \`/api/v1/transfers/live/stream\` and a poller that loads \`/transfers\` every" \
        "${POLL_INTERVAL} s$([[ " $VARIANTS " == *" current-noweb "* ]] && echo "; current-noweb = this build with \`--db\` and \`--no-web\`")."
    echo "- Both serve the same root from $SRV_IP:69 on the same veth pair, started fresh for every" \
        "round with \`--tftp-max-transfers-per-client $((PAR_CLIENTS > 8 ? PAR_CLIENTS : 8))\`; $REPEAT rounds," \
        "the order alternating ($VARIANTS, then reversed, …). Each round: $PAR_CLIENTS curl clients at" \
        "once, ${PAR_SIZE_MB} MiB each, all reading the same file (as tftp-bench.sh (d)), then one" \
        "lock-step ${SIZE_MB} MiB download with each of: $LOCKSTEP_CLIENTS; all at blksize 1468."
    echo "- MB/s = 10^6 bytes per second of client wall time (parallel: successful bytes from the first" \
        "start to the last exit); every download's size and sha256 are checked. Lock-step CPU" \
        "pinning: PIN=$PIN. The ratio is current ÷ baseline of the medians; within 5 % = ratio ≥ 0.95."
    echo
    echo "| measurement | variant | MB/s median (min–max) | ok runs | server CPU s, median | ÷ baseline | within 5 % |"
    echo "|---|---|---:|---:|---:|---:|---|"
    awk -F'\t' -v repeat="$REPEAT" -v variants="$VARIANTS" -v clients="$LOCKSTEP_CLIENTS" \
        -v par="$PAR_CLIENTS x $PAR_SIZE_MB MiB parallel (curl)" -v lock="$SIZE_MB MiB lock-step" '
        function median(list,   n, v, i, j, t) {
            n = split(list, v, " ")
            if (n == 0) return ""
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
            return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        function range(list,   n, v, i, lo, hi) {
            n = split(list, v, " "); lo = v[1]; hi = v[1]
            for (i = 2; i <= n; i++) { if (v[i] + 0 < lo + 0) lo = v[i]; if (v[i] + 0 > hi + 0) hi = v[i] }
            return lo "–" hi
        }
        {
            key = $3 SUBSEP $2
            runs[key]++
            if ($4 == "ok") { ok[key]++; mb[key] = mb[key] " " $5; cpu[key] = cpu[key] " " $7 }
        }
        END {
            nm = split("parallel", ms, " ")
            nc = split(clients, cl, " ")
            for (i = 1; i <= nc; i++) ms[++nm] = "lockstep-" cl[i]
            nv = split(variants, vs, " ")
            for (i = 1; i <= nm; i++) {
                m = ms[i]
                label = (m == "parallel") ? par : lock " " substr(m, 10)
                base = median(mb[m SUBSEP "baseline"])
                for (j = 1; j <= nv; j++) {
                    v = vs[j]; key = m SUBSEP v
                    if (!(key in runs)) continue
                    med = median(mb[key])
                    shown = (med == "") ? "FAIL" : sprintf("%.1f (%s)", med, range(mb[key]))
                    ratio = ""; within = ""
                    if (v != "baseline" && med != "" && base != "") {
                        ratio = sprintf("%.3f", med / base)
                        within = (med / base >= 0.95) ? "yes" : "**no**"
                    }
                    c = median(cpu[key])
                    printf "| %s | %s | %s | %d/%d | %s | %s | %s |\n", label, v, shown, ok[key], runs[key], (c == "") ? "—" : sprintf("%.2f", c), ratio, within
                }
            }
        }' "$TP_RESULTS"
    echo
    if [[ -s $DASH_RESULTS ]]; then
        echo "The dashboard during the current runs (per round): SSE snapshots received / the most" \
            "transfers in one snapshot; \`/transfers\` loads by the poller / not 200 / p50 and max ms."
        echo
        echo "| round | SSE snapshots | most live transfers in a snapshot | /transfers loads | not 200 | load p50 ms | load max ms |"
        echo "|---:|---:|---:|---:|---:|---:|---:|"
        awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7}' "$DASH_RESULTS"
        echo
    fi
    if ((${#RECORDED[@]})); then
        recorded=$(printf '%s; ' "${RECORDED[@]}")
        echo "Transfers recorded in the database by the log writer (rows added / transfers run):" \
            "${recorded%; }."
        echo
    fi
fi
print_notes "${NOTES[@]}"
if has_part throughput && [[ -s $TP_RESULTS ]]; then
    echo "<details><summary>Every throughput run</summary>"
    echo
    echo "| round | variant | measurement | status | MB/s | wall s | server CPU s | detail |"
    echo "|---:|---|---|---|---:|---:|---:|---|"
    awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8}' "$TP_RESULTS"
    echo
    echo "</details>"
fi
