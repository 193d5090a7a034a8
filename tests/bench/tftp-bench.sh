#!/usr/bin/env bash
# TFTP throughput benchmark: the lifeboat server against tftpd-hpa, atftpd and dnsmasq, one after
# another on the same veth pair between two network namespaces created (and removed) by this
# script. Prints a Markdown report on stdout and progress on stderr. See tests/bench/README.md.
#
#   sudo tests/bench/tftp-bench.sh > report.md
#   sudo SIZE_MB=4 REPEAT=1 PAR_CLIENTS=5 MANY_CLIENTS=20 PAR_SIZE_MB=1 tests/bench/tftp-bench.sh   # smoke run
#
# A benchmark, not a test: a failed or timed-out transfer is reported as FAIL and the run goes on.
set -euo pipefail
export LC_ALL=C

# ---------------------------------------------------------------- knobs (environment variables)
SIZE_MB=${SIZE_MB:-64}           # file size for scenarios (a)-(c)
REPEAT=${REPEAT:-3}              # runs per measurement in (a)-(c); the median is reported
PAR_CLIENTS=${PAR_CLIENTS:-50}   # parallel curl clients in (d)
MANY_CLIENTS=${MANY_CLIENTS:-500} # parallel curl clients in (e), a boot storm
PAR_SIZE_MB=${PAR_SIZE_MB:-8}    # file size per client in (d)
RUN_TIMEOUT=${RUN_TIMEOUT:-120}  # seconds allowed for one transfer in (a)-(c)
PAR_TIMEOUT=${PAR_TIMEOUT:-300}  # seconds allowed for each client in (d)
PAR_REPEAT=${PAR_REPEAT:-3}      # rounds of (d), every server once per round; the median is reported
WINDOW=${WINDOW:-16}             # windowsize asked for in (c)
SERVERS=${SERVERS:-"lifeboat tftpd-hpa atftpd dnsmasq"}
SCENARIOS=${SCENARIOS:-"a b c d e"}
LOCKSTEP_CLIENTS=${LOCKSTEP_CLIENTS:-"curl atftp lifeboat"}  # clients for (a) and (b)
WINDOW_CLIENTS=${WINDOW_CLIENTS:-"atftp lifeboat"}           # clients for (c)
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
LIFEBOAT=${LIFEBOAT:-$REPO/target/release/lifeboat}
IN_TFTPD=${IN_TFTPD:-/usr/sbin/in.tftpd}
ATFTPD=${ATFTPD:-/opt/lifeboat-peers/atftpd/usr/sbin/atftpd}
DNSMASQ=${DNSMASQ:-/usr/sbin/dnsmasq}
WORK_BASE=${WORK_BASE:-/dev/shm}  # tmpfs, so the disk is not part of the measurement
PIN=${PIN:-none}  # (a)-(c) only: none | same (server and client on CPU 0) | split (server 0, client 1)
KEEP_WORK=${KEEP_WORK:-0}         # 1: keep the work directory (server and client logs)
FLOOR=${FLOOR:-0}                 # 1: (d) and (e) also run floor-tftpd.c, the cheapest possible server
LOAD=${LOAD:-0}                   # (a)-(b): this many background workers starting short CPU-bound processes
LOAD_CHUNK_MB=${LOAD_CHUNK_MB:-8} # what each short process of the load hashes (MiB of zeros)

BENCH_NAME="tftp-bench"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SCRIPT_DIR/lib.sh"

case $PIN in
    none) SERVER_PIN=() CLIENT_PIN=() ;;
    same) SERVER_PIN=(taskset -c 0) CLIENT_PIN=(taskset -c 0) ;;
    split) SERVER_PIN=(taskset -c 0) CLIENT_PIN=(taskset -c 1) ;;
    *) die "PIN must be none, same or split (got '$PIN')" ;;
esac
PINNED=0  # set while (a)-(c) run, so (d) is never pinned

require_positive_ints SIZE_MB REPEAT PAR_CLIENTS MANY_CLIENTS PAR_SIZE_MB RUN_TIMEOUT PAR_TIMEOUT PAR_REPEAT WINDOW \
    LOAD_CHUNK_MB
require_non_negative_ints LOAD
# The servers' limits are raised for the largest crowd of the run.
MOST_CLIENTS=$PAR_CLIENTS
if [[ " $SCENARIOS " == *" e "* ]] && ((MANY_CLIENTS > MOST_CLIENTS)); then MOST_CLIENTS=$MANY_CLIENTS; fi
require_root "network namespaces, veth pair, a cpuacct cgroup"

need=(ip timeout sha256sum awk sort stat curl atftp head cksum)
for server in $SERVERS; do
    case $server in
        lifeboat) need+=("$LIFEBOAT") ;;
        tftpd-hpa) need+=("$IN_TFTPD") ;;
        atftpd) need+=("$ATFTPD") ;;
        dnsmasq) need+=("$DNSMASQ") ;;
        *) die "unknown server '$server' in SERVERS (lifeboat tftpd-hpa atftpd dnsmasq)" ;;
    esac
