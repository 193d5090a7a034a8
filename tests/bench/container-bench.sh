#!/usr/bin/env bash
# The container appliance's figures, beside the bare binary in the same run: image size, cold
# start to serving (from `podman run` / the exec of the binary to the first TFTP download that
# succeeds, from a client namespace, polled with curl every 20 ms), and the resident memory of the lifeboat process idle and
# after a 64 MiB download. in.tftpd (tftpd-hpa) is timed the same way as the usual baseline for
# "start to serving". Medians of ROUNDS rounds (default 5). Prints a Markdown report on stdout.
#
#   sudo tests/bench/container-bench.sh > report.md
#
# Needs root, podman, runc, tftp-hpa's tftp and in.tftpd (.ci/run installs them); builds the
# image with docker/build-offline.sh using the tests' podman configuration (tests/podman/).
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
BENCH_NAME="container-bench"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SCRIPT_DIR/lib.sh"

ROUNDS=${ROUNDS:-5}
require_positive_ints ROUNDS
require_root "network namespaces and podman"
require_programs "run .ci/run first: it installs them" podman tftp curl in.tftpd nsenter bc

export CONTAINERS_CONF="$ROOT/tests/podman/containers.conf"
export CONTAINERS_STORAGE_CONF="$ROOT/tests/podman/storage.conf"
IMAGE=localhost/lifeboat:test
NS_S="lbbench-cs-$$" NS_C="lbbench-cc-$$"
CONTAINER="lbbench-$$"
WORK=$(mktemp -d)
chmod 755 "$WORK"
SERVER_PID=""

cleanup() {
    podman rm --force --time 0 "$CONTAINER" >/dev/null 2>&1
    [[ -n $SERVER_PID ]] && stop_pid "$SERVER_PID" 30
    delete_netns "$NS_S" "$NS_C"
    remove_work_dir "$WORK" 0
}
run_on_exit cleanup

say "building the image"
IMAGE_BYTES=$("$ROOT/docker/build-offline.sh")
BINARY="$ROOT/target/$(rustc -vV | sed -n "s/^host: //p")/release/lifeboat"

create_netns_pair "$NS_S" "$NS_C" veth-s veth-c 10.79.0.1/24 10.79.0.2/24
mkdir -p "$WORK/tftp" "$WORK/data"
chown 65532:65532 "$WORK/data"
chmod 755 "$WORK/tftp"
new_random_file "$WORK/tftp/small.bin" 4096 >/dev/null
BIG_SHA=$(new_random_file "$WORK/tftp/big.bin" $((64 * 1024 * 1024)))

# now_ms: milliseconds since the epoch.
now_ms() { date +%s%3N; }

# wait_serving: seconds (3 decimals) from START_MS until a download of small.bin succeeds.
wait_serving() {
    local deadline=$((START_MS + 30000))
    while (($(now_ms) < deadline)); do
        # curl, because its whole attempt can be bounded to 0.3 s: tftp-hpa waits 5 s before it
        # tries again when its first request came before the server listened.
        if ip netns exec "$NS_C" curl -s --max-time 0.3 -o "$WORK/small.copy" tftp://10.79.0.1/small.bin \
            && [[ -s $WORK/small.copy ]]; then
            rm -f "$WORK/small.copy"
            echo "scale=3; ($(now_ms) - START_MS) / 1000" | sed "s/START_MS/$START_MS/" | bc
            return 0
        fi
        sleep 0.02
    done
    return 1
}

# rss_kib PID: the resident set of PID in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# median VALUE...: the median of the values.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -a START_BIN=() START_CONTAINER=() START_TFTPD=() RSS_IDLE=() RSS_AFTER=()
for round in $(seq "$ROUNDS"); do
    say "round $round of $ROUNDS"

    # The bare binary.
    rm -f "$WORK/bare.db"
    START_MS=$(now_ms)
    ip netns exec "$NS_S" "$BINARY" serve --tftp-root "$WORK/tftp" --no-web --db "$WORK/bare.db" \
        >"$WORK/bare.log" 2>&1 &
    SERVER_PID=$!
    START_BIN+=("$(wait_serving)") || die_with_log "$WORK/bare.log" "the binary did not serve"
    stop_pid "$SERVER_PID" 30
    SERVER_PID=""

    # tftpd-hpa, the usual baseline.
    START_MS=$(now_ms)
    ip netns exec "$NS_S" in.tftpd -L -a 10.79.0.1:69 -s "$WORK/tftp" \
        >"$WORK/tftpd.log" 2>&1 &
    SERVER_PID=$!
    START_TFTPD+=("$(wait_serving)") || die_with_log "$WORK/tftpd.log" "in.tftpd did not serve"
    stop_pid "$SERVER_PID" 30
    SERVER_PID=""

    # The image, host networking inside the server namespace.
    rm -rf "$WORK/data/"*
    START_MS=$(now_ms)
    nsenter --net="/run/netns/$NS_S" podman run --detach --name "$CONTAINER" --network host \
        --cap-drop ALL --cap-add NET_BIND_SERVICE,NET_RAW \
        --volume "$WORK/tftp:/srv/tftp:ro" --volume "$WORK/data:/data" "$IMAGE" >/dev/null
    START_CONTAINER+=("$(wait_serving)") || die "the container did not serve: $(podman logs "$CONTAINER" 2>&1 | tail -5)"
    pid=$(podman inspect --format '{{.State.Pid}}' "$CONTAINER")
    sleep 1
    RSS_IDLE+=("$(rss_kib "$pid")")
    ip netns exec "$NS_C" tftp -m binary 10.79.0.1 -c get big.bin "$WORK/big.copy"
    [[ $(sha256_of "$WORK/big.copy") == "$BIG_SHA" ]] || die "the 64 MiB download differs"
    rm -f "$WORK/big.copy"
    RSS_AFTER+=("$(rss_kib "$pid")")
    podman rm --force --time 10 "$CONTAINER" >/dev/null 2>&1
done

cat <<REPORT
## Container appliance ($(date -u +%Y-%m-%dT%H:%MZ), $ROUNDS rounds, medians)

| measure | value |
|---|---|
| image size (\`podman image inspect\`) | $IMAGE_BYTES bytes ($(echo "scale=1; $IMAGE_BYTES / 1000000" | bc) MB) |
| start to first TFTP download: bare binary | $(median "${START_BIN[@]}") s |
| start to first TFTP download: in.tftpd | $(median "${START_TFTPD[@]}") s |
| start to first TFTP download: the image (\`podman run\`, host networking) | $(median "${START_CONTAINER[@]}") s |
| lifeboat RSS in the container, idle (TFTP + dashboard) | $(median "${RSS_IDLE[@]}") KiB |
| lifeboat RSS after a 64 MiB download | $(median "${RSS_AFTER[@]}") KiB |

Rounds: binary ${START_BIN[*]} s; in.tftpd ${START_TFTPD[*]} s; image ${START_CONTAINER[*]} s;
RSS idle ${RSS_IDLE[*]} KiB, after ${RSS_AFTER[*]} KiB.
REPORT
