# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""converge() against a fake host: backend choice, diff, idempotence, check mode, ownership, backend switch."""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.hostgw.network.plugins.module_utils import _firewall as fw
from ansible_collections.hostgw.network.plugins.module_utils._firewall_rules import JUMPS, render_nft

from ansible_collections.hostgw.network.tests.unit.plugins.module_utils.fake_host import FakeHost

SPEC = dict(network='10.244.0.0/16', subnet='10.244.1.0/24')
DUAL = dict(SPEC, network6='fd00:10:244::/56', subnet6='fd00:10:244:1::/64')
FOREIGN_NFT = 'table ip kube-proxy {\n\tchain services {\n\t}\n}\n'


def converge(host, spec, check_mode=False, tmp=None):
    return fw.converge(spec, host, check_mode=check_mode, lock_path=None, proc_sys=tmp)


@pytest.mark.parametrize('bins,version,want', [
    (('iptables', 'nft'), 'iptables v1.8.9 (nf_tables)', 'nftables'),
    (('iptables', 'nft'), 'iptables v1.8.9 (legacy)', 'iptables'),
    (('iptables', 'nft'), 'iptables v1.6.1', 'iptables'),
    (('iptables',), 'iptables v1.8.9 (nf_tables)', 'iptables'),   # iptables-nft without nft: iptables it is
    (('nft',), None, 'nftables'),
    ((), None, None),
])
def test_detect(bins, version, want):
    host = FakeHost(bins=bins, iptables_version=version)
    assert fw.detect(host)[0] == want


def test_auto_nftables_first_run_one_transaction_then_idempotent():
    host = FakeHost()
    host.nft['ip kube-proxy'] = FOREIGN_NFT
    res = converge(host, DUAL)
    assert res['failures'] == [] and res['changed'] is True and res['backend'] == 'nftables'
    assert res['actions'] == ['ipv4: created table ip hostgw', 'ipv6: created table ip6 hostgw']
    assert len(host.transactions) == 1          # both families, one nft -f -
    text = host.transactions[0]
    assert text.splitlines()[:2] == ['table ip hostgw', 'delete table ip hostgw']   # valid when the table is new
    assert 'table ip6 hostgw' in text and 'kube-proxy' not in text
    assert host.nft['ip kube-proxy'] == FOREIGN_NFT
    assert host.nft['ip hostgw'] == render_nft(4, '10.244.0.0/16', '10.244.1.0/24')
    assert res['before']['nftables'] == '' and 'table ip6 hostgw {' in res['after']['nftables']
    assert res['rules']['4'][-1] == 'ip daddr 10.244.0.0/16 accept'
    # no iptables state was written
    assert [a for a in host.writes() if 'nft' not in a[0]] == []
    again = converge(host, DUAL)
    assert again['changed'] is False and again['actions'] == [] and len(host.transactions) == 1
    assert again['before'] == again['after']


def test_nft_listing_with_handles_and_numeric_priorities_is_equal():
    host = FakeHost()
    converge(host, SPEC)
    text = host.nft['ip hostgw'].replace('priority srcnat', 'priority 100').replace('priority filter', 'priority 0')
    host.nft['ip hostgw'] = text.replace(' accept\n', ' accept # handle 7\n')
    assert converge(host, SPEC)['changed'] is False


def test_drifted_nft_table_is_replaced_and_check_mode_writes_nothing():
    host = FakeHost()
    converge(host, SPEC)
    host.nft['ip hostgw'] = host.nft['ip hostgw'].replace('\t\tip daddr 10.244.0.0/16 accept\n', '')
    calls = len(host.calls)
    res = converge(host, SPEC, check_mode=True)
    assert res['changed'] is True and res['actions'] == ['ipv4: replaced table ip hostgw']
    assert not [a for a, _d in host.calls[calls:] if a[1:2] == ['-f']]
    assert 'ip daddr 10.244.0.0/16 accept' not in res['before']['nftables']
    assert 'ip daddr 10.244.0.0/16 accept' in res['after']['nftables']
    res = converge(host, SPEC)
    assert res['changed'] is True and host.nft['ip hostgw'] == render_nft(4, '10.244.0.0/16', '10.244.1.0/24')


