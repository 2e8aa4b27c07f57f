#!/usr/bin/env bash
# Build the libFuzzer harness of the C scanner (fuzz/scan_fuzzer.c) with
# AddressSanitizer and UndefinedBehaviorSanitizer, and write its seed corpus.
#
#   bash fuzz/build.sh            -> fuzz/build/scan_fuzzer, fuzz/build/seeds/
#
# Needs clang with compiler-rt (Debian: apt-get install clang
# libclang-rt-14-dev).  CC=clang-16 etc. picks another clang.
set -euo pipefail
cd "$(dirname "$0")/.."

CC=${CC:-clang}
OUT=fuzz/build
mkdir -p "$OUT"

# Undefined behaviour is a crash, not a warning.
"$CC" -g -O1 -std=c99 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -Wno-unused-parameter \
    -I csrc fuzz/scan_fuzzer.c csrc/qmpscan.c csrc/qmpintern.c \
    -o "$OUT/scan_fuzzer"

rm -rf "$OUT/seeds"
python3 fuzz/make_corpus.py scan "$OUT/seeds" >/dev/null
echo "built $OUT/scan_fuzzer; seeds in $OUT/seeds ($(ls "$OUT/seeds" | wc -l) files)"
