# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the controller-side action plugin hostgw_subnet (plugins/action/hostgw_subnet.py)."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible.errors import AnsibleActionFail
from ansible.playbook.play_context import PlayContext

from ansible_collections.hostgw.network.plugins.action.hostgw_subnet import ActionModule, collect_members, summarize
from ansible_collections.hostgw.network.plugins.module_utils._plan import Member, PlanError, Pool, plan_mesh

__metaclass__ = type  # pylint: disable=invalid-name

NET = '10.244.0.0/16'


def make_action(args):
    task = MagicMock()
    task.args = dict(args)
    task.async_val = 0
    task.check_mode = False
    task.action = 'hostgw.network.hostgw_subnet'
    connection = MagicMock()
    return ActionModule(task, connection, PlayContext(), loader=MagicMock(), templar=MagicMock(),
                        shared_loader_obj=None)


def run_action(args, hostvars, group='hostgw_nodes', play_hosts=None, **extra):
    task_vars = {'groups': {group: list(hostvars), 'all': list(hostvars)}, 'hostvars': hostvars}
    if play_hosts is not None:
        task_vars['ansible_play_hosts'] = play_hosts
    task_vars.update(extra)
    act = make_action(args)
    act._display = MagicMock()
    result = act.run(task_vars=task_vars)
    result['_warnings'] = [c.args[0] for c in act._display.warning.call_args_list]
    return result


def fail_message(args, hostvars, **kw):
    with pytest.raises(AnsibleActionFail) as exc:
        run_action(args, hostvars, **kw)
    return exc.value


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


def test_undefined_variable_counts_as_not_set():
    class Broken(dict):
        def get(self, key, default=None):
            if key == 'hostgw_node_ip':
                raise RuntimeError('undefined variable in template')
            return dict.get(self, key, default)

    assert members_by_name(['a'], {'a': Broken(ansible_host='192.168.0.20')})['a'].node_ip == '192.168.0.20'


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
    ('10.244.1.0/24', "host a: hostgw_lease must be a dict (subnet, subnet6, mesh), got '10.244.1.0/24'"),
    (['x'], "host a: hostgw_lease must be a dict (subnet, subnet6, mesh), got ['x']"),
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
    plan = summarize(plan_mesh(members, NET), members)
    assert plan['new_or_moved'] == ['fresh', 'newpin', 'pinned']
    assert plan['not_in_run'] == ['away', 'awaypin']


def test_summarize_compares_subnets_not_spelling():
    members = [Member('a', node_ip='192.168.0.1', node_ip6='2001:db8::1', lease='10.244.1.0/24',
                      lease6='fd00:10:244:0001::/64')]
    plan = plan_mesh(members, NET, network6='fd00:10:244::/56')
    assert plan['hosts']['a']['subnet6'] == 'fd00:10:244:1::/64'
    assert summarize(plan, members)['new_or_moved'] == []


def test_summarize_ipv6_only_change_counts():
    members = [Member('a', node_ip='192.168.0.1', node_ip6='2001:db8::1', lease='10.244.1.0/24', lease6='')]
    plan = summarize(plan_mesh(members, NET, network6='fd00:10:244::/56'), members)
    assert plan['new_or_moved'] == ['a']


# --------------------------------------------------------------------------------------------------
# ActionModule.run, end to end
# --------------------------------------------------------------------------------------------------

def test_run_plans_from_inventory():
    hostvars = {
        'node2': {'ansible_host': '10.168.0.2', 'hostgw_lease': {'subnet': '192.168.1.0/24', 'mesh': {
            'node1': {'subnet': '192.168.0.0/24'}}}},
        'node1': {'hostgw_node_ip': '10.168.0.1', 'hostgw_subnet': '192.168.0.0/24', 'hostgw_lease': {}},
        'node3': {'ansible_host': 'node3.example.com', 'ansible_default_ipv4': {'address': '10.168.0.3'},
                  'hostgw_lease': {}},
    }
    result = run_action({'network': '192.168.0.0/16', 'subnet_min': '192.168.0.0'}, hostvars)
    assert result['changed'] is False
    assert result['msg'] == 'planned 3 hosts in 192.168.0.0/16'
    plan = result['ansible_facts']['hostgw_plan']
    assert plan['group'] == 'hostgw_nodes'
    assert dict((n, (h['subnet'], h['node_ip'], h['source'])) for n, h in plan['hosts'].items()) == {
        'node1': ('192.168.0.0/24', '10.168.0.1', 'pin'),
        'node2': ('192.168.1.0/24', '10.168.0.2', 'lease'),
        'node3': ('192.168.2.0/24', '10.168.0.3', 'new'),
    }
    assert plan['routes'] == [
        {'host': 'node1', 'dest': '192.168.0.0/24', 'via': '10.168.0.1'},
        {'host': 'node2', 'dest': '192.168.1.0/24', 'via': '10.168.0.2'},
        {'host': 'node3', 'dest': '192.168.2.0/24', 'via': '10.168.0.3'},
    ]
    assert plan['new_or_moved'] == ['node1', 'node3']
    assert plan['not_in_run'] == []
    assert result['_warnings'] == []


