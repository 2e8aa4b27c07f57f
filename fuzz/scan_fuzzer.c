/*
 * libFuzzer harness of the C scanner alone (csrc/qmpscan.c), no Python.
 *
 * Input layout: four option bytes, then the stream.
 *   byte 0: bits 0-1 max_recs per call (1, 2, 3, 7), bit 2 event filter on,
 *           bit 3 keep_unknown, bits 4-6 max_depth (see DEPTHS)
 *   byte 1: max_message_size (see SIZES)
 *   byte 2, 3: seed of the chunking
 *
 * Each input is scanned twice with the same schema and limits:
 *   1. in one buffer, with room for every record;
 *   2. split into chunks at positions drawn from bytes 2-3, driven exactly
 *      as qmpfast/decoder.py drives the scanner: keep the bytes from
 *      qmpf_keep_from() (sometimes a few more before it, as the contract
 *      allows), append the next chunk, base = the offset of the first kept
 *      byte, call again while the result is FULL or ERROR with a small
 *      max_recs.
 * Every buffer, record array and slot array is a heap block of exactly the
 * size the scanner is told, so AddressSanitizer sees any overrun.
 *
 * Checked after every call: pos stays in the buffer and never moves back,
 * keep_from never moves back and never passes pos, the record count is
 * within max_recs, the result is DONE only with no record cut short.
 * Checked on every record: START strictly increases from record to record,
 * START < END, a good record's bytes are '{' ... '}' and the next record
 * starts at or after its END; its tag is a valid kind and name id; every
 * slot span is inside the record and fits its type (quotes around strings,
 * brackets around containers, digits for integers, the literal's letters);
 * an event's seconds/microseconds equal its slots' digits; a filtered-out
 * event is never delivered.  A bad record's error position is inside the
 * stream and, for syntax errors, names the byte found there.
 * Finally both runs must give the same records and slots.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmpscan.h"

#define TAG_FLAGS (QMPF_TAG_BIGTS | QMPF_TAG_BIGNUM | QMPF_TAG_LONGNAME)

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "scan_fuzzer: check failed at %s:%d: %s\n",    \
                    __FILE__, __LINE__, #cond);                            \
            abort();                                                       \
        }                                                                  \
    } while (0)

/* ---- the schema: QMP's own members plus a few below "data" ------------- */

typedef struct {
    int parent;
    const char *key;
    int role;
} path_def;

/* In depth-first order, so slot i = node i + 1 and subtrees are ranges. */
static const path_def PATHS[] = {
    {0, "event", QMPF_ROLE_EVENT},                /* node 1 */
    {0, "timestamp", QMPF_ROLE_TIMESTAMP},        /* node 2 */
    {2, "seconds", QMPF_ROLE_SECONDS},            /* node 3 */
    {2, "microseconds", QMPF_ROLE_MICROS},        /* node 4 */
    {0, "id", QMPF_ROLE_NONE},                    /* node 5 */
    {0, "return", QMPF_ROLE_RETURN},              /* node 6 */
    {0, "error", QMPF_ROLE_ERROR},                /* node 7 */
    {7, "class", QMPF_ROLE_ERROR_CLASS},          /* node 8 */
    {7, "desc", QMPF_ROLE_ERROR_DESC},            /* node 9 */
    {0, "QMP", QMPF_ROLE_QMP},                    /* node 10 */
    {0, "execute", QMPF_ROLE_EXECUTE},            /* node 11 */
    {0, "exec-oob", QMPF_ROLE_EXEC_OOB},          /* node 12 */
    {0, "arguments", QMPF_ROLE_NONE},             /* node 13 */
    {0, "data", QMPF_ROLE_NONE},                  /* node 14 */
    {14, "device", QMPF_ROLE_NONE},               /* node 15 */
    {14, "server", QMPF_ROLE_NONE},               /* node 16 */
    {16, "host", QMPF_ROLE_NONE},                 /* node 17 */
    {16, "service", QMPF_ROLE_NONE},              /* node 18 */
    {14, "reason", QMPF_ROLE_NONE},               /* node 19 */
    {14, "\xc3\xa9t\xc3\xa9", QMPF_ROLE_NONE},    /* node 20: "été" */
};
#define N_PATHS (sizeof(PATHS) / sizeof(PATHS[0]))
#define N_NODES (N_PATHS + 1)
#define N_SLOTS N_PATHS
#define NW (N_SLOTS * QMPF_SLOT_WORDS)

