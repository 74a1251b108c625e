# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures shared by tests/role and tests/reliability (both conftest.py files import them from here).

``lab`` is the one podman lab of the session (created at first use, destroyed when pytest ends, also after a
failure or Ctrl-C). ``clean`` gives hosts with nothing of hostgw on them (foreign state planted);
``converged`` gives hostgw-rel-1..3 converged with the default inventory (``mesh3_inventory``).
"""

from __future__ import annotations

import os
import shutil

import pytest

import hostgw_lab as L

_LAB = {}


def _skip_reason():
    if os.geteuid() != 0:
        return 'needs root (podman container hosts)'
    if not shutil.which('podman'):
        return 'needs podman (scripts/bootstrap.sh)'
    return None


@pytest.fixture(scope='session')
def lab(request):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    if 'lab' not in _LAB:
        lab_ = L.Lab()
        _LAB['lab'] = lab_
        # Registered before creating: a half-made lab is removed too. Runs once, at the end of the session.
        request.session.config.add_cleanup(lab_.destroy)
        lab_.create()
    return _LAB['lab']


@pytest.fixture
def clean(lab):
    """Every lab host without any hostgw state (reset only if something is left)."""
    lab.ensure_clean()
    return lab


def mesh3_inventory(path, **kw):
    return L.inventory(path, L.MESH3, group_vars={'hostgw_network': L.CLUSTER}, **kw)


#: Subnets of the default mesh after a converge from clean: lowest free /24 from 10.244.1.0, by host name.
MESH3_SUBNETS = L.expected_subnets(L.MESH3)


@pytest.fixture
def converged(lab, tmp_path_factory):
    """hostgw-rel-1..3 converged with the default inventory (``mesh3_inventory``). Reused while every host is
    snapshot-equal to what the last converge left; otherwise reset and converged again."""
    def build():
        lab.reset()
        res = L.run_playbook(mesh3_inventory(tmp_path_factory.mktemp('converge')), 'playbooks/site.yml')
        assert res.rc == 0, res.report()
        lab.mark('converged')
    return lab.ensure('converged', build)
