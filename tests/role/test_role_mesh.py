# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Role-level tests (issue 3): playbooks/site.yml and teardown.yml against podman container hosts.

The tests run in file order and hand the lab on: converge -> check mode -> pods -> add a host -> remove a host ->
--limit -> teardown. Each one states the state it needs (``lab.ensure``) and rebuilds it when an earlier test did
not leave it, so any test also runs alone (only slower).
"""

from __future__ import annotations

import json

import pytest

import hostgw_lab as L
from hostgw_fixtures import MESH3_SUBNETS, mesh3_inventory

H1, H2, H3, H4, H5 = L.H1, L.H2, L.H3, L.H4, L.H5
MESH4 = [H1, H2, H3, H4]
MESH4_SUBNETS = L.expected_subnets(MESH4)          # .1 .2 .3 .4
MESH124_SUBNETS = dict((h, MESH4_SUBNETS[h]) for h in (H1, H2, H4))


def inv4(path, hosts=tuple(MESH4), **kw):
    return L.inventory(path, hosts, group_vars={'hostgw_network': L.CLUSTER}, **kw)


def bridge_index(snap):
    br = L.link(snap, 'cni0')
    return br and br['ifindex']


def assert_not_renumbered(before, after, hosts):
    """Same subnet in the lease, same gateway on the same (not recreated) bridge."""
    for h in hosts:
        assert L.addrs_of(after[h], 'cni0') == L.addrs_of(before[h], 'cni0'), h
        assert bridge_index(after[h]) == bridge_index(before[h]), '%s: cni0 was recreated' % h


def lease_subnets(lab, hosts):
    return dict((h, (L.lease(lab, h) or {}).get('subnet')) for h in hosts)


# --- converge, idempotence, check mode -----------------------------------------------------------------------

def test_converge_then_rerun_changes_nothing(clean, tmp_path):
    lab = clean
    inv = mesh3_inventory(tmp_path)
    first = L.run_playbook(inv, 'playbooks/site.yml')
    assert first.rc == 0, first.report()
    for h in L.MESH3:
        assert first.recap[h]['failures'] == 0 and first.recap[h]['unreachable'] == 0, first.recap
        assert first.recap[h]['changed'] > 0, first.recap
    after1 = lab.snapshot_all()
    assert not L.mesh_problems(after1, MESH3_SUBNETS), L.mesh_problems(after1, MESH3_SUBNETS)
    assert lease_subnets(lab, L.MESH3) == MESH3_SUBNETS
    for h in L.MESH3:
        assert not L.foreign_problems(after1[h], h), L.foreign_problems(after1[h], h)
    # Hosts outside the group are never touched.
    L.assert_same(dict((h, lab.clean[h]) for h in (H4, H5)), dict((h, after1[h]) for h in (H4, H5)))
    # Flannel's subnet.env and the lease, exactly.
    assert L.file_text(lab, H2, '/etc/hostgw/subnet.env').splitlines()[1:] == [
        'FLANNEL_NETWORK=10.244.0.0/16', 'FLANNEL_SUBNET=10.244.2.1/24', 'FLANNEL_MTU=1500', 'FLANNEL_IPMASQ=true']
    lease = L.lease(lab, H2)
    assert (lease['host'], lease['network'], lease['subnet'], lease['subnet6']) == (H2, L.CLUSTER, '10.244.2.0/24', None)
    assert lease['mesh'] == dict((h, {'subnet': MESH3_SUBNETS[h], 'subnet6': None, 'node_ip': L.IP[h]}) for h in L.MESH3)
    conf = json.loads(L.file_text(lab, H3, '/etc/cni/net.d/10-hostgw.conflist'))
    bridge = conf['plugins'][0]
    assert (bridge['type'], bridge['bridge'], bridge['mtu']) == ('bridge', 'cni0', 1500)
    assert bridge['ipam']['ranges'] == [[{'subnet': '10.244.3.0/24', 'gateway': '10.244.3.1'}]]

    second = L.run_playbook(inv, 'playbooks/site.yml')
    assert second.rc == 0, second.report()
    assert dict((h, second.recap[h]['changed']) for h in L.MESH3) == dict((h, 0) for h in L.MESH3), second.recap
    L.assert_same(after1, lab.snapshot_all(), 'state after an idempotent re-run')
    lab.mark('converged', after1)


def test_check_mode_on_converged_mesh_reports_nothing(converged, tmp_path):
    lab = converged
    before = lab.snapshot_all()
    res = L.run_playbook(mesh3_inventory(tmp_path), 'playbooks/site.yml', '--check')
    assert res.rc == 0, res.report()
    assert dict((h, res.recap[h]['changed']) for h in L.MESH3) == dict((h, 0) for h in L.MESH3), res.recap
    L.assert_same(before, lab.snapshot_all())


def _diff_lines(result, task, host):
    """(before lines, after lines) of a task's --diff for one host."""
    events = result.results(task=task, host=host)
    assert len(events) == 1, (task, host, [e['status'] for e in events])
    d = events[0]['result'].get('diff') or {}
    return set(x for x in d.get('before', '').splitlines() if x.strip()), set(x for x in d.get('after', '').splitlines() if x.strip())


