#!/usr/bin/env bash
# What scripts/test.sh installs on this machine, and why: real tools the tests drive (a test never skips
# because one is missing). Debian packages go in as root with apt-get (with their dependencies: about
# 70 packages on a minimal Debian 12); infra/ caches the Kafka and Neo4j jars from Maven Central (~170 MB
# in ~/.cache/watchman-infra, plus Maven's ~/.m2). Nothing else is changed outside the repository.
#
#   scripts/dev-deps.sh            list them, say which are missing and what apt-get would pull in
#   scripts/dev-deps.sh install    install the missing ones (scripts/test.sh runs this; so does CI)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# command:debian-package  why
DEV_DEPS=(
    "logrotate:logrotate                          the tailer's rotation tests"
    "java:openjdk-17-jre-headless                 runs Kafka and Neo4j from infra/"
    "mvn:maven                                    fetches their jars from Maven Central"
    "prometheus:prometheus                        the dashboards' PromQL and the scrape tests"
    "promtool:prometheus                          the alert rules' unit tests"
    "/lib/systemd/systemd-journal-remote:systemd-journal-remote  real journal files for journald"
    "dockerd:docker.io                            a real Docker engine for the containers domain"
    "busybox:busybox-static                       the root filesystem of the test containers"
    "nft:nftables                                 the firewall scanner on a real ruleset"
    "iptables-save:iptables                       the firewall scanner's iptables path"
    "rpmbuild:rpm                                 an RPM database in a test root (the inventory)"
    "sshd:openssh-server                          a real sshd on loopback (rsync/git over ssh)"
    "ssh:openssh-client                           the client side of those tests"
    "rsync:rsync                                  rsync targets (backups, vault media)"
    "age:age                                      decrypts backups independently of the product"
    "zstd:zstd                                    with age and tar: restores a backup without the product"
    "prometheus-alertmanager:prometheus-alertmanager  alert delivery to a real Alertmanager"
    "nginx:nginx                                  a real service whose config is validated and reloaded"
    "dbus-daemon:dbus                             a private D-Bus for the systemd unit inventory tests"
)
# Also, through scripts/lib.sh on every set-up: python3-venv, and gcc, pkg-config, libsystemd-dev to
# build systemd-python (the journald reader).

specs() {
    local line
    for line in "${DEV_DEPS[@]}"; do
        echo "${line%% *}"
    done
}

missing_packages() {
    local spec cmd pkg
    for spec in $(specs); do
        cmd=${spec%%:*}
        pkg=${spec#*:}
        command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "$cmd" ] || echo "$pkg"
    done | sort -u
}

case "${1:-list}" in
install)
    # shellcheck disable=SC2046
    ensure_debian_packages $(specs)
    ;;
list)
    printf '%-40s %s\n' "command:debian-package" "why"
    for line in "${DEV_DEPS[@]}"; do
        printf '%-40s %s\n' "${line%% *}" "$(echo "${line#* }" | sed 's/^ *//')"
    done
    missing=$(missing_packages | tr '\n' ' ')
    if [ -z "$missing" ]; then
        echo "all present"
    else
        echo "missing: $missing"
        if command -v apt-get >/dev/null; then
            # shellcheck disable=SC2086
            n=$(apt-get -s install $missing 2>/dev/null | grep -c '^Inst ' || true)
            echo "apt-get install would add $n packages in all (with dependencies)"
        fi
    fi
    ;;
*)
    echo "usage: scripts/dev-deps.sh [list|install]" >&2
    exit 2
    ;;
esac
