# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.hostgw.network.plugins.module_utils._preflight import (
    PreflightError,
    check_mesh,
    check_variable_names,
)

PLAN = {
    'network': '10.244.0.0/16',
    'network6': None,
    'hosts': {
        'a': {'node_ip': '10.0.0.1', 'subnet': '10.244.1.0/24'},
        'b': {'node_ip': '10.0.0.2', 'subnet': '10.244.2.0/24'},
    },
}


def facts(ip, iface='eth0', extra_addrs=(), routes=(), links=None):
    return {
        'links': links if links is not None else [{'name': 'lo', 'kind': None, 'mtu': 65536}, {'name': iface, 'kind': 'veth', 'mtu': 1450}],
        'addresses': [{'ifname': iface, 'family': 4, 'address': ip, 'prefixlen': 24}] + list(extra_addrs),
        'routes': list(routes),
    }


def test_passes_and_reports_uplink_and_mtu():
    out = check_mesh(PLAN, {'a': facts('10.0.0.1'), 'b': facts('10.0.0.2')}, 'cni0')
    assert out == {'a': {'uplink': 'eth0', 'mtu': 1450}, 'b': {'uplink': 'eth0', 'mtu': 1450}}


def test_off_link_peer_named():
    f = {'a': facts('10.0.0.1'), 'b': facts('10.0.0.2')}
    f['a']['addresses'][0]['prefixlen'] = 32
    with pytest.raises(PreflightError) as e:
        check_mesh(PLAN, f, 'cni0')
    assert e.value.errors == ['host a: peer b (10.0.0.2) is not on-link on eth0 (10.0.0.1/32): host-gw needs all nodes on one L2 segment']


def test_node_ip_not_on_host():
    with pytest.raises(PreflightError) as e:
        check_mesh(PLAN, {'a': facts('10.0.0.9')}, 'cni0')
    assert e.value.errors[0].startswith('host a: node IP 10.0.0.1 is not an address of the host (addresses: 10.0.0.9 on eth0)')


def test_missing_iface_and_wrong_iface():
    with pytest.raises(PreflightError) as e:
        check_mesh(PLAN, {'a': facts('10.0.0.1')}, 'cni0', {'a': 'nope0'})
    assert e.value.errors == ['host a: uplink hostgw_iface=nope0 does not exist (links: eth0, lo)']


def test_bridge_name_clash_with_non_bridge_and_uplink():
    links = [{'name': 'eth0', 'kind': 'veth', 'mtu': 1500}, {'name': 'cni0', 'kind': 'veth', 'mtu': 1500}]
    with pytest.raises(PreflightError) as e:
        check_mesh(PLAN, {'a': facts('10.0.0.1', links=links)}, 'cni0')
    assert e.value.errors == ['host a: a veth link named cni0 exists; hostgw needs that name for its bridge (set hostgw_bridge)']
    with pytest.raises(PreflightError) as e:
        check_mesh(PLAN, {'a': facts('10.0.0.1')}, 'eth0')
    assert 'host a: the bridge name eth0 is the uplink; choose another hostgw_bridge' in e.value.errors


def test_address_inside_cluster_network_but_not_on_our_bridge():
    docker = {'ifname': 'docker0', 'family': 4, 'address': '10.244.9.1', 'prefixlen': 24}
    ours = {'ifname': 'cni0', 'family': 4, 'address': '10.244.1.1', 'prefixlen': 24}
    assert check_mesh(PLAN, {'a': facts('10.0.0.1', extra_addrs=[ours])}, 'cni0')
    with pytest.raises(PreflightError) as e:
        check_mesh(PLAN, {'a': facts('10.0.0.1', extra_addrs=[docker])}, 'cni0')
    assert e.value.errors == ['host a: address 10.244.9.1/24 on docker0 lies inside the cluster network 10.244.0.0/16']


def test_foreign_route_inside_cluster_network_only():
    inside = {'dest': '10.244.7.0/24', 'via': '10.0.0.7', 'dev': 'eth0', 'proto': 4}
    wider = {'dest': '10.0.0.0/8', 'via': '10.0.0.254', 'dev': 'eth0', 'proto': 4}
    owned = {'dest': '10.244.2.0/24', 'via': '10.0.0.2', 'dev': 'eth0', 'proto': 244}
    default = {'dest': '0.0.0.0/0', 'via': '10.0.0.254', 'dev': 'eth0', 'proto': 3}
    assert check_mesh(PLAN, {'a': facts('10.0.0.1', routes=[wider, owned, default])}, 'cni0')
    with pytest.raises(PreflightError) as e:
        check_mesh(PLAN, {'a': facts('10.0.0.1', routes=[inside])}, 'cni0')
    assert e.value.errors == ["host a: route 10.244.7.0/24 via 10.0.0.7 dev eth0 (proto 4) lies inside the cluster network "
                              "10.244.0.0/16 and is not hostgw's; remove it or choose another network"]


def test_every_problem_reported_at_once():
    f = {'a': facts('10.0.0.9'), 'b': facts('10.0.0.2', extra_addrs=[{'ifname': 'x', 'family': 4, 'address': '10.244.3.3', 'prefixlen': 24}])}
    with pytest.raises(PreflightError) as e:
        check_mesh(PLAN, f, 'cni0')
    assert [m.split(':')[0] for m in e.value.errors] == ['host a', 'host b']


def test_variable_typos():
    errors, warnings = check_variable_names(
        {'a': ['hostgw_subnet_lenn', 'hostgw_network', 'hostgw_lab_networks'], 'b': ['hostgw_brigde']},
        ['hostgw_subnet_len', 'hostgw_network', 'hostgw_bridge'])
    assert errors == ['host a: unknown variable hostgw_subnet_lenn; did you mean hostgw_subnet_len?',
                      'host b: unknown variable hostgw_brigde; did you mean hostgw_bridge?']
    assert warnings == ['host a: hostgw_lab_networks is not a hostgw variable; ignored']


def test_settings_refused_before_any_node_changes():
    from ansible_collections.hostgw.network.plugins.module_utils._preflight import check_settings
    assert check_settings('cni0', 0, 244, '10-hostgw.conflist') == []
    assert check_settings('cni0', 1500, 5, 'x.conf') == []
    errors = check_settings('cni0\nx', 50, 2, '../../../tmp/pwned')
    assert errors == [
        "hostgw_bridge: bridge name 'cni0\\nx' is not a valid interface name (1-15 characters of letters, digits, _ . -)",
        'hostgw_mtu 50 is out of range: 0 (the uplink\'s MTU) or 68-65535',
        'hostgw_route_proto 2 is not allowed: use 5-255 (0-4 belong to the kernel, boot and static routes)',
        "hostgw_cni_conf_name '../../../tmp/pwned' must be a plain file name ending in .conflist, .conf or .json",
    ]
