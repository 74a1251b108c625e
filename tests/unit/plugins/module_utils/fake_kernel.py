# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake of the netlink seam (``_netlink.Kernel``'s methods over an in-memory kernel) and the parameters the node
tests share: one for the module entry points (_node) and the boot program (_boot_program) alike."""

from __future__ import annotations

from ansible_collections.hostgw.network.plugins.module_utils._netlink import BatchResult, NetlinkError
from ansible_collections.hostgw.network.plugins.module_utils._routes import KAddr, KRoute

__metaclass__ = type  # pylint: disable=invalid-name


class FakeKernel:
    """The methods of _netlink.Kernel the node code uses, over an in-memory kernel."""

    def __init__(self):
        self.links_ = [dict(index=1, name='lo', kind=None, mtu=65536, up=True, alias=None, master=None),
                       dict(index=2, name='eth0', kind='veth', mtu=1450, up=True, alias=None, master=None)]
        self.addrs_ = [KAddr(1, 4, '127.0.0.1', 8, 254, 0), KAddr(2, 4, '10.168.0.1', 24),
                       KAddr(2, 6, 'fe80::1', 64, 253, 0), KAddr(2, 6, 'fd00::1', 64, 0, 0x01)]
        self.routes_ = [KRoute(4, '0.0.0.0/0', '10.168.0.254', 2, 3, 0, 1),
                        KRoute(4, '10.168.0.0/24', None, 2, 2, 0, 1),
                        KRoute(4, '172.16.0.0/16', '10.168.0.9', 2, 4, 0, 1)]
        self.refuse = set()    # destinations the kernel refuses (ENETUNREACH)
        self.calls = []

    def links(self):
        return [dict(x) for x in self.links_]

    def addrs(self):
        return list(self.addrs_)

    def routes(self, families=(4, 6)):
        return [r for r in self.routes_ if r.family in families]

    @staticmethod
    def nexthops():
        return None   # a kernel without next-hop objects

    def bridge_create(self, name):
        index = max(x['index'] for x in self.links_) + 1
        self.links_.append(dict(index=index, name=name, kind='bridge', mtu=1500, up=False, alias=None, master=None))
        self.calls.append(('create', name))
        return index

    def link_set(self, index, **kw):
        link = next(x for x in self.links_ if x['index'] == index)
        if 'ifalias' in kw:
            link['alias'] = kw['ifalias']
        if 'mtu' in kw:
            link['mtu'] = kw['mtu']
        if kw.get('state') == 'up':
            link['up'] = True
        self.calls.append(('set', index, tuple(sorted(kw))))

    def link_del(self, index):
        self.links_ = [x for x in self.links_ if x['index'] != index]

    def addr_add(self, index, cidr):
        ip, plen = cidr.split('/')
        self.addrs_.append(KAddr(index, 6 if ':' in ip else 4, ip, int(plen)))
        self.calls.append(('addr_add', cidr))

    def addr_del(self, index, cidr):
        ip, plen = cidr.split('/')
        self.addrs_ = [a for a in self.addrs_ if not (a.index == index and a.address == ip and a.prefixlen == int(plen))]

    def routes_apply(self, ops, oif=None, proto=None):
        res = BatchResult()
        for i, op in enumerate(ops):
            action, r = op[0], op[1]
            if r.dest in self.refuse:
                res.failed.append((i, NetlinkError(101)))
                return res
            if action == 'delete':
                self.routes_.remove(r)
            else:
                if action == 'replace':
                    self.routes_ = [x for x in self.routes_ if not (x.dest == r.dest and x.proto == proto)]
                self.routes_.append(KRoute(r.family, r.dest, r.via, oif, proto, r.metric, 1))
            res.done.append(i)
            self.calls.append((action, r.dest))
        return res


ROUTES = [dict(dest='10.244.1.0/24', via='10.168.0.1', host='node1'),
          dict(dest='10.244.2.0/24', via='10.168.0.2', host='node2'),
          dict(dest='10.244.3.0/24', via='10.168.0.3', host='node3')]


def route_params(**kw):
    p = dict(routes=ROUTES, uplink='eth0', bridge='cni0', node_ip=None, proto=244, metric=None, purge=True,
             state='present')
    p.update(kw)
    return p


class RacingKernel(FakeKernel):
    """Another run makes the change first: the bridge (or a route) appears just before ours, and ours gets EEXIST."""

    def __init__(self, race_bridge=False, race_routes=()):
        super().__init__()
        self.race_bridge, self.race_routes = race_bridge, set(race_routes)

    def bridge_create(self, name):
        if self.race_bridge:
            self.race_bridge = False
            FakeKernel.bridge_create(self, name)
            self.calls.pop()
            raise NetlinkError(17)
        return FakeKernel.bridge_create(self, name)

    def routes_apply(self, ops, oif=None, proto=None):
        res = BatchResult()
        for i, op in enumerate(ops):
            r = op[1]
            if op[0] == 'add' and r.dest in self.race_routes:
                self.race_routes.discard(r.dest)
                self.routes_.append(KRoute(r.family, r.dest, r.via, oif, proto, r.metric, 1))
                res.failed.append((i, NetlinkError(17)))
                continue
            one = FakeKernel.routes_apply(self, [op], oif, proto)
            res.done.extend(i for _done in one.done)
            res.failed.extend((i, e) for _index, e in one.failed)
        return res


class NhKernel(FakeKernel):
    """A kernel with next-hop objects."""

    def __init__(self):
        super(NhKernel, self).__init__()
        self.nh = []

    def nexthops(self):
        return list(self.nh)

    def nexthops_apply(self, ops):
        res = BatchResult()
        for i, (action, n) in enumerate(ops):
            if action == 'add':
                assert n.id not in [x.id for x in self.nh]
                self.nh.append(n)
            else:
                assert not [r for r in self.routes_ if r.nhid == n.id], 'deleting an object still in use'
                self.nh.remove(n)
            res.done.append(i)
            self.calls.append(('nh-' + action, n.id))
        return res

    def routes_apply(self, ops, oif=None, proto=None):
        res = BatchResult()
        for i, op in enumerate(ops):
            action, r = op[0], op[1]
            nhid = op[2] if len(op) > 2 else None
            if action == 'delete':
                self.routes_.remove(r)
            else:
                if action == 'replace':
                    self.routes_ = [x for x in self.routes_ if not (x.dest == r.dest and x.proto == proto)]
                self.routes_.append(KRoute(r.family, r.dest, r.via, oif, proto, r.metric, 1, nhid))
            res.done.append(i)
            self.calls.append((action, r.dest))
        return res


class VxlanKernel(FakeKernel):
    """FakeKernel with the VXLAN part of the seam: the device, FDB and neighbor entries, routes on their own link."""

    def __init__(self):
        super(VxlanKernel, self).__init__()
        self.fdb_, self.neigh_ = [], []
        self.refuse_entries = False

    def fdb(self):
        return list(self.fdb_)

    def neighbors(self, families=(4, 6)):
        return [e for e in self.neigh_ if e.family in families]

    def vxlan_create(self, spec, alias):
        if any(x['name'] == spec['name'] for x in self.links_):
            raise NetlinkError(17)
        index = max(x['index'] for x in self.links_) + 1
        self.links_.append(dict(index=index, name=spec['name'], kind='vxlan', mtu=spec['mtu'], up=True, alias=alias,
                                master=None, mac=spec['mac'],
                                vxlan=dict(id=spec['vni'], port=spec['port'], local=spec['local'], link=spec['link'],
                                           learning=False)))
        self.calls.append(('vxlan_create', spec['name']))
        return index

    def link_del(self, index):
        super(VxlanKernel, self).link_del(index)
        self.fdb_ = [e for e in self.fdb_ if e.index != index]
        self.neigh_ = [e for e in self.neigh_ if e.index != index]
        self.routes_ = [r for r in self.routes_ if r.oif != index]

    def host_addr_add(self, index, cidr):
        self.addr_add(index, cidr)

    def neigh_apply(self, ops):
        res = BatchResult()
        for i, (action, e) in enumerate(ops):
            if self.refuse_entries:
                res.failed.append((i, NetlinkError(22)))
                return res
            table = self.fdb_ if hasattr(e, 'state') and not hasattr(e, 'family') else self.neigh_
            key = (lambda x: (x.index, x.mac)) if table is self.fdb_ else (lambda x: (x.index, x.family, x.dst))
            table[:] = [x for x in table if key(x) != key(e)]
            if action == 'put':
                table.append(e)
            res.done.append(i)
            self.calls.append((action, type(e).__name__, key(e)))
        return res

    def routes_apply(self, ops, oif=None, proto=None):
        res = BatchResult()
        for i, op in enumerate(ops):
            action, r = op[0], op[1]
            if action == 'delete':
                self.routes_.remove(r)
            else:
                self.routes_ = [x for x in self.routes_ if not (x.dest == r.dest and x.proto == proto)]
                self.routes_.append(KRoute(r.family, r.dest, r.via, getattr(r, 'oif', None) or oif, proto, r.metric, 1))
            res.done.append(i)
            self.calls.append((action, r.dest))
        return res
