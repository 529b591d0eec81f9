#!/usr/bin/env bash
# Windows end to end: Ansible's winrm connection against the WinRM test endpoint
# (module, role with every profile, errors, quoting, mixed fleet) and the endpoint's own tests;
# Ansible's ssh connection with the powershell shell against a real sshd on loopback (test_windows_ssh.py).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh" sshd
python -m pytest -q -p no:cacheprovider -p no:warnings -n 2 tests/component tests/e2e \
  -m "windows and not (azure or drift or onboarding or hostile)" "$@"