def test_check_diff_on_changed_inventory_shows_changes_and_changes_nothing(converged, tmp_path):
    """Inventory changed: hostgw-rel-2 is re-pinned to 10.244.20.0/24 and hostgw-rel-4 joins pinned to 10.244.4.0/24.
    --check --diff shows per host the routes and bridge addresses that would change; nothing changes anywhere."""
    lab = converged
    before = lab.snapshot_all()
    inv = inv4(tmp_path, host_vars={H2: {'hostgw_subnet': '10.244.20.0/24'}, H4: {'hostgw_subnet': '10.244.4.0/24'}})
    res = L.run_playbook(inv, 'playbooks/site.yml', '--check', '--diff')
    assert res.rc == 0, res.report()
    L.assert_same(before, lab.snapshot_all(), 'state after --check --diff')

    def route(dest, via):
        return '%s via %s dev eth0 proto 244' % (dest, L.IP[via])

    routes = 'Routes to every peer'
    for h in (H1, H3):
        b, a = _diff_lines(res, routes, h)
        assert (b - a, a - b) == ({route('10.244.2.0/24', H2)}, {route('10.244.20.0/24', H2), route('10.244.4.0/24', H4)}), h
    b, a = _diff_lines(res, routes, H2)
    assert (b - a, a - b) == (set(), {route('10.244.4.0/24', H4)})
    b, a = _diff_lines(res, routes, H4)
    assert (b, a) == (set(), {route('10.244.1.0/24', H1), route('10.244.20.0/24', H2), route('10.244.3.0/24', H3)})

    bridge = 'Bridge with the pods'
    b, a = _diff_lines(res, bridge, H2)
    assert (b - a, a - b) == ({'  inet 10.244.2.1/24'}, {'  inet 10.244.20.1/24'})
    for h in (H1, H3):
        b, a = _diff_lines(res, bridge, h)
        assert b == a, (h, b, a)
    b, a = _diff_lines(res, bridge, H4)
    assert b == set() and '  inet 10.244.4.1/24' in a, a
    for h in MESH4:
        assert res.recap[h]['changed'] > 0, res.recap


def test_check_mode_on_subnet_hand_over_tells_the_truth(converged, tmp_path):
    """hostgw-rel-2 is re-pinned to 10.244.20.0/24 and the new hostgw-rel-4 gets the freed 10.244.2.0/24 (lowest free).
    A real run does this cleanly (bridge address first, then the routes); --check must report it, not fail."""
    lab = converged
    before = lab.snapshot_all()
    inv = inv4(tmp_path, host_vars={H2: {'hostgw_subnet': '10.244.20.0/24'}})
    res = L.run_playbook(inv, 'playbooks/site.yml', '--check', '--diff')
    L.assert_same(before, lab.snapshot_all(), 'state after --check --diff')
    assert res.rc == 0, res.report()
    b, a = _diff_lines(res, 'Routes to every peer', H2)
    assert a - b == {'10.244.2.0/24 via %s dev eth0 proto 244' % L.IP[H4]}


