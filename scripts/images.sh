#!/usr/bin/env bash
# Build the systemd + SSH host images for the real-host scenarios (molecule/ssh-*), cached.
#
#   scripts/images.sh                 # both: localhost/hostgw-sys:bookworm and :trixie (in parallel)
#   scripts/images.sh bookworm        # one suite
#
# Two stages, both cached:
#   1. debootstrap --variant=minbase of the suite's packages from the machine's Debian mirror
#      -> .cache/images/rootfs-SUITE-<hash of the package list>.tar (the slow part, minutes)
#   2. configure a copy of that rootfs (user `hostgw` with passwordless sudo, sshd drop-in,
#      dummy kubelet/containerd units, no baked host keys, empty machine-id) and
#      `podman import` it as localhost/hostgw-sys:SUITE (seconds), labelled with the hash of
#      this recipe. The image is rebuilt when it is missing or its recipe label differs.
# Then a smoke test in the image without any network: python3 + pyroute2 import, versions,
# `command -v iptables` present on bookworm and ABSENT on trixie.
#
# No SSH key is baked in: scenarios generate one per run under .cache/ssh/ and mount the public
# key at /etc/ssh/hostgw_authorized_keys/hostgw (see molecule/shared/create-systemd.yml).
# Needs root and podman (scripts/bootstrap.sh). Image builds need no podman lock (no containers
# on networks; the smoke test runs --network none).
#
# Environment: HOSTGW_IMAGE_REBUILD=1 forces stage 2; HOSTGW_ROOTFS_REBUILD=1 forces stage 1.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE="$REPO/.cache/images"
mkdir -p "$CACHE"

BASE_PKGS="systemd,systemd-sysv,dbus,openssh-server,sudo,python3,python3-pyroute2,iproute2,iputils-ping,procps"
declare -A SUITE_PKGS=(
    [bookworm]="$BASE_PKGS,containernetworking-plugins,nftables,iptables"
    [trixie]="$BASE_PKGS,nftables,network-manager,udev"
)
# Debian 13 hosts often run NetworkManager: the trixie image carries it, so the NetworkManager drop-in is tested
# where NetworkManager really runs (tests/hosts/test_networkmanager.py). NetworkManager manages only links udev
# has initialized, so systemd-udevd runs there, with every udev rule masked but NetworkManager's and systemd's
# tags (udevd then records the links it sees; no rule acts on the machine's devices, whose events a privileged
# container also receives) and no systemd-udev-trigger (links from before the boot, like the podman uplink, stay
# uninitialized, hence unmanaged: NetworkManager never touches the lab's SSH path).
declare -A SUITE_NM=([trixie]=yes)
# trixie's containernetworking-plugins package Depends: iptables. The trixie host must have no
# iptables package, so the CNI plugin binaries are unpacked from trixie's own .deb into
# /usr/lib/cni without installing the package (dpkg's database stays consistent).
declare -A SUITE_UNPACK=([trixie]="containernetworking-plugins")
declare -A SUITE_IPTABLES=([bookworm]=present [trixie]=absent)
IMAGE_REPO=localhost/hostgw-sys

say() { printf '==> [%s] %s\n' "${SUITE:-images}" "$*"; }
die() { printf 'images: ERROR: [%s] %s\n' "${SUITE:-images}" "$*" >&2; exit 1; }
now() { date +%s; }

[[ $EUID -eq 0 ]] || die "needs root (debootstrap, podman import)"
command -v debootstrap >/dev/null || die "debootstrap missing: run scripts/bootstrap.sh"
command -v podman >/dev/null || die "podman missing: run scripts/bootstrap.sh"

# shellcheck source=scripts/debian-mirror.sh
source "$REPO/scripts/debian-mirror.sh"

# The recipe of stage 2: this file's configure() and smoke() (any edit of this script rebuilds).
recipe_hash() { sha256sum "${BASH_SOURCE[0]}" | cut -c1-16; }