#define LONG_NAME                                                          \
    "LONG_EVENT_NAME_OF_EXACTLY_128_BYTES_0123456789_0123456789_0123456789" \
    "_0123456789_0123456789_0123456789_ABCDEFGHIJKLMNOPQRSTUVW"
static const char *const NAMES[] = {
    "STOP", "RESUME", "RESET", "SHUTDOWN", "BLOCK_IO_ERROR",
    "VNC_CONNECTED", "POWERDOWN", "\xc3\x89V\xc3\x89NEMENT" /* ÉVÉNEMENT */,
    LONG_NAME,
};
#define N_NAMES (sizeof(NAMES) / sizeof(NAMES[0]))
/* what the filter keeps when it is on: STOP, RESET, ÉVÉNEMENT, LONG */
static const uint8_t KEEP[N_NAMES] = {1, 0, 1, 0, 0, 0, 0, 1, 1};

static const uint32_t DEPTHS[8] = {1, 2, 3, 4, 8, 64, 1024, 100000};
static const uint64_t SIZES[16] = {
    1, 2, 3, 16, 40, 64, 100, 128, 256, 1000, 4096, 65536,
    1u << 20, 64u << 20, 0xffffffffu, 2};

typedef struct {
    qmpf_node nodes[N_NODES];
    uint8_t pool[1024];
    uint32_t table[128 * QMPF_ENTRY_WORDS];
    qmpf_schema schema[2]; /* without, with the event filter */
} tables;

static tables T;

static void build_tables(void)
{
    uint32_t off = 0;
    size_t i;
    const uint32_t mask = 127;

    memset(&T, 0, sizeof(T));
    T.nodes[0].slot = -1;
    T.nodes[0].slot_end = (int32_t)N_SLOTS;
    T.nodes[0].role = QMPF_ROLE_NONE;
    for (i = 0; i < N_PATHS; i++) {
        size_t len = strlen(PATHS[i].key);
        memcpy(T.pool + off, PATHS[i].key, len);
        CHECK(qmpf_table_insert(T.table, mask, T.pool,
                                (uint32_t)PATHS[i].parent, off,
                                (uint32_t)len, (int32_t)(i + 1)) == 0);
        off += (uint32_t)len;
        T.nodes[i + 1].slot = (int32_t)i;
        T.nodes[i + 1].role = PATHS[i].role;
    }
    /* slot_end: one past the last descendant (parents precede children) */
    for (i = N_PATHS; i >= 1; i--) {
        size_t j, end = i; /* slot of node i is i - 1 */
        for (j = i + 1; j <= N_PATHS; j++) {
            size_t a = j;
            while (a != 0 && a != i)
                a = (size_t)PATHS[a - 1].parent;
            if (a == i)
                end = j;
        }
        T.nodes[i].slot_end = (int32_t)end;
    }
    for (i = 0; i < N_NAMES; i++) {
        size_t len = strlen(NAMES[i]);
        memcpy(T.pool + off, NAMES[i], len);
        CHECK(qmpf_table_insert(T.table, mask, T.pool, QMPF_NAMES_PARENT,
                                off, (uint32_t)len, (int32_t)i) == 0);
        off += (uint32_t)len;
    }
    CHECK(off <= sizeof(T.pool));
    /* a duplicate is refused */
    CHECK(qmpf_table_insert(T.table, mask, T.pool, 0, 0, 5, 99) == -1);
    for (i = 0; i < 2; i++) {
        qmpf_schema *sc = &T.schema[i];
        size_t r;
        sc->nodes = T.nodes;
        sc->n_nodes = (uint32_t)N_NODES;
        sc->n_slots = (uint32_t)N_SLOTS;
        sc->pool = T.pool;
        sc->table = T.table;
        sc->table_mask = mask;
        sc->keep = i ? KEEP : NULL;
        sc->keep_unknown = 0;
        for (r = 0; r < QMPF_ROLES; r++)
            sc->role_slot[r] = -1;
        for (r = 0; r < N_PATHS; r++)
            if (PATHS[r].role)
                sc->role_slot[PATHS[r].role] = (int32_t)r;
    }
}