done
need+=("$LIFEBOAT")  # also the client `lifeboat get`
if [[ $PIN != none ]]; then need+=(taskset); fi
if ((FLOOR)); then need+=(cc); fi
if [[ $PIN == split ]] && (($(nproc) < 2)); then die "PIN=split needs two CPUs"; fi
require_programs "(lifeboat: cargo build --release -p lifeboat; atftpd: apt-get download atftpd && dpkg -x it into /opt/lifeboat-peers/atftpd)" \
    "${need[@]}"

# ---------------------------------------------------------------- names, state, cleanup
TAG=lbbench-$$
NS_S=$TAG-s
NS_C=$TAG-c
VETH_S=lbb$$s
VETH_C=lbb$$c
SRV_IP=10.99.0.1
CLI_IP=10.99.0.2
WORK=""
CG=""
CG_KIND=none
SERVER_PID=""
SERVER_NAME=""
SAMPLER_PID=""
CLIENT_PIDS=()
LOAD_PIDS=()
LOAD_FLAG=""
NOTES=()

cg_create() {
    if [[ -d /sys/fs/cgroup/cpuacct && -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]]; then
        CG=/sys/fs/cgroup/cpuacct/$TAG && mkdir "$CG" && CG_KIND=v1 && return 0
    elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        CG=/sys/fs/cgroup/$TAG && mkdir "$CG" && CG_KIND=v2 && return 0
    fi
    CG=""
    CG_KIND=none
    NOTES+=("No usable cpuacct cgroup: server CPU is the server process's own utime+stime only (children not counted).")
}

cg_add() { [[ -z $CG ]] || echo "$1" >"$CG/cgroup.procs"; }

# Processes of the server: the cgroup's members (children included), or the server and its
# direct children without a cgroup.
cg_procs() {
    if [[ -n $CG ]]; then
        cat "$CG/cgroup.procs" 2>/dev/null || true
    elif [[ -n $SERVER_PID ]]; then
        echo "$SERVER_PID"
        pgrep -P "$SERVER_PID" 2>/dev/null || true
    fi
}

# "TOTAL_NS USER_S SYS_S": CPU used so far by everything that ever ran in the server's cgroup.
cg_cpu() {
    case $CG_KIND in
        v1)
            local hz
            hz=$(getconf CLK_TCK)
            awk -v total="$(cat "$CG/cpuacct.usage")" -v hz="$hz" \
                '$1=="user"{u=$2/hz} $1=="system"{s=$2/hz} END{printf "%s %.3f %.3f\n", total, u, s}' \
                "$CG/cpuacct.stat"
            ;;
        v2)
            awk '$1=="usage_usec"{t=$2*1000} $1=="user_usec"{u=$2/1e6} $1=="system_usec"{s=$2/1e6}
                 END{printf "%d %.3f %.3f\n", t, u, s}' "$CG/cpu.stat"
            ;;
        *) proc_cpu_times "$SERVER_PID" ;;
    esac
}

cg_remove() {
    [[ -n $CG && -d $CG ]] || return 0
    local p parent=/sys/fs/cgroup
    [[ $CG_KIND == v1 ]] && parent=/sys/fs/cgroup/cpuacct
    while read -r p; do
        echo "$p" >"$parent/cgroup.procs" 2>/dev/null || true
    done 2>/dev/null <"$CG/cgroup.procs" || true
    rmdir "$CG" 2>/dev/null || echo "tftp-bench: could not remove cgroup $CG" >&2
    CG=""
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    local i p
    stop_pid "$SERVER_PID" 50
    SERVER_PID=""
    # Transfer processes a forking server left behind (only visible with a cgroup).
    for p in $(cg_procs); do kill -KILL "$p" 2>/dev/null || true; done
    for i in $(seq 50); do
        [[ -z $(cg_procs) ]] && break
        sleep 0.1
    done
}

cleanup() {
    local p
    if [[ -n $SAMPLER_PID ]]; then
        kill "$SAMPLER_PID" 2>/dev/null
        { wait "$SAMPLER_PID"; } 2>/dev/null
    fi
    for p in "${CLIENT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    stop_load
    stop_server
    delete_netns "$NS_C" "$NS_S"
    cg_remove
    remove_work_dir "$WORK" "$KEEP_WORK" out par
}
run_on_exit cleanup

# ---------------------------------------------------------------- setup
WORK=$(mktemp -d "$WORK_BASE/lbbench.XXXXXX")
chmod 755 "$WORK"
ROOT=$WORK/root
mkdir -p "$ROOT" "$WORK/out" "$WORK/par" "$WORK/logs"
chmod 755 "$ROOT"

say "creating $NS_S ($SRV_IP) and $NS_C ($CLI_IP), veth MTU 1500"
create_netns_pair "$NS_S" "$NS_C" "$VETH_S" "$VETH_C" "$SRV_IP/24" "$CLI_IP/24"
cg_create

