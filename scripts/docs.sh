#!/usr/bin/env bash
# Build the HTML documentation site into docs/_site: our index (docs/site/index.rst), the guides of docs/
# (scripts/site_guides.py, in the order of docs/docsite/guides.txt), and the module, plugin, role and playbook
# docs with the collection's extra docs and links (docs/docsite/) rendered by antsibull-docs with Sphinx; after
# checking the collection docs with antsibull-docs' linter. Any Sphinx warning fails the build.
#   bash scripts/docs.sh            lint and build
#   bash scripts/docs.sh lint       lint only
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/bootstrap.sh" python collection
. "$ROOT/scripts/env.sh"
. "$ROOT/scripts/lib/toolvenv.sh"
bin=$(toolvenv docs "antsibull-docs==2.28.0" "ansible-core==2.19.14" "sphinx==8.2.3" "sphinx-ansible-theme==0.10.4" \
  "antsibull-docs-parser" "myst-parser")
export PATH=$bin:$PATH
installed=$ROOT/build/collections/ansible_collections/arcguard/azcmagent
echo "--- docs/extensions.md is what the extension catalog gives"
"$VENV/bin/python" "$ROOT/scripts/catalog_docs.py" --check
echo "--- antsibull-docs lint-collection-docs"
antsibull-docs lint-collection-docs --plugin-docs --skip-rstcheck "$installed"
[ "${1:-}" = lint ] && exit 0
src=$ROOT/build/docs-src
rm -rf "$src"; mkdir -p "$src"
echo "--- antsibull-docs sphinx-init + sphinx-build"
antsibull-docs sphinx-init --use-current --dest-dir "$src" --project "arcguard.azcmagent" \
  --copyright "arcguard maintainers" --title "arcguard.azcmagent" --html-short-title "arcguard.azcmagent" \
  --fail-on-error arcguard.azcmagent >/dev/null
# Offline, Sphinx cannot fetch the intersphinx inventory of Ansible's own documentation: the labels the
# generated pages refer to (action_plugins, common_return_values, ...) are defined by a page of ours that
# links to the published pages, added after antsibull-docs has written rst/. Any warning fails the build.
echo "intersphinx_mapping = {}  # offline build" >> "$src/conf.py"
# Then the guides of docs/ (MyST) and our own index page (scripts/site_guides.py).
sed -i 's|^# Build Sphinx site|cp "'"$ROOT"'/docs/site/ansible-references.rst" rst/\n"'"$VENV"'/bin/python" "'"$ROOT"'/scripts/site_guides.py" rst\n&|' \
  "$src/build.sh"
cat >> "$src/conf.py" <<'PY'
extensions.append('myst_parser')  # the guides of docs/ are Markdown
myst_heading_anchors = 4          # links to a guide's section, as GitHub renders them
# a code block the lexer cannot read whole (JSON with "..." elided) is still shown, only less coloured
suppress_warnings = ['misc.highlighting_failure']
PY
sed -i 's/ -W --keep-going$/ -W --keep-going -w sphinx-warnings.txt/' "$src/build.sh"
(cd "$src" && bash build.sh) || { echo "Sphinx warnings:"; cat "$src/sphinx-warnings.txt"; exit 1; }
rm -rf "$ROOT/docs/_site"
cp -r "$src/build/html" "$ROOT/docs/_site"
echo "documentation site: $ROOT/docs/_site/index.html"
