"""cffi builder for the C scanner (out-of-line API mode).

setup.py names this file in ``cffi_modules``; it compiles csrc/qmpscan.c and
csrc/qmpintern.c into ``qmpfast.scan._qmpscan``.  The header is the contract and nothing here
repeats a number of it: every ``#define QMPF_*`` integer is declared to cffi
as ``...`` (its value comes from the compiler), struct layouts end in
``...;`` and array lengths are ``[...]``.  tools/gen_header.py writes the
same numbers into qmpfast/scan/_header.py for the pure-Python backend, with
``header_constants`` below as the one reader of the header.
"""

import os
import re

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "qmpscan.h")

_DEFINE = re.compile(r"^#define\s+QMPF_(\w+)\s+(0x[0-9a-fA-F]+|\d+)u?\b",
                     re.M)
_COMMENT_ABOVE = re.compile(r"/\*\s*(.*?)\s*\*/\s*$")


def header_constants(path=HEADER):
    """``[(name, value, comment_above)]`` for every integer ``QMPF_*``
    define of the header, in order; ``comment_above`` is the one-line
    comment on the line before the define (the error texts), or None."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    out = []
    for number, line in enumerate(lines):
        m = _DEFINE.match(line)
        if not m:
            continue
        above = _COMMENT_ABOVE.match(lines[number - 1]) if number else None
        comment = above.group(1) if above and lines[number - 1].lstrip(
            ).startswith("/*") else None
        out.append((m.group(1), int(m.group(2), 0), comment))
    return out


CDEF = "".join(f"#define QMPF_{name} ...\n"
               for name, _, _ in header_constants()) + """
typedef struct { int32_t slot; int32_t slot_end; int32_t role; } qmpf_node;

typedef struct {
    const qmpf_node *nodes;
    uint32_t n_nodes;
    uint32_t n_slots;
    const uint8_t *pool;
    const uint32_t *table;
    uint32_t table_mask;
    const uint8_t *keep;
    int32_t keep_unknown;
    int32_t role_slot[...];
    ...;
} qmpf_schema;

typedef struct { int64_t pos; int64_t msg_start; uint32_t depth;
                 int32_t simd; ...; }
    qmpf_scanner;

int qmpf_table_insert(uint32_t *table, uint32_t mask, const uint8_t *pool,
                      uint32_t parent, uint32_t off, uint32_t len,
                      int32_t value);
void qmpf_init(qmpf_scanner *s, const qmpf_schema *schema, uint8_t *kinds,
               int32_t *nodes, int64_t *starts, int64_t *doomed,
               uint32_t *partial, uint32_t max_depth, uint64_t max_size,
               int64_t start_offset);
int qmpf_scan(qmpf_scanner *s, const uint8_t *buf, size_t len, int64_t base,
              int64_t *recs, uint32_t *slots, size_t max_recs,
              size_t *n_recs);
int64_t qmpf_keep_from(const qmpf_scanner *s);
int qmpf_in_message(const qmpf_scanner *s);
int qmpf_simd_default(void);
int qmpf_simd_supported(int simd);

typedef struct { uint32_t *table; uint32_t mask; uint32_t max_ids;
                 uint8_t *pool; uint32_t pool_size; uint32_t pool_used;
                 uint32_t next_id; int32_t full; ...; } qmpf_interner;
void qmpf_intern_reset(qmpf_interner *it);
size_t qmpf_intern_column(qmpf_interner *it, const uint8_t *buf, size_t len,
                          int64_t base, const int64_t *recs,
                          const uint32_t *slots, size_t n, uint32_t n_words,
                          const uint32_t *which, uint32_t n_which,
                          const uint8_t *want, uint32_t n_want,
                          int dense, int32_t *ids, int64_t *fresh,
                          size_t *n_fresh, size_t *n_other);
"""

ffibuilder = cffi.FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "qmpfast.scan._qmpscan",
    '#include "qmpscan.h"',
    sources=[os.path.relpath(os.path.join(HERE, name))
             for name in ("qmpscan.c", "qmpintern.c")],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=os.environ.get(
        "QMPFAST_CFLAGS", "-O3 -std=c99").split(),
    extra_link_args=os.environ.get("QMPFAST_LDFLAGS", "").split(),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
