# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for route validation, the L2 check and the route diff (plugins/module_utils/_routes.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hostgw.network.plugins.module_utils._routes import (
    DEFAULT_PROTO,
    KAddr,
    KNexthop,
    KRoute,
    RouteChanges,
    RouteError,
    WRoute,
    after_lines,
    check_next_hops,
    diff_routes,
    owned_lines,
    nexthop_line,
    parse_wanted,
    plan_nexthops,
    route_line,
)

__metaclass__ = type  # pylint: disable=invalid-name

ETH0 = 2
CNI0 = 3
NAMES = {1: 'lo', ETH0: 'eth0', CNI0: 'cni0', 4: 'eth1'}
ADDRS = [
    KAddr(1, 4, '127.0.0.1', 8),
    KAddr(1, 6, '::1', 128),
    KAddr(ETH0, 4, '192.168.0.1', 24),
    KAddr(ETH0, 6, '2001:db8::1', 64),
    KAddr(ETH0, 6, 'fe80::1', 64),
    KAddr(CNI0, 4, '10.244.1.1', 24),
    KAddr(4, 4, '172.16.0.1', 16),
]


def W(dest, via, host=None, metric=None):
    family = 6 if ':' in dest else 4
    return WRoute(family, dest, via, {4: 0, 6: 1024}[family] if metric is None else metric, host)


def K(dest, via, oif=ETH0, proto=DEFAULT_PROTO, metric=None, rtype=1):
    family = 6 if ':' in dest else 4
    return KRoute(family, dest, via, oif, proto, {4: 0, 6: 1024}[family] if metric is None else metric, rtype)


def route_errors(func, *args, **kw):
    with pytest.raises(RouteError) as exc:
        func(*args, **kw)
    assert str(exc.value) == '; '.join(exc.value.errors)
    return exc.value.errors


# --------------------------------------------------------------------------------------------------
# route_line
# --------------------------------------------------------------------------------------------------

def test_route_line():
    assert route_line(4, '10.244.2.0/24', '192.168.0.2', 'eth0', 244, 0) == '10.244.2.0/24 via 192.168.0.2 dev eth0 proto 244'
    assert route_line(4, '10.244.2.0/24', '192.168.0.2', 'eth0', 244, 100) == (
        '10.244.2.0/24 via 192.168.0.2 dev eth0 proto 244 metric 100')
    assert route_line(6, 'fd00::/64', '2001:db8::2', 'eth0', 244, 1024) == 'fd00::/64 via 2001:db8::2 dev eth0 proto 244'
    assert route_line(6, 'fd00::/64', '2001:db8::2', 'eth0', 244, 0) == (
        'fd00::/64 via 2001:db8::2 dev eth0 proto 244 metric 0')
    assert route_line(4, '10.244.2.0/24', '192.168.0.2', 'eth0', 244, None) == (
        '10.244.2.0/24 via 192.168.0.2 dev eth0 proto 244')


# --------------------------------------------------------------------------------------------------
# parse_wanted
# --------------------------------------------------------------------------------------------------

def test_parse_wanted_both_families_and_default_metrics():
    wanted = parse_wanted([
        {'host': 'b', 'dest': '10.244.2.0/24', 'via': '192.168.0.2'},
        {'host': 'b', 'dest': 'FD00:10:244:2:0::/64', 'via': '2001:DB8::2'},
        {'dest': '10.244.3.0/24', 'via': '192.168.0.3'},
    ])
    assert wanted == [
        WRoute(4, '10.244.2.0/24', '192.168.0.2', 0, 'b'),
        WRoute(6, 'fd00:10:244:2::/64', '2001:db8::2', 1024, 'b'),
        WRoute(4, '10.244.3.0/24', '192.168.0.3', 0, None),
    ]


def test_parse_wanted_explicit_metric():
    wanted = parse_wanted([{'dest': '10.244.2.0/24', 'via': '192.168.0.2'},
                           {'dest': 'fd00::/64', 'via': '2001:db8::2'}], metric=100)
    assert [w.metric for w in wanted] == [100, 100]


