# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the subnet planner (plugins/module_utils/_plan.py)."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.hostgw.network.plugins.module_utils._mesh import member_routes
from ansible_collections.hostgw.network.plugins.module_utils._plan import Member, PlanError, PlanOptions, host_view, summarize
from ansible_collections.hostgw.network.plugins.module_utils._plan import plan_mesh as plan_compact

__metaclass__ = type  # pylint: disable=invalid-name

NET = '10.244.0.0/16'
NET6 = 'fd00:10:244::/56'


def compact_plan_mesh(members, *args, **kw):
    """``plan_mesh`` with the options as arguments (``PlanOptions``' fields)."""
    return plan_compact(members, PlanOptions(*args, **kw))


def plan_mesh(members, *args, **kw):
    """The plan as every consumer sees it: each host's entry with its gateways (``host_view``, the ``plan_host``
    filter), ``routes`` as ``hostgw_route`` derives them from ``hosts`` (``member_routes``), and ``in_run`` per host
    (``summarize``'s ``not_in_run``). The compact plan itself is checked in test_compact_plan_*."""
    plan = compact_plan_mesh(members, *args, **kw)
    summarize(plan, members)
    out = dict(plan)
    out['hosts'] = dict((name, host_view(plan, name)) for name in plan['hosts'])
    for name, host in out['hosts'].items():
        host['in_run'] = name not in plan['not_in_run']
    out['routes'] = member_routes(plan['hosts'])
    return out


def test_compact_plan_holds_only_what_cannot_be_derived():
    plan = compact_plan_mesh([node6('a', 1, lease='10.244.7.0/24', lease6='fd00:10:244:7::/64'), node6('b', 2)], NET,
                             network6=NET6)
    assert plan['hosts']['a'] == {'subnet': '10.244.7.0/24', 'node_ip': '192.168.0.1', 'source': 'lease',
                                  'subnet6': 'fd00:10:244:7::/64', 'node_ip6': '2001:db8::1', 'source6': 'lease'}
    assert 'routes' not in plan
    view = host_view(plan, 'a')
    assert (view['gateway'], view['gateway_cidr'], view['gateway6'], view['gateway6_cidr']) == (
        '10.244.7.1', '10.244.7.1/24', 'fd00:10:244:7::1', 'fd00:10:244:7::1/64')
    assert plan['hosts']['a'] == {'subnet': '10.244.7.0/24', 'node_ip': '192.168.0.1', 'source': 'lease',
                                  'subnet6': 'fd00:10:244:7::/64', 'node_ip6': '2001:db8::1', 'source6': 'lease'}
    with pytest.raises(KeyError):
        host_view(plan, 'ghost')


def node(name, n=None, **kw):
    """A member with node IP 192.168.0.<n> (n defaults to a number derived from the name) and, unless given, no lease."""
    if n is None:
        n = sum(ord(c) for c in name) % 250 + 1
    kw.setdefault('node_ip', '192.168.0.%d' % n)
    kw.setdefault('lease', '')
    return Member(name, **kw)


def node6(name, n, **kw):
    kw.setdefault('node_ip6', '2001:db8::%x' % n)
    kw.setdefault('lease6', '')
    return node(name, n, **kw)


def errors_of(*args, **kw):
    with pytest.raises(PlanError) as exc:
        plan_mesh(*args, **kw)
    assert str(exc.value) == '; '.join(exc.value.errors)
    return exc.value.errors


def subnets(plan):
    return dict((name, h['subnet']) for name, h in plan['hosts'].items())


# --------------------------------------------------------------------------------------------------
# The seed topology and the shape of the result
# --------------------------------------------------------------------------------------------------

def test_seed_topology_from_the_article():
    members = [
        Member('host2', node_ip='10.168.0.2', pin='192.168.1.0/24', lease=''),
        Member('host1', node_ip='10.168.0.1', pin='192.168.0.0/24', lease=''),
    ]
    plan = plan_mesh(members, '192.168.0.0/16', subnet_min='192.168.0.0')
    assert plan['network'] == '192.168.0.0/16'
    assert plan['subnet_len'] == 24
    assert plan['subnet_min'] == '192.168.0.0/24'
    assert plan['subnet_max'] == '192.168.255.0/24'
    assert plan['network6'] is None
    assert plan['subnet_len6'] is None
    assert plan['notes'] == []
    assert plan['hosts'] == {
        'host1': {'subnet': '192.168.0.0/24', 'gateway': '192.168.0.1', 'gateway_cidr': '192.168.0.1/24',
                  'node_ip': '10.168.0.1', 'source': 'pin', 'in_run': True},
        'host2': {'subnet': '192.168.1.0/24', 'gateway': '192.168.1.1', 'gateway_cidr': '192.168.1.1/24',
                  'node_ip': '10.168.0.2', 'source': 'pin', 'in_run': True},
    }
    # One route per member, sorted by host name: "192.168.1.0/24 via 10.168.0.2" is Host1's route to Host2.
    assert plan['routes'] == [
        {'host': 'host1', 'dest': '192.168.0.0/24', 'via': '10.168.0.1'},
        {'host': 'host2', 'dest': '192.168.1.0/24', 'via': '10.168.0.2'},
    ]


def test_new_hosts_get_lowest_free_subnets_by_name_not_inventory_order():
    members = [node('c', 3), node('a', 1), node('b', 2)]
    plan = plan_mesh(members, NET)
    assert subnets(plan) == {'a': '10.244.1.0/24', 'b': '10.244.2.0/24', 'c': '10.244.3.0/24'}
    assert [h['source'] for h in plan['hosts'].values()] == ['new', 'new', 'new']
    assert list(plan['hosts']) == ['a', 'b', 'c']


