/*
 * qmpscan.c: see qmpscan.h.
 *
 * One explicit state machine; every state can be suspended at any byte, so a
 * message split anywhere costs what it costs in one piece.  Containers are
 * tracked on caller-owned stacks (no recursion).  Strings are scanned eight
 * bytes at a time; only quotes, backslashes, control bytes and non-ASCII bytes
 * leave the fast loop.
 */
#include "qmpscan.h"

#include <string.h>

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

enum { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

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
#endif

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define QMPF_SSE2 1
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

#define string_special(c) (special_table[(uint8_t)(c)])

/* The first byte in [p, end) that is not a plain string byte, or end. */
static inline const uint8_t *skip_plain(const uint8_t *p, const uint8_t *end)
{
#if defined(QMPF_SSE2)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i slash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed: bytes >= 0x80 are negative, so "< 0x20" catches them */
        __m128i m = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)),
            _mm_cmplt_epi8(v, space));
        int bits = _mm_movemask_epi8(m);
        if (bits)
            return p + __builtin_ctz((unsigned)bits);
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
    while (p < end && !string_special(*p))
        p++;
    return p;
}

static const char *const literals[3] = {"true", "false", "null"};
static const uint32_t literal_types[3] = {QMPF_T_TRUE, QMPF_T_FALSE,
                                          QMPF_T_NULL};

static const uint8_t is_ws[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1,
                                   ['\r'] = 1};

/* Whether the literal true, false or null (lit 0, 1, 2) starts at p, with
 * its n_lit bytes readable: word compares, not a memcmp call. */
static inline int literal_at(const uint8_t *p, int lit, size_t n_lit)
{
    uint32_t w, want;
    memcpy(&w, p + n_lit - 4, 4); /* "true", "alse", "null" */
    memcpy(&want, literals[lit] + n_lit - 4, 4);
    return w == want && (n_lit == 4 || *p == 'f');
}

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

static inline void put_word(uint32_t *e, uint64_t w)
{
    e[0] = (uint32_t)w;
    e[1] = (uint32_t)(w >> 32);
}

static inline uint64_t get_word(const uint32_t *e)
{
    return (uint64_t)e[0] | ((uint64_t)e[1] << 32);
}

uint32_t qmpf_hash(uint32_t parent, const uint8_t *key, size_t len)
{
    return hash_key(parent, len, prefix_safe(key, len),
                    suffix_word(key, len));
}

