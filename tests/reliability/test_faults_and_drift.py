# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults, drift, concurrency and ownership (issue 6) on podman container hosts.

In file order: drift repaired -> leases lost -> a host down before the run -> a host stopped in the middle of a
run -> two runs at once -> foreign state through converge, churn and teardown -> the concurrency race, isolated.
"""

from __future__ import annotations

import time


import hostgw_lab as L
from hostgw_fixtures import MESH3_SUBNETS, mesh3_inventory

H1, H2, H3, H4, H5 = L.H1, L.H2, L.H3, L.H4, L.H5
MESH4 = [H1, H2, H3, H4]
MESH4_SUBNETS = L.expected_subnets(MESH4)


def inv4(path, hosts=tuple(MESH4), **kw):
    return L.inventory(path, hosts, group_vars={'hostgw_network': L.CLUSTER}, **kw)


def changed_actions(res, host):
    """Short names of the modules that reported a change on ``host``."""
    return sorted(set((e.get('action') or '').rsplit('.', 1)[-1] for e in res.results(host=host, status='changed')))


def no_changes(res, hosts):
    return dict((h, res.recap.get(h, {}).get('changed')) for h in hosts) == dict((h, 0) for h in hosts)


def stop(lab, host):
    lab.podman('stop', '--time', '1', host)


def start(lab, host):
    lab.podman('start', host)
    for _attempt in range(60):
        if lab.exec(host, 'python3', '-c', '1', check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError('%s did not come back' % host)


# --- drift -----------------------------------------------------------------------------------------------------

def test_drift_is_repaired_and_reported(converged, tmp_path):
    """Behind hostgw's back: a proto-244 route and the FORWARD jump deleted on hostgw-rel-1, the bridge address on
    hostgw-rel-2, a rule inside HOSTGW-POSTRTG on hostgw-rel-3. The next run puts exactly that back, reports changed
    on exactly those hosts and modules, and every host ends byte-for-byte as converged."""
    lab = converged
    before = lab.snapshot_all()
    lab.sh(H1, 'ip route del 10.244.2.0/24 proto 244 && nft flush chain ip hostgw forward')
    lab.sh(H2, 'ip addr del 10.244.2.1/24 dev cni0')
    lab.sh(H3, "nft delete rule ip hostgw postrouting handle $(nft -a list chain ip hostgw postrouting | "
               "sed -n 's|.*daddr != 224.0.0.0/4 masquerade fully-random # handle \\([0-9]*\\)$|\\1|p')")
    drifted = lab.snapshot_all()
    assert '10.244.2.0/24' not in L.owned_routes(drifted[H1])
    assert L.addrs_of(drifted[H2], 'cni0') == []
    assert 'ip daddr %s accept' % L.CLUSTER not in drifted[H1]['nft']['4']
    assert 'ip saddr %s ip daddr != 224.0.0.0/4 masquerade fully-random' % L.CLUSTER not in drifted[H3]['nft']['4']
    lab.forget()
    res = L.run_playbook(mesh3_inventory(tmp_path), 'playbooks/site.yml')
    assert res.rc == 0, res.report()
    assert changed_actions(res, H1) == ['hostgw_firewall', 'hostgw_route'], res.results(host=H1, status='changed')
    assert changed_actions(res, H2) == ['cni_bridge'], res.results(host=H2, status='changed')
    assert changed_actions(res, H3) == ['hostgw_firewall'], res.results(host=H3, status='changed')
    after = lab.snapshot_all()
    L.assert_same(before, after, 'state after the drift was repaired')
    lab.mark('converged', after)


# --- state lost on a node --------------------------------------------------------------------------------------

def test_lost_or_corrupt_lease_does_not_renumber(converged, tmp_path):
    """lease.json deleted on hostgw-rel-2 and corrupted on hostgw-rel-3: both keep their subnets (their peers recorded
    them), the leases are rewritten identically and nothing else changes."""
    lab = converged
    before = lab.snapshot_all()
    lab.exec(H2, 'rm', '/etc/hostgw/lease.json')
    lab.exec(H3, 'python3', '-c', 'open("/etc/hostgw/lease.json", "w").write("{not json")')
    lab.forget()
    res = L.run_playbook(mesh3_inventory(tmp_path), 'playbooks/site.yml')
    assert res.rc == 0, res.report()
    assert changed_actions(res, H1) == [], res.results(host=H1, status='changed')
    assert changed_actions(res, H2) == ['hostgw_files'], res.results(host=H2, status='changed')
    assert changed_actions(res, H3) == ['hostgw_files'], res.results(host=H3, status='changed')
    after = lab.snapshot_all()
    L.assert_same(before, after, 'state after the leases were rewritten')   # same subnets, same lease bytes
    lab.mark('converged', after)


# --- hosts down --------------------------------------------------------------------------------------------------

def test_host_down_before_run_others_converge_and_it_heals(converged, tmp_path):
    """hostgw-rel-3 is stopped, then hostgw-rel-4 joins: the others converge, hostgw-rel-3 keeps its subnet (its
    peers recorded it) so the new host gets another one, and the run names hostgw-rel-3 as needing a run. Started
    again (its kernel state is gone with its network namespace), one more run heals it; nobody else changes."""
    lab = converged
    before = lab.snapshot_all()
    inv = inv4(tmp_path)
    stop(lab, H3)
    lab.forget()
    try:
        res = L.run_playbook(inv, 'playbooks/site.yml')
    finally:
        start(lab, H3)
    assert res.rc != 0
    assert res.recap[H3]['unreachable'] + res.recap[H3]['failures'] >= 1, res.recap
    assert not [t for t in L.changing_tasks_run(res) if t[0] == H3]
    for h in (H1, H2, H4):
        assert res.recap[h]['failures'] == 0 and res.recap[h]['unreachable'] == 0, res.report()
    mid = lab.snapshot_all()
    assert not L.mesh_problems(mid, MESH4_SUBNETS, hosts=[H1, H2, H4]), L.mesh_problems(mid, MESH4_SUBNETS, hosts=[H1, H2, H4])
    for h in (H1, H2):
        assert L.addrs_of(mid[h], 'cni0') == L.addrs_of(before[h], 'cni0'), h
        assert not L.foreign_problems(mid[h], h), L.foreign_problems(mid[h], h)
    msgs = [e['result'].get('msg') for e in res.results(task='Hosts outside this run') if e['status'] == 'ok']
    assert msgs == ['%s got a new subnet, but %s were not in this run and have no route to it yet: run playbooks/site.yml '
                    'for them (for example --limit %s).' % (H4, H3, H3)], msgs

    heal = L.run_playbook(inv, 'playbooks/site.yml')
    assert heal.rc == 0, heal.report()
    assert heal.recap[H3]['changed'] > 0 and no_changes(heal, [H1, H2, H4]), heal.recap
    after = lab.snapshot_all()
    assert not L.mesh_problems(after, MESH4_SUBNETS), L.mesh_problems(after, MESH4_SUBNETS)
    assert (L.lease(lab, H3) or {}).get('subnet') == MESH3_SUBNETS[H3]
    L.assert_same(dict((h, mid[h]) for h in (H1, H2, H4, H5)), dict((h, after[h]) for h in (H1, H2, H4, H5)))
    lab.mark('mesh4', after)


def test_host_stopped_mid_run_others_converge_and_it_heals(lab, tmp_path):
    """hostgw-rel-4 is re-pinned to 10.244.40.0/24 and hostgw-rel-3 is stopped while the run changes hosts (at the
    first host-changing task): the others converge, nobody else is renumbered; started again, one run heals it."""
    def build():
        lab.reset()
        res = L.run_playbook(inv4(tmp_path / 'build'), 'playbooks/site.yml')
        assert res.rc == 0, res.report()
        lab.mark('mesh4')
    lab.ensure('mesh4', build)
    before = lab.snapshot_all()
    moved = dict(MESH4_SUBNETS, **{H4: '10.244.40.0/24'})
    inv = inv4(tmp_path, host_vars={H4: {'hostgw_subnet': '10.244.40.0/24'}})
    lab.forget()
    run = L.run_playbook(inv, 'playbooks/site.yml', background=True)
    try:
        line = run.wait_for_output(r'^TASK \[.*(Forwarding on|Bridge with)')
        assert line, 'the run ended before changing any host'
        stop(lab, H3)
        res = run.wait()
    finally:
        start(lab, H3)
    assert res.rc != 0
    assert res.recap[H3]['unreachable'] + res.recap[H3]['failures'] >= 1, res.recap
    for h in (H1, H2, H4):
        assert res.recap[h]['failures'] == 0 and res.recap[h]['unreachable'] == 0, res.report()
    mid = lab.snapshot_all()
    assert not L.mesh_problems(mid, moved, hosts=[H1, H2, H4]), L.mesh_problems(mid, moved, hosts=[H1, H2, H4])
    for h in (H1, H2):
        assert L.addrs_of(mid[h], 'cni0') == L.addrs_of(before[h], 'cni0'), h

    heal = L.run_playbook(inv, 'playbooks/site.yml')
    assert heal.rc == 0, heal.report()
    assert heal.recap[H3]['changed'] > 0 and no_changes(heal, [H1, H2, H4]), heal.recap
    after = lab.snapshot_all()
    assert not L.mesh_problems(after, moved), L.mesh_problems(after, moved)
    assert (L.lease(lab, H3) or {}).get('subnet') == MESH3_SUBNETS[H3]
    lab.forget()


# --- two runs at once ------------------------------------------------------------------------------------------

def test_two_concurrent_runs_leave_consistent_state(lab, tmp_path):
    """Two ansible-playbook runs of site.yml on the same (clean) hosts at the same time. Whatever each reports, a
    third run changes nothing and the state is exactly one converge's: one route per peer, one bridge address,
    hostgw's rules once each (no duplicated jump), leases and files right."""
    lab.reset()
    inv = mesh3_inventory(tmp_path)
    first = L.run_playbook(inv, 'playbooks/site.yml', background=True)
    second = L.run_playbook(inv, 'playbooks/site.yml', background=True)
    results = [first.wait(), second.wait()]
    lab.forget()
    assert any(r.rc == 0 for r in results), '\n\n'.join(r.report() for r in results)
    third = L.run_playbook(inv, 'playbooks/site.yml')
    assert third.rc == 0, third.report()
    assert no_changes(third, L.MESH3), (third.recap, [r.report() for r in results])
    snaps = lab.snapshot_all()
    assert not L.mesh_problems(snaps, MESH3_SUBNETS), L.mesh_problems(snaps, MESH3_SUBNETS)
    for h in L.MESH3:
        assert L.hostgw_rules(snaps[h]) == L.masq_lines(MESH3_SUBNETS[h]), (h, L.hostgw_rules(snaps[h]))
        assert not L.foreign_problems(snaps[h], h), L.foreign_problems(snaps[h], h)
        assert L.lease(lab, h)['subnet'] == MESH3_SUBNETS[h]
        assert not [p for p in snaps[h]['files'] if '.tmp' in p or p.endswith('~')], sorted(snaps[h]['files'])
    lab.mark('converged', snaps)