def test_new_host_fills_the_lowest_hole_between_leases():
    members = [node('a', 1, lease='10.244.1.0/24'), node('b', 2, lease='10.244.3.0/24'),
               node('c', 3), node('d', 4)]
    plan = plan_mesh(members, NET)
    assert subnets(plan) == {'a': '10.244.1.0/24', 'b': '10.244.3.0/24', 'c': '10.244.2.0/24', 'd': '10.244.4.0/24'}
    assert plan['hosts']['a']['source'] == 'lease'
    assert plan['hosts']['c']['source'] == 'new'


def test_empty_member_list_plans_nothing():
    plan = plan_mesh([], NET)
    assert plan['hosts'] == {}
    assert plan['routes'] == []


def test_in_run_flag_is_reported():
    plan = plan_mesh([node('a', 1), node('b', 2, lease=None, record=['10.244.9.0/24'], in_run=False)], NET)
    assert plan['hosts']['a']['in_run'] is True
    assert plan['hosts']['b']['in_run'] is False


# --------------------------------------------------------------------------------------------------
# Flannel defaults and the network options
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('network, subnet_len, first, last', [
    ('10.0.0.0/8', 24, '10.0.1.0/24', '10.255.255.0/24'),
    ('10.244.0.0/16', 24, '10.244.1.0/24', '10.244.255.0/24'),
    ('10.244.0.0/22', 24, '10.244.1.0/24', '10.244.3.0/24'),
    ('10.244.0.0/23', 25, '10.244.0.128/25', '10.244.1.128/25'),
    ('10.244.0.0/24', 26, '10.244.0.64/26', '10.244.0.192/26'),
    ('10.244.0.0/28', 30, '10.244.0.4/30', '10.244.0.12/30'),
])
def test_flannel_default_subnet_len_min_and_max(network, subnet_len, first, last):
    plan = plan_mesh([node('a', 1)], network)
    assert plan['subnet_len'] == subnet_len
    assert plan['subnet_min'] == first
    assert plan['subnet_max'] == last
    assert plan['hosts']['a']['subnet'] == first


def test_network_smaller_than_a_28_is_refused():
    assert errors_of([node('a', 1)], '10.244.0.0/29') == [
        'network 10.244.0.0/29 is too small: the smallest useful network is a /28']


def test_subnet_len_longer_than_30_is_refused():
    assert errors_of([node('a', 1)], NET, subnet_len=31) == [
        "network: subnet_len (the role's hostgw_subnet_len) 31 is too long: it must be at most 30 (a gateway and pods need room)"]


def test_network_must_hold_four_subnets():
    assert errors_of([node('a', 1)], NET, subnet_len=17) == [
        "network: subnet_len (the role's hostgw_subnet_len) 17 leaves network 10.244.0.0/16"
        " fewer than four subnets: use a subnet length of at least 18 or a larger network"]
    # exactly four is fine: min is the second, max the last
    plan = plan_mesh([node('a', 1)], NET, subnet_len=18)
    assert (plan['subnet_min'], plan['subnet_max']) == ('10.244.64.0/18', '10.244.192.0/18')


def test_subnet_len_not_an_integer():
    assert errors_of([node('a', 1)], NET, subnet_len='24; reboot') == [
        "network: subnet_len (the role's hostgw_subnet_len) '24; reboot' is not an integer"]


def test_explicit_subnet_len_as_string_and_empty_string_is_default():
    assert plan_mesh([node('a', 1)], NET, subnet_len='26')['hosts']['a']['subnet'] == '10.244.0.64/26'
    assert plan_mesh([node('a', 1)], NET, subnet_len='')['subnet_len'] == 24


@pytest.mark.parametrize('network, message', [
    ('banana', "network 'banana' is not a valid CIDR"),
    ('', "network '' is not a CIDR"),
    (None, 'network None is not a CIDR'),
    ('10.244.1.0/16', 'network 10.244.1.0/16 has host bits set (did you mean 10.244.0.0/16?)'),
    ('10.244.0.0', 'network 10.244.0.0 needs a prefix length, like 10.244.0.0/16'),
    ('fd00::/48', 'network fd00::/48 is IPv6, expected IPv4'),
    ('10.244.0.0/16\n', "network '10.244.0.0/16\\n' is not a valid CIDR"),
    ('10.244.0.0/16; rm -rf /', "network '10.244.0.0/16; rm -rf /' is not a valid CIDR"),
    (' 10.244.0.0/16', "network ' 10.244.0.0/16' is not a valid CIDR"),
])
def test_invalid_network(network, message):
    assert errors_of([node('a', 1)], network) == [message]


def test_network_in_netmask_form_is_accepted():
    assert plan_mesh([node('a', 1)], '10.244.0.0/255.255.0.0')['network'] == '10.244.0.0/16'


def test_subnet_min_moves_new_hosts():
    plan = plan_mesh([node('a', 1), node('b', 2)], NET, subnet_min='10.244.10.0')
    assert subnets(plan) == {'a': '10.244.10.0/24', 'b': '10.244.11.0/24'}
    assert plan['subnet_min'] == '10.244.10.0/24'


def test_subnet_min_and_max_in_cidr_form():
    plan = plan_mesh([node('a', 1)], NET, subnet_min='10.244.10.0/24', subnet_max='10.244.20.0/24')
    assert (plan['subnet_min'], plan['subnet_max']) == ('10.244.10.0/24', '10.244.20.0/24')


def test_subnet_min_may_be_the_first_subnet():
    plan = plan_mesh([node('a', 1)], NET, subnet_min='10.244.0.0')
    assert plan['hosts']['a']['subnet'] == '10.244.0.0/24'


