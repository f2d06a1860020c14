#!/usr/bin/env bash
# Real accuracy: downloads the catalogue's Russian models (the GigaAM-v3 variants, Whisper small
# and medium-q8_0), scores each with `rech eval` on the shared human recordings (exact
# references), and writes the table, with the date, the commit and the machine, into
# BENCHMARKS.md. The first thing to run on a machine that reaches the model host: where rech
# is developed no model host is reachable, and the script stops with one line saying so.
#
#   bash bench/real-accuracy.sh            # RECH (default target/release/rech), RECH_SHARED_DIR
#
# About 1.5 GB of downloads (into rech's model directory, kept for later runs) and a few minutes
# of transcription on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

rech=${RECH:-target/release/rech}
shared=${RECH_SHARED_DIR:-../shared}
models=(gigaam-v3-e2e-rnnt-int8 gigaam-v3-e2e-ctc-int8 gigaam-v3-ctc-int8 small medium-q8_0)

if [ ! -x "$rech" ]; then
    echo "real-accuracy: $rech not found: build it (cargo build --release) or set RECH" >&2
    exit 1
fi
recordings="$shared/audio/ru"
if [ ! -f "$recordings/manifest.tsv" ]; then
    echo "real-accuracy: no recordings at $recordings: set RECH_SHARED_DIR" >&2
    exit 1
fi

# Every model first: a machine without the model host stops here, before anything is scored.
for model in "${models[@]}"; do
    if ! why=$("$rech" --quiet models download "$model" 2>&1 >/dev/null); then
        echo "real-accuracy: cannot download $model, so no real accuracy here: ${why#rech: error: }" \
            | head -n 1 >&2
        exit 1
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The human recordings with exact references, paths made absolute.
awk -F'\t' -v dir="$(cd "$recordings" && pwd)" \
    'NR > 1 && $1 ~ /^human\// { print dir "/" $1 "\t" $2 }' \
    "$recordings/manifest.tsv" > "$work/human.tsv"

args=()
for model in "${models[@]}"; do
    args+=(-m "$model")
done
"$rech" eval "${args[@]}" "$work/human.tsv" > "$work/table.txt"

{
    echo
    echo "## Real accuracy on the shared human recordings"
    echo
    echo "$(date -u '+%Y-%m-%d'), commit $(git rev-parse --short HEAD), $(nproc) CPUs:" \
        "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs). The catalogue's models," \
        "real weights, on the $(wc -l < "$work/human.tsv") human recordings of" \
        "\`../shared/audio/ru\` with their exact references, Russian normalisation on."
    echo "Rerun: \`bash bench/real-accuracy.sh\`."
    echo
    echo '```'
    cat "$work/table.txt"
    echo '```'
} >> BENCHMARKS.md
cat "$work/table.txt"
echo "real-accuracy: the table is at the end of BENCHMARKS.md" >&2
