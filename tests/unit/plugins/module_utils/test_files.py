# -*- coding: utf-8 -*-
# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one writer of hostgw's files (plugins/module_utils/_files.py): atomic writes, modes, the manifest, teardown that
removes only what hostgw wrote."""

from __future__ import annotations

import os

import pytest

from ansible_collections.hostgw.network.plugins.module_utils import _files

__metaclass__ = type  # pylint: disable=invalid-name


class FakeModule:
    @staticmethod
    def atomic_move(src, dest):
        os.rename(src, dest)


def test_files_manifest_teardown_keeps_foreign_files_and_dirs(tmp_path):
    state_dir = tmp_path / 'hostgw'
    manifest = str(state_dir / 'manifest.json')
    items = [dict(path=str(state_dir / 'lease.json'), content='{}\n', mode='0600'),
             dict(path=str(tmp_path / 'cni' / 'net.d' / '10-hostgw.conflist'), content='{}\n', mode='0644')]
    changed, _diffs, _kept = _files.sync(FakeModule(), items, manifest)
    assert len(changed) == 2 and oct(os.stat(items[0]['path']).st_mode & 0o777) == '0o600'
    recorded = _files.read_manifest(manifest)
    assert str(state_dir) in recorded['dirs'] and str(tmp_path / 'cni') in recorded['dirs']
    assert _files.sync(FakeModule(), items, manifest)[0] == []                  # idempotent
    (state_dir / 'other-tool.conf').write_text('x')                            # another tool's file in the state dir
    changed, _diffs, kept = _files.sync(FakeModule(), [], manifest, present=False)
    assert not os.path.exists(items[0]['path']) and not os.path.exists(manifest)
    assert (state_dir / 'other-tool.conf').read_text() == 'x'
    assert kept == ['%s (holds files hostgw did not write)' % state_dir]
    assert not os.path.exists(str(tmp_path / 'cni'))                          # created by hostgw and now empty


def test_teardown_removes_the_bytecode_of_our_own_code_and_nothing_else_there(tmp_path):
    """Python's __pycache__ beside the boot program's vendored code (written by runs of releases that did not stop
    it): the .pyc of our own modules go with them; another file in that __pycache__ stays, and so does the dir."""
    lib = tmp_path / 'hostgw' / 'restore' / 'lib'
    manifest = str(tmp_path / 'hostgw' / 'manifest.json')
    items = [dict(path=str(lib / '_node.py'), content='x = 1\n', mode='0644'),
             dict(path=str(lib / '_routes.py'), content='y = 2\n', mode='0644')]
    _files.sync(FakeModule(), items, manifest)
    cache = lib / '__pycache__'
    cache.mkdir()
    for name in ('_node.cpython-311.pyc', '_routes.cpython-313.pyc'):
        (cache / name).write_bytes(b'pyc')
    changed, _diffs, kept = _files.sync(FakeModule(), [], manifest, present=False)
    assert not os.path.exists(str(tmp_path / 'hostgw')), (changed, kept)     # everything ours, so all of it went
    _files.sync(FakeModule(), items, manifest)
    cache.mkdir()
    (cache / '_node.cpython-311.pyc').write_bytes(b'pyc')
    (cache / 'someone_else.cpython-311.pyc').write_bytes(b'pyc')               # not the bytecode of a file of ours
    changed, _diffs, kept = _files.sync(FakeModule(), [], manifest, present=False)
    assert sorted(os.listdir(str(cache))) == ['someone_else.cpython-311.pyc']
    assert kept[0] == '%s (holds files hostgw did not write)' % cache


def test_files_refuse_relative_paths_and_directories(tmp_path):
    with pytest.raises(_files.FilesError):
        _files.sync(FakeModule(), [dict(path='relative', content='x')], None)
    d = tmp_path / 'dir'
    d.mkdir()
    with pytest.raises(_files.FilesError) as e:
        _files.sync(FakeModule(), [dict(path=str(d), content='x')], None)
    assert 'is not a regular file' in str(e.value)
    # absent with a directory among the files: the directory is never removed
    _files.sync(FakeModule(), [dict(path=str(d))], None, present=False)
    assert d.is_dir()


def _record_many(manifest, worker, count):
    for k in range(count):
        _files.record(FakeModule(), manifest, ['/w%d/file%d' % (worker, k)], ['/w%d/dir%d' % (worker, k)])


def test_manifest_records_of_concurrent_runs_are_never_lost(tmp_path):
    """Two runs at once on one node (two playbooks, as tests/reliability runs them) each record what they wrote and
    the directories they created; the second run finds those directories already there and does not record them,
    so an update lost between read and write would leave them behind at teardown. Four processes record 40 entries
    each at the same time: every entry is in the manifest."""
    import multiprocessing  # pylint: disable=import-outside-toplevel
    manifest = str(tmp_path / 'hostgw' / 'manifest.json')
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=_record_many, args=(manifest, w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    recorded = _files.read_manifest(manifest)
    assert len(recorded['files']) == 160, 160 - len(recorded['files'])
    assert set('/w%d/dir%d' % (w, k) for w in range(4) for k in range(40)) <= set(recorded['dirs'])
    assert str(tmp_path / 'hostgw') in recorded['dirs']          # created by the first record, and recorded
