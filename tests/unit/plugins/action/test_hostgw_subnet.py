# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the controller-side action plugin hostgw_subnet (plugins/action/hostgw_subnet.py)."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest

from ansible.errors import AnsibleActionFail
from ansible.playbook.play_context import PlayContext

from ansible_collections.hostgw.network.plugins.action.hostgw_subnet import ActionModule
from ansible_collections.hostgw.network.plugins.module_utils._mesh import member_routes

__metaclass__ = type  # pylint: disable=invalid-name

NET = '10.244.0.0/16'


def new_action(cls, name, args):
    """The action plugin as the plugin loader makes it, on ansible-core 2.16 to 2.21."""
    task = MagicMock()
    task.args = dict(args)
    task.async_val = 0
    task.check_mode = False
    task.action = name
    act = cls(task, MagicMock(), PlayContext(), loader=MagicMock(), templar=MagicMock(), shared_loader_obj=None)
    act._load_name = name   # set by the plugin loader; a class attribute only since ansible-core 2.19
    act._display = MagicMock()
    return act


def make_action(args):
    return new_action(ActionModule, 'hostgw.network.hostgw_subnet', args)


def run_action(args, hostvars, group='hostgw_nodes', play_hosts=None, **extra):
    task_vars = {'groups': {group: list(hostvars), 'all': list(hostvars)}, 'hostvars': hostvars}
    if play_hosts is not None:
        task_vars['ansible_play_hosts'] = play_hosts
    task_vars.update(extra)
    act = make_action(args)
    result = act.run(task_vars=task_vars)
    result['_warnings'] = [c.args[0] for c in act._display.warning.call_args_list]
    return result


def fail_message(args, hostvars, **kw):
    with pytest.raises(AnsibleActionFail) as exc:
        run_action(args, hostvars, **kw)
    return exc.value


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
    plan = result['plan']
    assert plan['group'] == 'hostgw_nodes'
    assert dict((n, (h['subnet'], h['node_ip'], h['source'])) for n, h in plan['hosts'].items()) == {
        'node1': ('192.168.0.0/24', '10.168.0.1', 'pin'),
        'node2': ('192.168.1.0/24', '10.168.0.2', 'lease'),
        'node3': ('192.168.2.0/24', '10.168.0.3', 'new'),
    }
    assert member_routes(plan['hosts']) == [
        {'host': 'node1', 'dest': '192.168.0.0/24', 'via': '10.168.0.1'},
        {'host': 'node2', 'dest': '192.168.1.0/24', 'via': '10.168.0.2'},
        {'host': 'node3', 'dest': '192.168.2.0/24', 'via': '10.168.0.3'},
    ]
    assert plan['new_or_moved'] == ['node1', 'node3']
    assert plan['not_in_run'] == []
    assert result['_warnings'] == []


def test_the_plan_is_returned_once_and_as_a_fact_only_when_asked():
    hostvars = {'a': {'hostgw_node_ip': '192.168.0.1', 'hostgw_lease': {}}}
    result = run_action({'network': NET}, hostvars)
    assert 'ansible_facts' not in result and result['plan']['hosts']['a']['subnet'] == '10.244.1.0/24'
    result = run_action({'network': NET, 'facts': True}, hostvars)
    assert result['ansible_facts']['hostgw_plan'] == result['plan']


def test_run_dual_stack_message_and_facts():
    hostvars = {'a': {'hostgw_node_ip': '192.168.0.1', 'hostgw_node_ip6': '2001:db8::1', 'hostgw_lease': {}}}
    result = run_action({'network': NET, 'network6': 'fd00:10:244::/56', 'subnet_len6': 64}, hostvars)
    assert result['msg'] == 'planned 1 hosts in 10.244.0.0/16 and fd00:10:244::/56'
    assert result['plan']['hosts']['a']['subnet6'] == 'fd00:10:244:1::/64'


def test_run_other_group():
    result = run_action({'network': NET, 'group': 'k8s'}, {'a': {'hostgw_node_ip': '192.168.0.1', 'hostgw_lease': {}}},
                        group='k8s')
    assert result['plan']['group'] == 'k8s'


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
    assert result['plan']['notes'] == [note]
    assert result['_warnings'] == ['hostgw_subnet: ' + note]
    assert result['plan']['hosts']['b']['subnet'] == '10.244.2.0/24'
    assert result['plan']['new_or_moved'] == ['a', 'b']


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
    assert exc.result['errors'] == ["host a: hostgw_lease must be a dict (subnet, subnet6, peers), got 'x'"]


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
    plan = result['plan']
    assert dict((n, (h['subnet'], h['source'])) for n, h in plan['hosts'].items()) == {
        'a': ('10.244.1.0/24', 'lease'),
        'b': ('10.244.2.0/24', 'peer-record'),
        'c': ('10.244.3.0/24', 'peer-record'),
        'd': ('10.244.4.0/24', 'new'),
    }
    assert plan['not_in_run'] == ['b', 'c']
    assert plan['new_or_moved'] == ['d']


