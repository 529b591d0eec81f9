#!/usr/bin/env bash
# ansible-test sanity and units on every ansible-core we claim (meta/runtime.yml), offline, each in its own
# virtual environment on a copy of the tracked files:
#   - 2.16 and 2.19 on this machine's Python (3.11);
#   - 2.20 and 2.21, which need Python 3.12 or later on the controller, in one session of the Debian 13 image
#     localhost/arcguard-trixie (Python 3.13; scripts/bootstrap.sh trixie, cached in build/image), with the
#     integration smoke (scripts/lib/core-smoke.sh: a lockdown over the stand-in) on the newest.
# The unit tests also run under plain pytest (10-unit.sh); here ansible-test installs
# tests/unit/requirements.txt into its own environment.
#   SANITY_CORES   cores on this machine (default "2.16.18 2.19.14"; empty: none)
#   TRIXIE_CORES   cores in the container (default "2.20.10 2.21.6"; empty: none); the last gets the smoke
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
. "$ROOT/scripts/lib/ansible-test-offline.sh"
. "$ROOT/scripts/lib/ansible-test-core.sh"
cd "$ROOT"
CORES=${SANITY_CORES-"2.16.18 2.19.14"}
TRIXIE=${TRIXIE_CORES-"2.20.10 2.21.6"}
status=0
for core in $CORES; do
  ansible_test_core "$core" python3
done
if [ -n "$TRIXIE" ]; then
  t0=$(date +%s)
  bash "$ROOT/scripts/bootstrap.sh" trixie
  # The same paths inside: the worktree at its own path (tool environments and trees under build/ persist and
  # are cached like on the host), /root from build/trixie-home (ansible-test's sanity environments), the
  # machine's CA bundle so that pip reaches the package index through whatever this machine trusts.
  mkdir -p "$ROOT/build/trixie-home"
  for core in $TRIXIE; do ansible_test_tree "$core" >/dev/null; done
  pip_env=()
  for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_DEFAULT_TIMEOUT; do
    if [ -n "${!var:-}" ]; then pip_env+=(-e "$var"); fi
  done
  podman run --rm --network=host -v "$ROOT:$ROOT" -v "$ROOT/build/trixie-home:/root" \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -e PIP_CERT=/etc/ssl/certs/ca-certificates.crt -e SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    -e HOME=/root -e ROOT="$ROOT" -e ANSIBLE_TEST_TREES_READY=1 -e TRIXIE="$TRIXIE" "${pip_env[@]}" -w /root localhost/arcguard-trixie \
    bash -c 'set -euo pipefail
      . "$ROOT/scripts/lib/ansible-test-offline.sh"; . "$ROOT/scripts/lib/ansible-test-core.sh"
      status=0; set -- $TRIXIE
      for core in "$@"; do
        if [ "$core" = "${!#}" ]; then ansible_test_core "$core" python3 smoke; else ansible_test_core "$core" python3; fi
      done
      exit $status' || status=1
  echo "Debian 13 container session ($TRIXIE): $(( $(date +%s) - t0 )) s"
fi
exit $status
