# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the role-level suite (tests/role) and the reliability suite (tests/reliability, which imports this).

``lab`` is the one podman lab of the session (created at first use, destroyed when pytest ends, also after a
failure or Ctrl-C). ``clean`` gives hosts with nothing of hostgw on them (foreign state planted);
``converged`` gives hostgw-rel-1..3 converged with the default inventory (``mesh3_inventory``).
Run: ``source scripts/env.sh; pytest tests/role tests/reliability``. Needs root and podman.
"""

from __future__ import annotations

from hostgw_fixtures import clean, converged, lab  # noqa: F401  pylint: disable=unused-import
