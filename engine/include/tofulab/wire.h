/*
 * tofulab wire codec: the tofu frame, byte for byte (PROTOCOL.md sections 1-5).
 *
 * Everything here is pure: no I/O, no clock, no randomness. Only the frame
 * reader allocates, and only in proportion to bytes it has actually been given.
 */
#ifndef TOFULAB_WIRE_H
#define TOFULAB_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors (API results; the status table of section 3 is separate) ---- */

typedef enum {
    TL_OK = 0,
    TL_E_NOMEM = -1,       /* an allocation failed */
    TL_E_INVAL = -2,       /* an argument is out of its domain */
    TL_E_NOSPACE = -3,     /* the output buffer is too small */
    TL_E_BAD_NAME = -4,    /* text header name empty after trim, or has CR/LF (A17) */
    TL_E_BAD_VALUE = -5,   /* text header value empty, or has CR/LF (A17) */
    TL_E_TOO_LONG = -6,    /* text headers or body would exceed 65535 bytes */
    TL_E_BAD_OPCODE = -7,  /* op code 10-15 */
    TL_E_LIMIT = -8,       /* a configured limit was exceeded */
    TL_E_BAD_ADDRESS = -9, /* address header missing or malformed (A12) */
    TL_E_STATE = -10,      /* the call is not valid in the object's state */
    TL_E_NOT_FOUND = -11,  /* no such object (channel, group, ...) */
    TL_E_CLOSED = -12,     /* the object is shut down */
    TL_E_AGAIN = -13,      /* nothing available now (non-blocking) */
    TL_E_IO = -14,         /* an operating-system I/O error (hosts only) */
    TL_E_TIMEOUT = -15,    /* a wait ran out of time (hosts only) */
    TL_E_REJECTED = -16    /* post refused: the message's status byte says why */
} tl_err;

/* Short, stable description of a tl_err value ("unknown error" otherwise). */
const char *tl_strerror(int err);

/* ---- binary header (section 1.2) ---- */

#define TL_HEADER_SIZE   16u
#define TL_MAX_TEXT_LEN  65535u
#define TL_MAX_BODY_LEN  65535u
#define TL_MAX_FRAME_LEN (TL_HEADER_SIZE + TL_MAX_TEXT_LEN + TL_MAX_BODY_LEN)

/* Channel numbers (section 5): 0 = allocate, 65535 = internal, never valid. */
#define TL_CHANNEL_NONE     0u
#define TL_CHANNEL_INTERNAL 65535u

typedef struct {
    uint16_t channel;
    uint8_t proto;
    uint8_t status;
    uint64_t message_id;
    uint16_t thl;
    uint16_t bl;
} tl_header;

/* Encode at fixed offsets, every multi-byte field big-endian, whatever the
 * host's byte order (A1): channel@0 proto@2 status@3 message_id@4 thl@12 bl@14. */
void tl_header_encode(const tl_header *h, uint8_t out[TL_HEADER_SIZE]);
void tl_header_decode(const uint8_t in[TL_HEADER_SIZE], tl_header *h);

/* The "native" in-memory form of tofu on a little-endian host, which tofu's
 * echo recipe copies into a body (sections 1.3 and 7): same field order, each
 * multi-byte field little-endian. */
void tl_header_encode_native(const tl_header *h, uint8_t out[TL_HEADER_SIZE]);
void tl_header_decode_native(const uint8_t in[TL_HEADER_SIZE], tl_header *h);

/* ---- proto byte (section 1.4) ---- */

#define TL_PROTO_OPCODE_MASK 0x0Fu
#define TL_PROTO_ORIGIN      0x10u /* 1 = engine */
#define TL_PROTO_MORE        0x20u /* 1 = more messages follow with this id */
#define TL_PROTO_BIT_A       0x40u /* internal: priority / local abort with ByeSignal */
#define TL_PROTO_BIT_B       0x80u /* internal: unused */

