/*
 * qmpintern: ids for the repeated member values of a QMP stream.
 *
 * See "Value interning" in qmpscan.h for the contract.  An open-addressing
 * table (linear probing, at most half full) of entries that point into a
 * byte pool; both are the caller's.  Every span is checked against the
 * buffer before it is read, so records that do not belong to buf give
 * QMPF_ID_OTHER, never a read out of bounds.  Plain C99; no Python.h.
 */
#include "qmpscan.h"

#include <string.h>

void qmpf_intern_reset(qmpf_interner *it)
{
    memset(it->table, 0, ((size_t)it->mask + 1) * QMPF_INTERN_ENTRY_WORDS
                         * sizeof(uint32_t));
    it->pool_used = 0;
    it->next_id = QMPF_ID_FIRST;
    it->full = 0;
}

/* FNV-1a over the bytes, then the type; never 0 (0 marks nothing). */
static uint32_t value_hash(const uint8_t *p, uint32_t len, uint32_t type)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    h ^= type;
    h *= 16777619u;
    return h ? h : 1;
}

static int internable(uint32_t type)
{
    return type >= QMPF_T_STR_ASCII && type <= QMPF_T_NULL;
}

/* The id of value p[0:len] of type `type`: found, or given now (then its
 * span goes to fresh), or QMPF_ID_OTHER when there is no room. */
static int32_t intern_one(qmpf_interner *it, const uint8_t *p, uint32_t len,
                          uint32_t type, int64_t at, int64_t *fresh,
                          size_t *n_fresh)
{
    uint32_t h = value_hash(p, len, type);
    uint32_t mask = it->mask;
    uint32_t packed = len | type << 16;
    for (uint32_t k = h & mask;; k = (k + 1) & mask) {
        uint32_t *e = it->table + (size_t)k * QMPF_INTERN_ENTRY_WORDS;
        if (e[1] == 0) {
            if (it->next_id - QMPF_ID_FIRST >= it->max_ids
                || it->pool_size - it->pool_used < len) {
                it->full = 1;
                return QMPF_ID_OTHER;
            }
            memcpy(it->pool + it->pool_used, p, len);
            e[0] = h;
            e[1] = it->next_id;
            e[2] = it->pool_used;
            e[3] = packed;
            it->pool_used += len;
            int64_t *f = fresh + *n_fresh * QMPF_FRESH_WORDS;
            f[0] = at;
            f[1] = at + len;
            f[2] = type;
            (*n_fresh)++;
            return (int32_t)it->next_id++;
        }
        if (e[0] == h && e[3] == packed
            && memcmp(it->pool + e[2], p, len) == 0)
            return (int32_t)e[1];
    }
}

/* Whether record r is one of those asked for. */
static int wanted(int64_t tag, const uint8_t *want, uint32_t n_want)
{
    if (!want)
        return 1;
    if ((tag & QMPF_TAG_KIND_MASK) != QMPF_KIND_EVENT)
        return 0;
    int64_t id = (tag >> QMPF_TAG_ID_SHIFT) - 1;
    return id >= 0 && id < (int64_t)n_want && want[id];
}

/* The id of the value at one record's slot (the record read). */
static int32_t slot_id(qmpf_interner *it, const uint8_t *buf, size_t len,
                       int64_t base, const int64_t *rec, const uint32_t *sl,
                       int64_t *fresh, size_t *n_fresh)
{
    uint32_t type = sl[2];
    if (type == QMPF_T_ABSENT)
        return QMPF_ID_ABSENT;
    if (!internable(type) || sl[1] < sl[0]
        || sl[1] - sl[0] > QMPF_INTERN_MAX_LEN)
        return QMPF_ID_OTHER;
    int64_t off = rec[QMPF_R_START] - base;
    if (off < 0 || (uint64_t)off > len || sl[1] > len - (uint64_t)off)
        return QMPF_ID_OTHER;  /* not a record of this buffer */
    int64_t at = off + sl[0];
    return intern_one(it, buf + at, sl[1] - sl[0], type, at, fresh, n_fresh);
}

size_t qmpf_intern_column(qmpf_interner *it, const uint8_t *buf, size_t len,
                          int64_t base, const int64_t *recs,
                          const uint32_t *slots, size_t n, uint32_t n_words,
                          const uint32_t *which, uint32_t n_which,
                          const uint8_t *want, uint32_t n_want,
                          int dense, int32_t *ids, int64_t *fresh,
                          size_t *n_fresh, size_t *n_other)
{
    size_t out = 0, other = 0;
    *n_fresh = 0;
    for (uint32_t k = 0; k < n_which; k++)
        if ((uint64_t)which[k] * QMPF_SLOT_WORDS + QMPF_SLOT_WORDS > n_words)
            n = 0;  /* no such slot: nothing to read */
    for (size_t r = 0; r < n; r++) {
        const int64_t *rec = recs + r * QMPF_REC_FIELDS;
        if (!wanted(rec[QMPF_R_TAG], want, n_want)) {
            if (dense)
                for (uint32_t k = 0; k < n_which; k++)
                    ids[out++] = QMPF_ID_ABSENT;
            continue;
        }
        const uint32_t *row = slots + r * n_words;
        for (uint32_t k = 0; k < n_which; k++) {
            const uint32_t *sl = row + (size_t)which[k] * QMPF_SLOT_WORDS;
            int32_t id = slot_id(it, buf, len, base, rec, sl, fresh,
                                 n_fresh);
            other += id == QMPF_ID_OTHER;
            ids[out++] = id;
        }
    }
    *n_other = other;
    return out;
}
