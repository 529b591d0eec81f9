#!/usr/bin/env bash
# Hostile: proxy passwords of every alphabet, through every option that carries them, at verbosity 0 to 6, over
# the local, ssh (a loopback sshd) and winrm (the WinRM test endpoint) connections never reach any output, while
# the agent gets them and a rerun changes nothing (hypothesis, bounded example counts); a table of bad inputs ends
# in messages naming the option, never a traceback; the remote filters against the agent's own output.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh" sshd
python -m pytest -q -p no:cacheprovider -p no:warnings -n 2 tests/hostile "$@"
