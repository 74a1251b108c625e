# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reliability suite (issue 6): bad input, faults, drift, ownership and security on podman container hosts.

Shares the lab, helpers and fixtures of tests/role (tests/role/hostgw_lab.py, hostgw_fixtures.py): one lab per
pytest session, whichever directories run. Run: ``source scripts/env.sh; pytest tests/role tests/reliability``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'role'))

from hostgw_fixtures import clean, converged, lab  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
