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
  members:
    description:
      - The node's member table, built on the node from the routes of the plan (so the controller sends the mesh once
        more, as the route task does, not a document per host), holding every member's subnets and node IPs, one member a
        line, written like the O(files) (mode C(0600)) and recorded in the manifest.
      - The C(hostgw.network.hostgw) role writes it to C(<hostgw_state_dir>/members.json); a run that covers only part
        of the group reads it back (M(hostgw.network.hostgw_facts) with O(hostgw.network.hostgw_facts#module:members=true)).
      - Ignored with O(state=absent) (the manifest lists the table).
    type: dict
    suboptions:
      path:
        description: Absolute path of the table.
        type: path
        required: true
      host:
        description: The node's inventory name (recorded in the table).
        type: str
        required: true
      group:
        description: The inventory group of the mesh (recorded in the table).
        type: str
        default: hostgw_nodes
      routes:
        description:
          - The plan's routes, RV(hostgw.network.hostgw_subnet#module:ansible_facts.hostgw_plan.routes) (C(host),
            C(dest), C(via) per member and family).
        type: list
        elements: dict
        required: true
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

- name: Write a node's member table from a plan's routes
  hostgw.network.hostgw_files:
    manifest: /etc/hostgw/manifest.json
    members:
      path: /etc/hostgw/members.json
      host: node1
      routes:
        - {host: node1, dest: 10.244.1.0/24, via: 192.0.2.11}
        - {host: node2, dest: 10.244.2.0/24, via: 192.0.2.12}
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
kept:
  description: Directories hostgw created but did not remove on O(state=absent), with the reason.
  returned: always
  type: list
  elements: str
  sample: ['/etc/hostgw (holds files hostgw did not write)']
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.hostgw.network.plugins.module_utils import _files  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.hostgw.network.plugins.module_utils import _lease  # noqa: E402  pylint: disable=wrong-import-position


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                content=dict(type='str'),
                mode=dict(type='str', default='0644'),
            )),
            members=dict(type='dict', options=dict(
                path=dict(type='path', required=True),
                host=dict(type='str', required=True),
                group=dict(type='str', default='hostgw_nodes'),
                routes=dict(type='list', elements='dict', required=True),
            )),
            manifest=dict(type='path'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    files = list(p['files'])
    m = p['members']
    if m and p['state'] == 'present':
        table = _lease.members_table(m['host'], m['group'], m['routes'])
        files.append(dict(path=m['path'], content=_lease.members_text(table), mode='0600'))
    try:
        changed, diffs, kept = _files.sync(module, files, p['manifest'], p['state'] == 'present', module.check_mode)
    except _files.FilesError as e:
        module.fail_json(msg=str(e))
    result = dict(changed=bool(changed), changed_files=changed, kept=kept)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