static inline unsigned tl_proto_opcode(uint8_t proto) { return proto & TL_PROTO_OPCODE_MASK; }
static inline int tl_proto_origin_engine(uint8_t proto) { return (proto & TL_PROTO_ORIGIN) != 0; }
static inline int tl_proto_more(uint8_t proto) { return (proto & TL_PROTO_MORE) != 0; }
static inline uint8_t tl_proto_make(unsigned opcode, int origin_engine, int more, int bit_a, int bit_b)
{
    return (uint8_t)((opcode & TL_PROTO_OPCODE_MASK) | (origin_engine ? TL_PROTO_ORIGIN : 0u) |
                     (more ? TL_PROTO_MORE : 0u) | (bit_a ? TL_PROTO_BIT_A : 0u) |
                     (bit_b ? TL_PROTO_BIT_B : 0u));
}

/* ---- op codes (section 2) ---- */

typedef enum {
    TL_OP_REQUEST = 0,
    TL_OP_RESPONSE = 1,
    TL_OP_SIGNAL = 2,
    TL_OP_HELLO_REQUEST = 3,
    TL_OP_HELLO_RESPONSE = 4,
    TL_OP_BYE_REQUEST = 5,
    TL_OP_BYE_RESPONSE = 6,
    TL_OP_BYE_SIGNAL = 7,
    TL_OP_WELCOME_REQUEST = 8,
    TL_OP_WELCOME_RESPONSE = 9
} tl_opcode;

#define TL_OPCODE_COUNT 10u

typedef enum { TL_TYPE_REGULAR = 0, TL_TYPE_WELCOME = 1, TL_TYPE_HELLO = 2, TL_TYPE_BYE = 3 } tl_optype;
typedef enum { TL_ROLE_REQUEST = 0, TL_ROLE_RESPONSE = 1, TL_ROLE_SIGNAL = 2 } tl_role;

typedef struct {
    const char *name; /* "Request", "HelloResponse", ... as in PROTOCOL.md section 2 */
    tl_optype type;
    tl_role role;
    int echo;    /* echo() result op code, or -1 where tofu yields InvalidOpCode */
    int on_wire; /* 1 if tofu transmits it (ByeSignal: only without bit A, A2) */
} tl_opcode_info;

/* NULL for op codes 10-15. */
const tl_opcode_info *tl_opcode_info_get(unsigned opcode);
/* Name, or NULL for 10-15. */
const char *tl_opcode_name(unsigned opcode);
/* Op code for a name (case-sensitive, as in section 2) or a decimal 0-15;
 * -1 if neither. */
int tl_opcode_parse(const char *text);

/* ---- status (section 3) ---- */

typedef enum {
    TL_STATUS_SUCCESS = 0,
    TL_STATUS_NOT_IMPLEMENTED_YET = 1,
    TL_STATUS_WRONG_ADDRESS = 2,
    TL_STATUS_NOT_ALLOWED = 3,
    TL_STATUS_NULL_MESSAGE = 4,
    TL_STATUS_INVALID_MESSAGE = 5,
    TL_STATUS_INVALID_OP_CODE = 6,
    TL_STATUS_INVALID_HEADERS_LEN = 7,
    TL_STATUS_INVALID_BODY_LEN = 8,
    TL_STATUS_INVALID_MORE_USAGE = 9,
    TL_STATUS_INVALID_CHANNEL_NUMBER = 10,
    TL_STATUS_INVALID_MCHN_GROUP = 11,
    TL_STATUS_INVALID_MESSAGE_ID = 12,
    TL_STATUS_INVALID_ADDRESS = 13,
    TL_STATUS_UDS_PATH_NOT_FOUND = 14,
    TL_STATUS_NOTIFICATION_DISABLED = 15,
    TL_STATUS_NOTIFICATION_FAILED = 16,
    TL_STATUS_PEER_DISCONNECTED = 17,
    TL_STATUS_COMMUNICATION_FAILED = 18,
    TL_STATUS_POOL_EMPTY = 19,
    TL_STATUS_ALLOCATION_FAILED = 20,
    TL_STATUS_RECEIVER_UPDATE = 21,
    TL_STATUS_CHANNEL_CLOSED = 22,
    TL_STATUS_SHUTDOWN_STARTED = 23,
    TL_STATUS_CONNECT_FAILED = 24,
    TL_STATUS_LISTEN_FAILED = 25,
    TL_STATUS_ACCEPT_FAILED = 26,
    TL_STATUS_SEND_FAILED = 27,
    TL_STATUS_RECV_FAILED = 28,
    TL_STATUS_SETSOCKOPT_FAILED = 29,
    TL_STATUS_PROCESSING_FAILED = 30,
    TL_STATUS_UNKNOWN_ERROR = 31
} tl_status;

