# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node-side code against a fake kernel seam: _node (cni_bridge, hostgw_route), _restore (the boot program),
_facts (hostgw_facts) and _boot/_files (what hostgw_restore and hostgw_files write). No kernel, no Ansible run."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.hostgw.network.plugins.module_utils import _boot, _facts, _files, _node, _restore
from ansible_collections.hostgw.network.plugins.module_utils._bridge import OWNER_ALIAS
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


# ---- _node -------------------------------------------------------------------------------------------------
def test_bridge_create_then_noop():
    k = FakeKernel()
    res = _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1450, state='present'), k)
    assert res['changed'] and res['bridge'] == dict(name='cni0', mtu=1450, up=True, addresses=['10.244.1.1/24'])
    assert res['boot_state'] == dict(name='cni0', addresses=['10.244.1.1/24'], mtu=1450)
    again = _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1450, state='present'), k)
    assert again['changed'] is False and again['actions'] == []


def test_bridge_check_mode_changes_nothing():
    k = FakeKernel()
    res = _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=None, state='present'), k, check_mode=True,
                       diff=True)
    assert res['changed'] and k.calls == [] and 'cni0: bridge mtu 1500 down' not in res['diff']['before']
    assert '10.244.1.1/24' in res['diff']['after']


def test_routes_skip_own_subnet_and_report_boot_state():
    k = FakeKernel()
    res = _node.routes(route_params(), k)
    assert res['own_subnets'] == ['10.244.1.0/24'] and res['uplink'] == 'eth0'
    assert [r['dest'] for r in res['boot_state']['routes']] == ['10.244.2.0/24', '10.244.3.0/24']
    assert _node.routes(route_params(), k)['changed'] is False


def test_routes_refusal_raises_with_partial_result():
    k = FakeKernel()
    k.refuse.add('10.244.3.0/24')
    with pytest.raises(_node.NodeError) as e:
        _node.routes(route_params(), k)
    assert e.value.result['added'] == ['10.244.2.0/24 via 10.168.0.2 dev eth0 proto 244']
    assert 'failed to add 10.244.3.0/24' in e.value.msg


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


def test_bridge_made_meanwhile_by_another_run_is_adopted():
    k = RacingKernel(race_bridge=True)
    res = _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1450, state='present'), k)
    assert 'create' not in res['actions'] and res['changed']
    assert res['bridge'] == dict(name='cni0', mtu=1450, up=True, addresses=['10.244.1.1/24'])
    link = next(x for x in k.links_ if x['name'] == 'cni0')
    assert link['alias'] == OWNER_ALIAS and len([x for x in k.links_ if x['name'] == 'cni0']) == 1


def test_bridge_eexist_on_a_foreign_link_still_fails():
    class Foreign(FakeKernel):
        def bridge_create(self, name):
            self.links_.append(dict(index=9, name=name, kind='veth', mtu=1500, up=True, alias=None, master=None))
            raise NetlinkError(17)
    with pytest.raises(Exception) as e:
        _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=None, state='present'), Foreign())
    assert 'not a bridge' in str(e.value)


def test_routes_made_meanwhile_by_another_run_converge():
    k = RacingKernel(race_routes=['10.244.2.0/24'])
    res = _node.routes(route_params(), k)
    assert res['added'] == ['10.244.3.0/24 via 10.168.0.3 dev eth0 proto 244'] and res['changed']
    owned = sorted(r.dest for r in k.routes_ if r.proto == 244)
    assert owned == ['10.244.2.0/24', '10.244.3.0/24']
    assert _node.routes(route_params(), k)['changed'] is False


# ---- _restore ----------------------------------------------------------------------------------------------
def state(k):
    br = _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1450, state='present'), k)
    rt = _node.routes(route_params(), k)
    return _restore.boot_state(bridge=br['boot_state'], routes=rt['boot_state'])


