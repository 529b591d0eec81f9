#!/usr/bin/env bash
# Changelog fragments are valid and CHANGELOG.md can be generated from them.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
. "$ROOT/scripts/lib/toolvenv.sh"
cd "$ROOT"
bin=$(toolvenv changelog "antsibull-changelog==0.36.0")
"$bin/antsibull-changelog" lint
# generate into a scratch copy, so the tree keeps its fragments until a release is cut
tmp=$(mktemp -d)
git ls-files -z | xargs -0 cp --parents -t "$tmp"
(cd "$tmp" && "$bin/antsibull-changelog" release --version 0.1.0 --date 2026-11-24 && test -s CHANGELOG.md && head -20 CHANGELOG.md)
rm -rf "$tmp"
echo "changelog: 2 passed, 0 failed"
