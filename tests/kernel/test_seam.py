# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one kernel seam against pyroute2, on every interpreter under test (pyroute2 0.7.x and 0.9.x):
hostgw's hand-decoded link and address dumps read what pyroute2's decoders read, and its hand-encoded route
requests are byte for byte what pyroute2's encoder builds for the same requests."""

from __future__ import annotations

from test_netlink_batch import in_ns, uplink


def test_link_and_address_decoders_match_pyroute2(interp, collections_path, ns):
    uplink(ns)
    ns.ip('link', 'add', 'br9', 'type', 'bridge')
    ns.ip('link', 'set', 'br9', 'alias', 'hostgw: managed bridge', 'mtu', '1400')
    ns.ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1')
    ns.ip('link', 'set', 'v0', 'master', 'br9', 'up')
    ns.ip('addr', 'add', '10.244.9.1/24', 'broadcast', '10.244.9.255', 'dev', 'br9')
    ns.ip('addr', 'add', '10.244.9.7/24', 'dev', 'br9')                       # a secondary
    ns.ip('addr', 'add', 'fd00:244:9::1/64', 'dev', 'br9')                    # tentative (DAD is slow in ns)
    ns.ip('addr', 'add', 'fd00:244:9::2/64', 'dev', 'br9', 'nodad', 'preferred_lft', '0')   # deprecated
    res = in_ns(interp, collections_path, ns, '''
from pyroute2 import IPRoute

with IPRoute() as ipr:
    ref_links = []
    for m in ipr.get_links():
        info = m.get_attr('IFLA_LINKINFO')
        ref_links.append(dict(index=m['index'], name=m.get_attr('IFLA_IFNAME'), mtu=m.get_attr('IFLA_MTU'),
                              kind=info.get_attr('IFLA_INFO_KIND') if info is not None else None,
                              up=bool(m['flags'] & 1), alias=m.get_attr('IFLA_IFALIAS') or None,
                              master=m.get_attr('IFLA_MASTER')))
    ref_addrs = []
    for m in ipr.get_addr():
        flags = m.get_attr('IFA_FLAGS')
        ref_addrs.append([m['index'], 4 if m['family'] == socket.AF_INET else 6,
                          m.get_attr('IFA_LOCAL') or m.get_attr('IFA_ADDRESS'), m['prefixlen'], m['scope'],
                          flags if flags is not None else m['flags']])
with _netlink.Kernel() as k:
    links = k.links()
    addrs = [list(a) for a in k.addrs()]
    print(json.dumps(dict(links=links, addrs=addrs, ref_links=ref_links, ref_addrs=ref_addrs)))
''')

    def key(link):
        return link['index']
    assert sorted(res['links'], key=key) == sorted(res['ref_links'], key=key)
    assert sorted(res['addrs']) == sorted(res['ref_addrs'])
    br9 = [x for x in res['links'] if x['name'] == 'br9'][0]
    assert (br9['kind'], br9['mtu'], br9['alias']) == ('bridge', 1400, 'hostgw: managed bridge')
    assert [x['master'] for x in res['links'] if x['name'] == 'v0'] == [br9['index']]
    flags = dict((a[2], a[5]) for a in res['addrs'])
    assert flags['fd00:244:9::1'] & 0x40 and flags['fd00:244:9::2'] & 0x20   # tentative, deprecated
    assert '10.244.9.7' in flags and flags['10.244.9.7'] & 0x01              # secondary (IFA_F_SECONDARY)


def test_route_requests_are_pyroute2s_bytes(interp, collections_path, ns):
    """Every request kind hostgw sends (add, replace, delete; IPv4 and IPv6; metric; link) equals pyroute2's encoding."""
    res = in_ns(interp, collections_path, ns, '''
from pyroute2.netlink.rtnl.rtmsg import rtmsg

K = _netlink.Kernel
cases = [
    ('add', WRoute(4, '10.244.2.0/24', '10.168.0.2', 0, 'node2'), 3, 244),
    ('replace', WRoute(4, '10.244.3.0/24', '10.168.0.3', 100, None), 7, 200),
    ('add', WRoute(6, 'fd00:244:2::/64', 'fd00:168::2', 1024, None), 3, 244),
    ('replace', WRoute(6, 'fd00:244:3::/64', 'fe80::3', 5, None), 12, 244),
    ('delete', KRoute(4, '10.244.4.0/24', '10.168.0.4', 3, 244, 0, 1), None, None),
    ('delete', KRoute(6, 'fd00:244:4::/64', 'fd00:168::4', 3, 244, 1024, 1), None, None),
]
out = []
for seq, (action, r, oif, proto) in enumerate(cases, 1):
    ours = K._encode(action, r, oif, proto, seq)
    mtype, flags = _netlink._ACTIONS[action]
    m = rtmsg()
    m['header']['type'] = mtype
    m['header']['flags'] = flags
    m['header']['sequence_number'] = seq
    m['header']['pid'] = 0
    dst, plen = r.dest.split('/')
    m['family'] = socket.AF_INET if r.family == 4 else socket.AF_INET6
    m['dst_len'] = int(plen)
    m['table'] = 254
    if action == 'delete':
        m['proto'], m['scope'], m['type'], link = r.proto, 255, 0, r.oif
    else:
        m['proto'], m['scope'], m['type'], link = proto, 0, 1, oif
    attrs = [['RTA_DST', dst], ['RTA_GATEWAY', r.via], ['RTA_OIF', link], ['RTA_PRIORITY', r.metric], ['RTA_TABLE', 254]]
    m['attrs'] = attrs
    m.encode()
    theirs = bytes(m.data[:m['header']['length']])
    out.append([action, r.dest, ours.hex(), theirs.hex()])
print(json.dumps(out))
''')
    assert len(res) == 6
    for action, dest, ours, theirs in res:
        assert ours == theirs, (action, dest)
