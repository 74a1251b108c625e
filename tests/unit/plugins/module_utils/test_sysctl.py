# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The forwarding sysctls (plugins/module_utils/_sysctl.py) over a /proc/sys of files: names, check mode, failures,
and the boot program's replay of them through the same call."""

from __future__ import annotations

import os

from ansible_collections.hostgw.network.plugins.module_utils import _boot_program, _sysctl

__metaclass__ = type  # pylint: disable=invalid-name


def proc(tmp_path, **values):
    for name, value in values.items():
        path = _sysctl.sysctl_path(name.replace('__', '.'), str(tmp_path))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write('%s\n' % value)
    return str(tmp_path)


def read(root, name):
    with open(_sysctl.sysctl_path(name, root)) as f:
        return f.read().strip()


def test_names_per_family():
    assert _sysctl.forwarding_names([6, 4]) == ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']
    assert _sysctl.sysctl_path('net.ipv4.ip_forward') == '/proc/sys/net/ipv4/ip_forward'


def test_ensure_on_sets_only_what_is_off_and_check_mode_writes_nothing(tmp_path):
    root = proc(tmp_path, net__ipv4__ip_forward=0, net__ipv6__conf__all__forwarding=1)
    names = _sysctl.forwarding_names([4, 6])
    res = _sysctl.ensure_on(names, check_mode=True, root=root)
    assert res['actions'] == ['net.ipv4.ip_forward = 1'] and read(root, 'net.ipv4.ip_forward') == '0'
    assert res['before'] == ['net.ipv4.ip_forward = 0', 'net.ipv6.conf.all.forwarding = 1']
    res = _sysctl.ensure_on(names, root=root)
    assert res['actions'] == ['net.ipv4.ip_forward = 1'] and res['failures'] == []
    assert read(root, 'net.ipv4.ip_forward') == '1'
    assert _sysctl.ensure_on(names, root=root)['actions'] == []


def test_a_missing_or_read_only_sysctl_is_a_failure_naming_it_and_the_others_still_set(tmp_path):
    root = proc(tmp_path, net__ipv4__ip_forward=0)
    res = _sysctl.ensure_on(['net.ipv6.conf.all.forwarding', 'net.ipv4.ip_forward'], root=root)
    assert len(res['failures']) == 1 and res['failures'][0].startswith('cannot read net.ipv6.conf.all.forwarding')
    assert read(root, 'net.ipv4.ip_forward') == '1'
    path = _sysctl.sysctl_path('net.ipv4.ip_forward', root)
    os.remove(path)
    os.mkdir(path)                       # readable as nothing, writable as nothing: a stand-in for read-only
    res = _sysctl.ensure_on(['net.ipv4.ip_forward'], root=root)
    assert res['failures'] and 'net.ipv4.ip_forward' in res['failures'][0]


def test_the_boot_program_replays_them_through_ensure_on(tmp_path, monkeypatch):
    root = proc(tmp_path, net__ipv4__ip_forward=0)
    calls = []
    real = _sysctl.ensure_on

    def spy(names, check_mode=False, root=_sysctl.PROC_SYS):
        calls.append(list(names))
        return real(names, check_mode, root=str(tmp_path))
    monkeypatch.setattr(_boot_program, 'ensure_on', spy)
    rep = _boot_program.Report()
    _boot_program.replay_sysctls({'net.ipv4.ip_forward': '1', 'kernel.panic': '1', 'net.ipv6.conf.all.forwarding': '0'},
                                 rep)
    assert calls == [['net.ipv4.ip_forward']]
    assert rep.changes == ['sysctl net.ipv4.ip_forward = 1 (was 0)'] and read(root, 'net.ipv4.ip_forward') == '1'
    assert rep.failures == ['sysctl kernel.panic: not one hostgw sets',
                            'sysctl net.ipv6.conf.all.forwarding = 0: hostgw only turns it on (1)']
