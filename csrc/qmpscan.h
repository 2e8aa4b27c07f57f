/*
 * qmpscan: a resumable, validating scanner for streams of QMP messages.
 *
 * The scanner frames top-level JSON objects by structure (not by lines),
 * validates them against RFC 8259 (strict UTF-8, no lone surrogates), and in
 * the same pass extracts what a QMP reader needs: the message kind, the event
 * name (as an id into a caller-given table), the timestamp as integers, and
 * the byte spans of a caller-given set of member paths.  It never allocates and
 * touches no global state: the caller owns the scanner, its stacks, the schema
 * tables and the output arrays.  Plain C99; no Python.h.
 */
#ifndef QMPSCAN_H
#define QMPSCAN_H

#include <stddef.h>
#include <stdint.h>

/* Fields of one output record (int64_t[QMPF_REC_FIELDS]). */
#define QMPF_REC_FIELDS 6
#define QMPF_R_START 0   /* absolute stream offset of the message's '{' */
#define QMPF_R_END 1     /* absolute offset one past its '}' */
#define QMPF_R_SECONDS 2 /* timestamp.seconds when it fits in int64 */
#define QMPF_R_MICROS 3  /* timestamp.microseconds when it fits in int64 */
#define QMPF_R_TAG 4     /* kind | flags | id, see below */
#define QMPF_R_ERRPOS 5  /* bad records: offset of the offending byte */

/* tag = kind | flags | (name_id + 1) << QMPF_TAG_ID_SHIFT   good records
 * tag = QMPF_KIND_BAD | code << QMPF_TAG_CODE_SHIFT
 *       | (byte + 1) << QMPF_TAG_BYTE_SHIFT                  bad records
 * (name_id + 1 and byte + 1: 0 means "none") */
#define QMPF_TAG_KIND_MASK 15
#define QMPF_TAG_ID_SHIFT 8
#define QMPF_TAG_CODE_SHIFT 8
#define QMPF_TAG_CODE_MASK 255
#define QMPF_TAG_BYTE_SHIFT 16
#define QMPF_KIND_MESSAGE 0
#define QMPF_KIND_EVENT 1
#define QMPF_KIND_RETURN 2
#define QMPF_KIND_ERROR 3
#define QMPF_KIND_GREETING 4
#define QMPF_KIND_COMMAND 5
#define QMPF_KIND_BAD 15
#define QMPF_TAG_BIGTS 16  /* a timestamp integer did not fit in int64 */
#define QMPF_TAG_BIGNUM 32 /* some integer has more than 18 digits */
#define QMPF_TAG_LONGNAME 64 /* event name longer than QMPF_CAPTURE_MAX:
                                no id, and not filtered here */

/* Error codes of bad records.  The comment above each is the text of its
 * error message: Python reads it from here (tools/gen_header.py). */
/* expected '{' to start a message */
#define QMPF_E_EXPECTED_OBJECT 1
/* expected a string key */
#define QMPF_E_EXPECTED_KEY 2
/* expected ':' after a key */
#define QMPF_E_EXPECTED_COLON 3
/* expected a JSON value */
#define QMPF_E_EXPECTED_VALUE 4
/* expected ',' or '}' after a member */
#define QMPF_E_EXPECTED_OBJ_NEXT 5
/* expected ',' or ']' after an element */
#define QMPF_E_EXPECTED_ARR_NEXT 6
/* control character in a string */
#define QMPF_E_CONTROL_IN_STRING 7
/* invalid escape in a string */
#define QMPF_E_BAD_ESCAPE 8
/* invalid \u escape (four hex digits expected) */
#define QMPF_E_BAD_UNICODE_ESCAPE 9
/* unpaired surrogate in a \u escape */
#define QMPF_E_LONE_SURROGATE 10
/* invalid UTF-8 */
#define QMPF_E_BAD_UTF8 11
/* invalid number */
#define QMPF_E_BAD_NUMBER 12
/* invalid literal (true, false or null expected) */
#define QMPF_E_BAD_LITERAL 13
/* nesting too deep */
#define QMPF_E_TOO_DEEP 14
/* message too large */
#define QMPF_E_TOO_LARGE 15
/* event without a string name */
#define QMPF_E_EVENT_NAME 16
/* event without a timestamp of two integers (seconds, microseconds) */
#define QMPF_E_TIMESTAMP 17
/* error reply without a string 'class' and 'desc' */
#define QMPF_E_ERROR_SHAPE 18