# A private copy of the binary, so a rebuild during the run cannot mix two versions.
LIFEBOAT_SRC=$LIFEBOAT
mkdir -p "$WORK/bin"
LIFEBOAT_COPY=$(copy_binary "$LIFEBOAT_SRC" "$WORK/bin/lifeboat")
LIFEBOAT=$WORK/bin/lifeboat
PAR_SERVERS=$SERVERS
if ((FLOOR)); then
    cc -O2 -pthread -o "$WORK/bin/floor-tftpd" "$SCRIPT_DIR/floor-tftpd.c" || die "cannot build floor-tftpd.c"
    PAR_SERVERS+=" floor"
fi

say "writing test files to $ROOT"
BIG=big.bin
PAR=par.bin
PROBE=probe.bin
BIG_BYTES=$((SIZE_MB << 20))
PAR_BYTES=$((PAR_SIZE_MB << 20))
BIG_SHA=$(new_random_file "$ROOT/$BIG" "$BIG_BYTES")
PAR_SHA=$(new_random_file "$ROOT/$PAR" "$PAR_BYTES")
new_random_file "$ROOT/$PROBE" 65536 >/dev/null

# ---------------------------------------------------------------- servers
server_argv() {
    local log=$2
    case $1 in
        lifeboat)
            ARGV=("$LIFEBOAT" serve --tftp-root "$ROOT" --tftp-listen "$SRV_IP:69"
                --tftp-max-blksize 8192 --tftp-max-windowsize 64
                --tftp-max-transfers-per-client $((MOST_CLIENTS > 8 ? MOST_CLIENTS : 8))
                --tftp-max-transfers $((MOST_CLIENTS > 256 ? MOST_CLIENTS * 4 / 3 + 1 : 256))
                --db "$WORK/lifeboat.db")
            ;;
        tftpd-hpa)
            # Default maximum block size is 65464, so 8192 needs no -B.
            ARGV=("$IN_TFTPD" -L -u root -s "$ROOT" -a "$SRV_IP:69")
            ;;
        atftpd)
            ARGV=("$ATFTPD" --daemon --no-fork --user root --group root --port 69
                --bind-address "$SRV_IP" --logfile "$log")
            if ((MOST_CLIENTS > 100)); then ARGV+=(--maxthread "$MOST_CLIENTS"); fi
            ARGV+=("$ROOT")
            ;;
        floor)
            ARGV=("$WORK/bin/floor-tftpd" "$ROOT" "$SRV_IP")
            ;;
        dnsmasq)
            ARGV=("$DNSMASQ" --no-daemon --conf-file=/dev/null --port=0 --no-resolv --no-hosts
                --bind-interfaces --user=root --group=root --pid-file= --log-facility=-
                --enable-tftp "--listen-address=$SRV_IP" "--tftp-root=$ROOT")
            if ((MOST_CLIENTS > 50)); then ARGV+=("--tftp-max=$MOST_CLIENTS"); fi
            ;;
    esac
}

udp69_listening() {
    ip netns exec "$NS_S" cat /proc/net/udp | awk '$2 ~ /:0045$/ {found=1} END {exit !found}'
}

start_server() {
    local name=$1 what=$2
    local log=$WORK/logs/server-$name-$what.log
    server_argv "$name" "$log"
    local pin=()
    if ((PINNED)); then pin=("${SERVER_PIN[@]}"); fi
    ip netns exec "$NS_S" "${pin[@]}" "${ARGV[@]}" >>"$log" 2>&1 &
    SERVER_PID=$!
    SERVER_NAME=$name
    cg_add "$SERVER_PID"
    if wait_for_server "$SERVER_PID" 150 0.1 udp69_listening; then
        say "[$name] started (pid $SERVER_PID): ${ARGV[*]}"
        return 0
    fi
    die_with_log "$log" "$name did not start listening on $SRV_IP:69 within 15 s"
}

