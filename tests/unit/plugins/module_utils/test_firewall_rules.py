# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.hostgw.network.plugins.module_utils._firewall_rules import FirewallRuleError, render, restore_input


def test_rules_scoped_to_the_cluster_network_like_flannel():
    rules = render(4, '10.244.0.0/16', '10.244.1.0/24')
    assert rules[('nat', 'HOSTGW-POSTRTG')] == [
        '-A HOSTGW-POSTRTG -m mark --mark 0x4000/0x4000 -j RETURN',
        '-A HOSTGW-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -j RETURN',
        '-A HOSTGW-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -j RETURN',
        '-A HOSTGW-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -j RETURN',
        '-A HOSTGW-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully',
        '-A HOSTGW-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -j MASQUERADE --random-fully',
    ]
    assert rules[('filter', 'HOSTGW-FWD')] == ['-A HOSTGW-FWD -s 10.244.0.0/16 -j ACCEPT', '-A HOSTGW-FWD -d 10.244.0.0/16 -j ACCEPT']


def test_ipv6_and_switches():
    rules = render(6, 'fd00:10:244::/56', 'fd00:10:244:1::/64', masquerade=False, random_fully=False)
    assert rules[('nat', 'HOSTGW-POSTRTG')] == []
    assert rules[('filter', 'HOSTGW-FWD')][0] == '-A HOSTGW-FWD -s fd00:10:244::/56 -j ACCEPT'
    assert '-j MASQUERADE' in render(6, 'fd00:10:244::/56', 'fd00:10:244:1::/64', random_fully=False)[('nat', 'HOSTGW-POSTRTG')][4]
    assert 'ff00::/8' in render(6, 'fd00:10:244::/56', 'fd00:10:244:1::/64')[('nat', 'HOSTGW-POSTRTG')][4]


@pytest.mark.parametrize('network,subnet,msg', [
    ('10.244.0.0/16', '10.245.1.0/24', 'subnet 10.245.1.0/24 is not inside network 10.244.0.0/16'),
    ('10.244.0.0/16; reboot', '10.244.1.0/24', "network '10.244.0.0/16; reboot' is not a network in CIDR form"),
    ('10.244.0.0/16', '10.244.1.1/24', "subnet '10.244.1.1/24' is not a network in CIDR form"),
    ('fd00::/56', 'fd00::/64', 'network fd00::/56 is not IPv4'),
])
def test_bad_input_rejected(network, subnet, msg):
    with pytest.raises(FirewallRuleError) as e:
        render(4, network, subnet)
    assert str(e.value) == msg


def test_restore_input_only_touches_our_chains():
    text = restore_input(render(4, '10.244.0.0/16', '10.244.1.0/24'))
    lines = text.splitlines()
    assert lines[:4] == ['*nat', ':HOSTGW-POSTRTG - [0:0]', '-F HOSTGW-POSTRTG',
                         '-A HOSTGW-POSTRTG -m mark --mark 0x4000/0x4000 -j RETURN']
    assert lines.count('COMMIT') == 2 and lines[-1] == 'COMMIT' and '*filter' in lines
    assert [x for x in lines if x.startswith(':')] == [':HOSTGW-POSTRTG - [0:0]', ':HOSTGW-FWD - [0:0]']
    assert all(x.split()[1] in ('HOSTGW-POSTRTG', 'HOSTGW-FWD') for x in lines if x.startswith(('-A', '-F')))


# ---- nftables rendering -----------------------------------------------------------------------------------------

from ansible_collections.hostgw.network.plugins.module_utils._firewall_rules import (  # noqa: E402
    forward_drop_chains, nft_rules, nft_transaction, normalize_nft, plan_iptables, render_nft)


def test_nft_table_is_flannels_ip_masq_in_table_ip_hostgw():
    text = render_nft(4, '10.244.0.0/16', '10.244.1.0/24')
    assert text.splitlines() == [
        'table ip hostgw {',
        '\tchain postrouting {',
        '\t\ttype nat hook postrouting priority srcnat; policy accept;',
        '\t\tmeta mark & 0x00004000 == 0x00004000 return',
        '\t\tip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 return',
        '\t\tip saddr 10.244.0.0/16 ip daddr 10.244.1.0/24 return',
        '\t\tip saddr != 10.244.0.0/16 ip daddr 10.244.1.0/24 return',
        '\t\tip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random',
        '\t\tip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random',
        '\t}',
        '',
        '\tchain forward {',
        '\t\ttype filter hook forward priority filter; policy accept;',
        '\t\tip saddr 10.244.0.0/16 accept',
        '\t\tip daddr 10.244.0.0/16 accept',
        '\t}',
        '}',
    ]
    assert nft_rules(text)[0] == 'meta mark & 0x00004000 == 0x00004000 return' and len(nft_rules(text)) == 8


def test_nft_ipv6_and_switches():
    text = render_nft(6, 'fd00:10:244::/56', 'fd00:10:244:1::/64', masquerade=False, random_fully=False)
    assert text.startswith('table ip6 hostgw {\n') and nft_rules(text) == [
        'ip6 saddr fd00:10:244::/56 accept', 'ip6 daddr fd00:10:244::/56 accept']
    rules = nft_rules(render_nft(6, 'fd00:10:244::/56', 'fd00:10:244:1::/64', random_fully=False, forward=False))
    assert rules[4] == 'ip6 saddr fd00:10:244::/56 ip6 daddr != ff00::/8 masquerade' and len(rules) == 6
    with pytest.raises(FirewallRuleError):
        render_nft(6, '10.244.0.0/16', '10.244.1.0/24')


