#!/usr/bin/env bash
# ansible-lint with the production profile on the roles, playbooks and molecule scenarios.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
. "$ROOT/scripts/lib/toolvenv.sh"
cd "$ROOT"
bin=$(toolvenv lint "ansible-lint==26.10.1" "ansible-core==2.19.14" "ansible==12.3.0")
# lint against the collection as users install it; no Galaxy access needed
ANSIBLE_COLLECTIONS_PATH=$ROOT/build/collections PATH=$bin:$PATH \
  ansible-lint --offline --profile production roles/ playbooks/ molecule/