#define TL_STATUS_COUNT 32u

/* byte -> status: 0-30 map to themselves, every value >= 31 to unknown_error. */
tl_status tl_status_from_byte(uint8_t byte);
/* tofu's snake_case name ("invelid_mchn_group" included) of tl_status_from_byte(byte). */
const char *tl_status_name(uint8_t byte);
/* tofu's error name ("InvalidMessageChannelGroup"); NULL for success. */
const char *tl_status_error_name(uint8_t byte);
/* Status for a snake_case name or a decimal 0-255; -1 if neither. */
int tl_status_parse(const char *text);

/* ---- text headers (section 4) ---- */

/* Append "name:value\r\n" to buf[*len..cap) with tofu's checks (name trimmed of
 * space, tab, CR, LF at both ends and non-empty; value non-empty, not trimmed)
 * plus A17: CR or LF inside the trimmed name or the value is refused, and so
 * is a colon in the name (the iterator would split the line elsewhere).
 * Returns TL_OK, TL_E_BAD_NAME, TL_E_BAD_VALUE, TL_E_TOO_LONG (the block would
 * pass 65535 bytes) or TL_E_NOSPACE (cap too small). *len is unchanged on error. */
int tl_text_append(uint8_t *buf, size_t cap, size_t *len, const char *name, size_t name_len,
                   const char *value, size_t value_len);

typedef struct {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *value;
    size_t value_len;
} tl_text_field;

/* tofu's TextHeaderIterator, quirks included (section 4.2). */
typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
} tl_text_iter;

void tl_text_iter_init(tl_text_iter *it, const uint8_t *data, size_t len);
/* 1 and *out filled when a header was produced; 0 at end of iteration
 * (including the empty-name quirk: a further call continues after that line). */
int tl_text_iter_next(tl_text_iter *it, tl_text_field *out);

/* ---- address headers (section 4.3, A12) ---- */

#define TL_ADDR_HOST_MAX     255u /* host bytes, without terminator (tofu buffer 256) */
#define TL_ADDR_PATH_MAX     107u /* UDS path bytes, without terminator (sun_path 108) */
#define TL_ADDR_TEXT_MAX     300u /* enough for any formatted address value + NUL */
#define TL_HEADER_CONNECT_TO "~connect_to"
#define TL_HEADER_LISTEN_ON  "~listen_on"

typedef enum { TL_ADDR_TCP = 1, TL_ADDR_UDS = 2 } tl_addr_kind;

typedef struct {
    tl_addr_kind kind;
    char host[TL_ADDR_HOST_MAX + 1]; /* TCP: host name or literal, NUL-terminated */
    uint16_t port;                   /* TCP */
    char path[TL_ADDR_PATH_MAX + 1]; /* UDS, NUL-terminated */
} tl_address;

/* Parse a value strictly: exactly "tcp|host|port" (host non-empty, no control
 * characters or spaces, <= 255 bytes; port a canonical decimal 0-65535: digits
 * only, no leading zero) or
 * "uds|path" (path non-empty, <= 107 bytes, no control character, no space at
 * either end, so that it survives a header round trip). Port 0 is accepted here;
 * connecting to port 0 is refused by the engine. Returns TL_OK or
 * TL_E_BAD_ADDRESS. */
int tl_address_parse(const char *value, size_t len, tl_address *out);

/* Why a value does not parse: the leftmost wrong part and the reason. */
typedef struct {
    const char *part; /* "kind", "host", "port", "path" or "value" (no '|' at all); static */
    size_t offset;    /* byte offset in the value where the wrong part (or byte) starts */
    char reason[96];  /* one line, e.g. "port 99999 out of range 1-65535", "empty host",
                         "unknown kind 'udp' (expected tcp or uds)"; printable */
} tl_address_error;

