#!/usr/bin/env bash
# Runs every benchmark behind BENCHMARKS.md, one after another, with the settings the tables
# quote, and collects their tables in one Markdown report (bench-report.md, or $1).
#
#   bash scripts/install-bench-deps.sh     # once: tools, .venv-bench, release build
#   bash bench/run-all.sh [REPORT.md] [FILTER]
#
# FILTER runs only the steps whose command line contains it (e.g. `memory`).
# About 1.5 hours on a 2-core machine, most of it in the hour-long transcriptions. Run it on an
# otherwise idle machine: the scripts alternate the variants they compare, but a parallel build
# still skews a table. Set PYTHON to use another interpreter than .venv-bench's.
set -euo pipefail
cd "$(dirname "$0")/.."

report=${1:-bench-report.md}
filter=${2:-}
python=${PYTHON:-.venv-bench/bin/python3}
if [ ! -x "$python" ]; then
    echo "run-all: $python not found: run scripts/install-bench-deps.sh first (or set PYTHON)" >&2
    exit 1
fi

steps=(
    "bench/suite.py --runs 2 --decoder eot"
    "bench/vs_whispercpp.py --runs 3 --decoder eot"
    "bench/encoder_gap.py --rounds 3 --skip-e2e"
    "bench/memory.py"
    "bench/memory.py --sizes medium --type q8_0 --short-only"
    "bench/dictate_latency.py --rounds 3"
)

{
    echo "# rech benchmark report"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)," \
        "$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)."
    echo
} > "$report"

for step in "${steps[@]}"; do
    if [[ $step != *"$filter"* ]]; then
        continue
    fi
    echo "run-all: $step" >&2
    {
        echo "## \`$step\`"
        echo
        echo "Load before: $(cut -d' ' -f1-3 /proc/loadavg)."
        echo
        # shellcheck disable=SC2086 # each step is a script and its arguments
        "$python" $step
        echo
        echo "Load after: $(cut -d' ' -f1-3 /proc/loadavg)."
        echo
    } >> "$report"
done
echo "run-all: report in $report" >&2
