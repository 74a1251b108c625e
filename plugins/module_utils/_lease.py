# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ring leases: what each node writes to ``lease.json`` and how the planner reads the records back. Pure, no I/O.

A lease holds the node's own subnets and a bounded set of peer records: the node's ``k`` successors on the ring
of member names (sorted; the last name's successor is the first). So every member is recorded by its ``k``
predecessors, a lease has a constant size whatever the mesh size, and the lease data of the mesh is O(N*k).
A node that lost its state keeps its subnet as long as one of its ``k`` recorders still holds its lease.

Leases written before ring leases carry a ``mesh`` with a record of every member; they are read the same way
(a record is a record), and the next run writes ring leases: migration needs nothing.
"""

from __future__ import annotations

import bisect

__metaclass__ = type  # pylint: disable=invalid-name

#: Default number of peers each lease records (``lease_peers``).
DEFAULT_PEERS = 3
MAX_PEERS = 64
#: Where peer records live: ring leases (``peers``) and the full-mesh leases before them (``mesh``).
RECORD_KEYS = ('peers', 'mesh')
COMMENT = 'hostgw lease of %s; managed by Ansible (hostgw.network.hostgw), do not edit'


def successors(names, k):
    """``{name: [its k successors on the ring of sorted names]}`` (fewer when the ring is smaller)."""
    ring = sorted(names)
    n = len(ring)
    k = min(k, n - 1) if n else 0
    out = {}
    for i, name in enumerate(ring):
        out[name] = [ring[(i + j) % n] for j in range(1, k + 1)]
    return out


def _record(h):
    return {'subnet': h.get('subnet'), 'subnet6': h.get('subnet6'), 'node_ip': h.get('node_ip')}


def lease_of(plan, name, ring=None):
    """The exact content of ``name``'s ``lease.json`` under ``plan`` (a dict).

    Keys: ``comment``, ``host``, ``network``, ``subnet``, ``network6``, ``subnet6`` and ``peers``: the ring
    successors' ``{subnet, subnet6, node_ip}`` (``plan['lease_peers']`` of them). Built on the node from the plan it
    already receives, so the controller never carries one lease document per host. ``ring``: the sorted member names,
    when the caller builds many leases. Raises ``KeyError`` for a host the plan does not hold.
    """
    hosts = plan['hosts']
    h = hosts[name]
    if ring is None:
        ring = sorted(hosts)
    k = plan.get('lease_peers') or DEFAULT_PEERS
    n = len(ring)
    k = min(k, n - 1)
    i = bisect.bisect_left(ring, name)
    peers = [ring[(i + j) % n] for j in range(1, k + 1)]
    return {
        'comment': COMMENT % name,
        'host': name,
        'network': plan['network'],
        'subnet': h['subnet'],
        'network6': plan.get('network6'),
        'subnet6': h.get('subnet6'),
        'peers': dict((p, _record(hosts[p])) for p in peers),
    }


def leases(plan):
    """``{name: lease_of(plan, name)}`` for every host of the plan (tests and benchmarks; a node builds only its own)."""
    ring = sorted(plan['hosts'])
    return dict((name, lease_of(plan, name, ring)) for name in ring)


def lease_text(lease):
    """``lease.json``'s text: the bytes ``to_nice_json(indent=2)`` gave before leases were built on the node (so a
    mesh converged by an earlier release re-runs with nothing changed), and a newline."""
    import json  # pylint: disable=import-outside-toplevel
    return json.dumps(lease, indent=2, sort_keys=True, separators=(',', ': ')) + '\n'


def peer_records(lease):
    """The peer records of a lease (``peers`` of a ring lease, ``mesh`` of a full-mesh one; both if present).

    Returns ``(records, error)``: a list of ``{peer: record}`` dicts, and a message when one is not a dict.
    """
    out = []
    for key in RECORD_KEYS:
        recs = lease.get(key)
        if recs is None or recs == {}:
            continue
        if not isinstance(recs, dict):
            return out, key
        out.append(recs)
    return out, None


def gather_records(leases, need4, need6, lease_var='hostgw_lease'):
    """What the holders recorded for the hosts in ``need4``/``need6``: ``{host: ({subnet4: None}, {subnet6: None})}``.

    ``leases``: ``{holder: lease dict or None}``. Dicts act as ordered sets (several holders usually record the
    same subnet: it is kept once). Cost: the smaller of (records per lease, needy hosts) per holder.
    Returns ``(records, errors)``; ``errors`` names the holder whose records are not a dict.
    """
    needy = need4 | need6
    records = dict((name, ({}, {})) for name in needy)
    errors = []
    for holder, lease in leases.items():
        if not lease:
            continue
        recs_list, bad = peer_records(lease)
        if bad is not None:
            errors.append('host %s: %s.%s must be a dict of host: {subnet, subnet6}' % (holder, lease_var, bad))
        if not needy:
            continue
        for recs in recs_list:
            if len(recs) <= len(needy):
                pairs = [(peer, rec) for peer, rec in recs.items() if peer in needy]
            else:
                pairs = [(peer, recs[peer]) for peer in needy if peer in recs]
            for peer, rec in pairs:
                if peer == holder or not isinstance(rec, dict):
                    continue
                if peer in need4 and rec.get('subnet'):
                    records[peer][0][rec['subnet']] = None
                if peer in need6 and rec.get('subnet6'):
                    records[peer][1][rec['subnet6']] = None
    return records, errors


# --- The member table: every member's subnets and node IPs, on every node ----------------------------------------
#
# ``members.json`` beside the lease: what the node's last run planned for the whole mesh (tens of bytes a member),
# built on the node from the routes it was given. A full run never reads it (each host's own constant-size lease
# is enough); a run that covers only part of the group (--limit, serial, a job slice) reads the tables of the
# hosts in it, so hosts outside the run keep their subnets.

MEMBERS_FILE = 'members.json'
MEMBERS_COMMENT = 'hostgw member table of %s; managed by Ansible (hostgw.network.hostgw), do not edit'
#: Positions in a member row: [subnet, node IP, subnet6, node IP6] (the IPv6 pair only in dual-stack meshes).
ROW = ('subnet', 'node_ip', 'subnet6', 'node_ip6')


def members_table(host, group, hosts):
    """The member table of ``host`` from the plan's ``hosts`` (``{name: {subnet, node_ip, subnet6, node_ip6, ...}}``).

    Returns ``{comment, host, group, members: {name: [subnet, node_ip(, subnet6, node_ip6)]}}``."""
    members = {}
    for name in sorted(hosts or {}):
        h = hosts[name]
        if not isinstance(name, str) or not isinstance(h, dict) or not isinstance(h.get('subnet'), str):
            continue
        row = [h.get('subnet'), h.get('node_ip')]
        if h.get('subnet6') is not None:
            row += [h.get('subnet6'), h.get('node_ip6')]
        members[name] = row
    return {'comment': MEMBERS_COMMENT % host, 'host': host, 'group': group, 'members': members}


def members_text(table):
    """``members.json``'s text: one member a line (diffs name the member that changed), sorted, newline at the end."""
    import json  # pylint: disable=import-outside-toplevel
    head = dict((k, v) for k, v in table.items() if k != 'members')
    lines = ['{']
    for key in sorted(head):
        lines.append('  %s: %s,' % (json.dumps(key), json.dumps(head[key])))
    rows = table.get('members') or {}
    lines.append('  "members": {')
    names = sorted(rows)
    for i, name in enumerate(names):
        lines.append('    %s: %s%s' % (json.dumps(name), json.dumps(rows[name]), ',' if i < len(names) - 1 else ''))
    lines.append('  }')
    lines.append('}')
    return '\n'.join(lines) + '\n'