def test_pods_ping_across_hosts(converged):
    """Pods added through the generated conflist and the real bridge/host-local plugins reach pods on every other host."""
    lab = converged
    pods = {H1: ['pod-a', 'pod-b'], H2: ['pod-c'], H3: ['pod-d']}
    ips = {}
    try:
        for h, names in pods.items():
            lab.podman('cp', L.REPO + '/molecule/shared/files/cni_pod.py', h + ':/usr/local/bin/cni_pod.py')
            got = json.loads(lab.exec(h, 'python3', '/usr/local/bin/cni_pod.py', 'add', *names).stdout)
            for i, name in enumerate(names):
                ips[(h, name)] = got[name]['ip4']
                # host-local hands out .2, .3, ... of the node's own subnet
                assert got[name]['ip4'] == MESH3_SUBNETS[h].replace('.0/24', '.%d' % (i + 2)), got
        failed = []
        for (h, name) in ips:
            remote = [ip for (oh, _n), ip in ips.items() if oh != h]
            answers = json.loads(lab.exec(h, 'python3', '/usr/local/bin/cni_pod.py', 'ping', name, *remote).stdout)
            failed += ['%s@%s -> %s' % (name, h, ip) for ip, ok in answers.items() if not ok]
        assert not failed, 'pods that did not answer: %s' % failed
    finally:
        for h, names in pods.items():
            lab.exec(h, 'python3', '/usr/local/bin/cni_pod.py', 'del', *names, check=False)
    # Pods came and went: hostgw's routes, rules and files are as the converge left them.
    after = lab.snapshot_all()
    for h in L.MESH3:
        conv = lab.states['converged'][h]
        for key in ('iptables', 'nft', 'files', 'rules4'):
            assert after[h][key] == conv[key], (h, key, L.diff(conv[key], after[h][key]))
        # the bridge's connected routes flip 'linkdown' with its carrier (ports come and go): not state
        unflagged = [[dict((k, v) for k, v in r.items() if k != 'flags') for r in s['routes4']] for s in (conv, after[h])]
        assert unflagged[0] == unflagged[1], (h, L.diff(unflagged[0], unflagged[1]))
    lab.mark('converged', after)   # only the bridge's MAC/carrier moved with its ports


# --- pre-flight on a live mesh -------------------------------------------------------------------------------

@pytest.mark.parametrize('case', ['off-link-peer', 'uplink-missing', 'two-pinned-one-subnet'])
def test_preflight_failure_leaves_converged_mesh_as_it_was(converged, tmp_path, case):
    lab = converged
    if case == 'off-link-peer':
        inv = inv4(tmp_path, [H1, H2, H3, H5])
        want = 'host %s: peer %s (10.172.0.15) is not on-link on eth0 (10.171.0.0/24)' % (H1, H5)
    elif case == 'uplink-missing':
        inv = inv4(tmp_path, host_vars={H4: {'hostgw_iface': 'nope0'}})
        want = 'host %s: uplink hostgw_iface=nope0 does not exist (links: br-foreign, eth0, lo)' % H4
    else:
        inv = inv4(tmp_path, host_vars={H3: {'hostgw_subnet': '10.244.9.0/24'}, H4: {'hostgw_subnet': '10.244.9.0/24'}})
        want = 'hosts %s and %s are both pinned to 10.244.9.0/24' % (H3, H4)
    before = lab.snapshot_all()
    res = L.run_playbook(inv, 'playbooks/site.yml')
    assert res.rc != 0
    assert want in res.failure_text(), res.failure_text()
    assert not L.changing_tasks_run(res), L.changing_tasks_run(res)
    L.assert_same(before, lab.snapshot_all())


# --- churn: add, remove, --limit, teardown -------------------------------------------------------------------

def _build_mesh4(lab, tmp_path):
    lab.ensure('converged', lambda: _converge(lab, mesh3_inventory(tmp_path / 'c3'), 'converged'))
    _converge(lab, inv4(tmp_path / 'c4'), 'mesh4')


def _converge(lab, inv, state, *args):
    if state == 'converged':
        lab.reset()
    res = L.run_playbook(inv, 'playbooks/site.yml', *args)
    assert res.rc == 0, res.report()
    lab.mark(state)
    return res


def test_add_host_nobody_renumbered_everyone_routes_to_it(converged, tmp_path):
    lab = converged
    before = lab.snapshot_all()
    res = L.run_playbook(inv4(tmp_path), 'playbooks/site.yml')
    assert res.rc == 0, res.report()
    after = lab.snapshot_all()
    assert lease_subnets(lab, MESH4) == MESH4_SUBNETS
    assert_not_renumbered(before, after, L.MESH3)
    assert not L.mesh_problems(after, MESH4_SUBNETS), L.mesh_problems(after, MESH4_SUBNETS)
    for h in L.MESH3:
        assert res.recap[h]['changed'] > 0, res.recap      # the route to the new peer, the lease's mesh
    L.assert_same({H5: before[H5]}, {H5: after[H5]})
    lab.mark('mesh4', after)