# One note summarising what lifeboat's own log says about the transfers it served.
lifeboat_log_note() {
    local phase=$1
    shift
    [[ -f $1 ]] || return 0
    local summary
    summary=$(awk '
        / sent / && / retransmits/ {
            n++
            if (match($0, /[0-9]+ retransmits/)) { r = substr($0, RSTART, RLENGTH) + 0; rtx += r; if (r > 0) nr++ }
            if ($0 !~ /complete/) inc++
        }
        / WARN / { w++ } / ERROR / { e++ }
        END { printf "%d transfers logged, %d with retransmits (%d retransmits in all), %d not complete, %d WARN / %d ERROR lines", n, nr, rtx, inc, w, e }' "$@")
    NOTES+=("lifeboat server log, $phase: $summary.")
}

ensure_server() {
    alive "$SERVER_PID" && return 0
    NOTES+=("$SERVER_NAME died during $1; restarted it (see the runs marked FAIL).")
    say "[$SERVER_NAME] died; restarting"
    stop_server
    start_server "$SERVER_NAME" restart
}

# ---------------------------------------------------------------- background load
# A busy machine for the lock-step runs: LOAD workers, each starting one short CPU-bound
# process after another (hashing LOAD_CHUNK_MB MiB of zeros, tens of milliseconds), so the
# scheduler keeps seeing new work come and go on every CPU, as on a shared build machine. The
# load runs outside the server's cgroup and is not pinned. Each worker stops by itself when
# its flag file goes or after RUN_TIMEOUT + 30 s, whichever comes first; stop_load ends them
# at once (by PID).
load_worker() {
    local flag=$1 deadline=$((SECONDS + RUN_TIMEOUT + 30))
    while [[ -e $flag ]] && ((SECONDS < deadline)); do
        head -c "$((LOAD_CHUNK_MB << 20))" /dev/zero | cksum >/dev/null
    done
}

start_load() {
    ((LOAD > 0)) || return 0
    local i
    LOAD_FLAG=$WORK/load-running
    touch "$LOAD_FLAG"
    for i in $(seq "$LOAD"); do
        load_worker "$LOAD_FLAG" &
        LOAD_PIDS+=($!)
    done
}

stop_load() {
    ((${#LOAD_PIDS[@]} > 0)) || return 0
    local p
    rm -f "$LOAD_FLAG"
    for p in "${LOAD_PIDS[@]}"; do
        # The worker's current short process ends by itself within its chunk.
        stop_children_of "$p"
        kill "$p" 2>/dev/null || true
    done
    for p in "${LOAD_PIDS[@]}"; do { wait "$p" || true; } 2>/dev/null; done
    LOAD_PIDS=()
}

# stop_children_of PID: SIGTERM to the direct children of PID (by their PIDs).
stop_children_of() {
    local child
    for child in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do kill "$child" 2>/dev/null || true; done
}

# ---------------------------------------------------------------- one transfer
RUN_SEQ=0
# run_one CLIENT BLKSIZE WINDOW(1 = do not ask) -> R_STATUS R_MBPS R_CPU R_WALL R_GRANT
run_one() {
    local client=$1 blk=$2 win=$3
    local out=$WORK/out/$client.bin
    RUN_SEQ=$((RUN_SEQ + 1))
    local log=$WORK/logs/run-$RUN_SEQ-$SERVER_NAME-$client-$blk-$win.log
    local argv=()
    case $client in
        curl) argv=(curl -v -sS --tftp-blksize "$blk" -o "$out" "tftp://$SRV_IP/$BIG") ;;
        atftp)
            argv=(atftp --option "blksize $blk")
            ((win > 1)) && argv+=(--option "windowsize $win")
            argv+=(-g -r "$BIG" -l "$out" "$SRV_IP")
            ;;
        lifeboat)
            argv=("$LIFEBOAT" get "$SRV_IP" "$BIG" -o "$out" --blksize "$blk")
            ((win > 1)) && argv+=(--windowsize "$win")
            ;;
    esac
    rm -f "$out"
    local rc=0 c0 c1
    c0=$(cg_cpu)
    run_client "$RUN_TIMEOUT" "$log" ip netns exec "$NS_C" "${CLIENT_PIN[@]}" "${argv[@]}" || rc=$?
    c1=$(cg_cpu)
    R_WALL=$(awk -v t="$CLIENT_SECONDS" 'BEGIN{printf "%.3f", t}')
    R_CPU=$(awk -v a="${c0%% *}" -v b="${c1%% *}" 'BEGIN{printf "%.3f", (b-a)/1e9}')
    R_MBPS=""
    R_GRANT=""
    # curl -v lines starting with '*' are its own chatter, not the error.
    R_STATUS=$(transfer_status "$rc" "$RUN_TIMEOUT" "$log" "$out" "$BIG_BYTES" "$BIG_SHA" '^\*')
    if [[ $R_STATUS == ok ]]; then
        R_MBPS=$(awk -v n="$BIG_BYTES" -v t="$R_WALL" 'BEGIN{printf "%.1f", n/t/1e6}')
    fi
    case $client in
        curl)
            local b
            b=$(sed -n 's/.*blksize parsed from OACK (\([0-9]*\)).*/\1/p' "$log" | head -n 1 || true)
            R_GRANT="blk ${b:-512 (no blksize in OACK)}"
            ;;
        lifeboat)
            R_GRANT=$(sed -n 's/.*blksize \([0-9]*\), window \([0-9]*\), \([0-9]*\) retransmits.*/blk \1 win \2 (client rtx \3)/p' "$log" | head -n 1 || true)
            ;;
    esac
    rm -f "$out"
}

# What the server grants atftp (its --trace shows the OACK), from a 64 KiB transfer.
probe_atftp() {
    local blk=$1 win=$2 argv log=$WORK/logs/probe-$SERVER_NAME-$1-$2.log
    argv=(atftp --trace --option "blksize $blk")
    ((win > 1)) && argv+=(--option "windowsize $win")
    argv+=(-g -r "$PROBE" -l "$WORK/out/probe.bin" "$SRV_IP")
    timeout -k 5 30 ip netns exec "$NS_C" "${argv[@]}" >"$log" 2>&1 || true
    rm -f "$WORK/out/probe.bin"
    local oack
    oack=$(grep -m1 -o 'received OACK <[^>]*>' "$log" || true)
    if [[ -z $oack ]]; then
        echo "no OACK (512)"
        return
    fi
    local b w
    b=$(sed -n 's/.*blksize: \([0-9]*\).*/\1/p' <<<"$oack")
    w=$(sed -n 's/.*windowsize: \([0-9]*\).*/\1/p' <<<"$oack")
    echo "blk ${b:-512}${w:+ win $w}"
}

