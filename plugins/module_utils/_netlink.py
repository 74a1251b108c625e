# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one seam between hostgw and the kernel (netlink through pyroute2).

Only ``IPRoute`` calls that behave the same on pyroute2 0.7.x (Debian bookworm) and 0.9.x (PyPI)
are used: ``get_links``, ``get_addr``, ``link``, ``addr`` (and ``get_routes`` for the reference reader). Everything
returned is plain data (``KRoute``/``KAddr``/dicts) so the planning code never sees pyroute2
objects and tests can replace this class with a fake.

Routes are the exception, for speed (a mesh of thousands of peers): the main table is read with one
hand-decoded ``RTM_GETROUTE`` dump, and route changes are hand-encoded ``RTM_NEWROUTE``/``RTM_DELROUTE``
requests (the bytes pyroute2 sends, except that a deletion matches the route in any scope, as
``ip route del`` does), written many at a time over a plain ``AF_NETLINK`` socket
with every acknowledgement read back and matched to its request (``routes_apply``). pyroute2's
per-message encoding and decoding cost 10-25 times what the kernel needs (see docs/benchmarks.md);
this path does not depend on the pyroute2 version at all.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import sys
import traceback

from ansible_collections.hostgw.network.plugins.module_utils._routes import KAddr, KNexthop, KRoute
from ansible_collections.hostgw.network.plugins.module_utils._vxlan import NUD_PERMANENT, KFdb, KNeigh

__metaclass__ = type  # pylint: disable=invalid-name

PYROUTE2_IMPORT_ERROR = None


class NetlinkError(OSError):
    """A request the kernel refused: ``code`` is the errno (the shape of pyroute2's ``NetlinkError``)."""

    def __init__(self, code, msg=None):
        self.code = code
        super(NetlinkError, self).__init__(code, msg or os.strerror(code))

    def __str__(self):
        if self.code == errno.ENOPKG:
            return self.strerror
        return '(%d, %r)' % (self.code, self.strerror)


def _pyroute2():
    """pyroute2's ``IPRoute`` class, imported on first use: only link and address changes need it
    (about 0.2 s per module run); reads and route changes never do."""
    global PYROUTE2_IMPORT_ERROR  # pylint: disable=global-statement
    try:
        from pyroute2 import IPRoute  # pylint: disable=import-outside-toplevel
    except ImportError:
        PYROUTE2_IMPORT_ERROR = traceback.format_exc()
        return None
    return IPRoute


MISSING_PYROUTE2 = ('pyroute2 is not importable by %s on this host: install python3-pyroute2 '
                    '(Debian/Ubuntu), python3-pyroute2 (Fedora/EL, EPEL) or run "pip install pyroute2"')

MAIN_TABLE = 254
IFF_UP = 0x1
IFA_F_NODAD = 0x02
_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
_VERSION = {socket.AF_INET: 4, socket.AF_INET6: 6}

# ---- raw rtnetlink (linux/netlink.h, linux/rtnetlink.h) ------------------------------------------
_NETLINK_ROUTE = 0
_SOL_NETLINK = 270
_NETLINK_CAP_ACK = 10          # error acknowledgements without a copy of the request (Linux 4.3+)
_SO_SNDBUFFORCE = 32
_SO_RCVBUFFORCE = 33
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_NLM_F_REQUEST = 0x1
_NLM_F_ACK = 0x4
_NLM_F_DUMP_INTR = 0x10
_NLM_F_DUMP = 0x300
_NLM_F_REPLACE = 0x100
_NLM_F_EXCL = 0x200
_NLM_F_CREATE = 0x400
_RTM_NEWLINK = 16
_RTM_GETLINK = 18
_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_IFLA_IFNAME = 3
_IFLA_MTU = 4
_IFLA_MASTER = 10
_IFLA_LINKINFO = 18
_IFLA_INFO_KIND = 1
_IFLA_IFALIAS = 20
_IFLA_ADDRESS = 1
_IFLA_INFO_DATA = 2
_IFLA_VXLAN_ID = 1
_IFLA_VXLAN_LINK = 3
_IFLA_VXLAN_LOCAL = 4
_IFLA_VXLAN_LEARNING = 7
_IFLA_VXLAN_PORT = 15
_IFLA_VXLAN_LOCAL6 = 17
_RTM_NEWNEIGH = 28
_RTM_DELNEIGH = 29
_RTM_GETNEIGH = 30
_NDA_DST = 1
_NDA_LLADDR = 2
_NTF_SELF = 0x02
_AF_BRIDGE = 7
_RTNH_F_ONLINK = 4
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_IFA_FLAGS = 8
_RTM_NEWNEXTHOP = 104
_RTM_DELNEXTHOP = 105
_RTM_GETNEXTHOP = 106
_NHA_ID = 1
_NHA_GROUP = 2
_NHA_BLACKHOLE = 4
_NHA_OIF = 5
_NHA_GATEWAY = 6
_RTA_NH_ID = 30
_RTM_NEWROUTE = 24
_RTM_DELROUTE = 25
_RTM_GETROUTE = 26
_RTA_DST = 1
_RTA_OIF = 4
_RTA_GATEWAY = 5
_RTA_PRIORITY = 6
_RTA_TABLE = 15
_RTN_UNSPEC = 0
_RTN_UNICAST = 1
_RT_SCOPE_UNIVERSE = 0
_RT_SCOPE_NOWHERE = 255
_NLA_TYPE_MASK = 0x3fff

