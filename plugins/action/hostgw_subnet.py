# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``hostgw.network.hostgw_subnet``: read inventory, plan, return facts. No host is contacted."""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.hostgw.network.plugins.module_utils._plan import Member, PlanError, Pool, plan_mesh

__metaclass__ = type  # pylint: disable=invalid-name

ARGUMENT_SPEC = dict(
    network=dict(type='str', required=True),
    subnet_len=dict(type='int'),
    subnet_min=dict(type='str'),
    subnet_max=dict(type='str'),
    network6=dict(type='str'),
    subnet_len6=dict(type='int'),
    subnet_min6=dict(type='str'),
    subnet_max6=dict(type='str'),
    group=dict(type='str', default='hostgw_nodes'),
    lease_var=dict(type='str', default='hostgw_lease'),
    unknown_leases=dict(type='str', choices=['fail', 'new'], default='fail'),
)


def _get(hv, key, default=None):
    try:
        value = hv.get(key, default)
    except Exception:  # pylint: disable=broad-except  # an undefined/broken template counts as not set
        return default
    return default if value is None else value


def _ip_or_none(value, version=None):
    """``value`` as an IP address of ``version`` (any when None), or None (a DNS name, another family)."""
    if not isinstance(value, str):
        return None
    try:
        addr = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if version is not None and addr.version != version:
        return None
    return str(addr)


def _same_subnet(a, b):
    if a == b:
        return True
    try:
        return ipaddress.ip_network(a, strict=False) == ipaddress.ip_network(b, strict=False)
    except (TypeError, ValueError):
        return a == b


def _fact_address(hv, key):
    fact = _get(hv, key) or {}
    if not fact:
        facts = _get(hv, 'ansible_facts') or {}
        fact = facts.get(key.replace('ansible_', '', 1)) or {}
    return fact.get('address') if isinstance(fact, dict) else None


def _host_fact(hv, key):
    """The same default address as read by hostgw_facts (no fact gathering needed)."""
    host = _get(hv, 'hostgw_host') or {}
    return host.get(key) if isinstance(host, dict) else None


def _text(value):
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value)
    return value  # let the planner reject it with the host named


def _lease_check(pool):
    """A function telling whether a lease's subnet stands on its own (the planner would take it as is).

    ``pool``: the planner's ``Pool`` of the family, ``None`` when the family is not planned (then records are
    never needed), or ``False`` when not known (then any non-blank lease counts).
    """
    if pool is None:
        return lambda subnet: True

    def usable(subnet):
        if not isinstance(subnet, str) or not subnet.strip():
            return False
        if pool is False:
            return True
        try:
            pool.index_of(subnet)
        except ValueError:
            return False
        return True
    return usable


def _pool(network, subnet_len, subnet_min, subnet_max, version):
    if version == 6 and not network:
        return None
    try:
        return Pool(network, subnet_len, subnet_min, subnet_max, version, 'network6' if version == 6 else 'network')
    except PlanError:
        return False   # plan_mesh reports it


