#!/usr/bin/env bash
# Run the test suite against a build of the C scanner with AddressSanitizer
# and UndefinedBehaviorSanitizer.
#
#   bash fuzz/sanitizer_tests.sh [pytest args: test files, -k ...]
#
# With no arguments the whole suite runs; CI names the suites that drive
# the C scanner (the long run's RSS bound does not hold under ASan, whose
# allocator keeps freed memory in quarantine).
#
# The sanitized extension is built in a temporary copy of the work tree
# (qmpfast/, csrc/, tests/, tools/, docs/), so the normal build in qmpfast/ is never
# touched; the copy is removed at the end.  The suite runs there with
# gcc's ASan runtime preloaded into the (uninstrumented) interpreter,
# leak detection off (CPython keeps memory until exit by design), and any
# UBSan report fatal.  QMPFAST_REQUIRE_C=1: a missing C module fails.
#
# Any report fails the run.  The long run is shortened
# (QMPFAST_LONGRUN_EVENTS, default 1 000 000 here).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}

LIBASAN=$(gcc -print-file-name=libasan.so)
if [ ! -e "$LIBASAN" ]; then
    echo "sanitizer_tests: gcc's libasan.so not found (apt-get install gcc)" >&2
    exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/qmpfast-sanitize.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/qmpfast" "$WORK/csrc"
# the sources only: no compiled module, no caches
(cd qmpfast && find . -name __pycache__ -prune -o -type f \
    ! -name '*.so' ! -name '_qmpscan.c' -print) | while read -r f; do
    mkdir -p "$WORK/qmpfast/$(dirname "$f")"
    cp "qmpfast/$f" "$WORK/qmpfast/$f"
done
cp csrc/*.c csrc/*.h csrc/*.py "$WORK/csrc/"
cp -r tests tools docs "$WORK/"
find "$WORK/tests" -name __pycache__ -prune -exec rm -rf {} +
cp pyproject.toml "$WORK/"

echo "== building the sanitized scanner in $WORK"
t0=$(date +%s)
(cd "$WORK" && \
    QMPFAST_CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -std=c99" \
    QMPFAST_LDFLAGS="-fsanitize=address,undefined" \
    "$PY" csrc/build_ffi.py >build.log 2>&1) || {
    cat "$WORK/build.log" >&2
    exit 2
}
SO=$(ls "$WORK"/qmpfast/scan/_qmpscan*.so)
# read all of ldd's output first: with pipefail, "ldd | grep -q" fails
# whenever grep exits early and ldd gets EPIPE
if ! grep -q libasan <<<"$(ldd "$SO")"; then
    echo "sanitizer_tests: $SO is not linked with ASan" >&2
    exit 2
fi

export PYTHONPATH="$WORK${PYTHONPATH:+:$PYTHONPATH}"
export QMPFAST_REQUIRE_C=1
# the 2010 documentation page some tests compare against, where it is
SEED_DOC="$ROOT/../shared/seed/000_40c9818782d43da7.txt"
if [ -z "${QMPFAST_QMP_EVENTS_DOC:-}" ] && [ -f "$SEED_DOC" ]; then
    export QMPFAST_QMP_EVENTS_DOC="$SEED_DOC"
fi
export QMPFAST_LONGRUN_EVENTS=${QMPFAST_LONGRUN_EVENTS:-1000000}
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0"
UBSAN="halt_on_error=1:print_stacktrace=1"
export UBSAN_OPTIONS="$UBSAN"

# the interpreter must import the sanitized module, not an installed one
(cd "$WORK" && LD_PRELOAD="$LIBASAN" "$PY" -c "
import qmpfast.scan._qmpscan as m, qmpfast, sys
assert m.__file__.startswith('$WORK'), m.__file__
assert qmpfast.BACKEND == 'c', qmpfast.BACKEND
")
echo "== pytest against $SO"
status=0
if [ $# -eq 0 ]; then
    set -- tests
fi
(cd "$WORK" && LD_PRELOAD="$LIBASAN" "$PY" -m pytest -q -p no:cacheprovider \
    -o addopts="" "$@") || status=$?
t1=$(date +%s)
echo "== sanitizer tests: exit $status, $((t1 - t0)) s (build and tests)"
exit $status