/* ---- collected output --------------------------------------------------- */

typedef struct {
    int64_t *recs;   /* REC_FIELDS per record */
    uint32_t *slots; /* NW per record (zeros for bad records) */
    size_t n, cap;
} output;

static void out_push(output *o, const int64_t *rec, const uint32_t *slots)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 16;
        o->recs = realloc(o->recs, o->cap * QMPF_REC_FIELDS * sizeof(int64_t));
        o->slots = realloc(o->slots, o->cap * NW * sizeof(uint32_t));
        CHECK(o->recs && o->slots);
    }
    memcpy(o->recs + o->n * QMPF_REC_FIELDS, rec,
           QMPF_REC_FIELDS * sizeof(int64_t));
    if (slots)
        memcpy(o->slots + o->n * NW, slots, NW * sizeof(uint32_t));
    else
        memset(o->slots + o->n * NW, 0, NW * sizeof(uint32_t));
    o->n++;
}

static void out_free(output *o)
{
    free(o->recs);
    free(o->slots);
}

typedef struct {
    const uint8_t *data; /* the whole stream */
    size_t size;
    const qmpf_schema *schema;
    uint64_t max_size;
} config;

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* Checks of one record against the whole stream. */
static void check_record(const config *cf, const int64_t *r,
                         const uint32_t *sl, int64_t prev_start,
                         int64_t prev_good_end)
{
    int64_t start = r[QMPF_R_START], end = r[QMPF_R_END];
    int64_t tag = r[QMPF_R_TAG];
    int kind = (int)(tag & QMPF_TAG_KIND_MASK);
    const uint8_t *m = cf->data + start;
    int64_t len = end - start;

    CHECK(start >= 0 && start < end && end <= (int64_t)cf->size);
    CHECK(start > prev_start);
    CHECK(start >= prev_good_end);
    if (kind == QMPF_KIND_BAD) {
        int code = (int)((tag >> QMPF_TAG_CODE_SHIFT) & QMPF_TAG_CODE_MASK);
        int64_t byte = (tag >> QMPF_TAG_BYTE_SHIFT) - 1;
        int64_t errpos = r[QMPF_R_ERRPOS];
        CHECK(code >= QMPF_E_EXPECTED_OBJECT && code <= QMPF_E_ERROR_SHAPE);
        CHECK(errpos >= start && errpos <= end);
        CHECK(r[QMPF_R_SECONDS] == 0 && r[QMPF_R_MICROS] == 0);
        if (code == QMPF_E_TOO_LARGE) {
            CHECK(byte == -1);
            CHECK((uint64_t)(end - start) == cf->max_size);
            CHECK(errpos == end);
        } else if (code >= QMPF_E_EVENT_NAME) {
            CHECK(byte == -1);
            CHECK(m[0] == '{' && m[len - 1] == '}');
            CHECK(errpos < end);
            CHECK((uint64_t)len <= cf->max_size);
        } else {
            CHECK(errpos == end - 1);
            CHECK(byte == cf->data[errpos]);
            CHECK((uint64_t)(errpos - start) < cf->max_size);
        }
        return;
    }
    CHECK(kind <= QMPF_KIND_COMMAND);
    CHECK(m[0] == '{' && m[len - 1] == '}');
    CHECK((uint64_t)len <= cf->max_size);
    CHECK(r[QMPF_R_ERRPOS] == 0);
    {
        int64_t name_id = (tag >> QMPF_TAG_ID_SHIFT) - 1;
        CHECK(name_id >= -1 && name_id < (int64_t)N_NAMES);
        /* only kind, known flags and the id */
        CHECK((tag & 0xf0 & ~(int64_t)TAG_FLAGS) == 0);
        if (kind != QMPF_KIND_EVENT) {
            CHECK(name_id == -1 && !(tag & QMPF_TAG_BIGTS));
            CHECK(r[QMPF_R_SECONDS] == 0 && r[QMPF_R_MICROS] == 0);
        }
        if (kind == QMPF_KIND_EVENT && cf->schema->keep &&
            !(tag & QMPF_TAG_LONGNAME))
            CHECK(name_id >= 0 ? cf->schema->keep[name_id]
                               : cf->schema->keep_unknown);
        if (tag & QMPF_TAG_LONGNAME)
            CHECK(kind == QMPF_KIND_EVENT && name_id == -1);
        if (QMPF_TAG_BIGNUM && (tag & QMPF_TAG_BIGNUM)) {
            /* some run of 19 digits or more */
            int64_t run = 0, best = 0;
            for (int64_t i = 0; i < len; i++) {
                run = is_digit(m[i]) ? run + 1 : 0;
                if (run > best)
                    best = run;
            }
            CHECK(best >= 19);
        }
    }
    for (size_t k = 0; k < N_SLOTS; k++) {
        uint32_t a = sl[k * 3], b = sl[k * 3 + 1], t = sl[k * 3 + 2];
        if (t == QMPF_T_ABSENT)
            continue;
        CHECK(t <= QMPF_T_ARRAY);
        CHECK(a <= b && (int64_t)b <= len);
        switch (t) {
        case QMPF_T_STR_ASCII:
        case QMPF_T_STR_UTF8:
        case QMPF_T_STR_ESC:
            CHECK(a >= 1 && (int64_t)b < len);
            CHECK(m[a - 1] == '"' && m[b] == '"');
            if (t == QMPF_T_STR_ASCII)
                for (uint32_t i = a; i < b; i++)
                    CHECK(m[i] >= 0x20 && m[i] < 0x80 && m[i] != '\\');
            break;
        case QMPF_T_INT:
            CHECK(a < b);
            CHECK(m[a] == '-' || is_digit(m[a]));
            for (uint32_t i = a + 1; i < b; i++)
                CHECK(is_digit(m[i]));
            break;
        case QMPF_T_NUMBER:
            CHECK(a < b && (m[a] == '-' || is_digit(m[a])));
            CHECK(is_digit(m[b - 1]));
            break;
        case QMPF_T_TRUE:
            CHECK(b - a == 4 && memcmp(m + a, "true", 4) == 0);
            break;
        case QMPF_T_FALSE:
            CHECK(b - a == 5 && memcmp(m + a, "false", 5) == 0);
            break;
        case QMPF_T_NULL:
            CHECK(b - a == 4 && memcmp(m + a, "null", 4) == 0);
            break;
        case QMPF_T_OBJECT:
            CHECK(b - a >= 2 && m[a] == '{' && m[b - 1] == '}');
            break;
        case QMPF_T_ARRAY:
            CHECK(b - a >= 2 && m[a] == '[' && m[b - 1] == ']');
            break;
        }
    }
    if (kind == QMPF_KIND_EVENT) {
        /* the event name slot is a string; seconds and micros are ints whose
         * digits give the record's values (when they fit) */
        const uint32_t *ev = sl + (size_t)T.nodes[1].slot * 3;
        const uint32_t *sec = sl + (size_t)T.nodes[3].slot * 3;
        const uint32_t *mic = sl + (size_t)T.nodes[4].slot * 3;
        const uint32_t *ts = sl + (size_t)T.nodes[2].slot * 3;
        int64_t name_id = (tag >> QMPF_TAG_ID_SHIFT) - 1;
        CHECK(ev[2] >= QMPF_T_STR_ASCII && ev[2] <= QMPF_T_STR_ESC);
        CHECK(ts[2] == QMPF_T_OBJECT);
        CHECK(sec[2] == QMPF_T_INT && mic[2] == QMPF_T_INT);
        if (name_id >= 0 && ev[2] != QMPF_T_STR_ESC) {
            size_t nl = strlen(NAMES[name_id]);
            CHECK(ev[1] - ev[0] == nl &&
                  memcmp(m + ev[0], NAMES[name_id], nl) == 0);
        }
        if (name_id < 0 && ev[2] != QMPF_T_STR_ESC) {
            for (size_t i = 0; i < N_NAMES; i++) {
                size_t nl = strlen(NAMES[i]);
                CHECK(!(ev[1] - ev[0] == nl &&
                        memcmp(m + ev[0], NAMES[i], nl) == 0));
            }
        }
        {
            const uint32_t *vs[2] = {sec, mic};
            int bigts = 0;
            for (int w = 0; w < 2; w++) {
                const uint8_t *d = m + vs[w][0];
                size_t n = vs[w][1] - vs[w][0];
                int neg = d[0] == '-';
                uint64_t v = 0;
                if (n - (size_t)neg > 18) {
                    bigts = 1;
                    continue;
                }
                for (size_t i = (size_t)neg; i < n; i++)
                    v = v * 10 + (uint64_t)(d[i] - '0');
                CHECK(r[w ? QMPF_R_MICROS : QMPF_R_SECONDS] ==
                      (neg ? -(int64_t)v : (int64_t)v));
            }
            CHECK(!!(tag & QMPF_TAG_BIGTS) == bigts);
        }
    }
}

