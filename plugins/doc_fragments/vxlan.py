# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment:
    # The VXLAN device of cross_subnet=vxlan (hostgw_route makes it, hostgw_preflight checks that it can).
    DOCUMENTATION = r'''
options:
  vxlan:
    description:
      - The VXLAN device for peers on other L2 segments (O(hostgw.network.hostgw_route#module:cross_subnet=vxlan)).
        Flannel's wire format by default (VNI 1, UDP port 8472), so firewall rules and packet captures read the same.
        Omitted keys (or the whole option) take the defaults below.
    type: dict
    suboptions:
      name:
        description: The device's name.
        type: str
        default: hostgw.1
      vni:
        description: The VXLAN network identifier (1-16777215).
        type: int
        default: 1
      port:
        description: The UDP port of the VXLAN packets (8472, the Linux kernel's historical port, as Flannel uses).
        type: int
        default: 8472
'''
