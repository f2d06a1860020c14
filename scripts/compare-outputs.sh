#!/usr/bin/env bash
# Runs the same rech commands with two builds and says which give other bytes (stdout, stderr,
# exit code, files written): the before/after check of a refactor that must change no output.
#
#   scripts/compare-outputs.sh OLD_RECH NEW_RECH
#
# Needs the shared test data (RECH_SHARED_DIR, default ../shared) and the test Python
# environment (.venv-test, for ONNX Runtime). Dictation's `at` (wall-clock) times are masked.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1"); new=$(realpath "$2")
shared=$(realpath "${RECH_SHARED_DIR:-../shared}")
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin/old" "$work/bin/new"
cp "$old" "$work/bin/old/rech"; cp "$new" "$work/bin/new/rech"
whisper="$work/whisper.bin"
cargo run -q --release -p rech-ggml --example make-test-model -- micro "$whisper" > /dev/null
export RECH_OFFLINE=1 RECH_MODELS_DIR="$work/models" OMP_WAIT_POLICY=passive
RECH_ORT_LIB=$(ls .venv-test/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)
export RECH_ORT_LIB
gigaam="$shared/models/gigaam-v3-micro/v3_e2e_rnnt_encoder.onnx"
vad="$shared/models/ggml-silero-v6.2.0.bin"
a="$shared/audio/ru/human/ru_0022.wav"; b="$shared/audio/ru/human/ru_0024.wav"
mp3="$PWD/samples/chisla.mp3"
commands=(
  "transcribe -m $whisper --vad-model $vad -t 2 $a"
  "transcribe -m $whisper --vad-model $vad -t 2 -f srt,vtt,json,tsv,verbose_json,txt --output-dir out $a $mp3"
  "transcribe -m $whisper --no-vad -t 2 --offset 1.5 --duration 3 -f json $a"
  "transcribe -m $whisper --vad-model $vad -t 1 -j 2 $a $b $mp3"
  "transcribe -m $gigaam --vad-model $vad -t 2 -f srt $a"
  "transcribe -m $gigaam --vad-model $vad -t 2 --word-timestamps -f verbose_json $b"
  "transcribe -m $gigaam --beam-size 3 $a"
  "transcribe -m $gigaam -l en $a"
  "transcribe -m $whisper --offset 99 $a"
  "transcribe -m $whisper -l xx $a"
  "transcribe -m small $a"
  "transcribe $a"
  "transcribe -m /nonexistent.bin $a"
  "transcribe -m $whisper --vad $a"
  "transcribe -m $whisper -o out.srt $a"
  "transcribe -m $whisper --output-template {stem}.{ext} --output-dir o2 -f srt $a $b"
  "transcribe -m $whisper --output-template {stem}.txt --output-dir o3 -f srt,vtt $a"
  "transcribe -m $whisper --output-template {nope} --output-dir o4 $a"
  "transcribe -m $whisper --from-list /nonexistent.txt"
  "models list"
  "models path"
  "models path small"
  "models remove small"
  "--offline models download small"
  "dictate -m $whisper --vad-model $vad --input $a --format jsonl"
  "dictate -m $gigaam --vad-model $vad --input $b --format jsonl"
  "dictate -m $gigaam --full-window --input $b"
  "dictate ctl status --socket $work/none.sock"
  "transcribe --help"
  "dictate --help"
  "dictate ctl --help"
  "models --help"
  "--version"
)
differ=0
for i in "${!commands[@]}"; do
  for side in old new; do
    dir="$work/runs/$side/$i"; mkdir -p "$dir"
    # shellcheck disable=SC2086 # the commands are word lists
    (cd "$dir" && "$work/bin/$side/rech" ${commands[$i]} > stdout 2> stderr; echo $? > code) || true
    sed -i 's/"at":[0-9.]*/"at":_/g' "$dir/stdout"
  done
  if diff -r "$work/runs/old/$i" "$work/runs/new/$i" > /dev/null; then
    echo "same  rech ${commands[$i]}"
  else
    echo "DIFF  rech ${commands[$i]}"
    diff -r "$work/runs/old/$i" "$work/runs/new/$i" | head -n 6 | sed 's/^/      /'  || true
    differ=$((differ + 1))
  fi
done
echo "$differ of ${#commands[@]} commands differ"
