# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Peers on other segments (plugins/module_utils/_vxlan.py): the per-pair decision, the MAC and VTEP addresses
every peer derives alike, and the FDB / neighbor plan."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.hostgw.network.plugins.module_utils import _vxlan as V
from ansible_collections.hostgw.network.plugins.module_utils._mesh import OnLink

__metaclass__ = type  # pylint: disable=invalid-name


def onlink(*nets):
    return OnLink([ipaddress.ip_network(n) for n in nets])


def test_mac_is_stable_local_unicast_and_distinct_per_node():
    assert V.vtep_mac('10.0.1.5') == '0e:68:0a:00:01:05'
    assert V.vtep_mac('10.0.1.5') == V.vtep_mac(ipaddress.ip_address('10.0.1.5'))
    macs = set(V.vtep_mac('10.%d.%d.%d' % (a, b, c)) for a in range(2) for b in range(4) for c in range(256))
    assert len(macs) == 2 * 4 * 256
    first = int(V.vtep_mac('fd00::1')[:2], 16)
    assert first & 0x02 and not first & 0x01               # locally administered, unicast
    assert V.vtep_mac('fd00::1') != V.vtep_mac('fd00::2')


def test_vtep_address_and_mtu_follow_flannel():
    assert V.vtep_address('10.244.5.0/24') == '10.244.5.0'
    assert V.vtep_address('fd00:10:244:5::/64') == 'fd00:10:244:5::'
    assert V.vxlan_mtu(1500) == 1450 and V.vxlan_mtu(9000, 6) == 8930


def test_decision_is_symmetric_for_asymmetric_masks():
    # a has a /16 (b is on-link from a), b a /24 (a is not on-link from b): both sides must say "encapsulated".
    a_ip, a_net = '10.1.0.10', ipaddress.ip_network('10.1.0.0/16')
    b_ip, b_net = '10.1.2.10', ipaddress.ip_network('10.1.2.0/24')
    assert not V.direct(a_ip, onlink(a_net), b_ip, b_net)
    assert not V.direct(b_ip, onlink(b_net), a_ip, a_net)
    # the same masks: direct both ways
    c_ip, c_net = '10.1.2.20', ipaddress.ip_network('10.1.2.0/24')
    assert V.direct(b_ip, onlink(b_net), c_ip, c_net) and V.direct(c_ip, onlink(c_net), b_ip, b_net)
    # unknown peer network: this node's test alone
    assert V.direct(a_ip, onlink(a_net), b_ip, None)


MEMBERS = {
    'a1': {'subnet': '10.244.1.0/24', 'node_ip': '192.168.10.11', 'node_prefix': 24},
    'a2': {'subnet': '10.244.2.0/24', 'node_ip': '192.168.10.12', 'node_prefix': 24},
    'b1': {'subnet': '10.244.3.0/24', 'node_ip': '192.168.20.11', 'node_prefix': 24,
           'subnet6': 'fd00:10:244:3::/64', 'node_ip6': 'fd00:20::11'},
    'broken': {'subnet': '10.244.9.0/24'},
}


def test_split_members_direct_on_the_segment_encapsulated_across():
    routes, peers = V.split_members(MEMBERS, '192.168.10.11', onlink('192.168.10.0/24'), {'192.168.10.11'})
    assert routes == [{'host': 'a2', 'dest': '10.244.2.0/24', 'via': '192.168.10.12'}]
    assert peers == [V.Peer('b1', '192.168.20.11', '0e:68:c0:a8:14:0b',
                            ((4, '10.244.3.0/24', '10.244.3.0'), (6, 'fd00:10:244:3::/64', 'fd00:10:244:3::')))]


def test_entries_plan_adds_replaces_and_purges_only_on_the_device():
    _routes, peers = V.split_members(MEMBERS, '192.168.10.11', onlink('192.168.10.0/24'), {'192.168.10.11'})
    put_f, put_n, del_n, del_f = V.plan_entries(peers, 7, [], [])
    assert [(e.mac, e.dst) for e in put_f] == [('0e:68:c0:a8:14:0b', '192.168.20.11')]
    assert sorted((e.family, e.dst) for e in put_n) == [(4, '10.244.3.0'), (6, 'fd00:10:244:3::')]
    assert not del_n and not del_f
    now_f = put_f + [V.KFdb(7, 'aa:bb:cc:00:00:01', '192.168.30.1', V.NUD_PERMANENT),   # a departed peer
                     V.KFdb(9, 'aa:bb:cc:00:00:02', '192.168.30.2', V.NUD_PERMANENT)]   # another device's: not ours
    now_n = put_n + [V.KNeigh(7, 4, '10.244.8.0', 'aa:bb:cc:00:00:01', V.NUD_PERMANENT),
                     V.KNeigh(9, 4, '10.244.8.0', 'aa:bb:cc:00:00:02', V.NUD_PERMANENT)]
    put_f, put_n, del_n, del_f = V.plan_entries(peers, 7, now_f, now_n)
    assert not put_f and not put_n
    assert [e.dst for e in del_n] == ['10.244.8.0'] and [e.index for e in del_n] == [7]
    assert [e.mac for e in del_f] == ['aa:bb:cc:00:00:01']
    assert V.plan_entries(peers, 7, now_f, now_n, delete=False)[2:] == ([], [])
    # a peer's entry pointing elsewhere, or not permanent, is put again
    stale = [V.KFdb(7, '0e:68:c0:a8:14:0b', '192.168.20.99', V.NUD_PERMANENT)]
    assert [e.dst for e in V.plan_entries(peers, 7, stale, now_n)[0]] == ['192.168.20.11']
    reach = [V.KNeigh(7, 4, '10.244.3.0', '0e:68:c0:a8:14:0b', 0x02)]
    assert [e.dst for e in V.plan_entries(peers, 7, put_f, reach)[1]] == ['10.244.3.0', 'fd00:10:244:3::']


