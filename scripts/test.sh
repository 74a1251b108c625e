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
# reliability (bad input, faults, drift and ownership on container hosts), galaxy (galaxy-importer on the built
# tarball, strict: any error or warning fails), docs (antsibull-docs lint-collection-docs --plugin-docs),
# changelog (antsibull-changelog lint, CHANGELOG.md up to date), matrix (ansible-test units and sanity on the oldest
# and the newest supported ansible-core, sanity compile/import on every supported target Python), compat (the role
# converged and re-run with changed=0 on a 2-host podman lab from each of those ansible-core versions, inventory in
# the kubespray style with ansible.utils.ipaddr filters), hosts (Debian 12 and 13 hosts with systemd over SSH and sudo,
# real reboots, and Debian 13 hosts on two segments behind a router host with hostgw_cross_subnet: vxlan:
# tests/hosts, docs/real-hosts.md). docs/ecosystem.md explains galaxy to compat.
# Ends with a line "stages: N passed, N failed" over the stages.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"

ALL_STAGES=(lint build sanity units kernel role molecule reliability galaxy docs changelog matrix compat hosts)
if [[ $# -gt 0 ]]; then STAGES=("$@"); else STAGES=("${ALL_STAGES[@]}"); fi

"$REPO/scripts/bootstrap.sh"
# shellcheck source=scripts/env.sh
source "$REPO/scripts/env.sh"

LOGDIR="$REPO/.cache/test-logs"
mkdir -p "$LOGDIR"
# ansible-test wants the collection under ansible_collections/NS/NAME and outside any other git checkout.
# One copy per checkout: several checkouts of this repo may run tests on one machine at the same time.
AT_ROOT="${TMPDIR:-/tmp}/hostgw-ansible-test-$EUID-$(printf '%s' "$REPO" | sha256sum | cut -c1-8)"
COLL_COPY="$AT_ROOT/ansible_collections/hostgw/network"

say() { printf '\n==> %s\n' "$*"; }

# The version matrix (docs/ecosystem.md): the oldest and the newest supported ansible-core, each in its own venv
# made by bootstrap.sh, with the controller Python ansible-test runs on and the target Pythons whose module-side
# sanity (compile, import) it proves besides the controller's. Together they cover the supported target range
# 3.9-3.13 (tests/config.yml).
MATRIX_VERSIONS=(2.16 2.21)
declare -A MATRIX_CONTROLLER=([2.16]=3.11 [2.21]=3.13)
declare -A MATRIX_TARGETS=([2.16]="3.9 3.10 3.12" [2.21]="3.9")
PYTHONS_BIN="$REPO/.cache/pythons/bin"   # python3.X links to the machine's interpreters (bootstrap.sh)

# install_get_pip_stubs PYTHON: ansible-test bootstraps pip in its venvs with a script from a host we cannot
# reach: give every pip version that PYTHON's ansible-test may ask for our stand-in.
install_get_pip_stubs() {
    local v
    mkdir -p "$HOME/.ansible/test/cache"
    for v in $("$1" "$REPO/tests/tools/pip_versions.py"); do
        cp "$REPO/tests/tools/get_pip_stub.py" "$HOME/.ansible/test/cache/get_pip_${v//./_}.py"
    done
}

# A clean copy of the collection (tracked + new files, no venvs/caches) where ansible-test wants it.
# sync_copy [ROOT]: the copy under ROOT (default AT_ROOT) at ROOT/ansible_collections/hostgw/network.
sync_copy() {
    local root=${1:-$AT_ROOT} copy
    copy="$root/ansible_collections/hostgw/network"
    rm -rf "$root"
    mkdir -p "$copy"
    install_get_pip_stubs python
    git ls-files -z --cached --others --exclude-standard | grep -zv '^\.ci/' |
        xargs -0 -I{} cp --parents -P {} "$copy/" 2>/dev/null || true
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
    for m in $(cd plugins/modules && ls -- *.py | sed 's/[.]py$//'); do
        ANSIBLE_COLLECTIONS_PATH="$out/collections" ansible-doc "hostgw.network.$m" >/dev/null
    done
    ANSIBLE_COLLECTIONS_PATH="$out/collections" ansible-doc -t role hostgw.network.hostgw >/dev/null
    for m in $(cd plugins/filter && ls -- *.py | sed 's/[.]py$//'); do
        ANSIBLE_COLLECTIONS_PATH="$out/collections" ansible-doc -t filter "hostgw.network.$m" >/dev/null
    done
    # module_defaults: group/hostgw.network.hostgw must cover every module.
    python tests/tools/check_action_group.py
    echo "built and installed $(basename "$tarball") ($(stat -c %s "$tarball") bytes); ansible-doc renders every" \
         "module, filter and the role; the hostgw action group lists every module"
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
    # Every test makes its own namespaces (named per worker pid): two workers for the two cores.
    HOSTGW_TEST_PYTHONS="$VENV/bin/python:$VENV_DEB/bin/python" \
        python -m pytest -q -p no:cacheprovider -n 2 tests/kernel
}

stage_molecule() {
    local s
    rm -rf "$ANSIBLE_HOME/collections/ansible_collections/hostgw"   # test this checkout, never a stale copy
    if podman network exists hostgw-demo 2>/dev/null; then
        echo "removing the demo hosts first (their network overlaps the scenarios')"
        "$REPO/scripts/demo.sh" down
    fi
    for s in default churn cross-subnet; do
        [[ -d "molecule/$s" ]] || continue
        say "molecule test -s $s"
        molecule test -s "$s"
    done
}

stage_role() {
    # Facts only through ansible_facts / registered results: the default ansible-core 2.24 announces.
    ANSIBLE_INJECT_FACT_VARS=False python -m pytest -q -p no:cacheprovider tests/role
}

stage_hosts() {
    # systemd + SSH container hosts (Debian 12 and 13, and 13 on two segments), molecule over SSH with sudo, real
    # reboots, drift repair.
    "$REPO/scripts/test-hosts.sh"
}

stage_reliability() {
    python -m pytest -q -p no:cacheprovider tests/reliability
}

# galaxy-importer (what Galaxy and Automation Hub run on every upload) on the tarball users get, locally: no
# containers, no ansible-test (the matrix stage runs that). Strict: an importer error, or any warning, fails.
stage_galaxy() {
    local work="$REPO/.cache/galaxy-importer" src="$REPO" tarball log
    rm -rf "$work" && mkdir -p "$work/tmp" "$work/out"
    if ! grep -qE '^repository:[[:space:]]*[^[:space:]]' galaxy.yml; then
        # galaxy-importer 0.4.44 requires `repository`; the collection has no public home yet, so galaxy.yml
        # leaves it out (no placeholder shipped). Check the tarball as it will be once the field is set.
        echo "NOTE: galaxy.yml has no repository (required for a Galaxy upload): checking with a stand-in value"
        src="$work/src"
        mkdir -p "$src"
        git ls-files -z --cached --others --exclude-standard |
            xargs -0 -I{} cp --parents -P {} "$src/" 2>/dev/null || true
        printf 'repository: https://repository.invalid/hostgw/network\n' >>"$src/galaxy.yml"
    fi
    (cd "$src" && ansible-galaxy collection build --force --output-path "$work/out" . >/dev/null)
    tarball=$(ls "$work"/out/hostgw-network-*.tar.gz)
    sed "s|@WORK@|$work|" "$REPO/tests/tools/galaxy-importer.cfg.in" >"$work/galaxy-importer.cfg"
    log="$work/importer.log"
    local rc=0
    (cd "$work" && GALAXY_IMPORTER_CONFIG="$work/galaxy-importer.cfg" \
        python -m galaxy_importer.main "$tarball" >"$log" 2>&1) || rc=$?
    grep -E '^(WARNING|ERROR)' "$log" || true
    echo "galaxy-importer $(python -c 'import importlib.metadata as m; print(m.version("galaxy-importer"))'):" \
         "exit $rc, $(grep -cE '^ERROR' "$log") errors, $(grep -cE '^WARNING' "$log") warnings;" \
         "$(basename "$tarball") $(stat -c %s "$tarball") bytes (log: ${log#"$REPO"/})"
    [[ $rc -eq 0 ]] && grep -q '^Importer processing completed successfully' "$log" &&
        ! grep -qE '^(WARNING|ERROR)' "$log"
}

# antsibull-docs lint of every plugin's and the role's docs, from a tree laid out as ansible_collections/NS/NAME
# (the collection path link made by scripts/env.sh).
stage_docs() {
    (cd "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/hostgw/network" &&
        antsibull-docs lint-collection-docs --plugin-docs .)
    echo "antsibull-docs $(python -c 'import importlib.metadata as m; print(m.version("antsibull-docs"))'): lint clean"
}

# antsibull-changelog: fragments and changelogs/changelog.yaml lint clean, and CHANGELOG.md is what they generate.
stage_changelog() {
    antsibull-changelog lint
    local tmp
    tmp=$(mktemp -d)
    cp -a changelogs CHANGELOG.md galaxy.yml "$tmp/"
    (cd "$tmp" && antsibull-changelog generate)
    if ! cmp -s "$tmp/CHANGELOG.md" CHANGELOG.md; then
        diff -u CHANGELOG.md "$tmp/CHANGELOG.md" | head -n 40
        echo "CHANGELOG.md is not what antsibull-changelog generates: run antsibull-changelog generate"
        rm -rf "$tmp"
        return 1
    fi
    rm -rf "$tmp"
    echo "antsibull-changelog $(python -c 'import importlib.metadata as m; print(m.version("antsibull-changelog"))'):" \
         "lint clean, CHANGELOG.md up to date, $(find changelogs/fragments -name '*.yml' | wc -l) unreleased fragments"
}

# ansible-test units and sanity on the oldest and the newest supported ansible-core (each on its own controller
# Python), and module-side sanity (compile, import) on the target Pythons of MATRIX_TARGETS. The versions run
# side by side (each in its own copy; the machine has 2 cores and most of it is single-threaded), their output
# goes to .cache/test-logs/matrix-VER.log and is shown when both are done.
matrix_one() {
    local ver=$1 venv="$REPO/.venv-$1" ctl=${MATRIX_CONTROLLER[$1]} root="$AT_ROOT-$1" t r=0
    export PATH="$venv/bin:$PYTHONS_BIN:$PATH" VIRTUAL_ENV="$venv"
    cd "$root/ansible_collections/hostgw/network"
    echo "ansible-core $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("ansible-core"))')" \
         "on Python $ctl, target Pythons $ctl ${MATRIX_TARGETS[$ver]}"
    timed() {   # timed LABEL CMD...: run, report its time, remember a failure and go on
        local label=$1 t0=$SECONDS; shift
        if "$@"; then echo "matrix $ver: $label passed in $((SECONDS - t0))s"
        else r=1; echo "matrix $ver: FAILED: $label (after $((SECONDS - t0))s)"; fi
    }
    timed "units (Python $ctl)" ansible-test units --python "$ctl" --color no --venv
    rm -rf .hypothesis   # hypothesis' database, written by the units: not part of the collection
    timed "sanity (Python $ctl)" ansible-test sanity --python "$ctl" --color no
    for t in ${MATRIX_TARGETS[$ver]}; do
        timed "sanity compile/import (Python $t)" \
            ansible-test sanity --python "$t" --color no --test compile --test import --venv
    done
    return $r
}

stage_matrix() {
    local ver rc=0 pids=() i
    for ver in "${MATRIX_VERSIONS[@]}"; do
        sync_copy "$AT_ROOT-$ver"
        install_get_pip_stubs "$REPO/.venv-$ver/bin/python"
        (matrix_one "$ver") >"$LOGDIR/matrix-$ver.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!MATRIX_VERSIONS[@]}"; do
        wait "${pids[$i]}" || rc=1
    done
    for ver in "${MATRIX_VERSIONS[@]}"; do
        say "matrix: ansible-core $ver (${LOGDIR#"$REPO"/}/matrix-$ver.log)"
        grep -vE "^WARNING: Location '.*' is ignored" "$LOGDIR/matrix-$ver.log" || true
    done
    for ver in "${MATRIX_VERSIONS[@]}"; do grep -E '^matrix [0-9.]+: ' "$LOGDIR/matrix-$ver.log" || true; done
    return $rc
}

# The role converged, then re-run asserting changed=0, with ansible-playbook of each matrix venv on a 2-host lab
# (podman --internal network hostgw-compat 10.173.0.0/24). Needs the podman lock (other labs share the engine).
stage_compat() {
    local venvs=() ver
    for ver in "${MATRIX_VERSIONS[@]}"; do venvs+=("$REPO/.venv-$ver"); done
    python "$REPO/tests/compat/run.py" "${venvs[@]}"
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
    # In a subshell with errexit on: the first failing command fails the stage (a function called as an `if`
    # condition would run with errexit off, and only its last command would count).
    set +e
    (set -e; "stage_$stage")
    stage_rc=$?
    set -e
    if [[ $stage_rc -eq 0 ]]; then
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
