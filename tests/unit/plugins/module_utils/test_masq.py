# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.hostgw.network.plugins.module_utils._masq import MasqError, render, restore_input


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
    with pytest.raises(MasqError) as e:
        render(4, network, subnet)
    assert str(e.value) == msg


def test_restore_input_only_touches_our_chains():
    text = restore_input(render(4, '10.244.0.0/16', '10.244.1.0/24'))
    lines = text.splitlines()
    assert lines[:4] == ['*nat', ':HOSTGW-POSTRTG - [0:0]', '-F HOSTGW-POSTRTG',
                         '-A HOSTGW-POSTRTG -m mark --mark 0x4000/0x4000 -j RETURN']
    assert lines.count('COMMIT') == 2 and lines[-1] == 'COMMIT' and '*filter' in lines
    assert [l for l in lines if l.startswith(':')] == [':HOSTGW-POSTRTG - [0:0]', ':HOSTGW-FWD - [0:0]']
    assert all(l.split()[1] in ('HOSTGW-POSTRTG', 'HOSTGW-FWD') for l in lines if l.startswith(('-A', '-F')))
