#!/usr/bin/env bash
# Build the collection's documentation site the way the Ansible docs are built: antsibull-docs sphinx-init
# (--use-current: the collection as it is in this checkout) and the build.sh it writes (sphinx-build).
#
#   scripts/docs-site.sh [DEST]        # default DEST: .cache/docs-site; HTML in DEST/build/html
#
# The Sphinx packages live in their own venv (.cache/docs-venv, from the requirements.txt that sphinx-init writes
# plus this repo's ansible-core and antsibull-docs pins); first run about 1 minute. Offline, intersphinx cannot
# fetch the inventories of docs.ansible.com and docs.python.org: those warnings are expected, nothing else is.
# Prints the build's warnings and ends non-zero when there is any other.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
# shellcheck source=scripts/env.sh
source "$REPO/scripts/env.sh"

DEST="$(mkdir -p "${1:-$REPO/.cache/docs-site}" && cd "${1:-$REPO/.cache/docs-site}" && pwd -P)"
DOCS_VENV="$REPO/.cache/docs-venv"
PINS=$(grep -iE '^(ansible-core|antsibull-docs)==' "$REPO/requirements-dev.txt")

rm -rf "$DEST"/*
antsibull-docs sphinx-init --use-current --dest-dir "$DEST" hostgw.network >/dev/null
want=$( { cat "$DEST/requirements.txt"; printf '%s\n' "$PINS"; } | sha256sum | cut -d' ' -f1)
if [[ ! -x $DOCS_VENV/bin/python || $(cat "$DOCS_VENV/.hostgw-requirements.sha256" 2>/dev/null) != "$want" ]]; then
    echo "==> installing the docs build requirements into ${DOCS_VENV#"$REPO"/}"
    rm -rf "$DOCS_VENV"
    "$VENV/bin/python" -m venv "$DOCS_VENV"
    printf '%s\n' "$PINS" >"$DOCS_VENV/pins.txt"
    "$DOCS_VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$DEST/requirements.txt" \
        -r "$DOCS_VENV/pins.txt"
    printf '%s\n' "$want" >"$DOCS_VENV/.hostgw-requirements.sha256"
fi

log="$DEST/build.log"
rc=0
(cd "$DEST" && PATH="$DOCS_VENV/bin:$PATH" VIRTUAL_ENV="$DOCS_VENV" ./build.sh) >"$log" 2>&1 || rc=$?
# build.sh runs sphinx-build -W --keep-going: offline, it always "finishes with problems". Expected offline: the
# intersphinx inventories it cannot fetch, and the labels that live in those inventories (Ansible's and Python's
# docs: common_return_values, ansible.builtin modules...). A label of this collection that is undefined is real.
warnings=$(grep -iE 'warning|error' "$log" | grep -v '^build finished with problems' || true)
other=$(printf '%s\n' "$warnings" |
        grep -viE 'intersphinx|objects\.inv|failed to reach any of the inventories' |
        awk 'NF && (!/undefined label: / || /undefined label: .ansible_collections[.]hostgw[.]network[.]/)' || true)
[[ -z $other ]] || printf '%s\n' "$other"
echo "docs site: $(printf '%s' "$warnings" | grep -c 'WARNING' || true) Sphinx warnings, of them" \
     "$(printf '%s' "$other" | grep -c . || true) not caused by offline intersphinx; HTML in $DEST/build/html; log $log"
[[ -f $DEST/build/html/index.html && -z $other ]]
