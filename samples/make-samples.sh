#!/usr/bin/env bash
# Regenerates every audio sample in this folder (samples/) from text.
#
# All speech is synthesised by the project itself with espeak-ng (voice "ru");
# sox, lame and ffmpeg only convert / encode it. Nothing is downloaded.
#
# Usage (from any directory):
#   bash samples/make-samples.sh
#
# Requirements: espeak-ng, sox, lame, ffmpeg.
# Made with: espeak-ng 1.51, SoX 14.4.2, LAME 3.100, ffmpeg 5.1 (Debian 12
# packages). Other versions give audibly the same result but the bytes may
# differ. With the same tool versions the output is byte-for-byte reproducible:
# fixed espeak-ng settings, no sox dither, bit-exact ffmpeg muxing, no
# timestamps or encoder tags in the containers.
set -euo pipefail

SAMPLES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

for tool in espeak-ng sox lame ffmpeg; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "make-samples.sh: '$tool' not found in PATH" >&2
        exit 1
    fi
done

# Fixed synthesis settings.
ESPEAK_VOICE="ru"
ESPEAK_SPEED=150   # words per minute
ESPEAK_PITCH=50    # espeak-ng default, stated explicitly
ESPEAK_AMPL=100    # espeak-ng default, stated explicitly

PAD_S=0.3          # silence before and after the speech, seconds
PEAK_DBFS=-3       # peak normalisation target

# Plain C-locale behaviour for the tools; text is passed as UTF-8 arguments.
export LC_ALL=C.UTF-8

TMP_DIR="$(mktemp -d)"
trap 'rm -rf "$TMP_DIR"' EXIT

# sox global options: -D no dither (deterministic), -V1 only errors.
SOX=(sox -D -V1)

# ffmpeg options for reproducible output: no metadata, bit-exact muxing.
FFMPEG=(ffmpeg -nostdin -hide_banner -loglevel error -y)
FFMPEG_BITEXACT=(-map_metadata -1 -fflags +bitexact -flags:a +bitexact)

# speak NAME TEXT -> $TMP_DIR/NAME.speech.wav
#   espeak-ng output (22050 Hz mono 16-bit) with its own leading/trailing
#   silence trimmed, so that exactly PAD_S of silence can be added later.
speak() {
    local name="$1" text="$2"
    espeak-ng -v "$ESPEAK_VOICE" -s "$ESPEAK_SPEED" -p "$ESPEAK_PITCH" \
        -a "$ESPEAK_AMPL" -w "$TMP_DIR/$name.raw.wav" "$text"
    "${SOX[@]}" "$TMP_DIR/$name.raw.wav" "$TMP_DIR/$name.speech.wav" \
        silence 1 0.01 0.1% reverse silence 1 0.01 0.1% reverse
}

# render NAME RATE CHANNELS OUT [sox output format options...]
#   Resample, set channel count, pad with silence, normalise the peak.
render() {
    local name="$1" rate="$2" channels="$3" out="$4"
    shift 4
    "${SOX[@]}" "$TMP_DIR/$name.speech.wav" "$@" "$out" \
        rate -v "$rate" channels "$channels" pad "$PAD_S" "$PAD_S" \
        gain -n "$PEAK_DBFS"
}

# --- texts (one different sentence per file) --------------------------------
T_PRIVET_WAV="Привет, это проверка распознавания речи."
T_PRIVET_OGG="Привет, как у тебя дела?"
T_PRIVET_M4A="Здравствуйте, добро пожаловать в нашу программу."
T_POGODA_WAV="Сегодня в Москве солнечно."
T_POGODA_FLAC="Сегодня в Москве солнечно, температура двадцать градусов."
T_CHISLA_WAV="Раз, два, три."
T_CHISLA_MP3="Сто двадцать пять плюс тридцать семь равно сто шестьдесят два."
T_RYBA_WAV="Съешь же ещё этих булок."

speak privet-wav  "$T_PRIVET_WAV"
speak privet-ogg  "$T_PRIVET_OGG"
speak privet-m4a  "$T_PRIVET_M4A"
speak pogoda-wav  "$T_POGODA_WAV"
speak pogoda-flac "$T_POGODA_FLAC"
speak chisla-wav  "$T_CHISLA_WAV"
speak chisla-mp3  "$T_CHISLA_MP3"
speak ryba-wav    "$T_RYBA_WAV"

# --- uncompressed WAV -------------------------------------------------------
# 16 kHz, mono, 16-bit signed integer PCM
render privet-wav 16000 1 "$SAMPLES_DIR/privet-16k-mono.wav" \
    -t wav -e signed-integer -b 16
# 44.1 kHz, stereo (identical channels), 16-bit signed integer PCM
render pogoda-wav 44100 2 "$SAMPLES_DIR/pogoda-44k-stereo.wav" \
    -t wav -e signed-integer -b 16
# 48 kHz, mono, 32-bit IEEE float
render chisla-wav 48000 1 "$SAMPLES_DIR/chisla-48k-mono-f32.wav" \
    -t wav -e floating-point -b 32
# 22.05 kHz, stereo (identical channels), 24-bit signed integer PCM
render ryba-wav 22050 2 "$SAMPLES_DIR/ryba-24bit-stereo.wav" \
    -t wav -e signed-integer -b 24

# --- FLAC: 16 kHz mono 16-bit, lossless ------------------------------------
render pogoda-flac 16000 1 "$SAMPLES_DIR/pogoda.flac" \
    -t flac -e signed-integer -b 16 -C 8

# --- OGG/Vorbis: 48 kHz stereo (identical channels), VBR quality 4 -----------
render privet-ogg 48000 2 "$TMP_DIR/privet-ogg.pcm.wav" \
    -t wav -e signed-integer -b 16
"${FFMPEG[@]}" -i "$TMP_DIR/privet-ogg.pcm.wav" \
    -c:a libvorbis -q:a 4 "${FFMPEG_BITEXACT[@]}" \
    "$SAMPLES_DIR/privet.ogg"

# --- MP3: 44.1 kHz mono, CBR 64 kbit/s (LAME) -------------------------------
render chisla-mp3 44100 1 "$TMP_DIR/chisla-mp3.pcm.wav" \
    -t wav -e signed-integer -b 16
lame --silent --noreplaygain -m m -b 64 --cbr -q 2 \
    "$TMP_DIR/chisla-mp3.pcm.wav" "$SAMPLES_DIR/chisla.mp3"

# --- M4A: AAC-LC in MP4, 44.1 kHz mono, 64 kbit/s (ffmpeg native aac) -------
render privet-m4a 44100 1 "$TMP_DIR/privet-m4a.pcm.wav" \
    -t wav -e signed-integer -b 16
"${FFMPEG[@]}" -i "$TMP_DIR/privet-m4a.pcm.wav" \
    -c:a aac -b:a 64k "${FFMPEG_BITEXACT[@]}" \
    "$SAMPLES_DIR/privet.m4a"

echo "make-samples.sh: samples written to $SAMPLES_DIR"