def test_changed_inputs_and_dropping_ipv6():
    host = FakeHost()
    converge(host, DUAL)
    res = converge(host, dict(SPEC, subnet='10.244.7.0/24'))
    assert res['actions'] == ['ipv4: replaced table ip hostgw', 'ipv6: deleted table ip6 hostgw']
    assert sorted(host.nft) == ['ip hostgw'] and '10.244.7.0/24' in host.nft['ip hostgw']
    assert len(host.transactions) == 2


def test_nft_failure_is_reported_and_nothing_half_applied():
    host = FakeHost()
    host.fail['nft'] = (1, 'Error: Could not process rule: Operation not supported')
    res = converge(host, SPEC)
    assert res['failures'] and 'nft list table ip hostgw failed: Error: Could not process rule' in res['failures'][0]
    host = FakeHost()
    orig = host._nft

    def nft(args, data):
        if args == ['-f', '-']:
            return 1, '', 'Error: syntax error'
        return orig(args, data)
    host._nft = nft
    res = converge(host, SPEC)
    assert res['failures'] == ['nft -f - (one transaction, nothing applied) failed: Error: syntax error (rc 1)']
    assert host.nft == {}


def test_iptables_backend_like_before_with_duplicates_and_drift():
    host = FakeHost(iptables_version='iptables v1.8.9 (legacy)')
    res = converge(host, SPEC)
    assert res['backend'] == 'iptables' and res['failures'] == []
    assert res['actions'] == ['ipv4: rewrote filter/HOSTGW-FWD', 'ipv4: rewrote nat/HOSTGW-POSTRTG',
                              'ipv4: appended jump nat/POSTROUTING', 'ipv4: appended jump filter/FORWARD']
    jump = '-A POSTROUTING -m comment --comment hostgw-masq -j HOSTGW-POSTRTG'
    assert host.ipt[(4, 'nat')]['POSTROUTING'] == [jump]
    assert host.ipt[(4, 'nat')]['HOSTGW-POSTRTG'][-1] == \
        '-A HOSTGW-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -j MASQUERADE --random-fully'
    assert converge(host, SPEC)['changed'] is False
    # concurrent old runs appended the jump three times, a foreign rule sits between; a rule of ours was deleted
    foreign = '-A POSTROUTING -s 172.30.0.0/16 -j MASQUERADE'
    host.ipt[(4, 'nat')]['POSTROUTING'] = [jump, foreign, jump, jump]
    del host.ipt[(4, 'filter')]['HOSTGW-FWD'][0]
    res = converge(host, SPEC)
    assert res['actions'] == ['ipv4: rewrote filter/HOSTGW-FWD', 'ipv4: removed 2 duplicate jump(s) nat/POSTROUTING']
    assert host.ipt[(4, 'nat')]['POSTROUTING'] == [foreign, jump]
    assert len(host.ipt[(4, 'filter')]['HOSTGW-FWD']) == 2
    assert 'nft' not in ' '.join(a[0] for a in host.writes())