static void check_records(const config *cf, const output *o)
{
    int64_t prev_start = -1, prev_good_end = 0;
    for (size_t i = 0; i < o->n; i++) {
        const int64_t *r = o->recs + i * QMPF_REC_FIELDS;
        check_record(cf, r, o->slots + i * NW, prev_start, prev_good_end);
        prev_start = r[QMPF_R_START];
        if ((r[QMPF_R_TAG] & QMPF_TAG_KIND_MASK) != QMPF_KIND_BAD)
            prev_good_end = r[QMPF_R_END];
    }
}

/* ---- the interner over the records of each scan call ------------------ */

/* A small interner (it fills, so its full path runs too) and, per id, a copy
 * of the bytes and the type it was given for, to check that every id
 * stands for one value. */
#define FZ_IDS 24
#define FZ_POOL 200
static struct {
    qmpf_interner it;
    uint32_t table[64 * QMPF_INTERN_ENTRY_WORDS];
    uint8_t pool[FZ_POOL];
    uint8_t seen[QMPF_ID_FIRST + FZ_IDS][QMPF_INTERN_MAX_LEN];
    uint32_t seen_len[QMPF_ID_FIRST + FZ_IDS], seen_type[QMPF_ID_FIRST + FZ_IDS];
} Z;

static void interner_reset(void)
{
    Z.it.table = Z.table;
    Z.it.mask = 63;
    Z.it.max_ids = FZ_IDS;
    Z.it.pool = Z.pool;
    Z.it.pool_size = FZ_POOL;
    qmpf_intern_reset(&Z.it);
}