TMPDIRS=()
cleanup() {
    local d m
    for d in "${TMPDIRS[@]}"; do
        [[ -d $d ]] || continue
        while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
            awk -v p="$d/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r)
        rm -rf --one-file-system "$d"
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- stage 1: debootstrap
rootfs_tar() {
    local pkgs=${SUITE_PKGS[$SUITE]}
    printf '%s/rootfs-%s-%s.tar\n' "$CACHE" "$SUITE" "$(printf '%s %s%s' "$SUITE" "$pkgs" "${SUITE_UNPACK[$SUITE]:+ unpack ${SUITE_UNPACK[$SUITE]}}" | sha256sum | cut -c1-12)"
}

# unpack_debs ROOTFS PKG...: download the suite's PKG .debs inside ROOTFS and copy their
# /usr/lib/cni binaries in, without installing the packages.
unpack_debs() {
    local r=$1 deb; shift
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    chroot "$r" apt-get -qq update >>"$CACHE/debootstrap-$SUITE.log" 2>&1
    mkdir -p "$r/tmp/unpack"
    (cd "$r/tmp/unpack" && chroot "$r" sh -c 'cd /tmp/unpack && apt-get -qq download "$@"' sh "$@") \
        >>"$CACHE/debootstrap-$SUITE.log" 2>&1 || die "apt-get download $* failed"
    mkdir -p "$r/usr/lib/cni"
    for deb in "$r"/tmp/unpack/*.deb; do
        dpkg-deb -x "$deb" "$r/tmp/unpack/x"
        printf '%s\n' "${deb##*/}" >>"$r/usr/lib/cni/.hostgw-unpacked-from"
    done
    cp -a "$r"/tmp/unpack/x/usr/lib/cni/. "$r/usr/lib/cni/"
    rm -rf "$r/tmp/unpack" "$r/etc/resolv.conf"
    [[ -x $r/usr/lib/cni/bridge && -x $r/usr/lib/cni/host-local ]] || die "no CNI plugins unpacked"
}

stage_rootfs() {
    local tar tmp mirror t0
    tar=$(rootfs_tar)
    if [[ -s $tar && ${HOSTGW_ROOTFS_REBUILD:-0} != 1 ]]; then
        say "rootfs cached: ${tar##*/}"
        return 0
    fi
    mirror=$(debian_mirror)
    tmp=$(mktemp -d /var/tmp/hostgw-sys-"$SUITE".XXXXXX); TMPDIRS+=("$tmp")
    say "debootstrap --variant=minbase $SUITE from $mirror (several minutes; log $CACHE/debootstrap-$SUITE.log)"
    t0=$(now)
    if ! debootstrap --variant=minbase --include="${SUITE_PKGS[$SUITE]}" "$SUITE" "$tmp/rootfs" "$mirror" \
            >"$CACHE/debootstrap-$SUITE.log" 2>&1; then
        tail -n 30 "$CACHE/debootstrap-$SUITE.log" >&2
        die "debootstrap $SUITE failed"
    fi
    if [[ -n ${SUITE_UNPACK[$SUITE]:-} ]]; then
        unpack_debs "$tmp/rootfs" ${SUITE_UNPACK[$SUITE]}
    fi
    rm -rf "$tmp"/rootfs/var/cache/apt/archives/*.deb "$tmp"/rootfs/var/cache/apt/*.bin \
           "$tmp"/rootfs/var/lib/apt/lists/* "$tmp"/rootfs/debootstrap
    tar -C "$tmp/rootfs" --numeric-owner -cf "$tar.tmp" .
    mv -f "$tar.tmp" "$tar"
    # Older rootfs tars of this suite (another package list) are stale.
    find "$CACHE" -maxdepth 1 -name "rootfs-$SUITE-*.tar" ! -name "${tar##*/}" -delete
    say "debootstrap done in $(( $(now) - t0 )) s"
}

