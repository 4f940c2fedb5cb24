/* Messages (tofu's Message): header, text headers block, body, each buffer
 * growing through the engine's allocator. */
#include <stdlib.h>
#include <string.h>

#include "tofulab/engine.h"

static void *libc_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void *libc_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size);
}

static void libc_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static const tl_allocator libc_allocator = {libc_alloc, libc_realloc, libc_free, NULL};

const tl_allocator *tl_allocator_default(void) { return &libc_allocator; }

/* Make room for len + add bytes in b, within limit. */
static int buf_reserve(const tl_allocator *a, tl_buf *b, size_t add, size_t limit)
{
    if (add > limit || b->len > limit - add) {
        return TL_E_TOO_LONG;
    }
    size_t want = b->len + add;
    if (want <= b->cap) {
        return TL_OK;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want) {
        cap *= 2;
    }
    if (cap > limit) {
        cap = limit;
    }
    void *p = a->realloc(a->ctx, b->data, cap);
    if (p == NULL) {
        return TL_E_NOMEM;
    }
    b->data = p;
    b->cap = cap;
    return TL_OK;
}

static int buf_append(const tl_allocator *a, tl_buf *b, const void *data, size_t len, size_t limit)
{
    int rc = buf_reserve(a, b, len, limit);
    if (rc != TL_OK) {
        return rc;
    }
    if (len > 0) {
        memcpy(b->data + b->len, data, len);
        b->len += len;
    }
    return TL_OK;
}

int tl_msg_add_header(tl_message *m, const char *name, const char *value)
{
    if (m == NULL || name == NULL || value == NULL) {
        return TL_E_INVAL;
    }
    size_t nl = strlen(name);
    size_t vl = strlen(value);
    /* Room first; tl_text_append then applies every rule and leaves the
     * block unchanged on error (a failed reserve leaves it to report why). */
    int rc = buf_reserve(m->alloc, &m->text, nl + vl + 3, TL_MAX_TEXT_LEN);
    if (rc == TL_E_NOMEM) {
        return rc;
    }
    return tl_text_append(m->text.data, m->text.cap, &m->text.len, name, nl, value, vl);
}

int tl_msg_text_append_raw(tl_message *m, const void *data, size_t len)
{
    if (m == NULL || (data == NULL && len != 0)) {
        return TL_E_INVAL;
    }
    return buf_append(m->alloc, &m->text, data, len, TL_MAX_TEXT_LEN);
}

int tl_msg_body_set(tl_message *m, const void *data, size_t len)
{
    if (m == NULL || (data == NULL && len != 0)) {
        return TL_E_INVAL;
    }
    if (len > TL_MAX_BODY_LEN) {
        return TL_E_TOO_LONG;
    }
    m->body.len = 0;
    return buf_append(m->alloc, &m->body, data, len, TL_MAX_BODY_LEN);
}

int tl_msg_body_append(tl_message *m, const void *data, size_t len)
{
    if (m == NULL || (data == NULL && len != 0)) {
        return TL_E_INVAL;
    }
    return buf_append(m->alloc, &m->body, data, len, TL_MAX_BODY_LEN);
}

void tl_msg_set_opcode(tl_message *m, unsigned opcode)
{
    m->hdr.proto = (uint8_t)((m->hdr.proto & ~TL_PROTO_OPCODE_MASK) | (opcode & TL_PROTO_OPCODE_MASK));
}

void tl_msg_reset(tl_message *m)
{
    memset(&m->hdr, 0, sizeof m->hdr);
    m->text.len = 0;
    m->body.len = 0;
    m->next = NULL;
}

int tl_msg_set_address(tl_message *m, unsigned opcode, const char *address)
{
    tl_address addr;
    if (m == NULL || address == NULL || (opcode != TL_OP_HELLO_REQUEST && opcode != TL_OP_WELCOME_REQUEST)) {
        return TL_E_INVAL;
    }
    if (tl_address_parse(address, strlen(address), &addr) != TL_OK) {
        return TL_E_BAD_ADDRESS;
    }
    int rc = buf_reserve(m->alloc, &m->text, TL_ADDR_TEXT_MAX + 16, TL_MAX_TEXT_LEN);
    if (rc != TL_OK) {
        return rc;
    }
    rc = tl_address_append_header(m->text.data, m->text.cap, &m->text.len, opcode, &addr);
    if (rc != TL_OK) {
        return rc;
    }
    /* As tofu's address helpers: the binary header takes the op code's defaults. */
    memset(&m->hdr, 0, sizeof m->hdr);
    m->hdr.proto = (uint8_t)opcode;
    return TL_OK;
}

void tl_msg_free(tl_message *m)
{
    if (m == NULL) {
        return;
    }
    const tl_allocator *a = m->alloc ? m->alloc : &libc_allocator;
    a->free(a->ctx, m->text.data);
    a->free(a->ctx, m->body.data);
    a->free(a->ctx, m);
}
