# shellcheck shell=bash
# Helpers shared by the benchmark scripts of this folder (tftp-bench.sh, dhcp-bench.sh and
# web-bench.sh): messages, the checks before a run, stopping processes, the namespace pair,
# the CPU time of a process, checking downloads, the parallel TFTP downloads of tftp-bench.sh (d)
# and pieces of the report. Each script keeps its own servers, measurements and report; nothing
# here starts a server or decides what is measured.
#
# A script sets BENCH_NAME (the script's name without .sh, e.g. tftp-bench) and sources this
# file from its own directory:
#
#     BENCH_NAME="tftp-bench"
#     # shellcheck source-path=SCRIPTDIR source=lib.sh
#     source "$SCRIPT_DIR/lib.sh"
#
# BENCH_NAME starts the messages of die, the SKIP/FAIL line and the messages of the cleanup
# helpers. The functions expect the scripts' `set -euo pipefail`; those meant to be called in
# $(...), where bash turns errexit off, return a failure themselves instead of relying on it.
# Apart from BENCH_NAME, the only variables the helpers use or set are named where they are:
# CLIENT_PIDS (the clients running now, which the script's exit hook kills; set by run_client
# and parallel_tftp_downloads), CLIENT_SECONDS (run_client), P_WALL (parallel_tftp_downloads)
# and P_OK, P_FAILS, P_WHY (tally_parallel_downloads).

: "${BENCH_NAME:?set BENCH_NAME before sourcing lib.sh}"

# ---------------------------------------------------------------- messages and checks
# die MESSAGE...: "BENCH_NAME: MESSAGE" on stderr, exit 1.
die() { echo "$BENCH_NAME: $*" >&2; exit 1; }

# say MESSAGE...: a progress line with the time on stderr (stdout carries the report).
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# die_with_log LOG MESSAGE...: the last 20 lines of LOG on stderr, then die MESSAGE.
die_with_log() {
    local log=$1
    shift
    echo "--- $log:" >&2
    tail -n 20 "$log" >&2 || true
    die "$@"
}

