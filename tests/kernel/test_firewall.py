# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""hostgw_firewall on both firewall backends in a namespace with other tools' state: kube-proxy's and firewalld's nft
tables, Docker's iptables-nft rules and plain foreign iptables/ip6tables rules. hostgw's state is read back with
``nft`` and ``iptables-save``; the foreign state must be identical through converge, re-converge with changed
inputs, a backend switch and absent."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from firewall_helpers import BACKENDS, NETWORK, NETWORK6, foreign, hostgw_lines, nft_table, plant_foreign, ruleset, save
from test_examples import example_node, examples, run_playbook  # noqa: F401  pylint: disable=unused-import

SPEC = dict(network=NETWORK, subnet='10.244.1.0/24', network6=NETWORK6, subnet6='fd00:10:244:1::/64')
MASQ4 = [
    '-A HOSTGW-POSTRTG -m mark --mark 0x4000/0x4000 -j RETURN',
    '-A HOSTGW-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -j RETURN',
    '-A HOSTGW-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -j RETURN',
    '-A HOSTGW-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -j RETURN',
    '-A HOSTGW-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully',
    '-A HOSTGW-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -j MASQUERADE --random-fully',
]


def masq(run_module, ns, check_mode=False, diff=False, fail=False, **args):
    return run_module(ns, 'hostgw_firewall', args, check_mode=check_mode, diff=diff, fail=fail)


def assert_hostgw_state(ns, backend, subnet='10.244.1.0/24', v6=True):
    """hostgw's rules are exactly there, in the chosen backend only."""
    t4, t6 = nft_table(ns, 'ip'), nft_table(ns, 'ip6')
    ipt4, ipt6 = hostgw_lines(save(ns)), hostgw_lines(save(ns, 'ip6tables'))
    if backend == 'nftables':
        assert t4 is not None and 'type nat hook postrouting priority srcnat; policy accept;' in t4
        assert 'ip saddr %s ip daddr 10.244.0.0/16 return' % subnet in t4
        assert 'ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random' in t4
        assert 'type filter hook forward priority filter; policy accept;' in t4 and 'ip daddr 10.244.0.0/16 accept' in t4
        assert (t6 is not None) == v6
        if v6:
            assert 'ip6 saddr fd00:10:244::/56 ip6 daddr != ff00::/8 masquerade fully-random' in t6
        assert ipt4 == [] and ipt6 == [], 'iptables chains next to the nft tables: %s %s' % (ipt4, ipt6)
    else:
        assert t4 is None and t6 is None
        want = [x.replace('10.244.1.0/24', subnet) for x in MASQ4]
        assert [x for x in ipt4 if x.startswith('-A HOSTGW-POSTRTG')] == want
        assert ipt4.count('-A POSTROUTING -m comment --comment hostgw-masq -j HOSTGW-POSTRTG') == 1
        assert ipt4.count('-A FORWARD -m comment --comment hostgw-forward -j HOSTGW-FWD') == 1
        assert '-A HOSTGW-FWD -s 10.244.0.0/16 -j ACCEPT' in ipt4
        assert bool(ipt6) == v6
        if v6:
            assert '-A HOSTGW-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8 -j MASQUERADE --random-fully' in ipt6


