/*
 * The C scanner alone: scan FILE in one qmpf_scan call, REPS times, and
 * print the median and best MB/s and ns per line (a message each).  With KEEP, only events
 * named KEEP are delivered (the filter job; the others' data is skipped).
 * QMPFAST_SCALAR=1 measures the scalar code path.  The schema holds the members QMP itself defines
 * (event, timestamp.seconds, timestamp.microseconds, data), which is what
 * the route job reads.  benchmarks/scanner.py runs it under
 * valgrind --tool=callgrind (REPS 1, minus REPS 0) for instructions/byte.
 *
 *     cc -O3 -std=c99 -Icsrc benchmarks/c/bench_scan.c csrc/qmpscan.c
 *     ./a.out FILE [REPS [KEEP]]
 */
#define _POSIX_C_SOURCE 199309L
#include "qmpscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define N_KEYS 5
#define TABLE 64

static const char *const keys[N_KEYS] = {"event", "timestamp", "seconds",
                                         "microseconds", "data"};
static const uint32_t parents[N_KEYS] = {0, 0, 2, 2, 0};
static const int32_t roles[N_KEYS] = {QMPF_ROLE_EVENT, QMPF_ROLE_TIMESTAMP,
                                      QMPF_ROLE_SECONDS, QMPF_ROLE_MICROS,
                                      QMPF_ROLE_NONE};
static const int32_t slot_ends[N_KEYS] = {1, 4, 3, 4, 5};

int main(int argc, char **argv)
{
    qmpf_node nodes[N_KEYS + 1];
    qmpf_schema schema;
    uint8_t pool[256];
    uint32_t table[TABLE * QMPF_ENTRY_WORDS];
    uint32_t off = 0;
    FILE *f;
    long len;
    uint8_t *buf;
    int reps;
    double best = 0, times[101];
    uint8_t keep[2] = {0, 0};
    const char *keep_name = argc > 3 ? argv[3] : NULL;
    size_t n = 0;
    int s_simd = 0;
    size_t lines = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [REPS]\n", argv[0]);
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    reps = argc > 2 ? atoi(argv[2]) : 10;
    for (long i = 0; i < len; i++) /* also with REPS 0: callgrind's base */
        lines += buf[i] == '\n';
    if (reps > 101)
        reps = 101;

    memset(table, 0, sizeof table);
    memset(&schema, 0, sizeof schema);
    nodes[0].slot = -1;
    nodes[0].slot_end = N_KEYS;
    nodes[0].role = QMPF_ROLE_NONE;
    for (int i = 0; i < N_KEYS; i++) {
        size_t klen = strlen(keys[i]);
        nodes[i + 1].slot = i;
        nodes[i + 1].slot_end = slot_ends[i];
        nodes[i + 1].role = roles[i];
        memcpy(pool + off, keys[i], klen);
        qmpf_table_insert(table, TABLE - 1, pool, parents[i], off,
                          (uint32_t)klen, i + 1);
        off += (uint32_t)klen;
    }
    memcpy(pool + off, "STOP", 4);
    qmpf_table_insert(table, TABLE - 1, pool, QMPF_NAMES_PARENT, off, 4, 0);
    off += 4;
    if (keep_name && strlen(keep_name) < 64) {
        memcpy(pool + off, keep_name, strlen(keep_name));
        qmpf_table_insert(table, TABLE - 1, pool, QMPF_NAMES_PARENT, off,
                          (uint32_t)strlen(keep_name), 1);
        keep[1] = 1;
        schema.keep = keep;
    }
    schema.nodes = nodes;
    schema.n_nodes = N_KEYS + 1;
    schema.n_slots = N_KEYS;
    schema.pool = pool;
    schema.table = table;
    schema.table_mask = TABLE - 1;
    for (int i = 0; i < QMPF_ROLES; i++)
        schema.role_slot[i] = -1;
    for (int i = 0; i < N_KEYS; i++)
        if (roles[i])
            schema.role_slot[roles[i]] = i;

    {
        size_t room = (size_t)len / 20 + 16;
        int64_t *recs = malloc(room * QMPF_REC_FIELDS * sizeof(int64_t));
        uint32_t *slots = malloc(room * N_KEYS * QMPF_SLOT_WORDS * 4);
        uint8_t kinds[1026];
        int32_t stack[1026];
        int64_t starts[1026], doomed[1026];
        uint32_t partial[N_KEYS * QMPF_SLOT_WORDS];
        for (int r = 0; r < reps; r++) {
            qmpf_scanner s;
            struct timespec a, b;
            double t;
            qmpf_init(&s, &schema, kinds, stack, starts, doomed, partial, 1024,
                      64u << 20, 0);
            s_simd = s.simd;
            clock_gettime(CLOCK_MONOTONIC, &a);
            qmpf_scan(&s, buf, (size_t)len, 0, recs, slots, room, &n);
            clock_gettime(CLOCK_MONOTONIC, &b);
            t = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
            times[r] = t;
            if (r == 0 || t < best)
                best = t;
        }
        if (reps > 0) {
            double med;
            qsort(times, (size_t)reps, sizeof(double), by_value);
            med = times[reps / 2];
            printf("%zu records, median %.0f MB/s (best %.0f), %.1f "
                   "ns/line, simd %d\n",
                   n, (double)len / med / 1e6, (double)len / best / 1e6,
                   med * 1e9 / (double)(lines ? lines : 1), s_simd);
        }
        free(recs);
        free(slots);
    }
    free(buf);
    return 0;
}
