/*
 * qmpscan.c: see qmpscan.h.
 *
 * One explicit state machine; every state can be suspended at any byte, so a
 * message split anywhere costs what it costs in one piece.  Containers are
 * tracked on caller-owned stacks (no recursion): kind, node and start of
 * each.
 *
 * Code paths (s->simd, run.lv): the scalar one reads byte by byte and is
 * the reference; the SIMD ones (SSE2, AVX2 chosen at run time, NEON) give
 * the same records, finding string ends 16 or 32 bytes at a time (only
 * quotes, backslashes, control bytes and non-ASCII bytes leave the loop),
 * white space runs in blocks, runs of UTF-8 sequences in place, and
 * reading containers the schema tracks nothing inside with skip_value.
 *
 * Map of the scanner.  qmpf_scan (the driver, at the end of the file) loops
 * over the state, which s->state keeps between calls, and calls the reader
 * of that state.  A reader consumes bytes and returns the next state, or an
 * action that ends the call.  Phases, and the functions that hold them:
 *
 *   top        begin_message (ST_TOP): white space, then a message's '{'
 *              (after an error, one at a doomed container: skipline).
 *              The envelope fast lane (take_envelope) reads a whole QEMU
 *              event header and lands in ST_VALUE (its data; dropped events
 *              skip it with skip_value) or ST_AFTER; otherwise the general
 *              path: ST_OBJ_FIRST.
 *   skipline   skip_line (ST_SKIPLINE): after an error, the rest of the
 *              line, then ST_TOP.
 *   key        read_key (ST_OBJ_FIRST, ST_OBJ_KEY): a plain key is matched
 *              in place and its ':' read (ST_VALUE, or ST_COLON); any other
 *              key goes to key_string (ST_KEY), then read_colon (ST_COLON).
 *   value      read_value (ST_VALUE, ST_ARR_FIRST): opens the value's slot;
 *              '{' and '[' push a container (ST_OBJ_FIRST, ST_ARR_FIRST); a
 *              plain string, an integer or a literal lying wholly in the
 *              buffer goes straight to ST_AFTER; any other goes on in
 *              value_string, value_number, value_literal (ST_STRING,
 *              ST_NUMBER, ST_LITERAL), which end at any later byte in
 *              ST_AFTER (for a number: number done, from scan_number), or
 *              in an error (bad number).
 *   after      read_after (ST_AFTER): ',' leads to key or value; a closing
 *              bracket to close.
 *   close      close_container: back to after, or, when the message's own
 *              object closes, end_message: classify it, then write its
 *              record, drop it (the event filter) or rescan it; ST_TOP.
 *   limits     enter: a message began or ended, so the end of what may be
 *              read moves (the size limit of a message).
 * Actions that end a call: ACT_OUT (input used up or the size limit
 * reached: out_of_input), ACT_FAIL (a syntax error: fail_message writes
 * the error record, notes the containers still open, which are doomed, and
 * moves to the line after the message's start), ACT_FULL (no room for a
 * record), ACT_BAD (end_message wrote a bad record).  The end of qmpf_scan
 * saves where the scanner stopped.  The states of key, value and after are
 * read by read_members, which goes round key -> value -> after with plain
 * compares rather than a dispatch per state: most of a message's bytes.
 *
 * Functions that take a scan_run (RUN_FN) are always inlined into
 * qmpf_scan, so the run is held in registers like locals of one function;
 * the others take plain arguments.
 */
#include "qmpscan.h"

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define RUN_FN static inline __attribute__((always_inline))
#else
#define RUN_FN static inline
#endif

enum {
    ST_TOP = 0,     /* between messages */
    ST_SKIPLINE,    /* recovering: drop bytes up to the next line break */
    ST_OBJ_FIRST,   /* after '{': key or '}'  (states from here on are
                       inside a message) */
    ST_OBJ_KEY,     /* after ',' in an object: key */
    ST_COLON,       /* after a key */
    ST_VALUE,       /* after ':' or ',' in an array */
    ST_ARR_FIRST,   /* after '[': value or ']' */
    ST_AFTER,       /* after a value: ',' or the closing bracket */
    ST_KEY,         /* inside a key string */
    ST_STRING,      /* inside a value string */
    ST_NUMBER,
    ST_LITERAL
};

/* What a reader returns instead of a state to end the call. */
enum {
    ACT_OUT = -1,  /* out of input, or at the message's size limit */
    ACT_FAIL = -2, /* a syntax error: run.code at run.errp */
    ACT_FULL = -3, /* no room for another record */
    ACT_BAD = -4   /* a bad record was written */
};

enum { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

static inline int in_message_state(int st)
{
    return st >= ST_OBJ_FIRST;
}

/* Store where a scan of bytes stopped and return its result. */
static inline int leave(const uint8_t **pp, const uint8_t *p, int result)
{
    *pp = p;
    return result;
}

/* ==== byte helpers: white space, digits, string bytes, UTF-8 ============ */

static const uint8_t is_ws[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1,
                                   ['\r'] = 1};

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define QMPF_SSE2 1
#endif
#if defined(__GNUC__) && defined(__x86_64__) && defined(QMPF_SSE2)
#include <immintrin.h> /* AVX2 only in functions built for it (target) */
#define QMPF_AVX2 1
#endif
#if defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define QMPF_NEON 1
#endif

/* skip_ws for runs of two or more white space bytes (indented input), 16
 * bytes at a time; out of line, as most runs are one ' ' or none. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static const uint8_t *skip_ws_run(const uint8_t *p, const uint8_t *end)
{
#if defined(QMPF_SSE2)
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i ws = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
                         _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
                         _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'))));
        unsigned bits = ~(unsigned)_mm_movemask_epi8(ws) & 0xFFFFu;
        if (bits)
            return p + __builtin_ctz(bits);
        p += 16;
    }
#elif defined(QMPF_NEON)
    while (end - p >= 16) {
        uint8x16_t v = vld1q_u8(p);
        uint8x16_t ws = vorrq_u8(
            vorrq_u8(vceqq_u8(v, vdupq_n_u8(' ')),
                     vceqq_u8(v, vdupq_n_u8('\n'))),
            vorrq_u8(vceqq_u8(v, vdupq_n_u8('\t')),
                     vceqq_u8(v, vdupq_n_u8('\r'))));
        if (vminvq_u8(ws) == 0)
            break; /* a byte that is not white space: bytewise */
        p += 16;
    }
#endif
    while (p < end && is_ws[*p])
        p++;
    return p;
}

/* The first byte in [p, end) that is not JSON white space, or end.  Off
 * the scalar path (lv, a QMPF_SIMD_* code path) the usual cases, no white
 * space or one ' ', cost a compare or two, and longer runs go to
 * skip_ws_run. */
static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end,
                                     int lv)
{
    if (lv != QMPF_SIMD_SCALAR) {
        if (p < end && *p > ' ')
            return p;
        if (end - p >= 2 && *p == ' ' && p[1] > ' ')
            return p + 1;
        return skip_ws_run(p, end);
    }
    while (p < end && is_ws[*p])
        p++;
    return p;
}

static inline int is_digit(uint8_t c)
{
    return (uint8_t)(c - '0') < 10;
}

/* The first byte in [p, end) that is not an ASCII digit, or end. */
static inline const uint8_t *skip_digits(const uint8_t *p,
                                         const uint8_t *end)
{
    while (p < end && is_digit(*p))
        p++;
    return p;
}

static inline int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define QMPF_SWAR 1 /* unaligned little-endian word loads */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
/* High bit set in each byte that is '"', '\\', < 0x20 or >= 0x80; bytes
 * above the first such byte may be flagged falsely, the first never is. */
static inline uint64_t string_specials(uint64_t v)
{
    uint64_t q = v ^ (ONES * '"');
    uint64_t b = v ^ (ONES * '\\');
    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | (v - ONES * 0x20) | v) &
           HIGHS;
}

/* How many of the 8 bytes of w (first byte lowest) are ASCII digits before
 * the first that is not. */
static inline unsigned leading_digits(uint64_t w)
{
    uint64_t x = w ^ (ONES * '0'); /* digits become 0..9 */
    uint64_t bad = (((x & (ONES * 0x7F)) + ONES * 0x76) | x) & HIGHS;
    return bad ? (unsigned)__builtin_ctzll(bad) >> 3 : 8;
}