def test_parse_wanted_ipv6_metric_zero_is_what_the_kernel_stores_1024():
    wanted = parse_wanted([{'dest': '10.244.2.0/24', 'via': '192.168.0.2'},
                           {'dest': 'fd00::/64', 'via': '2001:db8::2'}], metric=0)
    assert [w.metric for w in wanted] == [0, 1024]
    # so an existing IPv6 route (which the kernel reports with 1024) is unchanged, not re-added forever
    changes = diff_routes(wanted, [K('10.244.2.0/24', '192.168.0.2'), K('fd00::/64', '2001:db8::2', metric=1024)], ETH0)
    assert (changes.unchanged, changes.changed) == (2, False)


@pytest.mark.parametrize('metric', [-1, 2 ** 32])
def test_parse_wanted_metric_out_of_range(metric):
    assert route_errors(parse_wanted, [{'dest': '10.244.2.0/24', 'via': '192.168.0.2'}], metric) == [
        'metric %d is out of range (0-4294967295)' % metric]


def test_parse_wanted_empty_and_none():
    assert parse_wanted([]) == []
    assert parse_wanted(None) == []


def test_parse_wanted_dedupes_identical_entries_keeping_order():
    wanted = parse_wanted([
        {'host': 'c', 'dest': '10.244.3.0/24', 'via': '192.168.0.3'},
        {'host': 'b', 'dest': '10.244.2.0/24', 'via': '192.168.0.2'},
        {'host': 'c', 'dest': '10.244.3.0/24', 'via': '192.168.0.3'},
    ])
    assert [w.dest for w in wanted] == ['10.244.3.0/24', '10.244.2.0/24']


@pytest.mark.parametrize('entry, message', [
    ({'host': 'b', 'dest': 'banana', 'via': '192.168.0.2'}, "peer b: dest 'banana' is not a network address in CIDR form"),
    ({'host': 'b', 'dest': '10.244.2.1/24', 'via': '192.168.0.2'},
     "peer b: dest '10.244.2.1/24' is not a network address in CIDR form"),
    ({'host': 'b', 'dest': '10.244.2.0', 'via': '192.168.0.2'},
     "peer b: dest '10.244.2.0' is not a network address in CIDR form"),
    ({'host': 'b', 'dest': None, 'via': '192.168.0.2'}, 'peer b: dest None is not a network address in CIDR form'),
    ({'host': 'b', 'via': '192.168.0.2'}, 'peer b: dest None is not a network address in CIDR form'),
    ({'host': 'b', 'dest': '10.244.2.0/24', 'via': '192.168.0.256'}, "peer b: via '192.168.0.256' is not an IP address"),
    ({'host': 'b', 'dest': '10.244.2.0/24', 'via': None}, 'peer b: via None is not an IP address'),
    ({'host': 'b', 'dest': '10.244.2.0/24', 'via': '192.168.0.0/24'}, "peer b: via '192.168.0.0/24' is not an IP address"),
    ({'host': 'b', 'dest': 'fd00::/64', 'via': 'fe80::2%eth0'}, "peer b: via 'fe80::2%eth0' is not an IP address"),
    ({'host': 'b', 'dest': '10.244.2.0/24', 'via': '2001:db8::2'},
     'peer b: dest 10.244.2.0/24 is IPv4 but via 2001:db8::2 is IPv6'),
    ({'host': 'b', 'dest': 'fd00::/64', 'via': '192.168.0.2'}, 'peer b: dest fd00::/64 is IPv6 but via 192.168.0.2 is IPv4'),
    ({'host': 'b', 'dest': '10.244.2.0/24', 'via': '10.244.2.1'},
     'peer b: next hop 10.244.2.1 lies inside its own destination 10.244.2.0/24'),
    ({'host': 'b', 'dest': '10.244.2.0/24', 'via': '0.0.0.0'},
     'peer b: next hop 0.0.0.0 for 10.244.2.0/24 is not a unicast address of a peer'),
    ({'host': 'b', 'dest': '10.244.2.0/24', 'via': '127.0.0.1'},
     'peer b: next hop 127.0.0.1 for 10.244.2.0/24 is not a unicast address of a peer'),
    ({'host': 'b', 'dest': '10.244.2.0/24', 'via': '224.0.0.1'},
     'peer b: next hop 224.0.0.1 for 10.244.2.0/24 is not a unicast address of a peer'),
    ({'host': 'b', 'dest': '10.244.2.0/24', 'via': '255.255.255.255'},
     'peer b: next hop 255.255.255.255 for 10.244.2.0/24 is not a unicast address of a peer'),
    ({'host': 'b', 'dest': 'fd00::/64', 'via': '::'}, 'peer b: next hop :: for fd00::/64 is not a unicast address of a peer'),
    ({'host': 'b', 'dest': 'fd00::/64', 'via': 'ff02::1'},
     'peer b: next hop ff02::1 for fd00::/64 is not a unicast address of a peer'),
    ({'dest': '10.244.2.0/24', 'via': 'x'}, "routes[0]: via 'x' is not an IP address"),
])
def test_parse_wanted_invalid_entry(entry, message):
    assert route_errors(parse_wanted, [entry]) == [message]


