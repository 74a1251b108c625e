# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only notification callback: every task result and the recap as JSON lines, for tests/role and tests/reliability.

Enabled by the test helpers (ANSIBLE_CALLBACK_PLUGINS + ANSIBLE_CALLBACKS_ENABLED=hostgw_events); writes to the file
named by HOSTGW_EVENTS_FILE. The screen output (default callback) is unchanged.
"""

from __future__ import annotations

DOCUMENTATION = r'''
name: hostgw_events
type: notification
short_description: Task results and recap as JSON lines (hostgw test suite only)
description: Writes one JSON object per task result and one for the recap to the file in HOSTGW_EVENTS_FILE.
requirements: [enable in ANSIBLE_CALLBACKS_ENABLED]
'''

import json  # noqa: E402  pylint: disable=wrong-import-position
import os  # noqa: E402  pylint: disable=wrong-import-position

from ansible.plugins.callback import CallbackBase  # noqa: E402  pylint: disable=wrong-import-position


def _plain(value):
    """Ansible 2.19 results carry tagged str/dict subclasses: turn them into plain JSON data."""
    return json.loads(json.dumps(value, default=str))


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'hostgw_events'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._path = os.environ.get('HOSTGW_EVENTS_FILE')

    def _write(self, event):
        if not self._path:
            return
        with open(self._path, 'a') as f:
            f.write(json.dumps(_plain(event), sort_keys=True) + '\n')

    def _result(self, status, result):
        res = getattr(result, '_result', None)
        if res is None:
            res = getattr(result, 'result', {})
        task = getattr(result, '_task', None) or getattr(result, 'task', None)
        host = getattr(result, '_host', None) or getattr(result, 'host', None)
        try:
            data = _plain(dict(res))
        except Exception:  # pylint: disable=broad-except
            data = {'unserializable': str(res)}
        data.pop('invocation', None)
        self._write(dict(event='result', status=status, host=host.get_name() if host else None,
                         task=task.get_name() if task else None, action=getattr(task, 'action', None), result=data))

    def v2_runner_on_ok(self, result):
        res = getattr(result, '_result', None) or {}
        self._result('changed' if res.get('changed') else 'ok', result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result('ignored' if ignore_errors else 'failed', result)

    def v2_runner_on_skipped(self, result):
        self._result('skipped', result)

    def v2_runner_on_unreachable(self, result):
        self._result('unreachable', result)

    def v2_playbook_on_stats(self, stats):
        recap = {}
        for host in sorted(stats.processed.keys()):
            recap[host] = stats.summarize(host)
        self._write(dict(event='stats', recap=recap))
