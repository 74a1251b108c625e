# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of ``hostgw.network.hostgw_preflight``: check the whole mesh from gathered facts. No host is contacted."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.hostgw.network.plugins.module_utils._inputs import preflight_inputs, run_hosts
from ansible_collections.hostgw.network.plugins.module_utils._routes import DEFAULT_PROTO
from ansible_collections.hostgw.network.plugins.module_utils._vxlan import ARGUMENT_SPEC as VXLAN_SPEC, VxlanError, options as vxlan_options
from ansible_collections.hostgw.network.plugins.module_utils._preflight import (
    PreflightError, check_host_settings, check_mesh, check_settings, check_variable_names)

__metaclass__ = type  # pylint: disable=invalid-name

ARGUMENT_SPEC = dict(
    plan=dict(type='dict', required=True),
    bridge=dict(type='str', default='cni0'),
    proto=dict(type='int', default=DEFAULT_PROTO),
    facts_var=dict(type='str', default='hostgw_host'),
    uplink_var=dict(type='str', default='hostgw_iface', aliases=['iface_var'],
                    deprecated_aliases=[dict(name='iface_var', version='1.0.0', collection_name='hostgw.network')]),
    known_vars=dict(type='list', elements='str', default=[]),
    mtu=dict(type='int', default=0),
    cni_conf_name=dict(type='str'),
    state_dir=dict(type='str'),
    cni_conf_dir=dict(type='str'),
    host_settings=dict(type='bool', default=True),
    facts=dict(type='bool', default=True),
    cross_subnet=dict(type='str', choices=['fail', 'vxlan'], default='fail'),
    vxlan=VXLAN_SPEC,
)

# Facts and results the collection itself sets on hosts.
OWN_FACTS = ('hostgw_plan', 'hostgw_host', 'hostgw_lease', 'hostgw_preflight')


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        for old in getattr(validation, '_deprecations', None) or []:    # iface_var: say so, as a module would
            self._display.deprecated(old['msg'], version=old.get('version'), collection_name=old.get('collection_name'))
        plan = args['plan']
        play_hosts = run_hosts(task_vars) or []
        settings = {} if args['host_settings'] else None
        facts, ifaces, names, errors = preflight_inputs(plan, task_vars.get('hostvars') or {}, play_hosts, args['facts_var'],
                                                        args['uplink_var'], bool(args['known_vars']), settings)
        more, warnings = check_variable_names(names, list(args['known_vars']) + list(OWN_FACTS))
        errors.extend(more)
        errors.extend(check_settings(args['bridge'], args['mtu'], args['proto'], args['cni_conf_name'],
                                     task_vars.get('inventory_hostname'), args['state_dir'], args['cni_conf_dir']))
        bridge = args['bridge']
        if settings:
            # Each host's own bridge, uplink, MTU, file names and directories, before any host is changed.
            more, bridge = check_host_settings(settings, dict(hostgw_bridge=args['bridge'], hostgw_mtu=args['mtu']))
            errors.extend(more)
        for warning in warnings:
            self._display.warning(warning)
        hosts = {}
        try:
            vxlan = vxlan_options(args['vxlan'])
        except VxlanError as e:
            errors.append(str(e).replace('vxlan.', 'hostgw_vxlan_', 1))   # the role's variables name it
            vxlan = None
        if facts and vxlan is not None:
            try:
                hosts = check_mesh(plan, facts, bridge, ifaces, args['proto'], args['uplink_var'], args['cross_subnet'],
                                   vxlan)
            except PreflightError as e:
                errors.extend(e.errors)
        if errors:
            raise AnsibleActionFail('hostgw pre-flight: ' + '; '.join(errors), result=dict(errors=errors))
        if args['facts']:
            result['ansible_facts'] = dict(hostgw_preflight=dict(hosts=hosts))
        result.update(changed=False, hosts=hosts, msg='pre-flight passed for %d hosts' % len(hosts))
        return result
