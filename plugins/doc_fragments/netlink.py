# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment:
    # Shared by the modules that talk to the kernel through netlink.
    DOCUMENTATION = r'''
options: {}
requirements:
  - Linux with netlink (any kernel a current distribution ships).
  - C(pyroute2) 0.7.2 or later for the target's Python, only to change links and addresses (M(hostgw.network.cni_bridge)
    when something must change), from the Debian/Ubuntu package C(python3-pyroute2) or C(pip install pyroute2). Tested with Debian
    bookworm's 0.7.2 and PyPI's 0.9.7. Reads and route changes use hostgw's own netlink code and need no library.
  - Root (C(CAP_NET_ADMIN)) on the target (use C(become=true)).
notes:
  - The module reads the kernel state once (one netlink dump each), computes the difference in pure Python and changes
    only what differs.
  - In check mode nothing is changed; with C(--diff) the result shows the state before and after.
'''