def collect_members(group_hosts, hostvars, play_hosts, lease_var, pools=(False, False)):
    """Turn inventory (hostvars) into planner ``Member`` objects. Returns (members, errors).

    Peer records (the ``mesh`` of other hosts' leases) are gathered only for the hosts that need them: not
    pinned, and without a lease the planner would take as is. ``pools`` is the planner's ``(Pool, Pool6)``
    (``None`` for a family not planned, ``False`` when unknown: any non-blank lease then counts as usable).
    Every host keeps a copy of the whole mesh, so reading every copy costs N*N; this way a settled mesh
    costs N, and K hosts without state cost N*K.
    """
    errors = []
    members = []
    leases = {}
    missing = [name for name in group_hosts if name not in hostvars]
    if missing:
        return [], ['host%s %s of the group %s no hostvars' % ('s' if len(missing) > 1 else '', ', '.join(missing),
                                                               'have' if len(missing) > 1 else 'has')]
    usable4 = _lease_check(pools[0])
    usable6 = _lease_check(pools[1])
    need4 = set()
    need6 = set()
    pins = {}
    for name in group_hosts:
        hv = hostvars[name]
        lease = _get(hv, lease_var, None)
        if lease is not None and not isinstance(lease, dict):
            errors.append('host %s: %s must be a dict (subnet, subnet6, mesh), got %r' % (name, lease_var, lease))
            lease = None
        leases[name] = lease
        pins[name] = (_get(hv, 'hostgw_subnet'), _get(hv, 'hostgw_subnet6'))
        if _is_unset(pins[name][0]) and not usable4((lease or {}).get('subnet')):
            need4.add(name)
        if _is_unset(pins[name][1]) and not usable6((lease or {}).get('subnet6')):
            need6.add(name)
    needy = need4 | need6
    records = dict((name, ({}, {})) for name in needy)
    for holder in group_hosts:
        mesh = (leases[holder] or {}).get('mesh') or {}
        if not isinstance(mesh, dict):
            errors.append('host %s: %s.mesh must be a dict of host: {subnet, subnet6}' % (holder, lease_var))
            continue
        if not needy or not mesh:
            continue
        if len(mesh) <= len(needy):
            pairs = [(peer, rec) for peer, rec in mesh.items() if peer in needy]
        else:
            pairs = [(peer, mesh[peer]) for peer in needy if peer in mesh]
        for peer, rec in pairs:
            if peer == holder or not isinstance(rec, dict):
                continue
            # Dicts as ordered sets: N holders usually record the same subnet, keep it once.
            if peer in need4 and rec.get('subnet'):
                records[peer][0][rec['subnet']] = None
            if peer in need6 and rec.get('subnet6'):
                records[peer][1][rec['subnet6']] = None
    play_hosts = set(play_hosts)
    for name in group_hosts:
        hv = hostvars[name]
        node_ip = _get(hv, 'hostgw_node_ip')
        if not node_ip:
            # An IPv6 ansible_host says nothing about the IPv4 node IP: fall through to the fact.
            node_ip = (_ip_or_none(_get(hv, 'ansible_host'), 4) or _fact_address(hv, 'ansible_default_ipv4')
                       or _host_fact(hv, 'default_ipv4'))
        node_ip6 = _get(hv, 'hostgw_node_ip6') or _fact_address(hv, 'ansible_default_ipv6') or _host_fact(hv, 'default_ipv6')
        lease = leases[name]
        rec4, rec6 = (list(r) for r in records.get(name, ({}, {})))
        members.append(Member(
            name,
            node_ip=_text(node_ip),
            node_ip6=_text(node_ip6),
            pin=_text(pins[name][0]),
            pin6=_text(pins[name][1]),
            lease=None if lease is None else (lease.get('subnet') or ''),
            lease6=None if lease is None else (lease.get('subnet6') or ''),
            record=rec4,
            record6=rec6,
            in_run=name in play_hosts,
        ))
    return members, errors


def _new_or_moved(source, lease, subnet):
    if source == 'new':
        return True
    if lease is None:       # unknown in this run: it kept what peers recorded, or is pinned
        return False
    if _is_blank(lease):    # held nothing: new to the mesh unless peers knew its subnet (state lost)
        return source == 'pin'
    return not _same_subnet(lease, subnet)


def _is_blank(value):
    return isinstance(value, str) and not value.strip()


def _is_unset(value):
    return value is None or _is_blank(value)


def summarize(plan, members):
    """Add the run-level facts the role reports at the end: who was not in this run and who is new or moved."""
    by_name = dict((m.name, m) for m in members)
    moved = []
    for name, host in plan['hosts'].items():
        m = by_name[name]
        if _new_or_moved(host['source'], m.lease, host['subnet']):
            moved.append(name)
        elif 'subnet6' in host and _new_or_moved(host['source6'], m.lease6, host['subnet6']):
            moved.append(name)
    plan['new_or_moved'] = sorted(moved)
    plan['not_in_run'] = sorted(name for name, host in plan['hosts'].items() if not host['in_run'])
    return plan


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        groups = task_vars.get('groups') or {}
        group = args['group']
        hosts = list(groups.get(group) or [])
        if not hosts:
            raise AnsibleActionFail('inventory group %r has no hosts: hostgw plans the mesh from the hosts of this group '
                                    '(set group, or put the nodes in %s)' % (group, group))
        hostvars = task_vars.get('hostvars') or {}
        play_hosts = task_vars.get('ansible_play_hosts', task_vars.get('ansible_play_hosts_all', hosts))
        pools = (_pool(args['network'], args['subnet_len'], args['subnet_min'], args['subnet_max'], 4),
                 _pool(args['network6'], args['subnet_len6'], args['subnet_min6'], args['subnet_max6'], 6))
        members, errors = collect_members(hosts, hostvars, play_hosts, args['lease_var'], pools)
        if errors:
            raise AnsibleActionFail('hostgw_subnet: ' + '; '.join(errors), result=dict(errors=errors))
        try:
            plan = plan_mesh(
                members, args['network'], args['subnet_len'], args['subnet_min'], args['subnet_max'],
                args['network6'], args['subnet_len6'], args['subnet_min6'], args['subnet_max6'],
                assume_new=args['unknown_leases'] == 'new')
        except PlanError as e:
            raise AnsibleActionFail('hostgw_subnet: ' + '; '.join(e.errors), result=dict(errors=e.errors))
        summarize(plan, members)
        plan['group'] = group
        for note in plan['notes']:
            self._display.warning('hostgw_subnet: %s' % note)
        result.update(
            changed=False,
            ansible_facts=dict(hostgw_plan=plan),
            msg='planned %d hosts in %s%s' % (len(plan['hosts']), plan['network'],
                                              ' and %s' % plan['network6'] if plan['network6'] else ''),
        )
        return result
