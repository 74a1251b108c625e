# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``hostgw.network.hostgw_subnet``: arguments in, one call to the planner, facts out.

The work (reading inventory, planning, uplinks, leases) is ``module_utils/_inputs.plan_inventory``. No host is
contacted.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.hostgw.network.plugins.module_utils._inputs import plan_inventory, run_hosts
from ansible_collections.hostgw.network.plugins.module_utils._lease import DEFAULT_PEERS
from ansible_collections.hostgw.network.plugins.module_utils._plan import PlanError

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
    lease_peers=dict(type='int', default=DEFAULT_PEERS),
    members_var=dict(type='str', default='hostgw_members'),
    predict_new=dict(type='bool', default=False),
    unknown_leases=dict(type='str', choices=['fail', 'new'], default='fail'),
    facts_var=dict(type='str', default='hostgw_host'),
    uplink_var=dict(type='str', default='hostgw_iface'),
    facts=dict(type='bool', default=False),
    cross_subnet=dict(type='str', choices=['fail', 'vxlan'], default='fail'),
)


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
        group = args['group']
        hosts = list((task_vars.get('groups') or {}).get(group) or [])
        if not hosts:
            raise AnsibleActionFail('inventory group %r has no hosts: hostgw plans the mesh from the hosts of this group '
                                    '(set group, or put the nodes in %s)' % (group, group))
        play_hosts = run_hosts(task_vars, hosts)
        try:
            plan = plan_inventory(group, hosts, task_vars.get('hostvars') or {}, play_hosts, args)
        except PlanError as e:
            raise AnsibleActionFail('hostgw_subnet: ' + '; '.join(e.errors), result=dict(errors=e.errors))
        for note in plan['notes']:
            self._display.warning('hostgw_subnet: %s' % note)
        if args['facts']:
            result['ansible_facts'] = dict(hostgw_plan=plan)
        result.update(
            changed=False,
            plan=plan,
            msg='planned %d hosts in %s%s' % (len(plan['hosts']), plan['network'],
                                              ' and %s' % plan['network6'] if plan['network6'] else ''),
        )
        return result
