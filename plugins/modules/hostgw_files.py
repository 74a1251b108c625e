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
  - O(state=absent) removes the given paths (files, or directories with their content) and nothing else.
author:
  - hostgw contributors (@hostgw)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  files:
    description: The files.
    type: list
    elements: dict
    required: true
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
  state:
    description: V(present) writes the files; V(absent) removes the paths.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: ansible.builtin.copy
'''

EXAMPLES = r'''
- name: The node's state files
  hostgw.network.hostgw_files:
    files:
      - path: /etc/hostgw/subnet.env
        content: "{{ lookup('ansible.builtin.template', 'subnet.env.j2') }}"
        mode: '0644'
  become: true
'''

RETURN = r'''
changed_files:
  description: Paths written or removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ['/etc/hostgw/lease.json']
'''

import os  # noqa: E402  pylint: disable=wrong-import-position
import shutil  # noqa: E402  pylint: disable=wrong-import-position
import stat  # noqa: E402  pylint: disable=wrong-import-position
import tempfile  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils.basic import AnsibleModule  # noqa: E402  pylint: disable=wrong-import-position
from ansible.module_utils.common.text.converters import to_bytes, to_text  # noqa: E402  pylint: disable=wrong-import-position


def _current(path):
    try:
        st = os.lstat(path)
    except OSError:
        return None, None, None
    if not stat.S_ISREG(st.st_mode):
        return 'not-a-file', None, None
    with open(path, 'rb') as f:
        return f.read(), stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)


def _write(path, data, mode):
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    fd, tmp = tempfile.mkstemp(prefix='.hostgw-', dir=parent)
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, 0, 0)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type='list', elements='dict', required=True, options=dict(
                path=dict(type='path', required=True),
                content=dict(type='str'),
                mode=dict(type='str', default='0644'),
            )),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    present = module.params['state'] == 'present'
    changed, diffs = [], []
    for item in module.params['files']:
        path = item['path']
        if not os.path.isabs(path):
            module.fail_json(msg='path %s is not absolute' % path)
        if not present:
            if os.path.lexists(path):
                changed.append(path)
                diffs.append(dict(before_header=path, after_header=path, before='present\n', after='absent\n'))
                if not module.check_mode:
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
            continue
        if item['content'] is None:
            module.fail_json(msg='%s: content is required' % path)
        try:
            mode = int(item['mode'], 8)
        except ValueError:
            module.fail_json(msg='%s: mode %r is not octal' % (path, item['mode']))
        data = to_bytes(item['content'])
        old, old_mode, owner = _current(path)
        if old == 'not-a-file':
            module.fail_json(msg='%s exists and is not a regular file: refusing to replace it' % path)
        if old == data and old_mode == mode and owner == (0, 0):
            continue
        changed.append(path)
        diffs.append(dict(before_header=path, after_header=path,
                          before=to_text(old, errors='replace') if old is not None else '',
                          after=item['content']))
        if old is not None and old == data:
            diffs[-1]['before'] = 'mode %s\n' % (oct(old_mode)[2:] if old_mode is not None else '?')
            diffs[-1]['after'] = 'mode %s\n' % item['mode']
        if not module.check_mode:
            try:
                _write(path, data, mode)
            except (IOError, OSError) as e:
                module.fail_json(msg='cannot write %s: %s' % (path, e), changed_files=changed[:-1], changed=bool(changed[:-1]))
    result = dict(changed=bool(changed), changed_files=changed)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