def test_switch_iptables_to_nftables_removes_our_chains_only():
    host = FakeHost(iptables_version='iptables v1.8.9 (legacy)')
    converge(host, DUAL)
    foreign = '-A FORWARD -s 172.30.0.0/16 -j DROP'
    host.ipt[(4, 'filter')]['FORWARD'].insert(0, foreign)
    host.iptables_version = 'iptables v1.8.9 (nf_tables)'
    res = converge(host, DUAL)
    assert res['backend'] == 'nftables'
    assert res['actions'][:2] == ['ipv4: created table ip hostgw', 'ipv6: created table ip6 hostgw']
    assert 'ipv4: deleted chain nat/HOSTGW-POSTRTG' in res['actions']
    assert 'ipv6: deleted jump filter/FORWARD' in res['actions']
    for key, chains in host.ipt.items():
        assert not [c for c in chains if c.startswith('HOSTGW')], key
        assert not [x for rules in chains.values() for x in rules if 'hostgw' in x], key
    assert host.ipt[(4, 'filter')]['FORWARD'] == [foreign]
    assert 'HOSTGW-FWD' in res['before']['iptables'] and res['after']['iptables'] == ''
    # and back: firewall=iptables deletes our nft tables
    res = converge(host, dict(DUAL, firewall='iptables'))
    assert 'ipv4: deleted table ip hostgw' in res['actions'] and host.nft == {}
    assert converge(host, dict(DUAL, firewall='iptables'))['changed'] is False


def test_absent_removes_both_backends_and_is_idempotent():
    host = FakeHost()
    host.nft['ip kube-proxy'] = FOREIGN_NFT
    converge(host, DUAL)
    converge(host, dict(DUAL, firewall='iptables'))
    converge(host, DUAL)                      # nft again; leave a stray iptables jump of ours too
    host.ipt[(6, 'filter')]['FORWARD'].append('-A FORWARD %s' % JUMPS[1][2])
    res = converge(host, dict(state='absent'), check_mode=True)
    assert res['changed'] is True and 'ip hostgw' in host.nft
    res = converge(host, dict(state='absent'))
    assert res['backend'] is None and res['failures'] == []
    assert sorted(host.nft) == ['ip kube-proxy'] and host.nft['ip kube-proxy'] == FOREIGN_NFT
    assert host.ipt[(6, 'filter')]['FORWARD'] == []
    assert converge(host, dict(state='absent'))['changed'] is False


def test_absent_without_any_firewall_tool_is_fine():
    res = converge(FakeHost(bins=()), dict(state='absent'))
    assert res['changed'] is False and res['failures'] == []


@pytest.mark.parametrize('bins,firewall,msg', [
    ((), 'auto', 'firewall=auto: neither iptables nor nft exists; install nftables (or iptables), hostgw installs no firewall package itself'),
    (('iptables', 'iptables-restore'), 'nftables', 'nft is needed for the nftables backend and was not found'),
    (('nft',), 'iptables', 'ipv4: iptables and iptables-restore are needed for the iptables backend and were not found'),
])
def test_missing_tools_fail_naming_them(bins, firewall, msg):
    host = FakeHost(bins=bins)
    res = converge(host, dict(SPEC, firewall=firewall))
    assert res['failures'] == [msg]
    assert host.writes() == []


@pytest.mark.parametrize('spec,msg', [
    (dict(network='10.244.0.0/16'), 'subnet is required with state=present'),
    (dict(SPEC, network6='fd00::/56'), "network6 and subnet6 go together (network6='fd00::/56', subnet6=None)"),
    (dict(SPEC, firewall='pf'), "firewall='pf' is not one of auto, nftables, iptables"),
    (dict(SPEC, masquerade='yes'), "masquerade='yes' is not a boolean"),
    (dict(SPEC, nets='x'), 'unknown firewall spec key(s): nets'),
    (dict(SPEC, subnet='10.245.1.0/24'),
     "subnet 10.245.1.0/24 is not inside network 10.244.0.0/16 (network='10.244.0.0/16', subnet='10.245.1.0/24')"),
    (dict(DUAL, subnet6='fd00:10:244:1::1/64'), "subnet 'fd00:10:244:1::1/64' is not a network in CIDR form "
                                                "(network6='fd00:10:244::/56', subnet6='fd00:10:244:1::1/64')"),
])
def test_bad_spec_changes_nothing(spec, msg):
    host = FakeHost()
    res = converge(host, spec)
    assert res['failures'] == [msg] and res['changed'] is False
    assert host.calls == []