/* The value of the first k (1..8) bytes of w, all ASCII digits. */
static inline uint64_t digits_value(uint64_t w, unsigned k)
{
    w = (w - ONES * '0') << (8 * (8 - k)); /* leading zeros pad it to 8 */
    w = w * 10 + (w >> 8);                 /* pairs */
    w = (((w & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
         (((w >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >>
        32;
    return w;
}
#endif

/* 1 for bytes that end a run of plain string bytes: '"', '\\', control
 * bytes and non-ASCII bytes. */
static const uint8_t special_table[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

#if defined(QMPF_SSE2)
/* Bit i set when byte i of the 16 at p is '"', '\\', < 0x20 or >= 0x80. */
static inline int sse2_specials(const uint8_t *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    /* signed: bytes >= 0x80 are negative, so "< 0x20" takes them */
    __m128i m = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                     _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
    return _mm_movemask_epi8(m);
}
#endif

#if defined(QMPF_AVX2)
/* skip_plain 64 and 32 bytes at a time, for long strings (out of line: a
 * call that only long runs pay); stops where fewer than 32 bytes are left
 * or at the first special byte. */
__attribute__((target("avx2"), noinline)) static const uint8_t *
skip_plain_avx2(const uint8_t *p, const uint8_t *end)
{
    const __m256i quote = _mm256_set1_epi8('"');
    const __m256i slash = _mm256_set1_epi8('\\');
    const __m256i space = _mm256_set1_epi8(0x20);
#define QMPF_SPECIAL256(v)                                                 \
    _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, quote),           \
                                    _mm256_cmpeq_epi8(v, slash)),          \
                    _mm256_cmpgt_epi8(space, v))
    while (end - p >= 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
        __m256i b =
            _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
        __m256i ma = QMPF_SPECIAL256(a), mb = QMPF_SPECIAL256(b);
        if (!_mm256_testz_si256(_mm256_or_si256(ma, mb),
                                _mm256_or_si256(ma, mb))) {
            uint64_t bits =
                (uint32_t)_mm256_movemask_epi8(ma) |
                ((uint64_t)(uint32_t)_mm256_movemask_epi8(mb) << 32);
            return p + __builtin_ctzll(bits);
        }
        p += 64;
    }
    while (end - p >= 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
        unsigned bits = (unsigned)_mm256_movemask_epi8(QMPF_SPECIAL256(a));
        if (bits)
            return p + __builtin_ctz(bits);
        p += 32;
    }
#undef QMPF_SPECIAL256
    return p;
}
#endif

/* The first byte in [p, end) that is not a plain string byte, or end; lv
 * is the code path (QMPF_SIMD_*). */
static inline const uint8_t *skip_plain(const uint8_t *p, const uint8_t *end,
                                        int lv)
{
    if (lv == QMPF_SIMD_SCALAR) {
        while (p < end && !special_table[*p])
            p++;
        return p;
    }
#if defined(QMPF_SSE2)
    if (end - p >= 16) {
        int bits = sse2_specials(p);
        if (bits)
            return p + __builtin_ctz((unsigned)bits);
        p += 16;
#if defined(QMPF_AVX2)
        /* past the first 16 bytes the string is a long one */
        if (lv == QMPF_SIMD_AVX2 && end - p >= 64)
            p = skip_plain_avx2(p, end);
#endif
        while (end - p >= 16) {
            bits = sse2_specials(p);
            if (bits)
                return p + __builtin_ctz((unsigned)bits);
            p += 16;
        }
    }
#elif defined(QMPF_NEON)
    while (end - p >= 16) {
        uint8x16_t v = vld1q_u8(p);
        uint8x16_t m = vorrq_u8(
            vorrq_u8(vceqq_u8(v, vdupq_n_u8('"')),
                     vceqq_u8(v, vdupq_n_u8('\\'))),
            vorrq_u8(vcltq_u8(v, vdupq_n_u8(0x20)),
                     vcgeq_u8(v, vdupq_n_u8(0x80))));
        if (vmaxvq_u8(m)) {
            /* four bits per byte: the first set nibble is the byte */
            uint64_t bits = vget_lane_u64(
                vreinterpret_u64_u8(
                    vshrn_n_u16(vreinterpretq_u16_u8(m), 4)),
                0);
            return p + (__builtin_ctzll(bits) >> 2);
        }
        p += 16;
    }
#endif
#if defined(QMPF_SWAR)
    while (end - p >= 8) {
        uint64_t v, m;
        memcpy(&v, p, 8);
        m = string_specials(v);
        if (m)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
#endif
    while (p < end && !special_table[*p])
        p++;
    return p;
}

/* UTF-8 lead byte c: how many continuation bytes follow (1 to 3), and the
 * bounds of the first of them in *lo, *hi (no overlong forms, no
 * surrogates, nothing above U+10FFFF); 0 when c cannot lead a sequence. */
static inline int utf8_lead(uint8_t c, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return 1;
    if (c < 0xF0) {
        if (c == 0xE0)
            *lo = 0xA0;
        else if (c == 0xED)
            *hi = 0x9F;
        return 2;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            *lo = 0x90;
        else if (c == 0xF4)
            *hi = 0x8F;
        return 3;
    }
    return 0;
}

/* The end of the run of complete, valid UTF-8 sequences of two to four
 * bytes from p: the first ASCII byte, or the first sequence that is cut
 * by end or invalid (scan_string then reads that one bytewise, and reports
 * its error at the very byte the scalar path does).  The QEMU strings that
 * are not ASCII (names, paths, messages) have a few such runs each. */
static inline const uint8_t *utf8_run(const uint8_t *p, const uint8_t *end)
{
    while (p < end && *p >= 0x80) {
        uint8_t lo, hi;
        int need = utf8_lead(*p, &lo, &hi);
        if (!need || end - p <= need || p[1] < lo || p[1] > hi)
            break;
        if (need >= 2 && (p[2] & 0xC0) != 0x80)
            break;
        if (need == 3 && (p[3] & 0xC0) != 0x80)
            break;
        p += need + 1;
    }
    return p;
}

/* ==== the key table: hash, insert, lookup ============================== */

/* The first min(len, 8) bytes of a key as a little-endian word. */
static inline uint64_t prefix_safe(const uint8_t *key, size_t len)
{
    uint64_t w = 0;
    size_t n = len < 8 ? len : 8;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)key[i] << (8 * i);
    return w;
}

/* The same, with one load when 8 bytes are readable before limit. */
static inline uint64_t prefix_fast(const uint8_t *key, size_t len,
                                   const uint8_t *limit)
{
#ifdef QMPF_SWAR
    if (limit - key >= 8) {
        uint64_t w;
        memcpy(&w, key, 8);
        if (len < 8)
            w &= len ? ~0ull >> (64 - 8 * len) : 0;
        return w;
    }
#endif
    (void)limit;
    return prefix_safe(key, len);
}

/* The last 8 bytes of a key longer than 8 bytes as a little-endian word
 * (0 for shorter keys): with the prefix it covers keys of up to 16 bytes,
 * so most lookups compare two words and call no memcmp. */
static inline uint64_t suffix_word(const uint8_t *key, size_t len)
{
    uint64_t w;
    if (len <= 8)
        return 0;
#ifdef QMPF_SWAR
    memcpy(&w, key + len - 8, 8);
#else
    w = prefix_safe(key + len - 8, 8);
#endif
    return w;
}

/* Hash of (parent, key) from its length, prefix and suffix words: one
 * multiply, so a lookup is short. */
static inline uint32_t hash_key(uint32_t parent, size_t len, uint64_t prefix,
                                uint64_t suffix)
{
    uint64_t x = prefix ^ ((suffix << 23) | (suffix >> 41)) ^
                 ((uint64_t)parent << 40) ^ ((uint64_t)len << 56) ^ len;
    x *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32) ^ (uint32_t)x;
}

/* Hash of a key under a parent node, reading no byte past the key. */
static uint32_t qmpf_hash(uint32_t parent, const uint8_t *key, size_t len)
{
    return hash_key(parent, len, prefix_safe(key, len),
                    suffix_word(key, len));
}

static inline void put_word(uint32_t *e, uint64_t w)
{
    e[0] = (uint32_t)w;
    e[1] = (uint32_t)(w >> 32);
}

static inline uint64_t get_word(const uint32_t *e)
{
    return (uint64_t)e[0] | ((uint64_t)e[1] << 32);
}

int qmpf_table_insert(uint32_t *table, uint32_t mask, const uint8_t *pool,
                      uint32_t parent, uint32_t off, uint32_t len,
                      int32_t value)
{
    const uint8_t *key = pool + off;
    uint32_t h = qmpf_hash(parent, key, len) & mask;
    for (uint32_t tries = 0; tries <= mask; tries++) {
        uint32_t *e = table + (size_t)h * QMPF_ENTRY_WORDS;
        if (e[0] == 0) {
            e[0] = parent + 1;
            e[1] = off;
            e[2] = len;
            e[3] = (uint32_t)value;
            put_word(e + 4, prefix_safe(key, len));
            put_word(e + 6, suffix_word(key, len));
            return 0;
        }
        if (e[0] == parent + 1 && e[2] == len &&
            memcmp(pool + e[1], key, len) == 0)
            return -1;
        h = (h + 1) & mask;
    }
    return -1;
}

/* The value of (parent, key), or -1.  Bytes up to limit may be read. */
static inline int32_t lookup(const qmpf_schema *sc, uint32_t parent,
                             const uint8_t *key, uint32_t len,
                             const uint8_t *limit)
{
    const uint32_t *const table = sc->table;
    const uint32_t mask = sc->table_mask;
    uint64_t prefix = prefix_fast(key, len, limit);
    uint64_t suffix = suffix_word(key, len);
    uint32_t h = hash_key(parent, len, prefix, suffix) & mask;
    for (;;) {
        const uint32_t *e = table + (size_t)h * QMPF_ENTRY_WORDS;
        if (e[0] == 0)
            return -1;
        if (e[0] == parent + 1 && e[2] == len && get_word(e + 4) == prefix &&
            get_word(e + 6) == suffix &&
            (len <= 16 ||
             memcmp(sc->pool + e[1] + 8, key + 8, len - 16) == 0))
            return (int32_t)e[3];
        h = (h + 1) & mask;
    }
}

/* ==== strings ========================================================== */

static inline int is_string_type(uint32_t t)
{
    return t >= QMPF_T_STR_ASCII && t <= QMPF_T_STR_ESC;
}

/* Start reading a string's contents; mode is s->str_mode: 0 plain, 1 a key
 * to match, 2 an event name to match. */
static inline void begin_string(qmpf_scanner *s, int32_t mode)
{
    s->str_mode = mode;
    s->str_type = QMPF_T_STR_ASCII;
    s->esc = 0;
    s->hisur = 0;
    s->u8need = 0;
    s->cap_len = 0;
    s->cap_over = 0;
}

static inline void capture(qmpf_scanner *s, const uint8_t *from, size_t n)
{
    if (s->cap_over)
        return;
    if (s->cap_len + n > QMPF_CAPTURE_MAX) {
        s->cap_over = 1;
        return;
    }
    memcpy(s->cap + s->cap_len, from, n);
    s->cap_len += (uint32_t)n;
}

static void capture_cp(qmpf_scanner *s, uint32_t cp)
{
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | (cp >> 18));
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    capture(s, b, n);
}

/* The byte after a backslash (s->esc 1): 0, or -code. */
static inline int escape_char(qmpf_scanner *s, uint8_t c, int cap)
{
    uint8_t out;
    switch (c) {
    case '"': out = '"'; break;
    case '\\': out = '\\'; break;
    case '/': out = '/'; break;
    case 'b': out = '\b'; break;
    case 'f': out = '\f'; break;
    case 'n': out = '\n'; break;
    case 'r': out = '\r'; break;
    case 't': out = '\t'; break;
    case 'u':
        s->esc = 2;
        s->ucode = 0;
        return 0;
    default:
        return -QMPF_E_BAD_ESCAPE;
    }
    if (cap)
        capture(s, &out, 1);
    s->esc = 0;
    return 0;
}

/* A hex digit of \uXXXX (s->esc 2 to 5); after the fourth, the code point,
 * which may be the first half of a surrogate pair: 0, or -code. */
static inline int escape_hex(qmpf_scanner *s, uint8_t c, int cap)
{
    int h = hexval(c);
    uint32_t cp;
    if (h < 0)
        return -QMPF_E_BAD_UNICODE_ESCAPE;
    s->ucode = (s->ucode << 4) | (uint32_t)h;
    if (++s->esc <= 5)
        return 0;
    cp = s->ucode;
    if (s->hisur) {
        if (cp < 0xDC00 || cp > 0xDFFF)
            return -QMPF_E_LONE_SURROGATE;
        cp = 0x10000 + ((s->hisur - 0xD800) << 10) + (cp - 0xDC00);
        s->hisur = 0;
    } else if (cp >= 0xD800 && cp <= 0xDBFF) {
        s->hisur = cp;
        s->esc = 6; /* the low half must follow: '\\' (6), 'u' (7) */
        return 0;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return -QMPF_E_LONE_SURROGATE;
    }
    if (cap)
        capture_cp(s, cp);
    s->esc = 0;
    return 0;
}

/* One byte of an escape sequence, as s->esc says: 0 when it was taken, or
 * -code for an error at this byte. */
static inline int escape_byte(qmpf_scanner *s, uint8_t c, int cap)
{
    if (s->esc == 1)
        return escape_char(s, c, cap);
    if (s->esc <= 5)
        return escape_hex(s, c, cap);
    if (s->esc == 6) {
        if (c != '\\')
            return -QMPF_E_LONE_SURROGATE;
        s->esc = 7;
        return 0;
    }
    if (c != 'u')
        return -QMPF_E_LONE_SURROGATE;
    s->esc = 2;
    s->ucode = 0;
    return 0;
}

/* The rest of a pending UTF-8 sequence, then of a pending escape: 1 when
 * plain bytes may follow, 0 when the input ran out, -code on an error at
 * *pp. */
static inline int string_pending(qmpf_scanner *s, const uint8_t **pp,
                                 const uint8_t *end, int cap)
{
    const uint8_t *p = *pp;
    while (s->u8need) {
        if (p == end)
            return leave(pp, p, 0);
        if (*p < s->u8lo || *p > s->u8hi)
            return leave(pp, p, -QMPF_E_BAD_UTF8);
        if (cap)
            capture(s, p, 1);
        s->u8lo = 0x80;
        s->u8hi = 0xBF;
        s->u8need--;
        p++;
    }
    while (s->esc) {
        int e;
        if (p == end)
            return leave(pp, p, 0);
        e = escape_byte(s, *p, cap);
        if (e < 0)
            return leave(pp, p, e);
        p++;
    }
    return leave(pp, p, 1);
}

/*
 * Scan string contents from *pp.  Returns 1 when the closing quote was
 * consumed, 0 when the input ran out (state saved), or -code on an error with
 * *pp at the offending byte.  Strings being captured (keys of tracked
 * objects, event names) are copied, decoded, into s->cap.
 */
static int scan_string(qmpf_scanner *s, const uint8_t **pp,
                       const uint8_t *end)
{
    const uint8_t *p = *pp;
    const int cap = s->str_mode != 0;
    const int lv = s->simd;

    for (;;) {
        const uint8_t *run;
        uint8_t c;
        int need, r = string_pending(s, &p, end, cap);
        if (r != 1)
            return leave(pp, p, r);
        run = p;
        p = skip_plain(p, end, lv);
        if (p == end) {
            if (cap)
                capture(s, run, (size_t)(p - run));
            return leave(pp, p, 0);
        }
        c = *p;
        if (c == '"') {
            if (cap)
                capture(s, run, (size_t)(p - run));
            return leave(pp, p + 1, 1);
        }
        if (c == '\\') {
            if (cap)
                capture(s, run, (size_t)(p - run));
            s->str_type = QMPF_T_STR_ESC;
            s->esc = 1;
            p++;
            continue;
        }
        if (c < 0x20)
            return leave(pp, p, -QMPF_E_CONTROL_IN_STRING);
        /* a UTF-8 lead byte; string_pending checks what must follow it */
        if (s->str_type == QMPF_T_STR_ASCII)
            s->str_type = QMPF_T_STR_UTF8;
        if (lv != QMPF_SIMD_SCALAR) { /* whole sequences in a row */
            const uint8_t *q = utf8_run(p, end);
            if (q != p) {
                if (cap)
                    capture(s, run, (size_t)(q - run));
                p = q;
                continue;
            }
        }
        need = utf8_lead(c, &s->u8lo, &s->u8hi);
        if (!need)
            return leave(pp, p, -QMPF_E_BAD_UTF8);
        s->u8need = need;
        p++;
        if (cap)
            capture(s, run, (size_t)(p - run));
    }
}

/* ==== numbers ========================================================== */

/* An integer of up to 18 digits at q, ended by a byte that cannot extend
 * it; the byte after it, or NULL (the number state machine then decides:
 * longer integers, fractions, exponents, errors, the end of the buffer). */
static inline const uint8_t *read_int(const uint8_t *q, const uint8_t *end,
                                      int64_t *out)
{
    const uint8_t *digits;
    uint64_t v = 0;
    int neg = q < end && *q == '-';
    int more = 1; /* the digits may go on after those read at once */
    q += neg;
    digits = q;
#ifdef QMPF_SWAR
    if (end - q >= 8) { /* up to 8 digits at once: all of most numbers */
        uint64_t w;
        unsigned k;
        memcpy(&w, q, 8);
        k = leading_digits(w);
        if (k) {
            v = digits_value(w, k);
            q += k;
        }
        more = k == 8;
    }
#endif
    if (more)
        while (q < end && is_digit(*q) && q - digits <= 18)
            v = v * 10 + (uint64_t)(*q++ - '0');
    if (q == digits || q - digits > 18 || (*digits == '0' && q - digits > 1))
        return NULL;
    if (q >= end || *q == '.' || (*q | 0x20) == 'e')
        return NULL;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return q;
}

static inline void begin_number(qmpf_scanner *s)
{
    s->num_state = N_START;
    s->num_digits = 0;
    s->num_neg = 0;
    s->num_isint = 1;
    s->num_val = 0;
}

/*
 * Scan a number from *pp, as s->num_state says where it stands.  Returns 1
 * with *pp at the byte after it, 0 when the input ran out (state saved), or
 * -QMPF_E_BAD_NUMBER with *pp at the offending byte.  The value of an
 * integer is kept while it has at most 19 digits.
 */
static int scan_number(qmpf_scanner *s, const uint8_t **pp,
                       const uint8_t *end)
{
    const uint8_t *p = *pp;
    for (;;) {
        uint8_t c;
        if (p == end)
            return leave(pp, p, 0);
        c = *p;
        switch (s->num_state) {
        case N_START:
            if (c == '-') {
                s->num_neg = 1;
                s->num_state = N_MINUS;
                p++;
                continue;
            }
            /* fall through */
        case N_MINUS:
            if (c == '0') {
                s->num_state = N_ZERO;
                s->num_digits = 1;
                p++;
                continue;
            }
            if (c >= '1' && c <= '9') {
                s->num_state = N_INT;
                continue;
            }
            return leave(pp, p, -QMPF_E_BAD_NUMBER);
        case N_INT: {
            uint64_t v = s->num_val;
            int32_t d = s->num_digits;
            while (p < end && is_digit(*p)) {
                if (d < 19)
                    v = v * 10 + (uint64_t)(*p - '0');
                d++;
                p++;
            }
            s->num_val = v;
            s->num_digits = d;
            if (p == end)
                return leave(pp, p, 0);
            c = *p;
        }
            /* fall through */
        case N_ZERO:
            if (c == '.') {
                s->num_isint = 0;
                s->num_state = N_DOT;
                p++;
                continue;
            }
            if (c == 'e' || c == 'E') {
                s->num_isint = 0;
                s->num_state = N_E;
                p++;
                continue;
            }
            return leave(pp, p, 1);
        case N_DOT:
            if (!is_digit(c))
                return leave(pp, p, -QMPF_E_BAD_NUMBER);
            s->num_state = N_FRAC;
            p++;
            continue;
        case N_FRAC:
            p = skip_digits(p, end);
            if (p == end)
                return leave(pp, p, 0);
            if (*p == 'e' || *p == 'E') {
                s->num_state = N_E;
                p++;
                continue;
            }
            return leave(pp, p, 1);
        case N_E:
            if (c == '+' || c == '-') {
                s->num_state = N_ESIGN;
                p++;
                continue;
            }
            /* fall through */
        case N_ESIGN:
            if (!is_digit(c))
                return leave(pp, p, -QMPF_E_BAD_NUMBER);
            s->num_state = N_EXP;
            p++;
            continue;
        default: /* N_EXP */
            p = skip_digits(p, end);
            return leave(pp, p, p != end);
        }
    }
}

/* ==== literals ========================================================= */

static const char *const literals[3] = {"true", "false", "null"};
static const uint32_t literal_types[3] = {QMPF_T_TRUE, QMPF_T_FALSE,
                                          QMPF_T_NULL};

/* Which literal starts with c (0 true, 1 false, 2 null), and its length. */
static inline int literal_of(uint8_t c)
{
    return c == 't' ? 0 : c == 'f' ? 1 : 2;
}

static inline size_t literal_len(int lit)
{
    return lit == 1 ? 5 : 4;
}

/* Whether the literal true, false or null (lit 0, 1, 2) starts at p, with
 * its n_lit bytes readable: word compares, not a memcmp call. */
static inline int literal_at(const uint8_t *p, int lit, size_t n_lit)
{
    uint32_t w, want;
    memcpy(&w, p + n_lit - 4, 4); /* "true", "alse", "null" */
    memcpy(&want, literals[lit] + n_lit - 4, 4);
    return w == want && (n_lit == 4 || *p == 'f');
}

/* The rest of literal s->lit from its byte s->lit_idx: 1 when complete, 0
 * when the input ran out, -QMPF_E_BAD_LITERAL at the first wrong byte. */
static int scan_literal(qmpf_scanner *s, const uint8_t **pp,
                        const uint8_t *end)
{
    const uint8_t *p = *pp;
    const char *lit = literals[s->lit];
    while (lit[s->lit_idx]) {
        if (p == end)
            return leave(pp, p, 0);
        if (*p != (uint8_t)lit[s->lit_idx])
            return leave(pp, p, -QMPF_E_BAD_LITERAL);
        p++;
        s->lit_idx++;
    }
    return leave(pp, p, 1);
}

/* ==== the envelope fast lane =========================================== */

/*
 * QEMU writes every event as
 *     {"timestamp": {"seconds": S, "microseconds": U}, "event": "NAME", ...
 * so a message starting with exactly these bytes (integers of up to 18
 * digits, a plain ASCII name) is read by comparing constant strings, with
 * one hash lookup (the name) instead of six.  It leaves the scanner in the
 * very state the general path would reach after the same bytes; anything
 * else (other key order, other spacing, escapes, a cut chunk) goes the
 * general way from the message's first byte.
 */
static const char env_ts[] = "{\"timestamp\": {\"seconds\": ";
static const char env_us[] = ", \"microseconds\": ";
static const char env_ev[] = "}, \"event\": \"";
static const char env_data[] = ", \"data\": ";
#define ENV_TS_LEN (sizeof(env_ts) - 1)
#define ENV_US_LEN (sizeof(env_us) - 1)
#define ENV_EV_LEN (sizeof(env_ev) - 1)
#define ENV_DATA_LEN (sizeof(env_data) - 1)
#define ENV_TS_VALUE 14 /* offset of the timestamp's '{' */
enum { ENV_TS, ENV_SEC, ENV_US, ENV_EVENT, ENV_DATA };

/* Whether the n >= 8 bytes at p are those of lit: word compares that the
 * compiler unrolls for a constant n, where memcmp would be a call. */
static inline int same_bytes(const uint8_t *p, const char *lit, size_t n)
{
    uint64_t a, b, diff = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&a, p + i, 8);
        memcpy(&b, lit + i, 8);
        diff |= a ^ b;
    }
    if (i < n) { /* the last 8 bytes, overlapping */
        memcpy(&a, p + n - 8, 8);
        memcpy(&b, lit + n - 8, 8);
        diff |= a ^ b;
    }
    return diff == 0;
}

