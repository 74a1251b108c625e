# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the planner inputs (plugins/module_utils/_inputs.py), without Ansible objects."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hostgw.network.plugins.module_utils._inputs import collect_members
from ansible_collections.hostgw.network.plugins.module_utils._plan import Member, PlanError, PlanOptions, Pool, plan_mesh, summarize

__metaclass__ = type  # pylint: disable=invalid-name

NET = '10.244.0.0/16'


def members_by_name(group, hostvars, play_hosts=None, lease_var='hostgw_lease', pools=(False, False)):
    members, errors = collect_members(group, hostvars, group if play_hosts is None else play_hosts, lease_var, pools)
    assert errors == []
    return dict((m.name, m) for m in members)


# --------------------------------------------------------------------------------------------------
# Node IP precedence
# --------------------------------------------------------------------------------------------------

FACT4 = {'address': '192.168.0.30', 'interface': 'eth0'}


@pytest.mark.parametrize('hv, expected', [
    ({'hostgw_node_ip': '192.168.0.10', 'ansible_host': '192.168.0.20', 'ansible_default_ipv4': FACT4}, '192.168.0.10'),
    ({'ansible_host': '192.168.0.20', 'ansible_default_ipv4': FACT4}, '192.168.0.20'),
    ({'ansible_host': ' 192.168.0.20 ', 'ansible_default_ipv4': FACT4}, '192.168.0.20'),
    ({'ansible_host': 'node1.example.com', 'ansible_default_ipv4': FACT4}, '192.168.0.30'),
    ({'ansible_host': '2001:db8::20', 'ansible_default_ipv4': FACT4}, '192.168.0.30'),
    ({'hostgw_node_ip': '', 'ansible_default_ipv4': FACT4}, '192.168.0.30'),
    ({'ansible_facts': {'default_ipv4': FACT4}}, '192.168.0.30'),
    ({'ansible_default_ipv4': {}, 'ansible_facts': {'default_ipv4': FACT4}}, '192.168.0.30'),
    ({'ansible_host': 'node1.example.com'}, None),
    ({'ansible_default_ipv4': 'not a dict'}, None),
    ({}, None),
])
def test_node_ip_precedence(hv, expected):
    assert members_by_name(['a'], {'a': hv})['a'].node_ip == expected


def test_node_ip6_precedence():
    fact6 = {'address': '2001:db8::30'}
    hvs = {
        'a': {'hostgw_node_ip6': '2001:db8::10', 'ansible_default_ipv6': fact6},
        'b': {'ansible_default_ipv6': fact6, 'ansible_host': '2001:db8::20'},
        'c': {'ansible_facts': {'default_ipv6': {'address': '2001:db8::31'}}},
        'd': {},
    }
    got = dict((n, m.node_ip6) for n, m in members_by_name(list(hvs), hvs).items())
    assert got == {'a': '2001:db8::10', 'b': '2001:db8::30', 'c': '2001:db8::31', 'd': None}


def test_node_ip_falls_back_to_hostgw_facts_default_route_address():
    host = {'hostgw_host': {'default_ipv4': '10.0.0.7', 'default_ipv6': 'fd00::7'}}
    hvs = {
        'a': dict(host, ansible_host='node-a.example'),                       # DNS name: not an address
        'b': dict(host, ansible_default_ipv4={'address': '10.0.0.8'}),        # gathered fact wins
        'c': dict(host, hostgw_node_ip='10.0.0.9', hostgw_node_ip6='fd00::9'),  # explicit wins
        'd': {'hostgw_host': {'default_ipv4': None}},
    }
    got = dict((n, (m.node_ip, m.node_ip6)) for n, m in members_by_name(list(hvs), hvs).items())
    assert got == {'a': ('10.0.0.7', 'fd00::7'), 'b': ('10.0.0.8', 'fd00::7'), 'c': ('10.0.0.9', 'fd00::9'), 'd': (None, None)}