def test_parse_wanted_not_a_dict():
    assert route_errors(parse_wanted, [{'dest': '10.244.2.0/24', 'via': '192.168.0.2'}, '10.244.3.0/24']) == [
        "routes[1]: '10.244.3.0/24' is not a dict with dest and via"]


def test_parse_wanted_same_dest_two_vias():
    entries = [
        {'host': 'b', 'dest': '10.244.2.0/24', 'via': '192.168.0.2'},
        {'host': 'c', 'dest': '10.244.2.0/24', 'via': '192.168.0.3'},
        {'dest': '10.244.2.0/24', 'via': '192.168.0.4'},
    ]
    assert route_errors(parse_wanted, entries) == [
        'peer c: dest 10.244.2.0/24 is wanted via both 192.168.0.2 (peer b) and 192.168.0.3',
        'routes[2]: dest 10.244.2.0/24 is wanted via both 192.168.0.2 (peer b) and 192.168.0.4',
    ]


def test_parse_wanted_reports_every_bad_entry():
    entries = [{'host': 'a', 'dest': 'x', 'via': '192.168.0.1'}, {'host': 'b', 'dest': '10.244.2.0/24', 'via': 'y'},
               {'host': 'c', 'dest': '10.244.3.0/24', 'via': '192.168.0.3'}]
    assert route_errors(parse_wanted, entries) == ["peer a: dest 'x' is not a network address in CIDR form",
                                                   "peer b: via 'y' is not an IP address"]


# --------------------------------------------------------------------------------------------------
# check_next_hops
# --------------------------------------------------------------------------------------------------

def test_check_next_hops_on_link_kept_own_skipped():
    wanted = [W('10.244.1.0/24', '192.168.0.1', 'a'), W('10.244.2.0/24', '192.168.0.2', 'b'),
              W('fd00:10:244:2::/64', '2001:db8::2', 'b'), W('fd00:10:244:3::/64', 'fe80::3', 'c'),
              W('fd00:10:244:1::/64', '2001:db8::1', 'a')]
    keep, skipped = check_next_hops(wanted, ADDRS, ETH0, 'eth0')
    assert keep == [wanted[1], wanted[2], wanted[3]]
    assert skipped == [wanted[0], wanted[4]]


