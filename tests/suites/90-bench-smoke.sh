#!/usr/bin/env bash
# A small run of the fleet benchmark: the harness works and the counts hold (one azcmagent invocation and
# one remote command per converged host; writes only where hosts drifted; the naive approach writes on
# every run), over the local connection and over OpenSSH on loopback (one sshd per 16 hosts).
# Wall-time ratios are printed, never asserted (see docs/performance.md for measured figures).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh" sshd
out=$ROOT/build/bench-smoke
python bench/fleet.py --hosts 12 --repeat 1 --connection local --out "$out/local"
# over ssh: counts only, and without the naive run (the slowest, its counts are the same as locally)
python bench/fleet.py --hosts 20 --repeat 1 --connection ssh --kinds floor,module,role,playbook,drifted \
  --out "$out/ssh"
python - "$out/local/fleet-12.json" "$out/ssh/fleet-20.json" <<'PY'
import json, sys
local = json.load(open(sys.argv[1]))["results"]["local"]
ssh = json.load(open(sys.argv[2]))["results"]["ssh"]
checks = {}
for name, r, n in (("local", local, 12), ("ssh", ssh, 20)):
    checks.update({
        "%s converged module: 1 azcmagent call per host" % name: r["module"]["max_azcmagent_per_host"] == 1,
        "%s converged module: 1 remote command per host" % name: r["module"]["remote_commands_per_host"] == 1,
        "%s converged role: 1 azcmagent call per host" % name: r["role"]["max_azcmagent_per_host"] == 1,
        "%s converged role: 1 remote command per host" % name: r["role"]["remote_commands_per_host"] == 1,
        "%s converged role: nothing changed" % name: r["role"]["hosts_changed"] == 0
        and r["role"]["writes_per_host"] == 0,
        "%s converged fleet playbook: 1 azcmagent call and 1 remote command per host, nothing changed" % name:
            r["playbook"]["max_azcmagent_per_host"] == 1 and r["playbook"]["remote_commands_per_host"] == 1
            and r["playbook"]["hosts_changed"] == 0,
        "%s drifted role: at most 2 remote commands per host" % name: r["drifted"]["remote_commands_per_host"] <= 2,
        "%s drifted role: every host changed" % name: r["drifted"]["hosts_changed"] == n,
        "%s floor: 1 azcmagent call, 1 remote command" % name: r["floor"]["max_azcmagent_per_host"] == 1
        and r["floor"]["remote_commands_per_host"] == 1,
    })
checks["local naive: writes on a converged fleet"] = local["naive"]["writes_per_host"] == 4
failed = [k for k, ok in checks.items() if not ok]
for k, ok in checks.items():
    print(("ok   " if ok else "FAIL ") + k)
print("bench smoke: %d passed, %d failed" % (len(checks) - len(failed), len(failed)))
sys.exit(1 if failed else 0)
PY