@pytest.mark.parametrize('kw, message', [
    ({'subnet_min': '10.244.10.5'}, 'network: subnet_min 10.244.10.5 is not aligned to a /24 subnet boundary'),
    ({'subnet_max': '10.244.10.128'}, 'network: subnet_max 10.244.10.128 is not aligned to a /24 subnet boundary'),
    ({'subnet_min': '10.245.0.0'}, 'network: subnet_min 10.245.0.0 is outside 10.244.0.0/16'),
    ({'subnet_max': 'fd00::'}, 'network: subnet_max fd00:: is outside 10.244.0.0/16'),
    ({'subnet_min': '10.244.10.0/25'}, "network: subnet_min '10.244.10.0/25' must be a /24 like the subnets"),
    ({'subnet_min': 'ten'}, "network: subnet_min 'ten' is not an IP address"),
    ({'subnet_min': '10.244.10.0\n'}, "network: subnet_min '10.244.10.0\\n' is not an IP address"),
    ({'subnet_min': '10.244.20.0', 'subnet_max': '10.244.10.0'},
     'network: subnet_min 10.244.20.0/24 is above subnet_max 10.244.10.0/24'),
])
def test_invalid_subnet_min_max(kw, message):
    assert errors_of([node('a', 1)], NET, **kw) == [message]


def test_both_bounds_wrong_are_both_reported():
    assert errors_of([node('a', 1)], NET, subnet_min='10.244.10.5', subnet_max='10.245.0.0') == [
        'network: subnet_min 10.244.10.5 is not aligned to a /24 subnet boundary',
        'network: subnet_max 10.245.0.0 is outside 10.244.0.0/16',
    ]


# --------------------------------------------------------------------------------------------------
# Exhaustion
# --------------------------------------------------------------------------------------------------

def test_out_of_subnets_names_every_starved_host():
    members = [node(n, i + 1) for i, n in enumerate('edcba')]
    # /28 in /30: four subnets, the first is never handed out, so three hosts fit.
    assert errors_of(members, '10.244.0.0/28') == [
        'out of subnets in network 10.244.0.0/28 between 10.244.0.4/30 and 10.244.0.12/30: no subnet left for hosts d, e']


def test_out_of_subnets_single_host_and_subnet_max():
    members = [node('a', 1), node('b', 2, lease='10.244.2.0/24'), node('c', 3)]
    assert errors_of(members, NET, subnet_max='10.244.2.0') == [
        'out of subnets in network 10.244.0.0/16 between 10.244.1.0/24 and 10.244.2.0/24: no subnet left for host c']


def test_exactly_full_is_fine():
    members = [node(n, i + 1) for i, n in enumerate('abc')]
    plan = plan_mesh(members, '10.244.0.0/28')
    assert subnets(plan) == {'a': '10.244.0.4/30', 'b': '10.244.0.8/30', 'c': '10.244.0.12/30'}


# --------------------------------------------------------------------------------------------------
# Pins
# --------------------------------------------------------------------------------------------------

def test_pin_wins_over_own_lease_and_records():
    members = [node('a', 1, lease='10.244.5.0/24', record=['10.244.5.0/24'], pin='10.244.7.0/24')]
    plan = plan_mesh(members, NET)
    assert plan['hosts']['a']['subnet'] == '10.244.7.0/24'
    assert plan['hosts']['a']['source'] == 'pin'


def test_pin_may_lie_outside_min_max_and_is_skipped_by_new_hosts():
    members = [node('a', 1, pin='10.244.0.0/24'), node('b', 2, pin='10.244.10.0/24'), node('c', 3)]
    plan = plan_mesh(members, NET, subnet_min='10.244.10.0')
    assert subnets(plan) == {'a': '10.244.0.0/24', 'b': '10.244.10.0/24', 'c': '10.244.11.0/24'}


def test_pin_taking_an_in_run_hosts_lease_renumbers_that_host_with_a_note():
    members = [node('a', 1, pin='10.244.1.0/24'), node('b', 2, lease='10.244.1.0/24'),
               node('c', 3, lease='10.244.2.0/24')]
    plan = plan_mesh(members, NET)
    assert subnets(plan) == {'a': '10.244.1.0/24', 'b': '10.244.3.0/24', 'c': '10.244.2.0/24'}
    assert plan['hosts']['b']['source'] == 'new'
    assert plan['notes'] == ['host b: its lease 10.244.1.0/24 is now pinned to a; b gets a new subnet']


def test_pin_taking_a_recorded_subnet_of_an_in_run_host_with_lost_state():
    members = [node('a', 1, pin='10.244.1.0/24'), node('b', 2, lease='', record=['10.244.1.0/24'])]
    plan = plan_mesh(members, NET)
    assert subnets(plan) == {'a': '10.244.1.0/24', 'b': '10.244.2.0/24'}
    assert plan['notes'] == ['host b: its recorded subnet 10.244.1.0/24 is now pinned to a; b gets a new subnet']


@pytest.mark.parametrize('kw', [
    {'lease': None, 'record': ['10.244.1.0/24']},
    {'lease': '10.244.1.0/24'},
])
def test_pin_taking_the_subnet_of_a_host_not_in_the_run_fails(kw):
    members = [node('a', 1, pin='10.244.1.0/24'), node('b', 2, in_run=False, **kw)]
    assert errors_of(members, NET) == [
        'host a is pinned to 10.244.1.0/24, which b (not in this run) still holds; include b in the run '
        'so it can be renumbered, or pin another subnet']


