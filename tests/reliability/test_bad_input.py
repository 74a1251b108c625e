# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input is rejected before any host changes (issue 6, the validation matrix).

Every case asserts (1) the run fails, (2) the failure text contains the exact message naming host and value,
(3) no host-changing task ran on any host and (4) every lab host (all five, in the group or not) is byte-for-byte
as before (routes and rules of every table, links, addresses, iptables/ip6tables, files).

The planner and the pre-flight report every problem of a run at once, so independent cases share one run (a
"batch"); each case is still its own test. Hosts start clean (foreign state only).
"""

from __future__ import annotations

import os

import pytest

import hostgw_lab as L

H1, H2, H3, H4, H5 = L.H1, L.H2, L.H3, L.H4, L.H5
NET = L.CLUSTER

# batch name -> the run: hosts of the group, group vars, host vars, state planted first (podman exec, fixed text)
BATCHES = {
    'network-invalid': dict(group_vars={'hostgw_network': '10.244.0.0/33', 'hostgw_network6': 'fd00:244::/129'}),
    'network-host-bits': dict(group_vars={'hostgw_network': '10.244.1.0/16', 'hostgw_network6': 'fd00:244::1/48'}),
    'families-mixed-up': dict(group_vars={'hostgw_network': 'fd00:244::/48', 'hostgw_network6': '10.245.0.0/16'}),
    'host-values-mixed-up': dict(host_vars={H1: {'hostgw_node_ip': 'fd00::11'}, H2: {'hostgw_subnet': 'fd00:244:2::/64'},
                                            H3: {'hostgw_node_ip': '10.171.0.313'}}),
    'network-too-small': dict(group_vars={'hostgw_network': '10.244.0.0/23'}),
    'network-too-small-flannel-rule': dict(group_vars={'hostgw_network': '10.244.0.0/29', 'hostgw_subnet_len': 0}),
    'subnet-len-a': dict(group_vars={'hostgw_subnet_len': 31, 'hostgw_network6': 'fd00:244::/64', 'hostgw_subnet_len6': 32}),
    'subnet-len-b': dict(group_vars={'hostgw_subnet_len': 8, 'hostgw_network6': 'fd00:244::/48', 'hostgw_subnet_len6': 127}),
    'subnet-min-max': dict(group_vars={'hostgw_subnet_min': '10.245.1.0', 'hostgw_subnet_max': '10.244.9.128'}),
    'out-of-subnets': dict(group_vars={'hostgw_subnet_max': '10.244.2.0'}),
    'pins': dict(host_vars={H1: {'hostgw_subnet': '10.244.1.128/24'}, H2: {'hostgw_subnet': '10.245.2.0/24'},
                            H3: {'hostgw_subnet': '10.244.3.0/25'}}),
    'duplicates': dict(host_vars={H1: {'hostgw_subnet': '10.244.7.0/24'}, H3: {'hostgw_subnet': '10.244.7.0/24'},
                                  H2: {'hostgw_node_ip': L.IP[H1]}}),
    'node-ip-in-cluster': dict(group_vars={'hostgw_network': '10.171.0.0/16'}),
    'preflight-hosts': dict(host_vars={H1: {'hostgw_node_ip': '10.171.0.99'}, H2: {'hostgw_iface': 'nope0'}},
                            plant={H3: 'ip link add cni0 type veth peer name cni0-peer'}),
    'preflight-foreign-route': dict(host_vars={H3: {'hostgw_iface': 'br-foreign'}},
                                    plant={H2: 'ip route add 10.244.3.0/24 via 10.171.0.13 dev eth0 proto static'}),
    'off-link': dict(hosts=[H1, H2, H5]),
    'bridge-is-uplink': dict(group_vars={'hostgw_bridge': 'eth0'}),
    'unknown-variable': dict(group_vars={'hostgw_netwrok': '10.50.0.0/16'}, host_vars={H2: {'hostgw_ifcae': 'eth0'}}),
    'argument-spec': dict(group_vars={'hostgw_subnet_len': 'abc', 'hostgw_ip_masq': 'maybe', 'hostgw_state': 'gone'}),
}

# (case id, batch, host whose failure carries the text or None for the run-once planner/pre-flight, exact text)
CASES = [
    ('network-not-a-cidr', 'network-invalid', None, "network '10.244.0.0/33' is not a valid CIDR"),
    ('network6-not-a-cidr', 'network-invalid', None, "network6 'fd00:244::/129' is not a valid CIDR"),
    ('network-host-bits', 'network-host-bits', None, 'network 10.244.1.0/16 has host bits set (did you mean 10.244.0.0/16?)'),
    ('network6-host-bits', 'network-host-bits', None, 'network6 fd00:244::1/48 has host bits set (did you mean fd00:244::/48?)'),
    ('network-is-ipv6', 'families-mixed-up', None, 'network fd00:244::/48 is IPv6, expected IPv4'),
    ('network6-is-ipv4', 'families-mixed-up', None, 'network6 10.245.0.0/16 is IPv4, expected IPv6'),
    ('node-ip-is-ipv6', 'host-values-mixed-up', None, 'host %s: node IP fd00::11 is IPv6, expected IPv4' % H1),
    ('pin-is-ipv6', 'host-values-mixed-up', None,
     "host %s: pinned subnet 'fd00:244:2::/64' is IPv6, the network is IPv4" % H2),
    ('node-ip-invalid', 'host-values-mixed-up', None, "host %s: node IP '10.171.0.313' is not an IP address" % H3),
    ('network-too-small', 'network-too-small', None,
     "network: subnet_len (the role's hostgw_subnet_len) 24 leaves network 10.244.0.0/23"
     " fewer than four subnets: use a subnet length of at least 25 or a larger network"),
    ('network-too-small-flannel-rule', 'network-too-small-flannel-rule', None,
     'network 10.244.0.0/29 is too small: the smallest useful network is a /28'),
    ('subnet-len-too-long', 'subnet-len-a', None,
     "network: subnet_len (the role's hostgw_subnet_len) 31 is too long: it must be at most 30 (a gateway and pods need room)"),
    ('subnet-len6-outside-network6', 'subnet-len-a', None,
     "network6: subnet_len6 (the role's hostgw_subnet_len6) 32 leaves network6 fd00:244::/64"
     " fewer than four subnets: use a subnet length of at least 66 or a larger network"),
    ('subnet-len-outside-network', 'subnet-len-b', None,
     "network: subnet_len (the role's hostgw_subnet_len) 8 leaves network 10.244.0.0/16"
     " fewer than four subnets: use a subnet length of at least 18 or a larger network"),
    ('subnet-len6-too-long', 'subnet-len-b', None, "network6: subnet_len6 (the role's hostgw_subnet_len6) 127 is too long: it must be at most 126"),
    ('subnet-min-outside', 'subnet-min-max', None, 'network: subnet_min 10.245.1.0 is outside 10.244.0.0/16'),
    ('subnet-max-misaligned', 'subnet-min-max', None, 'network: subnet_max 10.244.9.128 is not aligned to a /24 subnet boundary'),
    ('out-of-subnets', 'out-of-subnets', None,
     'out of subnets in network 10.244.0.0/16 between 10.244.1.0/24 and 10.244.2.0/24: no subnet left for host %s' % H3),
    ('pin-misaligned', 'pins', None,
     "host %s: pinned subnet '10.244.1.128/24' has host bits set (did you mean 10.244.1.0/24?)" % H1),
    ('pin-outside-network', 'pins', None, "host %s: pinned subnet '10.245.2.0/24' is outside the network 10.244.0.0/16" % H2),
    ('pin-wrong-length', 'pins', None, "host %s: pinned subnet '10.244.3.0/25' is a /25, subnets of 10.244.0.0/16 are /24" % H3),
    ('two-hosts-pinned-to-one-subnet', 'duplicates', None, 'hosts %s and %s are both pinned to 10.244.7.0/24' % (H1, H3)),
    ('duplicate-node-ip', 'duplicates', None, 'hosts %s and %s have the same node IP 10.171.0.11' % (H1, H2)),
] + [
    ('node-ip-inside-cluster-%s' % h[-1], 'node-ip-in-cluster', None,
     'host %s: node IP %s is inside the cluster network 10.171.0.0/16; node addresses must lie outside it' % (h, L.IP[h]))
    for h in L.MESH3
] + [
    ('node-ip-not-on-host', 'preflight-hosts', None,
     'host %s: node IP 10.171.0.99 is not an address of the host (addresses: 10.171.0.11 on eth0, 172.30.0.1 on br-foreign)'
     % H1),
    ('uplink-missing', 'preflight-hosts', None,
     'host %s: uplink hostgw_iface=nope0 does not exist (links: br-foreign, eth0, lo)' % H2),
    ('bridge-name-taken-by-veth', 'preflight-hosts', None,
     'host %s: a veth link named cni0 exists; hostgw needs that name for its bridge (set hostgw_bridge)' % H3),
    ('foreign-route-on-wanted-destination', 'preflight-foreign-route', None,
     "host %s: route 10.244.3.0/24 via 10.171.0.13 dev eth0 (proto 4) lies inside the cluster network 10.244.0.0/16 and is "
     "not hostgw's; remove it or choose another network" % H2),
    ('uplink-without-node-ip', 'preflight-foreign-route', None,
     'host %s: node IP 10.171.0.13 is on eth0, not on hostgw_iface=br-foreign' % H3),
    ('off-link-peer', 'off-link', None,
     'host %s: peer %s (10.172.0.15) is not on-link on eth0 (10.171.0.0/24): host-gw needs all nodes on one L2 segment' % (H1, H5)),
    ('off-link-peer-seen-from-other-segment', 'off-link', None,
     'host %s: peer %s (10.171.0.11) is not on-link on eth0 (10.172.0.0/24): host-gw needs all nodes on one L2 segment' % (H5, H1)),
    ('bridge-name-is-uplink', 'bridge-is-uplink', None, 'host %s: the bridge name eth0 is the uplink; choose another hostgw_bridge' % H2),
    ('unknown-group-variable', 'unknown-variable', None,
     'host %s: unknown variable hostgw_netwrok; did you mean hostgw_network?' % H1),
    ('unknown-host-variable', 'unknown-variable', None, 'host %s: unknown variable hostgw_ifcae' % H2),
] + [
    ('argspec-int-%s' % h[-1], 'argument-spec', h,
     'argument \'hostgw_subnet_len\' is of type str and we were unable to convert to int: "\'abc\'" cannot be converted to an int')
    for h in L.MESH3
] + [
    ('argspec-bool', 'argument-spec', H2, "argument 'hostgw_ip_masq' is of type str and we were unable to convert to bool"),
    ('argspec-choices', 'argument-spec', H3, 'value of hostgw_state must be one of: present, absent, got: gone'),
]

_RUNS = {}


def run_batch(lab, tmp_path_factory, name):
    """The batch's run, made once: (result, snapshots before, snapshots after)."""
    if name not in _RUNS:
        spec = BATCHES[name]
        lab.ensure_clean()
        for host, script in (spec.get('plant') or {}).items():
            lab.sh(host, script)
        inv = L.inventory(tmp_path_factory.mktemp(name), spec.get('hosts', L.MESH3),
                          group_vars=dict({'hostgw_network': NET}, **(spec.get('group_vars') or {})),
                          host_vars=spec.get('host_vars'))
        before = lab.snapshot_all()
        res = L.run_playbook(inv, 'playbooks/site.yml')
        after = lab.snapshot_all()
        if spec.get('plant') or after != before:
            lab.reset()
        _RUNS[name] = (res, before, after)
    return _RUNS[name]