@pytest.mark.parametrize('backend', BACKENDS)
def test_ownership_converge_change_absent(run_module, ns, backend):
    plant_foreign(ns)
    clean, theirs = ruleset(ns), foreign(ns)
    assert 'table ip kube-proxy' in clean and 'table inet firewalld' in clean and 'DOCKER' in clean

    res = masq(run_module, ns, check_mode=True, diff=True, firewall=backend, **SPEC)
    assert res['changed'] is True and res['backend'] == backend
    assert ruleset(ns) == clean, 'check mode changed the ruleset'
    res = masq(run_module, ns, diff=True, firewall=backend, **SPEC)
    assert res['changed'] is True and res['backend'] == backend
    assert_hostgw_state(ns, backend)
    assert foreign(ns) == theirs
    section = dict((d['before_header'], d) for d in res['diff'])
    if backend == 'nftables':
        d = section["hostgw's nft tables"]
        assert d['before'] == '' and d['after'] == nft_table(ns, 'ip') + nft_table(ns, 'ip6')
        assert res['rules']['4'][0] == 'meta mark & 0x00004000 == 0x00004000 return'
    else:
        assert res['rules']['4'][2:] == MASQ4   # filter chain first (sorted by table), then nat
    after_first = ruleset(ns)

    again = masq(run_module, ns, diff=True, firewall=backend, **SPEC)
    assert again['changed'] is False and again['actions'] == []
    assert all(d['before'] == d['after'] for d in again['diff'])
    assert ruleset(ns) == after_first

    # changed inputs: another subnet, single-stack
    single = dict(network=NETWORK, subnet='10.244.7.0/24')
    res = masq(run_module, ns, firewall=backend, **single)
    assert res['changed'] is True
    assert_hostgw_state(ns, backend, subnet='10.244.7.0/24', v6=False)
    assert foreign(ns) == theirs
    assert masq(run_module, ns, firewall=backend, **single)['changed'] is False

    res = masq(run_module, ns, state='absent', check_mode=True)
    assert res['changed'] is True and ruleset(ns) != clean
    res = masq(run_module, ns, state='absent')
    assert res['changed'] is True
    assert ruleset(ns) == clean, 'absent did not give the ruleset before hostgw back'
    assert masq(run_module, ns, state='absent')['changed'] is False


def test_backend_switch_removes_our_old_chains(run_module, ns):
    """An earlier version wrote iptables chains; auto now picks nftables on this iptables-nft host: the old chains and
    jumps go (they would masquerade the same packets a second time), the foreign rules stay, in order."""
    plant_foreign(ns)
    theirs = foreign(ns)
    masq(run_module, ns, firewall='iptables', **SPEC)
    assert_hostgw_state(ns, 'iptables')
    res = masq(run_module, ns, check_mode=True, **SPEC)
    assert res['backend'] == 'nftables' and 'nf_tables' in res['backend_reason']
    assert 'ipv4: deleted chain nat/HOSTGW-POSTRTG' in res['actions']
    assert hostgw_lines(save(ns)), 'check mode removed the chains'
    res = masq(run_module, ns, **SPEC)
    assert res['changed'] is True and res['backend'] == 'nftables'
    assert_hostgw_state(ns, 'nftables')
    assert foreign(ns) == theirs
    assert masq(run_module, ns, **SPEC)['changed'] is False
    # and back to iptables: the nft tables go
    masq(run_module, ns, firewall='iptables', **SPEC)
    assert_hostgw_state(ns, 'iptables')
    assert foreign(ns) == theirs


def test_foreign_forward_drop_policy_is_reported(run_module, ns):
    ns.exec('iptables', '-w', '-P', 'FORWARD', 'DROP')        # what Docker does
    res = masq(run_module, ns, firewall='nftables', network=NETWORK, subnet='10.244.1.0/24')
    assert any('table ip filter chain FORWARD' in str(w) for w in res.get('warnings', [])), res.get('warnings')
    res = masq(run_module, ns, firewall='iptables', network=NETWORK, subnet='10.244.1.0/24')
    assert not res.get('warnings'), res.get('warnings')


def test_saved_rules_nft_restores_the_same_tables_in_a_fresh_namespace(run_module, netns_factory, tmp_path):
    """save_dir keeps firewall.json (the spec) and rules.nft (one transaction); loading rules.nft on a 'rebooted' node
    (a fresh namespace with foreign tables) gives hostgw's tables back, twice in a row, foreign tables untouched."""
    node, rebooted = netns_factory(), netns_factory()
    save_dir = str(tmp_path / 'hostgw')
    res = masq(run_module, node, save_dir=save_dir, **SPEC)
    assert res['backend'] == 'nftables' and 'wrote %s/rules.nft' % save_dir in res['actions']
    assert sorted(os.listdir(save_dir)) == ['firewall.json', 'rules.nft']
    assert oct(os.stat(os.path.join(save_dir, 'rules.nft')).st_mode & 0o777) == '0o600'
    with open(os.path.join(save_dir, 'firewall.json')) as f:
        assert json.load(f) == dict(SPEC, masquerade=True, forward_accept=True, random_fully=True, forwarding=False,
                                    firewall='auto', state='present')
    plant_foreign(rebooted)
    theirs = foreign(rebooted)
    for _i in range(2):
        rebooted.exec('nft', '-f', os.path.join(save_dir, 'rules.nft'))
    assert (nft_table(rebooted, 'ip'), nft_table(rebooted, 'ip6')) == (nft_table(node, 'ip'), nft_table(node, 'ip6'))
    assert foreign(rebooted) == theirs
    assert masq(run_module, node, save_dir=save_dir, **SPEC)['changed'] is False
    # iptables backend: rules.v4/v6 instead, rules.nft removed
    masq(run_module, node, save_dir=save_dir, firewall='iptables', **SPEC)
    assert sorted(os.listdir(save_dir)) == ['firewall.json', 'rules.v4', 'rules.v6']