def table_rows(table):
    """``{name: {subnet, node_ip, subnet6, node_ip6}}`` of a member table (rows that are not lists are skipped), or
    ``None`` when ``table`` is not a member table."""
    if not isinstance(table, dict) or not isinstance(table.get('members'), dict):
        return None
    out = {}
    for name, row in table['members'].items():
        if isinstance(row, (list, tuple)):
            out[name] = dict(zip(ROW, row))
    return out


class LeaseError(Exception):
    """A plan the node cannot build its files from (not a plan, or the node is not in it)."""


def mesh_files(plan, host, lease_path=None, members_path=None):
    """The files ``hostgw_files`` writes from the plan for ``host``: its lease and its member table (``{path,
    content, mode}`` each, mode 0600), for the paths given."""
    if not isinstance(plan, dict) or not isinstance(plan.get('hosts'), dict) or not isinstance(plan.get('network'), str):
        raise LeaseError('mesh.plan is not a plan of hostgw.network.hostgw_subnet (it needs network and hosts)')
    if host not in plan['hosts']:
        raise LeaseError('mesh.host %s is not a host of the plan (%d hosts, group %s)'
                         % (host, len(plan['hosts']), plan.get('group')))
    out = []
    if lease_path:
        out.append(dict(path=lease_path, content=lease_text(lease_of(plan, host)), mode='0600'))
    if members_path:
        table = members_table(host, plan.get('group') or 'hostgw_nodes', plan['hosts'])
        out.append(dict(path=members_path, content=members_text(table), mode='0600'))
    return out
