# Shared by scripts/run.sh and scripts/test.sh: make .venv exist and match pyproject.toml.
# shellcheck shell=bash

pick_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "The Watchman needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)." >&2
    return 1
}

ensure_venv() {
    # $1: pip extras to install, e.g. "dev" ("" for none)
    local extras="$1" py stamp want
    py=$(pick_python)
    if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "Installing python3-venv (Debian splits venv out of python3)..." >&2
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        else
            echo "Python's venv module is missing: run 'sudo apt-get install python3-venv' and retry." >&2
            return 1
        fi
    fi
    [ -x .venv/bin/python ] || "$py" -m venv .venv
    ensure_build_deps
    stamp=.venv/.watchman-installed
    want="$(sha256sum pyproject.toml | cut -c1-16)-${extras}"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "Installing The Watchman into .venv (first run, or pyproject.toml changed)..." >&2
        .venv/bin/python -m pip install -q --upgrade pip >&2
        # PYTHONWARNINGS: setuptools' build backend prints a 10-line "Editable installation" banner
        # (a BuildBackendWarning) on every editable install; it tells a user nothing to act on.
        if [ -n "$extras" ]; then
            PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e ".[$extras]" >&2
        else
            PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e . >&2
        fi
        echo "$want" >"$stamp"
    fi
}

apt_install() {
    # $1: why; the rest: Debian packages to install (as root), or say how to install them.
    local why="$1"
    shift
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "Installing $* ($why)..." >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "The Watchman needs $* ($why): run 'sudo apt-get install $*' and retry." >&2
        return 1
    fi
}

ensure_build_deps() {
    # systemd-python (the journald reader) compiles against libsystemd when pip installs it.
    if ! command -v gcc >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1 ||
        ! pkg-config --exists libsystemd 2>/dev/null; then
        apt_install "to build systemd-python, the journald reader" libsystemd-dev pkg-config gcc
    fi
}

ensure_debian_packages() {
    # Install the Debian packages named in $@ whose command (before the colon) is missing,
    # e.g. ensure_debian_packages logrotate:logrotate
    local missing=() item cmd pkg
    for item in "$@"; do
        cmd=${item%%:*}
        pkg=${item#*:}
        command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    # The tests start these servers themselves, on loopback: keep the packages' own services (nginx on
    # 0.0.0.0:80, sshd, alertmanager) from starting at install, through Debian's policy-rc.d hook.
    local policy=/usr/sbin/policy-rc.d placed=""
    if [ "$(id -u)" = 0 ] && [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && placed=1
    fi
    local rc=0
    apt_install "needed by the tests" "${missing[@]}" || rc=$?
    [ -n "$placed" ] && rm -f "$policy"
    return $rc
}
