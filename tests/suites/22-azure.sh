#!/usr/bin/env bash
# Azure: the arc inventory plugin (ansible-inventory --list/--graph, constructed, caching, paging over several
# pages, throttling, unreadable scopes, every sign-in source, no secret at -vvvv, the SDK-missing message),
# arc_machine_info, and the audit with audit_source host, azure and both, against the fake Azure on loopback
# (tests/lib/fakeazure.py) and stand-in agents.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
python -m pytest -q -p no:cacheprovider -n 2 tests/azure "$@"