def test_replay_adds_only_and_reports_foreign_route():
    k = FakeKernel()
    doc = json.loads(json.dumps(state(k)))            # what restore.json holds
    boot = FakeKernel()                               # after a reboot: nothing of hostgw
    boot.routes_.append(KRoute(4, '10.244.2.0/24', '10.168.0.77', 2, 4, 0, 1))   # foreign, static
    rep = _restore.replay(doc, boot)
    assert len(rep.failures) == 1 and 'destination 10.244.2.0/24 is held by a route hostgw does not own' in rep.failures[0]
    assert '(10.244.2.0/24 via 10.168.0.77 dev eth0 proto 4 metric 0)' in rep.failures[0]     # the link by name
    assert 'route add 10.244.3.0/24 via 10.168.0.3 dev eth0 proto 244' in rep.changes
    assert KRoute(4, '10.244.2.0/24', '10.168.0.77', 2, 4, 0, 1) in boot.routes_          # left as it is
    assert any(x['name'] == 'cni0' and x['alias'] == OWNER_ALIAS and x['up'] for x in boot.links_)


def test_replay_never_deletes_and_replaces_owned_only():
    k = FakeKernel()
    doc = state(k)
    k.routes_ = [r if r.dest != '10.244.2.0/24' else r._replace(via='10.168.0.22') for r in k.routes_]
    k.addr_add(3, '10.99.0.1/24')                       # an extra address on the bridge stays
    rep = _restore.replay(doc, k)
    assert rep.failures == [] and rep.changes == ['route replace 10.244.2.0/24 via 10.168.0.2 dev eth0 proto 244']
    assert any(a.address == '10.99.0.1' for a in k.addrs_)


def test_replay_check_changes_nothing_and_refusals_are_per_route():
    k = FakeKernel()
    doc = state(k)
    boot = FakeKernel()
    rep = _restore.replay(doc, boot, check=True)
    assert rep.changes and boot.calls == []
    boot.refuse.add('10.244.2.0/24')
    rep = _restore.replay(doc, boot)
    assert [f for f in rep.failures if '10.244.2.0/24' in f] and 'route add 10.244.3.0/24 via 10.168.0.3 dev eth0 proto 244' in rep.changes


def test_replay_foreign_link_and_bad_document():
    k = FakeKernel()
    doc = state(k)
    boot = FakeKernel()
    boot.links_.append(dict(index=9, name='cni0', kind='bridge', mtu=1500, up=True, alias=None, master=None))
    rep = _restore.replay(doc, boot)
    assert any('a link of that name exists that hostgw does not own' in f for f in rep.failures)
    assert _restore.replay({'schema': 99}, boot).failures == ['state: not a hostgw restore document of schema 1']


def test_main_exit_codes(tmp_path, monkeypatch):
    k = FakeKernel()
    doc = state(k)
    path = tmp_path / 'restore.json'
    path.write_text(json.dumps(doc))

    class Ctx:
        def __enter__(self):
            return k

        def __exit__(self, *a):
            return False
    monkeypatch.setattr(_restore._netlink, 'Kernel', Ctx)

    class Out:
        text = ''

        def write(self, s):
            Out.text += s

        def flush(self):
            pass
    assert _restore.main([str(path)], Out()) == 0 and Out.text.endswith('0 changed, 0 failed\n')
    k.routes_ = [r for r in k.routes_ if r.dest != '10.244.3.0/24']
    assert _restore.main(['--check', str(path)], Out()) == 3
    assert _restore.main([str(path)], Out()) == 0
    assert _restore.main([str(tmp_path / 'missing.json')], Out()) == 1
    assert _restore.main([], Out()) == 2


# ---- _facts ------------------------------------------------------------------------------------------------
def test_facts_drop_link_local_loopback_and_unrelated_routes():
    host = _facts.read_host(FakeKernel(), ['10.244.0.0/16'])
    assert [a['address'] for a in host['addresses']] == ['10.168.0.1', 'fd00::1']
    assert [a['temporary'] for a in host['addresses']] == [False, True]
    assert [r['dest'] for r in host['routes']] == ['0.0.0.0/0']            # 172.16/16 and 10.168/24 do not overlap
    assert host['default_ipv4'] == '10.168.0.1' and host['default_ipv6'] is None
    assert len(_facts.read_host(FakeKernel())['routes']) == 3


