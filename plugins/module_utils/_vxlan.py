# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Peers on other L2 segments (``cross_subnet: vxlan``): which peers a node reaches directly and which through its
VXLAN device, and the kernel objects that carry the encapsulated ones. Pure: no Ansible imports, no I/O.

The decision is made per pair and is symmetric: two nodes talk directly when each one's node IP lies in the other's
node network (the network of its node IP's address on its uplink); otherwise both directions are encapsulated, so a
pair with different masks never sends one way direct and the other way through the tunnel (which strict
``rp_filter`` drops). A peer whose node network is not known (a plan without facts for it) is judged by this
node's own test alone.

Encapsulation is Flannel's vxlan backend, with no daemon: one device per node (VNI 1, UDP port 8472, ``nolearning``,
``local <node IP>``, ``dev <uplink>``), the node's VTEP address is its pod subnet's network address, and per
encapsulated peer one permanent FDB entry (peer MAC -> peer node IP), one permanent neighbor entry per family (peer
VTEP address -> peer MAC) and the route ``<peer subnet> via <peer VTEP address> dev <device> onlink``. The MAC of a
node's device is derived from its node IP, so every peer knows it from the plan alone and it survives re-creation
and reboots (Flannel's is random and published through etcd).
"""

from __future__ import annotations

import bisect
import hashlib
import ipaddress
from collections import namedtuple

__metaclass__ = type  # pylint: disable=invalid-name

MODES = ('fail', 'vxlan')
DEFAULT_NAME = 'hostgw.1'
DEFAULT_VNI = 1
DEFAULT_PORT = 8472
#: The VXLAN device's ifalias: how hostgw knows the device is its own (the bridge carries its own mark).
OWNER_ALIAS = 'hostgw: managed vxlan'
#: Bytes VXLAN adds to each packet: outer IP header, UDP, VXLAN header and inner Ethernet header.
OVERHEAD = {4: 50, 6: 70}

# An encapsulated peer: its name, underlay IP, device MAC and one (family, pod subnet, VTEP address) per family.
Peer = namedtuple('Peer', 'host node_ip mac vteps')
# A kernel FDB entry on a link: link index, MAC, remote (underlay) IP, NUD state.
KFdb = namedtuple('KFdb', 'index mac dst state')
# A kernel neighbor entry on a link: link index, family, IP, MAC, NUD state.
KNeigh = namedtuple('KNeigh', 'index family dst mac state')
NUD_PERMANENT = 0x80
#: Entries the kernel makes by itself (multicast groups of IPv6, for example): never hostgw's, never touched.
NUD_NOARP = 0x40


#: The ``vxlan`` option of ``hostgw_route`` and ``hostgw_preflight`` (documented in the ``hostgw.network.vxlan``
#: fragment); None or omitted keys are ``options``' defaults.
ARGUMENT_SPEC = dict(type='dict', options=dict(
    name=dict(type='str', default=DEFAULT_NAME),
    vni=dict(type='int', default=DEFAULT_VNI),
    port=dict(type='int', default=DEFAULT_PORT),
))


class VxlanError(Exception):
    pass


def vtep_mac(node_ip):
    """The MAC of a node's VXLAN device, from its node IP: locally administered, unicast (``0e:68`` then the four
    bytes of an IPv4 address; for IPv6 four bytes of its SHA-256), the same on every run and every peer."""
    ip = ipaddress.ip_address(str(node_ip))
    tail = ip.packed if ip.version == 4 else hashlib.sha256(ip.packed).digest()[:4]
    return ':'.join('%02x' % b for b in bytes((0x0e, 0x68)) + tail)


def vtep_address(subnet):
    """A node's VTEP address on its VXLAN device: the network address of its pod subnet (as Flannel uses it)."""
    return str(ipaddress.ip_network(subnet).network_address)


def vxlan_mtu(uplink_mtu, underlay_family=4):
    """The device's MTU (and the pods' when the node has encapsulated peers): the uplink's less VXLAN's overhead."""
    return int(uplink_mtu) - OVERHEAD[underlay_family]


def node_network(node_ip, prefix):
    """The node network of ``node_ip`` with prefix length ``prefix`` (None when ``prefix`` is not given)."""
    if prefix is None:
        return None
    return ipaddress.ip_interface('%s/%s' % (node_ip, prefix)).network


def direct(my_ip, my_onlink, peer_ip, peer_net):
    """Whether this node and a peer talk directly: the peer is on-link from this node (``my_onlink``: an ``OnLink``
    of the uplink's networks) and this node is inside the peer's node network (``peer_net``; None: not known, and
    this node's test decides alone)."""
    peer = ipaddress.ip_address(str(peer_ip))
    if peer not in my_onlink:
        return False
    return peer_net is None or ipaddress.ip_address(str(my_ip)) in peer_net