/* Intern every slot of records [0, n) of buf; check each id against the
 * bytes it was first given for. */
static void intern_check(const uint8_t *buf, size_t len, int64_t base,
                         const int64_t *recs, const uint32_t *slots, size_t n,
                         uint32_t rng)
{
    uint32_t which[N_SLOTS];
    uint8_t want[4] = {1, 0, 1, 1};
    int dense = (int)(rng & 1);
    int32_t *ids;
    int64_t *fresh;
    size_t n_fresh = 0, n_other = 0, count, j = 0;
    if (!n)
        return;
    for (uint32_t k = 0; k < N_SLOTS; k++)
        which[k] = (k + rng) % N_SLOTS;
    if (Z.it.full || !Z.it.table)
        interner_reset();
    ids = malloc(n * N_SLOTS * sizeof(int32_t));
    fresh = malloc(n * N_SLOTS * QMPF_FRESH_WORDS * sizeof(int64_t));
    CHECK(ids && fresh);
    uint32_t first = Z.it.next_id;
    count = qmpf_intern_column(&Z.it, buf, len, base, recs, slots, n, NW,
                               which, N_SLOTS, rng & 2 ? want : NULL, 4,
                               dense, ids, fresh, &n_fresh, &n_other);
    CHECK(count % N_SLOTS == 0 && count <= n * N_SLOTS);
    CHECK(first + n_fresh == Z.it.next_id);
    for (size_t f = 0; f < n_fresh; f++) {
        const int64_t *fr = fresh + f * QMPF_FRESH_WORDS;
        uint32_t id = first + (uint32_t)f, flen;
        CHECK(fr[0] >= 0 && fr[0] <= fr[1] && fr[1] <= (int64_t)len);
        flen = (uint32_t)(fr[1] - fr[0]);
        CHECK(flen <= QMPF_INTERN_MAX_LEN && id < QMPF_ID_FIRST + FZ_IDS);
        memcpy(Z.seen[id], buf + fr[0], flen);
        Z.seen_len[id] = flen;
        Z.seen_type[id] = (uint32_t)fr[2];
    }
    for (size_t r = 0; r < n && j < count; r++) {
        const int64_t *rec = recs + r * QMPF_REC_FIELDS;
        int64_t tag = rec[QMPF_R_TAG];
        int64_t name = (tag >> QMPF_TAG_ID_SHIFT) - 1;
        int read = !(rng & 2) || ((tag & QMPF_TAG_KIND_MASK) == QMPF_KIND_EVENT
                                  && name >= 0 && name < 4 && want[name]);
        if (!read && !dense)
            continue;
        for (uint32_t k = 0; k < N_SLOTS; k++, j++) {
            const uint32_t *sl = slots + r * NW + which[k] * QMPF_SLOT_WORDS;
            int32_t id = ids[j];
            n_other -= id == QMPF_ID_OTHER;
            if (!read || sl[2] == QMPF_T_ABSENT) {
                CHECK(id == QMPF_ID_ABSENT);
                continue;
            }
            if (id == QMPF_ID_OTHER)
                continue;
            CHECK(id >= QMPF_ID_FIRST && (uint32_t)id < Z.it.next_id);
            CHECK(Z.seen_type[id] == sl[2]);
            CHECK(Z.seen_len[id] == sl[1] - sl[0]);
            CHECK(memcmp(Z.seen[id], buf + (rec[QMPF_R_START] - base) + sl[0],
                         Z.seen_len[id]) == 0);
        }
    }
    CHECK(j == count && n_other == 0);
    free(ids);
    free(fresh);
}

