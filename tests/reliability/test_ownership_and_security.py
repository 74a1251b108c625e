# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Security (issue 6): hostile inventory values, the files the role writes, the scope of its packet-filter rules.

Trust model under test: whoever can change the inventory can change routes on every node (that is the product),
but every value is validated before any host is touched and no inventory value reaches a shell, so a value can
never run a command (``/tmp/pwned`` must never appear, on any host or on the controller).
"""

from __future__ import annotations

import os


import hostgw_lab as L
from hostgw_fixtures import MESH3_SUBNETS

H1, H2, H3 = L.H1, L.H2, L.H3
PWN = '; touch /tmp/pwned'


def no_pwned(lab, snaps=None):
    snaps = snaps or lab.snapshot_all()
    on_hosts = [h for h, s in snaps.items() if s['pwned']]
    assert not on_hosts, '/tmp/pwned exists on %s' % on_hosts
    assert not os.path.exists('/tmp/pwned'), '/tmp/pwned exists on the controller'


def rejected(lab, tmp_path, group_vars=None, host_vars=None):
    no_pwned(lab)
    inv = L.inventory(tmp_path, L.MESH3, group_vars=dict({'hostgw_network': L.CLUSTER}, **(group_vars or {})),
                      host_vars=host_vars)
    before = lab.snapshot_all()
    res = L.run_playbook(inv, 'playbooks/site.yml')
    after = lab.snapshot_all()
    if after != before:
        lab.forget()
    no_pwned(lab, after)
    return res, before, after


def test_shell_metacharacters_and_newlines_in_host_vars_are_rejected(clean, tmp_path):
    res, before, after = rejected(clean, tmp_path, host_vars={
        H1: {'hostgw_node_ip': '10.171.0.11' + PWN},
        H2: {'hostgw_subnet': '10.244.1.0/24' + PWN},
        H3: {'hostgw_subnet': '10.244.3.0/24\ntouch /tmp/pwned'},
    })
    assert res.rc != 0, res.report()
    text = res.failure_text()
    assert "host %s: node IP '10.171.0.11; touch /tmp/pwned' is not an IP address" % H1 in text, text
    assert ("host %s: pinned subnet '10.244.1.0/24; touch /tmp/pwned' is not a valid CIDR or address: it contains ' ', ';'"
            % H2) in text, text
    assert ("host %s: pinned subnet '10.244.3.0/24\\ntouch /tmp/pwned' is not a valid CIDR or address: it contains '\\n', ' '"
            % H3) in text, text
    assert not L.changing_tasks_run(res)
    L.assert_same(before, after)


def test_shell_metacharacters_in_group_vars_are_rejected(clean, tmp_path):
    res, before, after = rejected(clean, tmp_path, group_vars={'hostgw_network': '10.244.0.0/16' + PWN})
    assert res.rc != 0, res.report()
    assert "network '10.244.0.0/16; touch /tmp/pwned' is not a valid CIDR" in res.failure_text(), res.failure_text()
    assert not L.changing_tasks_run(res)
    L.assert_same(before, after)


def test_command_substitution_in_uplink_name_is_rejected(clean, tmp_path):
    res, before, after = rejected(clean, tmp_path, host_vars={H2: {'hostgw_iface': 'eth0$(touch /tmp/pwned)'}})
    assert res.rc != 0, res.report()
    assert ('host %s: uplink hostgw_iface=eth0$(touch /tmp/pwned) does not exist (links: br-foreign, eth0, lo)' % H2
            in res.failure_text()), res.failure_text()
    assert not L.changing_tasks_run(res)
    L.assert_same(before, after)


def test_bridge_name_with_newline_is_rejected_before_any_host_changed(clean, tmp_path):
    res, before, after = rejected(clean, tmp_path, group_vars={'hostgw_bridge': 'cni0\nlink add evil type bridge'})
    assert res.rc != 0, res.report()
    assert "bridge name 'cni0\\nlink add evil type bridge' is not a valid interface name" in res.failure_text(), res.failure_text()
    assert not L.changing_tasks_run(res), 'host-changing tasks ran before the rejection: %s' % L.changing_tasks_run(res)
    L.assert_same(before, after)


def test_cni_conf_name_cannot_leave_the_cni_directory(clean, tmp_path):
    lab = clean
    inv = L.inventory(tmp_path, L.MESH3, group_vars={'hostgw_network': L.CLUSTER, 'hostgw_cni_conf_name': '../../../tmp/pwned'})
    before = lab.snapshot_all()
    res = L.run_playbook(inv, 'playbooks/site.yml')
    after = lab.snapshot_all()
    if after != before:
        lab.forget()
    assert [h for h, s in after.items() if s['pwned']] == [], 'a file was written outside /etc/cni/net.d'
    assert res.rc != 0, res.report()
    assert 'hostgw_cni_conf_name' in res.failure_text(), res.failure_text()
    assert not L.changing_tasks_run(res)
    L.assert_same(before, after)


# --- what a converge leaves: file modes and owners, packet-filter rules --------------------------------------

def snaps_files_any(converged, hosts):
    return sorted(converged.snapshot_all(hosts[:1])[hosts[0]]['files'])


def test_files_have_expected_modes_and_owners(converged):
    snaps = converged.snapshot_all(L.MESH3)
    lib = '/etc/hostgw/restore/lib/ansible_collections/hostgw/network/plugins/module_utils'
    want = {
        '/etc/hostgw': ('dir', '0755'),
        '/etc/hostgw/lease.json': ('file', '0600'),
        '/etc/hostgw/members.json': ('file', '0600'),
        '/etc/hostgw/subnet.env': ('file', '0644'),
        '/etc/hostgw/manifest.json': ('file', '0600'),
        '/etc/hostgw/restore.json': ('file', '0600'),
        '/etc/hostgw/restore/hostgw-restore': ('file', '0755'),
        '/etc/cni/net.d/10-hostgw.conflist': ('file', '0644'),
    }
    d = lib
    while d != '/etc/hostgw':
        want[d] = ('dir', '0755')
        d = os.path.dirname(d)
    # The boot program's copy of hostgw's module_utils: every .py file of it root-owned 0644 (the set follows
    # the code: _boot_install.closure()).
    vendored = [p for p in snaps_files_any(converged, L.MESH3) if p.startswith(lib + '/')]
    assert lib + '/_boot_program.py' in vendored and lib + '/_netlink.py' in vendored, vendored
    for path in vendored:
        assert path.endswith('.py'), path
        want[path] = ('file', '0644')
    for h in L.MESH3:
        files = snaps[h]['files']
        ours = dict((p, f) for p, f in files.items()
                    if p.startswith('/etc/hostgw') or p in want or p.endswith('hostgw-restore.service'))
        assert sorted(ours) == sorted(want), (h, sorted(ours))
        for path, (kind, mode) in want.items():
            f = files[path]
            assert (f['type'], f['mode'], f['uid'], f['gid']) == (kind, mode, 0, 0), (h, path, f)
        # the foreign CNI file and the CNI directory are as they were
        assert files['/etc/cni/net.d'] == converged.clean[h]['files']['/etc/cni/net.d'], h
        assert files[L.FOREIGN_CNI] == converged.clean[h]['files'][L.FOREIGN_CNI], h


def test_masquerade_and_forward_rules_are_scoped_to_the_cluster_network(converged):
    snaps = converged.snapshot_all(L.MESH3)
    for h in L.MESH3:
        lines = snaps[h]['iptables']
        assert L.hostgw_rules(snaps[h]) == L.masq_lines(MESH3_SUBNETS[h]), (h, L.hostgw_rules(snaps[h]))
        # hostgw's rules are in its nft table only: iptables-save is exactly what was there before hostgw.
        assert lines == converged.clean[h]['iptables'], (h, L.diff(converged.clean[h]['iptables'], lines))
        # Single-stack mesh: IPv6 rules untouched.
        assert snaps[h]['ip6tables'] == converged.clean[h]['ip6tables'], h
        # Every MASQUERADE hostgw adds matches the cluster network on one side; every ACCEPT is for the network.
        verdicts = [x for x in L.hostgw_rules(snaps[h]) if x.endswith(('masquerade fully-random', ' accept'))]
        assert len(verdicts) == 4, (h, verdicts)
        for line in verdicts:
            assert ' %s ' % L.CLUSTER in line + ' ', (h, line)
