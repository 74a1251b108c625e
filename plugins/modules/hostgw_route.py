#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
module: hostgw_route
short_description: Ensure the full-mesh host-gw routes to every peer's pod subnet
version_added: 0.1.0
description:
  - Ensures one route per peer, C(<peer pod subnet> via <peer node IP> dev <uplink>), in the main routing table,
    as Flannel's host-gw backend does, for IPv4 and IPv6, in one call.
  - Reads the routing table once, computes the difference and changes only what differs.
  - Routes it installs carry a dedicated route protocol number (O(proto), default C(244)); that mark is how the module
    knows what it owns. With O(purge=true) owned routes that are no longer wanted are deleted.
    Routes with any other protocol are never deleted or replaced; a foreign route that occupies a wanted
    destination is an error that names it, and nothing is changed.
  - Checks host-gw's hard requirement before changing anything, that every next hop must be on-link on the uplink
    (inside the prefix of an address of O(uplink), or IPv6 link-local). Otherwise the module fails naming the peer.
  - A route whose next hop is an address of this host (the host's own subnet) is never installed; it is reported
    in RV(own_subnets). So the same O(members) (or O(routes)) can be given to every node of the mesh.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - hostgw.network.attributes
  - hostgw.network.attributes.diff_full
  - hostgw.network.netlink
  - hostgw.network.vxlan
options:
  members:
    description:
      - The mesh as planned, RV(hostgw.network.hostgw_subnet#module:plan.hosts), as the C(hostgw.network.hostgw) role
        passes it. Each member gives one route per family, its C(subnet) via its C(node_ip) (and C(subnet6) via
        C(node_ip6)); other keys of the entries are ignored. The route to the node's own subnet is skipped.
      - One of O(members) and O(routes) is required when O(state=present).
    type: dict
  routes:
    description:
      - The wanted routes, written out (instead of O(members)).
      - One of O(members) and O(routes) is required when O(state=present).
    type: list
    elements: dict
    suboptions:
      dest:
        description: Destination pod subnet in CIDR form (IPv4 or IPv6), without host bits.
        type: str
        required: true
      via:
        description: Next hop, the peer's node IP. Must be on-link on O(uplink).
        type: str
        required: true
      host:
        description: Peer name, used in messages only.
        type: str
  uplink:
    description:
      - The uplink interface all peers are reached through (Flannel's C(--iface)), as the planner returns it in
        RV(hostgw.network.hostgw_subnet#module:plan.hosts.uplink).
      - If omitted, the interface that holds O(node_ip) is used.
      - One of O(uplink) and O(node_ip) is required when O(state=present).
      - The alias O(dev) is deprecated and will be removed in hostgw.network 1.0.0.
    aliases: [dev]
    type: str
  bridge:
    description:
      - The pods' bridge of this node (as managed by M(hostgw.network.cni_bridge) in the same play, before this module).
      - Only matters in check mode. When a node's subnet moves and another node takes the old one in the same run,
        the bridge still holds the old subnet's connected route while nothing has been changed; the real run
        re-addresses the bridge first. In check mode, a connected (gateway-less, C(proto kernel)) route on this
        bridge is therefore not reported as a foreign conflict. Outside check mode it always is.
    type: str
  node_ip:
    description:
      - This node's own address on the uplink; used to find O(uplink) when that is not given.
    type: str
  proto:
    description:
      - Route protocol number that marks routes as owned by this module (C(ip route ... proto 244)).
      - Values 0 to 4 belong to the kernel and to static routes and are refused.
      - Changing it on an existing mesh makes the old routes foreign; remove them with the old value first.
    type: int
    default: 244
  metric:
    description:
      - Route metric (priority). Default is the kernel's, C(0) for IPv4 and C(1024) for IPv6.
    type: int
  nexthop_objects:
    description:
      - V(true) installs one kernel next-hop object per peer (C(ip nexthop add id N via PEER dev UPLINK proto 244)) and
        routes that refer to it (C(nhid N)); Linux 5.3 and later. The kernel checks a new route's next hop against every
        other next hop of the link, so plain routes cost superlinear time for big meshes (10,000 routes about 1.5 s);
        through objects the same mesh takes a fraction of that (C(docs/benchmarks.md)).
      - With O(cross_subnet=vxlan) an encapsulated peer's routes go through objects too, one per family, on hostgw's
        VXLAN device (C(ip nexthop add id N via VTEP dev hostgw.1 onlink proto 244)).
      - V(false) installs plain C(via) routes. V(auto) uses objects where the kernel has them.
      - Switching in either direction replaces the routes in place (no moment without a route), then deletes the owned
        objects no route uses any more. Objects carry O(proto) like the routes; foreign objects, and routes that use
        them, are never touched; an owned object a foreign route uses is never deleted.
      - One of V(auto), V(true) or V(false) (a boolean or its text).
    type: raw
    default: auto
  cross_subnet:
    description:
      - What to do with a peer that is not on this node's L2 segment (its node IP is not on-link on O(uplink)).
      - V(fail) refuses it, naming the peer (host-gw needs one L2 segment).
      - V(vxlan) reaches it through hostgw's VXLAN device (Flannel's vxlan backend with C(DirectRouting), with no
        daemon). A pair of nodes is direct when each node's IP is on-link from the other (the member's C(node_prefix)
        gives a peer's node network; without it this node's test decides), else both directions are encapsulated.
        Per encapsulated peer the module keeps one permanent FDB entry (peer MAC to peer node IP), one permanent
        neighbor entry per family (peer VTEP address, its subnet's network address, to peer MAC) and the route
        C(<peer subnet> via <peer VTEP address> dev <device> onlink), made in that order and removed in reverse.
        Every peer derives a node's device MAC from its node IP (C(0e:68) and the IPv4 address's four bytes), so
        nothing needs publishing. The device exists only while the node has encapsulated peers; every FDB and neighbor
        entry on it is hostgw's, nothing on another link is touched. Needs O(members).
      - >-
        The device (O(vxlan)) is C(nolearning), C(local <node IP>), C(dev <uplink>), its MTU the uplink's less 50 (70
        with an IPv6 underlay), its address the node's VTEP address (C(/32), C(/128)) per family, its ifalias
        C(hostgw: managed vxlan). A link of the name that is not hostgw's, or another VXLAN device on the same UDP
        port whatever its VNI (such as Flannel's C(flannel.1)), is an error naming it; nothing is changed.
    type: str
    choices: [fail, vxlan]
    default: fail
  purge:
    description:
      - Delete owned routes (O(proto)) that are not wanted (not in O(members) or O(routes)), for example the routes of a
        departed peer.
    type: bool
    default: true
  state:
    description:
      - V(present) ensures the wanted routes. V(absent) deletes every route marked with O(proto) and nothing else.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: hostgw.network.hostgw_subnet
  - module: hostgw.network.cni_bridge
  - name: Flannel host-gw backend
    description: The backend this module reproduces.
    link: https://github.com/flannel-io/flannel/blob/master/Documentation/backends.md#host-gw
'''

EXAMPLES = r'''
# The planner's hosts (hostgw.network.hostgw_subnet's plan.hosts), as the hostgw.network.hostgw role passes them:
# members: "{{ planned.plan.hosts }}". The same on every node (the node's own subnet is skipped).
- name: Route to every peer's pod subnet, from the plan
  hostgw.network.hostgw_route:
    uplink: eth0
    members:
      node1: {subnet: 10.244.1.0/24, node_ip: 10.168.0.1, source: lease}
      node2: {subnet: 10.244.2.0/24, node_ip: 10.168.0.2, source: lease}
      node3: {subnet: 10.244.3.0/24, node_ip: 10.168.0.3, source: new}
  become: true

# Or written out: the same list on every node.
- name: Route to every peer's pod subnet
  hostgw.network.hostgw_route:
    uplink: eth0
    routes:
      - {dest: 10.244.1.0/24, via: 10.168.0.1, host: node1}
      - {dest: 10.244.2.0/24, via: 10.168.0.2, host: node2}
      - {dest: 10.244.3.0/24, via: 10.168.0.3, host: node3}
  become: true

- name: Uplink found from the node's address; the owned route to node3 is purged
  hostgw.network.hostgw_route:
    node_ip: 10.168.0.1
    routes:
      - {dest: 10.244.2.0/24, via: 10.168.0.2, host: node2}
  become: true

# node4 is on another segment (10.168.1.0/24, behind a router): it is reached through the VXLAN device hostgw.1,
# the others by plain routes. node_prefix (the planner's, with hostgw_cross_subnet vxlan) makes the decision symmetric.
- name: Direct where adjacent, VXLAN where not
  hostgw.network.hostgw_route:
    uplink: eth0
    cross_subnet: vxlan
    members:
      node1: {subnet: 10.244.1.0/24, node_ip: 10.168.0.1, node_prefix: 24}
      node2: {subnet: 10.244.2.0/24, node_ip: 10.168.0.2, node_prefix: 24}
      node4: {subnet: 10.244.4.0/24, node_ip: 10.168.1.4, node_prefix: 24}
  become: true

- name: Remove every route this collection installed (and its VXLAN device)
  hostgw.network.hostgw_route:
    state: absent
  become: true
'''

RETURN = r'''
added:
  description: Routes added (or that would be added in check mode), as C(ip route) prints them.
  returned: always
  type: list
  elements: str
  sample: ['192.168.1.0/24 via 10.168.0.2 dev eth0 proto 244']
replaced:
  description: Owned routes whose next hop, device or type was corrected, as they are after the change.
  returned: always
  type: list
  elements: str
removed:
  description: Owned routes deleted (or that would be deleted in check mode).
  returned: always
  type: list
  elements: str
unchanged:
  description: Number of wanted routes that were already right.
  returned: always
  type: int
  sample: 11
own_subnets:
  description: Destinations not installed because their next hop is an address of this host (its own subnet).
  returned: always
  type: list
  elements: str
  sample: ['192.168.0.0/24']
uplink:
  description: The uplink the routes use.
  returned: when O(state=present)
  type: str
  sample: eth0
nexthop_objects:
  description: Whether the routes go through kernel next-hop objects (O(nexthop_objects) resolved).
  returned: when O(state=present)
  type: bool
  sample: true
nexthops_added:
  description: Next-hop objects created (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ['id 244000000 via 10.168.0.2 dev eth0 proto 244']
nexthops_removed:
  description: Owned next-hop objects deleted because no route uses them any more.
  returned: always
  type: list
  elements: str
boot_state:
  description:
    - What this run applied, for M(hostgw.network.hostgw_restore) to replay at boot (C(uplink), C(proto),
      C(nexthop_objects), C(routes) without the node's own subnet).
  returned: when O(state=present)
  type: dict
  sample: {uplink: eth0, proto: 244, routes: [{dest: 10.244.2.0/24, via: 10.168.0.2, metric: 0, host: node2}]}
proto:
  description: The route protocol number that marks owned routes.
  returned: always
  type: int
  sample: 244
vxlan:
  description:
    - With O(cross_subnet=vxlan), which peers are reached directly and which through the VXLAN device, and what
      changed on the device (or would, in check mode). With O(state=absent), the devices removed.
  returned: when O(cross_subnet=vxlan), or when O(state=absent) removed a device
  type: dict
  contains:
    device:
      description: The VXLAN device, null when the node has no encapsulated peer.
      type: str
      sample: hostgw.1
    direct:
      description: Peers reached by plain routes via the uplink.
      type: list
      elements: str
      sample: [node2]
    encapsulated:
      description: Peers reached through the VXLAN device.
      type: list
      elements: str
      sample: [node3]
    changes:
      description: Changes of the device and its FDB and neighbor entries.
      type: list
      elements: str
      sample: ['fdb 0e:68:0a:a8:01:03 dev hostgw.1 dst 10.168.1.3 self permanent']
failures:
  description:
    - Every change the kernel refused (or did not acknowledge), with its errno. Changes are sent in chunks and a
      refusal stops the run after its chunk, so other changes of that chunk may have been made; they are listed in
      RV(added), RV(replaced) and RV(removed).
  returned: when the kernel refused a change
  type: list
  elements: dict
  sample: [{change: 'add 192.168.2.0/24 via 10.168.0.2 dev eth0 proto 244', errno: 101, error: Network is unreachable}]
'''

import os  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _netlink  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _mesh  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _node  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _routes  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _vxlan  # noqa: E402  pylint: disable=wrong-import-position


def main():
    module = AnsibleModule(
        argument_spec=dict(
            members=dict(type='dict'),
            routes=dict(type='list', elements='dict', options=dict(
                dest=dict(type='str', required=True),
                via=dict(type='str', required=True),
                host=dict(type='str'),
            )),
            uplink=dict(type='str', aliases=['dev'],
                        deprecated_aliases=[dict(name='dev', version='1.0.0', collection_name='hostgw.network')]),
            bridge=dict(type='str'),
            node_ip=dict(type='str'),
            proto=dict(type='int', default=_routes.DEFAULT_PROTO),
            metric=dict(type='int'),
            purge=dict(type='bool', default=True),
            cross_subnet=dict(type='str', choices=['fail', 'vxlan'], default='fail'),
            vxlan=_vxlan.ARGUMENT_SPEC,
            nexthop_objects=dict(type='raw', default='auto'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        required_if=[('state', 'present', ('routes', 'members'), True), ('state', 'present', ('uplink', 'node_ip'), True)],
        mutually_exclusive=[('routes', 'members')],
        supports_check_mode=True,
    )
    bad = _mesh.proto_error(module.params['proto'], 'proto')
    if bad:
        module.fail_json(msg=bad)
    if os.geteuid() != 0 and not module.check_mode:
        module.warn('not running as root: changing routes needs CAP_NET_ADMIN (use become: true)')
    try:
        with _netlink.Kernel() as kernel:
            result = _node.routes(module.params, kernel, module.check_mode, module._diff)
    except _node.RouteError as e:
        msg = '; '.join(e.errors)
        if module.params['cross_subnet'] == 'fail' and any('is not on-link on' in x for x in e.errors):
            msg += ' (for peers on other L2 segments, cross_subnet=vxlan reaches them through VXLAN)'
        module.fail_json(msg=msg, errors=e.errors)
    except _node.NodeError as e:
        module.fail_json(msg=e.msg, **e.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
