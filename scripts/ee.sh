#!/usr/bin/env bash
# Build the execution environment image localhost/arcguard-ee from docs/examples/execution-environment.yml
# with ansible-builder and podman, without any image registry. Cached: build/ee/inputs records a hash of
# the inputs (the definition, the collection tarball's contents with its EE requirements, the base image)
# and the image built from them; the image is rebuilt only when the hash or the image changed.
#
#   bash scripts/ee.sh            build if needed; prints the image name
#   bash scripts/ee.sh --force    build even if the image is current
#
# Needs root, podman (scripts/bootstrap.sh podman image) and the built collection (scripts/bootstrap.sh
# collection). The first build takes several minutes (ansible-core, ansible-runner and the collection's
# Python requirements come from the package index); later builds reuse podman's layer cache.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"
# shellcheck source=scripts/lib/toolvenv.sh
. "$ROOT/scripts/lib/toolvenv.sh"
log() { printf '[ee] %s\n' "$*" >&2; }

IMAGE=${ARCGUARD_EE_IMAGE:-localhost/arcguard-ee:latest}
BASE=localhost/arcguard-ee-base:latest
DEBIAN=localhost/arcguard-debian
DEFINITION=$ROOT/docs/examples/execution-environment.yml
WORK=$ROOT/build/ee
# the machine's CA bundle, mounted into the build's RUN steps so that pip reaches the package index
# through whatever TLS interception the network has; the image keeps Debian's own bundle
HOST_CA=/etc/ssl/certs/ca-certificates.crt
force=0
[ "${1:-}" = --force ] && force=1

mkdir -p "$WORK"
exec 9>"$WORK/.lock"
flock 9  # one build at a time on this machine

label() {  # label NAME IMAGE -> the label's value, empty if the image or label is missing
  podman image inspect --format "{{index .Config.Labels \"$1\"}}" "$2" 2>/dev/null | sed 's/^<no value>$//' || true
}

ca_mount=()
[ -f "$HOST_CA" ] && ca_mount=(-v "$HOST_CA:/etc/ssl/certs/ca-certificates.crt:ro")

# 1. base image: the debootstrap Debian image plus pip, venv and the OpenSSH client (apt over http)
bash "$ROOT/scripts/bootstrap.sh" image
base_pkgs="python3-pip python3-venv openssh-client ca-certificates"
base_want=$(printf '%s\n%s\n' "$(podman image inspect --format '{{.Id}}' "$DEBIAN")" "$base_pkgs" | sha256sum | cut -d' ' -f1)
if [ "$(label arcguard.ee.base "$BASE")" != "$base_want" ]; then
  log "building $BASE from $DEBIAN ($base_pkgs)"
  mkdir -p "$WORK/base"
  cat > "$WORK/base/Containerfile" <<EOF
FROM $DEBIAN
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $base_pkgs \\
 && apt-get clean && rm -rf /var/lib/apt/lists/*
LABEL arcguard.ee.base=$base_want
EOF
  podman build -q -t "$BASE" "$WORK/base" >"$WORK/base.log" 2>&1 || { tail -30 "$WORK/base.log" >&2; exit 1; }
fi

# 2. the collection as built (scripts/bootstrap.sh collection), under a name the definition knows
tarball=$(ls -t "$ROOT"/build/dist/arcguard-azcmagent-*.tar.gz 2>/dev/null | head -1 || true)
[ -n "$tarball" ] || { log "no collection tarball in build/dist: run scripts/bootstrap.sh collection"; exit 1; }
mkdir -p "$WORK/collection"
cp "$tarball" "$WORK/collection/arcguard-azcmagent.tar.gz"

# 3. inputs hash: file contents only (a rebuilt tarball with the same files has other mtimes, same hash)
want=$(python3 - "$DEFINITION" "$ROOT/docs/examples/ee-pkgmgr" "$WORK/collection/arcguard-azcmagent.tar.gz" \
         "$(podman image inspect --format '{{.Id}}' "$BASE")" <<'PY'
import hashlib, os, sys, tarfile
definition, pkgmgr, tarball, base_id = sys.argv[1:]
h = hashlib.sha256()
for path in (definition, pkgmgr):
    with open(path, "rb") as handle:
        h.update(handle.read())
with tarfile.open(tarball) as tar:
    for member in sorted(tar.getmembers(), key=lambda m: m.name):
        h.update(member.name.encode() + b"\0" + str(member.mode).encode())
        if member.isfile():
            h.update(tar.extractfile(member).read())
h.update(base_id.encode())
print(h.hexdigest())
PY
)
stamp=$WORK/inputs
have=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
if [ $force = 0 ] && [ -n "$have" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want $have" ]; then
  log "$IMAGE is current (inputs $want)"
  echo "$IMAGE"
  exit 0
fi

# 4. ansible-builder: create the context, then build with podman
bin=$(toolvenv builder "ansible-builder==3.2.0")
log "building $IMAGE with ansible-builder (several minutes the first time; log in $WORK/build.log)"
start=$(date +%s)
rm -rf "$WORK/context"
extra="${ca_mount[*]}"
if ! "$bin/ansible-builder" build -f "$DEFINITION" -c "$WORK/context" --container-runtime podman \
    -t "$IMAGE" --extra-build-cli-args="$extra" -v 3 >"$WORK/build.log" 2>&1; then
  tail -40 "$WORK/build.log" >&2
  log "build failed (full log: $WORK/build.log)"
  exit 1
fi
echo "$want $(podman image inspect --format '{{.Id}}' "$IMAGE")" > "$stamp"
log "$IMAGE built in $(( $(date +%s) - start )) s"
echo "$IMAGE"