# --- ownership -------------------------------------------------------------------------------------------------

def test_foreign_state_survives_converge_churn_and_teardown(converged, tmp_path):
    """Foreign routes (main table via a peer, table 100 with its ip rule), a foreign bridge with an address,
    foreign nat POSTROUTING / FORWARD rules (IPv4 and IPv6) and foreign files in /etc/cni/net.d and /etc/sysctl.d,
    all made before the first run, are exactly as they were after converge, after a host leaves, and after teardown."""
    lab = converged
    snaps = lab.snapshot_all()
    for h in L.ALL:
        assert not L.foreign_problems(snaps[h], h), ('after converge', h, L.foreign_problems(snaps[h], h))
    lab.forget()
    churn = L.run_playbook(L.inventory(tmp_path / 'churn', [H1, H2], group_vars={'hostgw_network': L.CLUSTER}),
                           'playbooks/site.yml')
    assert churn.rc == 0, churn.report()
    snaps = lab.snapshot_all()
    for h in L.ALL:
        assert not L.foreign_problems(snaps[h], h), ('after churn', h, L.foreign_problems(snaps[h], h))
    assert '10.244.3.0/24' not in L.owned_routes(snaps[H1])
    down = L.run_playbook(mesh3_inventory(tmp_path / 'teardown'), 'playbooks/teardown.yml')
    assert down.rc == 0, down.report()
    after = lab.snapshot_all()
    for h in L.ALL:
        assert not L.trace_problems(after[h]), (h, L.trace_problems(after[h]))
        assert not L.foreign_problems(after[h], h), ('after teardown', h, L.foreign_problems(after[h], h))
    L.assert_same(lab.clean, after, 'state after teardown')
    lab.mark('clean', after)


