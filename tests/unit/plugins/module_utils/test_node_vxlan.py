# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The VXLAN part of the one apply path (plugins/module_utils/_node_vxlan.py, through _node.routes) against a fake
seam, under both policies: order of changes, idempotence, conflicts at boot, refusals at run time."""

from __future__ import annotations

import pytest

from ansible_collections.hostgw.network.plugins.module_utils import _node

from ansible_collections.hostgw.network.plugins.module_utils._routes import KAddr
from ansible_collections.hostgw.network.tests.unit.plugins.module_utils.fake_kernel import VxlanKernel

__metaclass__ = type  # pylint: disable=invalid-name

MEMBERS = {
    'me': dict(subnet='10.244.1.0/24', node_ip='10.168.0.1', node_prefix=24),
    'near': dict(subnet='10.244.2.0/24', node_ip='10.168.0.2', node_prefix=24),
    'far': dict(subnet='10.244.3.0/24', node_ip='10.169.0.3', node_prefix=24),
}


def params(**kw):
    p = dict(members=MEMBERS, routes=None, uplink='eth0', bridge=None, node_ip=None, proto=244, metric=None, purge=True,
             state='present', nexthop_objects='false', cross_subnet='vxlan', vxlan=None)
    p.update(kw)
    return p


def test_entries_before_routes_then_idempotent():
    k = VxlanKernel()
    res = _node.routes(params(), k)
    assert res['vxlan']['direct'] == ['near'] and res['vxlan']['encapsulated'] == ['far']
    order = [c[0] if c[0] != 'put' else 'put %s' % c[1] for c in k.calls]
    assert order[:4] == ['vxlan_create', 'addr_add', 'put KFdb', 'put KNeigh'] and set(order[4:]) == {'add'}
    dev = next(x for x in k.links_ if x['name'] == 'hostgw.1')
    assert ('10.244.3.0/24', '10.244.3.0', dev['index']) in [(r.dest, r.via, r.oif) for r in k.routes_]
    assert res['boot_state']['vxlan']['peers'] == [dict(host='far', node_ip='10.169.0.3', subnet='10.244.3.0/24')]
    k.calls = []
    again = _node.routes(params(), k)
    assert again['changed'] is False and k.calls == []


def test_last_encapsulated_peer_gone_removes_entries_after_the_route_and_then_the_device():
    k = VxlanKernel()
    _node.routes(params(), k)
    k.calls = []
    res = _node.routes(params(members=dict((n, m) for n, m in MEMBERS.items() if n != 'far')), k)
    assert res['vxlan']['device'] is None and not any(x['name'] == 'hostgw.1' for x in k.links_)
    assert [c[0] for c in k.calls][:1] == ['delete']          # the route first (entries and device after it)


def test_boot_policy_reports_a_foreign_link_of_the_name_and_still_restores_direct_routes():
    k = VxlanKernel()
    k.links_.append(dict(index=9, name='hostgw.1', kind='dummy', mtu=1500, up=True, alias=None, master=None))
    res = _node.routes(params(), k, policy=_node.RESTORE)
    assert any('hostgw does not own' in c for c in res['conflicts'])
    assert [r.dest for r in k.routes_ if r.proto == 244] == ['10.244.2.0/24']
    assert next(x for x in k.links_ if x['name'] == 'hostgw.1')['kind'] == 'dummy'
    with pytest.raises(_node.RouteError, match='hostgw does not own'):
        _node.routes(params(), k)                               # at run time: an error before any change


def test_run_time_refusal_of_an_entry_stops_before_the_routes():
    k = VxlanKernel()
    k.refuse_entries = True
    with pytest.raises(_node.NodeError, match='vxlan hostgw.1: failed'):
        _node.routes(params(), k)
    assert not [r for r in k.routes_ if r.proto == 244]


def test_switching_back_to_fail_mode_removes_the_device_once_every_peer_is_adjacent():
    k = VxlanKernel()
    _node.routes(params(), k)
    near = dict((n, m) for n, m in MEMBERS.items() if n != 'far')
    res = _node.routes(params(members=near, cross_subnet='fail'), k)
    assert res['changed'] and res['vxlan']['changes'] == ['delete hostgw.1']
    assert not any(x['name'] == 'hostgw.1' for x in k.links_)
    assert _node.routes(params(members=near, cross_subnet='fail'), k)['changed'] is False


def test_a_foreign_route_on_an_encapsulated_destination_fails_before_the_device_is_made():
    from ansible_collections.hostgw.network.plugins.module_utils._routes import KRoute  # pylint: disable=import-outside-toplevel
    k = VxlanKernel()
    k.routes_.append(KRoute(4, '10.244.3.0/24', '10.168.0.9', 2, 4, 0, 1))      # someone else's (proto static)
    with pytest.raises(_node.RouteError, match='hostgw does not own'):
        _node.routes(params(), k)
    assert not any(x['name'] == 'hostgw.1' for x in k.links_) and k.fdb_ == [] and k.neigh_ == []


class V6OnlinkKernel(VxlanKernel):
    """Refuses an IPv6 onlink route whose gateway the table routes over another link (EINVAL), as Linux does."""

    def routes_apply(self, ops, oif=None, proto=None):
        import ipaddress  # pylint: disable=import-outside-toplevel
        from ansible_collections.hostgw.network.plugins.module_utils._netlink import BatchResult, NetlinkError  # pylint: disable=import-outside-toplevel
        res = BatchResult()
        for i, op in enumerate(ops):
            r = op[1]
            if op[0] != 'delete' and r.family == 6 and getattr(r, 'onlink', False):
                cover = [x for x in self.routes_ if x.family == 6 and
                         ipaddress.ip_address(r.via) in ipaddress.ip_network(x.dest)]
                best = max(cover, key=lambda x: int(x.dest.split('/')[1]), default=None)
                if best is not None and best.oif != r.oif:
                    res.failed.append((i, NetlinkError(22)))
                    return res
            super(V6OnlinkKernel, self).routes_apply([op], oif, proto)
            res.done.append(i)
        return res


def test_ipv6_route_moving_onto_the_device_is_replaced_in_place_through_a_helper_host_route():
    """An IPv6 peer going from direct to encapsulated: a /128 to its VTEP on the device first, the route replaced in
    place (never deleted), the helper removed; the result names the route as replaced and nothing else."""
    k = V6OnlinkKernel()
    k.addrs_.append(KAddr(2, 6, 'fd00:168::1', 64))
    v6 = dict(me=dict(subnet6='fd00:244:1::/64', node_ip6='fd00:168::1'), near=dict(subnet6='fd00:244:2::/64',
              node_ip6='fd00:168::2'), far=dict(subnet6='fd00:244:3::/64', node_ip6='fd00:168::3'))
    members = dict((n, dict(m, **v6[n])) for n, m in MEMBERS.items())
    _node.routes(params(members=members), k)
    assert ('fd00:244:2::/64', 'fd00:168::2', 2) in [(r.dest, r.via, r.oif) for r in k.routes_]
    k.calls = []
    apart = dict(members, near=dict(members['near'], node_prefix=32))
    res = _node.routes(params(members=apart), k)
    dev = next(x for x in k.links_ if x['name'] == 'hostgw.1')['index']
    assert ('fd00:244:2::/64', 'fd00:244:2::', dev) in [(r.dest, r.via, r.oif) for r in k.routes_]
    routes = [c for c in k.calls if c[0] in ('add', 'replace', 'delete')]
    assert ('add', 'fd00:244:2::/128') in routes and ('delete', 'fd00:244:2::/128') in routes
    assert routes.index(('add', 'fd00:244:2::/128')) < routes.index(('replace', 'fd00:244:2::/64')) < \
        routes.index(('delete', 'fd00:244:2::/128'))
    assert ('delete', 'fd00:244:2::/64') not in routes
    assert not [r for r in k.routes_ if r.dest.endswith('/128')]
    assert sorted(res['replaced']) == ['10.244.2.0/24 via 10.244.2.0 dev hostgw.1 proto 244 onlink',
                                       'fd00:244:2::/64 via fd00:244:2:: dev hostgw.1 proto 244 onlink']
    assert res['removed'] == [] and res['added'] == []
    assert _node.routes(params(members=apart), k)['changed'] is False


def test_fail_mode_reads_the_links_once_per_run():
    """The default mode costs what it cost before cross_subnet existed: one links dump, the route run's."""
    class Counting(VxlanKernel):
        dumps = 0

        def links(self):
            Counting.dumps += 1
            return super(Counting, self).links()

    k = Counting()
    near = dict((n, m) for n, m in MEMBERS.items() if n != 'far')
    _node.routes(params(members=near, cross_subnet='fail'), k)
    Counting.dumps = 0
    assert _node.routes(params(members=near, cross_subnet='fail'), k)['changed'] is False
    assert Counting.dumps == 1
    _node.routes(params(), k)                                   # vxlan: the device is made
    res = _node.routes(params(members=near, cross_subnet='fail'), k)
    assert res['vxlan']['changes'] == ['delete hostgw.1'] and not any(x['name'] == 'hostgw.1' for x in k.links_)