# ---------------------------------------------------------------- stage 2: configure
configure() {
    local r=$1
    # The unprivileged user Ansible connects as, with passwordless sudo.
    chroot "$r" /usr/sbin/useradd --create-home --user-group --shell /bin/bash hostgw
    printf 'hostgw ALL=(ALL:ALL) NOPASSWD: ALL\n' >"$r/etc/sudoers.d/hostgw"
    chmod 0440 "$r/etc/sudoers.d/hostgw"
    chroot "$r" /usr/sbin/visudo -cf /etc/sudoers.d/hostgw >/dev/null

    # sshd: keys only, from a file the create playbook mounts; no root login.
    mkdir -p "$r/etc/ssh/sshd_config.d" "$r/etc/ssh/hostgw_authorized_keys"
    cat >"$r/etc/ssh/sshd_config.d/hostgw.conf" <<'EOF'
# hostgw test host (scripts/images.sh)
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile /etc/ssh/hostgw_authorized_keys/%u
UseDNS no
EOF
    # Host keys are made on the first boot of each container, not baked into the image.
    rm -f "$r"/etc/ssh/ssh_host_*
    mkdir -p "$r/etc/systemd/system/ssh.service.d"
    cat >"$r/etc/systemd/system/ssh.service.d/hostgw-hostkeys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF
    mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
    ln -sf /lib/systemd/system/ssh.service "$r/etc/systemd/system/multi-user.target.wants/ssh.service"

    # Stand-ins for kubelet and containerd: the boot order test checks that hostgw-restore
    # finished before they started (hostgw-restore.service says Before= them).
    local u
    for u in kubelet containerd; do
        cat >"$r/etc/systemd/system/$u.service" <<EOF
[Unit]
Description=Stand-in $u for the hostgw boot-order test (scripts/images.sh)

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo "$u stand-in started"'

[Install]
WantedBy=multi-user.target
EOF
        ln -sf "/etc/systemd/system/$u.service" "$r/etc/systemd/system/multi-user.target.wants/$u.service"
    done

    # Units that have nothing to do in a container host.
    local udevd=systemd-udevd.service f
    if [[ -n ${SUITE_NM[$SUITE]:-} ]]; then
        udevd=""
        mkdir -p "$r/etc/udev/rules.d"
        for f in "$r"/usr/lib/udev/rules.d/*.rules "$r"/lib/udev/rules.d/*.rules; do
            case ${f##*/} in
                *-nm-*.rules|99-systemd.rules) ;;     # NetworkManager's own (which links it leaves alone) and systemd's tags
                *) [[ -e $f ]] && ln -sf /dev/null "$r/etc/udev/rules.d/${f##*/}" ;;
            esac
        done
    fi
    for u in getty@tty1.service $udevd systemd-udev-trigger.service systemd-udev-settle.service \
             systemd-modules-load.service systemd-remount-fs.service \
             systemd-firstboot.service sys-kernel-config.mount sys-kernel-debug.mount \
             sys-kernel-tracing.mount; do
        ln -sf /dev/null "$r/etc/systemd/system/$u"
    done
    # Persistent journal: the tests read the previous and the current boot.
    mkdir -p "$r/var/log/journal"
    # A machine id per container (systemd makes one on first boot).
    : >"$r/etc/machine-id"
    rm -f "$r/var/lib/dbus/machine-id"
    printf 'hostgw-sys\n' >"$r/etc/hostname"
}

