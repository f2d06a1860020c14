#!/usr/bin/env bash
# Builds rech with whisper.cpp's CUDA back end (`--features cuda`) on Debian 12: installs
# Debian's CUDA 11.8 toolkit from the non-free archive (and g++-11, the newest host compiler
# CUDA 11.8 accepts), then `cargo build --release -p rech-cli --features cuda`.
#
# GPU code is made for CUDAARCHS (CMake's list): the GPU's own architecture where nvidia-smi
# can name it, else `75-virtual` (PTX that the driver compiles once for any GPU from Turing on;
# the first run is slower while it does). Runs as root, or through sudo; adds the non-free
# component to apt's sources when it is missing.
#
# GigaAM needs none of this: it runs on the GPU in every build (`--gpu`, README).
set -euo pipefail
cd "$(dirname "$0")/.."

toolkit=11.8.89~11.8.0-5~deb12u1
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
if ! dpkg-query -W -f='${Version}' nvidia-cuda-toolkit 2>/dev/null | grep -qx "$toolkit" \
    || ! command -v g++-11 >/dev/null 2>&1; then
    if ! apt-cache policy nvidia-cuda-toolkit | grep -q "$toolkit"; then
        echo "build-cuda: adding Debian's contrib and non-free components to apt's sources" >&2
        "${sudo[@]}" tee /etc/apt/sources.list.d/rech-cuda.sources >/dev/null <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
        "${sudo[@]}" apt-get update -qq
    fi
    echo "build-cuda: installing nvidia-cuda-toolkit $toolkit and g++-11" >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "nvidia-cuda-toolkit=$toolkit" g++-11 >/dev/null
fi

if [ -z "${CUDAARCHS:-}" ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        CUDAARCHS=native
    else
        CUDAARCHS=75-virtual
    fi
fi
export CUDAARCHS
export CUDAHOSTCXX="${CUDAHOSTCXX:-g++-11}"
echo "build-cuda: CUDA architectures $CUDAARCHS, host compiler $CUDAHOSTCXX" >&2
cargo build --release --locked -p rech-cli --features cuda "$@"
