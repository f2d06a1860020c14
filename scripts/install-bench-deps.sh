#!/usr/bin/env bash
# Installs what the scripts in bench/ need beyond the build (scripts/install-deps.sh): GNU time
# for peak memory, sox, lame and ffmpeg to write the test audio, and the PyPI packages rech is
# compared with (faster-whisper, pywhispercpp) in a virtual environment, .venv-bench. Debian or
# Ubuntu, as root or through sudo. Then run the benchmarks with .venv-bench/bin/python3, e.g.
#   .venv-bench/bin/python3 bench/encoder_gap.py --rounds 3 --skip-e2e
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh time sox lame ffmpeg python3-venv

# The versions BENCHMARKS.md was measured with.
if [ ! -x .venv-bench/bin/python3 ]; then
    python3 -m venv .venv-bench
fi
.venv-bench/bin/pip install -q faster-whisper==1.2.1 ctranslate2==4.8.5 pywhispercpp==1.5.1

cargo build --release --workspace --bins --examples
