# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one seam between hostgw and the kernel (netlink through pyroute2).

Only ``IPRoute`` calls that behave the same on pyroute2 0.7.x (Debian bookworm) and 0.9.x (PyPI)
are used: ``get_links``, ``get_addr``, ``get_routes``, ``link``, ``addr``, ``route``. Everything
returned is plain data (``KRoute``/``KAddr``/dicts) so the planning code never sees pyroute2
objects and tests can replace this class with a fake.
"""

from __future__ import annotations

import ipaddress
import socket
import traceback

from ansible_collections.hostgw.network.plugins.module_utils._routes import KAddr, KRoute

__metaclass__ = type  # pylint: disable=invalid-name

PYROUTE2_IMPORT_ERROR = None
try:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError  # noqa: F401  pylint: disable=unused-import  # re-exported for the modules
except ImportError:  # pragma: no cover - exercised on hosts without pyroute2
    IPRoute = None
    NetlinkError = OSError
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()

MISSING_PYROUTE2 = ('pyroute2 is not importable by %s on this host: install python3-pyroute2 '
                    '(Debian/Ubuntu), python3-pyroute2 (Fedora/EL, EPEL) or run "pip install pyroute2"')

MAIN_TABLE = 254
IFF_UP = 0x1
IFA_F_NODAD = 0x02
_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
_VERSION = {socket.AF_INET: 4, socket.AF_INET6: 6}


def missing_pyroute2(python):
    return MISSING_PYROUTE2 % python if IPRoute is None else None


class Kernel:
    """Thin wrapper over one ``IPRoute`` socket. Use as a context manager."""

    def __init__(self):
        self.ipr = IPRoute()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.ipr.close()

    # ---- reads -------------------------------------------------------------------------------
    def links(self):
        out = []
        for m in self.ipr.get_links():
            info = m.get_attr('IFLA_LINKINFO')
            kind = info.get_attr('IFLA_INFO_KIND') if info is not None else None
            out.append({
                'index': m['index'],
                'name': m.get_attr('IFLA_IFNAME'),
                'kind': kind,
                'mtu': m.get_attr('IFLA_MTU'),
                'up': bool(m['flags'] & IFF_UP),
                'alias': m.get_attr('IFLA_IFALIAS'),
                'master': m.get_attr('IFLA_MASTER'),
            })
        return out

    def addrs(self):
        out = []
        for m in self.ipr.get_addr():
            addr = m.get_attr('IFA_LOCAL') or m.get_attr('IFA_ADDRESS')
            if addr is None or m['family'] not in _VERSION:
                continue
            out.append(KAddr(m['index'], _VERSION[m['family']], addr, m['prefixlen']))
        return out

    def routes(self, families=(4, 6)):
        """Every route of the main table as ``KRoute``."""
        out = []
        for version in families:
            for m in self.ipr.get_routes(family=_FAMILY[version], table=MAIN_TABLE):
                table = m.get_attr('RTA_TABLE') or m['table']
                if table != MAIN_TABLE:
                    continue
                dst = m.get_attr('RTA_DST')
                if dst is None:
                    dst = '0.0.0.0' if version == 4 else '::'
                prio = m.get_attr('RTA_PRIORITY')
                out.append(KRoute(version, '%s/%d' % (dst, m['dst_len']), m.get_attr('RTA_GATEWAY'),
                                  m.get_attr('RTA_OIF'), m['proto'], prio if prio is not None else 0, m['type']))
        return out

    # ---- route writes ------------------------------------------------------------------------
    def route_add(self, w, oif, proto):
        self.ipr.route('add', family=_FAMILY[w.family], dst=w.dest, gateway=w.via, oif=oif,
                       proto=proto, priority=w.metric, table=MAIN_TABLE)

    def route_replace(self, w, oif, proto):
        self.ipr.route('replace', family=_FAMILY[w.family], dst=w.dest, gateway=w.via, oif=oif,
                       proto=proto, priority=w.metric, table=MAIN_TABLE)

    def route_del(self, r):
        kw = dict(family=_FAMILY[r.family], dst=r.dest, proto=r.proto, priority=r.metric, table=MAIN_TABLE)
        if r.via:
            kw['gateway'] = r.via
        if r.oif:
            kw['oif'] = r.oif
        self.ipr.route('del', **kw)

    # ---- link and address writes -------------------------------------------------------------
    def bridge_create(self, name):
        self.ipr.link('add', ifname=name, kind='bridge')
        return self.ipr.link_lookup(ifname=name)[0]

    def link_set(self, index, **kw):
        self.ipr.link('set', index=index, **kw)

    def link_del(self, index):
        self.ipr.link('del', index=index)

    def addr_add(self, index, cidr):
        ip, plen = cidr.split('/')
        kw = {}
        if ':' in ip:
            kw['flags'] = IFA_F_NODAD
        elif int(plen) < 31:
            # Like the CNI bridge plugin (and `ip addr add ... brd +`): set the subnet's broadcast.
            kw['broadcast'] = str(ipaddress.ip_interface(cidr).network.broadcast_address)
        self.ipr.addr('add', index=index, address=ip, prefixlen=int(plen), **kw)

    def addr_del(self, index, cidr):
        ip, plen = cidr.split('/')
        self.ipr.addr('del', index=index, address=ip, prefixlen=int(plen))
