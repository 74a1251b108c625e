# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure, I/O-free whole-mesh pre-flight: checks a plan against what every node reported, before any node changes.

Per node it needs the ``hostgw_host`` facts of ``hostgw_facts`` (links, addresses, routes). Checks:
the node IP is on the node; the uplink exists; every peer's node IP is on-link on the uplink (host-gw cannot
cross routers); no node address and no foreign route lies inside the cluster network; the bridge name is
free or already a bridge, and is not the uplink. Returns per node the uplink and its MTU.
"""

from __future__ import annotations

import difflib
import ipaddress
import re

from ansible_collections.hostgw.network.plugins.module_utils._bridge import BridgeError, validate_name

_CONF_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}\.(conflist|conf|json)\Z')

__metaclass__ = type  # pylint: disable=invalid-name


class PreflightError(Exception):
    def __init__(self, errors):
        self.errors = list(errors)
        super(PreflightError, self).__init__('; '.join(self.errors))


def _uplink(name, host, facts, iface, errors):
    links = dict((l['name'], l) for l in facts.get('links') or [])
    addrs = facts.get('addresses') or []
    holder = None
    for a in addrs:
        if a.get('address') == host.get('node_ip'):
            holder = a.get('ifname')
            break
    if holder is None:
        errors.append('host %s: node IP %s is not an address of the host (addresses: %s); set hostgw_node_ip to the '
                      'address of its uplink' % (name, host.get('node_ip'),
                                                 ', '.join(sorted('%s on %s' % (a['address'], a['ifname']) for a in addrs if a.get('family') == 4)) or 'none'))
    if iface:
        if iface not in links:
            errors.append('host %s: uplink hostgw_iface=%s does not exist (links: %s)' % (name, iface, ', '.join(sorted(links))))
            return None, None
        if holder is not None and holder != iface:
            errors.append('host %s: node IP %s is on %s, not on hostgw_iface=%s' % (name, host.get('node_ip'), holder, iface))
        return iface, links[iface].get('mtu')
    if holder is None:
        return None, None
    return holder, links.get(holder, {}).get('mtu')


def check_mesh(plan, facts_by_host, bridge, iface_by_host=None, proto=244):
    """Return ``{host: {uplink, mtu}}`` for the hosts that reported facts; raise ``PreflightError`` listing every problem."""
    iface_by_host = iface_by_host or {}
    errors = []
    out = {}
    nets = [ipaddress.ip_network(plan['network'])]
    if plan.get('network6'):
        nets.append(ipaddress.ip_network(plan['network6']))
    hosts = plan['hosts']
    for name in sorted(facts_by_host):
        facts = facts_by_host[name]
        host = hosts.get(name)
        if host is None or not facts:
            continue
        uplink, mtu = _uplink(name, host, facts, iface_by_host.get(name), errors)
        if uplink is None:
            continue
        if uplink == bridge:
            errors.append('host %s: the bridge name %s is the uplink; choose another hostgw_bridge' % (name, bridge))
        links = dict((l['name'], l) for l in facts.get('links') or [])
        if bridge in links and links[bridge].get('kind') != 'bridge':
            errors.append('host %s: a %s link named %s exists; hostgw needs that name for its bridge (set hostgw_bridge)'
                          % (name, links[bridge].get('kind') or 'non-bridge', bridge))
        onlink = []
        for a in facts.get('addresses') or []:
            iface = ipaddress.ip_interface('%s/%s' % (a['address'], a['prefixlen']))
            if a.get('ifname') == uplink:
                onlink.append(iface.network)
            if a.get('ifname') == bridge:
                continue
            for net in nets:
                if iface.version == net.version and iface.ip in net:
                    errors.append('host %s: address %s on %s lies inside the cluster network %s'
                                  % (name, iface, a.get('ifname'), net))
        for peer, ph in sorted(hosts.items()):
            if peer == name:
                continue
            for key in ('node_ip', 'node_ip6'):
                ip = ph.get(key)
                if not ip:
                    continue
                addr = ipaddress.ip_address(ip)
                if addr.version == 6 and addr.is_link_local:
                    continue
                if not any(addr.version == n.version and addr in n for n in onlink):
                    errors.append('host %s: peer %s (%s) is not on-link on %s (%s): host-gw needs all nodes on one L2 segment'
                                  % (name, peer, ip, uplink, ', '.join(str(n) for n in onlink if n.version == addr.version) or 'no address'))
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


def check_settings(bridge, mtu=0, proto=244, cni_conf_name=None):
    """Mesh-wide settings that a node module would only refuse after other modules changed the node."""
    errors = []
    try:
        validate_name(bridge)
    except BridgeError as e:
        errors.append('hostgw_bridge: %s' % e)
    if mtu is not None and mtu != 0 and not 68 <= mtu <= 65535:
        errors.append('hostgw_mtu %r is out of range: 0 (the uplink\'s MTU) or 68-65535' % (mtu,))
    if proto is not None and not 5 <= proto <= 255:
        errors.append('hostgw_route_proto %r is not allowed: use 5-255 (0-4 belong to the kernel, boot and static routes)' % (proto,))
    if cni_conf_name is not None and not _CONF_NAME.match(cni_conf_name):
        errors.append('hostgw_cni_conf_name %r must be a plain file name ending in .conflist, .conf or .json' % (cni_conf_name,))
    return errors