def test_remove_host_purges_its_routes_and_keeps_foreign_ones(lab, tmp_path):
    """hostgw-rel-3 leaves the group: its routes go everywhere; the foreign route planted via its node IP
    (172.31.9.0/24 via 10.171.0.13 proto static) and the table-100 route stay."""
    lab.ensure('mesh4', lambda: _build_mesh4(lab, tmp_path))
    before = lab.snapshot_all()
    res = L.run_playbook(inv4(tmp_path, [H1, H2, H4]), 'playbooks/site.yml')
    assert res.rc == 0, res.report()
    after = lab.snapshot_all()
    assert not L.mesh_problems(after, MESH124_SUBNETS), L.mesh_problems(after, MESH124_SUBNETS)
    assert_not_renumbered(before, after, [H1, H2, H4])
    for h in (H1, H2, H4):
        assert '10.244.3.0/24' not in L.owned_routes(after[h])
        foreign = [r for r in after[h]['routes4'] if r.get('dst') in (L.FOREIGN_ROUTE, L.FOREIGN_TABLE_ROUTE)]
        assert foreign == [r for r in before[h]['routes4'] if r.get('dst') in (L.FOREIGN_ROUTE, L.FOREIGN_TABLE_ROUTE)]
        assert [r.get('gateway') for r in foreign] == [L.IP[H3], L.IP[H3]], foreign
        assert not L.foreign_problems(after[h], h), L.foreign_problems(after[h], h)
        assert H3 not in L.lease(lab, h)['mesh']
    # The departed host is outside the run: untouched.
    L.assert_same({H3: before[H3], H5: before[H5]}, {H3: after[H3], H5: after[H5]})
    lab.mark('mesh124', after)


def test_limit_keeps_mesh_and_names_hosts_that_need_a_run(lab, tmp_path):
    """A new host (hostgw-rel-3, wiped) joins with --limit hostgw-rel-1,hostgw-rel-3: the mesh is not shrunk to the
    limit, nobody is renumbered, hosts outside the limit are untouched and the run names them."""
    def build():
        _build_mesh4(lab, tmp_path)
        _converge(lab, inv4(tmp_path / 'c124', [H1, H2, H4]), 'mesh124')
    lab.ensure('mesh124', build)
    lab.reset([H3])                    # a brand-new host: no lease, nothing recorded by peers
    before = lab.snapshot_all()
    res = L.run_playbook(inv4(tmp_path), 'playbooks/site.yml', '--limit', '%s,%s' % (H1, H3))
    assert res.rc == 0, res.report()
    assert sorted(res.recap) == [H1, H3], res.recap
    after = lab.snapshot_all()
    # hostgw-rel-3 got the lowest free subnet (10.244.3.0/24, free since it left); hostgw-rel-1 routes to everyone.
    assert not L.mesh_problems(after, MESH4_SUBNETS, hosts=[H1, H3]), L.mesh_problems(after, MESH4_SUBNETS, hosts=[H1, H3])
    assert_not_renumbered(before, after, [H1])
    L.assert_same(dict((h, before[h]) for h in (H2, H4, H5)), dict((h, after[h]) for h in (H2, H4, H5)),
                  'hosts outside --limit')
    msgs = [e['result'].get('msg') for e in res.results(task='Hosts outside this run')
            if e['status'] == 'ok']
    assert msgs == ['%s got a new subnet, but %s, %s were not in this run and have no route to it yet: run '
                    'playbooks/site.yml for them (for example --limit %s,%s).' % (H3, H2, H4, H2, H4)], msgs
    lab.mark('limit', after)


def test_teardown_leaves_no_trace_and_keeps_foreign_state(lab, tmp_path):
    def build():
        lab.reset()
        _converge(lab, inv4(tmp_path / 'c4'), 'limit')
    lab.ensure('limit', build)
    res = L.run_playbook(inv4(tmp_path), 'playbooks/teardown.yml')
    assert res.rc == 0, res.report()
    after = lab.snapshot_all()
    for h in MESH4:
        assert not L.trace_problems(after[h]), (h, L.trace_problems(after[h]))
        assert not L.foreign_problems(after[h], h), (h, L.foreign_problems(after[h], h))
    # Byte for byte the state before the first hostgw run (routes of every table, rules, links, addresses,
    # iptables and ip6tables, files under /etc/hostgw, /etc/cni/net.d, /etc/sysctl.d).
    L.assert_same(lab.clean, after, 'state after teardown')
    lab.mark('clean', after)
    lab.clean = after

    again = L.run_playbook(inv4(tmp_path), 'playbooks/teardown.yml')
    assert again.rc == 0, again.report()
    assert dict((h, again.recap[h]['changed']) for h in MESH4) == dict((h, 0) for h in MESH4), again.recap
    L.assert_same(after, lab.snapshot_all(), 'state after a second teardown')