def test_check_next_hops_off_link_names_each_peer():
    wanted = [W('10.244.2.0/24', '192.168.1.2', 'b'), W('10.244.3.0/24', '172.16.0.3', 'c'),
              W('10.244.4.0/24', '10.244.1.7'), W('fd00:10:244:5::/64', '2001:db9::5', 'e'),
              W('10.244.6.0/24', '192.168.0.6', 'f')]
    assert route_errors(check_next_hops, wanted, ADDRS, ETH0, 'eth0') == [
        'peer b: next hop 192.168.1.2 for 10.244.2.0/24 is not on-link on eth0 (192.168.0.0/24): '
        'host-gw needs every node on one L2 segment',
        # on-link on another interface (eth1) is not on-link on the uplink
        'peer c: next hop 172.16.0.3 for 10.244.3.0/24 is not on-link on eth0 (192.168.0.0/24): '
        'host-gw needs every node on one L2 segment',
        'route: next hop 10.244.1.7 for 10.244.4.0/24 is not on-link on eth0 (192.168.0.0/24): '
        'host-gw needs every node on one L2 segment',
        'peer e: next hop 2001:db9::5 for fd00:10:244:5::/64 is not on-link on eth0 (2001:db8::/64, fe80::/64): '
        'host-gw needs every node on one L2 segment',
    ]


def test_check_next_hops_no_address_of_the_family_on_the_uplink():
    addrs = [KAddr(ETH0, 4, '192.168.0.1', 24)]
    assert route_errors(check_next_hops, [W('fd00::/64', '2001:db8::2', 'b')], addrs, ETH0, 'eth0') == [
        'peer b: next hop 2001:db8::2 for fd00::/64 is not on-link on eth0 (no IPv6 address): '
        'host-gw needs every node on one L2 segment']


def test_check_next_hops_slash_32_uplink_has_no_on_link_peers():
    addrs = [KAddr(ETH0, 4, '192.168.0.1', 32)]
    assert len(route_errors(check_next_hops, [W('10.244.2.0/24', '192.168.0.2', 'b')], addrs, ETH0, 'eth0')) == 1


# --------------------------------------------------------------------------------------------------
# diff_routes
# --------------------------------------------------------------------------------------------------

DEFAULT_ROUTE = K('0.0.0.0/0', '192.168.0.254', proto=3)     # boot
KERNEL_ROUTE = K('192.168.0.0/24', None, proto=2)             # kernel
CNI_ROUTE = K('10.244.1.0/24', None, oif=CNI0, proto=2)


def test_diff_adds_missing_routes():
    wanted = [W('10.244.2.0/24', '192.168.0.2', 'b'), W('fd00::/64', '2001:db8::2', 'b')]
    changes = diff_routes(wanted, [DEFAULT_ROUTE, KERNEL_ROUTE, CNI_ROUTE], ETH0)
    assert changes.add == wanted
    assert (changes.replace, changes.delete, changes.unchanged, changes.changed) == ([], [], 0, True)


def test_diff_unchanged_when_all_present():
    wanted = [W('10.244.2.0/24', '192.168.0.2', 'b'), W('fd00::/64', '2001:db8::2', 'b')]
    existing = [DEFAULT_ROUTE, K('10.244.2.0/24', '192.168.0.2'), K('fd00::/64', '2001:db8::2')]
    changes = diff_routes(wanted, existing, ETH0)
    assert (changes.add, changes.replace, changes.delete, changes.unchanged, changes.changed) == ([], [], [], 2, False)


def test_diff_replaces_in_place_when_via_changes():
    old = K('10.244.2.0/24', '192.168.0.9')
    w = W('10.244.2.0/24', '192.168.0.2', 'b')
    changes = diff_routes([w], [old], ETH0)
    assert changes.replace == [(old, w)]
    assert (changes.add, changes.delete, changes.unchanged) == ([], [], 0)


def test_diff_replaces_when_the_uplink_changes():
    old = K('10.244.2.0/24', '192.168.0.2', oif=4)
    w = W('10.244.2.0/24', '192.168.0.2', 'b')
    assert diff_routes([w], [old], ETH0).replace == [(old, w)]


def test_diff_replaces_an_owned_blackhole():
    old = K('10.244.2.0/24', None, oif=None, rtype=6)
    w = W('10.244.2.0/24', '192.168.0.2', 'b')
    assert diff_routes([w], [old], ETH0).replace == [(old, w)]