RESULTS=$WORK/results.tsv
: >"$RESULTS"

scenario_label() {
    case $1 in
        a) echo "(a) lock-step, blksize 1468" ;;
        b) echo "(b) lock-step, blksize 8192" ;;
        c1) echo "(c) windowsize $WINDOW, blksize 1468" ;;
        c2) echo "(c) windowsize $WINDOW, blksize 8192" ;;
    esac
}

# One round: start SERVER, run every (a)-(c) measurement once, stop it. The rounds take turns
# across the servers (round 1 of each server, then round 2, ...), so a noisy minute on the
# shared machine does not land on one server only.
declare -A PROBES=()
measure_round() {
    local server=$1 rep=$2 sc blk win client grant clients
    start_server "$server" "round$rep"
    local list=()
    if [[ " $SCENARIOS " == *" a "* ]]; then list+=(a); fi
    if [[ " $SCENARIOS " == *" b "* ]]; then list+=(b); fi
    if [[ " $SCENARIOS " == *" c "* ]]; then list+=(c1 c2); fi
    for sc in "${list[@]}"; do
        case $sc in
            a) blk=1468 win=1 clients=$LOCKSTEP_CLIENTS ;;
            b) blk=8192 win=1 clients=$LOCKSTEP_CLIENTS ;;
            c1) blk=1468 win=$WINDOW clients=$WINDOW_CLIENTS ;;
            c2) blk=8192 win=$WINDOW clients=$WINDOW_CLIENTS ;;
        esac
        if [[ " $clients " == *" atftp "* && -z ${PROBES[$server/$blk/$win]:-} ]]; then
            PROBES[$server/$blk/$win]=$(probe_atftp "$blk" "$win")
        fi
        for client in $clients; do
            ensure_server "$(scenario_label "$sc")"
            if [[ $sc == a || $sc == b ]]; then start_load; fi
            run_one "$client" "$blk" "$win"
            stop_load
            grant=$R_GRANT
            if [[ $client == atftp ]]; then grant=${PROBES[$server/$blk/$win]}; fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$client" "$server" "$rep" \
                "$R_STATUS" "$R_MBPS" "$R_CPU" "$R_WALL" "$grant" >>"$RESULTS"
            say "[$server] $(scenario_label "$sc") $client #$rep: ${R_MBPS:-—} MB/s, $R_STATUS, server CPU ${R_CPU}s / ${R_WALL}s, $grant"
        done
    done
    stop_server
}

# ---------------------------------------------------------------- (d), (e) parallel clients
# Results of (d) and (e) go to $WORK/parallel-d.tsv and parallel-e.tsv, one line per run; the
# medians to parallel-medians-d.tsv and -e.tsv.
par_results() { echo "$WORK/parallel-$1.tsv"; }
par_medians_file() { echo "$WORK/parallel-medians-$1.tsv"; }
# The clients of scenario d or e.
par_clients() { if [[ $1 == e ]]; then echo "$MANY_CLIENTS"; else echo "$PAR_CLIENTS"; fi; }

# One line per server from its runs of scenario $1 (d or e): the run with the median rate,
# then the failures summed, the largest RSS and process count, the lowest and highest rate of
# all runs, and the good transfers of the median run.
par_medians() {
    local scenario=$1 server rows n
    for server in $PAR_SERVERS; do
        rows=$(awk -F'\t' -v s="$server" '$1 == s' "$(par_results "$scenario")" | sort -t$'\t' -k4,4g)
        [[ -n $rows ]] || continue
        n=$(wc -l <<<"$rows")
        awk -F'\t' -v OFS='\t' -v mid=$(((n + 1) / 2)) '
            { ok += $2; fails += $3; if ($9 + 0 > rss) rss = $9; if ($10 + 0 > procs) procs = $10 }
            NR == 1 { low = $4 }
            NR == mid { split($0, m, "\t") }
            { high = $4 }
            END { print m[1], ok, fails, m[4], m[5], m[6], m[7], m[8], rss, procs, low, high, m[2] }' <<<"$rows"
    done
}

# Samples VmHWM of every process of the server (cgroup members) every 0.1 s into $1 as
# "MAX_KB MAX_PROCS" while the file $2 exists (at most PAR_TIMEOUT + 60 s).
sampler() {
    local out=$1 flag=$2 max=0 maxn=0 pid k v rest n
    local deadline=$((SECONDS + PAR_TIMEOUT + 60))
    while [[ -e $flag ]] && ((SECONDS < deadline)); do
        n=0
        for pid in $(cg_procs); do
            n=$((n + 1))
            while read -r k v rest; do
                if [[ $k == VmHWM: ]]; then
                    ((v > max)) && max=$v
                    break
                fi
            done 2>/dev/null <"/proc/$pid/status" || true
        done
        ((n > maxn)) && maxn=$n
        echo "$max $maxn" >"$out"
        sleep 0.1
    done
}

