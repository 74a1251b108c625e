#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This file only documents the action plugin of the same name: the work runs on the controller.

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
module: hostgw_subnet
short_description: Plan every node's pod subnet of a host-gw mesh from inventory, on the controller
version_added: 0.1.0
description:
  - Cuts the cluster network (Flannel's C(Network)) into subnets of O(subnet_len) and gives every host of the
    inventory group O(group) its own, like Flannel's subnet manager, but from inventory and host leases instead of etcd.
  - Runs on the controller only (an action plugin); no host is contacted. Use it once per play (C(run_once=true));
    it plans the whole mesh in one call and every host of the play receives the plan as the fact C(hostgw_plan).
  - The members are always the hosts of O(group), never the play's hosts, so C(--limit) cannot shrink the mesh.
  - Stability is the core promise. A host keeps its subnet across runs, additions and removals of other hosts and
    changes of inventory order. Order of precedence, per host and family, is
    (1) a pin (host variable C(hostgw_subnet) / C(hostgw_subnet6)),
    (2) the host's own lease (host variable named by O(lease_var), as the C(hostgw.network.hostgw) role reads it from the host),
    (3) the subnet other members recorded for it in their copy of the mesh (C(<lease_var>.mesh)), so a host that lost
       its state or cannot be reached keeps its subnet,
    (4) for a host that reported no lease, the lowest free subnet in [O(subnet_min), O(subnet_max)], hosts taken in
       order of name (deterministic, independent of inventory order).
  - A member whose lease cannot be known in this run (not reached, no pin and no peer record) is never renumbered and
    its subnet is never given to another host; the task fails and says which host and how to fix it.
  - Fails before anything is touched, naming the host and the value, on invalid CIDRs, IPv4/IPv6 mix-ups, a network
    too small or out of subnets, misaligned or foreign pins, two hosts on one subnet, duplicate or missing node IPs,
    and node IPs inside the cluster network.
  - Node IP of a host, per family. IPv4 is C(hostgw_node_ip), else C(ansible_host) when that is an IPv4 address,
    else the C(ansible_default_ipv4) fact, else the default-route address M(hostgw.network.hostgw_facts) read
    (C(hostgw_host.default_ipv4)). IPv6 is C(hostgw_node_ip6), else the C(ansible_default_ipv6) fact, else
    C(hostgw_host.default_ipv6) (never a temporary address). Set them explicitly on multi-homed hosts.
  - Every value is parsed strictly; surrounding whitespace, newlines or anything after an address (such as shell
    metacharacters) is refused, naming the host and the value.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details: The plugin changes nothing anywhere; it runs the same in check mode.
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
  network:
    description: The cluster network (Flannel C(Network)), IPv4 CIDR such as C(10.244.0.0/16).
    type: str
    required: true
  subnet_len:
    description:
      - Prefix length of each node's subnet (Flannel C(SubnetLen)), at most 30.
      - Default is C(24), or the network's prefix + 2 when the network is smaller than a /22 (Flannel's rule).
      - The network must hold at least four subnets.
    type: int
  subnet_min:
    description:
      - First subnet handed out to new hosts (Flannel C(SubnetMin)), an address like C(10.244.1.0) (or C(10.244.1.0/24)).
      - Default is the second subnet of the network, as in Flannel. Pins may lie outside [O(subnet_min), O(subnet_max)].
    type: str
  subnet_max:
    description: Last subnet handed out to new hosts (Flannel C(SubnetMax)). Default is the network's last subnet.
    type: str
  network6:
    description: Optional IPv6 cluster network (Flannel C(IPv6Network)) for dual-stack, such as C(fd00:10:244::/56).
    type: str
  subnet_len6:
    description: Prefix length of each node's IPv6 subnet (Flannel C(IPv6SubnetLen)), default C(64), at most 126.
    type: int
  subnet_min6:
    description: First IPv6 subnet handed out. Default is the second subnet of O(network6).
    type: str
  subnet_max6:
    description: Last IPv6 subnet handed out. Default is the last subnet of O(network6).
    type: str
  group:
    description: The inventory group whose hosts form the mesh.
    type: str
    default: hostgw_nodes
  lease_var:
    description:
      - Name of the host variable holding each host's lease, a dict with C(subnet), C(subnet6) and C(mesh) (the host's
        last copy of every member's subnets). Undefined means "unknown in this run"; an empty dict means "holds none".
      - The C(hostgw.network.hostgw) role sets it from C(<hostgw_state_dir>/lease.json) on every host before planning.
    type: str
    default: hostgw_lease
  unknown_leases:
    description:
      - What to do with a host in the play whose lease is unknown (no O(lease_var) set) and that has no pin or peer record.
      - V(fail) (safe) refuses to plan. V(new) treats it as a new host; use it only when you keep no leases at all
        and pin every host that must never move.
      - Hosts outside the play with an unknown lease always fail the plan.
    type: str
    choices: [fail, new]
    default: fail
