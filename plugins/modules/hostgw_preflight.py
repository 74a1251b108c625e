#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This file only documents the action plugin of the same name: the work runs on the controller.

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
module: hostgw_preflight
short_description: Check a whole host-gw mesh on the controller before any node is changed
version_added: 0.1.0
description:
  - Checks the plan of M(hostgw.network.hostgw_subnet) against the facts M(hostgw.network.hostgw_facts) gathered on
    every node of the play, on the controller, in one call (use C(run_once=true)), and fails listing every problem
    with the host and value named.
  - Only checks. The uplink and its MTU come from the plan (RV(hostgw.network.hostgw_subnet#module:plan.hosts.uplink)).
    Checks that each node's uplink exists and holds its node IP (where the plan has no uplink, it says why, the node IP
    is not on the node, or C(hostgw_iface) is missing or does not hold it), that every peer's node IP is on-link on
    each node's uplink (host-gw cannot cross routers, which Flannel never checks), that no node address and no foreign
    route lies inside the cluster network, and that the bridge name is free or a bridge and is not the uplink.
  - Linear in the mesh size; peers' node IPs are indexed once, not compared pair by pair.
  - Fails when no host of the run has the facts of M(hostgw.network.hostgw_facts) (a pre-flight without facts
    checks nothing), and names each host of the run without them.
  - Catches typos in host variables (see O(known_vars)), and refuses a bridge name, MTU, route protocol or CNI file
    name that a node module would refuse only after other modules had changed the node.
  - Gives every host the fact C(hostgw_preflight.hosts[<host>]) with its C(uplink) and the uplink's C(mtu), copied
    from the plan; deprecated, read them from the plan instead.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
  - hostgw.network.vxlan
attributes:
  check_mode:
    support: full
    details: Changes nothing anywhere.
  diff_mode:
    support: none
  platform:
    platforms: all
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  connection:
    support: none
  delegation:
    support: none
options:
  plan:
    description: The plan, RV(hostgw.network.hostgw_subnet#module:plan) (registered).
    type: dict
    required: true
  bridge:
    description: Name of the pods' bridge.
    type: str
    default: cni0
  proto:
    description: Route protocol number of routes hostgw owns (they are not foreign).
    type: int
    default: 244
  facts_var:
    description:
      - Name of each node's facts from M(hostgw.network.hostgw_facts), read from C(ansible_facts.<facts_var>) (so
        C(ANSIBLE_INJECT_FACT_VARS=False) works), else the host variable of that name.
    type: str
    default: hostgw_host
  uplink_var:
    description:
      - Host variable naming a node's uplink, when set; read only to explain a host the plan has no uplink for.
      - The alias O(iface_var) is deprecated and will be removed in 1.0.0.
    type: str
    default: hostgw_iface
    aliases: [iface_var]
  mtu:
    description: The MTU the bridge will get; checked to be C(0) (the uplink's) or 68-65535.
    type: int
    default: 0
  cni_conf_name:
    description: File name of the CNI conflist; checked to be a plain file name ending in C(.conflist), C(.conf) or C(.json).
    type: str
  state_dir:
    description: The directory of hostgw's state on the nodes; checked to be an absolute path of safe characters.
    type: str
  cni_conf_dir:
    description: The directory of the CNI conflist on the nodes; checked like O(state_dir).
    type: str
  host_settings:
    description:
      - Whether to check, for every host of the run, its own value of the role's per-host variables C(hostgw_bridge),
        C(hostgw_iface), C(hostgw_mtu), C(hostgw_cni_conf_name), C(hostgw_cni_conf_dir) and C(hostgw_state_dir) where
        the inventory sets them (host or group variables), naming host, variable and value. A bad per-host value would
        otherwise be refused on that host only after other modules had changed it. The bridge checks of the mesh use
        each host's own bridge name.
    type: bool
    default: true
  known_vars:
    description:
      - The variable names a user may set (the role passes its C(argument_specs) options). A host variable starting
        with C(hostgw_) that is not known but close to a known name (a typo such as C(hostgw_subnet_lenn)) fails the
        check, naming host, variable and the likely intended name; other unknown C(hostgw_) variables only warn.
      - Empty (the default) skips this check.
    type: list
    elements: str
    default: []
  facts:
    description:
      - Whether every host of the play also gets the (deprecated) fact C(hostgw_preflight); RV(hosts) is always in
        the result.
    type: bool
    default: true
  cross_subnet:
    description:
      - V(fail) requires every peer's node IP to be on-link on each node's uplink (host-gw's one L2 segment).
      - V(vxlan) allows peers on other segments (M(hostgw.network.hostgw_route) reaches them through VXLAN) and checks
        instead that O(vxlan) can be hostgw's on every node, that is that no link of its name exists that is not
        hostgw's VXLAN device and that no other VXLAN device uses its UDP port, whatever its VNI (such as
        Flannel's C(flannel.1); hostgw's firewall guards the port).
    type: str
    choices: [fail, vxlan]
    default: fail
seealso:
  - module: hostgw.network.hostgw_subnet
  - module: hostgw.network.hostgw_facts
'''

EXAMPLES = r'''
- name: Read every node, changing nothing
  hostgw.network.hostgw_facts:
    state_dir: /etc/hostgw

- name: Plan the mesh
  hostgw.network.hostgw_subnet:
    network: 10.244.0.0/16
  run_once: true
  register: planned

- name: Check the mesh before changing any node
  hostgw.network.hostgw_preflight:
    plan: "{{ planned.plan }}"
    bridge: cni0
  run_once: true

- name: Also catch typos in the hostgw_* variables of every host
  hostgw.network.hostgw_preflight:
    plan: "{{ planned.plan }}"
    known_vars: [hostgw_network, hostgw_bridge, hostgw_iface, hostgw_node_ip, hostgw_subnet]
  run_once: true
'''

RETURN = r'''
hosts:
  description: Per checked host, its C(uplink) and C(mtu) as the plan has them (as the deprecated fact).
  returned: success
  type: dict
  sample: {host1: {uplink: eth0, mtu: 1500}}
ansible_facts:
  description: Facts given to every host of the play.
  returned: success and O(facts) is true
  type: dict
  contains:
    hostgw_preflight:
      description:
        - Deprecated (kept for one release; removed in 1.0.0), read the plan instead
          (RV(hostgw.network.hostgw_subnet#module:plan.hosts.uplink) and
          RV(hostgw.network.hostgw_subnet#module:plan.hosts.mtu)).
        - Per checked host (C(hosts)), its C(uplink) and the uplink's C(mtu), as the plan has them.
      type: dict
      sample: {hosts: {host1: {uplink: eth0, mtu: 1500}}}
      contains:
        hosts:
          description: Keyed by host name, each with C(uplink) and C(mtu).
          type: dict
msg:
  description: How many hosts passed.
  returned: success
  type: str
  sample: pre-flight passed for 3 hosts
errors:
  description: Every problem found, each naming the host, the variable and the value.
  returned: failure
  type: list
  elements: str
'''