# measure_parallel SERVER ROUND SCENARIO: one run of (d) or (e) against a freshly started SERVER.
measure_parallel() {
    local server=$1 rep=$2 scenario=$3 i clients
    clients=$(par_clients "$scenario")
    start_server "$server" "parallel-$scenario$rep"
    sleep 0.5
    local flag=$WORK/sampling rss_file=$WORK/rss-$server
    echo "0 0" >"$rss_file"
    touch "$flag"
    sampler "$rss_file" "$flag" &
    SAMPLER_PID=$!
    local c0 c1
    c0=$(cg_cpu)
    parallel_tftp_downloads "$NS_C" "tftp://$SRV_IP/$PAR" "$clients" "$PAR_TIMEOUT" "$WORK/par" \
        "$WORK/logs/par-$scenario-$server"
    # Let the server's transfer processes finish and be reaped before reading the CPU counters.
    for i in $(seq 100); do
        [[ $(cg_procs | wc -l) -le 1 ]] && break
        sleep 0.1
    done
    sleep 0.3
    c1=$(cg_cpu)
    rm -f "$flag"
    { wait "$SAMPLER_PID" || true; } 2>/dev/null
    SAMPLER_PID=""
    local main_hwm
    main_hwm=$(awk '$1=="VmHWM:"{print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
    tally_parallel_downloads "$WORK/par" "$clients" "$PAR_BYTES" "$PAR_SHA"
    local ok=$P_OK fails=$P_FAILS reasons=$P_WHY
    local rss procs wall agg cpu user sys
    read -r rss procs <"$rss_file"
    ((main_hwm > rss)) && rss=$main_hwm
    wall=$P_WALL
    agg=$(awk -v n="$ok" -v s="$PAR_BYTES" -v t="$wall" 'BEGIN{printf "%.1f", n*s/t/1e6}')
    read -r cpu user sys <<<"$(awk -v a="$c0" -v b="$c1" 'BEGIN{split(a,x," "); split(b,y," ");
        printf "%.2f %.2f %.2f", (y[1]-x[1])/1e9, y[2]-x[2], y[3]-x[3]}')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$ok" "$fails" "$agg" "$wall" \
        "$cpu" "$user" "$sys" "$rss" "$procs" "$rep" >>"$(par_results "$scenario")"
    [[ -n $reasons ]] && NOTES+=("($scenario) $server failures:$reasons (client logs: par-$scenario-$server-N.log)")
    say "[$server] ($scenario) #$rep $clients x ${PAR_SIZE_MB} MiB: $ok ok, $fails failed, $agg MB/s in ${wall}s, server CPU ${cpu}s, peak RSS ${rss} kB, max procs $procs"
    stop_server
}

# ---------------------------------------------------------------- run everything
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
if [[ " $SCENARIOS " =~ \ [abc]\  ]]; then
    PINNED=1
    for rep in $(seq "$REPEAT"); do
        for server in $SERVERS; do measure_round "$server" "$rep"; done
    done
    if [[ " $SERVERS " == *" lifeboat "* ]]; then
        lifeboat_log_note "(a)-(c)" "$WORK"/logs/server-lifeboat-round*.log
    fi
    PINNED=0
fi
for scenario in d e; do
    [[ " $SCENARIOS " == *" $scenario "* ]] || continue
    : >"$(par_results "$scenario")"
    for rep in $(seq "$PAR_REPEAT"); do
        for server in $PAR_SERVERS; do measure_parallel "$server" "$rep" "$scenario"; done
    done
    par_medians "$scenario" >"$(par_medians_file "$scenario")"
    if [[ " $SERVERS " == *" lifeboat "* ]]; then
        lifeboat_log_note "($scenario)" "$WORK"/logs/server-lifeboat-parallel-"$scenario"*.log
    fi
done
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---------------------------------------------------------------- report
echo "# TFTP benchmark: lifeboat vs tftpd-hpa, atftpd, dnsmasq"
echo
echo "- Run: $START – $END on $(machine_description)"
echo "- Link: veth pair between two network namespaces, MTU 1500, server $SRV_IP, client $CLI_IP"
echo "- lifeboat: $(first_line "$LIFEBOAT" --version); in.tftpd: $(first_line "$IN_TFTPD" -V);" \
    "atftpd: $(first_line "$ATFTPD" --version); dnsmasq: $(first_line "$DNSMASQ" --version | awk '{print $1, $2, $3}');" \
    "curl: $(first_line curl --version | cut -d' ' -f1-2); atftp: $(first_line atftp --version)"
echo "- lifeboat binary: copy of $LIFEBOAT_SRC taken at start ($LIFEBOAT_COPY)"
echo "- Order: $REPEAT rounds; in each round every server in turn ($SERVERS) is started fresh, runs" \
    "each (a)–(c) measurement once and is stopped. (d) and then (e) run last, each in $PAR_REPEAT rounds of one fresh server at a time."
