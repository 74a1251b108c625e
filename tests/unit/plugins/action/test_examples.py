# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every EXAMPLES task of hostgw_subnet and hostgw_preflight runs as written, through the action plugin.

Task variables are Ansible's own (InventoryManager, VariableManager, HostVars) for a two-host inventory
(the seed's host1 and host2); a ``hostgw_facts`` task sets what the module returns on a fresh node; module
arguments and ``debug`` messages are templated by Ansible's Templar. Host variables written in an example's
``# host_vars:`` comment are set for that example. Facts are not injected as variables
(``ANSIBLE_INJECT_FACT_VARS=False``): everything is read from ``ansible_facts``.
"""

from __future__ import annotations

import re
from unittest.mock import MagicMock

import pytest
import yaml

from ansible import constants as C
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.template import Templar
from ansible.vars.hostvars import HostVars
from ansible.vars.manager import VariableManager

from ansible_collections.hostgw.network.plugins.action import hostgw_preflight as preflight_action
from ansible_collections.hostgw.network.plugins.action import hostgw_subnet as subnet_action
from ansible_collections.hostgw.network.plugins.filter import plan_host as plan_host_filter
from ansible_collections.hostgw.network.plugins.module_utils._plan import host_view
from ansible_collections.hostgw.network.plugins.modules import hostgw_preflight as preflight_doc
from ansible_collections.hostgw.network.plugins.modules import hostgw_subnet as subnet_doc

try:
    from ansible.template import trust_as_template     # ansible-core 2.19+: only trusted text is a template
except ImportError:     # before 2.19 every string is
    def trust_as_template(value):
        return value

__metaclass__ = type  # pylint: disable=invalid-name

ACTIONS = {'hostgw.network.hostgw_subnet': subnet_action.ActionModule,
           'hostgw.network.hostgw_preflight': preflight_action.ActionModule}
HOSTS = {'host1': '10.168.0.1', 'host2': '10.168.0.2'}


def node_facts(ip):
    """What hostgw_facts returns on a fresh seed host: no lease yet, eth0 holding the node IP."""
    return {
        'hostgw_lease': {},
        'hostgw_host': {
            'links': [{'name': 'lo', 'kind': None, 'mtu': 65536, 'up': True, 'alias': None},
                      {'name': 'eth0', 'kind': 'veth', 'mtu': 1500, 'up': True, 'alias': None}],
            'addresses': [{'ifname': 'eth0', 'family': 4, 'address': ip, 'prefixlen': 24, 'temporary': False}],
            'routes': [{'family': 4, 'dest': '10.168.0.0/24', 'via': None, 'dev': 'eth0', 'proto': 2, 'type': 'unicast'}],
            'default_ipv4': ip, 'default_ipv6': None, 'pyroute2': '0.7.2', 'python': '/usr/bin/python3',
            'systemd': True, 'firewall': 'iptables', 'lease_error': None,
        },
    }


def trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return dict((k, trusted(v)) for k, v in value.items())
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return value


def host_vars_of(comment):
    """``# host_vars: host1 -> key: value, host2 -> key: value`` of an example."""
    out = {}
    for host, key, value in re.findall(r'(host\d) -> (\w+): ([^,\s]+)', comment or ''):
        out.setdefault(host, {})[key] = value
    return out


def examples(doc):
    """The EXAMPLES tasks with the ``# host_vars:`` comment that follows each."""
    tasks = yaml.safe_load(doc.EXAMPLES)
    comments = re.split(r'\n(?=- name: )', doc.EXAMPLES.strip())
    assert len(comments) == len(tasks)
    for task, text in zip(tasks, comments):
        m = re.search(r'# host_vars: (.*)', text)
        yield task, host_vars_of(m.group(1) if m else None)


class Play:
    """Two hosts, Ansible's variable machinery, tasks run the way the strategy would (run_once facts to all)."""

    def __init__(self, tmp_path, host_vars, monkeypatch):
        monkeypatch.setattr(C, 'INJECT_FACTS_AS_VARS', False)
        inv = tmp_path / 'hosts.ini'
        lines = ['[hostgw_nodes]']
        for host, ip in HOSTS.items():
            extra = ''.join(' %s=%s' % kv for kv in sorted(host_vars.get(host, {}).items()))
            lines.append('%s ansible_host=%s%s' % (host, ip, extra))
        inv.write_text('\n'.join(lines) + '\n')
        self.loader = DataLoader()
        self.inventory = InventoryManager(loader=self.loader, sources=[str(inv)])
        self.vm = VariableManager(loader=self.loader, inventory=self.inventory)
        HostVars(inventory=self.inventory, variable_manager=self.vm, loader=self.loader)  # registers itself as vm's hostvars
        self.results = []

    def task_vars(self, host):
        tv = self.vm.get_vars(host=self.inventory.get_host(host), include_hostvars=True)
        tv['ansible_play_hosts'] = list(HOSTS)
        return tv

    def run(self, task):
        name = task.pop('name')
        task.pop('run_once', None)
        register = task.pop('register', None)
        (module, args), = task.items()
        if module == 'hostgw.network.hostgw_facts':
            for host, ip in HOSTS.items():
                self.vm.set_host_facts(host, node_facts(ip))
            return None
        if module == 'ansible.builtin.debug':
            return [Templar(loader=self.loader, variables=self.task_vars(h)).template(trusted(args['msg'])) for h in HOSTS]
        tv = self.task_vars('host1')
        args = Templar(loader=self.loader, variables=tv).template(trusted(args))
        t = MagicMock()
        t.args, t.async_val, t.check_mode, t.action = args, 0, False, module
        act = ACTIONS[module](t, MagicMock(), PlayContext(), loader=self.loader, templar=MagicMock(), shared_loader_obj=None)
        act._load_name = module     # as the plugin loader sets it (a class attribute only since ansible-core 2.19)
        act._display = MagicMock()
        result = act.run(task_vars=tv)
        assert not result.get('failed'), (name, result)
        for host in HOSTS:      # run_once: the facts and the registered result go to every host of the play
            if 'ansible_facts' in result:
                self.vm.set_host_facts(host, result['ansible_facts'])
            if register:
                self.vm.set_nonpersistent_facts(host, {register: result})
        self.results.append((name, result))
        return result


def test_every_hostgw_subnet_example_runs_as_written(tmp_path, monkeypatch):
    """Each hostgw_subnet example in a play of its own (after the facts example), then the debug examples that follow
    it, templated by Ansible (the plan_host filter included)."""
    tasks = list(examples(subnet_doc))
    facts_task = [t for t, _hv in tasks if 'hostgw.network.hostgw_facts' in t][0]
    planned = debugged = 0
    play = plan = None
    for task, host_vars in tasks:
        if 'ansible.builtin.debug' in task:
            messages = play.run(dict(task))
            for host, msg in zip(HOSTS, messages):
                assert msg.startswith('%s gets %s' % (host, plan['hosts'][host]['subnet'])), msg
                if 'bridge address' in task['ansible.builtin.debug']['msg']:
                    assert msg.endswith('bridge address %s1/24' % plan['hosts'][host]['subnet'][:-4]), msg
            debugged += 1
            continue
        if 'hostgw.network.hostgw_subnet' not in task:
            continue
        args = task['hostgw.network.hostgw_subnet']
        play = Play(tmp_path, host_vars, monkeypatch)
        if args.get('unknown_leases') != 'new':
            play.run(dict(facts_task))
        result = play.run(dict(task))
        plan = result['plan']
        assert sorted(plan['hosts']) == ['host1', 'host2']
        if args.get('facts'):
            assert result['ansible_facts']['hostgw_plan'] is plan
        else:
            assert 'ansible_facts' not in result
            assert play.task_vars('host2')[task['register']]['plan']['hosts']['host2']['subnet'] == plan['hosts']['host2']['subnet']
        for host, hv in host_vars.items():
            if 'hostgw_subnet' in hv:
                assert plan['hosts'][host]['subnet'] == hv['hostgw_subnet']
            if 'hostgw_node_ip6' in hv:
                assert plan['hosts'][host]['node_ip6'] == hv['hostgw_node_ip6']
        planned += 1
    assert (planned, debugged) == (5, 2)


def test_seed_example_gives_the_article_topology(tmp_path, monkeypatch):
    task, host_vars = [(t, hv) for t, hv in examples(subnet_doc) if t['name'].startswith('The seed')][0]
    play = Play(tmp_path, host_vars, monkeypatch)
    plan = play.run(task)['plan']
    assert dict((h, (host_view(plan, h)['gateway_cidr'], p['node_ip'])) for h, p in plan['hosts'].items()) == {
        'host1': ('192.168.0.1/24', '10.168.0.1'), 'host2': ('192.168.1.1/24', '10.168.0.2')}


def test_first_example_without_facts_fails_saying_no_lease_was_read(tmp_path, monkeypatch):
    task = [t for t, _hv in examples(subnet_doc) if 'hostgw.network.hostgw_subnet' in t][0]
    play = Play(tmp_path, {}, monkeypatch)
    with pytest.raises(Exception) as e:
        play.run(task)
    assert 'no lease was read' in str(e.value) and 'hostgw.network.hostgw_facts' in str(e.value)


def test_every_hostgw_preflight_example_runs_as_written(tmp_path, monkeypatch):
    play = Play(tmp_path, {}, monkeypatch)
    checked = 0
    for task, _hv in examples(preflight_doc):
        result = play.run(task)
        if 'hostgw.network.hostgw_preflight' in task:
            assert result['msg'] == 'pre-flight passed for 2 hosts'
            assert result['ansible_facts']['hostgw_preflight']['hosts']['host2'] == {'uplink': 'eth0', 'mtu': 1500}
            checked += 1
    assert checked == 2
    plan = play.results[0][1]['plan']
    assert plan['hosts']['host1']['uplink'] == 'eth0' and plan['hosts']['host1']['mtu'] == 1500


def test_preflight_example_without_facts_fails_instead_of_passing(tmp_path, monkeypatch):
    tasks = [t for t, _hv in examples(preflight_doc)]
    play = Play(tmp_path, {}, monkeypatch)
    play.vm.set_nonpersistent_facts('host1', {'planned': {'plan': {'network': '10.244.0.0/16', 'hosts': {
        'host1': {'node_ip': '10.168.0.1', 'uplink': None, 'mtu': None},
        'host2': {'node_ip': '10.168.0.2', 'uplink': None, 'mtu': None}}}}})
    with pytest.raises(Exception) as e:
        play.run(tasks[2])
    assert 'no facts: none of the 2 hosts of the plan in this run has hostgw_host' in str(e.value)


def test_pin_that_fails_to_template_names_host_variable_and_text(tmp_path, monkeypatch):
    """Through Ansible's own HostVars: never "unset" (ansible-core 2.19+ raises, older hands the text back)."""
    play = Play(tmp_path, {'host2': {'hostgw_subnet': '"{{typo}}"'}}, monkeypatch)
    task = [t for t, _hv in examples(subnet_doc) if 'hostgw.network.hostgw_subnet' in t][0]
    play.run(dict([t for t, _hv in examples(subnet_doc)][0]))
    with pytest.raises(Exception) as e:
        play.run(task)
    assert "host host2: hostgw_subnet '{{typo}}'" in str(e.value), str(e.value)


@pytest.mark.parametrize('doc', [subnet_doc, preflight_doc], ids=['hostgw_subnet', 'hostgw_preflight'])
def test_documentation_is_yaml_and_documents_every_option(doc):
    spec = {subnet_doc: subnet_action.ARGUMENT_SPEC, preflight_doc: preflight_action.ARGUMENT_SPEC}[doc]
    documented = documented_options(doc)
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        assert documented[name].get('default') == option.get('default'), name
        assert documented[name].get('aliases', []) == option.get('aliases', []), name
    for part in (yaml.safe_load(doc.DOCUMENTATION), yaml.safe_load(doc.RETURN)):
        assert_descriptions_are_text(part)


def documented_options(doc):
    """The options of a module's DOCUMENTATION with those of its hostgw.network doc fragments."""
    import importlib  # pylint: disable=import-outside-toplevel
    parsed = yaml.safe_load(doc.DOCUMENTATION)
    options = dict(parsed['options'])
    for name in parsed.get('extends_documentation_fragment') or []:
        if name.startswith('hostgw.network.'):
            frag = importlib.import_module('ansible_collections.hostgw.network.plugins.doc_fragments.' + name.split('.')[2])
            options.update(yaml.safe_load(frag.ModuleDocFragment.DOCUMENTATION).get('options') or {})
    return options


def assert_descriptions_are_text(node, path='doc'):
    """Every description is a string or a list of strings (a stray ': ' makes a mapping of it)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'description':
                for text in value if isinstance(value, list) else [value]:
                    assert isinstance(text, str), '%s.description: %r' % (path, text)
            else:
                assert_descriptions_are_text(value, '%s.%s' % (path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            assert_descriptions_are_text(value, '%s[%d]' % (path, i))


def test_plan_per_host_keys_are_documented(tmp_path, monkeypatch):
    """What a user reads of plan and hosts[<host>] is in RETURN's contains, and what the plan_host filter adds in its."""
    returned = yaml.safe_load(subnet_doc.RETURN)['plan']['contains']
    play = Play(tmp_path, {'host1': {'hostgw_node_ip6': 'fd00:168::1'}, 'host2': {'hostgw_node_ip6': 'fd00:168::2'}}, monkeypatch)
    play.run({'name': 'facts', 'hostgw.network.hostgw_facts': {}})
    options = {'network': '10.244.0.0/16', 'network6': 'fd00:10:244::/56', 'cross_subnet': 'vxlan'}
    plan = play.run({'name': 'plan', 'hostgw.network.hostgw_subnet': options})
    plan = plan['plan']
    assert sorted(plan) == sorted(returned)
    assert sorted(plan['hosts']['host1']) == sorted(returned['hosts']['contains'])
    assert plan['hosts']['host1']['node_prefix'] is not None
    filter_return = yaml.safe_load(plan_host_filter.RETURN)
    assert sorted(host_view(plan, 'host1')) == sorted(filter_return['_value']['contains'])
