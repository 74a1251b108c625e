# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs over part of the fleet behave like a full run (issue 16, docs/fleet.md), on podman container hosts.

After one full run: ``--limit`` to one host; a wiped host together with an intact one; a wiped host alone (refused,
nothing touched); a new host alone with a jsonfile fact cache refreshed by playbooks/facts.yml; ``serial: 2`` with a
new host. Concurrent slices: test_fleet_slices.py (network-namespace hosts, more of them). Each case reads the kernel back on
every host (routes, bridge addresses) and checks that nobody was renumbered and hosts outside the run were untouched.
"""

from __future__ import annotations

import json

import hostgw_lab as L

H1, H2, H3, H4 = L.H1, L.H2, L.H3, L.H4
MESH4 = [H1, H2, H3, H4]
MESH4_SUBNETS = L.expected_subnets(MESH4)


def inv(path, hosts=tuple(MESH4)):
    return L.inventory(path, hosts, group_vars={'hostgw_network': L.CLUSTER})


def _mesh4(lab, tmp_path_factory):
    def build():
        lab.reset()
        res = L.run_playbook(inv(tmp_path_factory.mktemp('mesh4')), 'playbooks/site.yml')
        assert res.rc == 0, res.report()
        lab.mark('fleet-mesh4')
    lab.ensure('fleet-mesh4', build)
    return lab.snapshot_all()


def _mesh3(lab, tmp_path_factory):
    """hostgw-rel-1..3 converged with a 3-host inventory (hostgw-rel-4 clean: the new host of the 4-host one)."""
    def build():
        lab.reset()
        res = L.run_playbook(inv(tmp_path_factory.mktemp('mesh3'), [H1, H2, H3]), 'playbooks/site.yml')
        assert res.rc == 0, res.report()
        lab.mark('fleet-mesh3')
    lab.ensure('fleet-mesh3', build)


def _members(lab, host):
    text = L.file_text(lab, host, '/etc/hostgw/members.json')
    return json.loads(text)['members'] if text else None


def _assert_mesh(after, subnets, hosts):
    problems = L.mesh_problems(after, subnets, hosts=hosts)
    assert not problems, problems


def test_every_node_keeps_a_member_table_of_the_whole_mesh(lab, tmp_path_factory):
    _mesh4(lab, tmp_path_factory)
    for h in MESH4:
        assert _members(lab, h) == dict((p, [MESH4_SUBNETS[p], L.IP[p]]) for p in MESH4), h
        assert '/etc/hostgw/members.json' in L.file_text(lab, h, '/etc/hostgw/manifest.json')


def test_limit_to_one_host_of_a_converged_mesh_changes_nothing_and_contacts_nobody_else(lab, tmp_path_factory, tmp_path):
    before = _mesh4(lab, tmp_path_factory)
    res = L.run_playbook(inv(tmp_path), 'playbooks/site.yml', '--limit', H3)
    assert res.rc == 0, res.report()
    assert sorted(res.recap) == [H3], res.recap
    assert res.recap[H3]['changed'] == 0, res.recap
    L.assert_same(before, lab.snapshot_all())


def test_a_wiped_host_with_an_intact_one_gets_its_subnet_and_the_whole_mesh_back(lab, tmp_path_factory, tmp_path):
    before = _mesh4(lab, tmp_path_factory)
    lab.reset([H2])                               # state dir, bridge, routes and rules gone
    res = L.run_playbook(inv(tmp_path), 'playbooks/site.yml', '--limit', '%s,%s' % (H2, H4))
    assert res.rc == 0, res.report()
    assert sorted(res.recap) == [H2, H4], res.recap
    after = lab.snapshot_all()
    _assert_mesh(after, MESH4_SUBNETS, [H2, H4])
    assert L.lease(lab, H2)['subnet'] == MESH4_SUBNETS[H2]
    L.assert_same(dict((h, before[h]) for h in (H1, H3, H4)), dict((h, after[h]) for h in (H1, H3, H4)),
                  'the intact host and the hosts outside --limit')
    lab.mark('fleet-mesh4', after)


def test_a_wiped_host_alone_is_refused_before_any_host_is_touched(lab, tmp_path_factory, tmp_path):
    _mesh4(lab, tmp_path_factory)
    lab.reset([H2])
    before = lab.snapshot_all()
    res = L.run_playbook(inv(tmp_path), 'playbooks/site.yml', '--limit', H2)
    assert res.rc != 0
    text = res.failure_text()
    assert ('%s in this run holds no lease (new, or wiped) and no host of the run has a member table: it cannot plan '
            'the mesh alone. Add a converged host to --limit, run the whole group, or refresh the fact cache first '
            '(ansible-playbook playbooks/facts.yml with a fact cache configured)' % H2) in text, text
    assert 'hosts %s, %s, %s: their network leases are unknown in this run' % (H1, H3, H4) in text, text
    L.assert_same(before, lab.snapshot_all())
    lab.forget()


def test_a_new_host_alone_joins_from_a_jsonfile_fact_cache(lab, tmp_path_factory, tmp_path, monkeypatch):
    """kubespray's habit: refresh every node's facts into the cache (read-only), then --limit to the new node."""
    _mesh3(lab, tmp_path_factory)
    monkeypatch.setenv('ANSIBLE_CACHE_PLUGIN', 'jsonfile')
    monkeypatch.setenv('ANSIBLE_CACHE_PLUGIN_CONNECTION', str(tmp_path / 'facts'))
    before = lab.snapshot_all()
    refresh = L.run_playbook(inv(tmp_path), 'playbooks/facts.yml')
    assert refresh.rc == 0, refresh.report()
    assert all(refresh.recap[h]['changed'] == 0 for h in MESH4), refresh.recap
    L.assert_same(before, lab.snapshot_all(), 'state after the read-only fact refresh')
    res = L.run_playbook(inv(tmp_path), 'playbooks/site.yml', '--limit', H4)
    assert res.rc == 0, res.report()
    assert sorted(res.recap) == [H4], res.recap
    after = lab.snapshot_all()
    _assert_mesh(after, MESH4_SUBNETS, [H4])          # the lowest free subnet, a route to every peer
    L.assert_same(dict((h, before[h]) for h in (H1, H2, H3)), dict((h, after[h]) for h in (H1, H2, H3)),
                  'hosts outside --limit')
    lab.forget()


def _serial_playbook(tmp_path, refresh=True):
    """A rolling run, ``serial: 2``; with ``refresh`` playbooks/facts.yml first, in the same run (its facts stay in
    memory for the serial play: every batch then knows every member's lease, no fact cache needed)."""
    path = tmp_path / ('serial-refresh.yml' if refresh else 'serial.yml')
    text = '- ansible.builtin.import_playbook: %s/playbooks/facts.yml\n' % L.REPO if refresh else ''
    path.write_text(text + '- hosts: hostgw_nodes\n  become: true\n  gather_facts: false\n  serial: 2\n'
                    '  roles:\n    - role: hostgw.network.hostgw\n')
    return str(path)


def test_serial_2_with_a_new_host_converges_the_whole_mesh_after_a_fact_refresh(lab, tmp_path_factory, tmp_path):
    _mesh3(lab, tmp_path_factory)
    before = lab.snapshot_all()
    # Without the refresh the first batch cannot know the new host of the second: refused, nothing touched.
    res = L.run_playbook(inv(tmp_path), _serial_playbook(tmp_path, refresh=False))
    assert res.rc != 0
    assert 'host %s: its network lease is unknown in this run' % H4 in res.failure_text(), res.failure_text()
    L.assert_same(before, lab.snapshot_all())
    res = L.run_playbook(inv(tmp_path), _serial_playbook(tmp_path))
    assert res.rc == 0, res.report()
    after = lab.snapshot_all()
    _assert_mesh(after, MESH4_SUBNETS, MESH4)
    for h in (H1, H2, H3):
        assert L.addrs_of(after[h], 'cni0') == L.addrs_of(before[h], 'cni0'), h
    again = L.run_playbook(inv(tmp_path), _serial_playbook(tmp_path))
    assert again.rc == 0, again.report()
    assert all(again.recap[h]['changed'] == 0 for h in MESH4), again.recap
    lab.mark('fleet-mesh4', lab.snapshot_all())