def assert_rejected_up_front(res, before, after, host, text):
    assert res.rc != 0, res.report()
    if host is None:
        assert text in res.failure_text(), res.failure_text()
    else:
        msgs = [m for (h, _t, m) in res.failures() if h == host]
        assert any(text in m for m in msgs), (host, msgs)
    assert not L.changing_tasks_run(res), 'host-changing tasks ran: %s' % L.changing_tasks_run(res)
    L.assert_same(before, after, 'lab hosts after a rejected run')


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_rejected_before_any_host_changed(lab, tmp_path_factory, case):
    _id, batch, host, text = case
    res, before, after = run_batch(lab, tmp_path_factory, batch)
    assert_rejected_up_front(res, before, after, host, text)


# --- values the node modules would refuse only after other modules changed the node (bug 2, fixed) ---------------

@pytest.mark.parametrize('var,value,text', [
    ('hostgw_mtu', 50, "hostgw pre-flight: hostgw_mtu 50 is out of range: 0 (the uplink's MTU) or 68-65535"),
    ('hostgw_route_proto', 2, 'hostgw pre-flight: hostgw_route_proto 2 is not allowed: use 5-255'),
], ids=['mtu-out-of-range', 'route-proto-reserved'])
def test_out_of_range_value_is_rejected_before_any_host_changed(clean, tmp_path, var, value, text):
    lab = clean
    inv = L.inventory(tmp_path, L.MESH3, group_vars={'hostgw_network': NET, var: value})
    before = lab.snapshot_all()
    res = L.run_playbook(inv, 'playbooks/site.yml')
    after = lab.snapshot_all()
    if after != before:
        lab.forget()
    assert res.rc != 0, res.report()
    assert text in res.failure_text(), res.failure_text()
    assert not L.changing_tasks_run(res), 'host-changing tasks ran before the rejection: %s' % L.changing_tasks_run(res)
    L.assert_same(before, after)


def test_controller_has_no_pwned_file():
    """No case above may have run an inventory value through a shell on the controller either."""
    assert not os.path.exists('/tmp/pwned')