class Templating(dict):
    """A host's variables as Ansible's HostVarsVars serves them: ``_vars`` raw, ``[key]`` templated."""

    def __init__(self, raw, fail=(), unrendered=()):
        dict.__init__(self, raw)
        self._vars = raw
        self.fail = fail
        self.unrendered = unrendered
        self.reads = []

    def __getitem__(self, key):
        self.reads.append(key)
        if key in self.fail:
            raise RuntimeError("'typo' is undefined\nmore detail")
        return dict.__getitem__(self, key)


def test_variable_that_fails_to_template_is_an_error_naming_host_variable_and_text():
    hv = Templating({'hostgw_subnet': '{{ typo }}', 'hostgw_node_ip': '192.168.0.20'}, fail=('hostgw_subnet',))
    _members, errors = collect_members(['a'], {'a': hv}, ['a'])
    assert errors == ["host a: hostgw_subnet '{{ typo }}' failed to template: 'typo' is undefined"]


def test_variable_left_as_a_template_is_an_error():
    """ansible-core before 2.19 hands an undefined template back unrendered: never taken as a value or as unset."""
    _members, errors = collect_members(['a'], {'a': {'hostgw_node_ip': '{{ node_ip }}'}}, ['a'])
    assert errors == ["host a: hostgw_node_ip '{{ node_ip }}' did not template (an undefined variable?)"]


def test_each_key_read_at_most_once_and_facts_never_templated():
    lease = {'subnet': '10.244.1.0/24', 'peers': {}}
    host = {'default_ipv4': '10.0.0.7', 'links': [], 'addresses': []}
    hv = Templating({'ansible_facts': {'hostgw_lease': lease, 'hostgw_host': host}, 'unrelated': 'x' * 100})
    members, errors = collect_members(['a'], {'a': hv}, ['a'])
    assert errors == []
    assert (members[0].lease, members[0].node_ip) == ('10.244.1.0/24', '10.0.0.7')
    assert 'ansible_facts' not in hv.reads and 'unrelated' not in hv.reads
    assert len(hv.reads) == len(set(hv.reads))


def test_facts_from_ansible_facts_win_over_top_level_and_top_level_is_the_fallback():
    hvs = {
        'a': {'ansible_facts': {'hostgw_lease': {'subnet': '10.244.1.0/24'}}, 'hostgw_lease': {'subnet': '10.244.9.0/24'}},
        'b': {'hostgw_lease': {'subnet': '10.244.2.0/24'}},
        'c': {'ansible_facts': {'hostgw_host': {'default_ipv4': '10.0.0.3'}}},
    }
    ms = members_by_name(['a', 'b', 'c'], hvs)
    assert (ms['a'].lease, ms['b'].lease, ms['c'].node_ip) == ('10.244.1.0/24', '10.244.2.0/24', '10.0.0.3')


def test_pins_and_numbers_are_passed_as_text():
    hv = {'a': {'hostgw_subnet': '10.244.5.0/24', 'hostgw_subnet6': 'fd00::/64', 'hostgw_node_ip': 3232235521}}
    m = members_by_name(['a'], hv)['a']
    assert (m.pin, m.pin6, m.node_ip) == ('10.244.5.0/24', 'fd00::/64', '3232235521')


# --------------------------------------------------------------------------------------------------
# Leases and mesh records
# --------------------------------------------------------------------------------------------------

def test_leases_and_mesh_records():
    hvs = {
        'a': {'hostgw_lease': {'subnet': '10.244.1.0/24', 'subnet6': 'fd00:1::/64', 'mesh': {
            'a': {'subnet': '10.244.99.0/24'},          # a host's own entry in its copy is not a peer record
            'b': {'subnet': '10.244.2.0/24', 'subnet6': 'fd00:2::/64'},
            'c': {'subnet': '10.244.3.0/24'},
            'gone': {'subnet': '10.244.9.0/24'},        # not a member: ignored
            'junk': 'not a dict'}}},
        'b': {'hostgw_lease': {}},                      # holds nothing (state lost, or new)
        'c': {'hostgw_lease': {'subnet': '10.244.3.0/24', 'mesh': {'b': {'subnet': '10.244.2.0/24'}}}},
        'd': {},                                        # unknown
    }
    ms = members_by_name(['a', 'b', 'c', 'd'], hvs)
    assert (ms['a'].lease, ms['a'].lease6, ms['a'].record, ms['a'].record6) == ('10.244.1.0/24', 'fd00:1::/64', [], [])
    assert (ms['b'].lease, ms['b'].lease6) == ('', '')
    assert ms['b'].record == ['10.244.2.0/24']   # recorded by a and c alike: kept once
    assert ms['b'].record6 == ['fd00:2::/64']
    # c has a lease of its own: what peers recorded for it is not even read (it would not be used)
    assert (ms['c'].lease, ms['c'].lease6, ms['c'].record) == ('10.244.3.0/24', '', [])
    assert (ms['d'].lease, ms['d'].lease6, ms['d'].record) == (None, None, [])