int qmpf_table_insert(uint32_t *table, uint32_t mask, const uint8_t *pool,
                      uint32_t parent, uint32_t off, uint32_t len,
                      int32_t value)
{
    uint64_t prefix = prefix_safe(pool + off, len);
    uint64_t suffix = suffix_word(pool + off, len);
    uint32_t h = hash_key(parent, len, prefix, suffix) & mask;
    for (uint32_t tries = 0; tries <= mask; tries++) {
        uint32_t *e = table + (size_t)h * QMPF_ENTRY_WORDS;
        if (e[0] == 0) {
            e[0] = parent + 1;
            e[1] = off;
            e[2] = len;
            e[3] = (uint32_t)value;
            put_word(e + 4, prefix);
            put_word(e + 6, suffix);
            return 0;
        }
        if (e[0] == parent + 1 && e[2] == len &&
            memcmp(pool + e[1], pool + off, len) == 0)
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

/*
 * The envelope fast lane.  QEMU writes every event as
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

#ifdef QMPF_SWAR
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

/* An integer of up to 18 digits at q, ended by a byte that cannot extend
 * it; the byte after it, or NULL (the number state machine then decides:
 * longer integers, fractions, exponents, errors, the end of the buffer). */
static inline const uint8_t *read_int(const uint8_t *q, const uint8_t *end,
                                     int64_t *out)
{
    const uint8_t *digits;
    uint64_t v = 0;
    int neg = q < end && *q == '-';
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
        if (k < 8)
            goto ended;
    }
#endif
    while (q < end && (uint8_t)(*q - '0') < 10 && q - digits <= 18)
        v = v * 10 + (uint64_t)(*q++ - '0');
#ifdef QMPF_SWAR
ended:
#endif
    if (q == digits || q - digits > 18 || (*digits == '0' && q - digits > 1))
        return NULL;
    if (q >= end || *q == '.' || (*q | 0x20) == 'e')
        return NULL;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return q;
}

/*
 * The data of an event the filter drops needs validating only.  skip_value
 * reads a value lying wholly in [p, end) in one tight loop, with no state
 * kept between tokens, when it uses only the common forms: plain ASCII
 * strings, numbers, literals, and objects and arrays nested less than 64
 * deep (and within max_depth, the message being at depth 1).  It returns
 * the byte after the value, or NULL when anything else comes up (an escape,
 * UTF-8, an error, the end of the buffer): the general path then reads the
 * same value from p, and reports what it finds there.
 */
static const uint8_t *skip_value(const uint8_t *p, const uint8_t *end,
                                 uint32_t max_depth)
{
    uint64_t objects = 0; /* bit d: the container at depth d+2 is an object */
    uint32_t depth = 1;   /* the depth of the message's own object */
    uint8_t c;

value:
    while (p < end && is_ws[*p])
        p++;
    if (p == end)
        return NULL;
    c = *p;
    if (c == '"') {
        p = skip_plain(p + 1, end);
        if (p == end || *p != '"')
            return NULL;
        p++;
    } else if (c == '{' || c == '[') {
        if (depth >= max_depth || depth >= 64)
            return NULL;
        objects = c == '{' ? objects | (1ull << (depth - 1))
                           : objects & ~(1ull << (depth - 1));
        depth++;
        p++;
        while (p < end && is_ws[*p])
            p++;
        if (p == end)
            return NULL;
        if (*p == (c == '{' ? '}' : ']')) {
            p++;
            depth--;
            goto after;
        }
        if (c == '{')
            goto key;
        goto value;
    } else if (c == '-' || (uint8_t)(c - '0') < 10) {
        p += c == '-';
        if (p == end || (uint8_t)(*p - '0') >= 10)
            return NULL;
        if (*p == '0')
            p++;
        else
            while (p < end && (uint8_t)(*p - '0') < 10)
                p++;
        if (p < end && *p == '.') {
            p++;
            if (p == end || (uint8_t)(*p - '0') >= 10)
                return NULL;
            while (p < end && (uint8_t)(*p - '0') < 10)
                p++;
        }
        if (p < end && (*p | 0x20) == 'e') {
            p++;
            if (p < end && (*p == '+' || *p == '-'))
                p++;
            if (p == end || (uint8_t)(*p - '0') >= 10)
                return NULL;
            while (p < end && (uint8_t)(*p - '0') < 10)
                p++;
        }
        if (p == end) /* the number may go on in the next chunk */
            return NULL;
    } else if (c == 't' || c == 'f' || c == 'n') {
        int lit = c == 't' ? 0 : c == 'f' ? 1 : 2;
        size_t n_lit = lit == 1 ? 5 : 4;
        if ((size_t)(end - p) < n_lit ||
            !literal_at(p, lit, n_lit))
            return NULL;
        p += n_lit;
    } else {
        return NULL;
    }

after:
    if (depth == 1)
        return p;
    while (p < end && is_ws[*p])
        p++;
    if (p == end)
        return NULL;
    c = *p++;
    if (objects & (1ull << (depth - 2))) {
        if (c == '}') {
            depth--;
            goto after;
        }
        if (c != ',')
            return NULL;
    key:
        while (p < end && is_ws[*p])
            p++;
        if (p == end || *p != '"')
            return NULL;
        p = skip_plain(p + 1, end);
        if (p == end || *p != '"')
            return NULL;
        p++;
        while (p < end && is_ws[*p])
            p++;
        if (p == end || *p != ':')
            return NULL;
        p++;
        goto value;
    }
    if (c == ']') {
        depth--;
        goto after;
    }
    if (c != ',')
        return NULL;
    goto value;
}

void qmpf_init(qmpf_scanner *s, const qmpf_schema *schema, uint8_t *kinds,
               int32_t *nodes, uint32_t *partial, uint32_t max_depth,
               uint64_t max_size, int64_t start_offset)
{
    memset(s, 0, sizeof(*s));
    s->schema = schema;
    s->kinds = kinds;
    s->nodes = nodes;
    s->partial = partial;
    s->max_depth = max_depth;
    s->max_size = max_size;
    s->pos = start_offset;
    s->msg_start = start_offset;
    s->state = ST_TOP;
    s->val_node = -1;
    s->name_id = -1;
    init_envelope(s);
}

int qmpf_in_message(const qmpf_scanner *s)
{
    return s->state >= ST_OBJ_FIRST;
}

int64_t qmpf_keep_from(const qmpf_scanner *s)
{
    return qmpf_in_message(s) ? s->msg_start : s->pos;
}

/* ---- strings ---------------------------------------------------------- */

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

static inline int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
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
    const uint8_t *run;
    const int cap = s->str_mode != 0;
    uint8_t c;

    for (;;) {
        /* continuation bytes of a UTF-8 sequence */
        while (s->u8need) {
            if (p == end) {
                *pp = p;
                return 0;
            }
            c = *p;
            if (c < s->u8lo || c > s->u8hi) {
                *pp = p;
                return -QMPF_E_BAD_UTF8;
            }
            if (cap)
                capture(s, p, 1);
            s->u8lo = 0x80;
            s->u8hi = 0xBF;
            s->u8need--;
            p++;
        }
        /* an escape sequence, possibly a surrogate pair */
        while (s->esc) {
            if (p == end) {
                *pp = p;
                return 0;
            }
            c = *p;
            if (s->esc == 1) {
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
                    p++;
                    continue;
                default:
                    *pp = p;
                    return -QMPF_E_BAD_ESCAPE;
                }
                if (cap)
                    capture(s, &out, 1);
                s->esc = 0;
                p++;
            } else if (s->esc <= 5) {
                int h = hexval(c);
                uint32_t cp;
                if (h < 0) {
                    *pp = p;
                    return -QMPF_E_BAD_UNICODE_ESCAPE;
                }
                s->ucode = (s->ucode << 4) | (uint32_t)h;
                p++;
                if (++s->esc <= 5)
                    continue;
                cp = s->ucode;
                if (s->hisur) {
                    if (cp < 0xDC00 || cp > 0xDFFF) {
                        *pp = p - 1;
                        return -QMPF_E_LONE_SURROGATE;
                    }
                    cp = 0x10000 + ((s->hisur - 0xD800) << 10) +
                         (cp - 0xDC00);
                    s->hisur = 0;
                } else if (cp >= 0xD800 && cp <= 0xDBFF) {
                    s->hisur = cp;
                    s->esc = 6;
                    continue;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    *pp = p - 1;
                    return -QMPF_E_LONE_SURROGATE;
                }
                if (cap)
                    capture_cp(s, cp);
                s->esc = 0;
            } else if (s->esc == 6) {
                if (c != '\\') {
                    *pp = p;
                    return -QMPF_E_LONE_SURROGATE;
                }
                s->esc = 7;
                p++;
            } else {
                if (c != 'u') {
                    *pp = p;
                    return -QMPF_E_LONE_SURROGATE;
                }
                s->esc = 2;
                s->ucode = 0;
                p++;
            }
        }
        /* plain bytes */
        run = p;
        p = skip_plain(p, end);
        if (p == end) {
            if (cap)
                capture(s, run, (size_t)(p - run));
            *pp = p;
            return 0;
        }
        c = *p;
        if (c == '"') {
            if (cap)
                capture(s, run, (size_t)(p - run));
            *pp = p + 1;
            return 1;
        }
        if (c == '\\') {
            if (cap)
                capture(s, run, (size_t)(p - run));
            s->str_type = QMPF_T_STR_ESC;
            s->esc = 1;
            p++;
            continue;
        }
        if (c < 0x20) {
            *pp = p;
            return -QMPF_E_CONTROL_IN_STRING;
        }
        /* a UTF-8 lead byte; the loop top checks what must follow it */
        if (s->str_type == QMPF_T_STR_ASCII)
            s->str_type = QMPF_T_STR_UTF8;
        s->u8lo = 0x80;
        s->u8hi = 0xBF;
        if (c < 0xC2) {
            *pp = p;
            return -QMPF_E_BAD_UTF8;
        } else if (c < 0xE0) {
            s->u8need = 1;
        } else if (c < 0xF0) {
            s->u8need = 2;
            if (c == 0xE0)
                s->u8lo = 0xA0; /* no overlong forms */
            else if (c == 0xED)
                s->u8hi = 0x9F; /* no surrogates */
        } else if (c < 0xF5) {
            s->u8need = 3;
            if (c == 0xF0)
                s->u8lo = 0x90;
            else if (c == 0xF4)
                s->u8hi = 0x8F; /* nothing above U+10FFFF */
        } else {
            *pp = p;
            return -QMPF_E_BAD_UTF8;
        }
        p++;
        if (cap)
            capture(s, run, (size_t)(p - run));
    }
}