_HDR = struct.Struct('=LHHLL')                 # nlmsghdr: len, type, flags, seq, pid
_IFINFOMSG = struct.Struct('=BxHiII')          # family, type, index, flags, change
_IFADDRMSG = struct.Struct('=BBBBI')           # family, prefixlen, flags, scope, index
_NHMSG = struct.Struct('=BBBBI')               # family, scope, protocol, reserved, flags
_HDR_RTMSG = struct.Struct('=LHHLLBBBBBBBBL')  # nlmsghdr + rtmsg (family, dst_len, src_len, tos, table, protocol,
_RTMSG = struct.Struct('=BBBBBBBBL')           # scope, type, flags)
_ERR = struct.Struct('=i')
_ATTR = struct.Struct('=HH')
_ATTR_U32 = struct.Struct('=HHL')
_U32 = struct.Struct('=L')
_NDMSG = struct.Struct('=BxxxiHBB')           # family, (pad), ifindex, state, flags, type


class _Layouts(object):
    """Whole-message layouts learned during one dump, for decoding the rest with one ``struct`` call each.

    A dump of 10,000 routes (or next-hop objects) is 10,000 messages of a handful of shapes; walking each one's
    attributes in Python costs most of the read. The first message of each length is decoded attribute by attribute
    and its layout (every attribute's length and type, in order) becomes one ``struct.Struct``; a later message of
    that length is unpacked in one call and used only if its attribute lengths and types are exactly those (else it
    is decoded the slow way). The kernel's attribute order is learned, never assumed.

    ``by_len[length]``: ``(struct, slice of the attribute lengths, those lengths, slice of the types, those types,
    value positions of the ``wanted`` attribute types (None when absent))``; the decoders use it inline (a method
    call per message is a tenth of the decoding cost).
    """

    def __init__(self, head, u32_types, wanted):
        self.head = head                                   # struct format of nlmsghdr and the fixed family header
        self.nhead = len(struct.Struct(head).unpack(bytes(struct.calcsize(head))))
        self.u32 = frozenset(u32_types)
        self.wanted = tuple(wanted)                        # attribute types whose value positions are returned
        self.by_len = {}

    def learn(self, length, attrs):
        """``attrs``: ``(alen, raw type)`` of each attribute of a ``length``-byte message, in order. The first
        layout of a length is kept: messages of that length with other attributes stay on the slow path."""
        if length in self.by_len:
            return
        fmt, size = [self.head], struct.calcsize(self.head)
        positions = dict.fromkeys(self.wanted)
        for k, (alen, atype) in enumerate(attrs):
            if alen < 4 or alen % 4:
                return
            kind = atype & _NLA_TYPE_MASK
            fmt.append('HHL' if alen == 8 and kind in self.u32 else 'HH%ds' % (alen - 4))
            size += alen
            if kind in positions and positions[kind] is None:
                positions[kind] = self.nhead + 3 * k + 2
        if size != length or len(self.by_len) > 32:
            return
        self.by_len[length] = (struct.Struct(''.join(fmt)), slice(self.nhead, None, 3), tuple(a[0] for a in attrs),
                               slice(self.nhead + 1, None, 3), tuple(a[1] for a in attrs),
                               tuple(positions[t] for t in self.wanted))


#: (nlmsg_type, nlmsg_flags) of each route change; the flags are those pyroute2 and ``ip route`` use.
_ACTIONS = {
    'add': (_RTM_NEWROUTE, _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_EXCL),
    'replace': (_RTM_NEWROUTE, _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_REPLACE),
    'delete': (_RTM_DELROUTE, _NLM_F_REQUEST | _NLM_F_ACK),
}
#: Requests written before their acknowledgements are read. The socket's receive buffer must hold every
#: acknowledgement of a chunk (the kernel drops what does not fit); see Kernel._chunk.
CHUNK = 1000
_ACK_TRUESIZE = 2048           # generous upper bound of the kernel's memory accounting per acknowledgement
_RCVBUF = 8 << 20
_SNDBUF = 1 << 20
_TIMEOUT = 60                  # seconds without any answer from the kernel before giving up


def _netlink_error(code):
    """The exception for a refused request (``code``: the errno; text ``[Errno 101] Network is unreachable``)."""
    return NetlinkError(code)


class BatchResult:
    """Outcome of ``Kernel.routes_apply``.

    ``done``: indexes of the requests the kernel acknowledged, in order. ``failed``: ``(index, NetlinkError)`` for
    each request the kernel refused. ``error``: an exception that stopped the batch outside any one request (the
    socket failed), else None; ``unknown`` then lists the indexes sent whose acknowledgement never came.
    Requests after a chunk with a failure are not sent: they are in none of the lists.
    """

    def __init__(self):
        self.done = []
        self.failed = []
        self.error = None
        self.unknown = []


def missing_pyroute2(python):
    """Why link and address changes cannot be made with ``python`` (pyroute2 not importable), or None."""
    return MISSING_PYROUTE2 % python if _pyroute2() is None else None