/* ---- driving the scanner ------------------------------------------------ */

typedef struct {
    qmpf_scanner s;
    uint8_t *kinds;
    int32_t *nodes;
    int64_t *starts;
    int64_t *doomed;
    uint32_t *partial;
} scanner;

/* simd: the code path (QMPF_SIMD_*), or -1 for the scanner's choice */
static void scanner_init(scanner *sc, const qmpf_schema *schema,
                         uint32_t max_depth, uint64_t max_size, int simd)
{
    sc->kinds = malloc(max_depth + 1);
    sc->nodes = malloc((max_depth + 1) * sizeof(int32_t));
    sc->starts = malloc((max_depth + 1) * sizeof(int64_t));
    sc->doomed = malloc((max_depth + 1) * sizeof(int64_t));
    sc->partial = malloc(NW * sizeof(uint32_t));
    CHECK(sc->kinds && sc->nodes && sc->starts && sc->doomed && sc->partial);
    qmpf_init(&sc->s, schema, sc->kinds, sc->nodes, sc->starts, sc->doomed,
              sc->partial, max_depth, max_size, 0);
    CHECK(sc->s.pos == 0 && qmpf_keep_from(&sc->s) == 0);
    CHECK(!qmpf_in_message(&sc->s));
    CHECK(qmpf_simd_supported(sc->s.simd));
    if (simd >= 0)
        sc->s.simd = simd;
}

static void scanner_free(scanner *sc)
{
    free(sc->kinds);
    free(sc->nodes);
    free(sc->starts);
    free(sc->doomed);
    free(sc->partial);
}