def test_records_are_read_for_hosts_whose_lease_the_planner_would_drop():
    hvs = {
        'a': {'hostgw_lease': {'subnet': '10.244.1.0/24', 'mesh': {
            'b': {'subnet': '10.244.2.0/24', 'subnet6': 'fd00:10:244:2::/64'},
            'c': {'subnet': '10.244.3.0/24', 'subnet6': 'fd00:10:244:3::/64'},
            'p': {'subnet': '10.244.4.0/24', 'subnet6': 'fd00:10:244:4::/64'}}}},
        'b': {'hostgw_lease': {'subnet': '10.1.2.0/24'}},             # another network: dropped, so records matter
        'c': {'hostgw_lease': {'subnet': '10.244.3.0/25'}},           # another subnet length: the same
        'p': {'hostgw_subnet': '10.244.9.0/24', 'hostgw_subnet6': ' '},   # pinned (IPv4 only): records not needed
    }
    pool = Pool(NET)
    ms = members_by_name(['a', 'b', 'c', 'p'], hvs, pools=(pool, None))
    assert (ms['b'].record, ms['c'].record, ms['p'].record) == (['10.244.2.0/24'], ['10.244.3.0/24'], [])
    # single-stack: IPv6 records are never read
    assert (ms['b'].record6, ms['c'].record6, ms['p'].record6) == ([], [], [])
    ms = members_by_name(['a', 'b', 'c', 'p'], hvs, pools=(pool, Pool('fd00:10:244::/56', version=6, label='network6')))
    assert (ms['b'].record6, ms['c'].record6, ms['p'].record6) == (
        ['fd00:10:244:2::/64'], ['fd00:10:244:3::/64'], ['fd00:10:244:4::/64'])
    # without pools, any non-blank lease counts as usable
    ms = members_by_name(['a', 'b', 'c', 'p'], hvs)
    assert (ms['b'].record, ms['c'].record) == ([], [])


def test_other_lease_var():
    ms = members_by_name(['a'], {'a': {'my_lease': {'subnet': '10.244.4.0/24'}}}, lease_var='my_lease')
    assert ms['a'].lease == '10.244.4.0/24'


@pytest.mark.parametrize('lease, error', [
    ('10.244.1.0/24', "host a: hostgw_lease must be a dict (subnet, subnet6, peers), got '10.244.1.0/24'"),
    (['x'], "host a: hostgw_lease must be a dict (subnet, subnet6, peers), got ['x']"),
    ({'mesh': ['b']}, 'host a: hostgw_lease.mesh must be a dict of host: {subnet, subnet6}'),
])
def test_malformed_lease(lease, error):
    _members, errors = collect_members(['a'], {'a': {'hostgw_lease': lease}}, ['a'], 'hostgw_lease')
    assert errors == [error]


def test_group_host_without_hostvars():
    members, errors = collect_members(['a', 'b', 'c'], {'a': {}}, ['a'], 'hostgw_lease')
    assert (members, errors) == ([], ['hosts b, c of the group have no hostvars'])


# --------------------------------------------------------------------------------------------------
# summarize
# --------------------------------------------------------------------------------------------------

