# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark callback: wall time of every task and per-host outcomes, written as JSON at the end of the run.

Enabled by bench/playbook.py only (ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=bench_timer, HOSTGW_BENCH_TIMER_OUT=<file>).
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r'''
name: bench_timer
type: aggregate
short_description: Task wall times and per-host outcomes for bench/playbook.py
description:
  - Writes one JSON document to the file named by the environment variable E(HOSTGW_BENCH_TIMER_OUT).
requirements:
  - enable in callbacks_enabled
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_timer'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.start = time.perf_counter()
        self.tasks = []
        self.current = None

    def _close(self):
        if self.current is not None:
            self.current['seconds'] = time.perf_counter() - self.current.pop('_t')
            self.tasks.append(self.current)
            self.current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        self.current = dict(name=task.get_name(), action=task.action, hosts={}, _t=time.perf_counter())

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _host(self, result, status):
        if self.current is None:
            return
        res = result._result
        entry = dict(status=status, changed=bool(res.get('changed')))
        if 'results' in res and isinstance(res['results'], list):
            entry['items'] = len(res['results'])
            entry['items_changed'] = sum(1 for r in res['results'] if isinstance(r, dict) and r.get('changed'))
        self.current['hosts'][result._host.get_name()] = entry

    def v2_runner_on_ok(self, result):
        self._host(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._host(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._host(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._host(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        self._close()
        hosts = sorted(stats.processed.keys())
        out = dict(seconds=time.perf_counter() - self.start, tasks=self.tasks,
                   stats=dict((h, stats.summarize(h)) for h in hosts))
        path = os.environ.get('HOSTGW_BENCH_TIMER_OUT')
        if path:
            with open(path, 'w') as f:
                json.dump(out, f, indent=1)