/* Scan buf (a heap block of exactly len bytes at offset base) until DONE. */
static void scan_all(scanner *sc, const uint8_t *buf, size_t len,
                     int64_t base, size_t max_recs, output *o)
{
    int64_t *recs = malloc(max_recs * QMPF_REC_FIELDS * sizeof(int64_t));
    uint32_t *slots = malloc(max_recs * NW * sizeof(uint32_t));
    CHECK(recs && slots);
    for (int guard = 0;; guard++) {
        int64_t pos0 = sc->s.pos, keep0 = qmpf_keep_from(&sc->s);
        size_t n = (size_t)-1;
        int res;
        CHECK(guard <= (int)len + 2); /* every call makes progress */
        res = qmpf_scan(&sc->s, buf, len, base, recs, slots, max_recs, &n);
        CHECK(res == QMPF_DONE || res == QMPF_FULL || res == QMPF_ERROR);
        CHECK(n <= max_recs);
        CHECK(sc->s.pos <= base + (int64_t)len);
        /* pos moves forward, except that a syntax error rewinds it to just
         * after the first line break after where the bad message began */
        if (res != QMPF_ERROR)
            CHECK(sc->s.pos >= pos0);
        CHECK(qmpf_keep_from(&sc->s) >= keep0);
        CHECK(qmpf_keep_from(&sc->s) <= sc->s.pos);
        CHECK(qmpf_keep_from(&sc->s) >= base);
        if (res == QMPF_DONE)
            CHECK(sc->s.pos == base + (int64_t)len);
        if (res == QMPF_FULL)
            CHECK(n == max_recs && !qmpf_in_message(&sc->s));
        if (res == QMPF_ERROR) {
            const int64_t *r;
            int64_t code;
            CHECK(n >= 1);
            r = recs + (n - 1) * QMPF_REC_FIELDS;
            CHECK((r[QMPF_R_TAG] & QMPF_TAG_KIND_MASK) == QMPF_KIND_BAD);
            code = (r[QMPF_R_TAG] >> QMPF_TAG_CODE_SHIFT) & QMPF_TAG_CODE_MASK;
            CHECK(!qmpf_in_message(&sc->s));
            if (code == QMPF_E_TOO_LARGE || code >= QMPF_E_EVENT_NAME) {
                /* too large: skip from where the limit was hit; a QMP shape
                 * error is well-formed JSON: go on right after it */
                CHECK(sc->s.pos == r[QMPF_R_END]);
            } else {
                /* the resync rule */
                const uint8_t *from = buf + (r[QMPF_R_START] - base);
                const uint8_t *nl = memchr(from, '\n', len - (size_t)(
                                               r[QMPF_R_START] - base));
                CHECK(sc->s.pos == (nl ? base + (nl - buf) + 1
                                       : base + (int64_t)len));
            }
        }
        for (size_t i = 0; i < n; i++) {
            const int64_t *r = recs + i * QMPF_REC_FIELDS;
            int bad = (r[QMPF_R_TAG] & QMPF_TAG_KIND_MASK) == QMPF_KIND_BAD;
            CHECK(!bad || (res == QMPF_ERROR && i == n - 1));
            /* every record starts in this buffer (its bytes were kept); a
             * good one lies in it whole */
            CHECK(r[QMPF_R_START] >= base);
            if (!bad)
                CHECK(r[QMPF_R_END] <= base + (int64_t)len);
            out_push(o, r, bad ? NULL : slots + i * NW);
        }
        intern_check(buf, len, base, recs, slots,
                     res == QMPF_ERROR ? n - 1 : n, (uint32_t)(n * 7 + len));
        if (res == QMPF_DONE)
            break;
    }
    free(recs);
    free(slots);
}