def test_diff_metric_change_adds_new_then_deletes_old():
    old = K('10.244.2.0/24', '192.168.0.2', metric=0)
    w = W('10.244.2.0/24', '192.168.0.2', 'b', metric=100)
    changes = diff_routes([w], [old], ETH0)
    assert (changes.add, changes.delete, changes.replace) == ([w], [old], [])


def test_diff_foreign_route_on_a_wanted_destination_is_an_error_naming_it():
    existing = [K('10.244.2.0/24', '192.168.0.9', proto=4, metric=10), K('10.244.3.0/24', '192.168.0.3'),
                K('fd00::/64', None, oif=None, proto=3, metric=1024, rtype=6)]
    wanted = [W('10.244.2.0/24', '192.168.0.2', 'b'), W('10.244.3.0/24', '192.168.0.3', 'c'), W('fd00::/64', '2001:db8::2')]
    assert route_errors(diff_routes, wanted, existing, ETH0) == [
        'peer b: destination 10.244.2.0/24 is held by a route hostgw does not own '
        '(10.244.2.0/24 via 192.168.0.9 dev if2 proto 4 metric 10); remove it or change the plan',
        'route: destination fd00::/64 is held by a route hostgw does not own '
        '(blackhole fd00::/64 dev ? proto 3 metric 1024); remove it or change the plan',
    ]


def test_diff_foreign_and_owned_on_one_destination_is_still_an_error():
    existing = [K('10.244.2.0/24', '192.168.0.2'), K('10.244.2.0/24', '192.168.0.9', proto=3, metric=5)]
    assert len(route_errors(diff_routes, [W('10.244.2.0/24', '192.168.0.2', 'b')], existing, ETH0)) == 1


def test_diff_other_proto_number_makes_our_old_routes_foreign():
    existing = [K('10.244.2.0/24', '192.168.0.2', proto=244)]
    errors = route_errors(diff_routes, [W('10.244.2.0/24', '192.168.0.2', 'b')], existing, ETH0, proto=250)
    assert errors[0].startswith('peer b: destination 10.244.2.0/24 is held by a route hostgw does not own')


def test_diff_purge_deletes_owned_routes_not_wanted_and_leaves_foreign_ones():
    stale4 = K('10.244.9.0/24', '192.168.0.9')
    stale6 = K('fd00:9::/64', '2001:db8::9')
    foreign = K('10.244.8.0/24', '192.168.0.8', proto=4)
    existing = [DEFAULT_ROUTE, KERNEL_ROUTE, CNI_ROUTE, stale4, stale6, foreign, K('10.244.2.0/24', '192.168.0.2')]
    changes = diff_routes([W('10.244.2.0/24', '192.168.0.2', 'b')], existing, ETH0, purge=True)
    assert changes.delete == [stale4, stale6]
    assert (changes.add, changes.replace, changes.unchanged) == ([], [], 1)
    changes = diff_routes([W('10.244.2.0/24', '192.168.0.2', 'b')], existing, ETH0, purge=False)
    assert (changes.delete, changes.changed) == ([], False)


def test_diff_purges_an_owned_route_to_this_hosts_own_subnet():
    # e.g. left over from when this subnet belonged to another host: the own entry is skipped, so not wanted
    own = K('10.244.1.0/24', '192.168.0.7')
    wanted = [W('10.244.1.0/24', '192.168.0.1', 'a'), W('10.244.2.0/24', '192.168.0.2', 'b')]
    keep, skipped = check_next_hops(wanted, ADDRS, ETH0, 'eth0')
    changes = diff_routes(keep, [own], ETH0)
    assert changes.delete == [own]
    assert changes.add == [wanted[1]]


