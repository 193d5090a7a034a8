#!/usr/bin/env bash
# Builds docker/Dockerfile without network access, as localhost/lifeboat:test (or $IMAGE), with
# podman: the Dockerfile's `build` stage (a Rust image this machine cannot pull) is replaced
# through --build-context by a folder holding a static binary built here with the installed
# toolchain, laid out by the same docker/stage-image.sh. The final stage is `scratch`, so
# nothing is pulled and the image is the one `docker build` makes.
#
# Uses podman as configured for the caller (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF). Needs
# cargo, podman and setcap (libcap2-bin). Prints the image's size in bytes at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

image=${IMAGE:-localhost/lifeboat:test}
# The machine's own architecture, as in the Dockerfile.
target=$(rustc -vV | sed -n 's/^host: //p')

echo "[build-offline] building a static lifeboat (profile image: one unit, link-time optimized)" >&2
RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --profile image --locked -p lifeboat --target "$target"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
docker/stage-image.sh "target/$target/image/lifeboat" "$stage/out"

echo "[build-offline] podman build -t $image" >&2
# --format docker keeps the HEALTHCHECK (the OCI format has none).
podman build --quiet --format docker --network none --pull=never \
    --build-context "build=$stage" -f docker/Dockerfile -t "$image" . >&2
podman image inspect --format '{{.Size}}' "$image"