def test_limit_host_outside_the_run_without_any_record_fails_naming_it():
    hostvars = limited_inventory()
    hostvars['e'] = {'hostgw_node_ip': '192.168.0.5'}
    exc = fail_message({'network': NET}, hostvars, play_hosts=['a', 'd'])
    assert exc.result['errors'] == [
        'host e: its network lease is unknown in this run (not reachable or not in --limit, not in the fact '
        'cache, and no lease or member table of the hosts in this run records it); refusing to renumber it or give its subnet '
        'away: run with it included, put a host converged with it in the run (its member table knows every member), '
        'refresh the fact cache (playbooks/facts.yml), or pin hostgw_subnet']
    # unknown_leases=new only applies to hosts in the run
    exc = fail_message({'network': NET, 'unknown_leases': 'new'}, hostvars, play_hosts=['a', 'd'])
    assert exc.result['errors'][0].startswith('host e: its network lease is unknown in this run')


def test_no_lease_read_at_all_fails_saying_so_and_how_to_fix_it():
    hostvars = {'a': {'hostgw_node_ip': '192.168.0.1'}, 'b': {'hostgw_node_ip': '192.168.0.2'}}
    exc = fail_message({'network': NET}, hostvars)
    assert exc.result['errors'] == [
        'no lease was read: none of the 2 hosts of the group hostgw_nodes has hostgw_lease (ansible_facts.hostgw_lease); '
        'run hostgw.network.hostgw_facts on the group first, as the hostgw.network.hostgw role does, or set '
        'unknown_leases: new when you keep no leases (and pin every host that must never move)']
    plan = run_action({'network': NET, 'unknown_leases': 'new'}, hostvars)['plan']
    assert dict((n, h['subnet']) for n, h in plan['hosts'].items()) == {'a': '10.244.1.0/24', 'b': '10.244.2.0/24'}


def test_every_host_pinned_needs_no_lease():
    hostvars = {'a': {'hostgw_node_ip': '192.168.0.1', 'hostgw_subnet': '10.244.7.0/24'}}
    plan = run_action({'network': NET}, hostvars)['plan']
    assert plan['hosts']['a']['source'] == 'pin'
    # dual-stack: the IPv6 side is not pinned, so a lease is needed again
    hostvars['a']['hostgw_node_ip6'] = '2001:db8::1'
    exc = fail_message({'network': NET, 'network6': 'fd00:10:244::/56'}, hostvars)
    assert exc.result['errors'][0].startswith('no lease was read')


def test_unknown_leases_of_some_hosts_in_the_run_fail_naming_each():
    hostvars = {'a': {'hostgw_node_ip': '192.168.0.1', 'hostgw_lease': {}}, 'b': {'hostgw_node_ip': '192.168.0.2'}}
    exc = fail_message({'network': NET}, hostvars)
    assert [e.split(':')[0] for e in exc.result['errors']] == ['host b']


def test_play_hosts_all_is_the_fallback_and_the_group_when_neither_is_set():
    hostvars = limited_inventory()
    plan = run_action({'network': NET}, hostvars, ansible_play_hosts_all=['a', 'd'])['plan']
    assert plan['not_in_run'] == ['b', 'c']
    del hostvars['b'], hostvars['c']
    plan = run_action({'network': NET}, hostvars)['plan']
    assert plan['not_in_run'] == []


def test_pin_over_a_subnet_held_by_a_host_outside_the_run_fails():
    hostvars = limited_inventory()
    hostvars['d']['hostgw_subnet'] = '10.244.2.0/24'
    exc = fail_message({'network': NET}, hostvars, play_hosts=['a', 'd'])
    assert exc.result['errors'] == [
        'host d is pinned to 10.244.2.0/24, which b (not in this run) still holds; include b in the run '
        'so it can be renumbered, or pin another subnet']


# --------------------------------------------------------------------------------------------------
# Runs over part of the group: member tables, the fact cache, predicted new hosts (docs/fleet.md)
# --------------------------------------------------------------------------------------------------

def _mesh(n, written_by=None):
    """Hosts h1..hn converged on 10.244.i.0/24 via 10.0.0.i; the table of each host lists every one of them."""
    names = ['h%d' % i for i in range(1, n + 1)]
    table = {'group': 'hostgw_nodes', 'members': dict((h, ['10.244.%d.0/24' % i, '10.0.0.%d' % i])
                                                      for i, h in enumerate(names, 1))}
    hv = {}
    for i, h in enumerate(names, 1):
        hv[h] = {'hostgw_node_ip': '10.0.0.%d' % i}
    return names, hv, dict(table, host=written_by or names[0])


