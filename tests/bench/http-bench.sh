#!/usr/bin/env bash
# HTTP download benchmark: lifeboat's HTTP boot server (which serves the TFTP root) against nginx
# (sendfile on), one after another on the same veth pair between two network namespaces created
# (and removed) by this script; 1 and 20 curl clients at once, each downloading the same file.
# Prints a Markdown report on stdout and progress on stderr. See tests/bench/README.md.
#
#   sudo tests/bench/http-bench.sh > report.md
#   sudo ROUNDS=1 SIZE_MB=8 CLIENT_COUNTS="1 4" tests/bench/http-bench.sh   # smoke run
#
# A benchmark, not a test: a failed download is reported as FAIL and the run goes on.
set -euo pipefail
export LC_ALL=C

# ---------------------------------------------------------------- knobs (environment variables)
SIZE_MB=${SIZE_MB:-64}                  # the file every client downloads, MiB
CLIENT_COUNTS=${CLIENT_COUNTS:-"1 20"}  # clients at once, one measurement per count
ROUNDS=${ROUNDS:-5}                     # rounds; in each every server runs every count once
SERVERS=${SERVERS:-"lifeboat nginx"}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}         # seconds allowed for each client
HTTP_PORT=${HTTP_PORT:-4080}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
LIFEBOAT=${LIFEBOAT:-${CARGO_TARGET_DIR:-$REPO/target}/release/lifeboat}
NGINX=${NGINX:-/usr/sbin/nginx}
WORK_BASE=${WORK_BASE:-/dev/shm}  # the file served, the downloads, logs (tmpfs)
DB_BASE=${DB_BASE:-/var/tmp}      # lifeboat's database (it records every download)
KEEP_WORK=${KEEP_WORK:-0}

BENCH_NAME="http-bench"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SCRIPT_DIR/lib.sh"

require_positive_ints SIZE_MB ROUNDS RUN_TIMEOUT HTTP_PORT
for n in $CLIENT_COUNTS; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "CLIENT_COUNTS must hold positive integers (got '$n')"; done
[[ $NGINX_WORKERS == auto || $NGINX_WORKERS =~ ^[1-9][0-9]*$ ]] || die "NGINX_WORKERS must be auto or a number"
need=(ip ss timeout awk sort curl openssl)
for s in $SERVERS; do
    case $s in
        lifeboat) need+=("$LIFEBOAT") ;;
        nginx) need+=("$NGINX") ;;
        *) die "unknown server '$s' in SERVERS (lifeboat nginx)" ;;
    esac
done
require_root "network namespaces, a veth pair, a cpuacct cgroup"
require_programs "(lifeboat: cargo build --release -p lifeboat; nginx: apt-get install nginx)" "${need[@]}"

# ---------------------------------------------------------------- names, state, cleanup
TAG=lbhttp-$$
NS_S=$TAG-s
NS_C=$TAG-c
VETH_S=lbh$$s
VETH_C=lbh$$c
SRV_IP=10.96.0.1
CLI_IP=10.96.0.2
WORK=""
DBDIR=""
SERVER_PID=""
CLIENT_PIDS=()
NOTES=()

stop_all_servers() {
    local p i
    stop_server
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
    stop_all_servers
    delete_netns "$NS_C" "$NS_S"
    bench_cg_remove
    [[ -n $DBDIR && -d $DBDIR ]] && rm -rf "$DBDIR"
    remove_work_dir "$WORK" "$KEEP_WORK" root out
}
run_on_exit cleanup