/* The nodes of the envelope's members; env_ok only when the schema has
 * them all with the roles the lane assumes. */
static void init_envelope(qmpf_scanner *s)
{
    const qmpf_schema *sc = s->schema;
    static const char *const keys[5] = {"timestamp", "seconds",
                                        "microseconds", "event", "data"};
    static const int parents[5] = {-1, ENV_TS, ENV_TS, -1, -1};
    static const int32_t roles[4] = {QMPF_ROLE_TIMESTAMP, QMPF_ROLE_SECONDS,
                                     QMPF_ROLE_MICROS, QMPF_ROLE_EVENT};
    s->env_ok = sc != NULL && sc->n_nodes > 0 && s->max_depth >= 2;
    for (int i = 0; i < 5 && s->env_ok; i++) {
        int32_t parent = parents[i] < 0 ? 0 : s->env_nodes[parents[i]];
        const uint8_t *key = (const uint8_t *)keys[i];
        uint32_t len = (uint32_t)strlen(keys[i]);
        int32_t nd = parent >= 0 ? lookup(sc, (uint32_t)parent, key, len,
                                          key + len)
                                 : -1;
        s->env_nodes[i] = nd;
        if (i < 4 && (nd < 0 || (uint32_t)nd >= sc->n_nodes ||
                      sc->nodes[nd].role != roles[i]))
            s->env_ok = 0;
    }
}

