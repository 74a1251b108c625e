#!/usr/bin/env bash
# Run every test of hostgw.network from nothing: installs what is missing first (scripts/bootstrap.sh).
#
#   ./scripts/test.sh              # all stages
#   ./scripts/test.sh units kernel # only some stages
#
# Stages, in order: lint (ansible-lint, production profile), build (ansible-galaxy collection build + install),
# sanity (ansible-test sanity), units (ansible-test units: planning, diffing, action plugins), kernel (the real
# modules in network namespaces, on pyroute2 0.7.2 and 0.9.7), role (playbooks/site.yml on container hosts:
# converge, idempotence, pods, join/leave, --limit, check/diff, teardown), molecule (default and churn scenarios
# on podman container hosts: pods through the real CNI plugins, pings over IPv4 and IPv6, boot restore),
# reliability (bad input, faults, drift and ownership on container hosts).
# Ends with a line "N passed, N failed" over the stages.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"

ALL_STAGES=(lint build sanity units kernel role molecule reliability)
if [[ $# -gt 0 ]]; then STAGES=("$@"); else STAGES=("${ALL_STAGES[@]}"); fi

"$REPO/scripts/bootstrap.sh"
# shellcheck source=scripts/env.sh
source "$REPO/scripts/env.sh"

LOGDIR="$REPO/.cache/test-logs"
mkdir -p "$LOGDIR"
# ansible-test wants the collection under ansible_collections/NS/NAME and outside any other git checkout.
AT_ROOT="${TMPDIR:-/tmp}/hostgw-ansible-test-$EUID"
COLL_COPY="$AT_ROOT/ansible_collections/hostgw/network"

say() { printf '\n==> %s\n' "$*"; }

# A clean copy of the collection (tracked + new files, no venvs/caches) where ansible-test wants it.
sync_copy() {
    rm -rf "$AT_ROOT"
    mkdir -p "$COLL_COPY"
    # ansible-test bootstraps pip in its venvs with a script from a host we cannot reach: give it ours.
    local v
    v=$(python - <<'PY'
import inspect, re
import ansible_test._internal.python_requirements as m
print(re.search(r"pip='([0-9.]+)'", inspect.getsource(m)).group(1))
PY
)
    mkdir -p "$HOME/.ansible/test/cache"
    cp "$REPO/tests/tools/get_pip_stub.py" "$HOME/.ansible/test/cache/get_pip_${v//./_}.py"
    git ls-files -z --cached --others --exclude-standard | grep -zv '^\.ci/' |
        xargs -0 -I{} cp --parents -P {} "$COLL_COPY/" 2>/dev/null || true
    # git ls-files lists files that may be deleted in the work tree: ignore those.
}

stage_lint() {
    # ansible-lint keeps its own copy of this collection under ANSIBLE_HOME: never lint against a stale one.
    rm -rf "$ANSIBLE_HOME/collections/ansible_collections/hostgw"
    ansible-lint --profile production --offline -q roles/ playbooks/ molecule/
}

stage_build() {
    local out="$REPO/.cache/build"
    rm -rf "$out" && mkdir -p "$out/collections"
    ansible-galaxy collection build --force --output-path "$out" . >/dev/null
    local tarball
    tarball=$(ls "$out"/hostgw-network-*.tar.gz)
    ansible-galaxy collection install --force -p "$out/collections" "$tarball" >/dev/null
    # The installed tarball must document and load every plugin.
    local m
    for m in hostgw_subnet cni_bridge hostgw_route hostgw_facts hostgw_preflight hostgw_masq hostgw_probe; do
        ANSIBLE_COLLECTIONS_PATH="$out/collections" ansible-doc "hostgw.network.$m" >/dev/null
    done
    ANSIBLE_COLLECTIONS_PATH="$out/collections" ansible-doc -t role hostgw.network.hostgw >/dev/null
    echo "built and installed $(basename "$tarball"); ansible-doc renders every module and the role"
}

stage_sanity() {
    sync_copy
    (cd "$COLL_COPY" && ansible-test sanity --python 3.11 --color no --skip-test pylint --skip-test validate-modules \
        --skip-test import)
    (cd "$COLL_COPY" && ansible-test sanity --python 3.11 --color no --test validate-modules)
    (cd "$COLL_COPY" && ansible-test sanity --python 3.11 --color no --test import --venv)
    (cd "$COLL_COPY" && ansible-test sanity --python 3.11 --color no --test pylint)
}

stage_units() {
    sync_copy
    (cd "$COLL_COPY" && ansible-test units --python 3.11 --color no --venv)
}

stage_kernel() {
    HOSTGW_TEST_PYTHONS="$VENV/bin/python:$VENV_DEB/bin/python" \
        python -m pytest -q -p no:cacheprovider tests/kernel
}

stage_molecule() {
    local s
    rm -rf "$ANSIBLE_HOME/collections/ansible_collections/hostgw"   # test this checkout, never a stale copy
    if podman network exists hostgw-demo 2>/dev/null; then
        echo "removing the demo hosts first (their network overlaps the scenarios')"
        "$REPO/scripts/demo.sh" down
    fi
    for s in default churn; do
        [[ -d "molecule/$s" ]] || continue
        say "molecule test -s $s"
        molecule test -s "$s"
    done
}

stage_role() {
    python -m pytest -q -p no:cacheprovider tests/role
}

stage_reliability() {
    python -m pytest -q -p no:cacheprovider tests/reliability
}

passed=0
failed=0
failed_names=()
for stage in "${STAGES[@]}"; do
    if ! declare -F "stage_$stage" >/dev/null; then
        echo "unknown stage: $stage (stages: ${ALL_STAGES[*]})" >&2
        exit 2
    fi
    say "stage $stage"
    start=$(date +%s)
    if "stage_$stage"; then
        passed=$((passed + 1))
        printf '==> stage %s passed in %ss\n' "$stage" "$(( $(date +%s) - start ))"
    else
        failed=$((failed + 1))
        failed_names+=("$stage")
        printf '==> stage %s FAILED after %ss\n' "$stage" "$(( $(date +%s) - start ))"
    fi
done
echo
[[ $failed -eq 0 ]] || echo "failed stages: ${failed_names[*]}"
echo "stages: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
