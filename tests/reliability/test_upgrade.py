# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A mesh converged by the previous release, then this checkout's site.yml: what an upgrade changes.

The previous release (``PREVIOUS``, the tree of 0.2 as it landed) is taken from git history (a clean clone has it),
installed as the collection ``hostgw.network`` in a directory of its own, and converges the container hosts. Then
the current ``site.yml`` runs. It may write only what the new release adds or must refresh, and nothing else:

- the boot program's vendored code (``<state_dir>/restore/``: a copy of the module_utils that just ran, so it
  changes with the code), and the systemd reload and timer restart that follow from it;
- the member table ``members.json``, new in this release, and the manifest line recording it.

Every route, link, address, rule and every other file (the lease, subnet.env, the CNI conflist, restore.json) stays
byte-identical, and a second run reports 0 changed.
"""

from __future__ import annotations

import os
import subprocess

import hostgw_lab as L
from hostgw_fixtures import MESH3_SUBNETS, mesh3_inventory

#: The last commit of 0.2, before the fleet-operations work (issue 16) began.
PREVIOUS = '4446568'

ALLOWED_CHANGED = ('hostgw_files', 'systemd_service')


def _previous_collection(tmp_path):
    root = tmp_path / 'previous'
    dest = root / 'ansible_collections' / 'hostgw' / 'network'
    dest.mkdir(parents=True)
    archive = subprocess.run(['git', '-C', L.REPO, 'archive', PREVIOUS], capture_output=True, check=True).stdout
    subprocess.run(['tar', '-x', '-C', str(dest)], input=archive, check=True)
    return root, dest


def _files_view(snaps):
    """The snapshot without what an upgrade may change (see the module docstring)."""
    out = {}
    for host, snap in snaps.items():
        s = dict(snap)
        s['files'] = dict((p, f) for p, f in snap['files'].items()
                          if '/etc/hostgw/restore/' not in p and p.rstrip('/') != '/etc/hostgw/restore'
                          and not p.endswith(('/members.json', '/manifest.json')))
        out[host] = s
    return out


def test_upgrade_from_the_previous_release_changes_only_what_the_release_adds(clean, tmp_path, monkeypatch):
    lab = clean
    root, previous = _previous_collection(tmp_path)
    inv = mesh3_inventory(tmp_path)
    current = os.environ['ANSIBLE_COLLECTIONS_PATH']
    monkeypatch.setenv('ANSIBLE_COLLECTIONS_PATH', '%s:%s' % (root, current))   # the first hostgw.network wins
    res = L.run_playbook(inv, str(previous / 'playbooks' / 'site.yml'))
    assert res.rc == 0, res.report()
    assert not any('members.json' in p for snap in lab.snapshot_all().values() for p in snap['files']), \
        'the previous release is not the one converging (it wrote a member table)'
    before = lab.snapshot_all()
    monkeypatch.setenv('ANSIBLE_COLLECTIONS_PATH', current)
    res = L.run_playbook(inv, 'playbooks/site.yml')
    assert res.rc == 0, res.report()
    after = lab.snapshot_all()
    assert not L.mesh_problems(after, MESH3_SUBNETS), L.mesh_problems(after, MESH3_SUBNETS)
    L.assert_same(_files_view(before), _files_view(after), 'the mesh after the upgrade (boot code and member table aside)')
    changed = [e for e in res.results() if e.get('status') == 'ok' and e['result'].get('changed')]
    for e in changed:
        action = e.get('action') or ''
        assert action.split('.')[-1] in ALLOWED_CHANGED, (e['host'], e['task'], action)
        for path in e['result'].get('changed_files') or []:
            assert '/etc/hostgw/restore/' in path or path.endswith(('/members.json', '/manifest.json')), (e['host'], path)
    for host in L.MESH3:
        assert '/etc/hostgw/members.json' in after[host]['files'], host
    again = L.run_playbook(inv, 'playbooks/site.yml')
    assert again.rc == 0, again.report()
    assert all(again.changed(h) == 0 for h in L.MESH3), again.recap
    lab.forget()
