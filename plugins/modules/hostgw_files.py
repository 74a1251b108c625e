#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
module: hostgw_files
short_description: Write (or remove) a set of small root-owned files in one call
version_added: 0.1.0
description:
  - Writes every given file whose content, mode or owner differs, atomically (temporary file and rename in the same
    directory), creating missing parent directories with mode C(0755). Files that are already right are not touched.
  - One call for all of a node's hostgw files (lease, C(subnet.env), CNI conflist, boot-restore data) instead of one
    template task per file, which matters on slow connections.
  - Files are moved into place with C(AnsibleModule.atomic_move), which keeps the SELinux context of a file it replaces.
  - With O(manifest), every file written and every directory created on the way is recorded there, so that
    O(state=absent) can remove exactly what hostgw wrote.
  - O(state=absent) removes the given files and those the manifest lists (never a directory given in O(files)), then
    the directories the manifest says hostgw created, deepest first, each only when it is empty (a directory that holds
    another tool's file, or that is a mount point, stays and is listed in RV(kept)).
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - hostgw.network.attributes
  - hostgw.network.attributes.diff_full
options:
  files:
    description: The files. With O(state=absent) only their paths matter.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      content:
        description: Full content. Required when O(state=present).
        type: str
      mode:
        description: Octal mode as a string, such as C('0644').
        type: str
        default: '0644'
  mesh:
    description:
      - Files built on the node from the mesh plan, RV(hostgw.network.hostgw_subnet#module:plan) (so the controller sends
        the plan once, as the route task does, never a document per host), written like the O(files) (mode C(0600)) and
        recorded in the manifest. Ignored with O(state=absent) (the manifest lists them).
    type: dict
    suboptions:
      plan:
        description: The plan, RV(hostgw.network.hostgw_subnet#module:plan).
        type: dict
        required: true
      host:
        description: The node's inventory name in the plan.
        type: str
        required: true
      lease:
        description:
          - Path of the node's lease (C(<hostgw_state_dir>/lease.json) in the C(hostgw.network.hostgw) role). The lease
            holds the node's subnets and the subnets and node IPs of its RV(hostgw.network.hostgw_subnet#module:plan.lease_peers)
            successors on the ring of member names (the records that keep a wiped peer's subnet).
        type: path
      members:
        description:
          - Path of the node's member table (C(<hostgw_state_dir>/members.json) in the role). It holds every member's
            subnets and node IPs, one member a line. A run that covers only part of the group reads it back
            (M(hostgw.network.hostgw_facts) with O(hostgw.network.hostgw_facts#module:members=true)).
        type: path
  boot:
    description:
      - Also install the boot restore, in the same call. Give the options of M(hostgw.network.hostgw_restore) as a
        dict (O(hostgw.network.hostgw_restore#module:state_dir), O(hostgw.network.hostgw_restore#module:bridge),
        O(hostgw.network.hostgw_restore#module:routes), O(hostgw.network.hostgw_restore#module:firewall),
        O(hostgw.network.hostgw_restore#module:sysctls), O(hostgw.network.hostgw_restore#module:python),
        O(hostgw.network.hostgw_restore#module:unit_dir), O(hostgw.network.hostgw_restore#module:repair_interval)).
        They are checked as that module checks them, and do what it does.
      - The files are recorded in O(manifest) (its C(manifest) is ignored). What was written is returned in RV(boot).
      - One task instead of two per node, which matters at scale (C(docs/benchmarks.md)). The C(hostgw.network.hostgw)
        role uses it. Ignored with O(state=absent) (the manifest lists the boot files).
    type: dict
  manifest:
    description:
      - Path of the manifest recording what was written (JSON, mode C(0600)), such as C(/etc/hostgw/manifest.json).
      - Without it nothing is recorded and O(state=absent) removes only the files given.
    type: path
  state:
    description: V(present) writes the files; V(absent) removes the files (and the directories hostgw created).
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: ansible.builtin.copy
'''

EXAMPLES = r'''
- name: Write a node's state files, recorded in a manifest
  hostgw.network.hostgw_files:
    manifest: /etc/hostgw/manifest.json
    files:
      - path: /etc/hostgw/subnet.env
        content: |
          FLANNEL_NETWORK=10.244.0.0/16
          FLANNEL_SUBNET=10.244.1.1/24
        mode: '0644'
  become: true

# The role passes the registered plan: plan: "{{ planned.plan }}" (planned: hostgw.network.hostgw_subnet's result).
- name: Write a node's lease and member table from the plan
  hostgw.network.hostgw_files:
    manifest: /etc/hostgw/manifest.json
    mesh:
      host: node1
      lease: /etc/hostgw/lease.json
      members: /etc/hostgw/members.json
      plan:
        network: 10.244.0.0/16
        group: hostgw_nodes
        lease_peers: 3
        hosts:
          node1: {subnet: 10.244.1.0/24, node_ip: 192.0.2.11}
          node2: {subnet: 10.244.2.0/24, node_ip: 192.0.2.12}
  become: true

- name: State files and the boot restore (as hostgw.network.hostgw_restore installs it) in one call
  hostgw.network.hostgw_files:
    manifest: /etc/hostgw/manifest.json
    files:
      - path: /etc/hostgw/subnet.env
        content: |
          FLANNEL_NETWORK=10.244.0.0/16
          FLANNEL_SUBNET=10.244.1.1/24
    boot:
      state_dir: /etc/hostgw
      bridge: {name: cni0, addresses: [10.244.1.1/24], mtu: 1500}
      sysctls: {net.ipv4.ip_forward: 1}
      unit_dir: /etc/systemd/system
  become: true

- name: Remove exactly what hostgw wrote (and the directories it created, when empty)
  hostgw.network.hostgw_files:
    manifest: /etc/hostgw/manifest.json
    state: absent
  become: true
'''

RETURN = r'''
changed_files:
  description: Paths written or removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ['/etc/hostgw/lease.json']
boot:
  description: With O(boot), what the boot restore part did (as M(hostgw.network.hostgw_restore) returns it).
  returned: O(boot) is given and O(state=present)
  type: dict
  contains:
    changed_files:
      description: Boot files written or removed (or that would be, in check mode).
      type: list
      elements: str
      sample: [/etc/hostgw/restore.json]
    command:
      description: The boot program's command line (what C(ExecStart) runs).
      type: list
      elements: str
      sample: [/usr/bin/python3, /etc/hostgw/restore/hostgw-restore, /etc/hostgw/restore.json]
    units:
      description: The systemd units written (empty without a C(unit_dir)).
      type: list
      elements: str
      sample: [hostgw-restore.service]
kept:
  description: Directories hostgw created but did not remove on O(state=absent), with the reason.
  returned: always
  type: list
  elements: str
  sample: ['/etc/hostgw (holds files hostgw did not write)']
'''

import sys  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.hostgw.network.plugins.module_utils import _files  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _boot_install  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _lease  # noqa: E402  pylint: disable=wrong-import-position


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                content=dict(type='str'),
                mode=dict(type='str', default='0644'),
            )),
            mesh=dict(type='dict', options=dict(
                plan=dict(type='dict', required=True),
                host=dict(type='str', required=True),
                lease=dict(type='path'),
                members=dict(type='path'),
            )),
            boot=dict(type='dict'),
            manifest=dict(type='path'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    files = list(p['files'])
    mesh = p['mesh']
    if mesh and p['state'] == 'present':
        try:
            files = _lease.mesh_files(mesh['plan'], mesh['host'], mesh['lease'], mesh['members']) + files
        except _lease.LeaseError as e:
            module.fail_json(msg=str(e))
    boot = None
    kept = []
    try:
        if p['boot'] is not None and p['state'] == 'present':
            if not p['manifest']:
                module.fail_json(msg='boot needs manifest (teardown removes the boot files the manifest lists)')
            # The same flow as hostgw_restore, these files written in the same sync (every check before any write).
            boot = _boot_install.sync(module, _boot_install.validate(p['boot']), sys.executable, module.check_mode, p['manifest'], files)
            changed, diffs = boot['changed_files'], boot['diffs']
        else:
            changed, diffs, kept = _files.sync(module, files, p['manifest'], p['state'] == 'present', module.check_mode)
    except (_files.FilesError, _boot_install.BootError) as e:
        module.fail_json(msg=str(e))
    result = dict(changed=bool(changed), changed_files=changed, kept=kept)
    if boot is not None:
        result['boot'] = dict(changed_files=boot['boot_changed'], command=boot['command'], units=boot['units'])
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