def test_two_hosts_pinned_to_one_subnet():
    members = [node('b', 2, pin='10.244.3.0/24'), node('a', 1, pin='10.244.3.0/24')]
    assert errors_of(members, NET) == ['hosts a and b are both pinned to 10.244.3.0/24']


@pytest.mark.parametrize('pin, reason', [
    ('10.244.3.0/25', 'is a /25, subnets of 10.244.0.0/16 are /24'),
    ('10.245.3.0/24', 'is outside the network 10.244.0.0/16'),
    ('10.244.3.1/24', 'has host bits set (did you mean 10.244.3.0/24?)'),
    ('fd00:10:244:3::/64', 'is IPv6, the network is IPv4'),
    ('10.244.3.0', 'has no prefix length (subnets of 10.244.0.0/16 are /24)'),
    ('banana', 'is not a valid CIDR'),
    ('10.244.3.0/24; rm -rf /', "is not a valid CIDR or address: it contains ' ', '-', ';'"),
    ('10.244.3.0/24\n', "is not a valid CIDR or address: it contains '\\n'"),
    ('$(reboot)', "is not a valid CIDR or address: it contains '$', '(', ')'"),
    ('10.244.3.0/24 ', "is not a valid CIDR or address: it contains ' '"),
])
def test_invalid_pin_names_host_and_value(pin, reason):
    assert errors_of([node('a', 1, pin=pin)], NET) == ['host a: pinned subnet %r %s' % (pin, reason)]


def test_host_with_a_bad_pin_is_reported_once_not_also_planned_from_its_lease():
    members = [node('a', 1, pin='10.244.3.0/25', lease=None), node('b', 2, pin='10.244.4.0/24'),
               node('c', 3, pin='10.244.4.0/24', lease='10.244.1.0/24'), node('d', 4, lease='10.244.1.0/24')]
    assert errors_of(members, NET) == ["host a: pinned subnet '10.244.3.0/25' is a /25, subnets of 10.244.0.0/16 are /24",
                                       'hosts b and c are both pinned to 10.244.4.0/24']


def test_pin_that_is_not_a_string():
    assert errors_of([node('a', 1, pin=5)], NET) == ['host a: pinned subnet 5 is not a CIDR string']


def test_blank_pin_means_no_pin():
    plan = plan_mesh([node('a', 1, pin='  ', lease='10.244.4.0/24')], NET)
    assert plan['hosts']['a']['source'] == 'lease'


# --------------------------------------------------------------------------------------------------
# Leases and peer records
# --------------------------------------------------------------------------------------------------

def test_own_lease_is_kept_even_outside_min_max():
    members = [node('a', 1, lease='10.244.200.0/24'), node('b', 2, lease='10.244.0.0/24')]
    plan = plan_mesh(members, NET, subnet_max='10.244.100.0')
    assert subnets(plan) == {'a': '10.244.200.0/24', 'b': '10.244.0.0/24'}
    assert plan['notes'] == []


@pytest.mark.parametrize('lease, reason', [
    ('10.1.3.0/24', 'is outside the network 10.244.0.0/16'),
    ('10.244.3.0/25', 'is a /25, subnets of 10.244.0.0/16 are /24'),
    ('10.244.3.7/24', 'has host bits set (did you mean 10.244.3.0/24?)'),
    ('garbage', 'is not a valid CIDR'),
])
def test_lease_that_does_not_fit_the_network_is_dropped_with_a_note(lease, reason):
    plan = plan_mesh([node('a', 1, lease=lease)], NET)
    assert plan['hosts']['a'] == {'subnet': '10.244.1.0/24', 'gateway': '10.244.1.1', 'gateway_cidr': '10.244.1.1/24',
                                  'node_ip': '192.168.0.1', 'source': 'new', 'in_run': True}
    assert plan['notes'] == ['host a: lease %r %s; ignored' % (lease, reason)]


def test_network_change_renumbers_everyone_with_notes():
    members = [node('a', 1, lease='10.1.1.0/24', record=['10.1.1.0/24']),
               node('b', 2, lease='10.1.2.0/24', record=['10.1.2.0/24'])]
    plan = plan_mesh(members, NET)
    assert subnets(plan) == {'a': '10.244.1.0/24', 'b': '10.244.2.0/24'}
    assert plan['notes'] == [
        "host a: lease '10.1.1.0/24' is outside the network 10.244.0.0/16; ignored",
        "host a: recorded network subnet '10.1.1.0/24' is outside the network 10.244.0.0/16; ignored",
        "host b: lease '10.1.2.0/24' is outside the network 10.244.0.0/16; ignored",
        "host b: recorded network subnet '10.1.2.0/24' is outside the network 10.244.0.0/16; ignored",
    ]


def test_peer_records_restore_a_host_that_lost_its_state():
    members = [node('a', 1, lease='10.244.1.0/24'), node('b', 2, lease='', record=['10.244.9.0/24', '10.244.9.0/24']),
               node('c', 3)]
    plan = plan_mesh(members, NET)
    assert plan['hosts']['b']['subnet'] == '10.244.9.0/24'
    assert plan['hosts']['b']['source'] == 'peer-record'
    assert plan['hosts']['c']['subnet'] == '10.244.2.0/24'


def test_peer_record_keeps_a_host_outside_the_run():
    members = [node('a', 1, lease='10.244.1.0/24'), node('b', 2, lease=None, record='10.244.2.0/24', in_run=False),
               node('c', 3)]
    plan = plan_mesh(members, NET)
    assert subnets(plan) == {'a': '10.244.1.0/24', 'b': '10.244.2.0/24', 'c': '10.244.3.0/24'}
    assert plan['hosts']['b']['source'] == 'peer-record'


