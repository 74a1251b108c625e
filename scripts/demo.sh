#!/usr/bin/env bash
# The main job on the seed topology, on podman container hosts of this machine:
#
#   ./scripts/demo.sh        # bring up Host1/Host2, run playbooks/site.yml, add Container1..4, show the result
#   ./scripts/demo.sh down   # remove the demo hosts and their network
#
# Installs what it needs first (scripts/bootstrap.sh). Hosts sit on a podman --internal network with no route out.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
LAB=molecule/shared/vars/seed-demo.yml
HOSTS=(hostgw-demo-host1 hostgw-demo-host2)
declare -A PODS=([hostgw-demo-host1]="container1 container2" [hostgw-demo-host2]="container3 container4")

say() { printf '\n==> %s\n' "$*"; }

down() {
    ansible-playbook -i localhost, molecule/shared/destroy.yml -e "@$LAB" >/dev/null
    echo "demo hosts removed"
}

"$REPO/scripts/bootstrap.sh" >/dev/null
# shellcheck source=scripts/env.sh
source "$REPO/scripts/env.sh"

if [[ "${1:-up}" == down ]]; then down; exit 0; fi
if podman network exists hostgw-seed 2>/dev/null; then
    echo "the Molecule scenario's network hostgw-seed (same subnet) exists: run 'molecule destroy -s default' first" >&2
    exit 1
fi

say "container hosts: Host1 10.168.0.1 and Host2 10.168.0.2 on an internal network"
ansible-playbook -i localhost, molecule/shared/create.yml -e "@$LAB" >/dev/null

say "ansible-playbook -i inventories/seed playbooks/site.yml (through podman)"
ANSIBLE_DISPLAY_OK_HOSTS=false ANSIBLE_DISPLAY_SKIPPED_HOSTS=false \
    ansible-playbook -i inventories/seed -i inventories/seed-lab playbooks/site.yml | sed -n '/PLAY RECAP/,$p'

say "pods through the generated CNI conflist and the real bridge/host-local plugins"
declare -A IPS=()
for h in "${HOSTS[@]}"; do
    podman cp molecule/shared/files/cni_pod.py "$h:/usr/local/bin/cni_pod.py"
    # shellcheck disable=SC2086
    podman exec "$h" python3 /usr/local/bin/cni_pod.py del ${PODS[$h]} >/dev/null   # a re-run starts clean
    # shellcheck disable=SC2086
    out=$(podman exec "$h" python3 /usr/local/bin/cni_pod.py add ${PODS[$h]})
    for p in ${PODS[$h]}; do
        IPS[$p]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]]["ip4"])' "$out" "$p")
        printf '  %-11s on %-18s %s\n' "$p" "$h" "${IPS[$p]}"
    done
done

for h in "${HOSTS[@]}"; do
    say "$h"
    printf '  subnet   '; podman exec "$h" sed -n 's/^FLANNEL_SUBNET=//p' /etc/hostgw/subnet.env
    printf '  bridge   '; podman exec "$h" ip -brief address show dev cni0
    echo "  routes (proto 244 = hostgw):"
    podman exec "$h" ip route show proto 244 | sed 's/^/    /'
done

say "pod-to-pod reachability (ping from row to column)"
all_pods=(container1 container2 container3 container4)
printf '  %-12s' ''; for p in "${all_pods[@]}"; do printf '%-12s' "$p"; done; echo
fail=0
for h in "${HOSTS[@]}"; do
    for src in ${PODS[$h]}; do
        targets=(); for dst in "${all_pods[@]}"; do targets+=("${IPS[$dst]}"); done
        res=$(podman exec "$h" python3 /usr/local/bin/cni_pod.py ping "$src" "${targets[@]}")
        printf '  %-12s' "$src"
        for dst in "${all_pods[@]}"; do
            ok=$(python3 -c 'import json,sys; print("ok" if json.loads(sys.argv[1])[sys.argv[2]] else "FAIL")' "$res" "${IPS[$dst]}")
            [[ $ok == ok ]] || fail=1
            printf '%-12s' "$ok"
        done
        echo
    done
done
echo
if [[ $fail -eq 0 ]]; then
    echo "every pod reaches every pod, across hosts without encapsulation. Tear down: ./scripts/demo.sh down"
else
    echo "some pairs failed (see above)"; exit 1
fi