/* tl_address_parse that, on TL_E_BAD_ADDRESS, fills *err (may be NULL).
 * Port 0 is accepted (a listener's "any port"); the reason for a port out of
 * range says 1-65535, the range a connection can use. */
int tl_address_parse_detail(const char *value, size_t len, tl_address *out, tl_address_error *err);

/* Format as "tcp|host|port" or "uds|path" into out (NUL-terminated).
 * Returns the length, or TL_E_NOSPACE / TL_E_INVAL. */
int tl_address_format(const tl_address *addr, char *out, size_t cap);

/* Find the address in a message's text headers as the reference engine does
 * (A12): the FIRST header named exactly "~connect_to" or "~listen_on" decides;
 * it must be "~connect_to" for HelloRequest and "~listen_on" for
 * WelcomeRequest, and its value must parse. Returns TL_STATUS_SUCCESS,
 * TL_STATUS_WRONG_ADDRESS (no text headers at all) or TL_STATUS_INVALID_ADDRESS. */
tl_status tl_address_from_headers(const uint8_t *text, size_t thl, unsigned opcode, tl_address *out);

/* Append the address header for opcode (HelloRequest: ~connect_to,
 * WelcomeRequest: ~listen_on) with tl_text_append. */
int tl_address_append_header(uint8_t *buf, size_t cap, size_t *len, unsigned opcode, const tl_address *addr);

/* ---- post-time validation (section 5, steps 2-9) ---- */

/* Reference-engine decisions layered on tofu's rules. */
#define TL_POST_TOFU             0u    /* exactly tofu's check_and_prepare */
#define TL_POST_CLEAR_INTERNAL   0x01u /* A8: clear A and B; A2: ByeSignal always gets A */
#define TL_POST_NO_CHANNEL_HELLO 0x02u /* A13: Hello/Welcome request must have channel 0 */
#define TL_POST_NO_WELCOME_RESP  0x04u /* A16: posting WelcomeResponse is not allowed */
#define TL_POST_CHECK_ADDRESS    0x08u /* A12: Hello/Welcome request address must parse */
#define TL_POST_REFERENCE        0x0Fu /* every decision above */

typedef struct {
    tl_status status; /* what tofu writes into the status byte (success when ok) */
    int err; /* TL_OK; TL_E_BAD_OPCODE (status byte NOT touched, status = invalid_op_code); TL_E_REJECTED
                (status says which rule) */
} tl_post_result;

/* Validate and prepare the header of a message about to be posted, in tofu's
 * order: op code (2), forced fields origin=0 status=0 (3), response id (4),
 * more usage (5), channel 0 (6), header length (7), address present (8), body
 * length (9). On success thl/bl are set from text_len/body_len and the status
 * byte is 0. On failure the status byte holds the broken rule's status, except
 * for an invalid op code, which leaves the header untouched. Message-id
 * assignment and channel-table checks (steps 10-11) need engine state and are
 * not done here. `text` is needed only with TL_POST_CHECK_ADDRESS. */
tl_post_result tl_post_validate(tl_header *h, const uint8_t *text, size_t text_len, size_t body_len,
                                unsigned flags);

/* ---- streaming frame reader ---- */

typedef struct {
    size_t max_text;       /* largest thl accepted; 0 means the default, 65535 */
    size_t max_body;       /* largest bl accepted; default (0) = 65535 */
    int reject_bad_opcode; /* op code 10-15 is a reader error (A7) */
} tl_reader_options;

typedef enum {
    TL_READ_ERROR = -1, /* invalid input; see tl_reader_error() */
    TL_READ_MORE = 0,   /* every byte given was consumed; the frame is incomplete */
    TL_READ_FRAME = 1   /* *frame holds a complete frame */
} tl_read_result;

typedef struct {
    tl_header hdr;
    const uint8_t *text; /* thl bytes; valid until the next reader call */
    const uint8_t *body; /* bl bytes; valid until the next reader call */
    uint64_t offset;     /* stream offset of the frame's first byte */
} tl_frame;

