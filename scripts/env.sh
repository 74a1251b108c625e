# shellcheck shell=bash
# Environment for working in this repo. Source it, don't run it:
#     source scripts/env.sh
# Works from any clone directory and under `set -euo pipefail` in the caller.
# Exports REPO, VENV, VENV_DEB, PATH (.venv/bin first), the collection path (with
# hostgw.network linked to this checkout), and keeps Ansible/Molecule state under .cache/
# instead of $HOME, so nothing writes to ~/.ansible (CI may run with any HOME).
# Run scripts/bootstrap.sh first on a new machine.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export REPO
export VENV="$REPO/.venv"
export VENV_DEB="$REPO/.venv-deb"
export VIRTUAL_ENV="$VENV"
unset PYTHONHOME
case "${PATH:-}" in
    "$VENV/bin:"*) ;;
    *) export PATH="$VENV/bin${PATH:+:$PATH}" ;;
esac

# Collections: containers.podman (extracted by bootstrap.sh) and this repo as hostgw.network.
export ANSIBLE_COLLECTIONS_PATH="$REPO/.cache/collections"
_hostgw_link="$ANSIBLE_COLLECTIONS_PATH/ansible_collections/hostgw/network"
if [[ "$(readlink "$_hostgw_link" 2>/dev/null || true)" != "../../../.." ]]; then
    mkdir -p "${_hostgw_link%/*}"
    rm -rf "$_hostgw_link"
    ln -s ../../../.. "$_hostgw_link"
fi
unset _hostgw_link

# HOME-independent Ansible state. Molecule (26.x) keeps its ephemeral scenario dirs under
# $ANSIBLE_HOME/tmp, ansible-lint its cache under $REPO/.ansible (both git-ignored).
export ANSIBLE_HOME="$REPO/.cache/ansible"
export ANSIBLE_LOCAL_TEMP="$ANSIBLE_HOME/tmp"
export ANSIBLE_GALAXY_CACHE_DIR="$ANSIBLE_HOME/galaxy_cache"
export ANSIBLE_RETRY_FILES_ENABLED=False
mkdir -p "$ANSIBLE_LOCAL_TEMP"

# Colour only when stdout is a terminal (plain logs in CI; molecule honours NO_COLOR).
if [[ -t 1 ]]; then
    export ANSIBLE_FORCE_COLOR=1
else
    unset ANSIBLE_FORCE_COLOR
    export NO_COLOR=1
fi
