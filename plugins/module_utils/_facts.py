# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What ``hostgw_facts`` reports about a node, read through the netlink seam (one dump each of links, addresses and
routes) and shaped for the controller: plain dicts, link-local and loopback addresses left out (one definition of
link-local: ``_routes.is_link_local``), routes optionally limited to those the controller checks."""

from __future__ import annotations

import ipaddress
import json
import os
import re

from ansible_collections.hostgw.network.plugins.module_utils import _netlink
from ansible_collections.hostgw.network.plugins.module_utils._lease import MEMBERS_FILE, table_rows
from ansible_collections.hostgw.network.plugins.module_utils._routes import IFA_F_UNSTABLE, is_link_local

__metaclass__ = type  # pylint: disable=invalid-name

RT_SCOPE_HOST = 254
RTN_TYPES = {1: 'unicast', 2: 'local', 3: 'broadcast', 4: 'anycast', 5: 'multicast', 6: 'blackhole',
             7: 'unreachable', 8: 'prohibit', 9: 'throw', 10: 'nat'}


def _overlaps(dest, networks):
    net = ipaddress.ip_network(dest, strict=False)
    return net.prefixlen == 0 or any(net.version == n.version and net.overlaps(n) for n in networks)


def read_host(kernel, networks=(), skip_proto=None):
    """``hostgw_host`` without the interpreter/init facts: links, addresses, routes, default_ipv4/6.

    ``skip_proto``: leave out the routes of that protocol (hostgw's own: one per peer, which the controller never
    checks; with them the fact would grow with the mesh)."""
    nets = []
    for n in networks or ():
        try:
            nets.append(ipaddress.ip_network(str(n).strip(), strict=False))
        except ValueError:
            # Not a network: the planner names the variable and the value; until then, filter nothing.
            nets = []
            break
    links = kernel.links()
    names = dict((x['index'], x['name']) for x in links)
    addresses = []
    for a in kernel.addrs():
        if a.scope == RT_SCOPE_HOST or is_link_local(a.address):
            continue
        addresses.append(dict(ifname=names.get(a.index), family=a.family, address=a.address, prefixlen=a.prefixlen,
                              temporary=bool(a.flags & IFA_F_UNSTABLE)))
    routes = []
    defaults = {}
    for r in kernel.routes():
        if r.dest in ('0.0.0.0/0', '::/0') and r.oif is not None:
            defaults.setdefault(r.family, names.get(r.oif))
        if (nets and not _overlaps(r.dest, nets)) or (skip_proto is not None and r.proto == skip_proto):
            continue
        routes.append(dict(family=r.family, dest=r.dest, via=r.via, dev=names.get(r.oif), proto=r.proto,
                           type=RTN_TYPES.get(r.rtype, str(r.rtype))))
    default_ip = {}
    for fam in (4, 6):
        dev = defaults.get(fam)
        default_ip[fam] = next((a['address'] for a in addresses
                                if a['family'] == fam and a['ifname'] == dev and not a['temporary']), None)
    return dict(links=[_link_fact(x) for x in links],
                addresses=addresses, routes=routes, default_ipv4=default_ip[4], default_ipv6=default_ip[6])


def read_node(networks=(), skip_proto=None):
    """``read_host`` through a kernel seam of its own (what hostgw_facts runs)."""
    with _netlink.Kernel() as kernel:
        return read_host(kernel, networks, skip_proto)


def read_lease(state_dir):
    """``(lease dict, None)``, ``({}, None)`` without a lease file, ``(None, why)`` when it cannot be read."""
    return _read_json(os.path.join(state_dir, 'lease.json'))


def read_members(state_dir):
    """The member table (``_lease.members_table``) like ``read_lease``: ``({}, None)`` without one."""
    data, why = _read_json(os.path.join(state_dir, MEMBERS_FILE))
    if data and table_rows(data) is None:
        return None, '%s has no members' % os.path.join(state_dir, MEMBERS_FILE)
    return data, why


def _read_json(path):
    if not os.path.exists(path):
        return {}, None
    try:
        with open(path) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError) as e:
        return None, '%s: %s' % (path, e)
    if not isinstance(data, dict):
        return None, '%s is not a JSON object' % path
    return data, None


def pyroute2_version():
    """The version of pyroute2 this Python would import, without importing it (0.2 s), or None."""
    import importlib.util  # pylint: disable=import-outside-toplevel
    if importlib.util.find_spec('pyroute2') is None:
        return None
    try:
        from importlib.metadata import version  # pylint: disable=import-outside-toplevel
        return version('pyroute2')
    except Exception:  # pylint: disable=broad-except  # Python < 3.8, or no metadata: importable all the same
        return 'unknown'


def networkmanager(which):
    """Whether NetworkManager is installed (its binary or its configuration directory)."""
    return bool(which('NetworkManager')) or os.path.isdir('/etc/NetworkManager')


_VXLAN_DEP = re.compile(r'(^|/)vxlan\.ko(\.[a-z]+)?:', re.M)
_VXLAN_BUILTIN = re.compile(r'(^|/)vxlan\.ko$', re.M)


def vxlan_support(release, sys_root='/sys', lib_root='/lib/modules'):
    """Whether the kernel can make VXLAN devices: True (loaded, built in, or a module it can load), False (its module
    lists are readable and name no vxlan), None (cannot tell: no module lists, as in many containers)."""
    if os.path.isdir(os.path.join(sys_root, 'module', 'vxlan')):
        return True
    texts = []
    for name, pattern in (('modules.builtin', _VXLAN_BUILTIN), ('modules.dep', _VXLAN_DEP)):
        try:
            with open(os.path.join(lib_root, release, name)) as f:
                text = f.read()
        except (IOError, OSError):
            return None
        if pattern.search(text):
            return True
        texts.append(text)
    return False


def _link_fact(x):
    """A link as facts report it; a VXLAN link also with its ``vxlan`` settings (pre-flight's port check)."""
    out = dict(name=x['name'], kind=x['kind'], mtu=x['mtu'], up=x['up'], alias=x['alias'])
    if x.get('vxlan'):
        out['vxlan'] = x['vxlan']
    return out
