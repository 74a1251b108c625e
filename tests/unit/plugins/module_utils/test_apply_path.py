# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one apply path: the same cases through both entry points, the modules (``_node.bridge``/``_node.routes``, the
CONVERGE policy) and the boot program (``_boot_program.replay`` of the state those modules saved, the RESTORE
policy). Where the policies differ, each case says what each must do; everything else must be the same."""

from __future__ import annotations

import json

import pytest

from ansible_collections.hostgw.network.plugins.module_utils import _boot_program, _node
from ansible_collections.hostgw.network.plugins.module_utils._bridge import OWNER_ALIAS
from ansible_collections.hostgw.network.plugins.module_utils._routes import KRoute
from ansible_collections.hostgw.network.tests.unit.plugins.module_utils.fake_kernel import FakeKernel, NhKernel, route_params

__metaclass__ = type  # pylint: disable=invalid-name

BRIDGE = dict(bridge='cni0', addresses=['10.244.1.1/24'], mtu=1450, state='present')
OWNED = ['10.244.2.0/24 via 10.168.0.2', '10.244.3.0/24 via 10.168.0.3']


def saved_state(kernel_class=FakeKernel, **route_kw):
    """restore.json as the modules' boot_state results make it, on a node of its own."""
    k = kernel_class()
    br = _node.bridge(dict(BRIDGE), k)
    rt = _node.routes(route_params(**route_kw), k)
    return json.loads(_boot_program.dump_state(_boot_program.boot_state(bridge=br['boot_state'],
                                                                        routes=rt['boot_state'])))


class Outcome:
    """What an entry point did: ``changes`` (lines), ``failures`` (messages), whether it stopped with an error."""

    def __init__(self, changes=(), failures=(), raised=None):
        self.changes, self.failures, self.raised = list(changes), list(failures), raised


def via_module(k, **route_kw):
    changes = []
    try:
        changes += _node.bridge(dict(BRIDGE), k)['actions']
        res = _node.routes(route_params(**route_kw), k)
        changes += res['added'] + res['replaced'] + res['nexthops_added']
    except (_node.RouteError, _node.NodeError, _node.BridgeError) as e:
        return Outcome(changes, [str(e)], e)
    return Outcome(changes)


def via_boot(k, **route_kw):
    rep = _boot_program.replay(saved_state(type(k), **route_kw), k)
    return Outcome(rep.changes, rep.failures)


ENTRIES = [pytest.param(via_module, id='module'), pytest.param(via_boot, id='boot')]


def owned(k):
    return sorted('%s via %s' % (r.dest, r.via) for r in k.routes_ if r.proto == 244)


def bridge_of(k):
    return next((x for x in k.links_ if x['name'] == 'cni0'), None)


@pytest.mark.parametrize('apply', ENTRIES)
def test_a_bare_node_gets_bridge_and_routes_and_a_second_pass_changes_nothing(apply):
    k = FakeKernel()
    out = apply(k)
    assert out.failures == [] and out.changes
    link = bridge_of(k)
    assert link['alias'] == OWNER_ALIAS and link['up'] and link['mtu'] == 1450
    assert [a.address for a in k.addrs_ if a.index == link['index']] == ['10.244.1.1']
    assert owned(k) == OWNED
    again = apply(k)
    assert again.failures == [] and again.changes == []


@pytest.mark.parametrize('apply', ENTRIES)
def test_an_owned_route_with_another_next_hop_is_replaced_in_place(apply):
    k = FakeKernel()
    apply(k)
    k.routes_ = [r._replace(via='10.168.0.22') if r.dest == '10.244.2.0/24' else r for r in k.routes_]
    k.calls = []
    out = apply(k)
    assert out.failures == [] and owned(k) == OWNED
    assert [c for c in k.calls if c[0] in ('add', 'delete')] == [] and ('replace', '10.244.2.0/24') in k.calls


@pytest.mark.parametrize('apply', ENTRIES)
def test_a_deleted_route_and_a_deleted_address_come_back(apply):
    k = FakeKernel()
    apply(k)
    index = bridge_of(k)['index']
    k.routes_ = [r for r in k.routes_ if r.dest != '10.244.3.0/24']
    k.addrs_ = [a for a in k.addrs_ if a.index != index]
    out = apply(k)
    assert out.failures == [] and owned(k) == OWNED
    assert [a.address for a in k.addrs_ if a.index == index] == ['10.244.1.1']


@pytest.mark.parametrize('apply', ENTRIES)
def test_a_foreign_route_on_a_wanted_destination_is_never_touched(apply):
    k = FakeKernel()
    foreign = KRoute(4, '10.244.2.0/24', '10.168.0.77', 2, 4, 0, 1)
    k.routes_.append(foreign)
    out = apply(k)
    assert foreign in k.routes_
    assert any('destination 10.244.2.0/24 is held by a route hostgw does not own' in f for f in out.failures)
    if apply is via_module:
        assert isinstance(out.raised, _node.RouteError) and owned(k) == []       # converge: refuse before any route
    else:
        assert owned(k) == ['10.244.3.0/24 via 10.168.0.3']                        # boot: the rest is restored


@pytest.mark.parametrize('apply', ENTRIES)
def test_a_refused_route_is_named_and_the_policy_decides_what_follows(apply):
    k = FakeKernel()
    k.refuse.add('10.244.2.0/24')
    out = apply(k)
    assert any('10.244.2.0/24' in f for f in out.failures)
    if apply is via_module:
        assert isinstance(out.raised, _node.NodeError) and owned(k) == []         # converge: stop at the refusal
    else:
        assert owned(k) == ['10.244.3.0/24 via 10.168.0.3']                        # boot: every route its own outcome


@pytest.mark.parametrize('apply', ENTRIES)
def test_extra_addresses_and_a_foreign_bridge(apply):
    k = FakeKernel()
    apply(k)
    index = bridge_of(k)['index']
    k.addr_add(index, '10.99.0.1/24')
    apply(k)
    extra = [a.address for a in k.addrs_ if a.index == index and a.address == '10.99.0.1']
    assert extra == ([] if apply is via_module else ['10.99.0.1'])                 # boot deletes nothing
    other = FakeKernel()
    other.links_.append(dict(index=9, name='cni0', kind='bridge', mtu=1500, up=True, alias=None, master=None))
    out = apply(other)
    if apply is via_module:
        assert out.failures == [] and bridge_of(other)['alias'] == OWNER_ALIAS     # converge adopts a bridge
    else:
        assert any('a link of that name exists that hostgw does not own' in f for f in out.failures)
        assert bridge_of(other)['alias'] is None and other.addrs_ == FakeKernel().addrs_


@pytest.mark.parametrize('apply', ENTRIES)
def test_next_hop_objects_before_their_routes(apply):
    k = NhKernel()
    out = apply(k, nexthop_objects='true')
    assert out.failures == [] and len(k.nh) == 2
    assert sorted(r.nhid for r in k.routes_ if r.proto == 244) == sorted(n.id for n in k.nh)
    first_route = min(i for i, c in enumerate(k.calls) if c[0] == 'add')
    assert all(c[0] == 'nh-add' for c in k.calls[first_route - 2:first_route])
    assert apply(k, nexthop_objects='true').changes == []