def test_summarize_new_moved_and_not_in_run():
    members = [
        Member('keeps', node_ip='192.168.0.1', lease='10.244.1.0/24'),
        Member('fresh', node_ip='192.168.0.2', lease=''),
        Member('pinned', node_ip='192.168.0.3', lease='10.244.3.0/24', pin='10.244.30.0/24'),
        Member('lost', node_ip='192.168.0.4', lease='', record=['10.244.4.0/24']),
        Member('away', node_ip='192.168.0.5', lease=None, record=['10.244.5.0/24'], in_run=False),
        Member('newpin', node_ip='192.168.0.6', lease='', pin='10.244.60.0/24'),
        Member('awaypin', node_ip='192.168.0.7', lease=None, pin='10.244.70.0/24', in_run=False),
    ]
    plan = summarize(plan_mesh(members, PlanOptions(NET)), members)
    assert plan['new_or_moved'] == ['fresh', 'newpin', 'pinned']
    assert plan['not_in_run'] == ['away', 'awaypin']


def test_summarize_compares_subnets_not_spelling():
    members = [Member('a', node_ip='192.168.0.1', node_ip6='2001:db8::1', lease='10.244.1.0/24',
                      lease6='fd00:10:244:0001::/64')]
    plan = plan_mesh(members, PlanOptions(NET, network6='fd00:10:244::/56'))
    assert plan['hosts']['a']['subnet6'] == 'fd00:10:244:1::/64'
    assert summarize(plan, members)['new_or_moved'] == []


def test_summarize_ipv6_only_change_counts():
    members = [Member('a', node_ip='192.168.0.1', node_ip6='2001:db8::1', lease='10.244.1.0/24', lease6='')]
    plan = summarize(plan_mesh(members, PlanOptions(NET, network6='fd00:10:244::/56')), members)
    assert plan['new_or_moved'] == ['a']


# --------------------------------------------------------------------------------------------------
# Property: reading only the records that are needed plans exactly like reading them all
# --------------------------------------------------------------------------------------------------

HOSTS = ['a', 'b', 'c', 'd', 'e', 'f']
SUBNETS = ['10.244.%d.0/24' % i for i in range(1, 5)] + ['10.1.1.0/24', '10.244.1.0/25', '']


def _reference_members(hostvars, play_hosts):
    """Every record of every host, as the plugin read them before it skipped unneeded ones."""
    members = []
    for name in HOSTS:
        lease = hostvars[name].get('hostgw_lease')
        records = [hv['hostgw_lease']['mesh'][name]['subnet'] for peer, hv in sorted(hostvars.items())
                   if peer != name and hv.get('hostgw_lease') and name in hv['hostgw_lease'].get('mesh', {})
                   and hv['hostgw_lease']['mesh'][name].get('subnet')]
        members.append(Member(name, node_ip=hostvars[name]['hostgw_node_ip'], pin=hostvars[name].get('hostgw_subnet'),
                              lease=None if lease is None else (lease.get('subnet') or ''), record=records,
                              in_run=name in play_hosts))
    return members


def _outcome(members):
    try:
        return plan_mesh(members, PlanOptions(NET))
    except PlanError as e:
        return sorted(e.errors)


@settings(max_examples=300, deadline=None, database=None)
@given(st.fixed_dictionaries(dict((h, st.tuples(
    st.sampled_from([None, 'none'] + SUBNETS),                                   # own lease (None: unknown)
    st.dictionaries(st.sampled_from(HOSTS), st.sampled_from(SUBNETS), max_size=4),  # its mesh copy
    st.sampled_from([None, None, None, '10.244.3.0/24']),                        # pin
    st.booleans())) for h in HOSTS)))                                            # in the run
def test_property_needed_records_only_plan_like_all_records(spec):
    hostvars = {}
    play_hosts = []
    for i, name in enumerate(HOSTS):
        own, mesh, pin, in_run = spec[name]
        hv = {'hostgw_node_ip': '192.168.0.%d' % (i + 1)}
        if own is not None:
            hv['hostgw_lease'] = {'mesh': dict((p, {'subnet': s}) for p, s in mesh.items())}
            if own != 'none':
                hv['hostgw_lease']['subnet'] = own
        if pin:
            hv['hostgw_subnet'] = pin
        hostvars[name] = hv
        if in_run:
            play_hosts.append(name)
    members, errors = collect_members(HOSTS, hostvars, play_hosts, 'hostgw_lease', (Pool(NET), None))
    assert errors == []
    assert _outcome(members) == _outcome(_reference_members(hostvars, play_hosts))
