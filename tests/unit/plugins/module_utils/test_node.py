# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules' apply path (plugins/module_utils/_node.py: cni_bridge and hostgw_route) against the fake kernel seam:
what is changed, what is reported, races with another run, next-hop objects. No kernel, no Ansible run."""

from __future__ import annotations

import pytest

from ansible_collections.hostgw.network.plugins.module_utils import _node
from ansible_collections.hostgw.network.plugins.module_utils._bridge import OWNER_ALIAS
from ansible_collections.hostgw.network.plugins.module_utils._netlink import NetlinkError
from ansible_collections.hostgw.network.plugins.module_utils._routes import KNexthop, KRoute
from ansible_collections.hostgw.network.tests.unit.plugins.module_utils.fake_kernel import (
    FakeKernel,
    NhKernel,
    RacingKernel,
    route_params,
)

__metaclass__ = type  # pylint: disable=invalid-name


def test_bridge_create_then_noop():
    k = FakeKernel()
    res = _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1450, state='present'), k)
    assert res['changed'] and res['bridge'] == dict(name='cni0', mtu=1450, up=True, addresses=['10.244.1.1/24'])
    assert res['boot_state'] == dict(name='cni0', addresses=['10.244.1.1/24'], mtu=1450)
    again = _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1450, state='present'), k)
    assert again['changed'] is False and again['actions'] == []


def test_bridge_mtu_change_names_the_running_pods_that_keep_the_old_one():
    k = FakeKernel()
    _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1500, state='present'), k)
    bridge = next(x for x in k.links_ if x['name'] == 'cni0')
    k.links_.append(dict(index=50, name='veth0a1b', kind='veth', mtu=1500, up=True, alias=None, master=bridge['index']))
    k.links_.append(dict(index=51, name='other', kind='veth', mtu=1500, up=True, alias=None, master=None))
    same = _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1500, state='present'), k)
    assert same['mtu_kept_by'] == [] and same['changed'] is False
    check = _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1450, state='present'), k, check_mode=True)
    assert check['mtu_kept_by'] == ['veth0a1b']
    res = _node.bridge(dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1450, state='present'), k)
    assert res['changed'] is True and res['mtu_kept_by'] == ['veth0a1b']


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


def test_nexthop_mode_switch_both_ways_replaces_in_place():
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
