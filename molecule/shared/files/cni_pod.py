# Copyright (c) hostgw contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test tool run ON a lab host: play a container runtime with the real CNI plugins.

    cni_pod.py add NAME [NAME...]   create netns NAME, run the conflist's plugins (ADD), print {NAME: {ip4, ip6}}
    cni_pod.py del NAME [NAME...]   run the plugins (DEL) in reverse order, delete the netns
    cni_pod.py ping NAME ADDR...    ping each ADDR once from inside pod NAME, print {ADDR: true|false}

It reads the conflist hostgw wrote (the first *.conflist in /etc/cni/net.d, as kubelet would) and executes the
plugins from /usr/lib/cni exactly as the CNI spec says (CNI_* environment, config on stdin, prevResult chaining).
Arguments are pod names and addresses given by the test; nothing goes through a shell.
"""

import glob
import ipaddress
import json
import os
import re
import subprocess
import sys

CONF_DIR = os.environ.get('CNI_CONF_DIR', '/etc/cni/net.d')
CNI_PATH = os.environ.get('CNI_PATH', '/usr/lib/cni:/opt/cni/bin')
NAME_RE = re.compile(r'^[a-z0-9][a-z0-9-]{0,30}$')


def conflist():
    files = sorted(glob.glob(os.path.join(CONF_DIR, '*.conflist')))
    if not files:
        sys.exit('no conflist in %s' % CONF_DIR)
    with open(files[0]) as f:
        return json.load(f)


def find_plugin(kind):
    for d in CNI_PATH.split(':'):
        path = os.path.join(d, kind)
        if os.access(path, os.X_OK):
            return path
    sys.exit('CNI plugin %s not found in %s' % (kind, CNI_PATH))


def run_plugin(command, conf, plugin, pod, prev):
    netconf = dict(plugin)
    netconf['cniVersion'] = conf['cniVersion']
    netconf['name'] = conf['name']
    if prev is not None:
        netconf['prevResult'] = prev
    env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID='hostgw-test-' + pod,
               CNI_NETNS='/var/run/netns/' + pod, CNI_IFNAME='eth0', CNI_PATH=CNI_PATH)
    proc = subprocess.run([find_plugin(plugin['type'])], input=json.dumps(netconf).encode(), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        sys.exit('CNI %s %s for %s failed: %s %s' % (command, plugin['type'], pod, proc.stdout.decode(), proc.stderr.decode()))
    out = proc.stdout.decode().strip()
    return json.loads(out) if out else prev


def add(pods):
    conf = conflist()
    out = {}
    for pod in pods:
        if not os.path.exists('/var/run/netns/' + pod):
            subprocess.run(['ip', 'netns', 'add', pod], check=True)
            subprocess.run(['ip', '-n', pod, 'link', 'set', 'lo', 'up'], check=True)
        prev = None
        for plugin in conf['plugins']:
            prev = run_plugin('ADD', conf, plugin, pod, prev)
        ips = {}
        for ip in (prev or {}).get('ips', []):
            iface = ipaddress.ip_interface(ip['address'])
            ips['ip%d' % iface.version] = str(iface.ip)
        out[pod] = ips
    print(json.dumps(out))


def delete(pods):
    conf = conflist()
    for pod in pods:
        # DEL also when the namespace is gone (a reboot took it), as runtimes do: host-local releases the address.
        for plugin in reversed(conf['plugins']):
            run_plugin('DEL', conf, plugin, pod, None)
        if os.path.exists('/var/run/netns/' + pod):
            subprocess.run(['ip', 'netns', 'delete', pod], check=True)
    print(json.dumps({'deleted': pods}))


def ping(pod, addrs):
    out = {}
    for addr in addrs:
        ip = ipaddress.ip_address(addr)
        proc = subprocess.run(['ip', 'netns', 'exec', pod, 'ping', '-%d' % ip.version, '-c', '1', '-W', '2', str(ip)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        out[addr] = proc.returncode == 0
    print(json.dumps(out))


def main(argv):
    if len(argv) < 2 or argv[0] not in ('add', 'del', 'ping'):
        sys.exit(__doc__)
    for name in argv[1:2] if argv[0] == 'ping' else argv[1:]:
        if not NAME_RE.match(name):
            sys.exit('bad pod name %r' % name)
    if argv[0] == 'add':
        add(argv[1:])
    elif argv[0] == 'del':
        delete(argv[1:])
    else:
        ping(argv[1], argv[2:])


if __name__ == '__main__':
    main(sys.argv[1:])