def test_conflicting_peer_records_fail_without_own_lease():
    members = [node('b', 2, lease=None, record=['10.244.3.0/24', '10.244.2.0/24'], in_run=False)]
    assert errors_of(members, NET) == [
        'host b: peers recorded different network subnets for it (10.244.2.0/24, 10.244.3.0/24); '
        'pin it with hostgw_subnet']


def test_conflicting_peer_records_fail_when_own_lease_was_dropped():
    members = [node('b', 2, lease='10.1.0.0/24', record=['10.244.3.0/24', '10.244.2.0/24'])]
    assert errors_of(members, NET) == [
        'host b: peers recorded different network subnets for it (10.244.2.0/24, 10.244.3.0/24); '
        'pin it with hostgw_subnet']


def test_own_lease_beats_conflicting_peer_records():
    members = [node('b', 2, lease='10.244.4.0/24', record=['10.244.3.0/24', '10.244.2.0/24'])]
    plan = plan_mesh(members, NET)
    assert plan['hosts']['b']['subnet'] == '10.244.4.0/24'
    assert plan['hosts']['b']['source'] == 'lease'


def test_pin_resolves_conflicting_peer_records():
    members = [node('b', 2, lease=None, pin='10.244.3.0/24', record=['10.244.3.0/24', '10.244.2.0/24'], in_run=False)]
    assert plan_mesh(members, NET)['hosts']['b']['source'] == 'pin'


def test_peer_records_differing_only_in_spelling_agree():
    members = [node6('b', 2, lease='', lease6=None, record=['10.244.3.0/24'],
                     record6=['fd00:10:244:3::/64', 'fd00:10:244:0003:0::/64', 'FD00:10:244:3::/64'])]
    plan = plan_mesh(members, NET, network6=NET6)
    assert plan['hosts']['b']['subnet6'] == 'fd00:10:244:3::/64'
    assert plan['hosts']['b']['source6'] == 'peer-record'


def test_stale_record_from_another_network_does_not_conflict_with_a_valid_one():
    members = [node('b', 2, lease='', record=['10.1.3.0/24', '10.244.3.0/24', 'junk'])]
    plan = plan_mesh(members, NET)
    assert plan['hosts']['b']['subnet'] == '10.244.3.0/24'
    assert plan['notes'] == [
        "host b: recorded network subnets '10.1.3.0/24' is outside the network 10.244.0.0/16, "
        "'junk' is not a valid CIDR; ignored"]


def test_non_string_records_are_ignored_with_a_note():
    members = [node('b', 2, lease='', record=[['10.244.3.0/24'], None, '10.244.4.0/24'])]
    plan = plan_mesh(members, NET)
    assert plan['hosts']['b']['subnet'] == '10.244.4.0/24'
    assert len(plan['notes']) == 1
    assert plan['notes'][0].startswith("host b: recorded network subnet \"['10.244.3.0/24']\" is not a valid CIDR")


def test_unknown_lease_fails_naming_the_host():
    members = [node('a', 1, lease='10.244.1.0/24'), node('b', 2, lease=None)]
    assert errors_of(members, NET) == [
        'host b: its network lease is unknown in this run (not reachable or not in --limit, not in the fact '
        'cache, and no lease or member table of the hosts in this run records it); refusing to renumber it or give its subnet '
        'away: run with it included, put a host converged with it in the run (its member table knows every member), '
        'refresh the fact cache (playbooks/facts.yml), or pin hostgw_subnet']


def test_unknown_lease_with_assume_new_makes_an_in_run_host_new():
    members = [node('a', 1, lease='10.244.1.0/24'), node('b', 2, lease=None)]
    plan = plan_mesh(members, NET, assume_new=True)
    assert plan['hosts']['b']['subnet'] == '10.244.2.0/24'
    assert plan['hosts']['b']['source'] == 'new'


def test_unknown_lease_outside_the_run_fails_even_with_assume_new():
    members = [node('a', 1, lease='10.244.1.0/24'), node('b', 2, lease=None, in_run=False)]
    errors = errors_of(members, NET, assume_new=True)
    assert len(errors) == 1
    assert errors[0].startswith('host b: its network lease is unknown in this run')


def test_empty_lease_outside_the_run_is_a_new_host():
    plan = plan_mesh([node('b', 2, lease='', in_run=False)], NET)
    assert plan['hosts']['b']['source'] == 'new'


def test_two_hosts_holding_one_subnet_fail():
    members = [node('b', 2, lease='10.244.4.0/24'), node('a', 1, lease='10.244.4.0/24')]
    assert errors_of(members, NET) == [
        'hosts a and b both hold 10.244.4.0/24; pin one of them (hostgw_subnet) or remove the stale lease']


def test_lease_colliding_with_a_record_of_another_host_fails():
    members = [node('a', 1, lease='10.244.4.0/24'), node('b', 2, lease=None, record=['10.244.4.0/24'], in_run=False)]
    assert errors_of(members, NET) == [
        'hosts a and b both hold 10.244.4.0/24; pin one of them (hostgw_subnet) or remove the stale lease']


# --------------------------------------------------------------------------------------------------
# Validation of members
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('ip, message', [
    ('192.168.0.300', "host a: node IP '192.168.0.300' is not an IP address"),
    ('node1.example.com', "host a: node IP 'node1.example.com' is not an IP address"),
    ('192.168.0.1\n', "host a: node IP '192.168.0.1\\n' is not an IP address"),
    ('192.168.0.1; id', "host a: node IP '192.168.0.1; id' is not an IP address"),
    ('2001:db8::1', 'host a: node IP 2001:db8::1 is IPv6, expected IPv4'),
    ('10.244.3.3', 'host a: node IP 10.244.3.3 is inside the cluster network 10.244.0.0/16; '
                   'node addresses must lie outside it'),
    (None, 'host a: no node IP: set hostgw_node_ip, or ansible_host to an address, or gather facts '
           'so ansible_default_ipv4 is known'),
    ('', 'host a: no node IP: set hostgw_node_ip, or ansible_host to an address, or gather facts '
         'so ansible_default_ipv4 is known'),
])
def test_invalid_node_ip(ip, message):
    assert errors_of([Member('a', node_ip=ip, lease='')], NET) == [message]