def options(value):
    """``{name, vni, port}`` with defaults, checked. Raises ``VxlanError`` naming the bad value."""
    value = dict(value or {})
    out = dict(name=value.get('name') or DEFAULT_NAME, vni=value.get('vni'), port=value.get('port'))
    out['vni'] = DEFAULT_VNI if out['vni'] is None else out['vni']
    out['port'] = DEFAULT_PORT if out['port'] is None else out['port']
    for key, lo, hi in (('vni', 1, (1 << 24) - 1), ('port', 1, 65535)):
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise VxlanError('vxlan.%s %r is out of range (%d-%d)' % (key, v, lo, hi))
    return out


def split_members(members, my_ip, my_onlink, local_ips):
    """The mesh from one node: ``(direct routes, encapsulated peers)``.

    ``members``: a plan's ``hosts`` (``{name: {subnet, node_ip, node_prefix?, subnet6?, node_ip6?}}``);
    ``my_ip``: this node's node IP; ``my_onlink``: ``OnLink`` of its uplink's networks; ``local_ips``: this node's
    own addresses (text), whose entry is skipped. Direct routes are ``{host, dest, via}`` as ``member_routes`` gives
    them; encapsulated peers are ``Peer`` tuples, in name order."""
    routes, peers = [], []
    if not isinstance(members, dict):
        return routes, peers
    for name in sorted(members):
        h = members[name]
        if not isinstance(h, dict) or not h.get('node_ip'):
            continue
        if h['node_ip'] in local_ips:
            continue
        net = node_network(h['node_ip'], h.get('node_prefix'))
        if direct(my_ip, my_onlink, h['node_ip'], net):
            for dest, via in ((h.get('subnet'), h.get('node_ip')), (h.get('subnet6'), h.get('node_ip6'))):
                if dest and via:
                    routes.append({'host': name, 'dest': dest, 'via': via})
            continue
        peer = peer_of(name, h)
        if peer.vteps:
            peers.append(peer)
    return routes, peers


def peer_of(name, entry):
    """The encapsulated ``Peer`` of a member entry (``node_ip``, ``subnet``, ``subnet6``)."""
    vteps = []
    for dest in (entry.get('subnet'), entry.get('subnet6')):
        if dest:
            net = ipaddress.ip_network(dest)
            vteps.append((net.version, str(net), vtep_address(dest)))
    return Peer(name, entry['node_ip'], vtep_mac(entry['node_ip']), tuple(vteps))


def wanted_entries(peers):
    """The FDB and neighbor entries for ``peers``: ``({mac: dst}, {(family, ip): mac})``."""
    fdb, neigh = {}, {}
    for p in peers:
        fdb[p.mac] = p.node_ip
        for family, _dest, vtep in p.vteps:
            neigh[(family, vtep)] = p.mac
    return fdb, neigh


def plan_entries(peers, index, fdb_now, neigh_now, delete=True):
    """What to change on the device's FDB and neighbor table: ``(fdb_put, neigh_put, neigh_del, fdb_del)``, in the
    order they are made (entries before the routes that need them; removals after).

    ``fdb_now``/``neigh_now``: the kernel's ``KFdb``/``KNeigh`` entries on link ``index`` (every entry there is
    hostgw's, except the ones the kernel keeps itself, ``NUD_NOARP``). An entry is put (created or replaced) when
    missing, different or not permanent; with ``delete``, entries no peer needs go."""
    fdb, neigh = wanted_entries(peers)
    have_fdb = {}
    for e in fdb_now:
        if e.index == index and e.mac != '00:00:00:00:00:00':
            have_fdb.setdefault(e.mac, []).append(e)
    have_neigh = dict(((e.family, e.dst), e) for e in neigh_now if e.index == index and not e.state & NUD_NOARP)
    fdb_put = [KFdb(index, mac, dst, NUD_PERMANENT) for mac, dst in sorted(fdb.items())
               if [(e.dst, e.state & NUD_PERMANENT) for e in have_fdb.get(mac, [])] != [(dst, NUD_PERMANENT)]]
    neigh_put = []
    for (family, ip), mac in sorted(neigh.items()):
        e = have_neigh.get((family, ip))
        if e is None or e.mac != mac or not e.state & NUD_PERMANENT:
            neigh_put.append(KNeigh(index, family, ip, mac, NUD_PERMANENT))
    neigh_del, fdb_del = [], []
    if delete:
        neigh_del = [e for key, e in sorted(have_neigh.items()) if key not in neigh]
        fdb_del = [e for mac, es in sorted(have_fdb.items()) for e in es if mac not in fdb]
    return fdb_put, neigh_put, neigh_del, fdb_del