/* ---- the scanner ------------------------------------------------------ */

#define ABS(q) (base + (int64_t)((q) - buf))
#define SLOT(nd) (cur + (size_t)sc->nodes[(nd)].slot * QMPF_SLOT_WORDS)

static inline int is_string_type(uint32_t t)
{
    return t >= QMPF_T_STR_ASCII && t <= QMPF_T_STR_ESC;
}

int qmpf_scan(qmpf_scanner *s, const uint8_t *buf, size_t len, int64_t base,
              int64_t *recs, uint32_t *slots, size_t max_recs, size_t *n_recs)
{
    const qmpf_schema *const sc = s->schema;
    const size_t nw = (size_t)sc->n_slots * QMPF_SLOT_WORDS;
    const uint8_t *const bend = buf + len;
    const uint8_t *p = buf + (s->pos - base);
    const uint8_t *end;
    const uint8_t *errp = NULL;
    uint32_t *cur = slots;
    size_t n = 0;
    int code = 0, result;
    uint8_t c;

    if (max_recs == 0) {
        *n_recs = 0;
        return QMPF_FULL;
    }
    if (qmpf_in_message(s))
        memcpy(cur, s->partial, nw * sizeof(uint32_t));

limits:
    end = bend;
    if (qmpf_in_message(s)) {
        int64_t lim = s->msg_start + (int64_t)s->max_size - base;
        if (lim < (int64_t)len)
            end = buf + lim;
    }
    for (;;) {
        switch (s->state) {
        case ST_TOP:
            while (p < end && is_ws[*p])
                p++;
            if (p == end)
                goto out_of_input;
            if (n == max_recs) {
                result = QMPF_FULL;
                goto stop;
            }
            s->msg_start = ABS(p);
            if (*p != '{') {
                code = QMPF_E_EXPECTED_OBJECT;
                errp = p;
                goto fail;
            }
            memset(cur, 0, nw * sizeof(uint32_t));
            s->depth = 1;
            s->kinds[1] = 1;
            s->nodes[1] = 0;
            s->name_id = -1;
            s->bigts = 0;
            s->bignum = 0;
            s->seconds = 0;
            s->micros = 0;
            s->skipped = 0;
            if (s->env_ok && (size_t)(end - p) > ENV_TS_LEN + 48 &&
                same_bytes(p, env_ts, ENV_TS_LEN)) {
                const uint8_t *sec_a = p + ENV_TS_LEN, *sec_b, *us_a, *us_b;
                const uint8_t *name_a, *name_b, *q;
                int64_t sec, us;
                sec_b = read_int(sec_a, end, &sec);
                if (!sec_b || (size_t)(end - sec_b) < ENV_US_LEN + 1 ||
                    !same_bytes(sec_b, env_us, ENV_US_LEN))
                    goto general;
                us_a = sec_b + ENV_US_LEN;
                us_b = read_int(us_a, end, &us);
                if (!us_b || (size_t)(end - us_b) < ENV_EV_LEN + 1 ||
                    !same_bytes(us_b, env_ev, ENV_EV_LEN))
                    goto general;
                name_a = us_b + ENV_EV_LEN;
                name_b = skip_plain(name_a, end);
                if (name_b >= end || *name_b != '"' ||
                    name_b - name_a > QMPF_CAPTURE_MAX)
                    goto general;
                q = name_b + 1;
                if ((uint64_t)(q - p) + ENV_DATA_LEN > s->max_size)
                    goto general;
#define ENV_SLOT(i, a, b, t)                                              \
    do {                                                                   \
        int32_t nd_ = s->env_nodes[i];                                     \
        if (nd_ >= 0 && sc->nodes[nd_].slot >= 0) {                        \
            uint32_t *sl_ = SLOT(nd_);                                     \
            sl_[0] = (uint32_t)((a) - p);                                  \
            sl_[1] = (uint32_t)((b) - p);                                  \
            sl_[2] = (t);                                                  \
        }                                                                  \
    } while (0)
                ENV_SLOT(ENV_TS, p + ENV_TS_VALUE, us_b + 1, QMPF_T_OBJECT);
                ENV_SLOT(ENV_SEC, sec_a, sec_b, QMPF_T_INT);
                ENV_SLOT(ENV_US, us_a, us_b, QMPF_T_INT);
                ENV_SLOT(ENV_EVENT, name_a, name_b, QMPF_T_STR_ASCII);
#undef ENV_SLOT
                s->seconds = sec;
                s->micros = us;
                s->name_id = lookup(sc, QMPF_NAMES_PARENT, name_a,
                                    (uint32_t)(name_b - name_a), end);
                if ((size_t)(end - q) > ENV_DATA_LEN &&
                    same_bytes(q, env_data, ENV_DATA_LEN)) {
                    p = q + ENV_DATA_LEN;
                    s->val_node = s->env_nodes[ENV_DATA];
                    s->state = ST_VALUE;
                    if (sc->keep && !s->noskip &&
                        (s->name_id >= 0 ? !sc->keep[s->name_id]
                                         : !sc->keep_unknown)) {
                        /* an event the filter drops: its data is
                         * validated only, with no key lookups (a later
                         * duplicate "event" key that makes it kept forces
                         * a rescan); within the size limit, as at limits */
                        const uint8_t *mstart = buf + (s->msg_start - base);
                        const uint8_t *lim =
                            (uint64_t)(end - mstart) > s->max_size
                                ? mstart + s->max_size
                                : end;
                        const uint8_t *after =
                            skip_value(p, lim, s->max_depth);
                        s->val_node = -1;
                        s->skipped = 1;
                        if (after) {
                            p = after;
                            s->state = ST_AFTER;
                        }
                    }
                } else {
                    p = q;
                    s->state = ST_AFTER;
                }
                goto limits;
            }
        general:
            s->state = ST_OBJ_FIRST;
            p++;
            goto limits;

        case ST_SKIPLINE: {
            const uint8_t *q = memchr(p, '\n', (size_t)(bend - p));
            if (!q) {
                p = bend;
                goto out_of_input;
            }
            p = q + 1;
            s->state = ST_TOP;
            continue;
        }

        case ST_OBJ_FIRST:
        case ST_OBJ_KEY:
        key:
            while (p < end && is_ws[*p])
                p++;
            if (p == end)
                goto out_of_input;
            c = *p;
            if (c == '"') {
                /* fast path: a plain ASCII key wholly in this buffer,
                 * matched in place, then the usual ": " */
                const uint8_t *k = p + 1, *q = skip_plain(k, end);
                if (q < end && *q == '"') {
                    int32_t parent = s->nodes[s->depth];
                    s->val_node = parent >= 0 && q - k <= QMPF_CAPTURE_MAX
                                      ? lookup(sc, (uint32_t)parent, k,
                                               (uint32_t)(q - k), end)
                                      : -1;
                    p = q + 1;
                    if (p < end && *p == ':') { /* the usual ": " */
                        p += 1 + (p + 1 < end && p[1] == ' ');
                        s->state = ST_VALUE;
                        goto value;
                    }
                    while (p < end && is_ws[*p])
                        p++;
                    if (p < end && *p == ':') {
                        p++;
                        s->state = ST_VALUE;
                        goto value;
                    }
                    s->state = ST_COLON;
                    continue;
                }
                s->str_mode = s->nodes[s->depth] >= 0;
                s->str_type = QMPF_T_STR_ASCII;
                s->esc = 0;
                s->hisur = 0;
                s->u8need = 0;
                s->cap_len = 0;
                s->cap_over = 0;
                s->state = ST_KEY;
                p++;
                continue;
            }
            if (c == '}' && s->state == ST_OBJ_FIRST)
                goto close_container;
            code = QMPF_E_EXPECTED_KEY;
            errp = p;
            goto fail;

        case ST_KEY: {
            int r = scan_string(s, &p, end);
            if (r == 0)
                goto out_of_input;
            if (r < 0) {
                code = -r;
                errp = p;
                goto fail;
            }
            if (s->str_mode && !s->cap_over)
                s->val_node = lookup(sc, (uint32_t)s->nodes[s->depth],
                                     s->cap, s->cap_len,
                                     s->cap + QMPF_CAPTURE_MAX);
            else
                s->val_node = -1;
            s->state = ST_COLON;
            continue;
        }

        case ST_COLON:
            while (p < end && is_ws[*p])
                p++;
            if (p == end)
                goto out_of_input;
            if (*p != ':') {
                code = QMPF_E_EXPECTED_COLON;
                errp = p;
                goto fail;
            }
            p++;
            s->state = ST_VALUE;
            continue;

        case ST_ARR_FIRST:
        case ST_VALUE: {
            int32_t nd;
        value:
            while (p < end && is_ws[*p])
                p++;
            if (p == end)
                goto out_of_input;
            c = *p;
            if (s->state == ST_ARR_FIRST) {
                if (c == ']')
                    goto close_container;
                s->val_node = -1;
            }
            nd = s->val_node;
            if (nd >= 0) {
                const qmpf_node *node = &sc->nodes[nd];
                if (node->slot >= 0) {
                    uint32_t *sl = SLOT(nd);
                    uint32_t before = sl[2];
                    sl[0] = (uint32_t)(ABS(p) - s->msg_start +
                                       (c == '"'));
                    sl[2] = QMPF_T_ABSENT;
                    /* a duplicate key replaces the whole subtree, as
                     * json.loads keeps only the last value (a first
                     * value has a clear subtree: only a value read to
                     * its end has a type, and can have set slots below) */
                    if (before != QMPF_T_ABSENT &&
                        node->slot_end > node->slot + 1)
                        memset(sl + QMPF_SLOT_WORDS, 0,
                               (size_t)(node->slot_end - node->slot - 1) *
                                   QMPF_SLOT_WORDS * sizeof(uint32_t));
                }
                if (node->role == QMPF_ROLE_SECONDS)
                    s->bigts &= ~1;
                else if (node->role == QMPF_ROLE_MICROS)
                    s->bigts &= ~2;
            }
            switch (c) {
            case '{':
            case '[':
                if (s->depth >= s->max_depth) {
                    code = QMPF_E_TOO_DEEP;
                    errp = p;
                    goto fail;
                }
                s->depth++;
                s->kinds[s->depth] = c == '{';
                s->nodes[s->depth] = nd;
                s->state = c == '{' ? ST_OBJ_FIRST : ST_ARR_FIRST;
                p++;
                continue;
            case '"': {
                /* fast path: a plain ASCII string wholly in this buffer */
                const uint8_t *q = skip_plain(p + 1, end);
                if (q < end && *q == '"') {
                    if (nd >= 0) {
                        const qmpf_node *node = &sc->nodes[nd];
                        if (node->slot >= 0) {
                            uint32_t *sl = SLOT(nd);
                            sl[1] = (uint32_t)(ABS(q) - s->msg_start);
                            sl[2] = QMPF_T_STR_ASCII;
                        }
                        if (node->role == QMPF_ROLE_EVENT)
                            s->name_id =
                                q - p - 1 <= QMPF_CAPTURE_MAX
                                    ? lookup(sc, QMPF_NAMES_PARENT, p + 1,
                                             (uint32_t)(q - p - 1), end)
                                    : -2;
                    }
                    p = q + 1;
                    s->state = ST_AFTER;
                    goto after;
                }
            }
                s->str_mode =
                    (nd >= 0 && sc->nodes[nd].role == QMPF_ROLE_EVENT) ? 2
                                                                        : 0;
                s->str_type = QMPF_T_STR_ASCII;
                s->esc = 0;
                s->hisur = 0;
                s->u8need = 0;
                s->cap_len = 0;
                s->cap_over = 0;
                s->state = ST_STRING;
                p++;
                continue;
            case '-':
            case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9': {
                /* fast path: an integer wholly in this buffer */
                int64_t v;
                const uint8_t *q = read_int(p, end, &v);
                if (q) {
                    if (nd >= 0) {
                        const qmpf_node *node = &sc->nodes[nd];
                        if (node->slot >= 0) {
                            uint32_t *sl = SLOT(nd);
                            sl[1] = (uint32_t)(ABS(q) - s->msg_start);
                            sl[2] = QMPF_T_INT;
                        }
                        if (node->role == QMPF_ROLE_SECONDS)
                            s->seconds = v;
                        else if (node->role == QMPF_ROLE_MICROS)
                            s->micros = v;
                    }
                    p = q;
                    s->state = ST_AFTER;
                    goto after;
                }
            }
                s->num_state = N_START;
                s->num_digits = 0;
                s->num_neg = 0;
                s->num_isint = 1;
                s->num_val = 0;
                s->state = ST_NUMBER;
                continue;
            case 't':
            case 'f':
            case 'n': {
                /* fast path: the whole literal in this buffer */
                int lit = c == 't' ? 0 : c == 'f' ? 1 : 2;
                size_t n_lit = lit == 1 ? 5 : 4;
                if ((size_t)(end - p) >= n_lit &&
                    literal_at(p, lit, n_lit)) {
                    p += n_lit;
                    if (nd >= 0 && sc->nodes[nd].slot >= 0) {
                        uint32_t *sl = SLOT(nd);
                        sl[1] = (uint32_t)(ABS(p) - s->msg_start);
                        sl[2] = literal_types[lit];
                    }
                    s->state = ST_AFTER;
                    goto after;
                }
                s->lit = lit;
                s->lit_idx = 0;
                s->state = ST_LITERAL;
                continue;
            }
            default:
                code = QMPF_E_EXPECTED_VALUE;
                errp = p;
                goto fail;
            }
        }

        case ST_STRING: {
            int r = scan_string(s, &p, end);
            int32_t nd = s->val_node;
            if (r == 0)
                goto out_of_input;
            if (r < 0) {
                code = -r;
                errp = p;
                goto fail;
            }
            if (nd >= 0 && sc->nodes[nd].slot >= 0) {
                uint32_t *sl = SLOT(nd);
                sl[1] = (uint32_t)(ABS(p) - 1 - s->msg_start);
                sl[2] = s->str_type;
            }
            if (s->str_mode == 2)
                s->name_id = s->cap_over ? -2
                                         : lookup(sc, QMPF_NAMES_PARENT,
                                                  s->cap, s->cap_len,
                                                  s->cap + QMPF_CAPTURE_MAX);
            s->state = ST_AFTER;
            continue;
        }

        case ST_NUMBER:
            for (;;) {
                if (p == end)
                    goto out_of_input;
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
                    goto bad_number;
                case N_INT: {
                    uint64_t v = s->num_val;
                    int32_t d = s->num_digits;
                    while (p < end && (uint8_t)(*p - '0') < 10) {
                        if (d < 19)
                            v = v * 10 + (uint64_t)(*p - '0');
                        d++;
                        p++;
                    }
                    s->num_val = v;
                    s->num_digits = d;
                    if (p == end)
                        goto out_of_input;
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
                    goto number_done;
                case N_DOT:
                    if ((uint8_t)(c - '0') < 10) {
                        s->num_state = N_FRAC;
                        p++;
                        continue;
                    }
                    goto bad_number;
                case N_FRAC:
                    while (p < end && (uint8_t)(*p - '0') < 10)
                        p++;
                    if (p == end)
                        goto out_of_input;
                    c = *p;
                    if (c == 'e' || c == 'E') {
                        s->num_state = N_E;
                        p++;
                        continue;
                    }
                    goto number_done;
                case N_E:
                    if (c == '+' || c == '-') {
                        s->num_state = N_ESIGN;
                        p++;
                        continue;
                    }
                    /* fall through */
                case N_ESIGN:
                    if ((uint8_t)(c - '0') < 10) {
                        s->num_state = N_EXP;
                        p++;
                        continue;
                    }
                    goto bad_number;
                case N_EXP:
                    while (p < end && (uint8_t)(*p - '0') < 10)
                        p++;
                    if (p == end)
                        goto out_of_input;
                    goto number_done;
                }
            }
        bad_number:
            code = QMPF_E_BAD_NUMBER;
            errp = p;
            goto fail;
        number_done: {
            int32_t nd = s->val_node;
            if (s->num_isint && s->num_digits > 18)
                s->bignum = 1;
            if (nd >= 0) {
                const qmpf_node *node = &sc->nodes[nd];
                if (node->slot >= 0) {
                    uint32_t *sl = SLOT(nd);
                    sl[1] = (uint32_t)(ABS(p) - s->msg_start);
                    sl[2] = s->num_isint ? QMPF_T_INT : QMPF_T_NUMBER;
                }
                if (s->num_isint && (node->role == QMPF_ROLE_SECONDS ||
                                     node->role == QMPF_ROLE_MICROS)) {
                    int bit = node->role == QMPF_ROLE_SECONDS ? 1 : 2;
                    /* up to 18 digits always fit; longer ones are
                     * flagged and decoded from their bytes */
                    int64_t v = 0;
                    if (s->num_digits > 18)
                        s->bigts |= bit;
                    else
                        v = s->num_neg ? -(int64_t)s->num_val
                                       : (int64_t)s->num_val;
                    if (bit == 1)
                        s->seconds = v;
                    else
                        s->micros = v;
                }
            }
            s->state = ST_AFTER;
            goto after;
        }

        case ST_LITERAL: {
            const char *lit = literals[s->lit];
            while (lit[s->lit_idx]) {
                if (p == end)
                    goto out_of_input;
                if (*p != (uint8_t)lit[s->lit_idx]) {
                    code = QMPF_E_BAD_LITERAL;
                    errp = p;
                    goto fail;
                }
                p++;
                s->lit_idx++;
            }
            if (s->val_node >= 0 && sc->nodes[s->val_node].slot >= 0) {
                uint32_t *sl = SLOT(s->val_node);
                sl[1] = (uint32_t)(ABS(p) - s->msg_start);
                sl[2] = literal_types[s->lit];
            }
            s->state = ST_AFTER;
            continue;
        }

        case ST_AFTER:
        after:
            while (p < end && is_ws[*p])
                p++;
            if (p == end)
                goto out_of_input;
            c = *p;
            if (c == ',') {
                p++;
                if (s->kinds[s->depth]) {
                    p += p < end && *p == ' '; /* the usual ", " */
                    s->state = ST_OBJ_KEY;
                    goto key;
                }
                s->val_node = -1;
                s->state = ST_VALUE;
                goto value;
            }
            if ((c == '}' && s->kinds[s->depth]) ||
                (c == ']' && !s->kinds[s->depth]))
                goto close_container;
            code = s->kinds[s->depth] ? QMPF_E_EXPECTED_OBJ_NEXT
                                      : QMPF_E_EXPECTED_ARR_NEXT;
            errp = p;
            goto fail;
        }

    close_container: {
        int32_t nd = s->nodes[s->depth];
        p++;
        if (nd >= 0 && sc->nodes[nd].slot >= 0) {
            uint32_t *sl = SLOT(nd);
            sl[1] = (uint32_t)(ABS(p) - s->msg_start);
            sl[2] = s->kinds[s->depth] ? QMPF_T_OBJECT : QMPF_T_ARRAY;
        }
        if (--s->depth > 0) {
            s->state = ST_AFTER;
            goto after;
        }
    }
        /* a whole message: classify, check its QMP shape, emit */
        {
            const int32_t *rs = sc->role_slot;
            int64_t *r = recs + n * QMPF_REC_FIELDS;
            int64_t tag;
#define TY(role) (rs[role] >= 0 ? cur[(size_t)rs[role] * 3 + 2] : 0u)
#define AT(role) (rs[role] >= 0 ? cur[(size_t)rs[role] * 3] : 0u)
            s->state = ST_TOP;
            r[QMPF_R_START] = s->msg_start;
            r[QMPF_R_END] = ABS(p);
            r[QMPF_R_SECONDS] = 0;
            r[QMPF_R_MICROS] = 0;
            r[QMPF_R_ERRPOS] = 0;
            code = 0;
            if (TY(QMPF_ROLE_EVENT)) {
                int32_t nid = s->name_id;
                int longname = nid == -2;
                if (!is_string_type(TY(QMPF_ROLE_EVENT))) {
                    code = QMPF_E_EVENT_NAME;
                    r[QMPF_R_ERRPOS] = s->msg_start + AT(QMPF_ROLE_EVENT);
                } else if (sc->keep && !longname &&
                           (nid >= 0 ? !sc->keep[nid] : !sc->keep_unknown)) {
                    s->skipped = s->noskip = 0;
                    goto limits; /* filtered out: no record */
                } else if (s->skipped) {
                    /* kept after all (a duplicate "event" key): read the
                     * message again, matching every key; it starts in
                     * this buffer, as the caller keeps bytes from
                     * keep_from */
                    s->skipped = 0;
                    s->noskip = 1;
                    p = buf + (s->msg_start - base);
                    goto limits;
                } else if (TY(QMPF_ROLE_TIMESTAMP) != QMPF_T_OBJECT ||
                           TY(QMPF_ROLE_SECONDS) != QMPF_T_INT ||
                           TY(QMPF_ROLE_MICROS) != QMPF_T_INT) {
                    code = QMPF_E_TIMESTAMP;
                    r[QMPF_R_ERRPOS] =
                        s->msg_start + (TY(QMPF_ROLE_TIMESTAMP)
                                            ? AT(QMPF_ROLE_TIMESTAMP) -
                                                  is_string_type(TY(
                                                      QMPF_ROLE_TIMESTAMP))
                                            : 0);
                } else {
                    tag = QMPF_KIND_EVENT | (s->bigts ? QMPF_TAG_BIGTS : 0) |
                          (longname ? QMPF_TAG_LONGNAME : 0) |
                          ((int64_t)(longname ? 0 : nid + 1) << QMPF_TAG_ID_SHIFT);
                    r[QMPF_R_SECONDS] = s->seconds;
                    r[QMPF_R_MICROS] = s->micros;
                }
            } else if (TY(QMPF_ROLE_RETURN)) {
                tag = QMPF_KIND_RETURN;
            } else if (TY(QMPF_ROLE_ERROR)) {
                if (TY(QMPF_ROLE_ERROR) != QMPF_T_OBJECT ||
                    !is_string_type(TY(QMPF_ROLE_ERROR_CLASS)) ||
                    !is_string_type(TY(QMPF_ROLE_ERROR_DESC))) {
                    code = QMPF_E_ERROR_SHAPE;
                    r[QMPF_R_ERRPOS] =
                        s->msg_start + AT(QMPF_ROLE_ERROR) -
                        is_string_type(TY(QMPF_ROLE_ERROR));
                }
                tag = QMPF_KIND_ERROR;
            } else if (TY(QMPF_ROLE_QMP)) {
                tag = QMPF_KIND_GREETING;
            } else if (TY(QMPF_ROLE_EXECUTE) || TY(QMPF_ROLE_EXEC_OOB)) {
                tag = QMPF_KIND_COMMAND;
            } else {
                tag = QMPF_KIND_MESSAGE;
            }
#undef TY
#undef AT
            s->noskip = 0;
            if (code) {
                r[QMPF_R_TAG] = QMPF_KIND_BAD | ((int64_t)code << QMPF_TAG_CODE_SHIFT);
                n++;
                result = QMPF_ERROR;
                goto stop;
            }
            r[QMPF_R_TAG] = tag | (s->bignum ? QMPF_TAG_BIGNUM : 0);
            n++;
            cur += nw;
            goto limits;
        }
    }