/* The pieces of an envelope: [a, b) spans of its two integers and name. */
typedef struct {
    const uint8_t *sec_a, *sec_b, *us_a, *us_b, *name_a, *name_b;
    int64_t sec, us;
} envelope;

/* Whether the message at p (its '{') starts with an envelope that lies in
 * [p, end) up to the name's closing quote, within max_size with room for
 * ", \"data\": "; its pieces in *e. */
static inline int read_envelope(const uint8_t *p, const uint8_t *end,
                                uint64_t max_size, int lv, envelope *e)
{
    if ((size_t)(end - p) <= ENV_TS_LEN + 48 ||
        !same_bytes(p, env_ts, ENV_TS_LEN))
        return 0;
    e->sec_a = p + ENV_TS_LEN;
    e->sec_b = read_int(e->sec_a, end, &e->sec);
    if (!e->sec_b || (size_t)(end - e->sec_b) < ENV_US_LEN + 1 ||
        !same_bytes(e->sec_b, env_us, ENV_US_LEN))
        return 0;
    e->us_a = e->sec_b + ENV_US_LEN;
    e->us_b = read_int(e->us_a, end, &e->us);
    if (!e->us_b || (size_t)(end - e->us_b) < ENV_EV_LEN + 1 ||
        !same_bytes(e->us_b, env_ev, ENV_EV_LEN))
        return 0;
    e->name_a = e->us_b + ENV_EV_LEN;
    e->name_b = skip_plain(e->name_a, end, lv);
    if (e->name_b >= end || *e->name_b != '"' ||
        e->name_b - e->name_a > QMPF_CAPTURE_MAX)
        return 0;
    return (uint64_t)(e->name_b + 1 - p) + ENV_DATA_LEN <= max_size;
}

/* After white space, a plain ASCII key and its ':' at p: the byte after
 * the ':', or NULL. */
static inline const uint8_t *skip_key(const uint8_t *p, const uint8_t *end,
                                     int lv)
{
    p = skip_ws(p, end, lv);
    if (p == end || *p != '"')
        return NULL;
    p = skip_plain(p + 1, end, lv);
    if (p == end || *p != '"')
        return NULL;
    p = skip_ws(p + 1, end, lv);
    if (p == end || *p != ':')
        return NULL;
    return p + 1;
}

/* A number at p, ended by a byte before end: the byte after it, or NULL
 * (also for an integer of more than 18 digits, which flags its message:
 * the general path reads it). */
static inline const uint8_t *skip_number(const uint8_t *p,
                                         const uint8_t *end)
{
    const uint8_t *digits;
    p += *p == '-';
    if (p == end || !is_digit(*p))
        return NULL;
    digits = p;
    p = *p == '0' ? p + 1 : skip_digits(p, end);
    if (p - digits > 18)
        return NULL;
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            return NULL;
        p = skip_digits(p, end);
    }
    if (p < end && (*p | 0x20) == 'e') {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return NULL;
        p = skip_digits(p, end);
    }
    return p == end ? NULL : p; /* the number may go on in the next chunk */
}

/* A plain ASCII string, a number or a literal at p: the byte after it, or
 * NULL. */