echo "- CPU pinning in (a)–(c): PIN=$PIN (none: the scheduler places server and client;" \
    "same: both on CPU 0; split: server on CPU 0, client on CPU 1). (d) and (e) are never pinned."
if ((LOAD > 0)); then
    echo "- Background load in (a) and (b): $LOAD workers, each starting one short process after another" \
        "(\`head -c ${LOAD_CHUNK_MB}M /dev/zero | cksum\`), outside the server's cgroup, unpinned, for the" \
        "length of each transfer. Server CPU includes none of it."
fi
echo "- Knobs: SIZE_MB=$SIZE_MB REPEAT=$REPEAT WINDOW=$WINDOW RUN_TIMEOUT=$RUN_TIMEOUT" \
    "PAR_CLIENTS=$PAR_CLIENTS MANY_CLIENTS=$MANY_CLIENTS PAR_SIZE_MB=$PAR_SIZE_MB PAR_TIMEOUT=$PAR_TIMEOUT PAR_REPEAT=$PAR_REPEAT" \
    "FLOOR=$FLOOR LOAD=$LOAD LOAD_CHUNK_MB=$LOAD_CHUNK_MB"
echo "- lifeboat serve flags: --tftp-max-blksize 8192 --tftp-max-windowsize 64" \
    "--tftp-max-transfers-per-client $((MOST_CLIENTS > 8 ? MOST_CLIENTS : 8)) (all clients share one address)" \
    "and --tftp-max-transfers $((MOST_CLIENTS > 256 ? MOST_CLIENTS * 4 / 3 + 1 : 256)) (a quarter is kept for known clients)." \
    "Peers run with their defaults (tftpd-hpa allows blocks up to 65464; dnsmasq caps at MTU-32)."
echo "- MB/s = 10^6 bytes per second of client wall time (process start to exit), median of the" \
    "successful runs; every transfer's size and sha256 are checked against the source."
echo "- Server CPU = CPU time of the server's cgroup ($CG_KIND cpuacct; includes forked children)" \
    "during the transfer, as % of one core."
