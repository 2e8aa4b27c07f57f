#!/usr/bin/env bash
# What CI runs: the libFuzzer harness of the C scanner and the differential
# fuzzer (C backend vs Python backend vs json.loads), side by side on the
# two cores, about a minute each, from fresh seed corpora made from the real
# captures.  Exits non-zero on any finding; a crashing input is left in
# fuzz/build/ (crash-*, timeout-*, oom-*) and printed.
#
#   bash fuzz/run_ci.sh                    # CI: 45 s + 50 s, in parallel
#   FUZZ_SECONDS=3600 bash fuzz/run_ci.sh  # a release run (see SECURITY.md)
#
# Needs clang + compiler-rt (fuzz/build.sh), the C module built (pip install
# -e .) and atheris (installed here when missing; without it the
# hypothesis driver of fuzz/differential.py runs instead, and says so).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
SECONDS_LIB=${FUZZ_SECONDS:-45}
SECONDS_DIFF=${FUZZ_SECONDS:-50}
OUT=fuzz/build
t0=$(date +%s)

bash fuzz/build.sh
rm -rf "$OUT/corpus-scan" "$OUT/corpus-diff" "$OUT/diffseeds"
mkdir -p "$OUT/corpus-scan" "$OUT/corpus-diff"
"$PY" fuzz/make_corpus.py diff "$OUT/diffseeds" >/dev/null

DRIVER=atheris
if ! "$PY" -c "import atheris" 2>/dev/null; then
    "$PY" -m pip install -q atheris >/dev/null 2>&1 || true
    if ! "$PY" -c "import atheris" 2>/dev/null; then
        DRIVER=hypothesis
        echo "run_ci: atheris cannot be installed for $("$PY" -V 2>&1);" \
             "the differential fuzzer runs on its hypothesis driver"
    fi
fi

UBSAN="halt_on_error=1:print_stacktrace=1"

echo "== libFuzzer: scan_fuzzer for ${SECONDS_LIB} s"
(cd "$OUT" && UBSAN_OPTIONS="$UBSAN" ./scan_fuzzer -dict=../qmp.dict \
    -max_total_time="$SECONDS_LIB" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 corpus-scan seeds \
    >scan.log 2>&1) &
LIB_PID=$!

echo "== differential fuzzer ($DRIVER) for ${SECONDS_DIFF} s"
if [ "$DRIVER" = atheris ]; then
    (cd "$OUT" && "$PY" ../differential.py -dict=../qmp.dict \
        -max_total_time="$SECONDS_DIFF" -max_len=4096 -timeout=20 \
        -rss_limit_mb=4096 -print_final_stats=1 corpus-diff diffseeds \
        >diff.log 2>&1) &
else
    (cd "$OUT" && "$PY" ../differential.py --hypothesis "$SECONDS_DIFF" \
        >diff.log 2>&1) &
fi
DIFF_PID=$!

lib_status=0
diff_status=0
wait "$LIB_PID" || lib_status=$?
wait "$DIFF_PID" || diff_status=$?

show_finding() {
    local log=$1
    grep -E -A30 "ERROR: |runtime error|check failed|=== FINDING|Traceback|deadly signal|timeout" \
        "$log" | head -80 || true
    grep -E "Test unit written to" "$log" || true
}

runs=$(grep -Eo "Done [0-9]+ runs" "$OUT/scan.log" | grep -Eo "[0-9]+" || echo "?")
cov=$(grep -Eo "cov: [0-9]+" "$OUT/scan.log" | tail -1 || true)
echo "libFuzzer: $runs inputs, $cov, exit $lib_status"
if [ "$lib_status" != 0 ]; then
    show_finding "$OUT/scan.log"
fi

if [ "$DRIVER" = atheris ]; then
    druns=$(grep -Eo "Done [0-9]+ runs" "$OUT/diff.log" | grep -Eo "[0-9]+" || echo "?")
else
    druns=$(grep -Eo "'inputs': [0-9]+" "$OUT/diff.log" | tail -1 | grep -Eo "[0-9]+" || echo "?")
fi
echo "differential: $druns inputs, exit $diff_status"
grep -E "^differential: |^hypothesis driver: " "$OUT/diff.log" | tail -1 || true
if [ "$diff_status" != 0 ]; then
    show_finding "$OUT/diff.log"
fi

echo "fuzzing took $(( $(date +%s) - t0 )) s"
if [ "$lib_status" != 0 ] || [ "$diff_status" != 0 ]; then
    echo "run_ci: FINDINGS (inputs and logs in $OUT/)"
    exit 1
fi
echo "run_ci: no findings"