def test_examples_run_as_written(example_node, interp, collections_path, tmp_path):
    """hostgw_firewall's EXAMPLES, as written, with ansible-playbook on a namespace node (test_examples' harness): the
    rules, their boot restore from boot_state, dual-stack on iptables; the last example removes everything again."""
    _mesh, node, inventory, upper = example_node
    tasks = examples('hostgw_firewall')
    assert [(list(t)[1], t[list(t)[1]].get('state', 'present')) for t in tasks] == [
        ('hostgw.network.hostgw_firewall', 'present'), ('hostgw.network.hostgw_restore', 'present'),
        ('hostgw.network.hostgw_firewall', 'present'), ('hostgw.network.hostgw_firewall', 'absent')]
    p = run_playbook(interp, collections_path, tmp_path, inventory, tasks[:2])
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert 'ip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 return' in nft_table(node, 'ip')
    restore = json.loads((upper / 'hostgw' / 'restore.json').read_text())
    assert restore['firewall'] == {'network': '10.244.0.0/16', 'subnet': '10.244.1.0/24', 'masquerade': True, 'firewall': 'auto'}
    p = run_playbook(interp, collections_path, tmp_path, inventory, tasks[2:3])
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert nft_table(node, 'ip') is None and '-A HOSTGW-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8 -j MASQUERADE ' \
        '--random-fully' in save(node, 'ip6tables')
    assert node.exec('sysctl', '-n', 'net.ipv6.conf.all.forwarding').stdout.strip() == '1'
    p = run_playbook(interp, collections_path, tmp_path, inventory, tasks[3:])
    assert p.returncode == 0 and 'failed=0' in p.stdout, p.stdout[-4000:] + p.stderr[-2000:]
    assert hostgw_lines(save(node)) == [] and hostgw_lines(save(node, 'ip6tables')) == [] and nft_table(node, 'ip') is None
    # it ran in the node's namespace: the machine's own namespace has no hostgw table
    own = subprocess.run(['nft', 'list', 'tables'], capture_output=True, text=True, check=True).stdout
    assert 'hostgw' not in own, own


def test_the_old_name_hostgw_masq_still_works_and_says_it_is_deprecated(example_node, interp, collections_path, tmp_path):
    """meta/runtime.yml redirects hostgw.network.hostgw_masq to hostgw_firewall, with a deprecation warning."""
    _mesh, node, inventory, _upper = example_node
    task = {'name': 'old name', 'hostgw.network.hostgw_masq': {'network': '10.244.0.0/16', 'subnet': '10.244.1.0/24'},
            'register': 'old'}
    show = {'name': 'boot_state', 'ansible.builtin.assert': {'that': ["old.boot_state.subnet == '10.244.1.0/24'"]}}
    p = run_playbook(interp, collections_path, tmp_path, inventory, [task, show])
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    text = ' '.join((p.stdout + p.stderr).split())
    assert 'hostgw_masq' in text and 'deprecated' in text.lower() and 'hostgw_firewall' in text, text[-3000:]
    assert 'ip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 return' in nft_table(node, 'ip')
    run_playbook(interp, collections_path, tmp_path, inventory, [{'name': 'gone', 'hostgw.network.hostgw_firewall': {'state': 'absent'}}])
    assert nft_table(node, 'ip') is None
