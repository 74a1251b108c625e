# shellcheck shell=bash
# debian_mirror: this machine's Debian mirror (the first non-security URI of its apt sources), for debootstrap.
# Sourced by scripts/bootstrap.sh (the container host image) and scripts/images.sh (the systemd host images).
debian_mirror() {
    local f uri=""
    f=/etc/apt/sources.list.d/debian.sources
    if [[ -f $f ]]; then
        # First URIs line of a stanza that is not the security archive.
        uri=$(awk '/^[[:space:]]*URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' "$f")
    fi
    if [[ -z $uri && -f /etc/apt/sources.list ]]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
              /etc/apt/sources.list)
    fi
    printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}