def test_duplicate_node_ips():
    members = [node('c', 1), node('a', 1), node('b', 1)]
    assert errors_of(members, NET) == [
        'hosts c and a have the same node IP 192.168.0.1',
        'hosts c and b have the same node IP 192.168.0.1',
    ]


def test_duplicate_node_ips_spelled_differently():
    members = [Member('a', node_ip='2001:db8::1', node_ip6='2001:db8::a', lease='', lease6=''),
               Member('b', node_ip='192.168.0.2', node_ip6='2001:DB8:0::A', lease='', lease6='')]
    errors = errors_of(members, NET, network6=NET6)
    assert errors == ['host a: node IP 2001:db8::1 is IPv6, expected IPv4',
                      'hosts a and b have the same IPv6 node IP 2001:db8::a']


def test_host_listed_twice_is_reported_once():
    members = [node('a', 1, pin='10.244.5.0/24'), node('a', 2, pin='10.244.5.0/24')]
    assert errors_of(members, NET) == ['host a is listed twice']


def test_every_problem_is_reported_at_once():
    members = [node('a', 1, pin='10.244.3.0/25'), Member('b', lease=''), node('c', 3, lease=None)]
    assert errors_of(members, NET) == [
        'host b: no node IP: set hostgw_node_ip, or ansible_host to an address, or gather facts '
        'so ansible_default_ipv4 is known',
        "host a: pinned subnet '10.244.3.0/25' is a /25, subnets of 10.244.0.0/16 are /24",
        'host c: its network lease is unknown in this run (not reachable or not in --limit, not in the fact '
        'cache, and no lease or member table of the hosts in this run records it); refusing to renumber it or give its subnet '
        'away: run with it included, put a host converged with it in the run (its member table knows every member), '
        'refresh the fact cache (playbooks/facts.yml), or pin hostgw_subnet',
    ]


def test_ipv6_node_ip_is_canonicalized():
    plan = plan_mesh([node6('a', 1, node_ip6='2001:DB8:0:0::1')], NET, network6=NET6)
    assert plan['hosts']['a']['node_ip6'] == '2001:db8::1'
    assert plan['routes'][1] == {'host': 'a', 'dest': 'fd00:10:244:1::/64', 'via': '2001:db8::1'}


# --------------------------------------------------------------------------------------------------
# Dual-stack
# --------------------------------------------------------------------------------------------------

def test_dual_stack_plan():
    members = [node6('b', 2), node6('a', 1, lease='10.244.7.0/24', lease6='fd00:10:244:7::/64')]
    plan = plan_mesh(members, NET, network6=NET6)
    assert plan['network6'] == 'fd00:10:244::/56'
    assert plan['subnet_len6'] == 64
    assert plan['hosts']['a'] == {
        'subnet': '10.244.7.0/24', 'gateway': '10.244.7.1', 'gateway_cidr': '10.244.7.1/24', 'node_ip': '192.168.0.1',
        'source': 'lease', 'in_run': True, 'subnet6': 'fd00:10:244:7::/64', 'gateway6': 'fd00:10:244:7::1',
        'gateway6_cidr': 'fd00:10:244:7::1/64', 'node_ip6': '2001:db8::1', 'source6': 'lease'}
    assert plan['hosts']['b']['subnet6'] == 'fd00:10:244:1::/64'
    assert plan['hosts']['b']['source6'] == 'new'
    assert plan['routes'] == [
        {'host': 'a', 'dest': '10.244.7.0/24', 'via': '192.168.0.1'},
        {'host': 'a', 'dest': 'fd00:10:244:7::/64', 'via': '2001:db8::1'},
        {'host': 'b', 'dest': '10.244.1.0/24', 'via': '192.168.0.2'},
        {'host': 'b', 'dest': 'fd00:10:244:1::/64', 'via': '2001:db8::2'},
    ]


def test_dual_stack_families_are_allocated_independently():
    # a keeps its IPv4 lease and is new in IPv6 (IPv6 added to an existing cluster); b is pinned in IPv6 only
    members = [node6('a', 1, lease='10.244.5.0/24', lease6=''), node6('b', 2, pin6='fd00:10:244:1::/64')]
    plan = plan_mesh(members, NET, network6=NET6)
    assert (plan['hosts']['a']['subnet'], plan['hosts']['a']['subnet6']) == ('10.244.5.0/24', 'fd00:10:244:2::/64')
    assert (plan['hosts']['b']['subnet'], plan['hosts']['b']['subnet6']) == ('10.244.1.0/24', 'fd00:10:244:1::/64')
    assert (plan['hosts']['b']['source'], plan['hosts']['b']['source6']) == ('new', 'pin')


def test_ipv6_defaults_and_exhaustion():
    plan = plan_mesh([node6('a', 1)], NET, network6='fd00::/62')
    assert plan['hosts']['a']['subnet6'] == 'fd00:0:0:1::/64'
    members = [node6(n, i + 1) for i, n in enumerate('abcd')]
    assert errors_of(members, NET, network6='fd00::/62') == [
        'out of subnets in network6 fd00::/62 between fd00:0:0:1::/64 and fd00:0:0:3::/64: no subnet left for host d']