class Kernel:
    """Thin wrapper over one ``IPRoute`` socket (plus a plain netlink socket for routes). Use as a context manager."""

    def __init__(self):
        self._ipr = None
        self._nl = None
        self._seq = 0
        self._chunk = CHUNK

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._nl is not None:
            self._nl.close()
            self._nl = None
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    @property
    def ipr(self):
        """pyroute2's ``IPRoute`` socket, opened on first use (link and address changes only)."""
        if self._ipr is None:
            cls = _pyroute2()
            if cls is None:
                raise NetlinkError(errno.ENOPKG, MISSING_PYROUTE2 % sys.executable)
            self._ipr = cls()
        return self._ipr

    def _pyroute2_call(self, fn, *args, **kw):
        """Call pyroute2, turning its NetlinkError into ours (one exception type for every kernel refusal)."""
        try:
            return fn(*args, **kw)
        except OSError:
            raise
        except Exception as e:  # pyroute2's NetlinkError is not an OSError on every version
            code = getattr(e, 'code', None)
            if isinstance(code, int):
                raise NetlinkError(code)
            raise

    # ---- the plain netlink socket ---------------------------------------------------------------
    def _socket(self):
        if self._nl is None:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_ROUTE)
            try:
                for force, plain, size in ((_SO_RCVBUFFORCE, socket.SO_RCVBUF, _RCVBUF), (_SO_SNDBUFFORCE, socket.SO_SNDBUF, _SNDBUF)):
                    try:
                        s.setsockopt(socket.SOL_SOCKET, force, size)   # root (CAP_NET_ADMIN): above net.core.rmem_max
                    except OSError:
                        s.setsockopt(socket.SOL_SOCKET, plain, size)   # capped by net.core.rmem_max / wmem_max
                try:
                    s.setsockopt(_SOL_NETLINK, _NETLINK_CAP_ACK, 1)
                except OSError:
                    pass
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack('ll', _TIMEOUT, 0))
                s.bind((0, 0))
                rcvbuf = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
                sndbuf = s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
            except Exception:
                s.close()
                raise
            # Every acknowledgement of a chunk must fit in the receive buffer; every request in one write.
            self._chunk = max(1, min(CHUNK, rcvbuf // _ACK_TRUESIZE, (sndbuf - 4096) // 128))
            self._nl = s
        return self._nl

    def _next_seq(self):
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return self._seq

    # ---- reads (hand-decoded dumps: no pyroute2 needed) ---------------------------------------
    def _dump(self, mtype, body, want_type, decode):
        """Send one dump request; call ``decode(data, off, end)`` for each ``want_type`` message; return the list."""
        for attempt in range(3):
            out, interrupted = self._dump_once(mtype, body, want_type, decode)
            if not interrupted or attempt == 2:
                return out
        return out  # pragma: no cover

    def _dump_once(self, mtype, body, want_type, decode):
        s = self._socket()
        seq = self._next_seq()
        s.send(_HDR.pack(_HDR.size + len(body), mtype, _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0) + body)
        buf = bytearray(1 << 17)
        out = []
        interrupted = False
        while True:
            n, _anc, msg_flags, _addr = s.recvmsg_into([buf])
            if msg_flags & socket.MSG_TRUNC:
                raise _netlink_error(errno.EMSGSIZE)
            data = memoryview(buf)[:n]
            off = 0
            while off + 16 <= n:
                length, rtype, flags, mseq, _pid = _HDR.unpack_from(data, off)
                if length < 16 or off + length > n:
                    raise _netlink_error(errno.EIO)
                end = off + length
                if mseq == seq:
                    if flags & _NLM_F_DUMP_INTR:
                        interrupted = True
                    if rtype == _NLMSG_DONE:
                        return out, interrupted
                    if rtype == _NLMSG_ERROR:
                        code = _ERR.unpack_from(data, off + 16)[0]
                        if code < 0:
                            raise _netlink_error(-code)
                    elif rtype == want_type:
                        item = decode(data, off, end)
                        if item is not None:
                            out.append(item)
                off = (end + 3) & ~3

    @staticmethod
    def _attrs(data, a, end):
        """``{type: memoryview of the payload}`` of the attributes in ``data[a:end]``."""
        out = {}
        while a + 4 <= end:
            alen, atype = _ATTR.unpack_from(data, a)
            if alen < 4:
                break
            out[atype & _NLA_TYPE_MASK] = data[a + 4:a + alen]
            a += (alen + 3) & ~3
        return out

    @staticmethod
    def _str(value):
        return None if value is None else bytes(value).split(b'\0', 1)[0].decode('utf-8', 'replace')

    def _decode_link(self, data, off, end):
        _family, _ltype, index, flags, _change = _IFINFOMSG.unpack_from(data, off + 16)
        attrs = self._attrs(data, off + 16 + _IFINFOMSG.size, end)
        kind = None
        info = {}
        if _IFLA_LINKINFO in attrs:
            linkinfo = attrs[_IFLA_LINKINFO]
            info = self._attrs(linkinfo, 0, len(linkinfo))
            kind = self._str(info.get(_IFLA_INFO_KIND))
        mtu = attrs.get(_IFLA_MTU)
        master = attrs.get(_IFLA_MASTER)
        link = {
            'index': index,
            'name': self._str(attrs.get(_IFLA_IFNAME)),
            'kind': kind,
            'mtu': _U32.unpack_from(mtu)[0] if mtu is not None else None,
            'up': bool(flags & IFF_UP),
            'alias': self._str(attrs.get(_IFLA_IFALIAS)) or None,
            'master': _U32.unpack_from(master)[0] if master is not None else None,
        }
        if kind == 'vxlan':
            # Only VXLAN links carry these keys: what hostgw compares its own device by (and names a foreign one by).
            link['mac'] = ':'.join('%02x' % b for b in bytes(attrs.get(_IFLA_ADDRESS) or b''))
            link['vxlan'] = self._decode_vxlan(info.get(_IFLA_INFO_DATA))
        return link

    def _decode_vxlan(self, data):
        attrs = self._attrs(data, 0, len(data)) if data is not None else {}
        local = attrs.get(_IFLA_VXLAN_LOCAL)
        local6 = attrs.get(_IFLA_VXLAN_LOCAL6)
        u32 = dict((k, _U32.unpack_from(attrs[k])[0]) for k in (_IFLA_VXLAN_ID, _IFLA_VXLAN_LINK) if k in attrs)
        port = attrs.get(_IFLA_VXLAN_PORT)
        learning = attrs.get(_IFLA_VXLAN_LEARNING)
        return {
            'id': u32.get(_IFLA_VXLAN_ID),
            'link': u32.get(_IFLA_VXLAN_LINK),
            'local': socket.inet_ntop(socket.AF_INET, bytes(local)) if local is not None else (
                socket.inet_ntop(socket.AF_INET6, bytes(local6)) if local6 is not None else None),
            'port': struct.unpack('!H', bytes(port))[0] if port is not None else None,
            'learning': bool(bytes(learning)[0]) if learning is not None else None,
        }

    def _decode_addr(self, data, off, end):
        family, prefixlen, flags, scope, index = _IFADDRMSG.unpack_from(data, off + 16)
        if family not in _VERSION:
            return None
        attrs = self._attrs(data, off + 16 + _IFADDRMSG.size, end)
        raw = attrs.get(_IFA_LOCAL)
        if raw is None:
            raw = attrs.get(_IFA_ADDRESS)
        if raw is None:
            return None
        if _IFA_FLAGS in attrs:
            flags = _U32.unpack_from(attrs[_IFA_FLAGS])[0]
        return KAddr(index, _VERSION[family], socket.inet_ntop(family, bytes(raw)), prefixlen, scope, flags)

    def links(self):
        """Every link: dicts with ``index``, ``name``, ``kind``, ``mtu``, ``up``, ``alias``, ``master``."""
        return self._dump(_RTM_GETLINK, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), _RTM_NEWLINK, self._decode_link)

    def addrs(self):
        """Every IPv4/IPv6 address as ``KAddr`` (with its scope and IFA_F_* flags)."""
        return self._dump(_RTM_GETADDR, _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), _RTM_NEWADDR, self._decode_addr)

    def routes(self, families=(4, 6)):
        """Every route of the main table as ``KRoute`` (one hand-decoded dump per family)."""
        out = []
        for version in families:
            for attempt in range(3):
                routes, interrupted = self._dump_routes(_FAMILY[version])
                if not interrupted or attempt == 2:
                    break   # the table changed during the dump (NLM_F_DUMP_INTR): read it again
            out.extend(routes)
        return out

    def _dump_routes(self, family):
        """Main-table routes of one family; the same request pyroute2's ``get_routes(family, table=254)`` sends."""
        s = self._socket()
        seq = self._next_seq()
        s.send(_HDR_RTMSG.pack(_HDR_RTMSG.size, _RTM_GETROUTE, _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0,
                               family, 0, 0, 0, MAIN_TABLE, 0, _RT_SCOPE_UNIVERSE, _RTN_UNSPEC, 0))
        version = _VERSION[family]
        default = '0.0.0.0' if version == 4 else '::'
        ntop = socket.inet_ntop
        unpack_hdr = _HDR.unpack_from
        unpack_rtmsg = _RTMSG.unpack_from
        unpack_attr = _ATTR.unpack_from
        unpack_u32 = _U32.unpack_from
        layouts = _Layouts('=LHHLLBBBBBBBBL', (_RTA_OIF, _RTA_PRIORITY, _RTA_TABLE, _RTA_NH_ID),
                           (_RTA_DST, _RTA_GATEWAY, _RTA_OIF, _RTA_PRIORITY, _RTA_TABLE, _RTA_NH_ID))
        by_len = layouts.by_len
        new_tuple = tuple.__new__      # a KRoute without the Python-level __new__ of namedtuple
        buf = bytearray(1 << 17)
        out = []
        interrupted = False
        while True:
            n, _anc, msg_flags, _addr = s.recvmsg_into([buf])
            if msg_flags & socket.MSG_TRUNC:
                raise _netlink_error(errno.EMSGSIZE)
            data = memoryview(buf)[:n]
            off = 0
            while off + 16 <= n:
                length, mtype, flags, mseq, _pid = unpack_hdr(data, off)
                if length < 16 or off + length > n:
                    raise _netlink_error(errno.EIO)
                end = off + length
                if mseq != seq:
                    off = (end + 3) & ~3
                    continue
                if flags & _NLM_F_DUMP_INTR:
                    interrupted = True
                if mtype == _NLMSG_DONE:
                    code = _ERR.unpack_from(data, off + 16)[0] if length >= 20 else 0
                    if code < 0:
                        raise _netlink_error(-code)
                    return out, interrupted
                if mtype == _NLMSG_ERROR:
                    code = _ERR.unpack_from(data, off + 16)[0]
                    if code < 0:
                        raise _netlink_error(-code)
                elif mtype == _RTM_NEWROUTE and length >= 28:
                    lay = by_len.get(length)
                    fast = None
                    if lay is not None:
                        vals = lay[0].unpack_from(data, off)
                        if vals[lay[1]] == lay[2] and vals[lay[3]] == lay[4]:
                            fast = lay[5]
                    if fast is not None:
                        p_dst, p_gw, p_oif, p_prio, p_table, p_nhid = fast
                        rfamily, dst_len, table, proto, rtype = vals[5], vals[6], vals[9], vals[10], vals[12]
                        dst = ntop(family, vals[p_dst]) if p_dst else None
                        gateway = ntop(family, vals[p_gw]) if p_gw else None
                        oif = vals[p_oif] if p_oif else None
                        prio = vals[p_prio] if p_prio else None
                        rtable = vals[p_table] if p_table else None
                        nhid = vals[p_nhid] if p_nhid else None
                    else:
                        rfamily, dst_len, _src_len, _tos, table, proto, _scope, rtype, _rflags = unpack_rtmsg(data, off + 16)
                        dst = gateway = oif = prio = rtable = nhid = None
                        seen = []
                        a = off + 28
                        while a + 4 <= end:
                            alen, atype = unpack_attr(data, a)
                            if alen < 4:
                                break
                            seen.append((alen, atype))
                            atype &= _NLA_TYPE_MASK
                            if atype == _RTA_DST:
                                dst = ntop(family, data[a + 4:a + alen])
                            elif atype == _RTA_GATEWAY:
                                gateway = ntop(family, data[a + 4:a + alen])
                            elif atype == _RTA_OIF:
                                oif = unpack_u32(data, a + 4)[0]
                            elif atype == _RTA_PRIORITY:
                                prio = unpack_u32(data, a + 4)[0]
                            elif atype == _RTA_TABLE:
                                rtable = unpack_u32(data, a + 4)[0]
                            elif atype == _RTA_NH_ID:
                                nhid = unpack_u32(data, a + 4)[0]
                            a += (alen + 3) & ~3
                        layouts.learn(length, seen)
                    if rfamily == family and (rtable or table) == MAIN_TABLE:
                        out.append(new_tuple(KRoute, (version, '%s/%d' % (dst or default, dst_len), gateway, oif,
                                                      proto, prio if prio is not None else 0, rtype, nhid)))
                off = (end + 3) & ~3

    # ---- route writes ------------------------------------------------------------------------
    @staticmethod
    def _encode(action, r, oif, proto, seq, nhid=None):
        """One request, byte for byte what pyroute2's ``route(action, family=, dst=, gateway=, oif=, proto=,
        priority=, table=254)`` sends; a deletion matches the route in any scope (as ``ip route del`` does).
        With ``nhid`` (or, for a deletion, a route read with one) the route goes through that kernel next-hop
        object: ``RTA_NH_ID`` takes the place of the gateway and the link."""
        family = _FAMILY[r.family]
        mtype, flags = _ACTIONS[action]
        if action == 'delete':
            oif, proto, scope, rtype = r.oif, r.proto, _RT_SCOPE_NOWHERE, _RTN_UNSPEC
            nhid = getattr(r, 'nhid', None)
        else:
            scope, rtype = _RT_SCOPE_UNIVERSE, _RTN_UNICAST
        rflags = 0
        if action != 'delete' and getattr(r, 'oif', None):
            # A route through the VXLAN device: its own link, and onlink (the peer's VTEP address is no address of
            # any network on the device); through a next-hop object the object carries both.
            oif, rflags = r.oif, (_RTNH_F_ONLINK if r.onlink and not nhid else 0)
        dst, plen = r.dest.split('/')
        addr = socket.inet_pton(family, dst)
        attrs = [_ATTR.pack(4 + len(addr), _RTA_DST), addr]
        if nhid:
            attrs.append(_ATTR_U32.pack(8, _RTA_NH_ID, nhid))
        else:
            if r.via:
                gw = socket.inet_pton(family, r.via)
                attrs += [_ATTR.pack(4 + len(gw), _RTA_GATEWAY), gw]
            if oif:
                attrs.append(_ATTR_U32.pack(8, _RTA_OIF, oif))
        attrs.append(_ATTR_U32.pack(8, _RTA_PRIORITY, r.metric or 0))
        attrs.append(_ATTR_U32.pack(8, _RTA_TABLE, MAIN_TABLE))
        body = b''.join(attrs)
        return _HDR_RTMSG.pack(_HDR_RTMSG.size + len(body), mtype, flags, seq, 0,
                               family, int(plen), 0, 0, MAIN_TABLE, proto, scope, rtype, rflags) + body

    @staticmethod
    def _encode_nexthop(action, n, seq):
        """``RTM_NEWNEXTHOP`` (create, never replace) or ``RTM_DELNEXTHOP`` for one next-hop object."""
        family = _FAMILY[n.family]
        if action == 'delete':
            body = _ATTR_U32.pack(8, _NHA_ID, n.id)
            return _HDR.pack(16 + _NHMSG.size + len(body), _RTM_DELNEXTHOP, _NLM_F_REQUEST | _NLM_F_ACK, seq, 0) + \
                _NHMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + body
        gw = socket.inet_pton(family, n.via)
        body = b''.join((_ATTR_U32.pack(8, _NHA_ID, n.id), _ATTR.pack(4 + len(gw), _NHA_GATEWAY), gw,
                         _ATTR_U32.pack(8, _NHA_OIF, n.oif)))
        flags = _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_EXCL
        return _HDR.pack(16 + _NHMSG.size + len(body), _RTM_NEWNEXTHOP, flags, seq, 0) + \
            _NHMSG.pack(family, 0, n.proto, 0, _RTNH_F_ONLINK if getattr(n, 'onlink', False) else 0) + body

    def nexthops(self):
        """Every kernel next-hop object as ``KNexthop``, or None when the kernel has none (before Linux 5.3)."""
        layouts = _Layouts('=LHHLLBBBBI', (_NHA_ID, _NHA_OIF), (_NHA_ID, _NHA_GATEWAY, _NHA_OIF, _NHA_GROUP, _NHA_BLACKHOLE))
        ntop = socket.inet_ntop

        by_len = layouts.by_len
        new_tuple = tuple.__new__

        def decode(data, off, end):
            lay = by_len.get(end - off)
            if lay is not None:
                vals = lay[0].unpack_from(data, off)
                if vals[lay[1]] == lay[2] and vals[lay[3]] == lay[4]:
                    p_id, p_gw, p_oif, p_group, p_blackhole = lay[5]
                    family = vals[5]
                    if not p_id:
                        return None
                    return new_tuple(KNexthop, (vals[p_id], _VERSION.get(family),
                                                ntop(family, vals[p_gw]) if p_gw and family in _VERSION else None,
                                                vals[p_oif] if p_oif else None, vals[7], bool(p_group or p_blackhole),
                                                bool(vals[9] & _RTNH_F_ONLINK)))
            return self._decode_nexthop(data, off, end, layouts)

        try:
            return self._dump(_RTM_GETNEXTHOP, _NHMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), _RTM_NEWNEXTHOP, decode)
        except NetlinkError as e:
            if e.code in (errno.EOPNOTSUPP, errno.EINVAL, errno.EAFNOSUPPORT, errno.ENOENT):
                return None
            raise

    def _decode_nexthop(self, data, off, end, layouts=None):
        family, _scope, proto, _res, nh_flags = _NHMSG.unpack_from(data, off + 16)
        attrs = self._attrs(data, off + 16 + _NHMSG.size, end)
        if layouts is not None:
            seen, a = [], off + 16 + _NHMSG.size
            while a + 4 <= end:
                alen, atype = _ATTR.unpack_from(data, a)
                if alen < 4:
                    break
                seen.append((alen, atype))
                a += (alen + 3) & ~3
            layouts.learn(end - off, seen)
        if _NHA_ID not in attrs:
            return None
        gw = attrs.get(_NHA_GATEWAY)
        oif = attrs.get(_NHA_OIF)
        return KNexthop(_U32.unpack_from(attrs[_NHA_ID])[0], _VERSION.get(family),
                        socket.inet_ntop(family, bytes(gw)) if gw is not None and family in _VERSION else None,
                        _U32.unpack_from(oif)[0] if oif is not None else None, proto,
                        _NHA_GROUP in attrs or _NHA_BLACKHOLE in attrs, bool(nh_flags & _RTNH_F_ONLINK))

    def nexthops_apply(self, ops):
        """Create or delete next-hop objects: ``('add'|'delete', KNexthop)`` pairs; a ``BatchResult``."""
        return self._apply(ops, lambda op, seq: self._encode_nexthop(op[0], op[1], seq))

    def routes_apply(self, ops, oif=None, proto=None):
        """Apply route changes in order, many requests per write; return a ``BatchResult``.

        ``ops``: ``(action, route)`` pairs, ``('add'|'replace', WRoute)`` installed via link ``oif`` with route
        protocol ``proto``, or ``('delete', KRoute)`` (matched by destination, metric, protocol, next hop and link);
        an add or replace may carry a third item, the next-hop object id the route goes through.
        Requests go out in chunks; the kernel handles them one by one, in order, and acknowledges each. Every
        acknowledgement is read and matched to its request, so ``done`` and ``failed`` say exactly which changes
        were made and which were refused (with the kernel's errno). After a chunk with a refusal nothing more is sent.
        """
        encode = self._encode
        return self._apply(ops, lambda op, seq: encode(op[0], op[1], oif, proto, seq, op[2] if len(op) > 2 else None))

    def _apply(self, ops, encode):
        result = BatchResult()
        if not ops:
            return result
        try:
            s = self._socket()
        except OSError as e:
            result.error = e
            return result
        chunk = self._chunk
        for start in range(0, len(ops), chunk):
            pending = {}
            msgs = []
            for i in range(start, min(start + chunk, len(ops))):
                seq = self._next_seq()
                msgs.append(encode(ops[i], seq))
                pending[seq] = i
            try:
                s.send(b''.join(msgs))
            except OSError as e:   # nothing of this chunk reached the kernel
                result.error = e
                break
            outcome = {}
            try:
                self._read_acks(s, pending, outcome)
            except OSError as e:   # an acknowledgement was lost: the outcome of those requests is unknown
                result.error = e
            for seq in sorted(pending, key=pending.get):
                i = pending[seq]
                if seq not in outcome:
                    result.unknown.append(i)
                elif outcome[seq]:
                    result.failed.append((i, _netlink_error(outcome[seq])))
                else:
                    result.done.append(i)
            if result.failed or result.error is not None:
                break
        return result

    @staticmethod
    def _read_acks(s, pending, outcome):
        """Read acknowledgements until every request in ``pending`` (seq -> index) has one: ``outcome[seq] = errno``."""
        buf = bytearray(1 << 16)
        unpack_hdr = _HDR.unpack_from
        unpack_err = _ERR.unpack_from
        while len(outcome) < len(pending):
            n = s.recv_into(buf, len(buf))
            off = 0
            while off + 16 <= n:
                length, mtype, _flags, seq, _pid = unpack_hdr(buf, off)
                if length < 16 or off + length > n:
                    raise _netlink_error(errno.EIO)
                if mtype == _NLMSG_ERROR and seq in pending and length >= 20:
                    outcome[seq] = -unpack_err(buf, off + 16)[0]
                off = (off + length + 3) & ~3

    # ---- FDB and neighbor entries (the VXLAN device's) -----------------------------------------
    @staticmethod
    def _mac_bytes(mac):
        return bytes(int(x, 16) for x in mac.split(':'))

    def fdb(self):
        """Every FDB entry of every link as ``_vxlan.KFdb`` (``dst``: the remote IP of a VXLAN entry, else None)."""
        def decode(data, off, end):
            family, index, state, _flags, _type = _NDMSG.unpack_from(data, off + 16)
            if family != _AF_BRIDGE:
                return None
            attrs = self._attrs(data, off + 16 + _NDMSG.size, end)
            mac = attrs.get(_NDA_LLADDR)
            dst = attrs.get(_NDA_DST)
            if mac is None or len(mac) != 6:
                return None
            dst_text = None
            if dst is not None and len(dst) in (4, 16):
                dst_text = socket.inet_ntop(socket.AF_INET if len(dst) == 4 else socket.AF_INET6, bytes(dst))
            return KFdb(index, ':'.join('%02x' % b for b in bytes(mac)), dst_text, state)
        return self._dump(_RTM_GETNEIGH, _NDMSG.pack(_AF_BRIDGE, 0, 0, 0, 0), _RTM_NEWNEIGH, decode)

    def neighbors(self, families=(4, 6)):
        """Every IPv4/IPv6 neighbor entry with a link-layer address as ``_vxlan.KNeigh``."""
        def decode(data, off, end):
            family, index, state, _flags, _type = _NDMSG.unpack_from(data, off + 16)
            if family not in _VERSION:
                return None
            attrs = self._attrs(data, off + 16 + _NDMSG.size, end)
            mac = attrs.get(_NDA_LLADDR)
            dst = attrs.get(_NDA_DST)
            if dst is None or mac is None or len(mac) != 6:
                return None
            return KNeigh(index, _VERSION[family], socket.inet_ntop(family, bytes(dst)),
                          ':'.join('%02x' % b for b in bytes(mac)), state)
        out = []
        for version in families:
            out.extend(self._dump(_RTM_GETNEIGH, _NDMSG.pack(_FAMILY[version], 0, 0, 0, 0), _RTM_NEWNEIGH, decode))
        return out

    @classmethod
    def _encode_neigh(cls, action, e, seq):
        """``bridge fdb replace|del <mac> dev X dst <ip> self permanent`` (a ``KFdb``) or ``ip neigh replace|del
        <ip> lladdr <mac> dev X nud permanent`` (a ``KNeigh``), as one request."""
        if isinstance(e, KFdb):
            family, flags, dst = _AF_BRIDGE, _NTF_SELF, e.dst
        else:
            family, flags, dst = _FAMILY[e.family], 0, e.dst
        ip = socket.inet_pton(socket.AF_INET6 if ':' in dst else socket.AF_INET, dst)
        mac = cls._mac_bytes(e.mac)
        body = b''.join((_ATTR.pack(4 + len(ip), _NDA_DST), ip, _ATTR.pack(10, _NDA_LLADDR), mac, b'\0\0'))
        if action == 'delete':
            mtype, nlflags = _RTM_DELNEIGH, _NLM_F_REQUEST | _NLM_F_ACK
        else:
            mtype, nlflags = _RTM_NEWNEIGH, _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_REPLACE
        return _HDR.pack(16 + _NDMSG.size + len(body), mtype, nlflags, seq, 0) + \
            _NDMSG.pack(family, e.index, NUD_PERMANENT, flags, 0) + body

    def neigh_apply(self, ops):
        """Put (create or replace) or delete FDB and neighbor entries: ``('put'|'delete', KFdb|KNeigh)``; a
        ``BatchResult``. One request each, acknowledged one by one (as ``routes_apply``)."""
        return self._apply(ops, lambda op, seq: self._encode_neigh(op[0], op[1], seq))

    def vxlan_create(self, spec, alias):
        """Create the VXLAN device of ``_vxlan.device_spec`` (up, ``nolearning``, with its MAC, MTU and ``alias``) in
        one request (never replacing a link of the name); returns its index."""
        local = socket.inet_pton(socket.AF_INET6 if ':' in spec['local'] else socket.AF_INET, spec['local'])
        data = b''.join((
            _ATTR_U32.pack(8, _IFLA_VXLAN_ID, spec['vni']),
            _ATTR_U32.pack(8, _IFLA_VXLAN_LINK, spec['link']),
            _ATTR.pack(4 + len(local), _IFLA_VXLAN_LOCAL6 if len(local) == 16 else _IFLA_VXLAN_LOCAL), local,
            _ATTR.pack(5, _IFLA_VXLAN_LEARNING), b'\0\0\0\0',
            _ATTR.pack(6, _IFLA_VXLAN_PORT), struct.pack('!H', spec['port']), b'\0\0'))
        kind = b'vxlan\0\0\0'
        info = _ATTR.pack(4 + 6, _IFLA_INFO_KIND) + kind + _ATTR.pack(4 + len(data), _IFLA_INFO_DATA) + data
        name = spec['name'].encode() + b'\0'
        alias_b = alias.encode() + b'\0'
        mac = self._mac_bytes(spec['mac'])

        def attr(atype, payload):
            return _ATTR.pack(4 + len(payload), atype) + payload + b'\0' * (-len(payload) % 4)
        body = b''.join((attr(_IFLA_IFNAME, name), attr(_IFLA_ADDRESS, mac), attr(_IFLA_LINKINFO, info)))
        if spec.get('mtu'):
            body += _ATTR_U32.pack(8, _IFLA_MTU, spec['mtu'])
        flags = _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_EXCL

        def encode(_op, seq):
            return _HDR.pack(16 + _IFINFOMSG.size + len(body), _RTM_NEWLINK, flags, seq, 0) + \
                _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP) + body
        self._one(encode)
        index = next(x['index'] for x in self.links() if x['name'] == spec['name'])
        # The kernel takes an ifalias only when a link is changed, not when it is made: set it at once.
        alias_attr = attr(_IFLA_IFALIAS, alias_b)
        alias_msg = b''.join((_IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0), alias_attr))
        try:
            self._one(lambda _op, seq: b''.join((_HDR.pack(16 + len(alias_msg), _RTM_NEWLINK, _NLM_F_REQUEST | _NLM_F_ACK,
                                                           seq, 0), alias_msg)))
        except OSError:
            # Unmarked, the device would be foreign to hostgw from now on: it goes again, and the refusal is reported.
            self.link_del(index)
            raise
        return index

    def _one(self, encode):
        """Send one request and raise the kernel's refusal, if any."""
        res = self._apply([None], encode)
        if res.failed:
            raise res.failed[0][1]
        if res.error is not None:
            raise res.error

    # ---- link and address writes -------------------------------------------------------------
    def bridge_create(self, name):
        self._pyroute2_call(self.ipr.link, 'add', ifname=name, kind='bridge')
        return self._pyroute2_call(self.ipr.link_lookup, ifname=name)[0]

    def link_set(self, index, **kw):
        self._pyroute2_call(self.ipr.link, 'set', index=index, **kw)

    def link_del(self, index):
        self._pyroute2_call(self.ipr.link, 'del', index=index)

    def addr_add(self, index, cidr):
        ip, plen = cidr.split('/')
        kw = {}
        if ':' in ip:
            kw['flags'] = IFA_F_NODAD
        elif int(plen) < 31:
            # Like the CNI bridge plugin (and `ip addr add ... brd +`): set the subnet's broadcast.
            kw['broadcast'] = str(ipaddress.ip_interface(cidr).network.broadcast_address)
        self._pyroute2_call(self.ipr.addr, 'add', index=index, address=ip, prefixlen=int(plen), **kw)

    def host_addr_add(self, index, cidr):
        """Add a host address (``/32``, ``/128``: a VTEP address) in one netlink request of our own, without pyroute2
        (whose import alone costs about 0.1 s, most of what adding 1,000 encapsulated peers costs otherwise)."""
        ip, plen = cidr.split('/')
        family = socket.AF_INET6 if ':' in ip else socket.AF_INET
        raw = socket.inet_pton(family, ip)
        attrs = _ATTR.pack(4 + len(raw), _IFA_LOCAL) + raw + _ATTR.pack(4 + len(raw), _IFA_ADDRESS) + raw
        if family == socket.AF_INET6:
            attrs += _ATTR_U32.pack(8, _IFA_FLAGS, IFA_F_NODAD)
        flags = _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_EXCL
        msg = b''.join((_IFADDRMSG.pack(family, int(plen), 0, 0, index), attrs))
        self._one(lambda _op, seq: b''.join((_HDR.pack(16 + len(msg), _RTM_NEWADDR, flags, seq, 0), msg)))

    def addr_del(self, index, cidr):
        ip, plen = cidr.split('/')
        self._pyroute2_call(self.ipr.addr, 'del', index=index, address=ip, prefixlen=int(plen))
