#!/usr/bin/env bash
# Install what the demo and the tests need, on a fresh Debian machine (run as root).
# Idempotent and cached: a second call does nothing that is already done.
#
#   scripts/bootstrap.sh [python] [collection] [podman] [image] [chromium] [sshd] [java]
#
#   python      .venv with requirements-dev.txt (pinned)
#   collection  build the collection tarball and install it into build/collections
#   podman      podman, runc, debootstrap from Debian packages
#   image       the local Debian container image localhost/arcguard-debian (no registry needed)
#   trixie      the Debian 13 image localhost/arcguard-trixie (Python 3.13, for ansible-core 2.20 and later)
#   chromium    Debian's headless Chromium (for the audit report tests)
#   java        Debian's OpenJDK 17 runtime (ansible-rulebook's rule engine runs on it: drift watch tests)
#   sshd        OpenSSH's server binary (the Windows-over-SSH tests start their own sshd; the system
#               service is neither enabled nor started)
#   ee          the execution environment image localhost/arcguard-ee (scripts/ee.sh; cached by its inputs)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.venv
BUILD=$ROOT/build
mkdir -p "$BUILD"
log() { printf '[bootstrap] %s\n' "$*" >&2; }

apt_ready=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "need root to install: ${missing[*]}"; return 1
  fi
  if [ $apt_ready = 0 ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    apt_ready=1
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

do_python() {
  local stamp="$VENV/.arcguard-requirements"
  local want
  want=$(sha256sum "$ROOT/requirements-dev.txt" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/ansible-playbook" ]; then
    return 0
  fi
  if ! python3 -c 'import ensurepip' 2>/dev/null; then apt_install python3-venv; fi
  [ -x "$VENV/bin/python" ] || { log "creating $VENV"; python3 -m venv "$VENV"; }
  log "installing Python requirements (a few minutes on a fresh machine)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements-dev.txt"
  echo "$want" > "$stamp"
}

do_collection() {
  # Build from a clean copy of the tracked files and install the tarball, so tests run what users get.
  local dest=$BUILD/collections
  rm -rf "$BUILD/dist" "$dest/ansible_collections/arcguard"
  mkdir -p "$BUILD/dist" "$dest"
  "$VENV/bin/ansible-galaxy" collection build "$ROOT" --output-path "$BUILD/dist" --force >/dev/null
  ANSIBLE_COLLECTIONS_PATH=$dest "$VENV/bin/ansible-galaxy" collection install "$BUILD"/dist/arcguard-azcmagent-*.tar.gz \
    -p "$dest" --force --no-deps >/dev/null
  log "collection built and installed in $dest"
}

do_podman() {
  apt_install podman runc debootstrap uidmap slirp4netns fuse-overlayfs
}

# debootstrap SUITE with Python into build/image/debian-SUITE.tar (cached) and import it as IMAGE
debian_image() {
  local suite=$1 image=$2 extra=${3:-}
  do_podman
  export CONTAINERS_CONF=$ROOT/tests/containers.conf
  if podman image exists "$image" 2>/dev/null; then return 0; fi
  local cache=$BUILD/image/debian-$suite.tar
  if [ ! -f "$cache" ]; then
    local dir=$BUILD/image/rootfs-$suite
    rm -rf "$dir"; mkdir -p "$dir"
    log "debootstrap $suite (about a minute)"
    debootstrap --variant=minbase --include=python3${extra:+,$extra} "$suite" "$dir" >"$BUILD/image/debootstrap-$suite.log" 2>&1 \
      || { tail -20 "$BUILD/image/debootstrap-$suite.log" >&2; return 1; }
    tar -C "$dir" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
    rm -rf "$dir"
  fi
  podman import "$cache" "$image" >/dev/null
  log "image $image ready"
}

do_image() {
  debian_image bookworm localhost/arcguard-debian
}

do_trixie() {
  # ansible-core 2.20 and later need Python 3.12 or later on the controller; Debian 13 has 3.13.
  # git for ansible-test's tree, venv for its environments; pip reaches PyPI through the host's CA bundle.
  debian_image trixie localhost/arcguard-trixie python3-venv,git,ca-certificates
}

do_chromium() {
  apt_install chromium chromium-driver fonts-dejavu-core
}

do_sshd() {
  # Debian's ssh init script and systemd unit do nothing while /etc/ssh/sshd_not_to_be_run exists: create it
  # before a fresh install so that installing the package does not start (or, at boot, run) a system sshd.
  # A machine that already has openssh-server keeps its own setup.
  if ! dpkg-query -W -f='${Status}' openssh-server 2>/dev/null | grep -q "install ok installed" \
      && [ "$(id -u)" = 0 ] && [ ! -e /etc/ssh/sshd_config ]; then
    mkdir -p /etc/ssh
    touch /etc/ssh/sshd_not_to_be_run
    log "created /etc/ssh/sshd_not_to_be_run: the system sshd stays off"
  fi
  apt_install openssh-server
  # the hostile suite runs the target-side output filter under every awk a target may have
  apt_install gawk busybox original-awk
}

do_java() {
  apt_install openjdk-17-jre-headless
}

[ $# -gt 0 ] || set -- python collection
for what in "$@"; do
  case $what in
    python) do_python ;;
    collection) do_python; do_collection ;;
    podman) do_podman ;;
    image) do_image ;;
    trixie) do_trixie ;;
    chromium) do_chromium ;;
    sshd) do_sshd ;;
    java) do_java ;;
    ee) do_python; do_collection; bash "$ROOT/scripts/ee.sh" >/dev/null ;;
    *) log "unknown component: $what"; exit 2 ;;
  esac
done