def test_facts_leave_out_hostgws_own_routes():
    """The fact must not grow with the mesh: hostgw's routes (one per peer) are left out with skip_proto."""
    k = FakeKernel()
    k.routes_ += [KRoute(4, '10.244.%d.0/24' % i, '10.168.0.%d' % i, 2, 244, 0, 1) for i in range(2, 50)]
    k.routes_.append(KRoute(4, '10.244.99.0/24', '10.168.0.9', 2, 4, 0, 1))      # foreign: the controller checks it
    host = _facts.read_host(k, ['10.244.0.0/16'], skip_proto=244)
    assert [r['dest'] for r in host['routes']] == ['0.0.0.0/0', '10.244.99.0/24']
    assert len(_facts.read_host(k, ['10.244.0.0/16'])['routes']) == 50


# ---- _boot and _files --------------------------------------------------------------------------------------
def test_boot_install_files_and_validation():
    items, command, units = _boot.install_files('/etc/hostgw', {'name': 'cni0', 'addresses': []}, None, None,
                                                {'net.ipv4.ip_forward': 1}, '/usr/bin/python3', '/etc/systemd/system', '1min')
    paths = [i['path'] for i in items]
    assert command == ['/usr/bin/python3', '/etc/hostgw/restore/hostgw-restore', '/etc/hostgw/restore.json']
    assert units == ['hostgw-repair.service', 'hostgw-repair.timer', 'hostgw-restore.service']
    assert '/etc/hostgw/restore/lib/ansible_collections/hostgw/network/plugins/module_utils/_restore.py' in paths
    doc = json.loads(items[0]['content'])
    assert doc['sysctls'] == {'net.ipv4.ip_forward': '1'} and doc['routes'] is None
    for bad, msg in [(dict(state_dir='/etc/host gw'), "state_dir '/etc/host gw'"),
                     (dict(python='python3'), "python 'python3'"),
                     (dict(repair_interval='soon'), "repair_interval 'soon'"),
                     (dict(sysctls={'kernel.panic': 1}), 'sysctls: kernel.panic'),
                     (dict(routes={'routes': []}), 'routes must hold uplink, proto, routes')]:
        args = dict(state_dir='/etc/hostgw', bridge=None, routes=None, firewall=None, sysctls={}, python='/usr/bin/python3',
                    unit_dir='/etc/systemd/system', repair_interval='')
        args.update(bad)
        with pytest.raises(_boot.BootError) as e:
            _boot.install_files(**args)
        assert msg in str(e.value)


class FakeModule:
    @staticmethod
    def atomic_move(src, dest):
        os.rename(src, dest)


def test_files_manifest_teardown_keeps_foreign_files_and_dirs(tmp_path):
    state_dir = tmp_path / 'hostgw'
    manifest = str(state_dir / 'manifest.json')
    items = [dict(path=str(state_dir / 'lease.json'), content='{}\n', mode='0600'),
             dict(path=str(tmp_path / 'cni' / 'net.d' / '10-hostgw.conflist'), content='{}\n', mode='0644')]
    changed, _diffs, _kept = _files.sync(FakeModule(), items, manifest)
    assert len(changed) == 2 and oct(os.stat(items[0]['path']).st_mode & 0o777) == '0o600'
    recorded = _files.read_manifest(manifest)
    assert str(state_dir) in recorded['dirs'] and str(tmp_path / 'cni') in recorded['dirs']
    assert _files.sync(FakeModule(), items, manifest)[0] == []                  # idempotent
    (state_dir / 'other-tool.conf').write_text('x')                            # another tool's file in the state dir
    changed, _diffs, kept = _files.sync(FakeModule(), [], manifest, present=False)
    assert not os.path.exists(items[0]['path']) and not os.path.exists(manifest)
    assert (state_dir / 'other-tool.conf').read_text() == 'x'
    assert kept == ['%s (holds files hostgw did not write)' % state_dir]
    assert not os.path.exists(str(tmp_path / 'cni'))                          # created by hostgw and now empty