static inline const uint8_t *skip_scalar(const uint8_t *p,
                                         const uint8_t *end, int lv)
{
    uint8_t c = *p;
    if (c == '"') {
        p = skip_plain(p + 1, end, lv);
        return p == end || *p != '"' ? NULL : p + 1;
    }
    if (c == '-' || is_digit(c))
        return skip_number(p, end);
    if (c == 't' || c == 'f' || c == 'n') {
        int lit = literal_of(c);
        size_t n_lit = literal_len(lit);
        if ((size_t)(end - p) < n_lit || !literal_at(p, lit, n_lit))
            return NULL;
        return p + n_lit;
    }
    return NULL;
}

/*
 * The data of an event the filter drops, and any container the schema
 * tracks nothing inside, need validating only.  skip_value reads a value
 * lying wholly in [p, end) in one tight loop, with no state kept between
 * tokens, when it uses only the common forms: plain ASCII strings, numbers
 * (integers of up to 18 digits), literals, and objects and arrays nested
 * less than 64 levels below depth, the depth of the container it is in
 * (and within max_depth).  It returns the byte after the value, or NULL
 * when anything else comes up (an escape, UTF-8, an error, the end of the
 * buffer): the general path then reads the same value from p, and reports
 * what it finds there.
 */
static const uint8_t *skip_value(const uint8_t *p, const uint8_t *end,
                                 uint32_t depth, uint32_t max_depth, int lv,
                                 const uint8_t **stop)
{
    uint64_t objects = 0; /* bit i: the container i + 1 levels below depth
                             is an object */
    uint32_t d = 0;       /* levels open below depth */
    const uint8_t *q;

    for (;;) {
        uint8_t c;
        /* a value */
        p = skip_ws(p, end, lv);
        if (p == end)
            goto fail;
        c = *p;
        if (c == '{' || c == '[') {
            if (depth + d >= max_depth || d >= 64)
                goto fail;
            objects = c == '{' ? objects | (1ull << d)
                               : objects & ~(1ull << d);
            d++;
            p = skip_ws(p + 1, end, lv);
            if (p == end)
                goto fail;
            if (*p != (c == '{' ? '}' : ']')) {
                if (c == '{') {
                    if (!(q = skip_key(p, end, lv)))
                        goto fail;
                    p = q;
                }
                continue; /* the first member */
            }
            p++;
            d--;
        } else {
            if (!(q = skip_scalar(p, end, lv)))
                goto fail;
            p = q;
        }
        /* after a value: closing brackets, up to a ',' */
        for (;;) {
            if (d == 0)
                return p;
            p = skip_ws(p, end, lv);
            if (p == end)
                goto fail;
            c = *p;
            if (objects & (1ull << (d - 1))) {
                if (c == '}') {
                    p++;
                    d--;
                    continue;
                }
                if (c != ',' || !(q = skip_key(p + 1, end, lv)))
                    goto fail;
                p = q;
            } else {
                if (c == ']') {
                    p++;
                    d--;
                    continue;
                }
                if (c != ',')
                    goto fail;
                p++;
            }
            break;
        }
    }
fail:
    *stop = p; /* the token it could not take starts here */
    return NULL;
}

/* ==== records, slots and errors ======================================== */

/* One qmpf_scan call: the scanner, where it reads and where it writes. */
typedef struct {
    qmpf_scanner *s;
    const qmpf_schema *sc;
    const uint8_t *buf;  /* the caller's buffer; buf[0] is at offset base */
    const uint8_t *bend; /* its end */
    const uint8_t *end;  /* the end of what may be read: bend, or the size
                            limit of the message in progress */
    const uint8_t *p;    /* the next byte */
    int64_t base;
    uint32_t *cur;       /* slots of the message in progress: where the
                            next record's slots go */
    size_t nw;           /* slot words per message */
    int64_t *recs;
    size_t n, max_recs;  /* records written, room */
    int st;              /* the state (s->state between calls) */
    int lv;              /* the code path, s->simd */
    int code;            /* ACT_FAIL: the error */
    const uint8_t *errp; /*           and its byte */
} scan_run;

RUN_FN int64_t abs_pos(const scan_run *r, const uint8_t *q)
{
    return r->base + (int64_t)(q - r->buf);
}

/* Move to state st; when a message begins or ends there, the end of what
 * may be read moves with it (limits). */
RUN_FN int enter(scan_run *r, int st)
{
    r->st = st;
    r->end = r->bend;
    if (in_message_state(st)) {
        int64_t lim = r->s->msg_start + (int64_t)r->s->max_size - r->base;
        if (lim < (int64_t)(r->bend - r->buf))
            r->end = r->buf + lim;
    }
    return st;
}

/* A syntax error at p. */
RUN_FN int fail_at(scan_run *r, const uint8_t *p, int code)
{
    r->p = p;
    r->errp = p;
    r->code = code;
    return ACT_FAIL;
}

/* The slot of node nd in the message in progress, or NULL. */
RUN_FN uint32_t *slot_of(const scan_run *r, int32_t nd)
{
    if (nd < 0 || r->sc->nodes[nd].slot < 0)
        return NULL;
    return r->cur + (size_t)r->sc->nodes[nd].slot * QMPF_SLOT_WORDS;
}

/* A value of node nd begins at p, whose first byte is c: its slot's start
 * (after the quote of a string), and no type until it ends.  A duplicate
 * key replaces the whole subtree, as json.loads keeps only the last value
 * (a first value has a clear subtree: only a value read to its end has a
 * type, and can have set slots below). */
RUN_FN void open_slot(scan_run *r, int32_t nd, const uint8_t *p, uint8_t c)
{
    const qmpf_node *node;
    uint32_t *sl = slot_of(r, nd);
    if (nd < 0)
        return;
    node = &r->sc->nodes[nd];
    if (sl) {
        uint32_t before = sl[2];
        sl[0] = (uint32_t)(abs_pos(r, p) - r->s->msg_start + (c == '"'));
        sl[2] = QMPF_T_ABSENT;
        if (before != QMPF_T_ABSENT && node->slot_end > node->slot + 1)
            memset(sl + QMPF_SLOT_WORDS, 0,
                   (size_t)(node->slot_end - node->slot - 1) *
                       QMPF_SLOT_WORDS * sizeof(uint32_t));
    }
    if (node->role == QMPF_ROLE_SECONDS)
        r->s->bigts &= ~1;
    else if (node->role == QMPF_ROLE_MICROS)
        r->s->bigts &= ~2;
}

/* The value of node nd ended at absolute offset end (for strings: at the
 * closing quote) and has type type: write its slot, if it has one. */
RUN_FN void write_slot(scan_run *r, int32_t nd, int64_t end, uint32_t type)
{
    uint32_t *sl = slot_of(r, nd);
    if (sl) {
        sl[1] = (uint32_t)(end - r->s->msg_start);
        sl[2] = type;
    }
}

/* The whole slot of node nd, if it has one: a value of type type in
 * [a, b), with the message starting at r->p (the envelope lane). */
RUN_FN void env_slot(scan_run *r, int32_t nd, const uint8_t *a,
                     const uint8_t *b, uint32_t type)
{
    uint32_t *sl = slot_of(r, nd);
    if (sl) {
        sl[0] = (uint32_t)(a - r->p);
        sl[1] = (uint32_t)(b - r->p);
        sl[2] = type;
    }
}

static inline int64_t bad_tag(int code)
{
    return QMPF_KIND_BAD | ((int64_t)code << QMPF_TAG_CODE_SHIFT);
}

/* Write the next record. */
RUN_FN void write_record(scan_run *r, int64_t end, int64_t seconds,
                         int64_t micros, int64_t tag, int64_t errpos)
{
    int64_t *rec = r->recs + r->n * QMPF_REC_FIELDS;
    rec[QMPF_R_START] = r->s->msg_start;
    rec[QMPF_R_END] = end;
    rec[QMPF_R_SECONDS] = seconds;
    rec[QMPF_R_MICROS] = micros;
    rec[QMPF_R_TAG] = tag;
    rec[QMPF_R_ERRPOS] = errpos;
    r->n++;
}

/* A syntax error at absolute offset at: the containers still open there
 * (but the message's own object) become the doomed ones, which resync
 * skips (see doomed_start).  A restart at one of them would read the same
 * bytes, valid inside that container, up to at and fail there again: its
 * size limit ends later than the failed message's, and it is nested less
 * deeply.  Errors of the limits keep no such list, as the restart's limits
 * differ: one nested too deeply may be shallow enough from a later start.
 * An error found no later than the last one's (by a message that began
 * inside the region read then) keeps the list: such a message began at a
 * byte where that first message had a token, so it either fails where the
 * first one did, with open containers that are among the doomed ones, or
 * it ends before and the next message fails at once. */
RUN_FN void doom_open_containers(scan_run *r, int64_t at)
{
    qmpf_scanner *s = r->s;
    uint32_t n;
    if (r->code == QMPF_E_TOO_DEEP || at <= s->doom_end)
        return;
    n = in_message_state(r->st) ? s->depth - 1 : 0;
    if (n)
        memcpy(s->doomed, s->starts + 2, (size_t)n * sizeof(int64_t));
    s->doom_n = n;
    s->doom_next = 0;
    s->doom_end = at;
}

/* The error record of a syntax error (fail): the message from its start to
 * the offending byte, which the tag names.  Scanning resumes after the
 * first line break after where the bad message began, where begin_message
 * skips each line that starts with a doomed container: the rescan of the
 * lines between costs what reading them once does. */