# require_positive_ints NAME...: die unless each variable NAME holds an integer > 0.
require_positive_ints() {
    local knob
    for knob; do
        [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer (got '${!knob}')"
    done
}

# require_non_negative_ints NAME...: die unless each variable NAME holds an integer >= 0.
require_non_negative_ints() {
    local knob
    for knob; do
        [[ ${!knob} =~ ^[0-9]+$ ]] || die "$knob must be a non-negative integer (got '${!knob}')"
    done
}

# require_root WHAT: returns when run as root. Otherwise prints "SKIP: BENCH_NAME needs root
# (WHAT); run: sudo SCRIPT" and exits 0, or, when CI is set, the same line with FAIL and exits 1.
require_root() {
    [[ $EUID -ne 0 ]] || return 0
    local reason="needs root ($1); run: sudo $0"
    if [[ -n ${CI:-} ]]; then echo "FAIL: $BENCH_NAME $reason" >&2; exit 1; fi
    echo "SKIP: $BENCH_NAME $reason" >&2
    exit 0
}

# require_programs HINT PROGRAM...: die "missing program: PROGRAM HINT" for the first PROGRAM
# (a name on PATH or a path) that cannot be run. HINT says where the programs come from.
require_programs() {
    local hint=$1 prog
    shift
    for prog; do
        command -v "$prog" >/dev/null 2>&1 || die "missing program: $prog" "$hint"
    done
}

# ---------------------------------------------------------------- processes
# alive PID: true while PID exists and is not a zombie (a dead child not yet reaped).
alive() {
    [[ -n $1 ]] || return 1
    local line
    line=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    line=${line##*) }
    [[ ${line%% *} != Z ]]
}

# stop_pid PID TENTHS: SIGTERM to PID, SIGKILL if it still runs after TENTHS tenths of a second,
# then reap it if it is a child of this shell. Never fails.
stop_pid() {
    local pid=$1 tenths=$2 i
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq "$tenths"); do
        alive "$pid" || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    { wait "$pid" || true; } 2>/dev/null
}

# stop_server: stop_pid on $SERVER_PID (the script's server under test, if any) with 5 s of
# grace, then clear it. (tftp-bench and web-bench keep their own: one reaps a cgroup, the
# other waits longer.)
stop_server() {
    [[ -n ${SERVER_PID:-} ]] || return 0
    stop_pid "$SERVER_PID" 50
    SERVER_PID=""
}

# wait_for_server PID TRIES PAUSE CHECK [ARG...]: runs CHECK ARG... up to TRIES times, PAUSE
# seconds apart, while PID is alive. Returns 0 as soon as CHECK succeeds, 1 once PID has died,
# 2 when the tries run out. (PID is neither stopped nor reaped here.)
wait_for_server() {
    local pid=$1 tries=$2 pause=$3 i
    shift 3
    for ((i = 0; i < tries; i++)); do
        alive "$pid" || return 1
        if "$@"; then return 0; fi
        sleep "$pause"
    done
    return 2
}

# run_client SECONDS LOG COMMAND [ARG...]: runs COMMAND under `timeout -k 5 SECONDS` with its
# output appended to LOG, in the background with `wait`, so that a SIGTERM or Ctrl-C to the
# script is handled at once, not after the run; meanwhile its PID is CLIENT_PIDS[0]. Sets
# CLIENT_SECONDS to its wall time (like 1.234567) and returns its exit status (124 or 137 when
# it timed out).
run_client() {
    local seconds=$1 log=$2 rc=0 t0 t1
    shift 2
    t0=$EPOCHREALTIME
    timeout -k 5 "$seconds" "$@" >>"$log" 2>&1 &
    CLIENT_PIDS=($!)
    wait "${CLIENT_PIDS[0]}" || rc=$?
    CLIENT_PIDS=()
    t1=$EPOCHREALTIME
    # shellcheck disable=SC2034  # read by the caller
    CLIENT_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f", b - a}')
    return "$rc"
}

# run_on_exit FUNCTION: runs FUNCTION once when the script ends (normally, through die or
# errexit, or on SIGINT/SIGTERM, which end it with 130/143), with errexit off; the script's exit
# status stays what it was.
run_on_exit() {
    _BENCH_EXIT_HOOK=$1
    trap _bench_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
_bench_exit() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    "$_BENCH_EXIT_HOOK"
    exit "$rc"
}

# ---------------------------------------------------------------- namespaces and work files
# create_netns_pair NS_S NS_C VETH_S VETH_C SERVER_CIDR CLIENT_CIDR: two new network namespaces
# joined by a veth pair with MTU 1500 (VETH_S in NS_S with SERVER_CIDR, VETH_C in NS_C with
# CLIENT_CIDR), every link up, loopback included. Nothing outside the two namespaces changes.
create_netns_pair() {
    local ns_s=$1 ns_c=$2 veth_s=$3 veth_c=$4 ns
    ip netns add "$ns_s"
    ip netns add "$ns_c"
    ip link add "$veth_s" netns "$ns_s" mtu 1500 type veth peer name "$veth_c" netns "$ns_c" mtu 1500
    ip -n "$ns_s" addr add "$5" dev "$veth_s"
    ip -n "$ns_c" addr add "$6" dev "$veth_c"
    for ns in "$ns_s" "$ns_c"; do ip -n "$ns" link set lo up; done
    ip -n "$ns_s" link set "$veth_s" up
    ip -n "$ns_c" link set "$veth_c" up
}

# delete_netns NS...: for each namespace NS that exists, SIGKILL the processes left in it (for up
# to 2 s, until none is left), then delete it; a namespace that cannot be deleted is reported on
# stderr. Never fails.
delete_netns() {
    local ns p i
    for ns; do
        [[ -e /run/netns/$ns ]] || continue
        for i in $(seq 20); do
            [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break
            for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
            sleep 0.1
        done
        ip netns del "$ns" || echo "$BENCH_NAME: could not delete namespace $ns" >&2
    done
}

# remove_work_dir DIR KEEP [SUBDIR...]: removes the work directory DIR, or, when KEEP is 1, only
# its SUBDIRs (bulky files), keeping the logs and saying where they are. Nothing if DIR is unset.
remove_work_dir() {
    local dir=$1 keep=$2 sub
    shift 2
    [[ -n $dir && -d $dir ]] || return 0
    if [[ $keep == 1 ]]; then
        for sub; do rm -rf "${dir:?}/$sub"; done
        echo "$BENCH_NAME: logs kept in $dir" >&2
    else
        rm -rf "$dir"
    fi
}

# copy_binary SOURCE COPY: copies the program SOURCE to COPY (so a rebuild during the run cannot
# mix two versions) and prints "built DATE, sha256 FIRST-16-HEX-DIGITS…" for the report.
copy_binary() {
    local src=$1 copy=$2 built sha
    cp "$src" "$copy" || return 1
    built=$(date -u -r "$src" +%Y-%m-%dT%H:%M:%SZ) || return 1
    sha=$(sha256_of "$copy") || return 1
    echo "built $built, sha256 ${sha:0:16}…"
}

# sha256_of FILE: the hex sha256 of FILE.
sha256_of() {
    local sum
    sum=$(sha256sum "$1") || return 1
    echo "${sum%% *}"
}

# new_random_file PATH BYTES: writes BYTES random bytes to PATH, readable by all (mode 644), and
# prints their sha256.
new_random_file() {
    head -c "$2" /dev/urandom >"$1" || return 1
    chmod 644 "$1" || return 1
    sha256_of "$1"
}

# ---------------------------------------------------------------- CPU time of a process
# proc_stat PID: the fields of /proc/PID/stat after the command name (the state first, utime
# 12th, stime 13th); fails when PID is empty or gone.
proc_stat() {
    [[ -n $1 ]] || return 1
    local line
    line=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    echo "${line##*) }"
}

# proc_cpu_seconds PID: utime + stime of PID (all its threads, not its children) in seconds,
# like 1.25; 0 when PID is gone.
proc_cpu_seconds() {
    local stat hz
    hz=$(getconf CLK_TCK)
    stat=$(proc_stat "$1") || { echo 0; return 0; }
    awk -v hz="$hz" '{printf "%.2f", ($12 + $13) / hz}' <<<"$stat"
}

# proc_cpu_times PID: "TOTAL_NS USER_S SYS_S", the CPU time PID has used (not its children);
# "0 0 0" when PID is gone.
proc_cpu_times() {
    local stat hz
    hz=$(getconf CLK_TCK)
    stat=$(proc_stat "$1") || { echo "0 0 0"; return 0; }
    awk -v hz="$hz" '{printf "%d %.3f %.3f\n", ($12 + $13) / hz * 1e9, $12 / hz, $13 / hz}' <<<"$stat"
}

# ---------------------------------------------------------------- downloads
# transfer_status RC SECONDS LOG FILE BYTES SHA256 [SKIP_REGEX]: the result of one download by a
# client run under `timeout SECONDS` that exited with RC and wrote FILE and LOG: "ok" when FILE
# has BYTES bytes and that sha256; otherwise "FAIL:timeout SECONDSs", "FAIL:exit RC: LINE" (the
# last line of LOG not matching SKIP_REGEX, without | and tabs, at most 80 characters),
# "FAIL:no output file", "FAIL:size N != BYTES" or "FAIL:sha256 mismatch".
transfer_status() {
    local rc=$1 seconds=$2 log=$3 file=$4 bytes=$5 sha=$6 skip=${7:-} last
    if ((rc == 124 || rc == 137)); then
        echo "FAIL:timeout ${seconds}s"
    elif ((rc != 0)); then
        if [[ -n $skip ]]; then
            last=$({ grep -v -- "$skip" "$log" || true; } | tail -n 1 | tr -d '|\t' | cut -c1-80)
        else
            last=$(tail -n 1 "$log" | tr -d '|\t' | cut -c1-80)
        fi
        echo "FAIL:exit $rc: $last"
    elif [[ ! -f $file ]]; then
        echo "FAIL:no output file"
    elif [[ $(stat -c %s "$file") != "$bytes" ]]; then
        echo "FAIL:size $(stat -c %s "$file") != $bytes"
    elif [[ $(sha256_of "$file") != "$sha" ]]; then
        echo "FAIL:sha256 mismatch"
    else
        echo ok
    fi
}

# parallel_tftp_downloads NS URL COUNT SECONDS DIR LOG_PREFIX: COUNT curl clients at once in the
# namespace NS, each fetching the tftp:// URL at blksize 1468 into DIR/out-N (N = 1..COUNT)
# within SECONDS, with its exit status in DIR/rc-N and its messages in LOG_PREFIX-N.log; returns
# when all have exited. While they run, their PIDs are in the array CLIENT_PIDS, which the
# script's exit hook kills; it is empty again on return. Sets P_WALL to the seconds from the
# first start to the last exit (like 1.23).
parallel_tftp_downloads() {
    local ns=$1 url=$2 count=$3 seconds=$4 dir=$5 log_prefix=$6 i pid t0 t1
    t0=$EPOCHREALTIME
    CLIENT_PIDS=()
    for i in $(seq "$count"); do
        (
            rc=0
            timeout -k 5 "$seconds" ip netns exec "$ns" curl -sS --tftp-blksize 1468 \
                -o "$dir/out-$i" "$url" >"$log_prefix-$i.log" 2>&1 || rc=$?
            echo "$rc" >"$dir/rc-$i"
        ) &
        CLIENT_PIDS+=($!)
    done
    for pid in "${CLIENT_PIDS[@]}"; do wait "$pid" || true; done
    t1=$EPOCHREALTIME
    CLIENT_PIDS=()
    # shellcheck disable=SC2034  # read by the caller
    P_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}')
}

# tally_parallel_downloads DIR COUNT BYTES SHA256: checks what parallel_tftp_downloads left in
# DIR (exit status, size, sha256 of each download), removes it, and sets P_OK (good downloads),
# P_FAILS (the others) and P_WHY (" #N:exit-RC", " #N:size" or " #N:sha256" per failure).
tally_parallel_downloads() {
    local dir=$1 count=$2 bytes=$3 sha=$4 i rc out problem
    P_OK=0 P_FAILS=0 P_WHY=""
    for i in $(seq "$count"); do
        rc=$(cat "$dir/rc-$i" 2>/dev/null || echo missing)
        out=$dir/out-$i
        problem=""
        if [[ $rc != 0 ]]; then
            problem=exit-$rc
        elif [[ ! -f $out || $(stat -c %s "$out") != "$bytes" ]]; then
            problem=size
        elif [[ $(sha256_of "$out") != "$sha" ]]; then
            problem=sha256
        fi
        if [[ -n $problem ]]; then
            P_FAILS=$((P_FAILS + 1)) P_WHY+=" #$i:$problem"
        else
            P_OK=$((P_OK + 1))
        fi
        rm -f "$out" "$dir/rc-$i"
    done
}

# ---------------------------------------------------------------- report
# first_line COMMAND [ARG...]: the first line COMMAND prints on stdout or stderr (a version).
first_line() { "$@" 2>&1 | head -n 1 || true; }

# machine_description: "KERNEL RELEASE ARCH, N CPUs (CPU MODEL)" of this machine.
machine_description() {
    echo "$(uname -srm), $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo))"
}

# print_notes NOTE...: a "## Notes" section listing the NOTEs; nothing when there are none.
print_notes() {
    (($#)) || return 0
    local note
    echo "## Notes"
    echo
    for note; do echo "- $note"; done
    echo
}

# ---------------------------------------------------------------- a CPU cgroup for the servers
# (storm-bench.sh and http-bench.sh; tftp-bench.sh keeps its own.) One cpuacct cgroup named
# BENCH_CG_NAME holds every process of the servers under test, children included, so nginx's
# workers count; its path is in BENCH_CG ("" without one, BENCH_CG_KIND v1, v2 or none).

# bench_cg_create NAME: creates the cgroup; without a usable cpuacct hierarchy, returns 1 and
# leaves BENCH_CG empty (the scripts then fall back to /proc).
bench_cg_create() {
    BENCH_CG="" BENCH_CG_KIND=none
    if [[ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]]; then
        mkdir "/sys/fs/cgroup/cpuacct/$1" && BENCH_CG=/sys/fs/cgroup/cpuacct/$1 BENCH_CG_KIND=v1 && return 0
    elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        mkdir "/sys/fs/cgroup/$1" && BENCH_CG=/sys/fs/cgroup/$1 BENCH_CG_KIND=v2 && return 0
    fi
    return 1
}

# bench_cg_exec COMMAND [ARG...]: runs COMMAND inside the cgroup from its first instruction (the
# shell joins the cgroup, then execs), so children forked at once are in it too.
bench_cg_exec() {
    if [[ -n ${BENCH_CG:-} ]]; then
        # shellcheck disable=SC2016  # $$ belongs to the inner shell
        exec sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$BENCH_CG" "$@"
    fi
    exec "$@"
}

# bench_cg_procs: the PIDs in the cgroup now (nothing without one).
bench_cg_procs() {
    [[ -n ${BENCH_CG:-} ]] || return 0
    cat "$BENCH_CG/cgroup.procs" 2>/dev/null || true
}

# bench_cg_cpu: CPU seconds (like 1.234) used so far by everything that ever ran in the cgroup;
# without one, utime + stime of the PIDs given as arguments (their reaped children included).
bench_cg_cpu() {
    case ${BENCH_CG_KIND:-none} in
        v1) awk '{printf "%.3f\n", $1 / 1e9}' "$BENCH_CG/cpuacct.usage" ;;
        v2) awk '$1=="usage_usec"{printf "%.3f\n", $2 / 1e6}' "$BENCH_CG/cpu.stat" ;;
        *)
            local pid hz total=0 stat
            hz=$(getconf CLK_TCK)
            for pid; do
                stat=$(proc_stat "$pid") || continue
                total=$(awk -v t="$total" -v hz="$hz" '{printf "%.3f", t + ($12 + $13 + $14 + $15) / hz}' <<<"$stat")
            done
            echo "$total"
            ;;
    esac
}

