# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot installer (plugins/module_utils/_boot_install.py): which files the boot restore writes, what it refuses,
and the files of an earlier install it removes."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.hostgw.network.plugins.module_utils import _boot_install, _boot_program, _files

__metaclass__ = type  # pylint: disable=invalid-name


def test_boot_install_files_and_validation():
    items, command, units = _boot_install.install_files('/etc/hostgw', {'name': 'cni0', 'addresses': []}, None, None,
                                                        {'net.ipv4.ip_forward': 1}, '/usr/bin/python3',
                                                        '/etc/systemd/system', '1min')
    paths = [i['path'] for i in items]
    assert command == ['/usr/bin/python3', '/etc/hostgw/restore/hostgw-restore', '/etc/hostgw/restore.json']
    assert units == ['hostgw-repair.service', 'hostgw-repair.timer', 'hostgw-restore.service']
    assert '/etc/hostgw/restore/lib/ansible_collections/hostgw/network/plugins/module_utils/_boot_program.py' in paths
    # the code before the stub that imports it, the stub before the state (a run between two writes can still run)
    assert paths.index('/etc/hostgw/restore/hostgw-restore') > max(i for i, x in enumerate(paths) if x.endswith('.py'))
    assert paths.index('/etc/hostgw/restore.json') > paths.index('/etc/hostgw/restore/hostgw-restore')
    state = next(i['content'] for i in items if i['path'] == '/etc/hostgw/restore.json')
    assert state == _boot_program.dump_state(json.loads(state))           # the one writer's bytes
    doc = json.loads(state)
    assert doc['sysctls'] == {'net.ipv4.ip_forward': '1'} and doc['routes'] is None
    for bad, msg in [(dict(state_dir='/etc/host gw'), "state_dir '/etc/host gw'"),
                     (dict(python='python3'), "python 'python3'"),
                     (dict(repair_interval='soon'), "repair_interval 'soon'"),
                     (dict(sysctls={'kernel.panic': 1}), 'sysctls: kernel.panic'),
                     (dict(sysctls={'net.ipv4.ip_forward': 0}), "sysctls: net.ipv4.ip_forward = 0: hostgw only turns it on"),
                     (dict(routes={'routes': []}), 'routes must hold uplink, proto, routes')]:
        args = dict(state_dir='/etc/hostgw', bridge=None, routes=None, firewall=None, sysctls={}, python='/usr/bin/python3',
                    unit_dir='/etc/systemd/system', repair_interval='')
        args.update(bad)
        with pytest.raises(_boot_install.BootError) as e:
            _boot_install.install_files(**args)
        assert msg in str(e.value)


class FakeModule:
    @staticmethod
    def atomic_move(src, dest):
        os.rename(src, dest)


def options(tmp_path, **kw):
    p = dict(state_dir=str(tmp_path / 'hostgw'), bridge={'name': 'cni0', 'addresses': []}, routes=None, firewall=None,
             sysctls={}, python='/usr/bin/python3', unit_dir=str(tmp_path / 'units'), repair_interval='1min',
             manifest=None)
    p.update(kw)
    return p


def test_sync_removes_the_boot_files_an_earlier_install_wrote_and_this_one_does_not(tmp_path):
    p = options(tmp_path)
    done = _boot_install.sync(FakeModule(), p, '/usr/bin/python3', False)
    assert done['units'] == ['hostgw-repair.service', 'hostgw-repair.timer', 'hostgw-restore.service']
    lib = tmp_path / 'hostgw' / 'restore' / 'lib' / 'ansible_collections' / 'hostgw' / 'network' / 'plugins' / 'module_utils'
    manifest = str(tmp_path / 'hostgw' / 'manifest.json')
    # what an older release vendored under another name (recorded in the manifest), and a file nobody recorded
    old = lib / '_restore.py'
    _files.sync(FakeModule(), [dict(path=str(old), content='# old\n', mode='0644')], manifest)
    foreign = lib / 'local_patch.py'
    foreign.write_text('# not hostgw\'s\n')
    assert _boot_install.sync(FakeModule(), p, '/usr/bin/python3', True)['changed_files'] == [str(old)]   # check mode
    assert old.exists()
    done = _boot_install.sync(FakeModule(), options(tmp_path, repair_interval=''), '/usr/bin/python3', False)
    assert sorted(done['changed_files']) == sorted([str(old), str(tmp_path / 'units' / 'hostgw-repair.service'),
                                                    str(tmp_path / 'units' / 'hostgw-repair.timer')])
    assert not old.exists() and foreign.exists() and (lib / '_boot_program.py').exists()
    recorded = _files.read_manifest(manifest)['files']
    assert str(old) not in recorded and str(lib / '_boot_program.py') in recorded
    assert _boot_install.sync(FakeModule(), options(tmp_path, repair_interval=''), '/usr/bin/python3',
                              False)['changed_files'] == []
