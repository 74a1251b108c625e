#!/usr/bin/env bash
# Install everything this repo needs on a Debian bookworm machine, from nothing.
# Idempotent: every step checks first and is skipped when already done (the all-present
# path takes well under 5 s). Run as root (apt, /etc/containers, podman as root).
#
#   scripts/bootstrap.sh
#
# Steps: apt packages, /etc/containers/containers.conf, .venv (requirements-dev.txt),
# .venv-deb (Debian python3 + its python3-pyroute2 0.7.2), the containers.podman collection
# (from the ansible==12.3.0 wheel on PyPI) and the host image localhost/hostgw-node:bookworm
# (debootstrap + podman import). Logs of the quiet commands go to .cache/bootstrap-logs/.
# The version matrix (scripts/test.sh stages matrix and compat): .venv-2.16 and .venv-2.21, the oldest and the
# newest supported ansible-core (pins in tests/compat/requirements-*.txt), .cache/pythons/bin (python3.X links
# to the machine's pyenv interpreters, for ansible-test's target Pythons) and ansible.utils from the same wheel.
#
# Environment:
#   HOSTGW_IMAGE   image to check/build (default localhost/hostgw-node:bookworm)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"

IMAGE="${HOSTGW_IMAGE:-localhost/hostgw-node:bookworm}"
IMAGE_SUITE=bookworm
IMAGE_PACKAGES="python3,python3-pyroute2,iproute2,iputils-ping,iptables,nftables,procps,containernetworking-plugins"
APT_PACKAGES=(podman runc debootstrap containernetworking-plugins iptables nftables
              python3-pyroute2 python3-venv iproute2 iputils-ping make openssh-client)
ANSIBLE_PKG_VERSION=12.3.0           # PyPI "ansible" release that carries containers.podman
DEB_PYTHON=/usr/bin/python3
DEB_PYROUTE2=0.7.2
CONTAINERS_CONF=/etc/containers/containers.conf
REQUIREMENTS="$REPO/requirements-dev.txt"
# Version matrix: "NAME PYTHON-VERSION" per extra venv; its pins are tests/compat/requirements-NAME.txt.
MATRIX_VENVS=("2.16 3.11" "2.21 3.13")
PYENV_ROOT_DIR="${PYENV_ROOT:-/root/.pyenv}"
# Target Pythons ansible-test must find as python3.X (sanity compile/import, units).
TARGET_PYTHONS=(3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13)

CACHE="$REPO/.cache"
LOGDIR="$CACHE/bootstrap-logs"
COLL_ROOT="$CACHE/collections/ansible_collections"
PIP=(--disable-pip-version-check --no-input -q)

mkdir -p "$LOGDIR"
# One bootstrap at a time per checkout.
exec 9>"$CACHE/bootstrap.lock"
flock 9

