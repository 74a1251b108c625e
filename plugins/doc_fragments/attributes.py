# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment:
    # Every hostgw module: full check mode, Linux targets. Add one of DIFF_FULL / DIFF_NONE, and FACTS where it applies.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return a changed status prediction without modifying the target.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
'''

    DIFF_FULL = r'''
options: {}
attributes:
  diff_mode:
    description: Returns what changed (or would change, in check mode) in diff mode.
    support: full
'''

    DIFF_NONE = r'''
options: {}
attributes:
  diff_mode:
    description: Returns what changed (or would change, in check mode) in diff mode.
    support: none
'''

    FACTS = r'''
options: {}
attributes:
  facts:
    description: Returns an C(ansible_facts) dictionary that updates the host's facts.
    support: full
'''
