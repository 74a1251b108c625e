# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared uplink finder, on-link test and ranges (plugins/module_utils/_mesh.py)."""

from __future__ import annotations

import ipaddress
import random

import pytest

from ansible_collections.hostgw.network.plugins.module_utils._mesh import (
    OnLink, conf_name_error, find_uplink, ifname_error, mtu_error, onlink_networks, proto_error)

__metaclass__ = type  # pylint: disable=invalid-name

LINKS = [{'name': 'lo', 'mtu': 65536}, {'name': 'eth0', 'mtu': 1500}, {'name': 'eth1', 'mtu': 9000}]
ADDRS = [{'ifname': 'eth0', 'family': 4, 'address': '10.0.0.1', 'prefixlen': 24},
         {'ifname': 'eth1', 'family': 4, 'address': '10.9.0.1', 'prefixlen': 16},
         {'ifname': 'eth1', 'family': 6, 'address': 'fd00::1', 'prefixlen': 64}]


def test_uplink_is_the_link_holding_the_node_ip_or_the_named_one():
    assert find_uplink(LINKS, ADDRS, '10.0.0.1') == ('eth0', 1500, [])
    assert find_uplink(LINKS, ADDRS, '10.9.0.1', 'eth1') == ('eth1', 9000, [])
    assert find_uplink(LINKS, ADDRS, None, 'eth1') == ('eth1', 9000, [])      # a module naming its uplink
    assert find_uplink(LINKS, ADDRS, '10.0.0.1', 'eth1', 'h') == (
        'eth1', 9000, ['host h: node IP 10.0.0.1 is on eth0, not on hostgw_iface=eth1'])
    assert find_uplink(LINKS, ADDRS, '10.0.0.1', 'nope0', 'h', 'dev') == (
        None, None, ['host h: uplink dev=nope0 does not exist (links: eth0, eth1, lo)'])
    assert find_uplink(LINKS, ADDRS, '10.0.0.7') == (None, None, [
        'node IP 10.0.0.7 is not an address of the host (addresses: 10.0.0.1 on eth0, 10.9.0.1 on eth1); '
        'set hostgw_node_ip to the address of its uplink'])


def test_onlink_matches_the_definition():
    onlink = OnLink(onlink_networks(ADDRS, 'eth1'))
    assert '10.9.200.3' in onlink and '10.0.0.2' not in onlink and 'fd00::9' in onlink and 'fe80::1' in onlink
    rng = random.Random(7)
    nets = [ipaddress.ip_network('10.%d.%d.0/%d' % (rng.randrange(4), rng.randrange(256), rng.choice((16, 20, 24, 30))),
                                 strict=False) for _dummy in range(20)]
    onlink = OnLink(nets)
    ips = sorted(set(int(ipaddress.ip_address('10.%d.%d.%d' % (rng.randrange(5), rng.randrange(256), rng.randrange(256))))
                     for _dummy in range(3000)))
    inside = [i for i in ips if any(ipaddress.ip_address(i) in n for n in nets)]
    assert onlink.count_in(4, ips) == len(inside)
    outside = [p for p, i in enumerate(ips) if i not in inside]
    assert onlink.first_outside(4, ips, 25) == outside[:25]
    assert all(onlink.contains_int(4, i) == (i in inside) for i in ips)


@pytest.mark.parametrize('fn, ok, bad, text', [
    (proto_error, 244, 4, 'hostgw_route_proto 4 is not allowed: use 5-255 (0-4 belong to the kernel, boot and static routes)'),
    (mtu_error, 0, 67, "hostgw_mtu 67 is out of range: 0 (the uplink's MTU) or 68-65535"),
    (ifname_error, 'cni0', 'cni0\n', "hostgw_bridge: bridge name 'cni0\\n' is not a valid interface name "
                                     "(1-15 characters of letters, digits, _ . -)"),
    (conf_name_error, '10-hostgw.conflist', '../x.conf', "hostgw_cni_conf_name '../x.conf' must be a plain file name "
                                                         "ending in .conflist, .conf or .json"),
])
def test_one_set_of_ranges(fn, ok, bad, text):
    assert fn(ok) is None
    assert fn(bad) == text
    assert fn(bad, host='h1').startswith('host h1: ')
