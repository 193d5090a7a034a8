#!/usr/bin/env bash
# One simulated machine of storm-bench.sh, run inside its own network namespace (eth0 bridged to
# the server). It waits at the start barrier, then boots as a netboot client would: DHCP
# (udhcpc), the boot file named in the lease over TFTP (curl), then the image over HTTP (curl),
# each step bounded, and writes one result line. Not meant to be run by hand.
#
#   storm-machine.sh ID DIR
#
# DIR holds env (the settings below, written by storm-bench.sh), go (the barrier FIFO) and
# lease.sh; the machine writes DIR/ready-ID before it waits, DIR/lease-ID (from lease.sh) and
# DIR/res-ID: "ID STATUS T_START T_LEASE T_TFTP T_HTTP T_END ADDRESS REASON", times as
# $EPOCHREALTIME (T_LEASE, T_TFTP, T_HTTP: when that step ended well, "-" otherwise; T_END: when
# the machine stopped, failed or not), REASON "-" when STATUS is ok.
set -uo pipefail
export LC_ALL=C
id=$1 dir=$2
# shellcheck source=/dev/null
source "$dir/env"  # HTTP_PORT HTTP_FILE HTTP_BYTES HTTP_SHA LOADER_BYTES LOADER_SHA DHCP_TRIES DHCP_RETRY STEP_TIMEOUT TMP

t_lease=- t_tftp=- t_http=- addr=-
finish() {
    local status=$1 reason=${2:--}
    echo "$id $status $t0 $t_lease $t_tftp $t_http $EPOCHREALTIME $addr ${reason// /_}" >"$dir/res-$id.tmp"
    mv "$dir/res-$id.tmp" "$dir/res-$id"
    rm -f "$TMP/loader-$id"
    exit 0
}
sha256() { openssl dgst -sha256 -r | cut -d' ' -f1; }

export MACHINE_ID=$id MACHINE_DIR=$dir  # for lease.sh
ip addr flush dev eth0
touch "$dir/ready-$id"
# The barrier: the open blocks until storm-bench.sh opens the FIFO for writing, the read returns
# when it closes it, for every machine at the same moment.
read -r _ <"$dir/go" || true
t0=$EPOCHREALTIME

# DHCP: DISCOVER, OFFER, REQUEST, ACK; lease.sh puts the address on eth0 and records the lease.
timeout -k 2 "$STEP_TIMEOUT" udhcpc -f -q -n -i eth0 -t "$DHCP_TRIES" -T "$DHCP_RETRY" \
    -s "$dir/lease.sh" >"$TMP/dhcp-$id.log" 2>&1
rc=$?
[[ -s $dir/lease-$id ]] || finish FAIL "dhcp: no lease (udhcpc exit $rc)"
t_lease=$EPOCHREALTIME
read -r addr server boot_file <"$dir/lease-$id"
[[ -n ${boot_file:-} && $boot_file != - ]] || finish FAIL "dhcp: no boot file in the lease"

# TFTP: the boot file from the lease's boot server, 1468-byte blocks (as iPXE asks).
timeout -k 2 "$STEP_TIMEOUT" curl -sS --tftp-blksize 1468 -o "$TMP/loader-$id" \
    "tftp://$server/$boot_file" 2>"$TMP/tftp-$id.log"
rc=$?
((rc == 0)) || finish FAIL "tftp: curl exit $rc $(tail -n 1 "$TMP/tftp-$id.log" | cut -c1-60)"
size=$(stat -c %s "$TMP/loader-$id" 2>/dev/null || echo 0)
((size == LOADER_BYTES)) || finish FAIL "tftp: size $size"
[[ $(sha256 <"$TMP/loader-$id") == "$LOADER_SHA" ]] || finish FAIL "tftp: sha256 mismatch"
t_tftp=$EPOCHREALTIME

# HTTP: the image, hashed as it arrives (nothing stored); curl's byte count and status on stderr.
sum=$(timeout -k 2 "$STEP_TIMEOUT" curl -sS -o - -w '%{stderr}\n%{size_download} %{http_code}\n' \
    "http://$server:$HTTP_PORT/$HTTP_FILE" 2>"$TMP/http-$id.log" | sha256)
rc=$?  # pipefail: curl's status (the hash does not fail)
((rc == 0)) || finish FAIL "http: curl exit $rc $(grep -v '^[0-9]* [0-9]*$' "$TMP/http-$id.log" | tail -n 1 | cut -c1-60)"
read -r size code < <(tail -n 1 "$TMP/http-$id.log")
[[ $code == 200 ]] || finish FAIL "http: status $code"
((size == HTTP_BYTES)) || finish FAIL "http: size $size"
[[ $sum == "$HTTP_SHA" ]] || finish FAIL "http: sha256 mismatch"
t_http=$EPOCHREALTIME
rm -f "$TMP/dhcp-$id.log" "$TMP/tftp-$id.log" "$TMP/http-$id.log"
finish ok
