"""cffi builder for the C scanner (out-of-line API mode).

setup.py names this file in ``cffi_modules``; it compiles csrc/qmpscan.c
into ``qmpfast._qmpscan``.  The declarations below are the whole C surface
Python sees; the header stays the source of truth for the layouts (``...;``
lets cffi take them from the compiler).
"""

import os

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))

CDEF = """
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
    int32_t role_slot[12];
    ...;
} qmpf_schema;

typedef struct { int64_t pos; int64_t msg_start; ...; } qmpf_scanner;

int qmpf_table_insert(uint32_t *table, uint32_t mask, const uint8_t *pool,
                      uint32_t parent, uint32_t off, uint32_t len,
                      int32_t value);
void qmpf_init(qmpf_scanner *s, const qmpf_schema *schema, uint8_t *kinds,
               int32_t *nodes, uint32_t *partial, uint32_t max_depth,
               uint64_t max_size, int64_t start_offset);
int qmpf_scan(qmpf_scanner *s, const uint8_t *buf, size_t len, int64_t base,
              int64_t *recs, uint32_t *slots, size_t max_recs,
              size_t *n_recs);
int64_t qmpf_keep_from(const qmpf_scanner *s);
int qmpf_in_message(const qmpf_scanner *s);
"""

ffibuilder = cffi.FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "qmpfast.scan._qmpscan",
    '#include "qmpscan.h"',
    sources=[os.path.relpath(os.path.join(HERE, "qmpscan.c"))],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=os.environ.get(
        "QMPFAST_CFLAGS", "-O3 -std=c99").split(),
    extra_link_args=os.environ.get("QMPFAST_LDFLAGS", "").split(),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