def test_run_dual_stack_message_and_facts():
    hostvars = {'a': {'hostgw_node_ip': '192.168.0.1', 'hostgw_node_ip6': '2001:db8::1', 'hostgw_lease': {}}}
    result = run_action({'network': NET, 'network6': 'fd00:10:244::/56', 'subnet_len6': 64}, hostvars)
    assert result['msg'] == 'planned 1 hosts in 10.244.0.0/16 and fd00:10:244::/56'
    assert result['ansible_facts']['hostgw_plan']['hosts']['a']['subnet6'] == 'fd00:10:244:1::/64'


def test_run_other_group():
    result = run_action({'network': NET, 'group': 'k8s'}, {'a': {'hostgw_node_ip': '192.168.0.1', 'hostgw_lease': {}}},
                        group='k8s')
    assert result['ansible_facts']['hostgw_plan']['group'] == 'k8s'


@pytest.mark.parametrize('groups', [{}, {'hostgw_nodes': []}, {'other': ['a']}])
def test_run_group_missing_or_empty(groups):
    with pytest.raises(AnsibleActionFail) as exc:
        make_action({'network': NET}).run(task_vars={'groups': groups, 'hostvars': {'a': {}}})
    assert str(exc.value).startswith("inventory group 'hostgw_nodes' has no hosts")


def test_run_notes_become_warnings():
    hostvars = {
        'a': {'hostgw_node_ip': '192.168.0.1', 'hostgw_subnet': '10.244.1.0/24', 'hostgw_lease': {}},
        'b': {'hostgw_node_ip': '192.168.0.2', 'hostgw_lease': {'subnet': '10.244.1.0/24'}},
    }
    result = run_action({'network': NET}, hostvars)
    note = 'host b: its lease 10.244.1.0/24 is now pinned to a; b gets a new subnet'
    assert result['ansible_facts']['hostgw_plan']['notes'] == [note]
    assert result['_warnings'] == ['hostgw_subnet: ' + note]
    assert result['ansible_facts']['hostgw_plan']['hosts']['b']['subnet'] == '10.244.2.0/24'
    assert result['ansible_facts']['hostgw_plan']['new_or_moved'] == ['a', 'b']


def test_run_plan_errors_fail_the_task_with_every_error():
    hostvars = {'a': {'hostgw_lease': {}}, 'b': {'hostgw_node_ip': '10.244.0.9', 'hostgw_lease': {}}}
    exc = fail_message({'network': NET}, hostvars)
    errors = [
        'host a: no node IP: set hostgw_node_ip, or ansible_host to an address, or gather facts '
        'so ansible_default_ipv4 is known',
        'host b: node IP 10.244.0.9 is inside the cluster network 10.244.0.0/16; node addresses must lie outside it',
    ]
    assert str(exc).startswith('hostgw_subnet: ' + '; '.join(errors))
    assert exc.result['errors'] == errors


def test_run_malformed_lease_fails():
    exc = fail_message({'network': NET}, {'a': {'hostgw_node_ip': '192.168.0.1', 'hostgw_lease': 'x'}})
    assert exc.result['errors'] == ["host a: hostgw_lease must be a dict (subnet, subnet6, mesh), got 'x'"]