smoke() {
    local image=$1 out
    out=$(podman run --rm --network none --pull=never "$image" /bin/sh -c '
        set -e
        python3 -c "import sys, pyroute2, importlib.metadata as m; print(\"python\", sys.version.split()[0], \"pyroute2\", m.version(\"pyroute2\"))"
        for c in sshd sudo ip ping nft ps systemctl; do command -v $c >/dev/null || { echo "missing $c"; exit 1; }; done
        [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || { echo "missing CNI plugins"; exit 1; }
        id hostgw >/dev/null
        if command -v iptables >/dev/null; then echo "iptables present"; else echo "iptables absent"; fi
        # (-W alone succeeds for a package dpkg merely knows of, as "not-installed": ask for the status)
        case $(dpkg-query -W -f "\${Status}" iptables 2>/dev/null) in
            *" installed") echo "iptables package installed" ;;
            *) echo "no iptables package" ;;
        esac
        cat /usr/lib/cni/.hostgw-unpacked-from 2>/dev/null || true
        dpkg-query -W -f "\${Package}=\${Version}\n" systemd openssh-server nftables python3-pyroute2 | tr "\n" " "; echo
        if command -v NetworkManager >/dev/null; then echo "NetworkManager $(NetworkManager --version)"; else echo "no NetworkManager"; fi
    ') || die "smoke test of $image failed: $out"
    grep -q "iptables ${SUITE_IPTABLES[$SUITE]}" <<<"$out" \
        || die "$image: want iptables ${SUITE_IPTABLES[$SUITE]}, got: $out"
    if [[ ${SUITE_IPTABLES[$SUITE]} == absent ]]; then
        grep -q "no iptables package" <<<"$out" || die "$image: the iptables package is installed: $out"
    fi
    if [[ -n ${SUITE_NM[$SUITE]:-} ]]; then
        grep -q "^NetworkManager " <<<"$out" || die "$image: NetworkManager missing: $out"
    fi
    printf '%s\n' "$out" >"$CACHE/$SUITE.info"
    say "smoke ok: $(tr '\n' ' ' <<<"$out")"
}

stage_image() {
    local image="$IMAGE_REPO:$SUITE" want have tmp tar
    want=$(recipe_hash)
    if podman image exists "$image" && [[ ${HOSTGW_IMAGE_REBUILD:-0} != 1 ]]; then
        have=$(podman image inspect --format '{{index .Labels "hostgw.recipe"}}' "$image" 2>/dev/null || true)
        if [[ $have == "$want" ]]; then
            say "$image exists (recipe $want)"
            return 0
        fi
        say "$image has recipe '${have:-none}', want $want: rebuilding"
    fi
    stage_rootfs
    tar=$(rootfs_tar)
    tmp=$(mktemp -d /var/tmp/hostgw-sys-"$SUITE".XXXXXX); TMPDIRS+=("$tmp")
    mkdir "$tmp/rootfs"
    tar -C "$tmp/rootfs" --numeric-owner -xf "$tar"
    configure "$tmp/rootfs"
    tar -C "$tmp/rootfs" --numeric-owner -c . |
        podman import --change 'CMD=["/lib/systemd/systemd"]' --change 'STOPSIGNAL=SIGRTMIN+3' \
            --change "LABEL=hostgw.recipe=$want" --change "LABEL=hostgw.suite=$SUITE" \
            - "$image" >"$CACHE/import-$SUITE.log" 2>&1 \
        || { tail -n 20 "$CACHE/import-$SUITE.log" >&2; die "podman import failed"; }
    smoke "$image"
}

build() {
    SUITE=$1
    trap cleanup EXIT   # a subshell does not inherit the EXIT trap
    [[ -n ${SUITE_PKGS[$SUITE]:-} ]] || die "unknown suite $SUITE (bookworm, trixie)"
    local t0; t0=$(now)
    stage_image
    say "ready in $(( $(now) - t0 )) s"
}

suites=("$@")
((${#suites[@]})) || suites=(bookworm trixie)
t0=$(now)
if ((${#suites[@]} == 1)); then
    build "${suites[0]}"
else
    pids=()
    for s in "${suites[@]}"; do
        ( build "$s" ) & pids+=($!)
    done
    rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    ((rc == 0)) || die "an image build failed"
fi
say "all images ready in $(( $(now) - t0 )) s: $(printf "$IMAGE_REPO:%s " "${suites[@]}")"