def _in_run(hv, host, lease=True, table=None, read=True):
    """What hostgw_facts gives a host of the run: its lease (or none: wiped), and its table when read."""
    i = int(host[1:])
    facts = {'hostgw_host': {'members_read': read and table is not None},
             'hostgw_lease': {'subnet': '10.244.%d.0/24' % i} if lease else {}}
    if table is not None:
        facts['hostgw_members'] = dict(table, host=host)
    hv[host]['ansible_facts'] = facts


def _subnets(plan):
    return dict((n, h['subnet']) for n, h in plan['hosts'].items())


def test_limit_to_one_host_of_a_converged_mesh_plans_every_member_from_its_table():
    names, hv, table = _mesh(6)
    _in_run(hv, 'h5', table=table)
    plan = run_action({'network': NET}, hv, play_hosts=['h5'])['plan']
    assert _subnets(plan) == dict((h, '10.244.%d.0/24' % i) for i, h in enumerate(names, 1))
    assert plan['members_read'] == 1 and plan['predicted'] == []
    assert plan['hosts']['h1']['source'] == 'peer-record' and plan['hosts']['h5']['source'] == 'lease'


def test_a_full_run_reads_no_table_even_when_one_is_in_the_facts():
    names, hv, table = _mesh(3)
    for h in names:
        _in_run(hv, h, table=table)
    plan = run_action({'network': NET}, hv, play_hosts=names)['plan']
    assert plan['members_read'] == 0


def test_a_wiped_host_with_an_intact_one_gets_its_subnet_back():
    names, hv, table = _mesh(6)
    _in_run(hv, 'h2', table=table)
    _in_run(hv, 'h4', lease=False)            # state dir and kernel state gone
    plan = run_action({'network': NET}, hv, play_hosts=['h2', 'h4'])['plan']
    assert plan['hosts']['h4']['subnet'] == '10.244.4.0/24' and plan['hosts']['h4']['source'] == 'peer-record'
    assert plan['new_or_moved'] == []


def test_a_wiped_host_alone_is_refused_naming_the_hosts_nobody_knows():
    names, hv, _table = _mesh(14)
    _in_run(hv, 'h4', lease=False)
    exc = fail_message({'network': NET}, hv, play_hosts=['h4'])
    assert len(exc.result['errors']) == 2
    assert exc.result['errors'][1] == (
        'h4 in this run holds no lease (new, or wiped) and no host of the run has a member table: it cannot plan the '
        'mesh alone. Add a converged host to --limit, run the whole group, or refresh the fact cache first '
        '(ansible-playbook playbooks/facts.yml with a fact cache configured)')
    assert exc.result['errors'][0].startswith(
        'hosts h1, h10, h11, h12, h13, h14, h2, h3, h5, h6 and 3 more: their network leases are unknown in this run '
        '(13 hosts not reachable or not in --limit, not in the fact cache, and no lease or member table of the hosts in '
        'this run records them); refusing to renumber them or give their subnets away: run with them included, put a '
        'host converged with them in the run')


def test_a_table_kept_in_a_fact_cache_is_not_taken_for_this_run():
    names, hv, table = _mesh(4)
    _in_run(hv, 'h1', table=table, read=False)    # hostgw_members from an earlier run, not read in this one
    exc = fail_message({'network': NET}, hv, play_hosts=['h1'])
    assert exc.result['errors'][0].startswith('hosts h2, h3, h4: their network leases are unknown')


def test_a_new_host_alone_gets_a_free_subnet_from_the_fact_cache():
    names, hv, _table = _mesh(3)
    for h in names:                               # the cache: every member's lease and facts from a full run
        _in_run(hv, h)
    hv['h9'] = {'hostgw_node_ip': '10.0.0.9', 'ansible_facts': {'hostgw_host': {}, 'hostgw_lease': {}}}
    plan = run_action({'network': NET}, hv, play_hosts=['h9'])['plan']
    assert _subnets(plan)['h9'] == '10.244.4.0/24' and plan['new_or_moved'] == ['h9']
    assert [r for r in member_routes(plan['hosts']) if r['host'] != 'h9'] == [
        {'host': h, 'dest': '10.244.%d.0/24' % i, 'via': '10.0.0.%d' % i} for i, h in enumerate(names, 1)]


def test_tables_that_disagree_about_a_host_outside_the_run_are_refused():
    names, hv, table = _mesh(4)
    stale = dict(table, members=dict(table['members'], h3=['10.244.9.0/24', '10.0.0.3']))
    _in_run(hv, 'h1', table=table)
    _in_run(hv, 'h2', table=stale)
    exc = fail_message({'network': NET}, hv, play_hosts=['h1', 'h2'])
    assert exc.result['errors'] == ['host h3: peers recorded different network subnets for it (10.244.3.0/24, '
                                    '10.244.9.0/24); pin it with hostgw_subnet']


