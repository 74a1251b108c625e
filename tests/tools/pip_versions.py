# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pip versions the installed ansible-test may bootstrap in its venvs (scripts/test.sh gives each our stub)."""

from __future__ import annotations

import inspect
import re

import ansible_test._internal.python_requirements as m

print(" ".join(sorted(set(re.findall(r"pip='([0-9.]+)'", inspect.getsource(m))))))