RUN_FN int fail_message(scan_run *r)
{
    qmpf_scanner *s = r->s;
    const uint8_t *from = r->buf + (s->msg_start - r->base);
    const uint8_t *q = memchr(from, '\n', (size_t)(r->bend - from));
    int64_t at = abs_pos(r, r->errp);
    write_record(r, at + 1, 0, 0,
                 bad_tag(r->code) |
                     ((int64_t)(*r->errp + 1) << QMPF_TAG_BYTE_SHIFT),
                 at);
    doom_open_containers(r, at);
    s->noskip = 0;
    if (q) {
        r->p = q + 1;
        r->st = ST_TOP;
    } else {
        r->p = r->bend;
        r->st = ST_SKIPLINE;
    }
    return QMPF_ERROR;
}

/* The input is used up (out of input): the call is done, unless the
 * message in progress reached its size limit, which is an error record;
 * the rest of its line is then skipped. */
RUN_FN int out_of_input(scan_run *r)
{
    if (r->end != r->bend && in_message_state(r->st)) {
        int64_t at = abs_pos(r, r->p);
        write_record(r, at, 0, 0, bad_tag(QMPF_E_TOO_LARGE), at);
        r->st = ST_SKIPLINE;
        return QMPF_ERROR;
    }
    return QMPF_DONE;
}

/* Type and start of the slot of a role (0 when the schema has none). */
static inline uint32_t role_type(const qmpf_schema *sc, const uint32_t *cur,
                                 int role)
{
    return sc->role_slot[role] >= 0
               ? cur[(size_t)sc->role_slot[role] * QMPF_SLOT_WORDS + 2]
               : 0u;
}

static inline uint32_t role_at(const qmpf_schema *sc, const uint32_t *cur,
                               int role)
{
    return sc->role_slot[role] >= 0
               ? cur[(size_t)sc->role_slot[role] * QMPF_SLOT_WORDS]
               : 0u;
}

enum { MSG_KEEP, MSG_DROP, MSG_RESCAN, MSG_BAD };

/*
 * What a complete message is: MSG_KEEP with its tag (without the BIGNUM
 * flag), MSG_DROP (an event the filter drops), MSG_RESCAN (an event kept
 * after its data was skipped: a later duplicate "event" key), or MSG_BAD
 * with the code and absolute position of what breaks QMP's shape.
 */
static int classify(const qmpf_scanner *s, const uint32_t *cur,
                    int64_t *tag, int *code, int64_t *errpos)
{
    const qmpf_schema *sc = s->schema;
    uint32_t event = role_type(sc, cur, QMPF_ROLE_EVENT), error;
    if (event) {
        int32_t nid = s->name_id;
        int longname = nid == -2;
        uint32_t ts = role_type(sc, cur, QMPF_ROLE_TIMESTAMP);
        if (!is_string_type(event)) {
            *code = QMPF_E_EVENT_NAME;
            *errpos = s->msg_start + role_at(sc, cur, QMPF_ROLE_EVENT);
            return MSG_BAD;
        }
        if (sc->keep && !longname &&
            (nid >= 0 ? !sc->keep[nid] : !sc->keep_unknown))
            return MSG_DROP;
        if (s->skipped)
            return MSG_RESCAN;
        if (ts != QMPF_T_OBJECT ||
            role_type(sc, cur, QMPF_ROLE_SECONDS) != QMPF_T_INT ||
            role_type(sc, cur, QMPF_ROLE_MICROS) != QMPF_T_INT) {
            *code = QMPF_E_TIMESTAMP;
            *errpos = s->msg_start +
                      (ts ? role_at(sc, cur, QMPF_ROLE_TIMESTAMP) -
                                is_string_type(ts)
                          : 0);
            return MSG_BAD;
        }
        *tag = QMPF_KIND_EVENT | (s->bigts ? QMPF_TAG_BIGTS : 0) |
               (longname ? QMPF_TAG_LONGNAME : 0) |
               ((int64_t)(longname ? 0 : nid + 1) << QMPF_TAG_ID_SHIFT);
    } else if (role_type(sc, cur, QMPF_ROLE_RETURN)) {
        *tag = QMPF_KIND_RETURN;
    } else if ((error = role_type(sc, cur, QMPF_ROLE_ERROR)) != 0) {
        if (error != QMPF_T_OBJECT ||
            !is_string_type(role_type(sc, cur, QMPF_ROLE_ERROR_CLASS)) ||
            !is_string_type(role_type(sc, cur, QMPF_ROLE_ERROR_DESC))) {
            *code = QMPF_E_ERROR_SHAPE;
            *errpos = s->msg_start + role_at(sc, cur, QMPF_ROLE_ERROR) -
                      is_string_type(error);
            return MSG_BAD;
        }
        *tag = QMPF_KIND_ERROR;
    } else if (role_type(sc, cur, QMPF_ROLE_QMP)) {
        *tag = QMPF_KIND_GREETING;
    } else if (role_type(sc, cur, QMPF_ROLE_EXECUTE) ||
               role_type(sc, cur, QMPF_ROLE_EXEC_OOB)) {
        *tag = QMPF_KIND_COMMAND;
    } else {
        *tag = QMPF_KIND_MESSAGE;
    }
    return MSG_KEEP;
}

/* The message's own object closed at r->p: write its record (its slots
 * are already in place), or drop it, or read it again from its start. */
RUN_FN int end_message(scan_run *r)
{
    qmpf_scanner *s = r->s;
    int64_t tag = 0, errpos = 0;
    int code = 0;
    switch (classify(s, r->cur, &tag, &code, &errpos)) {
    case MSG_DROP:
        s->skipped = s->noskip = 0;
        return enter(r, ST_TOP);
    case MSG_RESCAN:
        /* it starts in this buffer, as the caller keeps bytes from
         * keep_from; this time every key is matched */
        s->skipped = 0;
        s->noskip = 1;
        r->p = r->buf + (s->msg_start - r->base);
        return enter(r, ST_TOP);
    case MSG_BAD:
        s->noskip = 0;
        r->st = ST_TOP;
        write_record(r, abs_pos(r, r->p), 0, 0, bad_tag(code), errpos);
        return ACT_BAD;
    default: {
        int event = (tag & QMPF_TAG_KIND_MASK) == QMPF_KIND_EVENT;
        s->noskip = 0;
        write_record(r, abs_pos(r, r->p), event ? s->seconds : 0,
                     event ? s->micros : 0,
                     tag | (s->bignum ? QMPF_TAG_BIGNUM : 0), 0);
        r->cur += r->nw;
        return enter(r, ST_TOP);
    }
    }
}

/* ==== the driver: one reader per state, and qmpf_scan ================== */

/* The data of an event the filter drops, in the envelope lane: validated
 * only, with no key lookups (a later duplicate "event" key that makes it
 * kept forces a rescan), within the message's size limit. */
RUN_FN int skip_dropped_data(scan_run *r)
{
    qmpf_scanner *s = r->s;
    const uint8_t *mstart = r->buf + (s->msg_start - r->base);
    const uint8_t *lim = (uint64_t)(r->end - mstart) > s->max_size
                             ? mstart + s->max_size
                             : r->end;
    const uint8_t *stop;
    const uint8_t *after = skip_value(r->p, lim, 1, s->max_depth, r->lv,
                                      &stop);
    s->val_node = -1;
    s->skipped = 1;
    if (after) {
        r->p = after;
        return ST_AFTER;
    }
    s->skip_after = abs_pos(r, stop);
    return ST_VALUE;
}

/* The envelope fast lane from the message's '{' at r->p: the state after
 * the envelope, or -1 when the general path must read the message. */
RUN_FN int take_envelope(scan_run *r)
{
    qmpf_scanner *s = r->s;
    const qmpf_schema *sc = r->sc;
    const uint8_t *p = r->p, *q;
    envelope e;
    if (!read_envelope(p, r->end, s->max_size, r->lv, &e))
        return -1;
    env_slot(r, s->env_nodes[ENV_TS], p + ENV_TS_VALUE, e.us_b + 1,
             QMPF_T_OBJECT);
    env_slot(r, s->env_nodes[ENV_SEC], e.sec_a, e.sec_b, QMPF_T_INT);
    env_slot(r, s->env_nodes[ENV_US], e.us_a, e.us_b, QMPF_T_INT);
    env_slot(r, s->env_nodes[ENV_EVENT], e.name_a, e.name_b,
             QMPF_T_STR_ASCII);
    s->seconds = e.sec;
    s->micros = e.us;
    s->name_id = lookup(sc, QMPF_NAMES_PARENT, e.name_a,
                        (uint32_t)(e.name_b - e.name_a), r->end);
    q = e.name_b + 1;
    if ((size_t)(r->end - q) > ENV_DATA_LEN &&
        same_bytes(q, env_data, ENV_DATA_LEN)) {
        r->p = q + ENV_DATA_LEN;
        s->val_node = s->env_nodes[ENV_DATA];
        if (sc->keep && !s->noskip &&
            (s->name_id >= 0 ? !sc->keep[s->name_id] : !sc->keep_unknown))
            return skip_dropped_data(r);
        return ST_VALUE;
    }
    r->p = q;
    return ST_AFTER;
}

/* 1 when a message beginning at absolute offset at would begin at a
 * doomed container (doom_open_containers).  Messages begin at increasing
 * offsets, so the doomed ones before at are passed for good. */
static inline int doomed_start(qmpf_scanner *s, int64_t at)
{
    while (s->doom_next < s->doom_n && s->doomed[s->doom_next] < at)
        s->doom_next++;
    return s->doom_next < s->doom_n && s->doomed[s->doom_next] == at;
}

