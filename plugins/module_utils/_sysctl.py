# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The forwarding sysctls hostgw needs, in one place (used by hostgw_firewall and the boot restore through the firewall seam).

Only the running kernel is touched here (``/proc/sys``); persisting across reboots is the role's ``/etc/sysctl.d``
file, whose keys are ``FORWARDING``'s names.
"""

from __future__ import annotations

import os

__metaclass__ = type  # pylint: disable=invalid-name

#: family -> the sysctl that makes the kernel forward packets of that family.
FORWARDING = {4: 'net.ipv4.ip_forward', 6: 'net.ipv6.conf.all.forwarding'}
PROC_SYS = '/proc/sys'


def sysctl_path(name, root=PROC_SYS):
    return os.path.join(root, *name.split('.'))


def forwarding_names(families):
    """The sysctl names for ``families`` (e.g. ``[4, 6]``), in family order."""
    return [FORWARDING[v] for v in sorted(families)]


def ensure_on(names, check_mode=False, root=PROC_SYS):
    """Set each sysctl of ``names`` to 1 unless it is already 1.

    Returns ``dict(before=[lines], after=[lines], actions=[...], failures=[...])``; a line is ``name = value``.
    Nothing is written in check mode. A failure names the sysctl and the cause; the other names are still handled.
    """
    res = dict(before=[], after=[], actions=[], failures=[])
    for name in names:
        path = sysctl_path(name, root)
        try:
            with open(path) as f:  # pylint: disable=unspecified-encoding
                value = f.read().strip()
        except (IOError, OSError) as e:
            res['failures'].append('cannot read %s: %s' % (name, e))
            continue
        res['before'].append('%s = %s' % (name, value))
        res['after'].append('%s = 1' % name)
        if value == '1':
            continue
        res['actions'].append('%s = 1' % name)
        if check_mode:
            continue
        try:
            with open(path, 'w') as f:  # pylint: disable=unspecified-encoding
                f.write('1\n')
        except (IOError, OSError) as e:
            res['failures'].append('cannot set %s = 1 (read-only /proc/sys in a container? give the container '
                                   '--sysctl %s=1 or privileges): %s' % (name, name, e))
    return res