def test_diff_cleans_duplicate_owned_routes():
    good = K('10.244.2.0/24', '192.168.0.2')
    dup_via = K('10.244.2.0/24', '192.168.0.22')
    dup_metric = K('10.244.2.0/24', '192.168.0.2', metric=7)
    changes = diff_routes([W('10.244.2.0/24', '192.168.0.2', 'b')], [dup_via, good, dup_metric], ETH0)
    assert changes.unchanged == 1
    assert changes.delete == [dup_via, dup_metric]
    assert (changes.add, changes.replace) == ([], [])


def test_diff_replace_plus_cleanup_of_other_metrics():
    same_slot = K('10.244.2.0/24', '192.168.0.9')
    other = K('10.244.2.0/24', '192.168.0.8', metric=50)
    w = W('10.244.2.0/24', '192.168.0.2', 'b')
    changes = diff_routes([w], [other, same_slot], ETH0)
    assert changes.replace == [(same_slot, w)]
    assert changes.delete == [other]


def test_diff_ipv6_default_metric_1024_matches_the_kernel():
    wanted = parse_wanted([{'host': 'b', 'dest': 'fd00:10:244:2::/64', 'via': '2001:db8::2'}])
    existing = [K('fd00:10:244:2::/64', '2001:db8::2', metric=1024)]
    changes = diff_routes(wanted, existing, ETH0)
    assert (changes.unchanged, changes.changed) == (1, False)
    # and an IPv6 route with metric 0 in the wanted list would have differed:
    assert diff_routes([W('fd00:10:244:2::/64', '2001:db8::2', metric=0)], existing, ETH0).add != []


def test_route_changes_changed_flag():
    c = RouteChanges()
    assert c.changed is False
    c.delete.append(K('10.244.2.0/24', '192.168.0.2'))
    assert c.changed is True


# --------------------------------------------------------------------------------------------------
# owned_lines / after_lines
# --------------------------------------------------------------------------------------------------

def test_owned_and_after_lines():
    existing = [DEFAULT_ROUTE, K('10.244.9.0/24', '192.168.0.9'), K('10.244.2.0/24', '192.168.0.22'),
                K('fd00:3::/64', '2001:db8::3', oif=4, metric=1024)]
    wanted = [W('10.244.2.0/24', '192.168.0.2', 'b'), W('fd00:3::/64', '2001:db8::3', 'c'),
              W('10.244.4.0/24', '192.168.0.4', 'd', metric=0)]
    assert owned_lines(existing, 244, NAMES) == [
        '10.244.2.0/24 via 192.168.0.22 dev eth0 proto 244',
        '10.244.9.0/24 via 192.168.0.9 dev eth0 proto 244',
        'fd00:3::/64 via 2001:db8::3 dev eth1 proto 244',
    ]
    changes = diff_routes(wanted, existing, ETH0)
    assert after_lines(existing, changes, 'eth0', 244, NAMES) == [
        '10.244.2.0/24 via 192.168.0.2 dev eth0 proto 244',
        '10.244.4.0/24 via 192.168.0.4 dev eth0 proto 244',
        'fd00:3::/64 via 2001:db8::3 dev eth0 proto 244',
    ]
    # unknown interface index: the number is shown
    assert owned_lines([K('10.244.2.0/24', '192.168.0.2', oif=42)], 244, NAMES) == [
        '10.244.2.0/24 via 192.168.0.2 dev 42 proto 244']


# --------------------------------------------------------------------------------------------------
# Property: applying the changes gives exactly the wanted routes, and a second diff is empty
# --------------------------------------------------------------------------------------------------

def _apply(existing, changes, dev_index, proto):
    gone = set(id(r) for r in changes.delete) | set(id(old) for old, _w in changes.replace)
    table = [r for r in existing if id(r) not in gone]
    for w in list(changes.add) + [w for _old, w in changes.replace]:
        table.append(KRoute(w.family, w.dest, w.via, dev_index, proto, w.metric, 1))
    return table


DESTS = ['10.244.%d.0/24' % i for i in range(6)] + ['fd00:%d::/64' % i for i in range(4)]


def _via(dest, i):
    return '2001:db8::%d' % (i + 1) if ':' in dest else '192.168.0.%d' % (i + 1)


