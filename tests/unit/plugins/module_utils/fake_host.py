# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake host for the firewall seam: just enough iptables, iptables-restore and nft to run converge() against."""
from __future__ import annotations

from ansible_collections.hostgw.network.plugins.module_utils._firewall import Runner


class FakeHost(Runner):
    def __init__(self, bins=('iptables', 'iptables-restore', 'ip6tables', 'ip6tables-restore', 'nft'),
                 iptables_version='iptables v1.8.9 (nf_tables)'):
        self.bins = set(bins)
        self.iptables_version = iptables_version
        # iptables: {(family, table): {chain: [lines]}}; built-in chains exist from the start
        self.ipt = {}
        for fam in (4, 6):
            self.ipt[(fam, 'nat')] = {'POSTROUTING': []}
            self.ipt[(fam, 'filter')] = {'FORWARD': []}
        self.nft = {}            # {'ip hostgw': text}; foreign tables under other keys
        self.calls = []
        self.fail = {}           # {argv[0] basename: (rc, err)} forced failures
        self.transactions = []

    def which(self, name):
        return '/usr/sbin/' + name if name in self.bins else None

    def writes(self):
        """argv of every call that could change state."""
        out = []
        for argv, _data in self.calls:
            words = argv[1:]
            if argv[0].endswith('-restore') or words[:1] == ['-f'] or any(w in ('-A', '-D', '-F', '-X') for w in words):
                out.append(argv)
        return out

    def run(self, argv, data=None):
        self.calls.append((list(argv), data))
        name = argv[0].rsplit('/', 1)[-1]
        if name in self.fail:
            rc, err = self.fail[name]
            return rc, '', err
        if name in ('iptables', 'ip6tables'):
            return self._iptables(4 if name == 'iptables' else 6, argv[1:])
        if name in ('iptables-restore', 'ip6tables-restore'):
            return self._restore(4 if name == 'iptables-restore' else 6, data)
        if name == 'nft':
            return self._nft(argv[1:], data)
        return 127, '', 'no such command %s' % name

    # -- iptables
    def _iptables(self, fam, args):
        if args == ['-V']:
            return 0, self.iptables_version + '\n', ''
        args = [a for a in args if a != '-w']
        table = 'filter'
        if args[0] == '-t':
            table, args = args[1], args[2:]
        chains = self.ipt[(fam, table)]
        op, chain, rest = args[0], args[1], args[2:]
        if chain not in chains:
            return 1, '', 'iptables: No chain/target/match by that name.'
        if op == '-S':
            head = '-N %s\n' % chain if chain.startswith('HOSTGW') else '-P %s ACCEPT\n' % chain
            return 0, head + ''.join(x + '\n' for x in chains[chain]), ''
        line = ' '.join(['-A', chain] + rest)
        if op == '-A':
            chains[chain].append(line)
        elif op == '-D':
            if line not in chains[chain]:
                return 1, '', 'iptables: Bad rule (does a matching rule exist in that chain?).'
            chains[chain].remove(line)
        elif op == '-F':
            chains[chain] = []
        elif op == '-X':
            del chains[chain]
        return 0, '', ''

    def _restore(self, fam, data):
        table = None
        for line in data.splitlines():
            if line.startswith('*'):
                table = line[1:]
            elif line.startswith(':'):
                self.ipt[(fam, table)].setdefault(line[1:].split()[0], [])
            elif line.startswith('-F '):
                self.ipt[(fam, table)][line.split()[1]] = []
            elif line.startswith('-A '):
                self.ipt[(fam, table)][line.split()[1]].append(line)
        return 0, '', ''

    # -- nft
    def _nft(self, args, data):
        if args[:2] == ['list', 'table']:
            key = '%s %s' % (args[2], args[3])
            if key not in self.nft:
                return 1, '', 'Error: No such file or directory\nlist table %s\n' % key
            return 0, self.nft[key], ''
        if args == ['list', 'chains']:
            return 0, ''.join(self.nft.values()), ''
        if args == ['-f', '-']:
            self.transactions.append(data)
            new = dict(self.nft)
            lines = data.splitlines()
            i = 0
            while i < len(lines):
                words = lines[i].split()
                if words[:1] == ['table'] and words[-1] == '{':
                    key = '%s %s' % (words[1], words[2])
                    block = [lines[i]]
                    while lines[i] != '}':
                        i += 1
                        block.append(lines[i])
                    new[key] = '\n'.join(block) + '\n'
                elif words[:1] == ['table']:
                    new.setdefault('%s %s' % (words[1], words[2]), 'table %s %s {\n}\n' % (words[1], words[2]))
                elif words[:2] == ['delete', 'table']:
                    key = '%s %s' % (words[2], words[3])
                    if key not in new:
                        return 1, '', 'Error: No such file or directory'   # the whole transaction fails
                    del new[key]
                i += 1
            self.nft = new
            return 0, '', ''
        return 1, '', 'unsupported nft call %r' % args
