#!/usr/bin/env bash
# Lays out the final image's files under OUT from a static lifeboat binary, for the Dockerfile's
# build stage and for build-offline.sh alike (so both images are the same):
#   OUT/usr/local/bin/lifeboat  root-owned, mode 0755, with the file capabilities
#                               cap_net_bind_service and cap_net_raw as *permitted* only; lifeboat
#                               raises them itself at start and names any the runtime withheld
#                               (a binary with *effective* file capabilities would not even start
#                               when one is dropped: the kernel refuses to run it)
#   OUT/data                    owned by 65532, the image's user (database, uploads)
#   OUT/srv/tftp                the images, read-only to lifeboat unless uploads go there
#   OUT/tmp                     mode 1777, for SQLite's temporary files
set -euo pipefail
if (($# != 2)); then
    echo "usage: $0 LIFEBOAT_BINARY OUT" >&2
    exit 64
fi
binary=$1 out=$2
image_user=65532

if readelf --dynamic "$binary" | grep -q '(NEEDED)'; then
    echo "$binary is dynamically linked; the image has no libraries: build it with RUSTFLAGS='-C target-feature=+crt-static'" >&2
    exit 1
fi
rm -rf "$out"
install -d -m 0755 "$out/usr/local/bin" "$out/srv/tftp"
install -m 0755 "$binary" "$out/usr/local/bin/lifeboat"
# Symbols too: nobody reads a backtrace in the appliance (errors are sentences), and they are
# a fifth of the binary.
strip --strip-all "$out/usr/local/bin/lifeboat"
# Permitted, not effective: lifeboat raises what the runtime grants (cap_net_admin only where
# cap_add gives it, for "Answer at": taking the address a device wants) and names what is missing.
setcap cap_net_bind_service,cap_net_raw,cap_net_admin=p "$out/usr/local/bin/lifeboat"
install -d -m 0750 -o "$image_user" -g "$image_user" "$out/data"
install -d -m 1777 "$out/tmp"