owned_route = st.builds(
    lambda dest, i, oif, metric, rtype: K(dest, _via(dest, i) if rtype == 1 else None, oif=oif,
                                          metric=metric if metric is not None else (1024 if ':' in dest else 0),
                                          rtype=rtype),
    st.sampled_from(DESTS), st.integers(0, 3), st.sampled_from([ETH0, 4]), st.sampled_from([None, 5]),
    st.sampled_from([1, 1, 1, 6]))


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(owned_route, max_size=12),
       st.dictionaries(st.sampled_from(DESTS), st.tuples(st.integers(0, 3), st.sampled_from([None, 5])), max_size=8),
       st.lists(st.sampled_from(['10.244.%d.0/24' % i for i in range(6, 9)]), unique=True, max_size=3),
       st.booleans())
def test_property_diff_converges(owned, want_spec, foreign_dests, purge):
    foreign = [K(d, '192.168.0.200', proto=3) for d in foreign_dests]
    existing = owned + foreign + [DEFAULT_ROUTE]
    wanted = [W(d, _via(d, i), 'h%d' % i, metric=(m if m is not None else (1024 if ':' in d else 0)))
              for d, (i, m) in sorted(want_spec.items())]
    changes = diff_routes(wanted, existing, ETH0, purge=purge)
    after = _apply(existing, changes, ETH0, DEFAULT_PROTO)
    # foreign routes are never touched
    assert [r for r in after if r.proto != DEFAULT_PROTO] == foreign + [DEFAULT_ROUTE]
    # every wanted route is there exactly once, as wanted
    for w in wanted:
        mine = [r for r in after if r.dest == w.dest]
        assert mine == [KRoute(w.family, w.dest, w.via, ETH0, DEFAULT_PROTO, w.metric, 1)]
    # with purge, nothing else of ours is left; without, other destinations are untouched
    wanted_dests = set(w.dest for w in wanted)
    rest = [r for r in after if r.proto == DEFAULT_PROTO and r.dest not in wanted_dests]
    if purge:
        assert rest == []
    else:
        assert rest == [r for r in owned if r.dest not in wanted_dests]
    # what --diff shows as "after" is what the table looks like
    assert after_lines(existing, changes, 'eth0', DEFAULT_PROTO, NAMES) == owned_lines(after, DEFAULT_PROTO, NAMES)
    # a second run changes nothing
    again = diff_routes(wanted, after, ETH0, purge=purge)
    assert (again.changed, again.unchanged) == (False, len(wanted))


# The IPv4 fast path of parse_wanted / check_next_hops (integer arithmetic instead of ipaddress) must give exactly
# what the general path gives: parse_wanted(..., metric=0) always takes the general path for IPv4.
_octet = st.sampled_from(['0', '1', '10', '127', '172', '192', '224', '255', '01', '256', 'x'])
_addr = st.builds(lambda a, b, c, d: '.'.join((a, b, c, d)), _octet, _octet, _octet, _octet)
_plen = st.sampled_from(['0', '8', '16', '24', '31', '32', '33', '024', ''])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_addr, _plen, _addr, st.sampled_from(['', ' '])), min_size=1, max_size=6))
def test_fast_ipv4_path_matches_the_general_path(items):
    entries = [dict(dest='%s/%s%s' % (net, plen, pad) if plen else net, via=via, host='h%d' % i)
               for i, (net, plen, via, pad) in enumerate(items)]

    def outcome(**kw):
        try:
            return ('ok', parse_wanted(entries, **kw))
        except RouteError as e:
            return ('error', e.errors)
    assert outcome() == outcome(metric=0)


