"""Numbers shared with the C scanner (csrc/qmpscan.h), kept in one place.

Both backends produce records with exactly this layout, so the layer above
cannot tell them apart; tests/test_build.py checks these against the header.
"""

# one record = REC_FIELDS int64 values
REC_FIELDS = 6
R_START, R_END, R_SECONDS, R_MICROS, R_TAG, R_ERRPOS = range(6)

KIND_MESSAGE = 0
KIND_EVENT = 1
KIND_RETURN = 2
KIND_ERROR = 3
KIND_GREETING = 4
KIND_COMMAND = 5
KIND_BAD = 15
TAG_BIGTS = 16
TAG_BIGNUM = 32
TAG_LONGNAME = 64
TAG_KIND_MASK = 15
TAG_ID_SHIFT = 8
TAG_CODE_SHIFT = 8
TAG_CODE_MASK = 255
TAG_BYTE_SHIFT = 16

E_EXPECTED_OBJECT = 1
E_EXPECTED_KEY = 2
E_EXPECTED_COLON = 3
E_EXPECTED_VALUE = 4
E_EXPECTED_OBJ_NEXT = 5
E_EXPECTED_ARR_NEXT = 6
E_CONTROL_IN_STRING = 7
E_BAD_ESCAPE = 8
E_BAD_UNICODE_ESCAPE = 9
E_LONE_SURROGATE = 10
E_BAD_UTF8 = 11
E_BAD_NUMBER = 12
E_BAD_LITERAL = 13
E_TOO_DEEP = 14
E_TOO_LARGE = 15
E_EVENT_NAME = 16
E_TIMESTAMP = 17
E_ERROR_SHAPE = 18

T_ABSENT = 0
T_STR_ASCII = 1
T_STR_UTF8 = 2
T_STR_ESC = 3
T_INT = 4
T_NUMBER = 5
T_TRUE = 6
T_FALSE = 7
T_NULL = 8
T_OBJECT = 9
T_ARRAY = 10
SLOT_WORDS = 3

ROLE_NONE = 0
ROLE_EVENT = 1
ROLE_TIMESTAMP = 2
ROLE_SECONDS = 3
ROLE_MICROS = 4
ROLE_RETURN = 5
ROLE_ERROR = 6
ROLE_ERROR_CLASS = 7
ROLE_ERROR_DESC = 8
ROLE_QMP = 9
ROLE_EXECUTE = 10
ROLE_EXEC_OOB = 11
ROLES = 12

DONE = 0
FULL = 1
ERROR = 2

CAPTURE_MAX = 128
ENTRY_WORDS = 8
NAMES_PARENT = 0x7FFFFFFF

# What each error code means, for error messages.
ERROR_TEXT = {
    E_EXPECTED_OBJECT: "expected '{' to start a message",
    E_EXPECTED_KEY: "expected a string key",
    E_EXPECTED_COLON: "expected ':' after a key",
    E_EXPECTED_VALUE: "expected a JSON value",
    E_EXPECTED_OBJ_NEXT: "expected ',' or '}' after a member",
    E_EXPECTED_ARR_NEXT: "expected ',' or ']' after an element",
    E_CONTROL_IN_STRING: "control character in a string",
    E_BAD_ESCAPE: "invalid escape in a string",
    E_BAD_UNICODE_ESCAPE: "invalid \\u escape (four hex digits expected)",
    E_LONE_SURROGATE: "unpaired surrogate in a \\u escape",
    E_BAD_UTF8: "invalid UTF-8",
    E_BAD_NUMBER: "invalid number",
    E_BAD_LITERAL: "invalid literal (true, false or null expected)",
    E_TOO_DEEP: "nesting too deep",
    E_TOO_LARGE: "message too large",
    E_EVENT_NAME: "event without a string name",
    E_TIMESTAMP: "event without a timestamp of two integers "
                 "(seconds, microseconds)",
    E_ERROR_SHAPE: "error reply without a string 'class' and 'desc'",
}
PROTOCOL_CODES = frozenset({E_EVENT_NAME, E_TIMESTAMP, E_ERROR_SHAPE})