say() { printf '==> %s\n' "$*"; }
die() { printf 'bootstrap: ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }

# quiet NAME CMD...: run CMD with output to .cache/bootstrap-logs/NAME.log; show its tail on failure.
quiet() {
    local log="$LOGDIR/$1.log"; shift
    if ! "$@" >"$log" 2>&1; then
        printf 'bootstrap: command failed: %s\n--- last lines of %s ---\n' "$*" "$log" >&2
        tail -n 30 "$log" >&2
        return 1
    fi
}

need_root() {
    [[ $EUID -eq 0 ]] || die "$1 needs root (run as root or with sudo)"
}

TIMINGS=()
# step NAME FUNCTION: run a step and record its wall time.
step() {
    local name=$1 fn=$2 t0
    t0=$(now)
    "$fn"
    TIMINGS+=("$name $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}')")
}

sha() { sha256sum | cut -d' ' -f1; }

# ---------------------------------------------------------------- apt packages
step_apt() {
    command -v dpkg-query >/dev/null || die "not a Debian system (no dpkg-query)"
    local missing=() pkg status
    while read -r pkg status; do
        [[ $status == "install ok installed" ]] || missing+=("$pkg")
    done < <(for p in "${APT_PACKAGES[@]}"; do
                 printf '%s %s\n' "$p" "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || echo missing)"
             done)
    ((${#missing[@]})) || return 0
    need_root "installing apt packages"
    say "installing apt packages: ${missing[*]} (about 1 min)"
    export DEBIAN_FRONTEND=noninteractive
    quiet apt-update apt-get update -qq
    quiet apt-install apt-get install -y -qq -o Dpkg::Options::=--force-confold "${missing[@]}"
}

# ---------------------------------------------------------------- containers.conf
containers_conf() {
    cat <<'EOF'
# Written by hostgw.network scripts/bootstrap.sh.
# crun fails on this kind of VM (setrlimit RLIMIT_NOFILE, cgroups hybrid mode): use runc.
# Containers do not start with podman's default ulimits here: set them explicitly.
[containers]
default_ulimits = [
  "nofile=1024:1024",
  "nproc=1024:1024",
]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
}

step_containers_conf() {
    if [[ -f $CONTAINERS_CONF ]] && containers_conf | cmp -s - "$CONTAINERS_CONF"; then
        return 0
    fi
    need_root "writing $CONTAINERS_CONF"
    mkdir -p "${CONTAINERS_CONF%/*}"
    if [[ -e $CONTAINERS_CONF ]]; then
        local backup
        backup="$CONTAINERS_CONF.bak-$(date +%Y%m%d-%H%M%S)"
        cp -p "$CONTAINERS_CONF" "$backup"
        say "writing $CONTAINERS_CONF (previous file kept as $backup)"
    else
        say "writing $CONTAINERS_CONF"
    fi
    containers_conf >"$CONTAINERS_CONF.tmp.$$"
    chmod 644 "$CONTAINERS_CONF.tmp.$$"
    mv -f "$CONTAINERS_CONF.tmp.$$" "$CONTAINERS_CONF"
}

# ---------------------------------------------------------------- venvs
# The interpreter for .venv: `python3` on PATH if it is >= 3.11 (ansible-core 2.19 needs it),
# else Debian's.
pick_python() {
    local py
    for py in python3 "$DEB_PYTHON"; do
        if command -v "$py" >/dev/null &&
           "$py" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$py"; return 0
        fi
    done
    die "no python3 >= 3.11 with the venv module found"
}

# venv_ok DIR: the venv's interpreter exists and runs.
venv_ok() { [[ -x $1/bin/python ]] && "$1/bin/python" -c '' 2>/dev/null; }

step_venv() {
    local venv="$REPO/.venv" stamp want
    [[ -f $REQUIREMENTS ]] || die "missing $REQUIREMENTS"
    want=$(sha <"$REQUIREMENTS")
    stamp="$venv/.hostgw-requirements.sha256"
    if venv_ok "$venv" && [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
        return 0
    fi
    if ! venv_ok "$venv"; then
        local py
        py=$(pick_python)
        say "creating .venv with $py ($("$py" -V 2>&1))"
        rm -rf "$venv"
        quiet venv-create "$py" -m venv "$venv"
    fi
    say "installing requirements-dev.txt into .venv (about 1 min)"
    quiet venv-pip "$venv/bin/python" -m pip install "${PIP[@]}" -r "$REQUIREMENTS"
    "$venv/bin/python" -c 'import ansible, molecule, pyroute2, netaddr, pytest, hypothesis, galaxy_importer, antsibull_docs, antsibull_changelog' \
        || die ".venv is missing a module after pip install"
    printf '%s\n' "$want" >"$stamp"
}

deb_requirements() {
    # ansible-core and pytest, with the same pins as requirements-dev.txt; never pyroute2.
    grep -iE '^(ansible-core|pytest)[=<>~! ]' "$REQUIREMENTS" || die "no ansible-core/pytest pin in $REQUIREMENTS"
}

check_deb_pyroute2() {
    "$1/bin/python" - "$DEB_PYROUTE2" <<'EOF'
import importlib.metadata as md, sys
import pyroute2
want = sys.argv[1]
got = md.version("pyroute2")
if got != want or not pyroute2.__file__.startswith("/usr/lib/python3/dist-packages/"):
    sys.exit(f".venv-deb: import pyroute2 gives {got} from {pyroute2.__file__}, want Debian's {want}")
EOF
}

step_venv_deb() {
    local venv="$REPO/.venv-deb" stamp want reqs
    [[ -x $DEB_PYTHON ]] || die "$DEB_PYTHON missing"
    reqs=$(deb_requirements)
    want=$(printf '%s\n' "$reqs" | sha)
    stamp="$venv/.hostgw-requirements.sha256"
    if venv_ok "$venv" && [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
        return 0
    fi
    if ! venv_ok "$venv"; then
        say "creating .venv-deb with $DEB_PYTHON --system-site-packages ($("$DEB_PYTHON" -V 2>&1))"
        rm -rf "$venv"
        quiet venv-deb-create "$DEB_PYTHON" -m venv --system-site-packages "$venv"
    fi
    say "installing ansible-core and pytest into .venv-deb (about 30 s)"
    printf '%s\n' "$reqs" >"$venv/requirements.txt"
    quiet venv-deb-pip "$venv/bin/python" -m pip install "${PIP[@]}" -r "$venv/requirements.txt"
    if [[ -n $(find "$venv/lib" -maxdepth 3 -iname 'pyroute2*' -print -quit) ]]; then
        die ".venv-deb: pip installed pyroute2 into the venv; Debian's must be used"
    fi
    check_deb_pyroute2 "$venv" || exit 1
    printf '%s\n' "$want" >"$stamp"
}

# ---------------------------------------------------------------- containers.podman
# Collections taken from the ansible wheel: containers.podman (podman connection), ansible.utils (ipaddr filters
# of the example inventory and the compat scenario).
WHEEL_COLLECTIONS=(containers/podman ansible/utils)

step_collection() {
    local c missing=()
    for c in "${WHEEL_COLLECTIONS[@]}"; do
        [[ -f $COLL_ROOT/$c/MANIFEST.json && -f $COLL_ROOT/$c/.hostgw-source &&
           $(<"$COLL_ROOT/$c/.hostgw-source") == "ansible==$ANSIBLE_PKG_VERSION" ]] || missing+=("$c")
    done
    ((${#missing[@]})) || return 0
    local wheels="$CACHE/wheels" wheel
    mkdir -p "$wheels"
    wheel=$(find "$wheels" -maxdepth 1 -name "ansible-$ANSIBLE_PKG_VERSION-*.whl" | head -n1)
    if [[ -z $wheel ]]; then
        say "downloading the ansible==$ANSIBLE_PKG_VERSION wheel for containers.podman (54 MB)"
        quiet pip-download "$REPO/.venv/bin/python" -m pip download "${PIP[@]}" --no-deps \
            --only-binary=:all: -d "$wheels" "ansible==$ANSIBLE_PKG_VERSION"
        wheel=$(find "$wheels" -maxdepth 1 -name "ansible-$ANSIBLE_PKG_VERSION-*.whl" | head -n1)
        [[ -n $wheel ]] || die "pip download gave no ansible-$ANSIBLE_PKG_VERSION wheel"
    fi
    local tmp dest
    for c in "${missing[@]}"; do
        say "extracting ${c/\//.} from ${wheel##*/}"
        tmp=$(mktemp -d "$CACHE/collection.XXXXXX")
        "$REPO/.venv/bin/python" - "$wheel" "$tmp" "ansible_collections/$c/" <<'EOF'
import sys, zipfile
prefix = sys.argv[3]
with zipfile.ZipFile(sys.argv[1]) as z:
    members = [n for n in z.namelist() if n.startswith(prefix)]
    if not members:
        sys.exit(f"{sys.argv[1]} has no {prefix}")
    z.extractall(sys.argv[2], members)
EOF
        dest="$COLL_ROOT/$c"
        mkdir -p "${dest%/*}"
        rm -rf "$dest"
        mv "$tmp/ansible_collections/$c" "$dest"
        rm -rf "$tmp"
        printf '%s\n' "ansible==$ANSIBLE_PKG_VERSION" >"$dest/.hostgw-source"
    done
}

# ---------------------------------------------------------------- version matrix
# pyenv_python X.Y: the machine's pyenv interpreter for X.Y (newest patch release), or nothing.
pyenv_python() {
    local d
    d=$(find "$PYENV_ROOT_DIR/versions" -maxdepth 1 -name "$1.*" 2>/dev/null | sort -V | tail -n1)
    [[ -n $d && -x $d/bin/python$1 ]] && printf '%s\n' "$d/bin/python$1"
}

# .cache/pythons/bin/python3.X -> pyenv's interpreters (pyenv's shims refuse versions that are not active).
step_pythons() {
    local bin="$CACHE/pythons/bin" v py
    mkdir -p "$bin"
    for v in "${TARGET_PYTHONS[@]}"; do
        py=$(pyenv_python "$v") || { rm -f "$bin/python$v"; continue; }
        [[ $(readlink "$bin/python$v" 2>/dev/null) == "$py" ]] || ln -sfn "$py" "$bin/python$v"
    done
}

step_matrix() {
    local entry name pyv py venv reqs want stamp
    for entry in "${MATRIX_VENVS[@]}"; do
        read -r name pyv <<<"$entry"
        venv="$REPO/.venv-$name"
        reqs="$REPO/tests/compat/requirements-$name.txt"
        [[ -f $reqs ]] || die "missing $reqs"
        py=$(pyenv_python "$pyv") || die "no Python $pyv under $PYENV_ROOT_DIR/versions for .venv-$name"
        want=$( { printf '%s\n' "$py"; cat "$reqs"; } | sha)
        stamp="$venv/.hostgw-requirements.sha256"
        [[ -d $venv && ! -f $venv/.gitignore ]] && printf '*\n' >"$venv/.gitignore"
        if venv_ok "$venv" && [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
            continue
        fi
        say "creating .venv-$name with $py and ${reqs#"$REPO"/} (about 20 s)"
        rm -rf "$venv"
        quiet "venv-$name-create" "$py" -m venv "$venv"
        # Not part of the checkout (git ls-files --others feeds the ansible-test copy); Python 3.13's venv does
        # this itself, older ones do not.
        printf '*\n' >"$venv/.gitignore"
        quiet "venv-$name-pip" "$venv/bin/python" -m pip install "${PIP[@]}" -r "$reqs"
        "$venv/bin/python" -c 'import ansible, netaddr' || die ".venv-$name is missing a module after pip install"
        printf '%s\n' "$want" >"$stamp"
    done
}

# ---------------------------------------------------------------- host image
# shellcheck source=scripts/debian-mirror.sh
source "$REPO/scripts/debian-mirror.sh"

ROOTFS_TMP=""
cleanup_rootfs() {
    [[ -n $ROOTFS_TMP && -d $ROOTFS_TMP ]] || return 0
    # debootstrap may leave /proc, /sys... mounted inside the target when it fails.
    local m
    while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
        awk -v p="$ROOTFS_TMP/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r)
    rm -rf --one-file-system "$ROOTFS_TMP"
    ROOTFS_TMP=""
}
trap cleanup_rootfs EXIT
trap 'exit 130' INT TERM

step_image() {
    if podman image exists "$IMAGE"; then
        return 0
    fi
    need_root "building $IMAGE"
    local mirror rootfs
    mirror=$(debian_mirror)
    ROOTFS_TMP=$(mktemp -d /var/tmp/hostgw-rootfs.XXXXXX)
    rootfs="$ROOTFS_TMP/rootfs"
    say "building host image $IMAGE with debootstrap from $mirror (about 1 min)"
    quiet debootstrap debootstrap --variant=minbase --include="$IMAGE_PACKAGES" \
        "$IMAGE_SUITE" "$rootfs" "$mirror"
    rm -rf "${rootfs:?}"/var/cache/apt/archives/*.deb "${rootfs:?}"/var/lib/apt/lists/* \
           "${rootfs:?}"/debootstrap
    say "importing $IMAGE"
    tar -C "$rootfs" --numeric-owner -c . |
        podman import --change 'CMD=["/bin/bash"]' - "$IMAGE" >"$LOGDIR/podman-import.log" 2>&1 \
        || { tail -n 20 "$LOGDIR/podman-import.log" >&2; die "podman import failed"; }
    cleanup_rootfs
    # Smoke test without any network.
    quiet image-smoke podman run --rm --network none "$IMAGE" python3 -c 'import pyroute2' \
        || die "the new image $IMAGE does not run python3"
}

# ---------------------------------------------------------------- main
step apt step_apt
step containers.conf step_containers_conf
step venv step_venv
step venv-deb step_venv_deb
step collection step_collection
step pythons step_pythons
step matrix step_matrix
step image step_image

# Make the collection path complete (links hostgw.network to this checkout).
# shellcheck source=scripts/env.sh
source "$REPO/scripts/env.sh"

pyver() { "$1/bin/python" -c 'import importlib.metadata as m; print(m.version("ansible-core"), m.version("pyroute2"))'; }
read -r core pyr < <(pyver "$REPO/.venv")
read -r dcore dpyr < <(pyver "$REPO/.venv-deb")
matrix=""
for entry in "${MATRIX_VENVS[@]}"; do
    read -r name _ <<<"$entry"
    matrix+=" | .venv-$name ansible-core $("$REPO/.venv-$name/bin/python" -c 'import importlib.metadata as m; print(m.version("ansible-core"))')"
done
say "ready: .venv ansible-core $core pyroute2 $pyr | .venv-deb ansible-core $dcore pyroute2 $dpyr$matrix | podman $(podman version --format '{{.Client.Version}}') | image $IMAGE"
say "timings: ${TIMINGS[*]}"