# ---------------------------------------------------------------- setup
WORK=$(mktemp -d "$WORK_BASE/lbhttp.XXXXXX")
DBDIR=$(mktemp -d "$DB_BASE/lbhttp-db.XXXXXX")
chmod 755 "$WORK"
ROOT=$WORK/root
mkdir -p "$ROOT" "$WORK/out" "$WORK/logs" "$WORK/bin" "$WORK/nginx"
chmod 755 "$ROOT"
FILE=big.bin
BYTES=$((SIZE_MB << 20))
say "writing $SIZE_MB MiB to $ROOT/$FILE"
SHA=$(new_random_file "$ROOT/$FILE" "$BYTES")
if [[ " $SERVERS " == *" lifeboat "* ]]; then
    LIFEBOAT_SRC=$LIFEBOAT
    LIFEBOAT_COPY=$(copy_binary "$LIFEBOAT_SRC" "$WORK/bin/lifeboat")
    LIFEBOAT=$WORK/bin/lifeboat
fi
say "creating $NS_S ($SRV_IP) and $NS_C ($CLI_IP), veth MTU 1500"
create_netns_pair "$NS_S" "$NS_C" "$VETH_S" "$VETH_C" "$SRV_IP/24" "$CLI_IP/24"
bench_cg_create "$TAG" ||
    NOTES+=("No usable cpuacct cgroup: server CPU is utime + stime of the server process and its reaped children, from /proc.")

# ---------------------------------------------------------------- servers
http_listening() { [[ -n $(ip netns exec "$NS_S" ss -Hlnt "sport = :$HTTP_PORT") ]]; }

start_http_server() {
    local server=$1 tag=$2 log=$WORK/logs/$1-$2.log
    case $server in
        lifeboat)
            rm -f "$DBDIR"/lifeboat.db*
            (bench_cg_exec ip netns exec "$NS_S" "$LIFEBOAT" serve --tftp-root "$ROOT" --tftp-listen "$SRV_IP:69" \
                --http-boot-listen "$SRV_IP:$HTTP_PORT" --db "$DBDIR/lifeboat.db") >>"$log" 2>&1 &
            ;;
        nginx)
            write_nginx_conf "$WORK/nginx/nginx.conf" "$WORK/nginx" "$SRV_IP:$HTTP_PORT" "$ROOT" "$WORK/logs" "$NGINX_WORKERS"
            (bench_cg_exec ip netns exec "$NS_S" "$NGINX" -p "$WORK/nginx" -e "$WORK/logs/nginx-error.log" \
                -c "$WORK/nginx/nginx.conf") >>"$log" 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    wait_for_server "$SERVER_PID" 100 0.1 http_listening && return 0
    die_with_log "$log" "$server did not listen on $SRV_IP:$HTTP_PORT within 10 s"
}

