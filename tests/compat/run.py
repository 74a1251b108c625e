"""The version-matrix converge: the role on a 2-host podman lab, once per ansible-core.

    python tests/compat/run.py .venv-2.16 .venv-2.21      (scripts/test.sh compat, under the podman lock)

For every venv given: fresh hosts (podman containers from localhost/hostgw-node:bookworm on the --internal
network hostgw-compat, 10.173.0.0/24), then that venv's ansible-playbook runs playbooks/site.yml with
tests/compat/inventory (kubespray style: node IPs and pins templated with ansible.utils filters, which need
netaddr on the controller), then reads the kernel back on each host (the peer's pod subnet routed via the peer's
node IP with hostgw's protocol, the bridge holding the pods' gateway, a ping to the peer's pod gateway crossing
the lab network), then runs the playbook again and asserts changed=0 on every host. The lab is removed at the end.

Safety: the network is created --internal (checked before any host joins it), and every host is checked to have
no default route before Ansible runs. No shell strings: podman and ansible-playbook get argument vectors.
"""
import ipaddress
import json
import os
import re
import subprocess
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
INVENTORY = os.path.join(HERE, 'inventory')
PLAYBOOK = os.path.join(REPO, 'playbooks', 'site.yml')
NETWORK = 'hostgw-compat'
SUBNET = '10.173.0.0/24'
IMAGE = os.environ.get('HOSTGW_IMAGE', 'localhost/hostgw-node:bookworm')
ROUTE_PROTO = 244
READY_TRIES = 30
RECAP = re.compile(r'^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


class CompatError(Exception):
    pass


def podman(*args, check=True, timeout=120):
    p = subprocess.run(['podman'] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout, check=False)
    if check and p.returncode != 0:
        raise CompatError('podman %s failed (%d): %s' % (' '.join(args)[:200], p.returncode, p.stderr[-2000:]))
    return p


def lab_hosts():
    """{name: (node IP, index)} from the inventory, computed here with the standard library (not netaddr)."""
    with open(os.path.join(INVENTORY, 'hosts.yml')) as f:
        inv = yaml.safe_load(f)
    hosts = inv['all']['children']['hostgw_nodes']['hosts']
    out = {}
    for name, hv in hosts.items():
        ip = ipaddress.ip_interface(hv['ip'])
        if ip not in ipaddress.ip_network(SUBNET) and ip.ip not in ipaddress.ip_network(SUBNET):
            raise CompatError('%s: %s is outside the lab network %s' % (name, ip, SUBNET))
        out[name] = (str(ip.ip), int(hv['node_index']))
    return out


def pod_subnet(index):
    # group_vars: hostgw_network 10.244.0.0/16 | ansible.utils.ipsubnet(24, node_index)
    return list(ipaddress.ip_network('10.244.0.0/16').subnets(new_prefix=24))[index]


def ensure_network():
    if podman('network', 'exists', NETWORK, check=False).returncode != 0:
        podman('network', 'create', '--internal', '--disable-dns', '--subnet', SUBNET,
               '--label', 'hostgw-lab=1', NETWORK)
    net = json.loads(podman('network', 'inspect', NETWORK).stdout)[0]
    subnets = [s.get('subnet') for s in net.get('subnets') or []]
    if not net.get('internal') or subnets != [SUBNET]:
        raise CompatError('SAFETY: podman network %s is not internal with subnet %s (internal=%s, subnets=%s): '
                          'remove it or pick another name' % (NETWORK, SUBNET, net.get('internal'), subnets))


def start_hosts(hosts):
    for name, host in hosts.items():
        ip = host[0]
        podman('run', '--detach', '--replace', '--pull=never', '--name', name, '--hostname', name,
               '--network=%s:ip=%s' % (NETWORK, ip), '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW',
               '--sysctl', 'net.ipv4.ip_forward=1', '--stop-timeout=1', '--label', 'hostgw-lab=1',
               IMAGE, 'sleep', 'infinity')
    for name in hosts:
        for dummy in range(READY_TRIES):
            if podman('exec', name, 'python3', '-c', '1', check=False).returncode == 0:
                break
            time.sleep(1)
        else:
            raise CompatError('%s does not run python3 after %d tries' % (name, READY_TRIES))
        for family in ('-4', '-6'):
            r = podman('exec', name, 'ip', family, 'route', 'show', 'default').stdout.strip()
            if r:
                raise CompatError('SAFETY: %s has a default route (%s): lab hosts must have none' % (name, r))


def destroy(hosts):
    podman('rm', '--force', '--ignore', '--time', '0', *hosts, check=False)
    others = podman('ps', '--all', '--quiet', '--filter', 'network=%s' % NETWORK, check=False).stdout.split()
    if not others:
        podman('network', 'rm', '--force', NETWORK, check=False)


def playbook(venv, label):
    env = dict(os.environ)
    env.pop('ANSIBLE_FORCE_COLOR', None)
    env.update(ANSIBLE_NOCOLOR='1', NO_COLOR='1', ANSIBLE_RETRY_FILES_ENABLED='False',
               ANSIBLE_REMOTE_TMP='/tmp/.ansible-hostgw-compat',
               PATH=os.path.join(venv, 'bin') + os.pathsep + env.get('PATH', ''), VIRTUAL_ENV=venv)
    argv = [os.path.join(venv, 'bin', 'ansible-playbook'), '-i', INVENTORY, PLAYBOOK]
    t0 = time.monotonic()
    p = subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=900, check=False)
    secs = time.monotonic() - t0
    log = os.path.join(REPO, '.cache', 'test-logs', 'compat-%s-%s.log' % (os.path.basename(venv), label))
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, 'w') as f:
        f.write(p.stdout)
    recap = {m.group(1): dict(ok=int(m.group(2)), changed=int(m.group(3)), unreachable=int(m.group(4)),
                              failed=int(m.group(5))) for m in RECAP.finditer(p.stdout)}
    return p.returncode, p.stdout, recap, secs, log


