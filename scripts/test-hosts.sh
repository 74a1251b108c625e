#!/usr/bin/env bash
# Real-host stage (issue 10): systemd + SSH host images, the Molecule scenarios over SSH with sudo, and the
# reboot / drift tests on the converged lab before it is destroyed.
#
#   scripts/test-hosts.sh                       # ssh-bookworm, ssh-trixie, then ssh-cross-subnet
#   scripts/test-hosts.sh ssh-bookworm          # one scenario
#
# ssh-cross-subnet (issue 18) is trixie hosts on two L2 segments joined by a router host (hostgw_cross_subnet:
# vxlan); its tests are tests/hosts/test_cross_subnet.py, the other scenarios run the rest of tests/hosts.
#
# Per scenario, under the shared podman lock (/tmp/hostgw-podman.lock, held only while its hosts exist):
#   molecule test -s S --destroy never     destroy, syntax, create (systemd boot, SSH), converge,
#                                           idempotence, verify (kernel state, pods, pings)
#   pytest tests/hosts (the scenario's)     reboot for real (podman restart, no Ansible), foreign route at
#                                           boot, drift repair timer (skipped when the role has none)
#   molecule destroy -s S                   always, also after a failure
# Images (scripts/images.sh, cached) are built first, both in parallel, without the lock.
# Timings go to stdout and .cache/test-hosts-timings.txt.
#
# Environment: HOSTGW_HOSTS_PYTEST_ARGS extra pytest arguments (e.g. "-k reboot").
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
# shellcheck source=scripts/env.sh
source "$REPO/scripts/env.sh"

LOCK=/tmp/hostgw-podman.lock
declare -A LAB=([ssh-bookworm]=hostgw-ssh12 [ssh-trixie]=hostgw-ssh13 [ssh-cross-subnet]=hostgw-sxa)
declare -A SUITE=([ssh-bookworm]=bookworm [ssh-trixie]=trixie [ssh-cross-subnet]=trixie)
declare -A TESTS=([ssh-bookworm]="tests/hosts --ignore=tests/hosts/test_cross_subnet.py"
                  [ssh-trixie]="tests/hosts --ignore=tests/hosts/test_cross_subnet.py"
                  [ssh-cross-subnet]="tests/hosts/test_cross_subnet.py")

scenarios=("$@")
((${#scenarios[@]})) || scenarios=(ssh-bookworm ssh-trixie ssh-cross-subnet)
for s in "${scenarios[@]}"; do
    [[ -n ${LAB[$s]:-} ]] || { echo "test-hosts: unknown scenario $s (ssh-bookworm, ssh-trixie, ssh-cross-subnet)" >&2; exit 2; }
done

say() { printf '==> %s\n' "$*"; }
now() { date +%s; }
TIMINGS=()
timed() {  # timed NAME CMD...: run, record the wall time, keep the exit code
    local name=$1 t0 rc=0; shift
    t0=$(now)
    "$@" || rc=$?
    TIMINGS+=("$name $(( $(now) - t0 ))s rc=$rc")
    return "$rc"
}

suites=()
for s in "${scenarios[@]}"; do [[ " ${suites[*]} " == *" ${SUITE[$s]} "* ]] || suites+=("${SUITE[$s]}"); done
timed images "$REPO/scripts/images.sh" "${suites[@]}"

# One scenario with its tests, inside the lock.
run_scenario() {
    local s=$1 lab=$2 tests=$3 rc=0
    # `--destroy never` also skips the sequence's first destroy: destroy what an earlier run left first.
    timed "$s:destroy-before" molecule destroy -s "$s" >/dev/null || rc=$?
    timed "$s:molecule" molecule test -s "$s" --destroy never || rc=$?
    if ((rc == 0)); then
        # shellcheck disable=SC2086
        HOSTGW_HOSTS_LAB=$lab HOSTGW_HOSTS_SCENARIO=$s \
            timed "$s:pytest" pytest -q -rxs -p no:cacheprovider $tests ${HOSTGW_HOSTS_PYTEST_ARGS:-} || rc=$?
    fi
    timed "$s:destroy" molecule destroy -s "$s" >/dev/null || rc=$?
    printf '%s\n' "${TIMINGS[@]}" >"$REPO/.cache/test-hosts-timings.$s.txt"
    return "$rc"
}
export -f run_scenario timed now
failed=()
for s in "${scenarios[@]}"; do
    say "scenario $s (lab ${LAB[$s]}), waiting for $LOCK"
    rm -f ".cache/test-hosts-timings.$s.txt"
    t0=$(now)
    rc=0
    flock "$LOCK" bash -c 'TIMINGS=(); run_scenario "$1" "$2" "$3"' _ "$s" "${LAB[$s]}" "${TESTS[$s]}" || rc=$?
    [[ -f .cache/test-hosts-timings.$s.txt ]] && mapfile -t -O "${#TIMINGS[@]}" TIMINGS <.cache/test-hosts-timings."$s".txt
    TIMINGS+=("$s:total(incl. lock wait) $(( $(now) - t0 ))s rc=$rc")
    ((rc == 0)) || failed+=("$s")
done

printf '%s\n' "${TIMINGS[@]}" | tee "$REPO/.cache/test-hosts-timings.txt" | sed 's/^/==> timing: /'
if ((${#failed[@]})); then
    echo "test-hosts: FAILED: ${failed[*]}" >&2
    exit 1
fi
say "real hosts: all scenarios passed (${scenarios[*]})"
