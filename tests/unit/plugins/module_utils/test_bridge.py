# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the bridge plan (plugins/module_utils/_bridge.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hostgw.network.plugins.module_utils._bridge import (
    OWNER_ALIAS,
    BridgeError,
    apply_to_view,
    describe,
    parse_addresses,
    plan_bridge,
    validate_name,
)

__metaclass__ = type  # pylint: disable=invalid-name


def bridge(**kw):
    link = {'name': 'cni0', 'kind': 'bridge', 'mtu': 1500, 'up': True, 'alias': OWNER_ALIAS}
    link.update(kw)
    return link


def bridge_error(func, *args, **kw):
    with pytest.raises(BridgeError) as exc:
        func(*args, **kw)
    return str(exc.value)


# --------------------------------------------------------------------------------------------------
# validate_name
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['cni0', 'br-pods', 'a', 'a' * 15, 'br_0.1', 'x..'])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize('name', ['', 'a' * 16, 'cni0\n', 'cni 0', 'a/b', 'eth0:1', '.', '..', 'cni0;reboot',
                                  'cnï0', None, 5, ['cni0']])
def test_invalid_names(name):
    assert bridge_error(validate_name, name) == (
        'bridge name %r is not a valid interface name (1-15 characters of letters, digits, _ . -)' % (name,))


# --------------------------------------------------------------------------------------------------
# parse_addresses
# --------------------------------------------------------------------------------------------------

def test_parse_addresses_canonical_both_families():
    assert parse_addresses(['10.244.1.1/24', 'FD00:10:244:0001:0::1/64']) == ['10.244.1.1/24', 'fd00:10:244:1::1/64']
    assert parse_addresses([' 10.244.1.1/24 ']) == ['10.244.1.1/24']
    assert parse_addresses([]) == []
    assert parse_addresses(None) == []


@pytest.mark.parametrize('value', ['10.0.0.0/31', '10.0.0.1/31', '10.0.0.5/32', 'fd00::/127', 'fd00::1/128'])
def test_parse_addresses_point_to_point_prefixes_are_fine(value):
    assert parse_addresses([value]) == [value]


@pytest.mark.parametrize('values, message', [
    (['10.244.1.0/24'], 'gateway address 10.244.1.0/24 is the network address of 10.244.1.0/24; '
                        'use the first host address 10.244.1.1'),
    (['10.244.1.255/24'], 'gateway address 10.244.1.255/24 is the broadcast address of 10.244.1.0/24; '
                          'use the first host address 10.244.1.1'),
    (['fd00:10:244:1::/64'], 'gateway address fd00:10:244:1::/64 is the network address of fd00:10:244:1::/64; '
                             'use the first host address fd00:10:244:1::1'),
    (['10.244.1.1'], "gateway address '10.244.1.1' needs a prefix length (like 10.244.1.1/24)"),
    (['banana/24'], "gateway address 'banana/24' is not an address with a prefix length (like 10.244.1.1/24)"),
    (['10.244.1.1/33'], "gateway address '10.244.1.1/33' is not an address with a prefix length (like 10.244.1.1/24)"),
    (['10.244.1.1/24; ip link del eth0'], "gateway address '10.244.1.1/24; ip link del eth0' is not an address "
                                          "with a prefix length (like 10.244.1.1/24)"),
    ([None], 'gateway address None is not an address with a prefix length (like 10.244.1.1/24)'),
    (['10.244.1.1/24', '10.244.2.1/24'], 'two IPv4 gateway addresses given (10.244.1.1/24 and 10.244.2.1/24); '
                                         'give one per family'),
    (['fd00::1/64', 'fd01::1/64'], 'two IPv6 gateway addresses given (fd00::1/64 and fd01::1/64); give one per family'),
])
def test_parse_addresses_invalid(values, message):
    assert bridge_error(parse_addresses, values) == message


# --------------------------------------------------------------------------------------------------
# plan_bridge
# --------------------------------------------------------------------------------------------------