static uint32_t rng_next(uint32_t *x)
{
    uint32_t v = *x;
    v ^= v << 13;
    v ^= v >> 17;
    v ^= v << 5;
    return *x = v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    config cf;
    output whole = {0}, split = {0}, scalar = {0};
    scanner sc;
    uint32_t max_depth;
    size_t max_recs;
    uint32_t rng;
    uint8_t opt;

    if (!ready) {
        build_tables();
        ready = 1;
    }
    if (size < 4)
        return 0;
    opt = data[0];
    max_recs = (size_t[]){1, 2, 3, 7}[opt & 3];
    max_depth = DEPTHS[(opt >> 4) & 7];
    cf.max_size = SIZES[data[1] & 15];
    cf.schema = &T.schema[(opt >> 2) & 1];
    ((qmpf_schema *)cf.schema)->keep_unknown = (opt >> 3) & 1;
    rng = ((uint32_t)data[2] << 8 | data[3]) * 2654435761u + 1u;
    cf.data = data + 4;
    cf.size = size - 4;

    /* 1. one buffer, room for every record */
    {
        uint8_t *buf = malloc(cf.size ? cf.size : 1);
        memcpy(buf, cf.data, cf.size);
        scanner_init(&sc, cf.schema, max_depth, cf.max_size, -1);
        scan_all(&sc, buf, cf.size, 0, cf.size + 1, &whole);
        scanner_free(&sc);
        /* and on the scalar path, the reference of the SIMD ones */
        scanner_init(&sc, cf.schema, max_depth, cf.max_size,
                     QMPF_SIMD_SCALAR);
        scan_all(&sc, buf, cf.size, 0, cf.size + 1, &scalar);
        scanner_free(&sc);
        free(buf);
    }
    check_records(&cf, &whole);

    /* 2. in chunks, as the decoder drives it */
    {
        size_t fed = 0;
        int64_t base = 0;
        uint8_t *kept = NULL;
        size_t kept_len = 0;
        size_t max_chunk = 1 + (rng_next(&rng) % 4 == 0 ? 3 : 64);
        scanner_init(&sc, cf.schema, max_depth, cf.max_size,
                     rng_next(&rng) % 2 ? -1 : QMPF_SIMD_SCALAR);
        while (fed < cf.size) {
            size_t chunk = 1 + rng_next(&rng) % max_chunk;
            size_t len, extra = 0;
            int64_t keep;
            uint8_t *buf;
            if (chunk > cf.size - fed)
                chunk = cf.size - fed;
            len = kept_len + chunk;
            buf = malloc(len ? len : 1);
            if (kept_len)
                memcpy(buf, kept, kept_len);
            memcpy(buf + kept_len, cf.data + fed, chunk);
            fed += chunk;
            scan_all(&sc, buf, len, base, max_recs, &split);
            /* keep from keep_from, sometimes a few bytes more */
            keep = qmpf_keep_from(&sc.s);
            CHECK(keep >= base && keep <= base + (int64_t)len);
            if (rng_next(&rng) % 8 == 0)
                extra = rng_next(&rng) % 4;
            if ((int64_t)extra > keep - base)
                extra = (size_t)(keep - base);
            keep -= (int64_t)extra;
            free(kept);
            kept_len = (size_t)(base + (int64_t)len - keep);
            kept = malloc(kept_len ? kept_len : 1);
            memcpy(kept, buf + (keep - base), kept_len);
            base = keep;
            free(buf);
        }
        CHECK(sc.s.pos == (int64_t)cf.size);
        free(kept);
        scanner_free(&sc);
    }
    check_records(&cf, &split);

    /* 3. the same records, whatever the chunking and the code path */
    CHECK(whole.n == split.n && whole.n == scalar.n);
    for (size_t i = 0; i < whole.n; i++) {
        CHECK(memcmp(whole.recs + i * QMPF_REC_FIELDS,
                     split.recs + i * QMPF_REC_FIELDS,
                     QMPF_REC_FIELDS * sizeof(int64_t)) == 0);
        CHECK(memcmp(whole.slots + i * NW, split.slots + i * NW,
                     NW * sizeof(uint32_t)) == 0);
        CHECK(memcmp(whole.recs + i * QMPF_REC_FIELDS,
                     scalar.recs + i * QMPF_REC_FIELDS,
                     QMPF_REC_FIELDS * sizeof(int64_t)) == 0);
        CHECK(memcmp(whole.slots + i * NW, scalar.slots + i * NW,
                     NW * sizeof(uint32_t)) == 0);
    }
    out_free(&whole);
    out_free(&split);
    out_free(&scalar);
    return 0;
}
