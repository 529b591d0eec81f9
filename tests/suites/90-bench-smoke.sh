#!/usr/bin/env bash
# A small run of the fleet benchmark: the harness works and the counts hold (one azcmagent invocation and
# one remote command per converged host; writes only where hosts drifted; the naive approach writes on
# every run). Wall-time ratios are printed, never asserted (see docs/performance.md for measured figures).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
out=$ROOT/build/bench-smoke
python bench/fleet.py --hosts 12 --repeat 1 --out "$out"
python - "$out/fleet-12.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
checks = {
    "converged module: 1 azcmagent call per host": r["module"]["max_azcmagent_per_host"] == 1,
    "converged module: 1 remote command per host": r["module"]["remote_commands_per_host"] == 1,
    "converged role: 1 azcmagent call per host": r["role"]["max_azcmagent_per_host"] == 1,
    "converged role: 1 remote command per host": r["role"]["remote_commands_per_host"] == 1,
    "converged role: nothing changed": r["role"]["hosts_changed"] == 0 and r["role"]["writes_per_host"] == 0,
    "converged fleet playbook: 1 azcmagent call and 1 remote command per host, nothing changed":
        r["playbook"]["max_azcmagent_per_host"] == 1 and r["playbook"]["remote_commands_per_host"] == 1
        and r["playbook"]["hosts_changed"] == 0,
    "drifted role: at most 2 remote commands per host": r["drifted"]["remote_commands_per_host"] <= 2,
    "drifted role: every host changed": r["drifted"]["hosts_changed"] == 12,
    "naive: writes on a converged fleet": r["naive"]["writes_per_host"] == 4,
    "floor: 1 azcmagent call": r["floor"]["max_azcmagent_per_host"] == 1,
}
failed = [k for k, ok in checks.items() if not ok]
for k, ok in checks.items():
    print(("ok   " if ok else "FAIL ") + k)
print("bench smoke: %d passed, %d failed" % (len(checks) - len(failed), len(failed)))
sys.exit(1 if failed else 0)
PY