/* Types of extracted values (third word of a slot). */
#define QMPF_T_ABSENT 0
#define QMPF_T_STR_ASCII 1 /* string, no escapes, ASCII only */
#define QMPF_T_STR_UTF8 2  /* string, no escapes, some UTF-8 */
#define QMPF_T_STR_ESC 3   /* string with escapes */
#define QMPF_T_INT 4
#define QMPF_T_NUMBER 5 /* with fraction or exponent */
#define QMPF_T_TRUE 6
#define QMPF_T_FALSE 7
#define QMPF_T_NULL 8
#define QMPF_T_OBJECT 9
#define QMPF_T_ARRAY 10
/* A slot is uint32_t[3]: start, end (relative to the message start; for
 * strings the span of the contents, without quotes) and type. */
#define QMPF_SLOT_WORDS 3

/* Roles of schema nodes the scanner itself must understand. */
#define QMPF_ROLE_NONE 0
#define QMPF_ROLE_EVENT 1
#define QMPF_ROLE_TIMESTAMP 2
#define QMPF_ROLE_SECONDS 3
#define QMPF_ROLE_MICROS 4
#define QMPF_ROLE_RETURN 5
#define QMPF_ROLE_ERROR 6
#define QMPF_ROLE_ERROR_CLASS 7
#define QMPF_ROLE_ERROR_DESC 8
#define QMPF_ROLE_QMP 9
#define QMPF_ROLE_EXECUTE 10
#define QMPF_ROLE_EXEC_OOB 11
#define QMPF_ROLES 12

/* Scan results. */
#define QMPF_DONE 0  /* all input consumed */
#define QMPF_FULL 1  /* output arrays full; call again with more room */
#define QMPF_ERROR 2 /* the last record written is a bad one */

#define QMPF_CAPTURE_MAX 128 /* longest key or event name matched by bytes */

/* Code paths of the scanner (qmpf_scanner.simd).  Every path writes the
 * same records; SCALAR reads one byte at a time and is the reference.  The
 * others find string ends, white space and UTF-8 runs in blocks of 16
 * (SSE2, NEON) or 32 (AVX2) bytes, and skip untracked containers in one
 * tight loop. */
#define QMPF_SIMD_SCALAR 0
#define QMPF_SIMD_SSE2 1
#define QMPF_SIMD_AVX2 2
#define QMPF_SIMD_NEON 3

/* One node of the member-path tree (node 0 is the message object). */
typedef struct {
    int32_t slot;     /* slot of this node's value, or -1 */
    int32_t slot_end; /* one past the last slot of its subtree */
    int32_t role;     /* QMPF_ROLE_* */
} qmpf_node;

/*
 * Read-only tables shared by every scanner of one configuration.  Keys of
 * nodes and event names live in one hash table of uint32_t[8] entries:
 * (parent + 1, offset into pool, length, value, first 8 key bytes as two
 * words, last 8 bytes of a key longer than 8 as two words); event names use
 * the parent QMPF_NAMES_PARENT and have their name
 * id as value.  Fill it with qmpf_table_insert only.
 */
#define QMPF_ENTRY_WORDS 8
#define QMPF_NAMES_PARENT 0x7fffffffu
typedef struct {
    const qmpf_node *nodes;
    uint32_t n_nodes;
    uint32_t n_slots;
    const uint8_t *pool;
    const uint32_t *table;
    uint32_t table_mask;    /* table has table_mask + 1 entries */
    const uint8_t *keep;    /* per name id: deliver?  NULL: deliver all */
    int32_t keep_unknown;   /* deliver events whose name has no id */
    int32_t role_slot[QMPF_ROLES];
} qmpf_schema;

