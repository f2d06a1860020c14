#!/usr/bin/env bash
# Installs what building and testing rech needs on Debian/Ubuntu, and nothing that is already
# there: cmake and a C++ compiler for whisper.cpp and libopus, pkg-config and the ALSA headers
# for cpal, PulseAudio for the microphone tests, ffmpeg for the tests of rech's ffmpeg fallback,
# curl for the server tests; Xvfb, setxkbmap, xmodmap, xev, xdotool and xclip for the X11 typing tests
# and headless sway with wev, wtype and wl-clipboard for the Wayland ones; dbus-daemon for the
# private session bus of the desktop-portal hotkey test; headless Chromium for the web page's tests
# (driven over its DevTools pipe, so no driver is needed);
# and, in .venv-test, the pinned Python packages the tests use (scripts/requirements-test.txt:
# ONNX Runtime, whose wheel holds the library rech loads for GigaAM, and onnx-asr, the reference
# GigaAM implementation). Runs as root, or through sudo.
# Extra Debian packages given as arguments are installed alongside (scripts/install-bench-deps.sh
# does this).
set -euo pipefail

packages=(cmake g++ pkg-config libasound2-dev pulseaudio pulseaudio-utils libasound2-plugins ffmpeg curl
    xvfb x11-xkb-utils x11-utils x11-xserver-utils xdotool xclip sway wev wtype wl-clipboard dbus-daemon chromium openssl "$@")

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ! command -v cargo >/dev/null 2>&1; then
    echo "install-deps: cargo not found: install Rust first (https://rustup.rs)" >&2
    exit 1
fi

if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests' Python environment, made once and remade when the pins change.
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-test"
requirements="$root/scripts/requirements-test.txt"
if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
    echo "install-deps: installing the test Python packages into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$requirements"
    # The wheels rech itself fetches ONNX Runtime from (its CPU build, and its CUDA build on
    # x86-64), for the tests that serve them locally.
    wheels=("$(grep '^onnxruntime==' "$requirements")")
    if [ "$(uname -m)" = x86_64 ]; then
        wheels+=("$(sed -n 's/^# download: //p' "$requirements")")
    fi
    for wheel in "${wheels[@]}"; do
        "$venv/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary :all: \
            --platform "manylinux_2_28_$(uname -m)" --python-version 3.11 \
            -d "$venv/wheels" "$wheel"
    done
    cp "$requirements" "$venv/requirements.txt"
fi
