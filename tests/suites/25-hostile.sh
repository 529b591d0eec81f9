#!/usr/bin/env bash
# Hostile (docs/security.md), every test marked hostile: proxy passwords of every alphabet, through every option that carries them, at verbosity 0 to 6, over
# the local, ssh (a loopback sshd) and winrm (the WinRM test endpoint) connections never reach any output, while
# the agent gets them and a rerun changes nothing (hypothesis, bounded example counts); a table of bad inputs ends
# in messages naming the option, never a traceback; the remote filters against the agent's own output;
# never weaker than asked, check mode is the run, interrupts at every step, precedence of task options over
# overrides over profiles and reset.yml, reports that survive any bytes (bounded example counts,
# HOSTILE_EXAMPLES raises them).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh" sshd
python -m pytest -q -p no:cacheprovider -p no:warnings -n 2 tests/component tests/e2e -m hostile "$@"