typedef struct {
    const qmpf_schema *schema;
    uint8_t *kinds;     /* per depth: 1 object, 0 array; max_depth + 1 bytes */
    int32_t *nodes;     /* per depth: node of the container or -1 */
    int64_t *starts;    /* per depth: absolute offset of its '{' or '[' */
    int64_t *doomed;    /* resync: see doom_n; max_depth + 1 entries */
    uint32_t *partial;  /* n_slots slots of the message in progress */
    uint32_t max_depth;
    uint64_t max_size;

    int64_t pos;        /* absolute offset of the next byte to scan */
    int64_t msg_start;  /* start of the message in progress */
    uint32_t depth;
    int32_t state;
    int32_t val_node;   /* node of the value being read, or -1 */
    int64_t tok_start;  /* absolute start of the value being read */

    /* strings */
    int32_t str_mode;   /* 0 plain, 1 key, 2 event name */
    uint32_t str_type;
    int32_t esc;
    uint32_t ucode;
    uint32_t hisur;
    int32_t u8need;
    uint8_t u8lo, u8hi;
    uint32_t cap_len;
    int32_t cap_over;
    uint8_t cap[QMPF_CAPTURE_MAX];
    int32_t name_id;    /* of the message in progress */

    /* numbers and literals */
    int32_t num_state;
    int32_t num_digits;
    int32_t num_neg;
    int32_t num_isint;
    uint64_t num_val;
    int32_t lit;
    int32_t lit_idx;

    int64_t seconds, micros;
    int32_t bigts;
    int32_t bignum;

    /* nodes of timestamp, seconds, microseconds, event and data, for the
     * envelope fast lane; env_ok is 0 when the schema lacks them */
    int32_t env_nodes[5];
    int32_t env_ok;
    /* data of a message the filter drops was read without matching its
     * keys (skipped); a message rescanned with that off (noskip) */
    int32_t skipped;
    int32_t noskip;
    /* containers with nothing tracked inside are read by a fast validator;
     * where one failed (the general path then reads it), those starting
     * before skip_after are not tried again; parents: bit n for each node
     * n < 64 with members in the schema */
    int64_t skip_after;
    uint64_t parents;

    /* resync after a syntax error found at doom_end: doomed[doom_next ..
     * doom_n) are the starts (ascending) of the containers still open
     * there.  A message that would begin at one of them reads the same
     * bytes to doom_end and fails there again, so its line is skipped. */
    uint32_t doom_n, doom_next;
    int64_t doom_end;

    /* the code path, QMPF_SIMD_*: qmpf_init sets qmpf_simd_default(); the
     * caller may then choose another that qmpf_simd_supported() allows */
    int32_t simd;
} qmpf_scanner;

/* Insert (parent, pool[off:off+len]) -> value.  Returns 0, or -1 when the
 * table is full or the key is already present. */
int qmpf_table_insert(uint32_t *table, uint32_t mask, const uint8_t *pool,
                      uint32_t parent, uint32_t off, uint32_t len,
                      int32_t value);

/* The best code path this CPU runs, or QMPF_SIMD_SCALAR when the
 * environment variable QMPFAST_SCALAR is set to anything but "" or "0";
 * qmpf_init reads both, once per scanner. */
int qmpf_simd_default(void);

/* 1 when this CPU runs code path simd (QMPF_SIMD_*), else 0. */
int qmpf_simd_supported(int simd);

/* Prepare a scanner.  kinds: max_depth + 1 bytes, nodes: max_depth + 1
 * int32, starts and doomed: max_depth + 1 int64 each, partial:
 * schema->n_slots * 3 uint32, all owned by the caller. */
void qmpf_init(qmpf_scanner *s, const qmpf_schema *schema, uint8_t *kinds,
               int32_t *nodes, int64_t *starts, int64_t *doomed,
               uint32_t *partial, uint32_t max_depth, uint64_t max_size,
               int64_t start_offset);

