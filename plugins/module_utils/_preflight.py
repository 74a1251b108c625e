# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure, I/O-free whole-mesh pre-flight: checks a plan against what every node reported, before any node changes.

Only checks: the plan (``hostgw_subnet``) already holds each host's uplink and MTU. Per node it needs the
``hostgw_host`` facts of ``hostgw_facts`` (links, addresses, routes). Checks: the plan's uplink exists (where the
plan has none, why: the node IP is not on the node, or ``hostgw_iface`` is wrong); every peer's node IP is on-link
on the uplink (host-gw cannot cross routers); no node address and no foreign route lies inside the cluster
network; the bridge name is free or already a bridge, and is not the uplink.

Linear: peers' node IPs are indexed once (sorted integers per family) and each node counts the peers inside its
uplink's networks by bisection, so N nodes cost O(N log N), not N*N pairs.
"""

from __future__ import annotations

import difflib
import ipaddress

from ansible_collections.hostgw.network.plugins.module_utils._routes import DEFAULT_PROTO
from ansible_collections.hostgw.network.plugins.module_utils._mesh import (
    OnLink, conf_name_error, find_uplink, ifname_error, mtu_error, onlink_networks, path_error, proto_error)

__metaclass__ = type  # pylint: disable=invalid-name

#: Off-link peers named per node; the rest are counted (an all-off-link mesh of N nodes would list N*N pairs).
OFFLINK_LISTED = 10


class PreflightError(Exception):
    def __init__(self, errors):
        self.errors = list(errors)
        super(PreflightError, self).__init__('; '.join(self.errors))


class _PeerIndex:
    """Every member's node IPs as sorted integers per family, with the member names at the same positions."""

    def __init__(self, hosts):
        per = {4: [], 6: []}
        for name, h in hosts.items():
            for key in ('node_ip', 'node_ip6'):
                ip = h.get(key)
                if not ip:
                    continue
                addr = ipaddress.ip_address(ip)
                if addr.version == 6 and addr.is_link_local:
                    continue    # always on-link
                per[addr.version].append((int(addr), name, ip))
        self.ints, self.names, self.texts = {}, {}, {}
        for version, items in per.items():
            items.sort()
            self.ints[version] = [i[0] for i in items]
            self.names[version] = [i[1] for i in items]
            self.texts[version] = [i[2] for i in items]


def _own_ints(host):
    out = {}
    for key in ('node_ip', 'node_ip6'):
        if host.get(key):
            addr = ipaddress.ip_address(host[key])
            out[addr.version] = int(addr)
    return out


def _check_onlink(name, host, onlink, uplink, index, errors):
    own = _own_ints(host)
    for version in (4, 6):
        ints = index.ints[version]
        if not ints:
            continue
        mine = own.get(version)
        expected = len(ints) - (1 if mine is not None else 0)
        got = onlink.count_in(version, ints) - (1 if mine is not None and onlink.contains_int(version, mine) else 0)
        if got >= expected:
            continue
        missing = expected - got
        found = [p for p in onlink.first_outside(version, ints, OFFLINK_LISTED + 1) if index.names[version][p] != name]
        found = sorted(found[:OFFLINK_LISTED], key=lambda p: index.names[version][p])
        for p in found:
            errors.append('host %s: peer %s (%s) is not on-link on %s (%s): host-gw needs all nodes on one L2 segment'
                          % (name, index.names[version][p], index.texts[version][p], uplink, onlink.describe(version)))
        if missing > len(found):
            errors.append('host %s: and %d more IPv%d peers are not on-link on %s (%s)'
                          % (name, missing - len(found), version, uplink, onlink.describe(version)))


#: The hint after off-link peers in ``fail`` mode.
CROSS_SUBNET_HINT = ('peers on other L2 segments: set hostgw_cross_subnet: vxlan to reach them through VXLAN where they '
                     'are not adjacent (docs/cross-subnet.md)')


def _is_own_vxlan(link):
    from ansible_collections.hostgw.network.plugins.module_utils._vxlan import OWNER_ALIAS  # pylint: disable=import-outside-toplevel
    return bool(link) and link.get('kind') == 'vxlan' and link.get('alias') == OWNER_ALIAS