# bench_cg_remove: moves what is left to the parent cgroup and removes the cgroup. Never fails.
bench_cg_remove() {
    [[ -n ${BENCH_CG:-} && -d $BENCH_CG ]] || return 0
    local p parent=${BENCH_CG%/*}
    for p in $(bench_cg_procs); do echo "$p" >"$parent/cgroup.procs" 2>/dev/null || true; done
    rmdir "$BENCH_CG" 2>/dev/null || echo "$BENCH_NAME: could not remove cgroup $BENCH_CG" >&2
    BENCH_CG=""
}

# hwm_of_pids PID...: "LARGEST_KB SUM_KB COUNT", the peak resident set (VmHWM) of the largest of
# the PIDs, the sum over them (shared pages counted once per process) and how many were read.
hwm_of_pids() {
    local pid kb max=0 sum=0 n=0
    for pid; do
        kb=$(awk '$1=="VmHWM:"{print $2}' "/proc/$pid/status" 2>/dev/null) || continue
        [[ -n $kb ]] || continue
        ((kb > max)) && max=$kb
        sum=$((sum + kb)) n=$((n + 1))
    done
    echo "$max $sum $n"
}

# ---------------------------------------------------------------- nginx, the HTTP peer
# write_nginx_conf FILE PREFIX LISTEN ROOT LOG_DIR WORKERS: an nginx configuration serving ROOT on
# LISTEN (ADDR:PORT) with sendfile on and nginx's built-in defaults otherwise (access log on, in
# LOG_DIR), WORKERS worker processes (auto: one per CPU, as Debian's nginx.conf has it), its pid
# file and temporary folders under PREFIX. Run it with: nginx -p PREFIX -e LOG -c FILE.
write_nginx_conf() {
    local file=$1 prefix=$2 listen=$3 root=$4 logs=$5 workers=$6
    mkdir -p "$prefix"
    cat >"$file" <<NGINX
# Written by tests/bench ($BENCH_NAME): one HTTP server for the benchmark, nothing else.
daemon off;
master_process on;
user root;
worker_processes $workers;
pid $prefix/nginx.pid;
error_log $logs/nginx-error.log;
events { }
http {
    sendfile on;
    default_type application/octet-stream;
    access_log $logs/nginx-access.log;
    client_body_temp_path $prefix/client_body;
    proxy_temp_path $prefix/proxy;
    fastcgi_temp_path $prefix/fastcgi;
    uwsgi_temp_path $prefix/uwsgi;
    scgi_temp_path $prefix/scgi;
    server {
        listen $listen;
        root $root;
    }
}
NGINX
}