echo
if [[ -s $RESULTS ]]; then
    echo "## (a)–(c): one ${SIZE_MB} MiB transfer at a time"
    echo
    echo "| scenario | client | server | MB/s median (min–max) | ok runs | granted | server CPU, % of a core | lifeboat ÷ best peer |"
    echo "|---|---|---|---:|---:|---|---:|---|"
    awk -F'\t' -v repeat="$REPEAT" -v window="$WINDOW" '
        function label(sc) {
            if (sc == "a") return "(a) lock-step, blksize 1468"
            if (sc == "b") return "(b) lock-step, blksize 8192"
            if (sc == "c1") return "(c) window " window ", blksize 1468"
            return "(c) window " window ", blksize 8192"
        }
        function median(list,   n, v, i, j, t) {
            n = split(list, v, " ")
            if (n == 0) return ""
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
            return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        {
            key = $1 SUBSEP $2 SUBSEP $3
            if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
            grp = $1 SUBSEP $2
            if (!(grp in gseen)) { gseen[grp] = 1; gorder[++ng] = grp }
            if ($5 == "ok") { ok[key]++; mb[key] = mb[key] " " $6; cpu[key] = cpu[key] " " ($8 > 0 ? 100 * $7 / $8 : 0) }
            else if (!(key in why)) why[key] = substr($5, 6)
            if (grant[key] == "" && $9 != "") grant[key] = $9
        }
        END {
            for (k = 1; k <= nk; k++) { key = order[k]; med[key] = median(mb[key]) }
            for (g = 1; g <= ng; g++) {
                split(gorder[g], gk, SUBSEP)
                best = ""; bestname = ""
                for (k = 1; k <= nk; k++) {
                    split(order[k], p, SUBSEP)
                    if (p[1] != gk[1] || p[2] != gk[2] || p[3] == "lifeboat") continue
                    if (med[order[k]] != "" && (best == "" || med[order[k]] + 0 > best + 0)) { best = med[order[k]]; bestname = p[3] }
                }
                for (k = 1; k <= nk; k++) {
                    split(order[k], p, SUBSEP)
                    if (p[1] != gk[1] || p[2] != gk[2]) continue
                    key = order[k]
                    m = med[key]
                    shown = (m == "") ? "FAIL" : sprintf("%.1f", m)
                    if (m != "" && ok[key] > 1) {
                        nv = split(mb[key], vals, " "); lo = vals[1]; hi = vals[1]
                        for (i = 2; i <= nv; i++) { if (vals[i] + 0 < lo + 0) lo = vals[i]; if (vals[i] + 0 > hi + 0) hi = vals[i] }
                        shown = shown " (" lo "–" hi ")"
                    }
                    okruns = (ok[key] + 0) "/" repeat
                    if (ok[key] + 0 < repeat) okruns = okruns " (" why[key] ")"
                    c = median(cpu[key]); cshown = (c == "") ? "—" : sprintf("%.0f%%", c)
                    ratio = ""
                    if (p[3] == "lifeboat") {
                        if (m == "") ratio = "FAIL"
                        else if (best == "") ratio = "n/a (no peer succeeded)"
                        else ratio = sprintf("%.2f (vs %s %.1f)", m / best, bestname, best)
                    }
                    printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", label(p[1]), p[2], p[3], shown, okruns, grant[key], cshown, ratio
                }
            }
        }' "$RESULTS"
    echo
    echo "granted: what the server answered in its OACK (curl: from \`curl -v\`; atftp: from an" \
        "\`atftp --trace\` probe of a 64 KiB file with the same options; lifeboat: from \`lifeboat get\`'s" \
        "summary, with its retransmit count). Curl cannot ask for a window, so (c) has no curl rows."
    echo
fi
for scenario in d e; do
    results=$(par_results "$scenario")
    [[ -s $results ]] || continue
    medians=$(par_medians_file "$scenario")
    clients=$(par_clients "$scenario")
    echo "## ($scenario): $clients curl clients at once, blksize 1468, ${PAR_SIZE_MB} MiB each (all read the same file)"
    echo
    echo "$PAR_REPEAT rounds, every server once per round. Rate: the median run (lowest–highest); wall" \
        "and CPU: that median run; ok / failed: all runs; RSS and processes: the largest of all runs."
    echo
    echo "| server | ok / failed | aggregate MB/s | wall s | server CPU s (user + sys) | server CPU s per GiB served | server peak RSS | max server procs |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' -v bytes="$PAR_BYTES" '{
        gib = $13 * bytes / 1073741824
        printf "| %s | %d / %d | %s (%s–%s) | %s | %s (%s + %s) | %s | %.1f MiB | %s |\n",
            $1 == "floor" ? "floor-tftpd (reference, not a peer)" : $1, $2, $3, $4, $11, $12, $5, $6, $7, $8,
            (gib > 0 ? sprintf("%.2f", $6 / gib) : "—"), $9 / 1024, $10}' "$medians"
    echo
    awk -F'\t' -v bytes="$PAR_BYTES" '
        { gib = $13 * bytes / 1073741824; pergib = (gib > 0) ? $6 / gib : "" }
        $1 == "lifeboat" { lb = $4; lbcpu = pergib; lbrss = $9; next }
        $1 == "floor" { floor = $4; next }
        $4 + 0 > best + 0 { best = $4; bn = $1 }
        pergib != "" && (mincpu == "" || pergib + 0 < mincpu + 0) { mincpu = pergib; mn = $1 }
        END {
            if (lb != "" && best + 0 > 0) printf "lifeboat ÷ best peer, aggregate MB/s: %.2f (vs %s %s). ", lb / best, bn, best
            if (lbcpu != "" && mincpu + 0 > 0) printf "lifeboat CPU per GiB ÷ least of a peer: %.2f (%.2f vs %s %.2f s/GiB). ", lbcpu / mincpu, lbcpu, mn, mincpu
            if (lbrss != "") printf "lifeboat peak RSS: %.1f MiB.", lbrss / 1024
            if (floor != "" && best + 0 > 0) printf " floor-tftpd ÷ best peer: %.2f.", floor / best
            print ""
        }' "$medians"
    echo
    echo "Aggregate MB/s = bytes of the successful transfers / wall time from the first client's start" \
        "to the last client's exit. Server CPU = cpuacct usage of the server's cgroup over that" \
        "period (forked tftpd-hpa transfer processes included; they are reaped by the kernel because" \
        "in.tftpd ignores SIGCHLD, so /proc cutime would miss them); per GiB: divided by the GiB the" \
        "successful transfers of that run served. Peak RSS = the highest VmHWM of" \
        "any one server process (the single process for lifeboat, atftpd and dnsmasq, which were" \
        "started fresh for each run; for tftpd-hpa the largest of the parent and its per-transfer children," \
        "sampled every 0.1 s). The test path and the $clients clients share the machine's $(nproc) CPUs."
    if ((FLOOR)); then
        echo
        echo "floor-tftpd (tests/bench/floor-tftpd.c) is not a peer: it does only what (d) needs and" \
            "nothing a real server must (no retransmission, checks or logging), from one epoll loop per" \
            "CPU with the file mapped. Its rate is about the most the clients let any server reach here."
    fi
    echo
done
print_notes "${NOTES[@]}"
if [[ -s $RESULTS ]]; then
    echo "<details><summary>Every run</summary>"
    echo
    echo "| scenario | client | server | run | status | MB/s | server CPU s | wall s | granted |"
    echo "|---|---|---|---:|---|---:|---:|---:|---|"
    awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}' "$RESULTS"
    echo
    echo "</details>"
    echo
fi
for scenario in d e; do
    results=$(par_results "$scenario")
    [[ -s $results ]] || continue
    echo "<details><summary>Every ($scenario) run</summary>"
    echo
    echo "| server | run | ok / failed | aggregate MB/s | wall s | server CPU s | peak RSS |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '{printf "| %s | %s | %d / %d | %s | %s | %s | %.1f MiB |\n", $1, $11, $2, $3, $4, $5, $6, $9 / 1024}' "$results"
    echo
    echo "</details>"
    echo
done