def test_nft_transaction_is_one_file_valid_on_first_run():
    t4 = render_nft(4, '10.244.0.0/16', '10.244.1.0/24')
    text = nft_transaction({4: t4, 6: None}, existing=set())
    assert text == 'table ip hostgw\ndelete table ip hostgw\n' + t4      # ip6 absent and not there: not mentioned
    text = nft_transaction({4: None, 6: None}, existing={6})
    assert text == 'table ip6 hostgw\ndelete table ip6 hostgw\n'
    assert nft_transaction({4: None}, existing=set()) == ''


def test_normalize_nft_ignores_layout_handles_and_numeric_priorities():
    t4 = render_nft(4, '10.244.0.0/16', '10.244.1.0/24')
    listed = t4.replace('\t', '    ').replace('priority srcnat', 'priority 100').replace(' return\n', ' return # handle 4\n')
    assert normalize_nft(listed) == normalize_nft(t4)
    assert normalize_nft(t4.replace('fully-random', 'random')) != normalize_nft(t4)
    assert normalize_nft(None) == []


def test_forward_drop_chains_of_other_tables():
    listing = '\n'.join([
        'table ip filter {', '\tchain FORWARD {', '\t\ttype filter hook forward priority filter; policy drop;', '\t}',
        '\tchain DOCKER {', '\t}', '}',
        'table inet firewalld {', '\tchain filter_FORWARD {',
        '\t\ttype filter hook forward priority filter + 10; policy accept;', '\t}', '}',
        'table ip hostgw {', '\tchain forward {', '\t\ttype filter hook forward priority filter; policy drop;', '\t}', '}',
        'table ip nat {', '\tchain POSTROUTING {', '\t\ttype nat hook postrouting priority srcnat; policy drop;', '\t}', '}',
    ])
    assert forward_drop_chains(listing) == ['table ip filter chain FORWARD']


def test_plan_iptables_removal_and_nothing_to_do():
    wanted = render(4, '10.244.0.0/16', '10.244.1.0/24')
    jumps = {('nat', 'POSTROUTING'): 1, ('filter', 'FORWARD'): 1}
    assert plan_iptables('ipv4', dict(wanted), jumps, wanted) == ([], [])
    actions, steps = plan_iptables('ipv4', dict(wanted), {('nat', 'POSTROUTING'): 2}, None)
    assert actions == ['ipv4: deleted jump nat/POSTROUTING', 'ipv4: deleted chain filter/HOSTGW-FWD',
                       'ipv4: deleted chain nat/HOSTGW-POSTRTG']
    assert [s[0] for s in steps] == ['delete', 'delete', 'flush', 'remove', 'flush', 'remove']
    assert plan_iptables('ipv4', {('nat', 'HOSTGW-POSTRTG'): None, ('filter', 'HOSTGW-FWD'): None}, {}, None) == ([], [])


def test_vxlan_guard_rules_in_both_backends():
    from ansible_collections.hostgw.network.plugins.module_utils import _firewall_rules as R  # pylint: disable=import-outside-toplevel
    chains = R.render(4, '10.244.0.0/16', '10.244.1.0/24', vxlan=(8472, ['10.168.1.1', '10.168.0.2', '10.168.0.2', 'fd00::1']))
    assert chains[('filter', R.VXLAN_CHAIN)] == ['-A HOSTGW-VXLAN -s 10.168.0.2/32 -j RETURN',
                                                 '-A HOSTGW-VXLAN -s 10.168.1.1/32 -j RETURN', '-A HOSTGW-VXLAN -j DROP']
    assert ('filter', R.VXLAN_CHAIN) not in R.render(4, '10.244.0.0/16', '10.244.1.0/24')
    text = R.render_nft(4, '10.244.0.0/16', '10.244.1.0/24', vxlan=(8472, ['10.168.1.1', '10.168.0.2']))
    assert '\t\tudp dport 8472 ip saddr != { 10.168.0.2, 10.168.1.1 } drop\n' in text
    assert 'ip saddr != 10.168.0.2 drop' in R.render_nft(4, '10.244.0.0/16', '10.244.1.0/24', vxlan=(8472, ['10.168.0.2']))
    assert 'chain input' not in R.render_nft(4, '10.244.0.0/16', '10.244.1.0/24')


def test_vxlan_guard_jump_follows_its_chain_and_goes_first():
    from ansible_collections.hostgw.network.plugins.module_utils import _firewall_rules as R  # pylint: disable=import-outside-toplevel
    want = R.render(4, '10.244.0.0/16', '10.244.1.0/24', vxlan=(8472, ['10.168.0.2']))
    all_jumps = dict(((t, c), 1) for t, c, _s in R.JUMPS)
    _actions, steps = R.plan_iptables('ipv4', {}, all_jumps, want, [], 8472)
    assert [s[0] for s in steps] == ['restore', 'insert'] and steps[-1][2:] == ('INPUT', R.vxlan_jump(8472))
    # port changed: the old jump goes, the new one comes after the chain is rewritten
    _actions, steps = R.plan_iptables('ipv4', dict(want), all_jumps, want, [R.vxlan_jump(4789)], 8472)
    assert steps == [('delete', 'filter', 'INPUT', R.vxlan_jump(4789)), ('insert', 'filter', 'INPUT', R.vxlan_jump(8472))]
    # guard switched off: jump, then chain
    plain = R.render(4, '10.244.0.0/16', '10.244.1.0/24')
    _actions, steps = R.plan_iptables('ipv4', dict(want), all_jumps, plain, [R.vxlan_jump(8472)], None)
    assert steps[:3] == [('delete', 'filter', 'INPUT', R.vxlan_jump(8472)), ('flush', 'filter', R.VXLAN_CHAIN),
                         ('remove', 'filter', R.VXLAN_CHAIN)]
    assert R.plan_iptables('ipv4', dict(want), all_jumps, want, [R.vxlan_jump(8472)], 8472) == ([], [])
