/* Post-time validation (PROTOCOL.md section 5, steps 2-9), in tofu's order,
 * with the reference engine's decisions A8, A12, A13 and A16 as flags. */
#include "tofulab/wire.h"

static tl_post_result fail(tl_header *h, tl_status status)
{
    tl_post_result r = {status, TL_E_REJECTED};
    h->status = (uint8_t)status;
    return r;
}

static int is_hello_or_welcome_request(unsigned op)
{
    return op == TL_OP_HELLO_REQUEST || op == TL_OP_WELCOME_REQUEST;
}

tl_post_result tl_post_validate(tl_header *h, const uint8_t *text, size_t text_len, size_t body_len,
                                unsigned flags)
{
    tl_post_result ok = {TL_STATUS_SUCCESS, TL_OK};
    unsigned op = tl_proto_opcode(h->proto);
    const tl_opcode_info *info = tl_opcode_info_get(op);

    /* Step 2: undefined op code; the status byte is left as it is. */
    if (info == NULL) {
        tl_post_result r = {TL_STATUS_INVALID_OP_CODE, TL_E_BAD_OPCODE};
        return r;
    }
    /* Step 3: forced fields. A, B and more are not touched by tofu. */
    h->proto = (uint8_t)(h->proto & ~TL_PROTO_ORIGIN);
    h->status = 0;
    h->thl = 0;
    h->bl = 0;
    if (flags & TL_POST_CLEAR_INTERNAL) {
        /* A8: nothing internal reaches the wire; A2: op 7 is always a local abort. */
        h->proto = (uint8_t)(h->proto & ~(TL_PROTO_BIT_A | TL_PROTO_BIT_B));
        if (op == TL_OP_BYE_SIGNAL) {
            h->proto |= TL_PROTO_BIT_A;
        }
    }
    if ((flags & TL_POST_NO_WELCOME_RESP) && op == TL_OP_WELCOME_RESPONSE) {
        return fail(h, TL_STATUS_NOT_ALLOWED); /* A16 */
    }
    /* Step 4: a response needs the id of what it answers. */
    if (info->role == TL_ROLE_RESPONSE && h->message_id == 0) {
        return fail(h, TL_STATUS_INVALID_MESSAGE_ID);
    }
    /* Step 5: only regular messages may stream. */
    if (info->type != TL_TYPE_REGULAR && tl_proto_more(h->proto)) {
        return fail(h, TL_STATUS_INVALID_MORE_USAGE);
    }
    /* Step 6: channel 0 means "allocate", only for Hello/Welcome requests. */
    if (h->channel == 0 && !is_hello_or_welcome_request(op)) {
        return fail(h, TL_STATUS_INVALID_CHANNEL_NUMBER);
    }
    if ((flags & TL_POST_NO_CHANNEL_HELLO) && h->channel != 0 && is_hello_or_welcome_request(op)) {
        return fail(h, TL_STATUS_INVALID_CHANNEL_NUMBER); /* A13 */
    }
    /* Step 7. */
    if (text_len > TL_MAX_TEXT_LEN) {
        return fail(h, TL_STATUS_INVALID_HEADERS_LEN);
    }
    h->thl = (uint16_t)text_len;
    /* Step 8: Hello/Welcome requests carry their address in a text header. */
    if (text_len == 0 && is_hello_or_welcome_request(op)) {
        return fail(h, TL_STATUS_WRONG_ADDRESS);
    }
    if ((flags & TL_POST_CHECK_ADDRESS) && is_hello_or_welcome_request(op)) {
        tl_address addr;
        tl_status st = tl_address_from_headers(text, text_len, op, &addr);
        if (st != TL_STATUS_SUCCESS) {
            return fail(h, st); /* A12 */
        }
    }
    /* Step 9. */
    if (body_len > TL_MAX_BODY_LEN) {
        return fail(h, TL_STATUS_INVALID_BODY_LEN);
    }
    h->bl = (uint16_t)body_len;
    return ok;
}