/*
 * Scan buf[0:len], whose first byte is at absolute offset base, from s->pos
 * (base <= s->pos <= base + len, and base <= qmpf_keep_from(s)).  Writes at
 * most max_recs records (int64_t[6] each) and their slots (n_slots * 3
 * uint32 each), sets *n_recs, and returns QMPF_DONE, QMPF_FULL or QMPF_ERROR.
 */
int qmpf_scan(qmpf_scanner *s, const uint8_t *buf, size_t len, int64_t base,
              int64_t *recs, uint32_t *slots, size_t max_recs,
              size_t *n_recs);

/* Absolute offset of the first byte the caller must keep for the next call:
 * the start of a message in progress, else s->pos. */
int64_t qmpf_keep_from(const qmpf_scanner *s);

/* 1 when a message is in progress (the stream may not end here). */
int qmpf_in_message(const qmpf_scanner *s);

/* ---- Value interning -------------------------------------------------
 *
 * Real QMP streams repeat their member values endlessly (the same device
 * through an I/O-error storm, the same VNC server in every session).  An
 * interner maps the bytes and type of each scalar value extracted at a slot
 * to a small id, so that the caller decodes each distinct value once and
 * reads a column of values as a column of ids.  Separate from the scan:
 * qmpf_intern_column reads records and slots qmpf_scan wrote.  The caller
 * owns the interner and its arrays; it is bounded by them (a full interner
 * gives QMPF_ID_OTHER for new values and sets full, and the caller resets
 * it at its next call).
 */
/* no value at the slot, or a record not asked for */
#define QMPF_ID_ABSENT 0
/* a value not interned (an object, an array, too long, or the interner is
 * full): decode it from its span */
#define QMPF_ID_OTHER 1
/* the id of the first interned value; ids are given in order */
#define QMPF_ID_FIRST 2
/* values of more bytes than this are not interned */
#define QMPF_INTERN_MAX_LEN 128
/* an entry is uint32_t[4]: hash, id (0: empty), pool offset, length |
 * type << 16 */
#define QMPF_INTERN_ENTRY_WORDS 4
/* new values are reported as int64_t[3]: start and end in buf, type */
#define QMPF_FRESH_WORDS 3

typedef struct {
    uint32_t *table;   /* (mask + 1) entries, zeroed when empty */
    uint32_t mask;
    uint32_t max_ids;  /* ids below QMPF_ID_FIRST + max_ids; at most half
                          the entries */
    uint8_t *pool;     /* the bytes of the interned values */
    uint32_t pool_size;
    uint32_t pool_used;
    uint32_t next_id;
    int32_t full;      /* a value found no room since the last reset */
} qmpf_interner;

/* Forget every value: ids start again at QMPF_ID_FIRST. */
void qmpf_intern_reset(qmpf_interner *it);

/*
 * The ids of the values at slots which[0 .. n_which) of records [0, n) (recs
 * as qmpf_scan wrote them for buf, whose first byte is at stream offset
 * base; slots n_words uint32 per record), n_which ids per record read, in
 * record order.  want: NULL for every record, else a byte per event name id
 * (n_want of them): only event records whose name id has a nonzero byte are
 * read.  dense: write ids for every record (ABSENT for those not read)
 * rather than only for the records read.  For each value met for the first
 * time, appends its span and type to fresh (at most one per id, so room for
 * n * n_which) and counts it in *n_fresh; its id is
 * next_id before the call plus its position there.  Counts the
 * QMPF_ID_OTHER ids in *n_other.  Returns the number of ids written.
 */
size_t qmpf_intern_column(qmpf_interner *it, const uint8_t *buf, size_t len,
                          int64_t base, const int64_t *recs,
                          const uint32_t *slots, size_t n, uint32_t n_words,
                          const uint32_t *which, uint32_t n_which,
                          const uint8_t *want, uint32_t n_want,
                          int dense, int32_t *ids, int64_t *fresh,
                          size_t *n_fresh, size_t *n_other);

#endif
