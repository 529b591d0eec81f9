#!/usr/bin/env bash
# The changelog: fragments lint clean; the committed CHANGELOG.rst is what antsibull-changelog generates from
# changelogs/changelog.yaml; fragments added after the last release render in the next one.
# antsibull-changelog works on scratch copies of the tracked files (it copies the collection, build/ included,
# to ask ansible-doc about new plugins; build/ holds tool environments and container root file systems).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
. "$ROOT/scripts/lib/toolvenv.sh"
cd "$ROOT"
bin=$(toolvenv changelog "antsibull-changelog==0.36.0")
passed=0
scratch() {
  local dir
  dir=$(mktemp -d)
  git ls-files -z | xargs -0 cp --parents -t "$dir"
  mkdir -p "$dir/changelogs/fragments"
  # the fragments of the working tree too, committed or not
  cp changelogs/fragments/*.y*ml "$dir/changelogs/fragments/" 2>/dev/null || true
  echo "$dir"
}
echo "--- antsibull-changelog lint"
"$bin/antsibull-changelog" lint
passed=$((passed + 1))

echo "--- CHANGELOG.rst is generated from changelogs/changelog.yaml"
tmp=$(scratch)
(cd "$tmp" && "$bin/antsibull-changelog" generate)
if ! diff -u CHANGELOG.rst "$tmp/CHANGELOG.rst"; then
  echo "CHANGELOG.rst differs from what antsibull-changelog generate writes: run it and commit the result"; exit 1
fi
rm -rf "$tmp"
passed=$((passed + 1))

echo "--- a fragment added after the last release renders in the next one"
tmp=$(scratch)
last=$(awk '/^releases:/ { r = 1; next } r && /^  [0-9]+\.[0-9]+\.[0-9]+:/ { v = $1 } END { sub(":", "", v); print v }' \
  changelogs/changelog.yaml)
IFS=. read -r major minor _patch <<<"$last"
next=$major.$((minor + 1)).0
cat > "$tmp/changelogs/fragments/zz-suite-check.yml" <<'YAML'
---
minor_changes:
  - changelog suite - a fragment written after the release of version LAST.
YAML
sed -i "s/LAST/$last/" "$tmp/changelogs/fragments/zz-suite-check.yml"
(cd "$tmp" && "$bin/antsibull-changelog" lint && "$bin/antsibull-changelog" release --version "$next" --date 2027-01-01)
grep -q "^v$next\$" "$tmp/CHANGELOG.rst" || { echo "no v$next section"; exit 1; }
grep -q "a fragment written after the release of version $last" "$tmp/CHANGELOG.rst" || { echo "fragment missing"; exit 1; }
grep -q "^v$last\$" "$tmp/CHANGELOG.rst" || { echo "v$last lost"; exit 1; }
# every fragment of the working tree went into the next release and none is left behind
left=$(find "$tmp/changelogs/fragments" -name '*.y*ml' | wc -l)
[ "$left" = 0 ] || { echo "fragments left after release: $left"; exit 1; }
# (no pipe into head: with pipefail, sed killed by a closed pipe would fail the suite on a long section)
sed -n "/^v$next\$/,/^v$last\$/p" "$tmp/CHANGELOG.rst" > "$tmp/next-section.txt"
head -n 40 "$tmp/next-section.txt"
rm -rf "$tmp"
passed=$((passed + 1))
echo "changelog: $passed passed, 0 failed"
