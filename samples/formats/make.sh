#!/usr/bin/env bash
# Makes samples/formats/: one short Russian sentence, synthesised by the project (eSpeak NG, as
# in ../make-samples.sh), in every container and codec people send rech: a Telegram-style voice
# message (Ogg Opus, .oga), WhatsApp-style .opus (opusenc), Opus in WebM, Matroska and MP4, AAC
# in M4A and MOV, uncompressed AIFF, AIFC, CAF and W64, and two codecs rech does not decode
# itself (AC-3, WMA), for the ffmpeg fallback. Every file holds the same 16 kHz mono recording,
# so the tests can demand the same duration from each.
#
# Needs espeak-ng, sox, ffmpeg (with libopus) and opusenc. Rerun only to change the files.
set -euo pipefail

OUT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for tool in espeak-ng sox ffmpeg opusenc; do
    command -v "$tool" >/dev/null 2>&1 || { echo "make.sh: '$tool' not found" >&2; exit 1; }
done
export LC_ALL=C.UTF-8
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

TEXT="Голосовое сообщение: встречаемся в семь."
espeak-ng -v ru -s 150 -p 50 -a 100 -w "$TMP/raw.wav" "$TEXT"
sox -D -V1 "$TMP/raw.wav" "$TMP/speech.wav" \
    silence 1 0.01 0.1% reverse silence 1 0.01 0.1% reverse
# The reference: 16 kHz mono 16-bit, 0.3 s of silence either side, peak at -3 dBFS.
sox -D -V1 "$TMP/speech.wav" -t wav -e signed-integer -b 16 "$OUT/voice.wav" \
    rate -v 16000 channels 1 pad 0.3 0.3 gain -n -3

FF=(ffmpeg -nostdin -hide_banner -loglevel error -y -i "$OUT/voice.wav")
EXACT=(-map_metadata -1 -fflags +bitexact -flags:a +bitexact)

# Telegram voice messages: Ogg Opus, mono, 48 kHz, about 32 kbit/s.
"${FF[@]}" -c:a libopus -b:a 32k -application voip "${EXACT[@]}" "$OUT/voice.oga"
# WhatsApp and opus-tools: Ogg Opus from the reference encoder.
opusenc --quiet --bitrate 24 --discard-comments "$OUT/voice.wav" "$OUT/voice.opus"
# Browser recordings (MediaRecorder) and YouTube audio: Opus in WebM.
"${FF[@]}" -c:a libopus -b:a 32k "${EXACT[@]}" "$OUT/voice.webm"
"${FF[@]}" -c:a libopus -b:a 32k "${EXACT[@]}" "$OUT/voice.mkv"
"${FF[@]}" -c:a libopus -b:a 32k -strict experimental "${EXACT[@]}" "$OUT/voice-opus.mp4"
# iPhone voice memos and most phones: AAC in MP4, here at the recording's own 16 kHz.
"${FF[@]}" -c:a aac -b:a 32k "${EXACT[@]}" "$OUT/voice.m4a"
"${FF[@]}" -c:a aac -b:a 32k "${EXACT[@]}" "$OUT/voice.mov"
# Uncompressed containers other than WAV.
"${FF[@]}" -c:a pcm_s16be "${EXACT[@]}" "$OUT/voice.aiff"
"${FF[@]}" -c:a pcm_s16le -f aiff "${EXACT[@]}" "$OUT/voice.aifc" 2>/dev/null \
    || sox -D -V1 "$OUT/voice.wav" -t aifc -e signed-integer -b 16 "$OUT/voice.aifc"
"${FF[@]}" -c:a pcm_s16le "${EXACT[@]}" "$OUT/voice.caf"
"${FF[@]}" -c:a pcm_s16le -f w64 "${EXACT[@]}" "$OUT/voice.w64"
# Codecs rech leaves to ffmpeg.
"${FF[@]}" -c:a ac3 -b:a 64k "${EXACT[@]}" "$OUT/voice.ac3"
"${FF[@]}" -c:a wmav2 -b:a 32k "${EXACT[@]}" "$OUT/voice.wma"
echo "make.sh: samples written to $OUT"
