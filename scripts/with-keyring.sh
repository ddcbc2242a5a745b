#!/bin/sh
# Run a command inside a throwaway D-Bus session with an unlocked gnome-keyring
# Secret Service, so Python's `keyring` picks `SecretService.Keyring`.
#
#   scripts/with-keyring.sh CMD [ARGS...]
#   scripts/with-keyring.sh env IPYLLM_REQUIRE_KEYRING=1 .venv/bin/pytest tests/test_keys.py
#
# HOME, XDG_DATA_HOME (where gnome-keyring keeps its keyring files),
# XDG_CONFIG_HOME, XDG_CACHE_HOME and XDG_RUNTIME_DIR all point into a fresh
# temporary directory, removed afterwards: the user's real keyring, a running
# desktop keyring daemon and any keyringrc.cfg are never touched. The keyring
# password is a throwaway. IPYLLM_KEYRING_SANDBOX=1 is exported so tests know
# the keyring is disposable. Exits with CMD's exit code.
#
# Debian/Ubuntu packages:
#   apt-get install -y --no-install-recommends gnome-keyring dbus-x11
# (dbus-x11 satisfies gnome-keyring's session-bus dependency without pulling in
# systemd, and brings dbus-daemon (dbus-run-session) and dbus-bin (dbus-send).)
# Python side: `keyring` and `secretstorage` in the environment that runs CMD.

set -eu

me=${0##*/}

if [ "$#" -eq 0 ]; then
    echo "usage: $me CMD [ARGS...]" >&2
    exit 2
fi

missing=""
command -v dbus-run-session >/dev/null 2>&1 || missing="$missing dbus-run-session"
command -v dbus-send >/dev/null 2>&1 || missing="$missing dbus-send"
command -v gnome-keyring-daemon >/dev/null 2>&1 || missing="$missing gnome-keyring-daemon"
if [ -n "$missing" ]; then
    echo "$me: error: not found:$missing" >&2
    echo "$me: install them with:" >&2
    echo "    sudo apt-get install -y --no-install-recommends gnome-keyring dbus-x11" >&2
    exit 127
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ipyllm-keyring.XXXXXX")
cleanup() {
    # gnome-keyring-daemon leaves by itself once its bus is gone. Wait for our
    # daemon (and only ours: its pid was recorded inside the session) to exit
    # before removing the files it may still be writing; stop it after 5 s.
    if [ -s "$tmp/daemon.pid" ]; then
        pid=$(cat "$tmp/daemon.pid")
        i=0
        while kill -0 "$pid" 2>/dev/null; do
            i=$((i + 1))
            if [ "$i" -eq 50 ]; then
                kill "$pid" 2>/dev/null || true
            elif [ "$i" -ge 70 ]; then
                kill -9 "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.1
        done
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -m 700 "$tmp/home" "$tmp/data" "$tmp/config" "$tmp/cache" "$tmp/runtime"
export HOME="$tmp/home"
export XDG_DATA_HOME="$tmp/data"
export XDG_CONFIG_HOME="$tmp/config"
export XDG_CACHE_HOME="$tmp/cache"
export XDG_RUNTIME_DIR="$tmp/runtime"
# Nothing from an outer session may steer keyring elsewhere.
unset PYTHON_KEYRING_BACKEND GNOME_KEYRING_CONTROL GNOME_KEYRING_PID 2>/dev/null || true
# Tells tests/test_keys.py that the Secret Service it sees is this throwaway one.
export IPYLLM_KEYRING_SANDBOX=1

# Inside the session: start and unlock the daemon (it creates the "login"
# keyring with the throwaway password), wait until it owns the Secret Service
# name on the bus, then exec CMD so its exit code becomes ours.
status=0
dbus-run-session -- sh -c '
    me=$1; pidfile=$2; shift 2
    if ! printf "ipyllm-throwaway" | gnome-keyring-daemon --unlock --components=secrets >/dev/null; then
        echo "$me: error: gnome-keyring-daemon failed to start" >&2
        exit 125
    fi
    i=0
    until dbus-send --session --print-reply --dest=org.freedesktop.DBus \
            /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
            string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
        i=$((i + 1))
        if [ "$i" -ge 100 ]; then
            echo "$me: error: the Secret Service (org.freedesktop.secrets) did not appear on the session bus within 10 s" >&2
            exit 125
        fi
        sleep 0.1
    done
    dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus \
        /org/freedesktop/DBus org.freedesktop.DBus.GetConnectionUnixProcessID \
        string:org.freedesktop.secrets 2>/dev/null \
        | sed -n "s/.*uint32 \([0-9][0-9]*\).*/\1/p" >"$pidfile" || true
    exec "$@"
' sh "$me" "$tmp/daemon.pid" "$@" || status=$?

exit "$status"