def test_files_refuse_relative_paths_and_directories(tmp_path):
    with pytest.raises(_files.FilesError):
        _files.sync(FakeModule(), [dict(path='relative', content='x')], None)
    d = tmp_path / 'dir'
    d.mkdir()
    with pytest.raises(_files.FilesError) as e:
        _files.sync(FakeModule(), [dict(path=str(d), content='x')], None)
    assert 'is not a regular file' in str(e.value)
    # absent with a directory among the files: the directory is never removed
    _files.sync(FakeModule(), [dict(path=str(d))], None, present=False)
    assert d.is_dir()


# ---- next-hop objects -------------------------------------------------------------------------------------
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


def test_nexthop_mode_switch_both_ways_replaces_in_place():
    from ansible_collections.hostgw.network.plugins.module_utils._routes import KNexthop
    k = NhKernel()
    k.nh.append(KNexthop(244000000, 4, '10.168.0.2', 9, 7, False))     # a foreign object that took our first id
    res = _node.routes(route_params(nexthop_objects='auto'), k)
    assert res['nexthop_objects'] is True
    assert res['nexthops_added'] == ['id 244000001 via 10.168.0.2 dev eth0 proto 244',
                                     'id 244000002 via 10.168.0.3 dev eth0 proto 244']
    assert sorted(r.nhid for r in k.routes_ if r.proto == 244) == [244000001, 244000002]
    assert _node.routes(route_params(nexthop_objects=True), k)['changed'] is False
    # to plain routes: replaced in place (never deleted), then the owned objects go; the foreign one stays
    res = _node.routes(route_params(nexthop_objects=False), k)
    assert res['replaced'] and not res['removed'] and not res['added']
    assert len(res['nexthops_removed']) == 2 and [n.id for n in k.nh] == [244000000]
    assert [c for c in k.calls if c[0] in ('delete',)] == []
    assert all(r.nhid is None for r in k.routes_)
    # and back: objects first, then replace
    res = _node.routes(route_params(nexthop_objects='true'), k)
    first = [c[0] for c in k.calls[-4:]]
    assert first == ['nh-add', 'nh-add', 'replace', 'replace'] and res['replaced']


def test_nexthop_objects_in_use_by_foreign_routes_are_kept():
    k = NhKernel()
    _node.routes(route_params(nexthop_objects='true'), k)
    owned_id = k.nh[0].id
    k.routes_.append(KRoute(4, '172.31.0.0/16', '10.168.0.2', 2, 4, 0, 1, owned_id))   # a foreign route on our object
    res = _node.routes(route_params(state='absent'), k)
    assert owned_id in [n.id for n in k.nh] and len(res['nexthops_removed']) == 1


def test_nexthop_true_without_kernel_support_fails_naming_it():
    with pytest.raises(_node.RouteError) as e:
        _node.routes(route_params(nexthop_objects='true'), FakeKernel())
    assert 'nexthop_objects is true but this kernel has no next-hop objects' in str(e.value)
    with pytest.raises(_node.RouteError):
        _node.routes(route_params(nexthop_objects='sometimes'), FakeKernel())
    assert _node.routes(route_params(), FakeKernel())['nexthop_objects'] is False      # auto without support


def test_replay_in_nexthop_mode():
    k = NhKernel()
    rt = _node.routes(route_params(nexthop_objects='true'), k)
    doc = _restore.boot_state(routes=rt['boot_state'])
    boot = NhKernel()
    rep = _restore.replay(doc, boot)
    assert rep.failures == [] and len(boot.nh) == 2
    assert sorted(r.nhid for r in boot.routes_ if r.proto == 244) == sorted(n.id for n in boot.nh)
    assert _restore.replay(doc, boot).changes == []