seealso:
  - module: hostgw.network.cni_bridge
  - module: hostgw.network.hostgw_route
  - name: Flannel configuration (net-conf.json)
    description: The fields these options mirror.
    link: https://github.com/flannel-io/flannel/blob/master/Documentation/configuration.md
'''

EXAMPLES = r'''
- name: Plan the mesh once for the whole group
  hostgw.network.hostgw_subnet:
    network: 10.244.0.0/16
    subnet_len: 24
    group: hostgw_nodes
  run_once: true

- name: The seed topology, hosts pinned as in the article
  hostgw.network.hostgw_subnet:
    network: 192.168.0.0/16
    subnet_min: 192.168.0.0
  run_once: true
  # host_vars: host1 -> hostgw_subnet: 192.168.0.0/24, host2 -> hostgw_subnet: 192.168.1.0/24

- name: Dual-stack
  hostgw.network.hostgw_subnet:
    network: 10.244.0.0/16
    network6: fd00:10:244::/56
  run_once: true

- name: Use the plan on each host
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} gets {{ hostgw_plan.hosts[inventory_hostname].subnet }}"
'''

RETURN = r'''
ansible_facts:
  description: Facts given to every host of the play.
  returned: success
  type: dict
  contains:
    hostgw_plan:
      description: The mesh plan.
      type: dict
      contains:
        network:
          description: The cluster network.
          type: str
          sample: 10.244.0.0/16
        subnet_len:
          description: Prefix length of the node subnets.
          type: int
          sample: 24
        subnet_min:
          description: First subnet for new hosts.
          type: str
          sample: 10.244.1.0/24
        subnet_max:
          description: Last subnet for new hosts.
          type: str
          sample: 10.244.255.0/24
        network6:
          description: The IPv6 cluster network, or null.
          type: str
        subnet_len6:
          description: Prefix length of IPv6 node subnets, or null.
          type: int
        group:
          description: The inventory group planned.
          type: str
          sample: hostgw_nodes
        hosts:
          description:
            - Per member, keyed by inventory name, C(subnet), C(gateway) (first address, as Flannel and the CNI bridge
              plugin use), C(gateway_cidr) (gateway with prefix length, for the bridge), C(node_ip), C(source)
              (C(pin), C(lease), C(peer-record) or C(new)) and C(in_run); with dual-stack also C(subnet6), C(gateway6),
              C(gateway6_cidr), C(node_ip6), C(source6).
          type: dict
          sample:
            host1: {subnet: 192.168.0.0/24, gateway: 192.168.0.1, gateway_cidr: 192.168.0.1/24, node_ip: 10.168.0.1,
                    source: pin, in_run: true}
        routes:
          description:
            - The mesh, one entry per member and family (C(host), C(dest), C(via)). Each host needs every entry but
              its own; M(hostgw.network.hostgw_route) skips the entry whose next hop is the host itself.
          type: list
          elements: dict
          sample: [{host: host2, dest: 192.168.1.0/24, via: 10.168.0.2}]
        notes:
          description: Things worth knowing (a stale lease ignored, a host renumbered by a new pin); also shown as warnings.
          type: list
          elements: str
        new_or_moved:
          description: Hosts that got a subnet they did not hold before (new hosts, pinned newcomers, hosts moved by a pin).
          type: list
          elements: str
        not_in_run:
          description: Members that are not in this run; they need a run to learn about hosts in RV(ansible_facts.hostgw_plan.new_or_moved).
          type: list
          elements: str
'''
