#!/usr/bin/env bash
# The execution environment image (docs/examples/execution-environment.yml, built by scripts/ee.sh and
# cached by its inputs) running the lockdown job as Automation Platform runs it: ansible-navigator in
# stdout mode, and ansible-runner transmit | worker | process with the worker inside the image or
# starting it (process isolation). Hosts: stand-ins over OpenSSH on loopback.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
. "$ROOT/scripts/lib/toolvenv.sh"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh" podman sshd
t0=$(date +%s)
bash "$ROOT/scripts/ee.sh" >/dev/null
echo "execution environment image ready in $(( $(date +%s) - t0 )) s"
toolvenv navigator "ansible-navigator==26.10.0" "ansible-runner==2.4.3" >/dev/null
python -m pytest -q -p no:cacheprovider -p no:warnings -n 2 tests/e2e -m ee "$@"