def _check_vxlan(name, links, vxlan, errors):
    """The VXLAN device's name is free or hostgw's own device, and no other VXLAN device uses its port."""
    from ansible_collections.hostgw.network.plugins.module_utils._vxlan import OWNER_ALIAS  # pylint: disable=import-outside-toplevel
    dev = links.get(vxlan['name'])
    if dev is not None and (dev.get('kind') != 'vxlan' or dev.get('alias') != OWNER_ALIAS):
        errors.append('host %s: a %s link named %s exists that hostgw does not own; hostgw needs that name for its VXLAN '
                      'device (set hostgw_vxlan_name)' % (name, dev.get('kind') or 'non-vxlan', vxlan['name']))
    for link in links.values():
        info = link.get('vxlan') or {}
        if link is not dev and link.get('kind') == 'vxlan' and info.get('port') == vxlan['port']:
            # Another VNI on the port would work in the kernel, but hostgw's firewall guards the port, not the VNI.
            errors.append('host %s: VXLAN device %s uses UDP port %d already (another overlay, such as '
                          "Flannel's flannel.1); set hostgw_vxlan_port to another port, or remove it"
                          % (name, link.get('name'), vxlan['port']))


def check_mesh(plan, facts_by_host, bridge, iface_by_host=None, proto=DEFAULT_PROTO, uplink_var='hostgw_iface',
               cross_subnet='fail', vxlan=None):
    """Return ``{host: {uplink, mtu}}`` (from the plan) for the hosts that reported facts; raise ``PreflightError``
    listing every problem. ``iface_by_host``: ``uplink_var`` per host, only needed to explain a missing uplink.
    ``bridge``: the bridge name, or ``{host: name}`` where hosts have their own (a host not in it: ``None`` skips).
    ``cross_subnet``: ``fail`` (every peer on-link, as host-gw needs) or ``vxlan`` (off-link peers allowed; the VXLAN
    device ``vxlan``, ``{name, vni, port}``, must be free on every node)."""
    iface_by_host = iface_by_host or {}
    offlink, offlink_seen = [], False
    bridges = bridge if isinstance(bridge, dict) else None
    errors = []
    out = {}
    nets = [ipaddress.ip_network(plan['network'])]
    if plan.get('network6'):
        nets.append(ipaddress.ip_network(plan['network6']))
    hosts = plan['hosts']
    index = _PeerIndex(hosts)
    for name in sorted(facts_by_host):
        facts = facts_by_host[name]
        host = hosts.get(name)
        if host is None or not facts:
            continue
        if bridges is not None:
            bridge = bridges.get(name)
        links = dict((link.get('name'), link) for link in facts.get('links') or [])
        addrs = facts.get('addresses') or []
        uplink, mtu = host.get('uplink'), host.get('mtu')
        # A check, not a derivation: the plan's uplink must exist and hold the node IP; where the plan has none,
        # the same finder says why (node IP not on the node, hostgw_iface missing or without the node IP).
        _found, _mtu, problems = find_uplink(facts.get('links'), addrs, host.get('node_ip'),
                                             uplink or iface_by_host.get(name), name, uplink_var)
        if not problems and uplink is None:
            problems = ['host %s: the plan has no uplink for it: plan with hostgw.network.hostgw_subnet after '
                        'hostgw.network.hostgw_facts has read the node' % name]
        if problems:
            errors.extend(problems)
            continue
        if mtu is None:
            mtu = links[uplink].get('mtu')
        if uplink == bridge:
            errors.append('host %s: the bridge name %s is the uplink; choose another hostgw_bridge' % (name, bridge))
        if bridge in links and links[bridge].get('kind') != 'bridge':
            errors.append('host %s: a %s link named %s exists; hostgw needs that name for its bridge (set hostgw_bridge)'
                          % (name, links[bridge].get('kind') or 'non-bridge', bridge))
        for a in addrs:
            if a.get('ifname') == bridge or _is_own_vxlan(links.get(a.get('ifname'))):
                continue    # hostgw's own: the gateways on the bridge, the VTEP addresses on its VXLAN device
            iface = ipaddress.ip_interface('%s/%s' % (a['address'], a['prefixlen']))
            for net in nets:
                if iface.version == net.version and iface.ip in net:
                    errors.append('host %s: address %s on %s lies inside the cluster network %s'
                                  % (name, iface, a.get('ifname'), net))
        if cross_subnet == 'vxlan':
            _check_vxlan(name, links, vxlan, errors)
            if facts.get('vxlan') is False:
                errors.append('host %s: the kernel has no VXLAN support (no vxlan module is loaded, built in or in '
                              '/lib/modules); hostgw_cross_subnet: vxlan needs it' % name)
        else:
            _check_onlink(name, host, OnLink(onlink_networks(addrs, uplink)), uplink, index, offlink)
            errors.extend(offlink)
            offlink_seen = offlink_seen or bool(offlink)
            del offlink[:]
        for r in facts.get('routes') or []:
            if r.get('proto') == proto or r.get('dev') == bridge or not r.get('dest'):
                continue
            try:
                dest = ipaddress.ip_network(r['dest'], strict=False)
            except ValueError:
                continue
            for net in nets:
                if dest.version == net.version and dest.prefixlen >= net.prefixlen and dest.subnet_of(net):
                    errors.append('host %s: route %s%s dev %s (proto %s) lies inside the cluster network %s and is not '
                                  "hostgw's; remove it or choose another network"
                                  % (name, r['dest'], ' via %s' % r['via'] if r.get('via') else '', r.get('dev'), r.get('proto'), net))
        out[name] = dict(uplink=uplink, mtu=mtu)
    if offlink_seen:
        errors.append(CROSS_SUBNET_HINT)
    if errors:
        raise PreflightError(errors)
    return out