/* ST_TOP: white space, then a message, which must start with '{'; after
 * an error, not at a doomed container (then its line is skipped, with no
 * record: the error it would end in has one already). */
RUN_FN int begin_message(scan_run *r)
{
    qmpf_scanner *s = r->s;
    const uint8_t *p = skip_ws(r->p, r->end, r->lv);
    int st;
    r->p = p;
    if (p == r->end)
        return ACT_OUT;
    if (r->n == r->max_recs)
        return ACT_FULL;
    s->msg_start = abs_pos(r, p);
    if (s->doom_next < s->doom_n && doomed_start(s, s->msg_start)) {
        r->p = p + 1;
        return ST_SKIPLINE;
    }
    if (*p != '{')
        return fail_at(r, p, QMPF_E_EXPECTED_OBJECT);
    memset(r->cur, 0, r->nw * sizeof(uint32_t));
    s->depth = 1;
    s->kinds[1] = 1;
    s->nodes[1] = 0;
    s->starts[1] = s->msg_start;
    s->name_id = -1;
    s->bigts = 0;
    s->bignum = 0;
    s->seconds = 0;
    s->micros = 0;
    s->skipped = 0;
    st = s->env_ok ? take_envelope(r) : -1;
    if (st < 0) { /* the general path */
        r->p = p + 1;
        st = ST_OBJ_FIRST;
    }
    return enter(r, st);
}

/* ST_SKIPLINE: up to the next line break. */
RUN_FN int skip_line(scan_run *r)
{
    const uint8_t *q = memchr(r->p, '\n', (size_t)(r->bend - r->p));
    if (!q) {
        r->p = r->bend;
        return ACT_OUT;
    }
    r->p = q + 1;
    return ST_TOP;
}

/* The container at the current depth closes at r->p (close). */
RUN_FN int close_container(scan_run *r)
{
    qmpf_scanner *s = r->s;
    r->p++;
    write_slot(r, s->nodes[s->depth], abs_pos(r, r->p),
               s->kinds[s->depth] ? QMPF_T_OBJECT : QMPF_T_ARRAY);
    if (--s->depth > 0)
        return ST_AFTER;
    return end_message(r);
}

/* ST_OBJ_FIRST, ST_OBJ_KEY: a key (or '}' after '{').  A plain ASCII key
 * wholly in the buffer is matched in place, then the usual ": ". */
RUN_FN int read_key(scan_run *r)
{
    qmpf_scanner *s = r->s;
    const uint8_t *const end = r->end;
    const uint8_t *p = skip_ws(r->p, end, r->lv);
    r->p = p;
    if (p == end)
        return ACT_OUT;
    if (*p == '"') {
        const uint8_t *k = p + 1, *q = skip_plain(k, end, r->lv);
        int32_t parent = s->nodes[s->depth];
        if (q < end && *q == '"') {
            s->val_node = parent >= 0 && q - k <= QMPF_CAPTURE_MAX
                              ? lookup(r->sc, (uint32_t)parent, k,
                                       (uint32_t)(q - k), end)
                              : -1;
            p = q + 1;
            if (p < end && *p == ':') {
                r->p = p + 1 + (p + 1 < end && p[1] == ' ');
                return ST_VALUE;
            }
            p = skip_ws(p, end, r->lv);
            r->p = p;
            if (p < end && *p == ':') {
                r->p = p + 1;
                return ST_VALUE;
            }
            return ST_COLON;
        }
        begin_string(s, parent >= 0);
        r->p = p + 1;
        return ST_KEY;
    }
    if (*p == '}' && r->st == ST_OBJ_FIRST)
        return close_container(r);
    return fail_at(r, p, QMPF_E_EXPECTED_KEY);
}

/* ST_KEY: the rest of a key that is not plain ASCII or was cut. */
RUN_FN int key_string(scan_run *r)
{
    qmpf_scanner *s = r->s;
    const uint8_t *p = r->p;
    int res = scan_string(s, &p, r->end);
    r->p = p;
    if (res == 0)
        return ACT_OUT;
    if (res < 0)
        return fail_at(r, p, -res);
    s->val_node = s->str_mode && !s->cap_over
                      ? lookup(r->sc, (uint32_t)s->nodes[s->depth], s->cap,
                               s->cap_len, s->cap + QMPF_CAPTURE_MAX)
                      : -1;
    return ST_COLON;
}

/* ST_COLON */
RUN_FN int read_colon(scan_run *r)
{
    const uint8_t *p = skip_ws(r->p, r->end, r->lv);
    r->p = p;
    if (p == r->end)
        return ACT_OUT;
    if (*p != ':')
        return fail_at(r, p, QMPF_E_EXPECTED_COLON);
    r->p = p + 1;
    return ST_VALUE;
}

/* '{' or '[' of a value of node nd at r->p. */
RUN_FN int open_container(scan_run *r, int32_t nd, uint8_t c)
{
    qmpf_scanner *s = r->s;
    if (s->depth >= s->max_depth)
        return fail_at(r, r->p, QMPF_E_TOO_DEEP);
    s->depth++;
    s->kinds[s->depth] = c == '{';
    s->nodes[s->depth] = nd;
    s->starts[s->depth] = abs_pos(r, r->p);
    r->p++;
    return c == '{' ? ST_OBJ_FIRST : ST_ARR_FIRST;
}

/* A string value of node nd at r->p: whole when it is plain ASCII and in
 * the buffer, else begun. */
RUN_FN int string_value(scan_run *r, int32_t nd)
{
    qmpf_scanner *s = r->s;
    const uint8_t *p = r->p, *q = skip_plain(p + 1, r->end, r->lv);
    int is_event = nd >= 0 && r->sc->nodes[nd].role == QMPF_ROLE_EVENT;
    if (q < r->end && *q == '"') {
        write_slot(r, nd, abs_pos(r, q), QMPF_T_STR_ASCII);
        if (is_event)
            s->name_id = q - p - 1 <= QMPF_CAPTURE_MAX
                             ? lookup(r->sc, QMPF_NAMES_PARENT, p + 1,
                                      (uint32_t)(q - p - 1), r->end)
                             : -2;
        r->p = q + 1;
        return ST_AFTER;
    }
    begin_string(s, is_event ? 2 : 0);
    r->p = p + 1;
    return ST_STRING;
}

/* A number value of node nd at r->p: whole when it is an integer of up to
 * 18 digits ended in the buffer, else begun. */
RUN_FN int number_value(scan_run *r, int32_t nd)
{
    qmpf_scanner *s = r->s;
    int64_t v;
    const uint8_t *q = read_int(r->p, r->end, &v);
    if (!q) {
        begin_number(s);
        return ST_NUMBER;
    }
    if (nd >= 0) {
        int32_t role = r->sc->nodes[nd].role;
        write_slot(r, nd, abs_pos(r, q), QMPF_T_INT);
        if (role == QMPF_ROLE_SECONDS)
            s->seconds = v;
        else if (role == QMPF_ROLE_MICROS)
            s->micros = v;
    }
    r->p = q;
    return ST_AFTER;
}

/* A literal value of node nd at r->p, starting with c: whole when it is in
 * the buffer, else begun. */
RUN_FN int literal_value(scan_run *r, int32_t nd, uint8_t c)
{
    int lit = literal_of(c);
    size_t n_lit = literal_len(lit);
    if ((size_t)(r->end - r->p) >= n_lit && literal_at(r->p, lit, n_lit)) {
        r->p += n_lit;
        write_slot(r, nd, abs_pos(r, r->p), literal_types[lit]);
        return ST_AFTER;
    }
    r->s->lit = lit;
    r->s->lit_idx = 0;
    return ST_LITERAL;
}

/* ST_VALUE, ST_ARR_FIRST: a value (or ']' after '['). */
RUN_FN int read_value(scan_run *r)
{
    qmpf_scanner *s = r->s;
    const uint8_t *p = skip_ws(r->p, r->end, r->lv);
    int32_t nd;
    uint8_t c;
    r->p = p;
    if (p == r->end)
        return ACT_OUT;
    c = *p;
    if (r->st == ST_ARR_FIRST) {
        if (c == ']')
            return close_container(r);
        s->val_node = -1;
    }
    nd = s->val_node;
    open_slot(r, nd, p, c);
    switch (c) {
    case '{':
    case '[':
        if (r->lv != QMPF_SIMD_SCALAR && abs_pos(r, p) >= s->skip_after &&
            (nd < 0 || ((uint32_t)nd < 64 && !(s->parents >> nd & 1)))) {
            /* nothing tracked inside: validate it in one loop, where the
             * general path would look up every key */
            const uint8_t *stop, *q = skip_value(p, r->end, s->depth,
                                                 s->max_depth, r->lv, &stop);
            if (q) {
                r->p = q;
                write_slot(r, nd, abs_pos(r, q),
                           c == '{' ? QMPF_T_OBJECT : QMPF_T_ARRAY);
                return ST_AFTER;
            }
            /* read by the general path; containers that begin before
             * stop would fail there again, so they are not tried */
            s->skip_after = abs_pos(r, stop);
        }
        return open_container(r, nd, c);
    case '"':
        return string_value(r, nd);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return number_value(r, nd);
    case 't':
    case 'f':
    case 'n':
        return literal_value(r, nd, c);
    default:
        return fail_at(r, p, QMPF_E_EXPECTED_VALUE);
    }
}

