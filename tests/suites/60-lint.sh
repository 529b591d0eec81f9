#!/usr/bin/env bash
# ansible-lint with the production profile on the whole collection, as Automation Hub's certification runs it
# (exclusions in .ansible-lint: build output, the virtual environment, test code that is not Ansible content).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
. "$ROOT/scripts/lib/toolvenv.sh"
cd "$ROOT"
bin=$(toolvenv lint "ansible-lint==26.10.1" "ansible-core==2.19.14" "ansible==12.3.0")
# lint against the collection as users install it; no Galaxy access needed
ANSIBLE_COLLECTIONS_PATH=$ROOT/build/collections PATH=$bin:$PATH \
  ansible-lint --offline --profile production