def check_variable_names(vars_by_host, known, prefix='hostgw_'):
    """Catch typos in ``prefix``-named variables. Returns (errors, warnings).

    A name that is not ``known`` but close to a known name is an error naming the host, the name and the
    likely intended one (a typo silently falls back to a default otherwise). Other unknown names with the
    prefix only warn: they may belong to the user's own tooling.
    """
    known = set(known)
    errors, warnings = [], []
    for host in sorted(vars_by_host):
        for name in sorted(vars_by_host[host]):
            if not name.startswith(prefix) or name in known:
                continue
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
            if close:
                errors.append('host %s: unknown variable %s; did you mean %s?' % (host, name, close[0]))
            else:
                warnings.append('host %s: %s is not a hostgw variable; ignored' % (host, name))
    return errors, warnings


def _as_int(value):
    """An integer written as text in inventory (``"1500"``) as an int; anything else as it is (then refused)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def check_host_settings(settings, defaults):
    """Every host's own value of the per-host settings (``_inputs.host_settings``), else the run's ``defaults``
    (``{variable: value}``), checked as the node modules would check them. Returns ``(errors, bridges)``:
    the problems, each naming host, variable and value, and ``{host: bridge name}`` for ``check_mesh``."""
    errors = []
    bridges = {}
    for host in sorted(settings):
        own = settings[host]
        if not own:
            bridges[host] = defaults.get('hostgw_bridge')
            continue
        bridge = own.get('hostgw_bridge', defaults.get('hostgw_bridge'))
        mtu = _as_int(own.get('hostgw_mtu', defaults.get('hostgw_mtu', 0)))
        problems = [ifname_error(bridge, 'hostgw_bridge', host) if 'hostgw_bridge' in own else None,
                    mtu_error(mtu, 'hostgw_mtu', host) if 'hostgw_mtu' in own else None]
        if 'hostgw_iface' in own and not (isinstance(own['hostgw_iface'], str) and not own['hostgw_iface'].strip()):
            problems.append(ifname_error(own['hostgw_iface'], 'hostgw_iface', host, 'uplink'))
        if 'hostgw_cni_conf_name' in own:
            problems.append(conf_name_error(own['hostgw_cni_conf_name'], 'hostgw_cni_conf_name', host))
        for var in ('hostgw_state_dir', 'hostgw_cni_conf_dir'):
            if var in own:
                problems.append(path_error(own[var], var, host))
        errors.extend(p for p in problems if p)
        bridges[host] = bridge if not problems[0] else None
    return errors, bridges


def check_settings(bridge, mtu=0, proto=DEFAULT_PROTO, cni_conf_name=None, host=None, state_dir=None, cni_conf_dir=None):
    """Mesh-wide settings that a node module would only refuse after other modules changed the node.

    ``host``: the host whose variables set them (the run-once host), named where a value may be per host.
    """
    errors = []
    for problem in (ifname_error(bridge, 'hostgw_bridge', host),
                    None if mtu is None else mtu_error(mtu),
                    None if proto is None else proto_error(proto),
                    None if cni_conf_name is None else conf_name_error(cni_conf_name),
                    None if state_dir is None else path_error(state_dir, 'hostgw_state_dir', host),
                    None if cni_conf_dir is None else path_error(cni_conf_dir, 'hostgw_cni_conf_dir', host)):
        if problem:
            errors.append(problem)
    return errors