# --- the race behind the two-runs test, deterministic ------------------------------------------------------

def test_concurrent_masq_runs_never_duplicate_jump_rules(clean, tmp_path):
    """The race behind the flaky two-runs test, made deterministic: the exact hostgw_firewall module call of a run
    (AnsiballZ payload kept on hostgw-rel-1) is started 12 times at once, in up to 5 bursts, inside the host while the jumps are missing;
    afterwards each jump rule must exist exactly once."""
    lab = clean
    lab.forget()
    inv = mesh3_inventory(tmp_path)
    rc, out = L.run_adhoc(inv, H1, 'hostgw.network.hostgw_firewall',
                          {'network': L.CLUSTER, 'subnet': MESH3_SUBNETS[H1], 'firewall': 'iptables'},
                          keep_remote_files=True)
    assert rc == 0, out
    payload = lab.sh(H1, 'ls -t /tmp/.ansible-hostgw-rel/*/AnsiballZ_hostgw_firewall.py | head -n1').stdout.strip()
    assert payload, 'no kept AnsiballZ payload'
    counts = []
    for _burst in range(5):
        # Jumps missing and chains emptied (as on a fresh or rebooted node): every call then reads, rewrites the
        # chains and appends the jumps, which is the window the race needs.
        lab.sh(H1, 'iptables -w -D FORWARD -m comment --comment hostgw-forward -j HOSTGW-FWD; '
                   'iptables -w -t nat -D POSTROUTING -m comment --comment hostgw-masq -j HOSTGW-POSTRTG; '
                   'iptables -w -F HOSTGW-FWD; iptables -w -t nat -F HOSTGW-POSTRTG; true')
        lab.sh(H1, 'for i in $(seq 12); do python3 %s >/dev/null 2>&1 & done; wait' % payload)
        snap = lab.snapshot(H1)
        counts.append((snap['iptables'].count('-A FORWARD -m comment --comment hostgw-forward -j HOSTGW-FWD'),
                       snap['iptables'].count('-A POSTROUTING -m comment --comment hostgw-masq -j HOSTGW-POSTRTG')))
        if counts[-1] != (1, 1):
            break
    lab.reset([H1])
    assert counts == [(1, 1)] * 5, 'jump rules (FORWARD, POSTROUTING) after each burst: %s' % counts
