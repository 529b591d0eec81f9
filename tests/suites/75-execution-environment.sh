#!/usr/bin/env bash
# The collection's execution-environment metadata is what ansible-builder reads: introspect the
# installed collection and check it reports our Python requirements.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
. "$ROOT/scripts/lib/toolvenv.sh"
cd "$ROOT"
bin=$(toolvenv builder "ansible-builder==3.2.0")
out=$("$bin/ansible-builder" introspect "$ROOT/build/collections")
echo "$out"
echo "$out" | grep -q "pywinrm" && echo "$out" | grep -q "jmespath"
echo "execution environment: 1 passed, 0 failed"