def test_ipv6_subnet_len_and_bounds():
    plan = plan_mesh([node6('a', 1), node6('b', 2)], NET, network6=NET6, subnet_len6=60,
                     subnet_min6='fd00:10:244:20::', subnet_max6='fd00:10:244:f0::/60')
    assert plan['subnet_len6'] == 60
    assert (plan['hosts']['a']['subnet6'], plan['hosts']['b']['subnet6']) == (
        'fd00:10:244:20::/60', 'fd00:10:244:30::/60')


@pytest.mark.parametrize('kw, message', [
    ({'network6': '10.245.0.0/16'}, 'network6 10.245.0.0/16 is IPv4, expected IPv6'),
    ({'network6': 'fd00::/64'}, "network6: subnet_len6 (the role's hostgw_subnet_len6) 64 leaves network6 fd00::/64"
        " fewer than four subnets: use a subnet length of at least 66 or a larger network"),
    ({'network6': NET6, 'subnet_len6': 127}, "network6: subnet_len6 (the role's hostgw_subnet_len6) 127 is too long: it must be at most 126 "
                                             '(a gateway and pods need room)'),
    ({'network6': NET6, 'subnet_min6': '10.244.1.0'}, 'network6: subnet_min6 10.244.1.0 is outside fd00:10:244::/56'),
    ({'network6': 'fd00:10:244::1/56'}, 'network6 fd00:10:244::1/56 has host bits set (did you mean fd00:10:244::/56?)'),
    ({'network6': NET6, 'subnet_min6': 'fd00:10:244:9::', 'subnet_max6': 'fd00:10:244:8::'},
     'network6: subnet_min6 fd00:10:244:9::/64 is above subnet_max6 fd00:10:244:8::/64'),
    ({'network6': NET6, 'subnet_max6': 'fd00:10:244:8::1'},
     'network6: subnet_max6 fd00:10:244:8::1 is not aligned to a /64 subnet boundary'),
])
def test_invalid_ipv6_network(kw, message):
    assert errors_of([node6('a', 1)], NET, **kw) == [message]


def test_ipv4_and_ipv6_network_errors_are_reported_together():
    assert errors_of([node6('a', 1)], 'nope', network6='nope6') == [
        "network 'nope' is not a valid CIDR", "network6 'nope6' is not a valid CIDR"]


@pytest.mark.parametrize('kw, message', [
    ({'node_ip6': None}, 'host a: no IPv6 node IP for dual-stack: set hostgw_node_ip6 (a stable, non-temporary '
                         'address on the uplink)'),
    ({'node_ip6': '192.168.0.9'}, 'host a: IPv6 node IP 192.168.0.9 is IPv4, expected IPv6'),
    ({'node_ip6': 'fd00:10:244:3::5'}, 'host a: IPv6 node IP fd00:10:244:3::5 is inside the cluster network6 '
                                       'fd00:10:244::/56; node addresses must lie outside it'),
    ({'node_ip6': 'fe80::1%eth0'}, "host a: IPv6 node IP 'fe80::1%eth0' is not an IP address"),
    ({'pin6': '10.244.1.0/24'}, "host a: pinned subnet '10.244.1.0/24' is IPv4, the network6 is IPv6"),
    ({'pin6': 'fd00:10:244:1::/80'}, "host a: pinned subnet 'fd00:10:244:1::/80' is a /80, subnets of "
                                     "fd00:10:244::/56 are /64"),
    ({'pin6': 'fd00:10:245:1::/64'}, "host a: pinned subnet 'fd00:10:245:1::/64' is outside the network6 "
                                     "fd00:10:244::/56"),
])
def test_invalid_ipv6_member(kw, message):
    assert errors_of([node6('a', 1, **kw)], NET, network6=NET6) == [message]


def test_ipv6_unknown_lease_and_conflicting_records_name_network6():
    members = [node6('a', 1, lease6=None), node6('b', 2, lease6=None, record6=['fd00:10:244:2::/64',
                                                                               'fd00:10:244:3::/64'])]
    assert errors_of(members, NET, network6=NET6) == [
        'host b: peers recorded different network6 subnets for it (fd00:10:244:2::/64, fd00:10:244:3::/64); '
        'pin it with hostgw_subnet6',
        'host a: its network6 lease is unknown in this run (not reachable or not in --limit, not in the fact '
        'cache, and no lease or member table of the hosts in this run records it); refusing to renumber it or give its subnet '
        'away: run with it included, put a host converged with it in the run (its member table knows every member), '
        'refresh the fact cache (playbooks/facts.yml), or pin hostgw_subnet6',
    ]


def test_ipv6_members_are_ignored_without_network6():
    plan = plan_mesh([node('a', 1, node_ip6='junk', pin6='junk')], NET)
    assert 'subnet6' not in plan['hosts']['a']
    assert len(plan['routes']) == 1


# --------------------------------------------------------------------------------------------------
# Properties: stability and determinism
# --------------------------------------------------------------------------------------------------

NAMES = ['n%02d' % i for i in range(40)]
PROP_NET = '10.244.0.0/22'
PROP_LEN = 27                # 32 subnets, 31 allocatable: tight enough to interleave holes and new hosts


def _ip(name):
    return '192.168.1.%d' % (NAMES.index(name) + 1)


