#!/usr/bin/env bash
# The built collection is installed and its content is visible to Ansible.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
ansible-doc arcguard.azcmagent.azcmagent_config >/dev/null
ansible-galaxy collection list arcguard.azcmagent 2>/dev/null | grep -q 'arcguard.azcmagent *0.1.0'
echo "smoke: 2 passed, 0 failed"
