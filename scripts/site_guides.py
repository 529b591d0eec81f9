"""Put the guides of docs/ on the documentation site (scripts/docs.sh).

    python scripts/site_guides.py SPHINX_SOURCE_DIR

Copies every guide (docs/*.md, docs/dev/design.md) into SPHINX_SOURCE_DIR/guides/ for MyST, with their
images, writes guides/index.rst (the toctree, in the order of docs/docsite/guides.txt; a guide missing from
that list fails the build, so a new guide cannot be left off the site) and replaces the site's index.rst with
docs/site/index.rst. Links between guides stay links between pages; links to other files of the repository
(tests/, README.md, examples) point at the repository, as galaxy.yml names it.
"""

import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def repository():
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        for line in handle:
            if line.startswith("repository:"):
                return line.split(":", 1)[1].strip().rstrip("/")
    raise SystemExit("galaxy.yml has no repository")


def guides():
    """(page name, source path) in the order of docs/docsite/guides.txt."""
    with open(os.path.join(DOCS, "docsite", "guides.txt")) as handle:
        order = [line.split("#", 1)[0].strip() for line in handle]
    order = [name for name in order if name]
    found = {name[:-3]: os.path.join(DOCS, name) for name in os.listdir(DOCS) if name.endswith(".md")}
    found["design"] = os.path.join(DOCS, "dev", "design.md")
    missing = sorted(set(found) - set(order))
    unknown = sorted(set(order) - set(found))
    if missing or unknown:
        raise SystemExit("docs/docsite/guides.txt: add %s; remove %s" % (missing or "nothing", unknown or "nothing"))
    return [(name, found[name]) for name in order]


def rewrite(text, source, names, repo):
    """Relative links: to a guide stay (MyST resolves NAME.md), to anything else go to the repository."""
    base = os.path.dirname(source)

    def one(match):
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return match.group(0)
        path, _sep, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(base, path))
        rel = os.path.relpath(full, ROOT)
        stem = os.path.splitext(os.path.basename(full))[0]
        if full.endswith(".md") and stem in names and os.path.normpath(names[stem]) == full:
            new = stem + ".md" + ("#" + anchor if anchor else "")
        elif rel.startswith("docs" + os.sep + "images" + os.sep):
            new = "images/" + os.path.basename(full)
        else:
            kind = "tree" if os.path.isdir(full) else "blob"
            new = "%s/%s/main/%s%s" % (repo, kind, rel.replace(os.sep, "/"), "#" + anchor if anchor else "")
        return match.group(1) + new + match.group(3)

    return LINK.sub(one, text)


def main(argv):
    dest = argv[1]
    out = os.path.join(dest, "guides")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    shutil.copytree(os.path.join(DOCS, "images"), os.path.join(out, "images"))
    pages = guides()
    names = dict(pages)
    repo = repository()
    for name, source in pages:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
        with open(os.path.join(out, name + ".md"), "w", encoding="utf-8") as handle:
            handle.write(rewrite(text, source, names, repo))
    with open(os.path.join(out, "index.rst"), "w", encoding="utf-8") as handle:
        handle.write(".. _guides:\n\nGuides\n======\n\nThe collection's guides, as in the ``docs/`` folder of the repository.\n\n"
                     ".. toctree::\n   :maxdepth: 1\n\n")
        handle.writelines("   %s\n" % name for name, _source in pages)
    shutil.copy(os.path.join(DOCS, "site", "index.rst"), os.path.join(dest, "index.rst"))
    print("guides on the site: %d" % len(pages))


if __name__ == "__main__":
    main(sys.argv)
