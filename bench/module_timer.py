# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a node module as Ansible runs it (``python MODULE ARGSFILE``) and time it from outside the plugin code.

    python module_timer.py MODULE_PATH ARGSFILE

The module's JSON goes to stdout unchanged; one line ``HOSTGW-BENCH {...}`` on stderr gives ``import`` (loading
the module and its module_utils) and ``run`` (the one module_utils call the module makes: ``_node.routes`` or
``_node.bridge``: read, plan and apply). No timing code lives in plugins/.
"""

from __future__ import annotations

import json
import runpy
import sys
import time

T0 = time.perf_counter()


def main():
    path, argsfile = sys.argv[1:3]
    sys.argv = [path, argsfile]
    module = runpy.run_path(path, run_name='hostgw_bench')
    laps = {'import': time.perf_counter() - T0}
    node = module.get('_node')
    for name in ('routes', 'bridge'):
        fn = getattr(node, name, None) if node is not None else None
        if fn is None:
            continue

        def timed(*a, _fn=fn, **kw):
            t = time.perf_counter()
            try:
                return _fn(*a, **kw)
            finally:
                laps['run'] = laps.get('run', 0.0) + time.perf_counter() - t
        setattr(node, name, timed)
    try:
        module['main']()
    except SystemExit:
        pass
    finally:
        sys.stdout.flush()
        sys.stderr.write('HOSTGW-BENCH %s\n' % json.dumps(laps))


if __name__ == '__main__':
    main()