out_of_input:
    if (end != bend && qmpf_in_message(s)) {
        int64_t *r = recs + n * QMPF_REC_FIELDS;
        r[QMPF_R_START] = s->msg_start;
        r[QMPF_R_END] = ABS(p);
        r[QMPF_R_SECONDS] = 0;
        r[QMPF_R_MICROS] = 0;
        r[QMPF_R_TAG] =
            QMPF_KIND_BAD | (QMPF_E_TOO_LARGE << QMPF_TAG_CODE_SHIFT);
        r[QMPF_R_ERRPOS] = ABS(p);
        n++;
        s->state = ST_SKIPLINE;
        result = QMPF_ERROR;
        goto stop;
    }
    result = QMPF_DONE;
stop:
    s->pos = ABS(p);
    if (qmpf_in_message(s))
        memcpy(s->partial, cur, nw * sizeof(uint32_t));
    *n_recs = n;
    return result;

fail: {
    int64_t *r = recs + n * QMPF_REC_FIELDS;
    const uint8_t *from = buf + (s->msg_start - base);
    const uint8_t *q = memchr(from, '\n', (size_t)(bend - from));
    r[QMPF_R_START] = s->msg_start;
    r[QMPF_R_END] = ABS(errp) + 1;
    r[QMPF_R_SECONDS] = 0;
    r[QMPF_R_MICROS] = 0;
    r[QMPF_R_TAG] = QMPF_KIND_BAD | ((int64_t)code << QMPF_TAG_CODE_SHIFT) |
                    ((int64_t)(*errp + 1) << QMPF_TAG_BYTE_SHIFT);
    r[QMPF_R_ERRPOS] = ABS(errp);
    n++;
    s->noskip = 0;
    /* resume after the first line break after where the bad message began */
    if (q) {
        p = q + 1;
        s->state = ST_TOP;
    } else {
        p = bend;
        s->state = ST_SKIPLINE;
    }
    result = QMPF_ERROR;
    goto stop;
}
}