# ---------------------------------------------------------------- one measurement
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# measure SERVER CLIENTS ROUND: CLIENTS curl downloads at once against a fresh SERVER.
measure() {
    local server=$1 clients=$2 round=$3 i p
    start_http_server "$server" "c$clients-r$round"
    sleep 0.3
    local c0 c1 t0 t1
    c0=$(bench_cg_cpu "$SERVER_PID")
    t0=$EPOCHREALTIME
    CLIENT_PIDS=()
    for i in $(seq "$clients"); do
        timeout -k 5 "$RUN_TIMEOUT" ip netns exec "$NS_C" curl -sS -o "$WORK/out/$i" \
            -w '%{http_code}\n' "http://$SRV_IP:$HTTP_PORT/$FILE" >"$WORK/out/code-$i" 2>"$WORK/logs/curl-$server-c$clients-r$round-$i.log" &
        CLIENT_PIDS+=($!)
    done
    local rcs=()
    for p in "${CLIENT_PIDS[@]}"; do
        if wait "$p"; then rcs+=(0); else rcs+=($?); fi
    done
    t1=$EPOCHREALTIME
    CLIENT_PIDS=()
    c1=$(bench_cg_cpu "$SERVER_PID")
    local procs hwm
    procs=$(bench_cg_procs)
    [[ -n $procs ]] || procs=$SERVER_PID
    # shellcheck disable=SC2086  # a list of PIDs
    hwm=$(hwm_of_pids $procs)
    stop_all_servers
    local ok=0 fails=0 why="" out rc
    for i in $(seq "$clients"); do
        out=$WORK/out/$i rc=${rcs[i - 1]}
        if ((rc != 0)); then
            why+=" #$i:exit-$rc"
        elif [[ $(cat "$WORK/out/code-$i") != 200 ]]; then
            why+=" #$i:status-$(cat "$WORK/out/code-$i")"
        elif [[ $(stat -c %s "$out" 2>/dev/null || echo 0) != "$BYTES" ]]; then
            why+=" #$i:size"
        elif [[ $(openssl dgst -sha256 -r <"$out" | cut -d' ' -f1) != "$SHA" ]]; then
            why+=" #$i:sha256"
        else
            ok=$((ok + 1))
            continue
        fi
        fails=$((fails + 1))
    done
    rm -f "$WORK"/out/*
    [[ -z $why ]] || NOTES+=("$server, $clients clients, round $round: failures$why")
    local line
    line=$(awk -v s="$server" -v c="$clients" -v r="$round" -v ok="$ok" -v f="$fails" -v b="$BYTES" \
        -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hwm="$hwm" 'BEGIN {
            wall = t1 - t0; cpu = c1 - c0; gib = ok * b / 1073741824; split(hwm, m, " ")
            printf "%s\t%s\t%s\t%d\t%d\t%.1f\t%.3f\t%.3f\t%s\t%d\t%d\t%d\n", s, c, r, ok, f,
                (wall > 0 ? ok * b / wall / 1e6 : 0), wall, cpu, (gib > 0 ? sprintf("%.3f", cpu / gib) : "-"), m[1], m[2], m[3] }')
    echo "$line" >>"$RESULTS"
    IFS=$'\t' read -r _ _ _ ok fails mbps wall cpu pergib rss _ <<<"$line"
    say "[$server] $clients clients, round $round: $ok ok, $fails failed, $mbps MB/s in ${wall}s, server CPU ${cpu}s ($pergib s/GiB), peak RSS $((rss / 1024)) MiB"
}

# ---------------------------------------------------------------- run everything
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
order=($SERVERS)
for round in $(seq "$ROUNDS"); do
    for clients in $CLIENT_COUNTS; do
        if ((round % 2 == 0)); then
            for ((k = ${#order[@]} - 1; k >= 0; k--)); do measure "${order[k]}" "$clients" "$round"; done
        else
            for s in "${order[@]}"; do measure "$s" "$clients" "$round"; done
        fi
    done
done
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
echo "# HTTP downloads: lifeboat vs nginx"
echo
echo "- Run: $START – $END on $(machine_description); load average at start $LOAD_START, at end $LOAD_END"
echo "- Link: veth pair between two network namespaces, MTU 1500, server $SRV_IP, clients $CLI_IP"
if [[ -n ${LIFEBOAT_COPY:-} ]]; then
    echo "- lifeboat: $(first_line "$LIFEBOAT" --version), copy of $LIFEBOAT_SRC ($LIFEBOAT_COPY);" \
        "\`serve --tftp-root ROOT --http-boot-listen $SRV_IP:$HTTP_PORT --db\` (database on $DB_BASE, dashboard on its default loopback address)"
fi
echo "- nginx $(first_line "$NGINX" -v | sed 's/.*nginx\///'): sendfile on, worker_processes $NGINX_WORKERS," \
    "access log on, nginx's built-in defaults otherwise"
echo "- Each measurement: the server starts fresh, CLIENTS \`curl -o FILE\` (on $WORK_BASE) start at once," \
    "each fetching the same ${SIZE_MB} MiB file; the server stops. Size, status 200 and sha256 are checked" \
    "after the clock stops. $ROUNDS rounds, every server once per count per round, the order alternating."
echo "- Knobs: SIZE_MB=$SIZE_MB CLIENT_COUNTS=\"$CLIENT_COUNTS\" ROUNDS=$ROUNDS RUN_TIMEOUT=$RUN_TIMEOUT NGINX_WORKERS=$NGINX_WORKERS"
echo
echo "| clients | server | ok / failed | MB/s median (min–max) | server CPU s, median | server CPU s per GiB, median | peak RSS largest / sum | lifeboat ÷ nginx |"
echo "|---:|---|---:|---:|---:|---:|---|---|"
awk -F'\t' -v counts="$CLIENT_COUNTS" -v servers="$SERVERS" '
    function median(list,   n, v, i, j, t) {
        n = split(list, v, " "); if (n == 0) return ""
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
        return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    function lo(list,   n, v, i, m) { n = split(list, v, " "); m = v[1]; for (i = 2; i <= n; i++) if (v[i] + 0 < m + 0) m = v[i]; return m }
    function hi(list,   n, v, i, m) { n = split(list, v, " "); m = v[1]; for (i = 2; i <= n; i++) if (v[i] + 0 > m + 0) m = v[i]; return m }
    {
        k = $1 SUBSEP $2
        ok[k] += $4; f[k] += $5
        if ($5 == 0) { mb[k] = mb[k] " " $6; if ($9 != "-") pg[k] = pg[k] " " $9 }
        cpu[k] = cpu[k] " " $8
        if ($10 > rss[k]) rss[k] = $10; if ($11 > rsum[k]) rsum[k] = $11
    }
    END {
        nc = split(counts, cs, " "); ns = split(servers, ss, " ")
        for (i = 1; i <= nc; i++) {
            c = cs[i]
            lm = median(mb["lifeboat" SUBSEP c]); nm = median(mb["nginx" SUBSEP c])
            lg = median(pg["lifeboat" SUBSEP c]); ng = median(pg["nginx" SUBSEP c])
            for (j = 1; j <= ns; j++) {
                s = ss[j]; k = s SUBSEP c
                if (!(k in cpu)) continue
                m = median(mb[k])
                shown = (m == "") ? "FAIL" : sprintf("%.1f (%s–%s)", m, lo(mb[k]), hi(mb[k]))
                ratio = ""
                if (s == "lifeboat" && lm != "" && nm != "" && nm > 0) {
                    ratio = sprintf("throughput %.2f (target ≥ 0.9: %s)", lm / nm, (lm / nm >= 0.9) ? "met" : "not met")
                    if (lg != "" && ng != "" && ng > 0) ratio = ratio sprintf("; CPU per GiB %.2f", lg / ng)
                }
                printf "| %s | %s | %d / %d | %s | %.2f | %s | %.1f / %.1f MiB | %s |\n", c, s, ok[k], f[k], shown,
                    median(cpu[k]), (median(pg[k]) == "" ? "—" : sprintf("%.2f", median(pg[k]))), rss[k] / 1024, rsum[k] / 1024, ratio
            }
        }
    }' "$RESULTS"
echo
echo "MB/s = 10^6 bytes of the good downloads per second from the first client's start to the last" \
    "client's exit, over the runs without a failure. Server CPU = cpuacct of a cgroup holding the server" \
    "(nginx: master and workers) over that time; per GiB: divided by the GiB served. Peak RSS = the" \
    "largest VmHWM of one server process, and the sum over them (nginx), at the end of each run, the" \
    "largest over the runs. Clients, server and the machine's other work share its $(nproc) CPUs:" \
    "compare within a run."
echo
print_notes "${NOTES[@]}"
echo "<details><summary>Every run</summary>"
echo
echo "| server | clients | round | ok / failed | MB/s | wall s | server CPU s | CPU s per GiB | peak RSS largest / sum / procs |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %d / %d | %s | %s | %s | %s | %.1f / %.1f MiB / %d |\n",
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 / 1024, $11 / 1024, $12 }' "$RESULTS"
echo
echo "</details>"
