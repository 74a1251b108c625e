# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import copy
import time

import pytest

from ansible_collections.hostgw.network.plugins.module_utils._preflight import (
    CROSS_SUBNET_HINT,
    PreflightError,
    check_mesh,
    check_variable_names,
)

PLAN = {
    'network': '10.244.0.0/16',
    'network6': None,
    'hosts': {
        'a': {'node_ip': '10.0.0.1', 'subnet': '10.244.1.0/24', 'uplink': 'eth0', 'mtu': 1450},
        'b': {'node_ip': '10.0.0.2', 'subnet': '10.244.2.0/24', 'uplink': 'eth0', 'mtu': 1450},
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
    assert e.value.errors == ['host a: peer b (10.0.0.2) is not on-link on eth0 (10.0.0.1/32): host-gw needs all nodes on one L2 segment',
                              CROSS_SUBNET_HINT]
    assert check_mesh(PLAN, f, 'cni0', cross_subnet='vxlan', vxlan=dict(name='hostgw.1', vni=1, port=8472))


def test_vxlan_device_name_and_port_must_be_free():
    f = {'a': facts('10.0.0.1'), 'b': facts('10.0.0.2')}
    f['a']['links'].append(dict(name='flannel.1', kind='vxlan', mtu=1450, up=True, alias=None,
                                vxlan=dict(id=1, port=8472, local='10.0.0.1', link=2, learning=False)))
    f['b']['links'].append(dict(name='hostgw.1', kind='veth', mtu=1500, up=True, alias=None))
    with pytest.raises(PreflightError) as e:
        check_mesh(PLAN, f, 'cni0', cross_subnet='vxlan', vxlan=dict(name='hostgw.1', vni=1, port=8472))
    assert e.value.errors == [
        "host a: VXLAN device flannel.1 uses UDP port 8472 already (another overlay, such as Flannel's "
        "flannel.1); set hostgw_vxlan_port to another port, or remove it",
        'host b: a veth link named hostgw.1 exists that hostgw does not own; hostgw needs that name for its VXLAN device '
        '(set hostgw_vxlan_name)']
    with pytest.raises(PreflightError, match='uses UDP port 8472'):       # another VNI on the same port: still refused
        check_mesh(PLAN, f, 'cni0', cross_subnet='vxlan', vxlan=dict(name='hostgw.2', vni=2, port=8472))
    assert check_mesh(PLAN, f, 'cni0', cross_subnet='vxlan', vxlan=dict(name='hostgw.2', vni=1, port=4789))


def test_vtep_addresses_on_hostgws_own_device_are_not_foreign():
    f = {'a': facts('10.0.0.1'), 'b': facts('10.0.0.2')}
    f['a']['links'].append(dict(name='hostgw.1', kind='vxlan', mtu=1450, up=True, alias='hostgw: managed vxlan'))
    f['a']['addresses'].append(dict(ifname='hostgw.1', family=4, address='10.244.0.0', prefixlen=32))
    assert check_mesh(PLAN, f, 'cni0', cross_subnet='vxlan', vxlan=dict(name='hostgw.1', vni=1, port=8472))
    f['a']['links'][-1]['alias'] = None          # the same address on a device that is not hostgw's is foreign
    with pytest.raises(PreflightError, match='lies inside the cluster network'):
        check_mesh(PLAN, f, 'cni0', cross_subnet='vxlan', vxlan=dict(name='hostgw.2', vni=2, port=8472))


def no_uplink(plan):
    plan = copy.deepcopy(plan)
    for h in plan['hosts'].values():
        h['uplink'] = h['mtu'] = None
    return plan


def test_node_ip_not_on_host():
    with pytest.raises(PreflightError) as e:
        check_mesh(no_uplink(PLAN), {'a': facts('10.0.0.9')}, 'cni0')
    assert e.value.errors[0].startswith('host a: node IP 10.0.0.1 is not an address of the host (addresses: 10.0.0.9 on eth0)')


def test_missing_iface_and_wrong_iface():
    with pytest.raises(PreflightError) as e:
        check_mesh(no_uplink(PLAN), {'a': facts('10.0.0.1')}, 'cni0', {'a': 'nope0'})
    assert e.value.errors == ['host a: uplink hostgw_iface=nope0 does not exist (links: eth0, lo)']
    with pytest.raises(PreflightError) as e:
        check_mesh(no_uplink(PLAN), {'a': facts('10.0.0.1', links=[{'name': 'eth0'}, {'name': 'eth1'}])}, 'cni0', {'a': 'eth1'})
    assert e.value.errors == ['host a: node IP 10.0.0.1 is on eth0, not on hostgw_iface=eth1']


def test_plan_without_uplink_from_facts_is_refused_not_derived_again():
    with pytest.raises(PreflightError) as e:
        check_mesh(no_uplink(PLAN), {'a': facts('10.0.0.1')}, 'cni0')
    assert e.value.errors == ['host a: the plan has no uplink for it: plan with hostgw.network.hostgw_subnet after '
                              'hostgw.network.hostgw_facts has read the node']


def test_uplink_and_mtu_come_from_the_plan():
    plan = copy.deepcopy(PLAN)
    plan['hosts']['a'].update(uplink='eth1', mtu=9000)
    f = facts('10.0.0.1', iface='eth1')
    assert check_mesh(plan, {'a': f}, 'cni0') == {'a': {'uplink': 'eth1', 'mtu': 9000}}


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
    errors = check_settings('cni0\nx', 50, 2, '../../../tmp/pwned', host='h1')
    assert errors == [
        "host h1: hostgw_bridge: bridge name 'cni0\\nx' is not a valid interface name (1-15 characters of letters, digits, _ . -)",
        'hostgw_mtu 50 is out of range: 0 (the uplink\'s MTU) or 68-65535',
        'hostgw_route_proto 2 is not allowed: use 5-255 (0-4 belong to the kernel, boot and static routes)',
        "hostgw_cni_conf_name '../../../tmp/pwned' must be a plain file name ending in .conflist, .conf or .json",
    ]


def big_mesh(n, prefixlen=16):
    hosts, facts_by_host = {}, {}
    for i in range(n):
        name = 'n%05d' % i
        ip = '10.1.%d.%d' % (i // 250, i % 250 + 1)
        hosts[name] = {'node_ip': ip, 'subnet': '10.244.%d.%d/30' % (i // 64, (i % 64) * 4), 'uplink': 'eth0', 'mtu': 1500}
        facts_by_host[name] = facts(ip)
        facts_by_host[name]['addresses'][0]['prefixlen'] = prefixlen
    return {'network': '10.244.0.0/16', 'network6': None, 'hosts': hosts}, facts_by_host


def test_mesh_check_is_linear_10000_hosts():
    plan, f = big_mesh(10000)
    started = time.perf_counter()
    out = check_mesh(plan, f, 'cni0')
    elapsed = time.perf_counter() - started
    assert len(out) == 10000
    # N*N pairs (1e8 address tests) take minutes in Python; the index takes about a second on a loaded 2-core machine.
    assert elapsed < 20, elapsed


def test_off_link_peers_named_up_to_a_limit_and_counted():
    plan, f = big_mesh(40)
    f['n00007']['addresses'][0]['prefixlen'] = 32       # n00007 sees no peer on-link
    with pytest.raises(PreflightError) as e:
        check_mesh(plan, f, 'cni0')
    errors = e.value.errors
    assert errors[0] == ('host n00007: peer n00000 (10.1.0.1) is not on-link on eth0 (10.1.0.8/32): '
                         'host-gw needs all nodes on one L2 segment')
    assert len(errors) == 12 and errors[-1] == CROSS_SUBNET_HINT
    assert errors[-2] == 'host n00007: and 29 more IPv4 peers are not on-link on eth0 (10.1.0.8/32)'
    assert 'peer n00007 ' not in ' '.join(errors)


def test_off_link_check_matches_the_pairwise_definition():
    """Two segments and a host on both: the index finds exactly the pairs a pairwise check finds."""
    plan, f = big_mesh(12, prefixlen=24)
    for name in ('n00009', 'n00010', 'n00011'):
        ip = '10.2.0.%d' % int(name[1:])
        plan['hosts'][name]['node_ip'] = ip
        f[name] = facts(ip)
    f['n00000']['addresses'].append({'ifname': 'eth0', 'family': 4, 'address': '10.2.0.100', 'prefixlen': 24})
    with pytest.raises(PreflightError) as e:
        check_mesh(plan, f, 'cni0')
    got = sorted(m.split(' (')[0] for m in e.value.errors if m != CROSS_SUBNET_HINT)
    want = sorted('host %s: peer %s' % (a, b) for a in plan['hosts'] for b in plan['hosts']
                  if a != b and a != 'n00000' and (int(a[1:]) >= 9) != (int(b[1:]) >= 9))
    assert got == want


def test_a_kernel_without_vxlan_is_refused_in_vxlan_mode_only():
    f = {'a': facts('10.0.0.1'), 'b': facts('10.0.0.2')}
    f['a']['vxlan'] = False
    f['b']['vxlan'] = None                       # cannot tell: not an error
    with pytest.raises(PreflightError) as e:
        check_mesh(PLAN, f, 'cni0', cross_subnet='vxlan', vxlan=dict(name='hostgw.1', vni=1, port=8472))
    assert e.value.errors == ['host a: the kernel has no VXLAN support (no vxlan module is loaded, built in or in '
                              '/lib/modules); hostgw_cross_subnet: vxlan needs it']
    assert check_mesh(PLAN, f, 'cni0')