def test_node_ips_outside_the_run_come_from_the_tables_when_inventory_has_none():
    names, hv, table = _mesh(3)
    for h in ('h2', 'h3'):
        del hv[h]['hostgw_node_ip']               # node IPs from gathered facts, which this run did not gather
    _in_run(hv, 'h1', table=table)
    plan = run_action({'network': NET}, hv, play_hosts=['h1'])['plan']
    assert [(h['node_ip']) for h in plan['hosts'].values()] == ['10.0.0.1', '10.0.0.2', '10.0.0.3']


def test_slices_with_new_hosts_in_each_agree_on_every_subnet():
    """Job slicing: each slice plans the other slices' new hosts as a full run would (no two on one subnet)."""
    names, hv, table = _mesh(4)
    for h in ('n1', 'n2', 'n3'):
        hv[h] = {'hostgw_node_ip': '10.0.1.%s' % h[1]}
    slices = [['h1', 'n2'], ['h2', 'h3', 'n1'], ['h4', 'n3']]
    plans = []
    for part in slices:
        view = dict((h, dict(v)) for h, v in hv.items())
        for h in part:
            if h.startswith('h'):
                _in_run(view, h, table=table)
            else:
                view[h]['ansible_facts'] = {'hostgw_host': {}, 'hostgw_lease': {}}
        with pytest.raises(AnsibleActionFail) as refused:     # by default: refused, saying how to run
            run_action({'network': NET}, view, play_hosts=part)
        assert 'set hostgw_predict_new: true' in refused.value.result['errors'][-1]
        plans.append(run_action({'network': NET, 'predict_new': True}, view, play_hosts=part)['plan'])
    full = dict((h, dict(v)) for h, v in hv.items())
    for h in full:
        if h.startswith('h'):
            _in_run(full, h)
        else:
            full[h]['ansible_facts'] = {'hostgw_host': {}, 'hostgw_lease': {}}
    want = _subnets(run_action({'network': NET}, full, play_hosts=list(full))['plan'])
    assert want['n1'] == '10.244.5.0/24' and want['n3'] == '10.244.7.0/24'
    for plan, part in zip(plans, slices):
        assert _subnets(plan) == want, part
        assert plan['predicted'] == sorted(h for h in ('n1', 'n2', 'n3') if h not in part)
    assert len(set(want.values())) == len(want)


def test_a_table_written_for_another_host_or_group_is_not_taken():
    names, hv, table = _mesh(3)
    _in_run(hv, 'h1', table=table)
    hv['h1']['ansible_facts']['hostgw_members'] = dict(table, host='h2')      # a cloned state dir
    exc = fail_message({'network': NET}, hv, play_hosts=['h1'])
    assert exc.result['errors'][0].startswith('hosts h2, h3: their network leases are unknown')
    hv['h1']['ansible_facts']['hostgw_members'] = dict(table, host='h1', group='other_mesh')
    exc = fail_message({'network': NET}, hv, play_hosts=['h1'])
    assert exc.result['errors'][0].startswith('hosts h2, h3: their network leases are unknown')


def test_a_host_that_lost_its_lease_but_kept_its_table_keeps_its_subnet():
    names, hv, table = _mesh(4)
    _in_run(hv, 'h3', lease=False, table=table)
    plan = run_action({'network': NET}, hv, play_hosts=['h3'])['plan']
    assert plan['hosts']['h3']['subnet'] == '10.244.3.0/24' and plan['new_or_moved'] == []


def test_a_host_that_joined_through_a_limit_is_never_given_away_to_a_new_host():
    """h9 joined with --limit h9 (a fact cache then); h1's table does not know it. A later --limit h1,h10 (h10 new,
    no cache) must refuse rather than plan h10 onto h9's subnet."""
    names, hv, table = _mesh(3)
    _in_run(hv, 'h1', table=table)
    hv['h9'] = {'hostgw_node_ip': '10.0.0.9'}                  # holds 10.244.4.0/24, unknown to this run
    hv['h10'] = {'hostgw_node_ip': '10.0.0.10', 'ansible_facts': {'hostgw_host': {}, 'hostgw_lease': {}}}
    exc = fail_message({'network': NET}, hv, play_hosts=['h1', 'h10'])
    assert any(e.startswith('host h9: its network lease is unknown in this run') for e in exc.result['errors'])


def test_serial_batches_are_planned_from_the_batch_not_the_play():
    """With serial, ansible_play_hosts lists hosts of later batches too; only the batch has been read."""
    names, hv, table = _mesh(4)
    for h in ('h1', 'h2'):
        _in_run(hv, h, table=table)
    plan = run_action({'network': NET}, hv, play_hosts=names, ansible_play_batch=['h1', 'h2'])['plan']
    assert plan['not_in_run'] == ['h3', 'h4'] and plan['members_read'] == 2