def test_create():
    actions = plan_bridge(None, [], ['10.244.1.1/24', 'fd00:10:244:1::1/64'], mtu=1450)
    assert actions == [('create',), ('alias', OWNER_ALIAS), ('mtu', 1450), ('addr_add', '10.244.1.1/24'),
                       ('addr_add', 'fd00:10:244:1::1/64'), ('up',)]


def test_create_without_mtu_leaves_the_kernel_default():
    assert plan_bridge(None, [], ['10.244.1.1/24']) == [('create',), ('alias', OWNER_ALIAS),
                                                        ('addr_add', '10.244.1.1/24'), ('up',)]


def test_create_ignores_addresses_reported_for_a_missing_link():
    assert ('addr_del', '10.9.9.9/24') not in plan_bridge(None, ['10.9.9.9/24'], ['10.244.1.1/24'])


def test_adopt_an_existing_bridge_made_by_the_cni_plugin():
    link = bridge(alias=None)
    assert plan_bridge(link, ['10.244.1.1/24', 'fe80::1c2b:3ff:fe4d:5e6f/64'], ['10.244.1.1/24'], mtu=1500) == [
        ('alias', OWNER_ALIAS)]


def test_foreign_alias_is_overwritten_on_adoption():
    assert plan_bridge(bridge(alias='made by hand'), ['10.244.1.1/24'], ['10.244.1.1/24']) == [('alias', OWNER_ALIAS)]


def test_stale_address_is_replaced_and_ipv6_link_local_kept():
    # Flannel #1013: cni0 keeps an old subnet's gateway after renumbering
    current = ['fe80::1/64', '10.244.7.1/24', 'fd00:10:244:7::1/64']
    actions = plan_bridge(bridge(), current, ['10.244.1.1/24', 'fd00:10:244:1::1/64'])
    assert actions == [('addr_del', '10.244.7.1/24'), ('addr_del', 'fd00:10:244:7::1/64'),
                       ('addr_add', '10.244.1.1/24'), ('addr_add', 'fd00:10:244:1::1/64')]


def test_same_address_other_prefix_length_is_replaced():
    assert plan_bridge(bridge(), ['10.244.1.1/16'], ['10.244.1.1/24']) == [
        ('addr_del', '10.244.1.1/16'), ('addr_add', '10.244.1.1/24')]


def test_extra_addresses_are_removed_when_none_wanted():
    assert plan_bridge(bridge(), ['10.244.1.1/24', 'fe80::1/64'], []) == [('addr_del', '10.244.1.1/24')]


def test_mtu_change_only():
    assert plan_bridge(bridge(mtu=1500), ['10.244.1.1/24'], ['10.244.1.1/24'], mtu=1450) == [('mtu', 1450)]


def test_mtu_none_keeps_whatever_is_there():
    assert plan_bridge(bridge(mtu=9000), ['10.244.1.1/24'], ['10.244.1.1/24'], mtu=None) == []


def test_down_bridge_is_brought_up_last():
    assert plan_bridge(bridge(up=False), [], ['10.244.1.1/24']) == [('addr_add', '10.244.1.1/24'), ('up',)]


def test_idempotent_when_everything_matches():
    assert plan_bridge(bridge(mtu=1450), ['10.244.1.1/24', 'fe80::1/64', 'fd00::1/64'],
                       ['fd00::1/64', '10.244.1.1/24'], mtu=1450) == []


@pytest.mark.parametrize('state', ['present', 'absent'])
def test_non_bridge_link_is_refused(state):
    link = {'name': 'cni0', 'kind': 'vxlan', 'mtu': 1450, 'up': True, 'alias': OWNER_ALIAS}
    message = bridge_error(plan_bridge, link, [], ['10.244.1.1/24'], None, state)
    assert message.startswith('cni0 ')
    assert 'is a vxlan link, not a bridge: refusing to' in message


