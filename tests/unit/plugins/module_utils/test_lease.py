# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ring leases (plugins/module_utils/_lease.py) and planning from them (_inputs.plan_inventory), up to 10,000 hosts."""

from __future__ import annotations

import json
import time

import pytest

from ansible_collections.hostgw.network.plugins.module_utils._inputs import plan_inventory
from ansible_collections.hostgw.network.plugins.module_utils._lease import (
    lease_of, leases as all_leases, mesh_files, successors, LeaseError)
from ansible_collections.hostgw.network.plugins.module_utils._plan import PlanError

__metaclass__ = type  # pylint: disable=invalid-name

NET = '10.0.0.0/8'
OPTS = {'network': NET, 'subnet_len': 24, 'lease_peers': 3}


class CountingHost(dict):
    """A host's variables; counts reads (Ansible templates a value on each read)."""

    def __init__(self, *a, **kw):
        dict.__init__(self, *a, **kw)
        self.reads = 0

    def __getitem__(self, key):
        self.reads += 1
        return dict.__getitem__(self, key)


class CountingHostvars(dict):
    def __init__(self, *a, **kw):
        dict.__init__(self, *a, **kw)
        self.gets = 0

    def __getitem__(self, key):
        self.gets += 1      # in Ansible each one computes all of the host's variables
        return dict.__getitem__(self, key)


def name(i):
    return 'node%05d' % i


