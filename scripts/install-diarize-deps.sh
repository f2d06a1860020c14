#!/usr/bin/env bash
# Makes .venv-models, the Python environment scripts/make-diarize-models.py runs in: torch and
# pyannote.audio (about 6 GB with the CUDA libraries torch's PyPI wheel loads), pinned in
# scripts/requirements-diarize-models.txt. Only for regenerating the diarization test models and
# their fixtures; CI never installs it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-models"
requirements="$root/scripts/requirements-diarize-models.txt"
if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
    echo "install-diarize-deps: installing torch and pyannote.audio into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
fi
