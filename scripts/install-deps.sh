#!/usr/bin/env bash
# Installs what building and testing rech needs on Debian/Ubuntu, and nothing that is already
# there: cmake and a C++ compiler for whisper.cpp, pkg-config and the ALSA headers for cpal,
# PulseAudio for the microphone tests. Runs as root, or through sudo. Extra Debian packages
# given as arguments are installed alongside (scripts/install-bench-deps.sh does this).
set -euo pipefail

packages=(cmake g++ pkg-config libasound2-dev pulseaudio pulseaudio-utils libasound2-plugins "$@")

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

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
