# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``hostgw.network.hostgw_subnet``: read inventory, plan, return facts. No host is contacted."""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.hostgw.network.plugins.module_utils._plan import Member, PlanError, plan_mesh

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


def _ip_or_none(value):
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _fact_address(hv, key):
    fact = _get(hv, key) or {}
    if not fact:
        facts = _get(hv, 'ansible_facts') or {}
        fact = facts.get(key.replace('ansible_', '', 1)) or {}
    return fact.get('address') if isinstance(fact, dict) else None


def _text(value):
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value)
    return value  # let the planner reject it with the host named


def collect_members(group_hosts, hostvars, play_hosts, lease_var):
    """Turn inventory (hostvars) into planner ``Member`` objects. Returns (members, errors)."""
    errors = []
    members = []
    leases = {}
    for name in group_hosts:
        hv = hostvars[name]
        lease = _get(hv, lease_var, None)
        if lease is not None and not isinstance(lease, dict):
            errors.append('host %s: %s must be a dict (subnet, subnet6, mesh), got %r' % (name, lease_var, lease))
            lease = None
        leases[name] = lease
    records = {}
    for holder, lease in leases.items():
        mesh = (lease or {}).get('mesh') or {}
        if not isinstance(mesh, dict):
            errors.append('host %s: %s.mesh must be a dict of host: {subnet, subnet6}' % (holder, lease_var))
            continue
        for peer, rec in mesh.items():
            if peer == holder or not isinstance(rec, dict):
                continue
            bucket = records.setdefault(peer, ([], []))
            if rec.get('subnet'):
                bucket[0].append(rec['subnet'])
            if rec.get('subnet6'):
                bucket[1].append(rec['subnet6'])
    play_hosts = set(play_hosts)
    for name in group_hosts:
        hv = hostvars[name]
        node_ip = _get(hv, 'hostgw_node_ip')
        if not node_ip:
            node_ip = _ip_or_none(_get(hv, 'ansible_host')) or _fact_address(hv, 'ansible_default_ipv4')
        node_ip6 = _get(hv, 'hostgw_node_ip6') or _fact_address(hv, 'ansible_default_ipv6')
        lease = leases[name]
        rec4, rec6 = records.get(name, ([], []))
        members.append(Member(
            name,
            node_ip=_text(node_ip),
            node_ip6=_text(node_ip6),
            pin=_text(_get(hv, 'hostgw_subnet')),
            pin6=_text(_get(hv, 'hostgw_subnet6')),
            lease=None if lease is None else (lease.get('subnet') or ''),
            lease6=None if lease is None else (lease.get('subnet6') or ''),
            record=rec4,
            record6=rec6,
            in_run=name in play_hosts,
        ))
    return members, errors


def summarize(plan, members):
    """Add the run-level facts the role reports at the end: who was not in this run and who is new or moved."""
    by_name = dict((m.name, m) for m in members)
    moved = []
    for name, host in plan['hosts'].items():
        m = by_name[name]
        if host['source'] == 'new' or (m.lease and m.lease != host['subnet']):
            moved.append(name)
        elif host.get('source6') == 'new' or (m.lease6 and m.lease6 != host.get('subnet6')):
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
        members, errors = collect_members(hosts, hostvars, play_hosts, args['lease_var'])
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
