# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A state dir that is a mount point (a tmpfs or a separate volume at /etc/hostgw): converge and teardown work,
teardown removes hostgw's files from it and leaves the mount (and another tool's file in it) in place."""

from __future__ import annotations

import hostgw_lab as L
from hostgw_fixtures import MESH3_SUBNETS, mesh3_inventory

H1 = L.H1


def _mounted(lab, host, path):
    return lab.exec(host, 'mountpoint', '-q', path, check=False).returncode == 0


def test_state_dir_mount_point_survives_teardown_with_only_hostgws_files_removed(clean, tmp_path):
    lab = clean
    lab.exec(H1, 'mkdir', '-p', '/etc/hostgw')
    lab.exec(H1, 'mount', '-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs', '/etc/hostgw')
    try:
        lab.sh(H1, 'echo keep > /etc/hostgw/other-tool.conf')
        inv = mesh3_inventory(tmp_path)
        res = L.run_playbook(inv, 'playbooks/site.yml')
        assert res.rc == 0, res.report()
        after = lab.snapshot_all()
        assert not L.mesh_problems(after, MESH3_SUBNETS), L.mesh_problems(after, MESH3_SUBNETS)
        listing = set(lab.exec(H1, 'ls', '/etc/hostgw').stdout.split())
        assert {'lease.json', 'members.json', 'manifest.json', 'subnet.env', 'other-tool.conf'} <= listing, listing
        res = L.run_playbook(inv, 'playbooks/teardown.yml')
        assert res.rc == 0, res.report()
        assert _mounted(lab, H1, '/etc/hostgw'), 'teardown unmounted or removed the state dir mount'
        assert lab.exec(H1, 'ls', '-A', '/etc/hostgw').stdout.split() == ['other-tool.conf']
        assert L.file_text(lab, H1, '/etc/hostgw/other-tool.conf') == 'keep\n'
    finally:
        lab.exec(H1, 'umount', '/etc/hostgw', check=False)
        lab.exec(H1, 'rm', '-rf', '/etc/hostgw', check=False)
        lab.forget()