@pytest.mark.parametrize('args, words', [
    ({'network': NET, 'subnet_lenght': 24}, ['Unsupported parameters', 'subnet_lenght']),
    ({'network': NET, 'unknown_leases': 'guess'}, ['unknown_leases', 'fail, new', 'guess']),
    ({'network': NET, 'subnet_len': 'wide'}, ['subnet_len', 'int']),
    ({}, ['missing required arguments: network']),
])
def test_run_rejects_bad_options(args, words):
    message = str(fail_message(args, {'a': {'hostgw_node_ip': '192.168.0.1', 'hostgw_lease': {}}}))
    for word in words:
        assert word in message


# --------------------------------------------------------------------------------------------------
# --limit: hosts outside the run
# --------------------------------------------------------------------------------------------------

def limited_inventory():
    """Three nodes planned before; the run is limited to a and new host d."""
    mesh = {'a': {'subnet': '10.244.1.0/24'}, 'b': {'subnet': '10.244.2.0/24'}, 'c': {'subnet': '10.244.3.0/24'}}
    return {
        'a': {'hostgw_node_ip': '192.168.0.1', 'hostgw_lease': {'subnet': '10.244.1.0/24', 'mesh': mesh}},
        'b': {'hostgw_node_ip': '192.168.0.2'},
        'c': {'hostgw_node_ip': '192.168.0.3'},
        'd': {'hostgw_node_ip': '192.168.0.4', 'hostgw_lease': {}},
    }


def test_limit_hosts_outside_the_run_keep_their_recorded_subnets():
    result = run_action({'network': NET}, limited_inventory(), play_hosts=['a', 'd'])
    plan = result['ansible_facts']['hostgw_plan']
    assert dict((n, (h['subnet'], h['source'], h['in_run'])) for n, h in plan['hosts'].items()) == {
        'a': ('10.244.1.0/24', 'lease', True),
        'b': ('10.244.2.0/24', 'peer-record', False),
        'c': ('10.244.3.0/24', 'peer-record', False),
        'd': ('10.244.4.0/24', 'new', True),
    }
    assert plan['not_in_run'] == ['b', 'c']
    assert plan['new_or_moved'] == ['d']


def test_limit_host_outside_the_run_without_any_record_fails_naming_it():
    hostvars = limited_inventory()
    hostvars['e'] = {'hostgw_node_ip': '192.168.0.5'}
    exc = fail_message({'network': NET}, hostvars, play_hosts=['a', 'd'])
    assert exc.result['errors'] == [
        'host e: its network lease is unknown in this run (not reachable or not in --limit, and no peer recorded it); '
        'refusing to renumber it or give its subnet away: run with it included, or pin hostgw_subnet']
    # unknown_leases=new only applies to hosts in the run
    exc = fail_message({'network': NET, 'unknown_leases': 'new'}, hostvars, play_hosts=['a', 'd'])
    assert exc.result['errors'][0].startswith('host e: its network lease is unknown in this run')


def test_unknown_leases_new_for_hosts_in_the_run():
    hostvars = {'a': {'hostgw_node_ip': '192.168.0.1'}, 'b': {'hostgw_node_ip': '192.168.0.2'}}
    exc = fail_message({'network': NET}, hostvars)
    assert [e.split(':')[0] for e in exc.result['errors']] == ['host a', 'host b']
    plan = run_action({'network': NET, 'unknown_leases': 'new'}, hostvars)['ansible_facts']['hostgw_plan']
    assert dict((n, h['subnet']) for n, h in plan['hosts'].items()) == {'a': '10.244.1.0/24', 'b': '10.244.2.0/24'}


def test_play_hosts_all_is_the_fallback_and_the_group_when_neither_is_set():
    hostvars = limited_inventory()
    plan = run_action({'network': NET}, hostvars, ansible_play_hosts_all=['a', 'd'])['ansible_facts']['hostgw_plan']
    assert plan['not_in_run'] == ['b', 'c']
    del hostvars['b'], hostvars['c']
    plan = run_action({'network': NET}, hostvars)['ansible_facts']['hostgw_plan']
    assert plan['not_in_run'] == []


def test_pin_over_a_subnet_held_by_a_host_outside_the_run_fails():
    hostvars = limited_inventory()
    hostvars['d']['hostgw_subnet'] = '10.244.2.0/24'
    exc = fail_message({'network': NET}, hostvars, play_hosts=['a', 'd'])
    assert exc.result['errors'] == [
        'host d is pinned to 10.244.2.0/24, which b (not in this run) still holds; include b in the run '
        'so it can be renumbered, or pin another subnet']


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
        return plan_mesh(members, NET)
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