def check_kernel(hosts):
    """Each host routes every peer's pod subnet via the peer's node IP (proto 244), holds its own gateway on
    cni0, and reaches every peer's pod gateway across the lab network."""
    for name, host in hosts.items():
        index = host[1]
        routes = json.loads(podman('exec', name, 'ip', '-4', '-j', 'route', 'show', 'proto',
                                   str(ROUTE_PROTO)).stdout or '[]')
        got = {(r.get('dst'), r.get('gateway')) for r in routes}
        want = {(str(pod_subnet(pi)), pip) for peer, (pip, pi) in hosts.items() if peer != name}
        if not want <= got:
            raise CompatError('%s: routes proto %d are %s, want %s' % (name, ROUTE_PROTO, sorted(got), sorted(want)))
        addrs = json.loads(podman('exec', name, 'ip', '-4', '-j', 'addr', 'show', 'dev', 'cni0').stdout or '[]')
        have = {'%s/%s' % (a['local'], a['prefixlen']) for link in addrs for a in link.get('addr_info', [])}
        gw = '%s/%d' % (next(pod_subnet(index).hosts()), pod_subnet(index).prefixlen)
        if gw not in have:
            raise CompatError('%s: cni0 has %s, want %s' % (name, sorted(have), gw))
        for peer, (peer_ip, pi) in hosts.items():
            if peer == name:
                continue
            peer_gw = str(next(pod_subnet(pi).hosts()))
            p = podman('exec', name, 'ping', '-c', '1', '-W', '2', peer_gw, check=False)
            if p.returncode != 0:
                raise CompatError('%s cannot ping %s (gateway of %s, node %s): %s'
                                  % (name, peer_gw, peer, peer_ip, p.stdout[-500:]))


def run_version(venv, hosts):
    ver = subprocess.run([os.path.join(venv, 'bin', 'python'), '-c',
                          'import importlib.metadata as m; print(m.version("ansible-core"))'],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip()
    start_hosts(hosts)
    rc, out, recap, t1, log = playbook(venv, 'converge')
    if rc != 0 or set(recap) != set(hosts) or any(r['failed'] or r['unreachable'] for r in recap.values()):
        print('\n'.join(out.splitlines()[-40:]))
        raise CompatError('ansible-core %s: converge failed (rc %d, recap %s; log %s)' % (ver, rc, recap, log))
    if not all(r['changed'] > 0 for r in recap.values()):
        raise CompatError('ansible-core %s: the first converge changed nothing on some host: %s' % (ver, recap))
    check_kernel(hosts)
    rc, out, recap2, t2, log = playbook(venv, 'idempotence')
    if rc != 0 or set(recap2) != set(hosts) or any(r['failed'] or r['unreachable'] for r in recap2.values()):
        print('\n'.join(out.splitlines()[-40:]))
        raise CompatError('ansible-core %s: second run failed (rc %d, recap %s; log %s)' % (ver, rc, recap2, log))
    changed = {h: r['changed'] for h, r in recap2.items() if r['changed']}
    if changed:
        print('\n'.join(line for line in out.splitlines() if line.startswith('changed:'))[-3000:])
        raise CompatError('ansible-core %s: not idempotent, second run changed %s (log %s)' % (ver, changed, log))
    check_kernel(hosts)
    warnings = sorted({line.strip() for line in out.splitlines() if line.startswith('[WARNING]')
                       or line.startswith('[DEPRECATION WARNING]')})
    print('compat: ansible-core %s: converge %.0fs (changed %s), re-run %.0fs changed=0; routes, bridge and '
          'pings checked on %d hosts' % (ver, t1, ','.join(str(r['changed']) for r in recap.values()), t2,
                                         len(hosts)))
    for w in warnings:
        print('compat: ansible-core %s: %s' % (ver, w[:300]))


def main(venvs):
    if not venvs:
        sys.exit(__doc__)
    hosts = lab_hosts()
    failures = 0
    try:
        ensure_network()
        for venv in venvs:
            venv = os.path.abspath(venv)
            try:
                run_version(venv, hosts)
            except CompatError as e:
                failures += 1
                print('compat: FAILED: %s' % e)
    except CompatError as e:
        failures += 1
        print('compat: FAILED: %s' % e)
    finally:
        if not os.environ.get('HOSTGW_LAB_KEEP'):
            destroy(hosts)
    print('compat: %d passed, %d failed' % (len(venvs) - min(failures, len(venvs)), failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
