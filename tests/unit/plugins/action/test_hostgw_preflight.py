# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the controller-side action plugin hostgw_preflight (plugins/action/hostgw_preflight.py)."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest

from ansible.errors import AnsibleActionFail
from ansible.playbook.play_context import PlayContext

from ansible_collections.hostgw.network.plugins.action.hostgw_preflight import ActionModule

__metaclass__ = type  # pylint: disable=invalid-name

PLAN = {'network': '10.244.0.0/16', 'network6': None, 'hosts': {
    'a': {'node_ip': '10.0.0.1', 'subnet': '10.244.1.0/24', 'uplink': 'eth0', 'mtu': 1450},
    'b': {'node_ip': '10.0.0.2', 'subnet': '10.244.2.0/24', 'uplink': 'eth0', 'mtu': 1450}}}


def host_facts(ip):
    return {'links': [{'name': 'eth0', 'kind': 'veth', 'mtu': 1450}],
            'addresses': [{'ifname': 'eth0', 'family': 4, 'address': ip, 'prefixlen': 24}], 'routes': []}


def run(args, hostvars, play_hosts=('a', 'b'), display=None):
    task = MagicMock()
    task.args = dict(args)
    task.async_val = 0
    task.check_mode = False
    task.action = 'hostgw.network.hostgw_preflight'
    act = ActionModule(task, MagicMock(), PlayContext(), loader=MagicMock(), templar=MagicMock(), shared_loader_obj=None)
    act._load_name = task.action    # set by the plugin loader; a class attribute only since ansible-core 2.19
    act._display = display if display is not None else MagicMock()
    return act.run(task_vars={'hostvars': hostvars, 'ansible_play_hosts': list(play_hosts), 'inventory_hostname': 'a'})


def facts_hostvars():
    return {'a': {'ansible_facts': {'hostgw_host': host_facts('10.0.0.1')}},
            'b': {'ansible_facts': {'hostgw_host': host_facts('10.0.0.2')}}}


def test_passes_with_facts_from_ansible_facts_and_returns_the_plans_uplinks():
    result = run({'plan': PLAN}, facts_hostvars())
    assert result['msg'] == 'pre-flight passed for 2 hosts'
    assert result['ansible_facts']['hostgw_preflight'] == {'hosts': {'a': {'uplink': 'eth0', 'mtu': 1450},
                                                                     'b': {'uplink': 'eth0', 'mtu': 1450}}}


def test_without_any_facts_fails_instead_of_passing_for_0_hosts():
    with pytest.raises(AnsibleActionFail) as e:
        run({'plan': PLAN}, {'a': {}, 'b': {}})
    assert e.value.result['errors'] == [
        'no facts: none of the 2 hosts of the plan in this run has hostgw_host (ansible_facts.hostgw_host); '
        'run hostgw.network.hostgw_facts on them first, as the hostgw.network.hostgw role does']


def test_a_host_of_the_run_without_facts_is_named():
    hv = facts_hostvars()
    del hv['b']['ansible_facts']
    with pytest.raises(AnsibleActionFail) as e:
        run({'plan': PLAN}, hv)
    assert e.value.result['errors'] == [
        'host b: no hostgw_host facts (ansible_facts.hostgw_host); run hostgw.network.hostgw_facts on them first, '
        'as the hostgw.network.hostgw role does']
    # not in the run: not checked, no error
    assert run({'plan': PLAN}, hv, play_hosts=['a'])['msg'] == 'pre-flight passed for 1 hosts'


def test_newline_in_bridge_names_the_variable_and_the_host():
    with pytest.raises(AnsibleActionFail) as e:
        run({'plan': PLAN, 'bridge': 'cni0\nlink add evil type bridge'}, facts_hostvars())
    assert e.value.result['errors'][0] == (
        "host a: hostgw_bridge: bridge name 'cni0\\nlink add evil type bridge' is not a valid interface name "
        "(1-15 characters of letters, digits, _ . -)")


