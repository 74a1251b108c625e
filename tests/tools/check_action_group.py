# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_defaults: group/hostgw.network.hostgw must cover every module (run from the repository root)."""

from __future__ import annotations

import os
import sys

import yaml

modules = sorted(f[:-3] for f in os.listdir('plugins/modules') if f.endswith('.py') and not f.startswith('_'))
with open('meta/runtime.yml') as f:
    group = (yaml.safe_load(f).get('action_groups') or {}).get('hostgw') or []
missing = [m for m in modules if m not in group]
if missing:
    sys.exit('meta/runtime.yml: action group hostgw lacks %s' % ', '.join(missing))