def stale_remotes(peers, index, fdb_now):
    """The FDB entries on link ``index`` of a peer's MAC that are not exactly the peer's one permanent remote (drift:
    another remote, an appended second one, not permanent): deleted before the peer's entry is put again (a replace
    would only rewrite the first remote of the MAC)."""
    fdb = wanted_entries(peers)[0]
    have = {}
    for e in fdb_now:
        if e.index == index and e.mac in fdb:
            have.setdefault(e.mac, []).append(e)
    out = []
    for mac, es in sorted(have.items()):
        if [(x.dst, x.state & NUD_PERMANENT) for x in es] != [(fdb[mac], NUD_PERMANENT)]:
            out.extend(es)
    return out


def device_spec(name, vni, port, my_ip, uplink_index, uplink_mtu, subnets):
    """The device a node with encapsulated peers needs: ``{name, vni, port, local, link, mtu, mac, addresses}``
    (``addresses``: the node's VTEP address per family, ``ip/32`` or ``ip/128``)."""
    family = ipaddress.ip_address(str(my_ip)).version
    addresses = []
    for subnet in subnets:
        if subnet:
            net = ipaddress.ip_network(subnet)
            addresses.append('%s/%d' % (net.network_address, net.max_prefixlen))
    return dict(name=name, vni=vni, port=port, local=str(my_ip), link=uplink_index,
                mtu=vxlan_mtu(uplink_mtu, family) if uplink_mtu else None, mac=vtep_mac(my_ip), addresses=addresses)


def device_differs(link, spec):
    """Why an existing device (a link dict with ``vxlan``: ``{id, port, local, link, learning}``, ``mac``) cannot
    stay as ``spec`` (it must be made again), or None when it can (MTU, state and addresses are set in place)."""
    info = link.get('vxlan') or {}
    want = dict(id=spec['vni'], port=spec['port'], local=spec['local'], link=spec['link'], learning=False)
    have = dict((k, info.get(k)) for k in want)
    diff = ['%s %s, want %s' % (k, have[k], want[k]) for k in sorted(want) if have[k] != want[k]]
    if (link.get('mac') or '').lower() != spec['mac']:
        diff.append('mac %s, want %s' % (link.get('mac'), spec['mac']))
    return '; '.join(diff) or None


def fdb_line(e, dev):
    return 'fdb %s dev %s dst %s self permanent' % (e.mac, dev, e.dst)


def neigh_line(e, dev):
    return 'neigh %s lladdr %s dev %s nud permanent' % (e.dst, e.mac, dev)


def device_line(spec):
    return ('vxlan %s id %d dstport %d local %s nolearning mtu %s address %s' %
            (spec['name'], spec['vni'], spec['port'], spec['local'], spec['mtu'], spec['mac']))


def mark_encapsulated(hosts):
    """Set ``encapsulated`` on every host of a plan's ``hosts`` that has ``node_prefix``: whether any peer is reached
    through VXLAN by the symmetric rule (True), none (False), or unknown (None: the host's own network is unknown).
    The pods' MTU follows it. O(N x D), D the number of distinct node networks (one per segment, as a rule): a host
    has only direct peers when every other node IP lies in its network and its IP lies in every other node's network.
    A peer without ``node_prefix`` is judged by the host's network alone, as ``direct`` does."""
    nets = {}
    ips = []
    for name, h in hosts.items():
        ip = ipaddress.ip_address(h['node_ip'])
        ips.append((ip.version, int(ip)))
        if h.get('node_prefix') is not None:
            net = node_network(h['node_ip'], h['node_prefix'])
            nets[net] = nets.get(net, 0) + 1
    ips.sort()
    for name, h in hosts.items():
        if 'node_prefix' not in h:
            continue
        if h.get('node_prefix') is None:
            h['encapsulated'] = None
            continue
        ip = ipaddress.ip_address(h['node_ip'])
        mine = node_network(h['node_ip'], h['node_prefix'])
        lo, hi = (ip.version, int(mine.network_address)), (ip.version, int(mine.broadcast_address))
        inside = bisect.bisect_right(ips, hi) - bisect.bisect_left(ips, lo)
        if inside < len(ips):
            h['encapsulated'] = True
            continue
        h['encapsulated'] = any(ip not in net for net in nets if net.version == ip.version) or \
            any(net.version != ip.version for net in nets)
    return hosts