def test_not_a_plan():
    with pytest.raises(AnsibleActionFail) as e:
        run({'plan': {'hosts': 'x'}}, facts_hostvars())
    assert e.value.result['errors'][0].startswith('plan is not a plan of hostgw.network.hostgw_subnet')


def test_old_option_name_iface_var_still_works():
    plan = {'network': '10.244.0.0/16', 'hosts': dict((n, dict(h, uplink=None, mtu=None)) for n, h in PLAN['hosts'].items())}
    hv = facts_hostvars()
    hv['a']['my_iface'] = 'nope0'
    display = MagicMock()
    with pytest.raises(AnsibleActionFail) as e:
        run({'plan': plan, 'iface_var': 'my_iface'}, hv, display=display)
    assert e.value.result['errors'][0] == 'host a: uplink my_iface=nope0 does not exist (links: eth0)'
    assert "Alias 'iface_var' is deprecated" in display.deprecated.call_args[0][0]


def test_facts_false_returns_the_hosts_in_the_result_only():
    result = run({'plan': PLAN, 'facts': False}, facts_hostvars())
    assert 'ansible_facts' not in result
    assert result['hosts'] == {'a': {'uplink': 'eth0', 'mtu': 1450}, 'b': {'uplink': 'eth0', 'mtu': 1450}}


def test_every_hosts_own_bridge_iface_and_paths_are_checked_before_any_host_is_touched():
    hv = facts_hostvars()
    hv['b'].update(hostgw_bridge='cni0\nx', hostgw_iface='eth0;x', hostgw_mtu='9x', hostgw_state_dir='etc/hostgw',
                   hostgw_cni_conf_dir='/etc/cni/../x', hostgw_cni_conf_name='../10.conflist')
    with pytest.raises(AnsibleActionFail) as e:
        run({'plan': PLAN}, hv)
    assert e.value.result['errors'] == [
        "host b: hostgw_bridge: bridge name 'cni0\\nx' is not a valid interface name (1-15 characters of letters, digits, _ . -)",
        "host b: hostgw_mtu '9x' is out of range: 0 (the uplink's MTU) or 68-65535",
        "host b: hostgw_iface: uplink name 'eth0;x' is not a valid interface name (1-15 characters of letters, digits, _ . -)",
        "host b: hostgw_cni_conf_name '../10.conflist' must be a plain file name ending in .conflist, .conf or .json",
        "host b: hostgw_state_dir 'etc/hostgw' must be an absolute path of letters, digits and _ . / + - only (no .. component)",
        "host b: hostgw_cni_conf_dir '/etc/cni/../x' must be an absolute path of letters, digits and _ . / + - only "
        "(no .. component)"]


def test_a_hosts_own_bridge_name_is_the_one_checked_against_its_links():
    hv = facts_hostvars()
    hv['b']['hostgw_bridge'] = 'eth0'     # b's uplink: only b is wrong, and a's cni0 is fine
    hv['b']['hostgw_mtu'] = '1400'        # an integer written as text is fine
    with pytest.raises(AnsibleActionFail) as e:
        run({'plan': PLAN}, hv)
    assert e.value.result['errors'] == ['host b: the bridge name eth0 is the uplink; choose another hostgw_bridge',
                                        'host b: a veth link named eth0 exists; hostgw needs that name for its bridge '
                                        '(set hostgw_bridge)']
    assert run({'plan': PLAN, 'host_settings': False}, hv)['msg'] == 'pre-flight passed for 2 hosts'


def test_the_runs_state_and_cni_directories_are_checked():
    with pytest.raises(AnsibleActionFail) as e:
        run({'plan': PLAN, 'state_dir': '/etc/host gw', 'cni_conf_dir': '/etc/cni/net.d'}, facts_hostvars())
    assert e.value.result['errors'] == [
        "host a: hostgw_state_dir '/etc/host gw' must be an absolute path of letters, digits and _ . / + - only (no .. component)"]
