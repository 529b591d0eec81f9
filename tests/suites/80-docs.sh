#!/usr/bin/env bash
# The documentation site: antsibull-docs lint clean, and the HTML site builds with no Sphinx warning
# (scripts/docs.sh); then what a reader finds on it.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
bash "$ROOT/scripts/docs.sh"
site=$ROOT/docs/_site
passed=0; failed=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); else echo "FAIL: $1"; failed=$((failed + 1)); fi
}
check "module page" test -s "$site/collections/arcguard/azcmagent/azcmagent_config_module.html"
check "role page" test -s "$site/collections/arcguard/azcmagent/lockdown_role.html"
check "inventory plugin page" test -s "$site/collections/arcguard/azcmagent/arc_inventory.html"
# the index is ours: what the collection is, the first playbook, where to go next; not antsibull's boilerplate
check "index: the first playbook" grep -q "The first playbook" "$site/index.html"
check "index: where to go next" grep -q "Where to go next" "$site/index.html"
check "index: no boilerplate" bash -c '! grep -q "Welcome to my Ansible collection" "$0"' "$site/index.html"
# every guide of docs/ is a page, and links between guides lead to pages that exist
for md in "$ROOT"/docs/*.md "$ROOT/docs/dev/design.md"; do
  name=$(basename "$md" .md)
  check "guide $name on the site" test -s "$site/guides/$name.html"
done
check "links between guides resolve" bash -c '! grep -rhoE "href=\"[a-z_-]+\.md(#[^\"]*)?\"" "$0"/guides/*.html | grep -q .' "$site"
check "the security guide's boundary table" grep -q "the agent&#8217;s own command line\|the agent.s own command line" \
  "$site/guides/security.html"
# the collection's page carries its extra docs and links (docs/docsite/)
check "collection page: guides" grep -q "docsite/guides.html" "$site/collections/arcguard/azcmagent/index.html"
check "collection page: changelog link" grep -q "CHANGELOG.rst" "$site/collections/arcguard/azcmagent/index.html"
echo "docs: $passed passed, $failed failed"
[ "$failed" = 0 ]
