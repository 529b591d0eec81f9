#!/usr/bin/env bash
# Integration smoke on one ansible-core: build the collection with that core's ansible-galaxy, install it, and
# lock down a stand-in agent with the lockdown playbook over the local connection: check mode writes nothing,
# the run applies the defender profile (read back from the stand-in), a second run changes nothing.
#   core-smoke.sh VENV TREE     TREE: a copy of the collection's tracked files
set -euo pipefail
venv=$1 tree=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/ansible-galaxy" collection build "$tree" --output-path "$tmp/dist" >/dev/null
"$venv/bin/ansible-galaxy" collection install "$tmp"/dist/arcguard-azcmagent-*.tar.gz -p "$tmp/collections" --no-deps >/dev/null
standin=$tree/roles/emulator/files/azcmagent_standin
home=$tmp/host
mkdir -p "$home/var/opt/azcmagent" "$home/bin"
echo '{"extensions.allowlist": ["Microsoft.Azure.Extensions/CustomScript"]}' > "$home/var/opt/azcmagent/localconfig.json"
printf '#!/bin/sh\nAZCMAGENT_STANDIN_ROOT=%s exec %s %s "$@"\n' "$home" "$venv/bin/python" "$standin" > "$home/bin/azcmagent"
chmod 755 "$home/bin/azcmagent"
cat > "$tmp/inventory.yml" <<YAML
all:
  hosts:
    smoke01:
      ansible_connection: local
      ansible_python_interpreter: $venv/bin/python
      lockdown_executable: $home/bin/azcmagent
      lockdown_profile: defender
YAML
settings() { "$home/bin/azcmagent" config list --json; }
play() {
  ANSIBLE_COLLECTIONS_PATH=$tmp/collections ANSIBLE_NOCOLOR=1 ANSIBLE_STDOUT_CALLBACK=default \
    "$venv/bin/ansible-playbook" arcguard.azcmagent.lockdown -i "$tmp/inventory.yml" "$@" | tee "$tmp/out"
}
failures=0
fail() { echo "smoke FAILED: $*"; failures=$((failures + 1)); }
before=$(settings)
play --check --diff
grep -Eq 'smoke01 +: ok=[0-9]+ +changed=[1-9]' "$tmp/out" || fail "check mode reported no change"
[ "$(settings)" = "$before" ] || fail "check mode wrote to the agent"
play
after=$(settings)
"$venv/bin/python" - "$after" <<'PY' || fail "the agent does not hold the defender profile"
import json, sys
got = {e["Key"]: e["Value"] for e in json.loads(sys.argv[1])["LocalSettings"]}
allow = sorted(got.get("extensions.allowlist") or [])
assert allow == ["Microsoft.Azure.AzureDefenderForServers/MDE.Linux", "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"], allow
assert str(got.get("guestconfiguration.enabled")).lower() == "false", got
assert str(got.get("incomingconnections.enabled")).lower() == "false", got
PY
play
grep -Eq 'smoke01 +: ok=[0-9]+ +changed=0 ' "$tmp/out" || fail "the second run changed something"
[ "$(settings)" = "$after" ] || fail "the second run wrote to the agent"
[ $failures = 0 ] && echo "smoke: lockdown over the stand-in with ansible-core $("$venv/bin/python" -c "from ansible.release import __version__; print(__version__)"): ok"
exit $failures