def test_plain_interface_without_kind_is_refused():
    link = {'name': 'eth0', 'kind': None, 'mtu': 1500, 'up': True, 'alias': None}
    assert bridge_error(plan_bridge, link, [], []) == (
        'eth0 exists and is a non-bridge link, not a bridge: refusing to touch it (choose another bridge name)')


def test_absent():
    assert plan_bridge(None, [], [], state='absent') == []
    assert plan_bridge(bridge(), ['10.244.1.1/24'], [], state='absent') == [('delete',)]


@pytest.mark.parametrize('alias', [None, '', 'hostgw', 'made by hand'])
def test_absent_refuses_a_bridge_we_do_not_own(alias):
    assert bridge_error(plan_bridge, bridge(alias=alias), [], [], state='absent') == (
        'bridge cni0 was not created or adopted by hostgw (its alias is %r, not %r): refusing to delete it'
        % (alias, OWNER_ALIAS))


# --------------------------------------------------------------------------------------------------
# describe / apply_to_view
# --------------------------------------------------------------------------------------------------

def test_describe():
    assert describe('cni0', None, []) == ''
    assert describe('cni0', bridge(mtu=1450, up=False), ['fd00::1/64', 'fe80::1/64', '10.244.1.1/24']) == (
        'cni0: bridge mtu 1450 down\n  inet 10.244.1.1/24\n  inet6 fd00::1/64\n')


def test_apply_to_view_create():
    actions = plan_bridge(None, [], ['10.244.1.1/24'], mtu=1450)
    link, addrs = apply_to_view('cni0', None, [], actions)
    assert link == {'name': 'cni0', 'kind': 'bridge', 'mtu': 1450, 'up': True, 'alias': OWNER_ALIAS}
    assert addrs == ['10.244.1.1/24']
    assert describe('cni0', link, addrs) == 'cni0: bridge mtu 1450 up\n  inet 10.244.1.1/24\n'


def test_apply_to_view_delete_and_does_not_mutate_input():
    link = bridge()
    addrs = ['10.244.1.1/24']
    assert apply_to_view('cni0', link, addrs, [('delete',)]) == (None, [])
    new_link, new_addrs = apply_to_view('cni0', link, addrs, [('mtu', 1400), ('addr_del', '10.244.1.1/24')])
    assert (new_link['mtu'], new_addrs) == (1400, [])
    assert (link['mtu'], addrs) == (1500, ['10.244.1.1/24'])


ADDR_POOL = ['10.244.1.1/24', '10.244.7.1/24', '10.244.1.1/16', 'fd00:10:244:1::1/64', 'fd00:10:244:7::1/64',
             'fe80::1/64']


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(st.none(), st.fixed_dictionaries({
    'name': st.just('cni0'), 'kind': st.just('bridge'), 'mtu': st.sampled_from([1400, 1450, 1500]),
    'up': st.booleans(), 'alias': st.sampled_from([None, 'x', OWNER_ALIAS])})),
    st.lists(st.sampled_from(ADDR_POOL), unique=True),
    st.sampled_from([[], ['10.244.1.1/24'], ['fd00:10:244:1::1/64'], ['10.244.1.1/24', 'fd00:10:244:1::1/64']]),
    st.sampled_from([None, 1450]))
def test_property_plan_converges_in_one_step(link, current, want, mtu):
    actions = plan_bridge(link, current, want, mtu)
    after_link, after_addrs = apply_to_view('cni0', link, current if link else [], actions)
    assert plan_bridge(after_link, after_addrs, want, mtu) == []
    assert after_link['alias'] == OWNER_ALIAS and after_link['up'] is True
    kept_ll = [a for a in (current if link else []) if a.startswith('fe80:')]
    assert sorted(after_addrs) == sorted(set(want) | set(kept_ll))
    # removals come before additions, and 'up' is the last step when present
    kinds = [a[0] for a in actions]
    if 'addr_del' in kinds and 'addr_add' in kinds:
        assert max(i for i, k in enumerate(kinds) if k == 'addr_del') < kinds.index('addr_add')
    if 'up' in kinds:
        assert kinds[-1] == 'up'