def _check_plan_invariants(plan, members, net=PROP_NET, plen=PROP_LEN, lo=1):
    network = ipaddress.ip_network(net)
    seen = {}
    for name, host in plan['hosts'].items():
        sub = ipaddress.ip_network(host['subnet'])  # strict: aligned, no host bits
        assert sub.prefixlen == plen
        assert sub.subnet_of(network)
        assert host['subnet'] not in seen, 'hosts %s and %s share %s' % (seen.get(host['subnet']), name, host['subnet'])
        seen[host['subnet']] = name
        assert host['gateway'] == str(sub.network_address + 1)
        if host['source'] == 'new':
            assert (int(sub.network_address) - int(network.network_address)) >> (32 - plen) >= lo
    assert sorted(plan['hosts']) == sorted(m.name for m in members)
    assert [r['host'] for r in plan['routes']] == sorted(plan['hosts'])


@st.composite
def two_runs(draw):
    first = draw(st.lists(st.sampled_from(NAMES), min_size=0, max_size=20, unique=True))
    kept = draw(st.lists(st.sampled_from(first), unique=True)) if first else []
    added = draw(st.lists(st.sampled_from([n for n in NAMES if n not in first]), max_size=10, unique=True))
    # per kept host: 'lease' (own lease), 'lost' (state lost, peers know it), 'away' (not in run, peers know it)
    fate = dict((n, draw(st.sampled_from(['lease', 'lease', 'lost', 'away']))) for n in kept)
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return first, kept, added, fate, seed


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_runs())
def test_property_hosts_keep_their_subnets_across_add_remove_reorder(case):
    first, kept, added, fate, seed = case
    plan1 = plan_mesh([Member(n, node_ip=_ip(n), lease='') for n in first], PROP_NET, subnet_len=PROP_LEN)
    # the first run: new hosts take the lowest subnets, in name order
    assert [plan1['hosts'][n]['subnet'] for n in sorted(first)] == [
        str(ipaddress.ip_network('10.244.0.0/27').network_address + 32 * (i + 1)) + '/27' for i in range(len(first))]
    old = subnets(plan1)
    mesh = dict((n, old[n]) for n in kept)   # every kept host's copy of the mesh

    members = []
    for n in kept:
        records = [mesh[n]] * 2
        if fate[n] == 'lease':
            members.append(Member(n, node_ip=_ip(n), lease=old[n], record=records))
        elif fate[n] == 'lost':
            members.append(Member(n, node_ip=_ip(n), lease='', record=records))
        else:
            members.append(Member(n, node_ip=_ip(n), lease=None, record=records, in_run=False))
    members.extend(Member(n, node_ip=_ip(n), lease='') for n in added)
    random.Random(seed).shuffle(members)

    plan2 = plan_mesh(members, PROP_NET, subnet_len=PROP_LEN)
    _check_plan_invariants(plan2, members)
    for n in kept:
        assert plan2['hosts'][n]['subnet'] == old[n]
        assert plan2['hosts'][n]['source'] == {'lease': 'lease', 'lost': 'peer-record', 'away': 'peer-record'}[fate[n]]
    # new hosts get exactly the lowest free subnets, in name order
    free = sorted(set('10.244.%d.%d/27' % divmod(32 * i, 256) for i in range(1, 32)) - set(old[n] for n in kept),
                  key=ipaddress.ip_network)
    assert [plan2['hosts'][n]['subnet'] for n in sorted(added)] == free[:len(added)]
    # deterministic: the same inventory in any other order gives the same plan
    assert plan_mesh(list(reversed(members)), PROP_NET, subnet_len=PROP_LEN) == plan2
    assert plan2['notes'] == []


@st.composite
def pinned_runs(draw):
    hosts = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=20, unique=True))
    leases = draw(st.lists(st.integers(1, 31), min_size=len(hosts), max_size=len(hosts), unique=True))
    pins = dict((n, draw(st.integers(0, 31))) for n in draw(st.lists(st.sampled_from(hosts), unique=True)))
    # unique pin subnets only (two pins on one subnet is an error, tested above)
    uniq = {}
    for n, i in sorted(pins.items()):
        uniq.setdefault(i, n)
    pins = dict((n, i) for i, n in uniq.items())
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return hosts, dict(zip(hosts, leases)), pins, seed


def _sub(i):
    return str(list(ipaddress.ip_network(PROP_NET).subnets(new_prefix=PROP_LEN))[i])


@settings(max_examples=300, deadline=None, database=None)
@given(pinned_runs())
def test_property_pins_win_and_only_displaced_hosts_move(case):
    hosts, leases, pins, seed = case
    members = [Member(n, node_ip=_ip(n), lease=_sub(leases[n]), pin=_sub(pins[n]) if n in pins else None)
               for n in hosts]
    random.Random(seed).shuffle(members)
    try:
        plan = plan_mesh(members, PROP_NET, subnet_len=PROP_LEN)
    except PlanError as e:
        # only possible failure: more displaced hosts than free subnets
        assert len(e.errors) == 1 and e.errors[0].startswith('out of subnets'), e.errors
        return
    _check_plan_invariants(plan, members)
    pinned_idx = set(pins.values())
    displaced = []
    for n in hosts:
        host = plan['hosts'][n]
        if n in pins:
            assert (host['subnet'], host['source']) == (_sub(pins[n]), 'pin')
        elif leases[n] in pinned_idx:
            displaced.append(n)
            assert host['source'] == 'new'
            assert host['subnet'] != _sub(leases[n])
        else:
            assert (host['subnet'], host['source']) == (_sub(leases[n]), 'lease')
    assert plan['notes'] == [
        'host %s: its lease %s is now pinned to %s; %s gets a new subnet'
        % (n, _sub(leases[n]), [p for p, i in pins.items() if i == leases[n]][0], n) for n in sorted(displaced)]
    assert plan_mesh(sorted(members, key=lambda m: m.name), PROP_NET, subnet_len=PROP_LEN) == plan