def test_forwarding_sysctls(tmp_path):
    root = str(tmp_path)
    for name, value in (('net/ipv4/ip_forward', '0'), ('net/ipv6/conf/all/forwarding', '1')):
        os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
        with open(os.path.join(root, name), 'w') as f:
            f.write(value + '\n')
    host = FakeHost()
    res = converge(host, dict(DUAL, forwarding=True), check_mode=True, tmp=root)
    assert 'net.ipv4.ip_forward = 1' in res['actions'] and 'net.ipv6.conf.all.forwarding = 1' not in res['actions']
    assert res['before']['sysctl'] == 'net.ipv4.ip_forward = 0\nnet.ipv6.conf.all.forwarding = 1\n'
    with open(os.path.join(root, 'net/ipv4/ip_forward')) as f:
        assert f.read() == '0\n'
    converge(host, dict(DUAL, forwarding=True), tmp=root)
    with open(os.path.join(root, 'net/ipv4/ip_forward')) as f:
        assert f.read() == '1\n'
    assert converge(host, dict(DUAL, forwarding=True), tmp=root)['changed'] is False
    res = converge(host, dict(SPEC, forwarding=True), tmp=str(tmp_path / 'missing'))
    assert res['failures'][0].startswith('cannot read net.ipv4.ip_forward:')


def test_forward_drop_of_another_table_warns():
    host = FakeHost()
    host.nft['ip filter'] = ('table ip filter {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; '
                             'policy drop;\n\t}\n}\n')
    res = converge(host, SPEC)
    assert len(res['warnings']) == 1 and 'table ip filter chain FORWARD' in res['warnings'][0]
    assert converge(host, dict(SPEC, forward_accept=False))['warnings'] == []


def test_lock_file(tmp_path):
    res = fw.converge(SPEC, FakeHost(), lock_path=str(tmp_path / 'lock'))
    assert res['failures'] == [] and res['warnings'] == []
    res = fw.converge(SPEC, FakeHost(), lock_path=str(tmp_path / 'no' / 'lock'))
    assert res['warnings'][0].startswith('cannot lock')


def test_saved_files_follow_the_backend():
    files = fw.saved_files(dict(DUAL, save_dir='/etc/hostgw'), 'nftables')
    assert files['rules.v4'] is None and files['rules.v6'] is None
    assert files['rules.nft'].startswith('table ip hostgw\ndelete table ip hostgw\ntable ip hostgw {\n')
    assert 'table ip6 hostgw {' in files['rules.nft']
    spec = json.loads(files['firewall.json'])
    assert spec == dict(dict((k, v) for k, v in fw.DEFAULTS.items() if not k.startswith('vxlan_')), **DUAL)   # no vxlan_* keys without a guard
    files = fw.saved_files(DUAL, 'iptables')
    assert files['rules.v4'].startswith('*nat\n:HOSTGW-POSTRTG - [0:0]\n') and 'fd00:10:244::/56' in files['rules.v6']
    assert files['rules.nft'] is None
    # the saved spec is a valid converge input
    assert converge(FakeHost(), spec)['failures'] == []


def test_subprocess_runner_runs_argv_with_stdin():
    r = fw.SubprocessRunner()
    assert r.run(['cat'], data='a b;c\n') == (0, 'a b;c\n', '')
    assert r.run(['/nonexistent/x'])[0] == 127
    assert r.which('sh')


def test_broken_nft_on_a_legacy_host_does_not_fail_the_iptables_backend():
    host = FakeHost(iptables_version='iptables v1.8.9 (legacy)')
    orig = host._nft

    def nft(args, data):
        if args[:2] == ['list', 'table']:
            return 1, '', 'Error: Could not process rule: Operation not supported'
        return orig(args, data)
    host._nft = nft
    res = converge(host, SPEC)
    assert res['failures'] == [] and res['backend'] == 'iptables'
    assert res['warnings'] == ["could not look for hostgw's nft tables: nft list table ip hostgw failed: "
                               "Error: Could not process rule: Operation not supported (rc 1)"]
    assert 'HOSTGW-POSTRTG' in host.ipt[(4, 'nat')]