def test_device_spec_and_what_forces_recreation():
    spec = V.device_spec('hostgw.1', 1, 8472, '192.168.10.11', 2, 1500, ['10.244.1.0/24', 'fd00:10:244:1::/64'])
    assert spec['mtu'] == 1450 and spec['mac'] == '0e:68:c0:a8:0a:0b'
    assert spec['addresses'] == ['10.244.1.0/32', 'fd00:10:244:1::/128']
    link = {'mac': spec['mac'], 'vxlan': {'id': 1, 'port': 8472, 'local': '192.168.10.11', 'link': 2, 'learning': False}}
    assert V.device_differs(link, spec) is None
    link['vxlan']['local'] = '192.168.10.99'
    assert 'local 192.168.10.99' in V.device_differs(link, spec)


@pytest.mark.parametrize('value, msg', [({'vni': 0}, 'vxlan.vni 0'), ({'port': 70000}, 'vxlan.port 70000'),
                                        ({'vni': True}, 'vxlan.vni True')])
def test_options_name_the_bad_value(value, msg):
    with pytest.raises(V.VxlanError, match=msg):
        V.options(value)
    assert V.options(None) == {'name': 'hostgw.1', 'vni': 1, 'port': 8472}


def test_entries_the_kernel_keeps_itself_are_left_alone():
    _routes, peers = V.split_members(MEMBERS, '192.168.10.11', onlink('192.168.10.0/24'), {'192.168.10.11'})
    kernel_own = [V.KNeigh(7, 6, 'ff02::16', '33:33:00:00:00:16', V.NUD_NOARP)]
    assert V.plan_entries(peers, 7, [], kernel_own)[2] == []


def test_mark_encapsulated_agrees_with_the_pairwise_rule():
    hosts = {
        'a1': {'node_ip': '10.168.0.1', 'node_prefix': 24}, 'a2': {'node_ip': '10.168.0.2', 'node_prefix': 24},
        'a4': {'node_ip': '10.168.2.4', 'node_prefix': 16}, 'b1': {'node_ip': '10.168.1.1', 'node_prefix': 24},
        'x': {'node_ip': '10.168.0.9', 'node_prefix': None},
    }
    V.mark_encapsulated(hosts)
    for name, h in hosts.items():
        if h['node_prefix'] is None:
            assert h['encapsulated'] is None
            continue
        mine = V.node_network(h['node_ip'], h['node_prefix'])
        pairwise = any(not V.direct(h['node_ip'], OnLink([mine]), o['node_ip'], V.node_network(o['node_ip'], o['node_prefix']))
                       for other, o in hosts.items() if other != name)
        assert h['encapsulated'] is pairwise, name
    only_a = dict((k, dict(v)) for k, v in hosts.items() if k in ('a1', 'a2'))
    assert [h['encapsulated'] for h in V.mark_encapsulated(only_a).values()] == [False, False]
    assert 'encapsulated' not in V.mark_encapsulated({'n': {'node_ip': '10.0.0.1'}})['n']


def test_drifted_remotes_of_a_peer_mac_are_deleted_before_its_entry_is_put():
    _routes, peers = V.split_members(MEMBERS, '192.168.10.11', onlink('192.168.10.0/24'), {'192.168.10.11'})
    mac = '0e:68:c0:a8:14:0b'
    right = V.KFdb(7, mac, '192.168.20.11', V.NUD_PERMANENT)
    assert V.stale_remotes(peers, 7, [right]) == []
    wrong = V.KFdb(7, mac, '192.168.20.99', V.NUD_PERMANENT)
    assert V.stale_remotes(peers, 7, [wrong]) == [wrong]
    assert V.stale_remotes(peers, 7, [right, wrong]) == [right, wrong]      # an appended second remote: both go, one is put
    assert V.plan_entries(peers, 7, [right, wrong], [])[3] == []          # never deleted after the put (ENOENT)