def ip(i):
    return '172.16.%d.%d' % (i // 250, i % 250 + 1)


def inventory(n, leases=None, drop=(), absent=()):
    """``n`` hosts; ``leases``: the leases a previous plan's nodes wrote (``all_leases(plan)``), ``drop``: hosts that
    lost their state (lease.json gone: an empty lease), ``absent``: hosts not reachable in this run (no lease variable)."""
    hv = CountingHostvars()
    for i in range(n):
        h = CountingHost(hostgw_node_ip=ip(i))
        if leases is not None and name(i) not in absent:
            h['ansible_facts'] = {'hostgw_lease': {} if name(i) in drop else json.loads(json.dumps(leases[name(i)]))}
        elif leases is None:
            h['ansible_facts'] = {'hostgw_lease': {}}
        hv[name(i)] = h
    return hv


def plan(hv, play_hosts=None, **opts):
    names = sorted(hv)
    o = dict(OPTS, **opts)
    return plan_inventory('hostgw_nodes', names, hv, names if play_hosts is None else play_hosts, o)


def test_successors_on_the_ring():
    assert successors(['c', 'a', 'b', 'd'], 2) == {'a': ['b', 'c'], 'b': ['c', 'd'], 'c': ['d', 'a'], 'd': ['a', 'b']}
    assert successors(['a', 'b'], 3) == {'a': ['b'], 'b': ['a']}
    assert successors(['a'], 3) == {'a': []}


def test_lease_content_keys_as_the_role_wrote_them():
    p = plan(inventory(4))
    lease = lease_of(p, name(0))
    assert lease == {
        'comment': 'hostgw lease of node00000; managed by Ansible (hostgw.network.hostgw), do not edit',
        'host': name(0), 'network': NET, 'subnet': '10.0.1.0/24', 'network6': None, 'subnet6': None,
        'peers': dict((name(i), {'subnet': '10.0.%d.0/24' % (i + 1), 'subnet6': None, 'node_ip': ip(i)}) for i in (1, 2, 3)),
    }
    assert p['lease_peers'] == 3
    assert json.loads(json.dumps(lease)) == lease
    assert all_leases(p)[name(0)] == lease


def test_lease_size_constant_and_planning_from_leases_linear_at_10000_hosts():
    first = plan(inventory(10000))
    first_leases = all_leases(first)
    sizes = set(len(json.dumps(x)) for x in first_leases.values())
    small = plan(inventory(100))
    small_sizes = set(len(json.dumps(x)) for x in all_leases(small).values())
    # 100 times the hosts, the same lease: only the digits of addresses and subnets differ (a full-mesh lease was
    # about 85 bytes per host: 850 KB at 10,000)
    assert max(sizes) < 600 and max(sizes) - max(small_sizes) < 40, (max(sizes), max(small_sizes))
    assert all(len(x['peers']) == 3 for x in first_leases.values())
    hv = inventory(10000, first_leases)
    started = time.perf_counter()
    again = plan(hv)
    elapsed = time.perf_counter() - started
    assert dict((n, h['subnet']) for n, h in again['hosts'].items()) == dict((n, h['subnet']) for n, h in first['hosts'].items())
    assert set(h['source'] for h in again['hosts'].values()) == {'lease'}
    # linear work: every host's variables taken once, a constant number of reads per host
    assert hv.gets == 10000
    assert max(h.reads for h in hv.values()) <= 8
    assert elapsed < 30, elapsed    # about 1 s here; the full-mesh leases of before could not be planned at all


def test_host_that_lost_its_state_keeps_its_subnet_while_one_recorder_remains():
    first = plan(inventory(10000))
    lost = name(5000)
    recorders = [name(i) for i in (4999, 4998)]       # 2 of its 3 recorders lost theirs too
    again = plan(inventory(10000, all_leases(first), drop=[lost] + recorders))
    for n in [lost] + recorders:
        assert again['hosts'][n]['subnet'] == first['hosts'][n]['subnet'], n
    assert again['hosts'][lost]['source'] == 'peer-record'
    assert again['new_or_moved'] == []


def test_host_unknown_in_the_run_is_kept_from_records_and_fails_safe_without_any():
    first = plan(inventory(50))
    away = name(20)
    hv = inventory(50, all_leases(first), absent=[away])
    names = sorted(hv)
    again = plan(hv, play_hosts=[n for n in names if n != away])
    assert (again['hosts'][away]['subnet'], again['hosts'][away]['source']) == (first['hosts'][away]['subnet'], 'peer-record')
    # its three recorders unreachable too: unknown, so the plan refuses (never renumbers it, never gives it away)
    gone = [away, name(19), name(18), name(17)]
    hv = inventory(50, all_leases(first), absent=gone)
    with pytest.raises(PlanError) as e:
        plan(hv, play_hosts=[n for n in names if n not in gone])
    assert [m.split(':')[0] for m in e.value.errors] == ['host %s' % away]


def test_full_mesh_leases_of_before_migrate_to_ring_leases():
    first = plan(inventory(30))
    hv = inventory(30, all_leases(first))
    for n, h in hv.items():                # leases as lease.json.j2 wrote them: a mesh of every host
        lease = h['ansible_facts']['hostgw_lease']
        del lease['peers']
        lease['mesh'] = dict((m, {'subnet': x['subnet'], 'subnet6': None, 'node_ip': x['node_ip']})
                             for m, x in first['hosts'].items())
    hv[name(3)]['ansible_facts']['hostgw_lease'] = {}      # and one host lost its state
    again = plan(hv)
    assert dict((n, h['subnet']) for n, h in again['hosts'].items()) == dict((n, h['subnet']) for n, h in first['hosts'].items())
    assert again['hosts'][name(3)]['source'] == 'peer-record'
    assert all('mesh' not in x and len(x['peers']) == 3 for x in all_leases(again).values())


def test_lease_peers_option_checked_and_honoured():
    assert all(len(x['peers']) == 5 for x in all_leases(plan(inventory(10), lease_peers=5)).values())
    with pytest.raises(PlanError) as e:
        plan(inventory(3), lease_peers=0)
    assert e.value.errors == ['lease_peers 0 is out of range: 1-64']


def test_lease_of_a_one_host_mesh_and_a_small_ring():
    hosts = {'a': {'subnet': '10.0.1.0/24', 'node_ip': '1.1.1.1'}, 'b': {'subnet': '10.0.2.0/24', 'node_ip': '1.1.1.2'},
             'c': {'subnet': '10.0.3.0/24', 'node_ip': '1.1.1.3'}}
    p = {'network': NET, 'network6': None, 'hosts': hosts, 'lease_peers': 2}
    assert list(lease_of(p, 'c')['peers']) == ['a', 'b']
    assert list(lease_of(dict(p, lease_peers=5), 'b')['peers']) == ['c', 'a']
    assert lease_of(dict(p, hosts={'a': hosts['a']}), 'a')['peers'] == {}


def test_mesh_files_refuse_a_host_outside_the_plan_and_a_non_plan():
    p = plan(inventory(3))
    files = mesh_files(p, name(1), '/etc/hostgw/lease.json', '/etc/hostgw/members.json')
    assert [(f['path'], f['mode']) for f in files] == [('/etc/hostgw/lease.json', '0600'), ('/etc/hostgw/members.json', '0600')]
    assert json.loads(files[0]['content']) == lease_of(p, name(1))
    assert mesh_files(p, name(1)) == []
    with pytest.raises(LeaseError) as e:
        mesh_files(p, 'ghost', '/etc/hostgw/lease.json')
    assert str(e.value) == 'mesh.host ghost is not a host of the plan (3 hosts, group hostgw_nodes)'
    with pytest.raises(LeaseError):
        mesh_files({'hosts': []}, name(1), '/etc/hostgw/lease.json')


def test_member_table_from_the_plans_hosts_one_member_a_line():
    from ansible_collections.hostgw.network.plugins.module_utils._lease import members_table, members_text, table_rows
    hosts = {'b': {'subnet': '10.244.2.0/24', 'node_ip': '10.0.0.2', 'subnet6': 'fd00:1:0:2::/64', 'node_ip6': 'fd00::2',
                   'source': 'lease', 'uplink': 'eth0', 'mtu': 1500},
             'a': {'subnet': '10.244.1.0/24', 'node_ip': '10.0.0.1'}}
    table = members_table('a', 'hostgw_nodes', hosts)
    assert table['members'] == {'a': ['10.244.1.0/24', '10.0.0.1'],
                                'b': ['10.244.2.0/24', '10.0.0.2', 'fd00:1:0:2::/64', 'fd00::2']}
    text = members_text(table)
    assert text.splitlines()[-5:] == ['  "members": {', '    "a": ["10.244.1.0/24", "10.0.0.1"],',
                                      '    "b": ["10.244.2.0/24", "10.0.0.2", "fd00:1:0:2::/64", "fd00::2"]', '  }', '}']
    assert json.loads(text) == table
    assert table_rows(json.loads(text))['b'] == {'subnet': '10.244.2.0/24', 'node_ip': '10.0.0.2',
                                                 'subnet6': 'fd00:1:0:2::/64', 'node_ip6': 'fd00::2'}
    assert table_rows({'members': []}) is None and table_rows('x') is None


def test_member_table_is_about_40_bytes_a_member():
    from ansible_collections.hostgw.network.plugins.module_utils._lease import members_table, members_text
    hosts = dict(('node%05d' % i, {'subnet': '10.%d.%d.0/24' % (i >> 8, i & 255), 'node_ip': '172.16.%d.%d' % (i >> 8, i & 255)})
                 for i in range(10000))
    size = len(members_text(members_table('node00000', 'hostgw_nodes', hosts)))
    assert 40 * 10000 < size < 60 * 10000, size