/* ST_STRING: the rest of a string value. */
RUN_FN int value_string(scan_run *r)
{
    qmpf_scanner *s = r->s;
    const uint8_t *p = r->p;
    int res = scan_string(s, &p, r->end);
    r->p = p;
    if (res == 0)
        return ACT_OUT;
    if (res < 0)
        return fail_at(r, p, -res);
    write_slot(r, s->val_node, abs_pos(r, p) - 1, s->str_type);
    if (s->str_mode == 2)
        s->name_id = s->cap_over ? -2
                                 : lookup(r->sc, QMPF_NAMES_PARENT, s->cap,
                                          s->cap_len,
                                          s->cap + QMPF_CAPTURE_MAX);
    return ST_AFTER;
}

/* ST_NUMBER: the rest of a number value; at its end, its slot, and the
 * timestamp member it may be.  Integers of up to 18 digits always fit;
 * longer ones are flagged and decoded from their bytes. */
RUN_FN int value_number(scan_run *r)
{
    qmpf_scanner *s = r->s;
    const uint8_t *p = r->p;
    int32_t nd = s->val_node;
    int res = scan_number(s, &p, r->end);
    r->p = p;
    if (res == 0)
        return ACT_OUT;
    if (res < 0)
        return fail_at(r, p, -res);
    if (s->num_isint && s->num_digits > 18)
        s->bignum = 1;
    if (nd >= 0) {
        int32_t role = r->sc->nodes[nd].role;
        write_slot(r, nd, abs_pos(r, p),
                   s->num_isint ? QMPF_T_INT : QMPF_T_NUMBER);
        if (s->num_isint &&
            (role == QMPF_ROLE_SECONDS || role == QMPF_ROLE_MICROS)) {
            int bit = role == QMPF_ROLE_SECONDS ? 1 : 2;
            int64_t v = 0;
            if (s->num_digits > 18)
                s->bigts |= bit;
            else
                v = s->num_neg ? -(int64_t)s->num_val : (int64_t)s->num_val;
            if (bit == 1)
                s->seconds = v;
            else
                s->micros = v;
        }
    }
    return ST_AFTER;
}

/* ST_LITERAL: the rest of a literal value. */
RUN_FN int value_literal(scan_run *r)
{
    qmpf_scanner *s = r->s;
    const uint8_t *p = r->p;
    int res = scan_literal(s, &p, r->end);
    r->p = p;
    if (res == 0)
        return ACT_OUT;
    if (res < 0)
        return fail_at(r, p, -res);
    write_slot(r, s->val_node, abs_pos(r, p), literal_types[s->lit]);
    return ST_AFTER;
}

/* ST_AFTER: ',' or the closing bracket after a value. */
RUN_FN int read_after(scan_run *r)
{
    qmpf_scanner *s = r->s;
    const uint8_t *const end = r->end;
    const uint8_t *p = skip_ws(r->p, end, r->lv);
    int in_object;
    uint8_t c;
    r->p = p;
    if (p == end)
        return ACT_OUT;
    c = *p;
    in_object = s->kinds[s->depth];
    if (c == ',') {
        p++;
        if (in_object) {
            r->p = p + (p < end && *p == ' '); /* the usual ", " */
            return ST_OBJ_KEY;
        }
        s->val_node = -1;
        r->p = p;
        return ST_VALUE;
    }
    if (c == (in_object ? '}' : ']'))
        return close_container(r);
    return fail_at(r, p, in_object ? QMPF_E_EXPECTED_OBJ_NEXT
                                   : QMPF_E_EXPECTED_ARR_NEXT);
}

/* ST_OBJ_FIRST, ST_OBJ_KEY, ST_VALUE, ST_ARR_FIRST, ST_AFTER: the members
 * of objects and arrays, going round key -> value -> after without a
 * dispatch per state; returns the first other state or action. */
RUN_FN int read_members(scan_run *r)
{
    int next = r->st;
    for (;;) {
        if (next == ST_OBJ_FIRST || next == ST_OBJ_KEY) {
            next = read_key(r);
            if (next != ST_VALUE)
                return next;
            r->st = next;
        }
        if (next == ST_VALUE || next == ST_ARR_FIRST) {
            next = read_value(r);
            if (next != ST_AFTER)
                return next;
            r->st = next;
        }
        next = read_after(r);
        if (next != ST_OBJ_KEY && next != ST_VALUE && next != ST_AFTER)
            return next;
        r->st = next;
    }
}

int qmpf_simd_supported(int simd)
{
    switch (simd) {
    case QMPF_SIMD_SCALAR:
        return 1;
#if defined(QMPF_SSE2)
    case QMPF_SIMD_SSE2:
        return 1;
#endif
#if defined(QMPF_AVX2)
    case QMPF_SIMD_AVX2:
        return __builtin_cpu_supports("avx2") != 0;
#endif
#if defined(QMPF_NEON)
    case QMPF_SIMD_NEON:
        return 1;
#endif
    default:
        return 0;
    }
}

int qmpf_simd_default(void)
{
    const char *env = getenv("QMPFAST_SCALAR");
    if (env && env[0] && strcmp(env, "0") != 0)
        return QMPF_SIMD_SCALAR;
    if (qmpf_simd_supported(QMPF_SIMD_AVX2))
        return QMPF_SIMD_AVX2;
    if (qmpf_simd_supported(QMPF_SIMD_SSE2))
        return QMPF_SIMD_SSE2;
    if (qmpf_simd_supported(QMPF_SIMD_NEON))
        return QMPF_SIMD_NEON;
    return QMPF_SIMD_SCALAR;
}

/* Bit n set for each node n < 64 that has members in the key table: the
 * others are leaves, whose values skip_value may read. */
static uint64_t parent_nodes(const qmpf_schema *sc)
{
    uint64_t bits = 0;
    if (!sc || !sc->table)
        return ~0ull;
    for (uint32_t i = 0; i <= sc->table_mask; i++) {
        uint32_t parent = sc->table[(size_t)i * QMPF_ENTRY_WORDS];
        if (parent != 0 && parent - 1 < 64)
            bits |= 1ull << (parent - 1);
    }
    return bits;
}

void qmpf_init(qmpf_scanner *s, const qmpf_schema *schema, uint8_t *kinds,
               int32_t *nodes, int64_t *starts, int64_t *doomed,
               uint32_t *partial, uint32_t max_depth, uint64_t max_size,
               int64_t start_offset)
{
    memset(s, 0, sizeof(*s));
    s->schema = schema;
    s->kinds = kinds;
    s->nodes = nodes;
    s->starts = starts;
    s->doomed = doomed;
    s->doom_end = start_offset - 1;
    s->partial = partial;
    s->max_depth = max_depth;
    s->max_size = max_size;
    s->pos = start_offset;
    s->msg_start = start_offset;
    s->state = ST_TOP;
    s->val_node = -1;
    s->name_id = -1;
    s->simd = qmpf_simd_default();
    s->parents = parent_nodes(schema);
    init_envelope(s);
}

int qmpf_in_message(const qmpf_scanner *s)
{
    return in_message_state(s->state);
}

int64_t qmpf_keep_from(const qmpf_scanner *s)
{
    return qmpf_in_message(s) ? s->msg_start : s->pos;
}

int qmpf_scan(qmpf_scanner *s, const uint8_t *buf, size_t len, int64_t base,
              int64_t *recs, uint32_t *slots, size_t max_recs, size_t *n_recs)
{
    scan_run run;
    scan_run *const r = &run;
    int result;

    if (max_recs == 0) {
        *n_recs = 0;
        return QMPF_FULL;
    }
    run.s = s;
    run.sc = s->schema;
    run.buf = buf;
    run.bend = buf + len;
    run.p = buf + (s->pos - base);
    run.base = base;
    run.cur = slots;
    run.nw = (size_t)s->schema->n_slots * QMPF_SLOT_WORDS;
    run.recs = recs;
    run.n = 0;
    run.max_recs = max_recs;
    run.code = 0;
    run.errp = NULL;
    run.lv = s->simd;
    enter(r, s->state);
    if (in_message_state(run.st))
        memcpy(run.cur, s->partial, run.nw * sizeof(uint32_t));

    for (;;) {
        int next;
        switch (run.st) {
        case ST_TOP:
            next = begin_message(r);
            break;
        case ST_SKIPLINE:
            next = skip_line(r);
            break;
        case ST_OBJ_FIRST:
        case ST_OBJ_KEY:
        case ST_VALUE:
        case ST_ARR_FIRST:
        case ST_AFTER:
            next = read_members(r);
            break;
        case ST_KEY:
            next = key_string(r);
            break;
        case ST_COLON:
            next = read_colon(r);
            break;
        case ST_STRING:
            next = value_string(r);
            break;
        case ST_NUMBER:
            next = value_number(r);
            break;
        default: /* ST_LITERAL */
            next = value_literal(r);
            break;
        }
        if (next >= 0) {
            run.st = next;
            continue;
        }
        if (next == ACT_OUT)
            result = out_of_input(r);
        else if (next == ACT_FAIL)
            result = fail_message(r);
        else
            result = next == ACT_FULL ? QMPF_FULL : QMPF_ERROR;
        break;
    }

    s->state = run.st;
    s->pos = abs_pos(r, run.p);
    if (in_message_state(run.st))
        memcpy(s->partial, run.cur, run.nw * sizeof(uint32_t));
    *n_recs = run.n;
    return result;
}
