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
    it plans the whole mesh in one call; C(register) the result and read RV(plan) (with O(facts=true) every host of the
    play also receives it as the fact C(hostgw_plan)).
  - The members are always the hosts of O(group), never the play's hosts, so C(--limit) cannot shrink the mesh.
  - Stability is the core promise. A host keeps its subnet across runs, additions and removals of other hosts and
    changes of inventory order. Order of precedence, per host and family, is
    (1) a pin (host variable C(hostgw_subnet) / C(hostgw_subnet6)),
    (2) the host's own lease (O(lease_var), as M(hostgw.network.hostgw_facts) reads it from the host),
    (3) the subnet other members recorded for it in their leases (each lease records O(lease_peers) ring successors),
       so a host that lost its state or cannot be reached keeps its subnet while one of its recorders holds its lease,
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
  - Derives each host's uplink (the link holding the node IP, or C(hostgw_iface)) and its MTU from the facts of
    M(hostgw.network.hostgw_facts), once, for M(hostgw.network.hostgw_route) and M(hostgw.network.cni_bridge).
  - The plan holds only what cannot be derived, about 100 bytes a host (a plan of 10,000 hosts is about 1 MB). What
    follows from it is derived where it is used, in constant time per host. The gateways come from the filter
    P(hostgw.network.plan_host#filter). The routes come from M(hostgw.network.hostgw_route) with
    O(hostgw.network.hostgw_route#module:members). Each node builds its lease and member table with
    M(hostgw.network.hostgw_files) and O(hostgw.network.hostgw_files#module:mesh).
  - A host variable that fails to template (such as a pin written C("{{ typo }}")) fails the task naming the host,
    the variable and its text; it is never taken as unset.
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
      - Name of each host's lease, read from C(ansible_facts.<lease_var>) (as M(hostgw.network.hostgw_facts) returns it,
        so C(ANSIBLE_INJECT_FACT_VARS=False) works), else from the host variable of that name. A dict with C(subnet),
        C(subnet6) and C(peers) (its ring successors' C(subnet), C(subnet6), C(node_ip)); leases written before ring
        leases hold a C(mesh) of every host instead, and are read the same way. Undefined means "unknown in this run";
        an empty dict means "holds none".
      - The C(hostgw.network.hostgw) role runs M(hostgw.network.hostgw_facts) on every host before planning, and each
        node writes its next lease from the plan afterwards (M(hostgw.network.hostgw_files) with
        O(hostgw.network.hostgw_files#module:mesh.lease)).
    type: str
    default: hostgw_lease
  lease_peers:
    description:
      - How many peers each lease records, C(k) (1-64), the host's C(k) successors on the ring of member names.
      - A host that lost its state keeps its subnet as long as one of its C(k) recorders (its C(k) predecessors on the
        ring) still holds its lease; a lease stays the same size whatever the mesh size.
    type: int
    default: 3
  members_var:
    description:
      - Name of each host's member table, read from C(ansible_facts.<members_var>) as
        M(hostgw.network.hostgw_facts) returns it with O(hostgw.network.hostgw_facts#module:members=true), that is
        every member's subnets and node IPs as that node's last run planned them (C(<hostgw_state_dir>/members.json)).
      - Read only when the run does not cover the whole O(group) (C(--limit), C(serial), a job slice), and only the
        tables of hosts in the run that read theirs in this run. A member that no lease (the run's, or one kept in the
        fact cache) settles keeps the subnet that its ring records and these tables record for it; when they disagree
        the plan fails naming the host (pin it, or include it in the run). Its node IP, when inventory and the fact cache
        give none, is the one the tables agree on.
      - A member outside the run that no lease, record or table of the run knows fails the plan, unless
        O(predict_new=true).
      - An empty string never reads tables; a partial run then knows only the leases of its own hosts, their ring
        records and the fact cache.
    type: str
    default: hostgw_members
  predict_new:
    description:
      - In a run over part of O(group), plan a member outside the run that no lease, ring record or member table of the
        run knows (while at least one table was read) as a new host, lowest free subnet by name as a full run plans it,
        listed in RV(plan.predicted), instead of failing. That is how parallel runs over disjoint
        slices of the inventory agree on one another's new hosts without talking to each other.
      - Only safe when every member missing from the tables is really new, that is when no run over part of the group
        has brought in hosts since the last run over the whole group; such a host holds a subnet no table knows, and a
        new host could be planned onto it. A fact cache holding every member's lease needs no prediction.
    type: bool
    default: false
  cross_subnet:
    description:
      - V(vxlan) adds each host's C(node_prefix) (the prefix length of its node IP on its uplink, from its facts) to the
        plan, so that M(hostgw.network.hostgw_route) with O(hostgw.network.hostgw_route#module:cross_subnet=vxlan)
        decides direct or encapsulated alike on both nodes of a pair.
      - V(fail) (the default) plans as before, and the plan carries no C(node_prefix).
    type: str
    choices: [fail, vxlan]
    default: fail
  unknown_leases:
    description:
      - What to do with a host in the play whose lease is unknown (no O(lease_var) set) and that has no pin or peer record.
      - V(fail) (safe) refuses to plan. V(new) treats it as a new host; use it only when you keep no leases at all
        and pin every host that must never move.
      - Hosts outside the play with an unknown lease always fail the plan.
      - With V(fail), when no host of O(group) has a lease at all (and not every host is pinned), the task fails saying
        that no lease was read; run M(hostgw.network.hostgw_facts) first (as the role does) or use V(new).
    type: str
    choices: [fail, new]
    default: fail
  facts_var:
    description:
      - Name of each host's node facts from M(hostgw.network.hostgw_facts), read from C(ansible_facts.<facts_var>), else
        the host variable of that name. Used for the default-route node IP and to find each host's uplink and MTU.
      - Hosts without these facts get a plan without uplink and MTU (C(null)).
    type: str
    default: hostgw_host
  uplink_var:
    description:
      - Host variable naming a host's uplink (Flannel's C(--iface)). Unset, the uplink is the link holding the node IP.
    type: str
    default: hostgw_iface
  facts:
    description:
      - Whether every host of the play also gets the plan as the fact C(hostgw_plan), as well as in RV(plan).
      - With C(run_once) Ansible sets the same facts on every host, and while C(INJECT_FACT_VARS) is on it copies every
        host's facts each time it computes that host's variables, so a plan of N hosts in the facts costs time linear in N at every
        later task of every host. C(register) the result instead (registered results are not copied).
      - The default was V(true) before hostgw.network 0.3.0.
    type: bool
    default: false
seealso:
  - module: hostgw.network.cni_bridge
  - module: hostgw.network.hostgw_route
  - name: Flannel configuration (net-conf.json)
    description: The fields these options mirror.
    link: https://github.com/flannel-io/flannel/blob/master/Documentation/configuration.md
'''

EXAMPLES = r'''
- name: Read every node's lease and links first, as the hostgw.network.hostgw role does
  hostgw.network.hostgw_facts:
    state_dir: /etc/hostgw

- name: Plan the mesh once for the whole group
  hostgw.network.hostgw_subnet:
    network: 10.244.0.0/16
    subnet_len: 24
    group: hostgw_nodes
  run_once: true
  register: planned

- name: Use the plan on each host (the filter adds the gateways)
  ansible.builtin.debug:
    msg: >-
      {{ inventory_hostname }} gets {{ planned.plan.hosts[inventory_hostname].subnet }}
      via uplink {{ planned.plan.hosts[inventory_hostname].uplink }}, bridge address
      {{ (planned.plan | hostgw.network.plan_host(inventory_hostname)).gateway_cidr }}

- name: The seed topology, hosts pinned as in the article (pins need no lease)
  hostgw.network.hostgw_subnet:
    network: 192.168.0.0/16
    subnet_min: 192.168.0.0
  run_once: true
  register: planned
  # host_vars: host1 -> hostgw_subnet: 192.168.0.0/24, host2 -> hostgw_subnet: 192.168.1.0/24

- name: Dual-stack, every lease recording five peers
  hostgw.network.hostgw_subnet:
    network: 10.244.0.0/16
    network6: fd00:10:244::/56
    lease_peers: 5
  run_once: true
  register: planned
  # host_vars: host1 -> hostgw_node_ip6: fd00:168::1, host2 -> hostgw_node_ip6: fd00:168::2

- name: Without any lease (hosts not pinned may move between runs)
  hostgw.network.hostgw_subnet:
    network: 10.244.0.0/16
    unknown_leases: new
  run_once: true
  register: planned

- name: Small meshes only, the plan also as the fact hostgw_plan on every host
  hostgw.network.hostgw_subnet:
    network: 10.244.0.0/16
    facts: true
  run_once: true

- name: Use the plan fact
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} gets {{ ansible_facts.hostgw_plan.hosts[inventory_hostname].subnet }}"
'''

RETURN = r'''
plan:
  description:
    - The mesh plan. About 100 bytes a host, once in the result (and once more in RV(ansible_facts.hostgw_plan) only
      with O(facts=true)).
  returned: success
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
    lease_peers:
      description: How many peers each lease records (O(lease_peers)).
      type: int
      sample: 3
    hosts:
      description:
        - Per member, keyed by inventory name. Derived values are not repeated here. The gateways come from the filter
          P(hostgw.network.plan_host#filter). The routes come from M(hostgw.network.hostgw_route), which takes these
          entries as O(hostgw.network.hostgw_route#module:members). The lease and member table are built on the node
          (M(hostgw.network.hostgw_files), O(hostgw.network.hostgw_files#module:mesh)).
      type: dict
      contains:
        subnet:
          description: The host's pod subnet.
          type: str
          sample: 192.168.0.0/24
        node_ip:
          description: The host's node IP, the next hop of its peers' routes to its subnet.
          type: str
          sample: 10.168.0.1
        source:
          description: Where the subnet came from, V(pin), V(lease), V(peer-record) or V(new).
          type: str
          sample: pin
        uplink:
          description:
            - The host's uplink, the link holding the node IP (or C(hostgw_iface)), from its
              M(hostgw.network.hostgw_facts) facts; the C(dev) of its routes. Null without facts.
          type: str
          sample: eth0
        mtu:
          description: The uplink's MTU (the bridge's default MTU); null without facts.
          type: int
          sample: 1500
        node_prefix:
          description:
            - The prefix length of the node IP's address on the uplink (the node network); null without facts.
          returned: O(cross_subnet=vxlan)
          type: int
          sample: 24
        encapsulated:
          description:
            - Whether the host reaches any peer through VXLAN (then its pods get the VXLAN MTU); null when its node
              network is not known.
          returned: O(cross_subnet=vxlan)
          type: bool
          sample: true
        subnet6:
          description: With dual-stack, the host's IPv6 pod subnet.
          type: str
          returned: O(network6) is set
          sample: fd00:10:244:1::/64
        node_ip6:
          description: With dual-stack, the IPv6 node IP.
          type: str
          returned: O(network6) is set
          sample: fd00:168::1
        source6:
          description: With dual-stack, where the IPv6 subnet came from.
          type: str
          returned: O(network6) is set
          sample: lease
    notes:
      description: Things worth knowing (a stale lease ignored, a host renumbered by a new pin); also shown as warnings.
      type: list
      elements: str
    new_or_moved:
      description: Hosts that got a subnet they did not hold before (new hosts, pinned newcomers, hosts moved by a pin).
      type: list
      elements: str
    not_in_run:
      description: Members that are not in this run; they need a run to learn about hosts in RV(plan.new_or_moved).
      type: list
      elements: str
    members_read:
      description: How many member tables (O(members_var)) the plan read; 0 in a run over the whole group.
      type: int
    predicted:
      description:
        - Members outside this run planned as new hosts because no lease, record or member table of the run knew
          them (with O(predict_new=true)).
      type: list
      elements: str
ansible_facts:
  description: Facts given to every host of the play.
  returned: success and O(facts) is true
  type: dict
  contains:
    hostgw_plan:
      description: The plan, the same as RV(plan).
      type: dict
msg:
  description: How many hosts were planned, in which networks.
  returned: success
  type: str
  sample: planned 3 hosts in 10.244.0.0/16
errors:
  description: Every problem found, each naming the host, the variable and the value.
  returned: failure
  type: list
  elements: str
'''
