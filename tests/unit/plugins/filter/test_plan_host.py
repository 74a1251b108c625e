# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan_host filter, and what a node builds from the plan compared with what the role wrote before (controller side:
Ansible's own to_nice_json)."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import to_nice_json

from ansible_collections.hostgw.network.plugins.filter.plan_host import FilterModule, plan_host
from ansible_collections.hostgw.network.plugins.module_utils._inputs import plan_inventory
from ansible_collections.hostgw.network.plugins.module_utils._lease import lease_of, lease_text

__metaclass__ = type  # pylint: disable=invalid-name


def small_plan(n=5, dual=False):
    hv = {}
    for i in range(n):
        h = {'hostgw_node_ip': '172.16.0.%d' % (i + 1), 'ansible_facts': {'hostgw_lease': {}}}
        if dual:
            h['hostgw_node_ip6'] = 'fd00:168::%x' % (i + 1)
        hv['node%d' % i] = h
    names = sorted(hv)
    opts = {'network': '10.244.0.0/16', 'subnet_len': 24}
    if dual:
        opts.update(network6='fd00:10:244::/56', subnet_len6=64)
    return plan_inventory('hostgw_nodes', names, hv, names, opts)


def test_the_filter_is_registered_and_gives_the_gateways():
    assert FilterModule().filters() == {'plan_host': plan_host}
    plan = small_plan(dual=True)
    entry = plan_host(plan, 'node2')
    assert (entry['subnet'], entry['gateway'], entry['gateway_cidr']) == ('10.244.3.0/24', '10.244.3.1', '10.244.3.1/24')
    assert (entry['gateway6'], entry['gateway6_cidr']) == ('fd00:10:244:3::1', 'fd00:10:244:3::1/64')
    assert 'gateway' not in plan['hosts']['node2']      # the plan itself is not changed


def test_the_filter_names_a_host_outside_the_plan_and_a_non_plan():
    with pytest.raises(AnsibleFilterError) as e:
        plan_host(small_plan(3), 'ghost')
    assert str(e.value) == 'plan_host: host ghost is not in the plan (3 hosts, group hostgw_nodes)'
    with pytest.raises(AnsibleFilterError):
        plan_host({'network': '10.244.0.0/16'}, 'node1')


def test_lease_text_is_what_to_nice_json_wrote_before_leases_were_built_on_the_node():
    """A mesh converged by 0.2 (lease.json from ``to_nice_json(indent=2)`` and a newline) re-runs with nothing changed."""
    for plan in (small_plan(5), small_plan(4, dual=True), small_plan(1)):
        for host in plan['hosts']:
            lease = lease_of(plan, host)
            assert lease_text(lease) == to_nice_json(lease, indent=2) + '\n'