typedef struct {
    int code;         /* TL_E_LIMIT, TL_E_BAD_OPCODE or TL_E_NOMEM */
    uint64_t offset;  /* stream offset of the offending field */
    const char *rule; /* the rule broken, e.g. "bl exceeds the body limit" */
    size_t value;     /* the offending value */
    size_t limit;     /* the limit broken, where there is one */
} tl_reader_error_info;

typedef struct {
    tl_reader_options opt;
    uint8_t hdr_buf[TL_HEADER_SIZE];
    size_t hdr_have;
    tl_header hdr;
    uint8_t *buf; /* text+body accumulation for frames split across calls */
    size_t buf_len;
    size_t buf_cap;
    uint64_t stream_offset; /* bytes consumed so far */
    uint64_t frame_offset;
    int failed;
    tl_reader_error_info error;
    void *(*realloc_fn)(void *ctx, void *ptr, size_t size); /* NULL: libc realloc */
    void (*free_fn)(void *ctx, void *ptr);
    void *alloc_ctx;
} tl_reader;

void tl_reader_init(tl_reader *r, const tl_reader_options *opt);
void tl_reader_free(tl_reader *r);
/* Forget any partial frame and any error; keep options and the stream offset. */
void tl_reader_reset(tl_reader *r);

/* Consume bytes from data[0..len): stops after the first complete frame.
 * *consumed tells how many bytes were taken (never more than len; the reader
 * never reads past data+len). A frame wholly inside data is returned without
 * copying; a frame split across calls is accumulated, its buffer growing only
 * with bytes actually received. After TL_READ_ERROR every later call returns
 * TL_READ_ERROR until tl_reader_reset(). TL_E_NOMEM is reported as an error
 * with code TL_E_NOMEM. */
tl_read_result tl_reader_next(tl_reader *r, const uint8_t *data, size_t len, size_t *consumed,
                              tl_frame *frame);

/* Bytes still needed to finish the current frame (16 - have before the header
 * is complete, then what remains of thl + bl); 0 between frames. */
size_t tl_reader_missing(const tl_reader *r);
/* Bytes of the current partial frame held so far (0 between frames). */
size_t tl_reader_pending(const tl_reader *r);
/* 1 when feeding data[0..len) would complete the current frame (or the next
 * one, between frames), judged from the header bytes held and given; 0 when
 * it would not. Says nothing about validity: a frame that breaks a limit
 * fails when fed. */
int tl_reader_would_complete(const tl_reader *r, const uint8_t *data, size_t len);
/* NULL unless the reader failed. After a TL_E_LIMIT or TL_E_BAD_OPCODE
 * error, r->hdr holds the offending header. */
const tl_reader_error_info *tl_reader_error(const tl_reader *r);

/* ---- frame writer: a gather list a host can writev, resumable ---- */

typedef struct {
    const void *base;
    size_t len;
} tl_iov;

typedef struct {
    uint8_t hdr[TL_HEADER_SIZE];
    const uint8_t *text;
    size_t text_len;
    const uint8_t *body;
    size_t body_len;
    size_t total;
    size_t written;
} tl_writer;

/* Prepare a frame: thl and bl are taken from text_len and body_len (as tofu
 * recomputes them at send time). Returns TL_E_TOO_LONG if either exceeds
 * 65535. text and body are borrowed until the frame is written. */
int tl_writer_init(tl_writer *w, const tl_header *h, const uint8_t *text, size_t text_len,
                   const uint8_t *body, size_t body_len);
/* Fill up to max entries describing the bytes not yet written (empty parts
 * skipped). Returns the number of entries. */
int tl_writer_iov(const tl_writer *w, tl_iov *iov, int max);
/* Record that n more bytes were written. Returns 1 when the frame is complete,
 * 0 if bytes remain, TL_E_INVAL if n passes the end. */
int tl_writer_advance(tl_writer *w, size_t n);
static inline size_t tl_writer_remaining(const tl_writer *w) { return w->total - w->written; }

/* Encode a whole frame into out (header || text || body). Returns its length,
 * TL_E_NOSPACE or TL_E_TOO_LONG. */
int tl_frame_encode(const tl_header *h, const uint8_t *text, size_t text_len, const uint8_t *body,
                    size_t body_len, uint8_t *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_WIRE_H */