@settings(max_examples=200, deadline=None)
@given(st.lists(_addr, min_size=1, max_size=8), st.sampled_from([8, 16, 24, 30]))
def test_fast_ipv4_on_link_check_matches_ipaddress(vias, plen):
    import ipaddress
    wanted = []
    for i, via in enumerate(vias):
        try:
            ipaddress.ip_address(via)
        except ValueError:
            continue
        wanted.append(WRoute(4, '10.%d.0.0/16' % (i + 1), via, 0, 'h%d' % i))
    addrs = [KAddr(2, 4, '172.16.0.1', plen), KAddr(1, 4, '127.0.0.1', 8)]
    net = ipaddress.ip_interface('172.16.0.1/%d' % plen).network
    try:
        keep, skipped = check_next_hops(wanted, addrs, 2, 'eth0')
    except RouteError as e:
        bad = [w for w in wanted if ipaddress.ip_address(w.via) not in net
               and w.via not in ('172.16.0.1', '127.0.0.1')]
        assert bad and len(e.errors) == len(bad)
        return
    assert [w.via for w in skipped] == [w.via for w in wanted if w.via in ('172.16.0.1', '127.0.0.1')]
    assert all(ipaddress.ip_address(w.via) in net for w in keep)


def test_ipv6_route_moving_onto_an_onlink_gateway_is_deleted_then_added():
    from ansible_collections.hostgw.network.plugins.module_utils._routes import KRoute, WRoute, diff_routes  # pylint: disable=import-outside-toplevel
    old6 = KRoute(6, 'fd00:244:2::/64', 'fd00:168::2', 2, 244, 1024, 1)
    old4 = KRoute(4, '10.244.2.0/24', '10.168.0.2', 2, 244, 0, 1)
    want6 = WRoute(6, 'fd00:244:2::/64', 'fd00:244:2::', 1024, 'a2', 9, True)
    want4 = WRoute(4, '10.244.2.0/24', '10.244.2.0', 0, 'a2', 9, True)
    changes = diff_routes([want6, want4], [old6, old4], 2)
    assert changes.move == [(old6, want6)] and changes.replace == [(old4, want4)]
    assert changes.changed and changes.delete == [] and changes.add == []
    back = diff_routes([WRoute(6, 'fd00:244:2::/64', 'fd00:168::2', 1024, 'a2')],
                       [KRoute(6, 'fd00:244:2::/64', 'fd00:244:2::', 9, 244, 1024, 1)], 2)
    assert back.move == [] and len(back.replace) == 1                    # off the device: replaced in place


def test_next_hop_objects_through_the_vxlan_device_are_onlink_and_keyed_by_their_link():
    """An encapsulated route's object is its VTEP on the device, onlink; an owned object with the same gateway on
    another link (or without onlink) is not reused; one that matches is."""
    keep = [WRoute(4, '10.244.2.0/24', '10.168.0.2', 0, 'near'),
            WRoute(4, '10.244.3.0/24', '10.244.3.0', 0, 'far', 7, True),
            WRoute(6, 'fd00:244:3::/64', 'fd00:244:3::', 1024, 'far', 7, True)]
    ids, add = plan_nexthops(keep, [], 2, 244)
    assert [(n.via, n.oif, n.onlink) for n in add] == [('10.168.0.2', 2, False), ('10.244.3.0', 7, True),
                                                       ('fd00:244:3::', 7, True)]
    assert sorted(ids.values()) == [244000000, 244000001, 244000002]
    assert nexthop_line(add[1], {7: 'hostgw.1'}) == 'id 244000001 via 10.244.3.0 dev hostgw.1 proto 244 onlink'
    kernel = [KNexthop(244000000, 4, '10.244.3.0', 2, 244, False),           # same gateway, on the uplink
              KNexthop(244000001, 4, '10.244.3.0', 7, 244, False, True),     # the right one
              KNexthop(244000002, 6, 'fd00:244:3::', 7, 244, False)]         # on the device, but not onlink
    ids, add = plan_nexthops(keep, kernel, 2, 244)
    assert ids['10.244.3.0'] == 244000001
    assert [(n.id, n.via, n.oif, n.onlink) for n in add] == [(244000003, '10.168.0.2', 2, False),
                                                             (244000004, 'fd00:244:3::', 7, True)]
