#!/usr/bin/env bash
# Fuzzes rech's own parsers with cargo fuzz (libFuzzer), each target for a fixed time, and prints
# a summary line per target (time, executions, corpus, result) for FUZZING.md.
#
#   scripts/fuzz.sh                    every target for FUZZ_SECONDS (default 300) seconds
#   scripts/fuzz.sh smoke              every target for 25 s from the committed seeds (CI)
#   scripts/fuzz.sh run TARGET [SECS]  one target
#   scripts/fuzz.sh build              build the targets only
#
# Needs cargo-fuzz (installed with `cargo install cargo-fuzz` if missing). libFuzzer needs
# `-Zsanitizer=address`, a nightly-only flag; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept it. It is set here, for this build alone, which has its own target directory
# (fuzz/target) and so never touches the main build's; the first build takes a minute or two.
#
# Crashes are written to fuzz/artifacts/TARGET/, the growing corpus to fuzz/corpus/TARGET/
# (both ignored by git); the committed seeds are in fuzz/seeds/. Reproduce a crash with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# then keep the input as a regression test (see FUZZING.md).
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTC_BOOTSTRAP=1
TARGETS=(decode_wav decode_any model_file vad_file serve_form serve_control)
BIN_DIR=fuzz/target/x86_64-unknown-linux-gnu/release
LOG_DIR=fuzz/target/logs

seeds_for() {
    case $1 in
        decode_*) echo fuzz/seeds/decode ;;
        *) echo "fuzz/seeds/$1" ;;
    esac
}

# Inputs larger than this are not tried: audio headers and model headers sit at the front,
# and the model targets reach the rest of a file through patches of a valid one.
max_len_for() {
    case $1 in
        decode_*) echo 65536 ;;
        serve_*) echo 16384 ;;
        *) echo 131072 ;;
    esac
}

build() {
    if ! command -v cargo-fuzz >/dev/null; then
        echo "fuzz: installing cargo-fuzz from crates.io" >&2
        cargo install cargo-fuzz --locked
    fi
    cargo fuzz build --release "$@"
}

# run TARGET SECONDS CORPUS_DIR: prints one summary line, returns libFuzzer's status.
run_one() {
    local target=$1 seconds=$2 corpus=$3
    mkdir -p "$corpus" "fuzz/artifacts/$target" "$LOG_DIR"
    local log="$LOG_DIR/$target.log" status=0
    # -timeout: one input may take at most 10 s (a hang); -rss_limit_mb / -malloc_limit_mb:
    # the whole process may use 2 GB, and no single allocation may exceed 256 MB (a header
    # that claims a huge length must not make us allocate it).
    "$BIN_DIR/$target" "$corpus" "$(seeds_for "$target")" \
        -max_total_time="$seconds" -max_len="$(max_len_for "$target")" \
        -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" \
        >"$log" 2>&1 || status=$?
    local execs corpus_n
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    corpus_n=$(find "$corpus" -type f | wc -l)
    if [ "$status" -eq 0 ]; then
        printf 'fuzz: %-11s %5s s  %10s executions  corpus %6s  ok\n' \
            "$target" "$seconds" "${execs:-?}" "$corpus_n"
    else
        printf 'fuzz: %-11s %5s s  %10s executions  corpus %6s  FAILED (exit %s), log %s\n' \
            "$target" "$seconds" "${execs:-?}" "$corpus_n" "$status" "$log" >&2
        grep -E -A 30 'ERROR: libFuzzer|panicked|==ERROR|SUMMARY' "$log" | head -60 >&2 || true
    fi
    return "$status"
}

run_all() {
    local seconds=$1 corpus_root=$2 failed=0
    for target in "${TARGETS[@]}"; do
        run_one "$target" "$seconds" "$corpus_root/$target" || failed=1
    done
    return "$failed"
}

case ${1:-all} in
    build)
        build
        ;;
    smoke)
        build
        scratch=$(mktemp -d)
        trap 'rm -rf "$scratch"' EXIT
        run_all "${FUZZ_SMOKE_SECONDS:-25}" "$scratch"
        ;;
    run)
        target=${2:?usage: scripts/fuzz.sh run TARGET [SECONDS]}
        build "$target"
        run_one "$target" "${3:-${FUZZ_SECONDS:-300}}" "fuzz/corpus/$target"
        ;;
    all)
        build
        run_all "${FUZZ_SECONDS:-300}" fuzz/corpus
        ;;
    *)
        sed -n '2,9p' "$0" >&2
        exit 2
        ;;
esac
