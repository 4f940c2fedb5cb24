/*
 * fuzz-peer: the model. For every complete frame of a case, what a tofu
 * EchoService (PROTOCOL.md section 7) or the reference server `tofulab serve`
 * sends back, and where either may close the connection or stop. Where the
 * two differ (PROTOCOL.md section 9: the reference engine clears origin and
 * internal bits on receipt, A7, and closes a channel on op codes 10-15; tofu
 * ignores engine-origin frames and stops on response roles), the prediction
 * allows both. Replies themselves are checked with the conformance suite's
 * echo rules (tl_conform_check_echo).
 */
#include <stdlib.h>
#include <string.h>

#include "../conform/conform.h"
#include "internal.h"

static const char *const rule_texts[FP_RULE_COUNT] = {
    "7 step 4: a response-role frame (Response, HelloResponse, ByeResponse, WelcomeResponse) stops tofu's "
    "echo server",
    "6.15: a frame with status 21 (receiver_update) stops MultiHomed, tofu's echo server",
    "7 step 7, 5 step 4: the echo of a request with message_id 0 is refused (InvalidMessageId) and tofu's "
    "echo "
    "server stops",
    "7 step 7, 5 step 5: the echo of a hello, bye or welcome frame with the more flag is refused "
    "(InvalidMoreUsage) and tofu's echo server stops",
    "7 step 1, A19: after 1100 regular/welcome echoes the next message stops tofu's EchoService",
};

static const char *const close_texts[FP_CLOSE_COUNT] = {
    "A7: an op code 10-15 makes the reference engine close the channel (tofu aborts)",
    "6.8, A2: a ByeSignal is re-posted by the echo service: a local abort closes the connection",
    "6.7: a peer that receives ByeResponse closes the connection",
    "a rule that stops the server closes every connection",
};

const char *fp_rule_text(int rule)
{
    return (rule >= 0 && rule < FP_RULE_COUNT) ? rule_texts[rule] : "no rule";
}

const char *fp_close_text(int rule)
{
    return (rule >= 0 && rule < FP_CLOSE_COUNT) ? close_texts[rule] : "no rule";
}

static int grow(fp_model *m)
{
    fp_pred *np = fp_grow(m->p, &m->cap, m->n, sizeof *np, 16);

    if (np == NULL) {
        return -1;
    }
    m->p = np;
    return 0;
}

void fp_model_free(fp_model *m)
{
    free(m->p);
    memset(m, 0, sizeof *m);
}

/* The prediction for one frame; state carries what earlier frames did. */
typedef struct {
    int quiet;       /* a bye frame went out: the server's channel sends nothing more (6.6) */
    int maybe_quiet; /* one may have (an optional bye reply): later replies are optional */
    int unchecked;   /* from here on nothing is judged */
    int closing;     /* the peer may close from here on */
    uint64_t budget;
} model_state;

static void predict(fp_pred *p, model_state *st, int echo)
{
    const tl_header *h = &p->h;
    unsigned op = tl_proto_opcode(h->proto);
    const tl_opcode_info *info = tl_opcode_info_get(op);
    int origin = tl_proto_origin_engine(h->proto);
    int more = tl_proto_more(h->proto);
    int eop;
    int reply = 0, optional = 0, unchecked_after = 0;
    uint64_t before = st->budget;

    p->flags = 0;
    p->eop = -1;
    p->stop_rule = FP_RULE_NONE;
    p->close_rule = -1;
    p->budget = 0;
    p->budget_max = 0;

    /* MultiHomed looks at status 21 before anything else (6.15). */
    if (h->status == TL_STATUS_RECEIVER_UPDATE) {
        p->stop_rule = FP_RULE_STATUS21;
    }
    /* The budget (7 step 1) is judged when the peer stops: fp_classify. */
    if (info == NULL) {
        /* A7: reference closes; tofu aborts (a crash, always a finding). */
        p->close_rule = FP_CLOSE_OPCODE;
        unchecked_after = 1;
        st->unchecked = 1;
    } else if (info->role == TL_ROLE_RESPONSE) {
        /* tofu stops (with origin set it takes it for a notification, but an
         * echo server on the reference engine, which clears the bit on
         * receipt, A7, stops all the same); `serve` ignores it. A ByeResponse
         * makes either engine stop reading and close (6.7). */
        if (p->stop_rule == FP_RULE_NONE) {
            p->stop_rule = FP_RULE_RESPONSE;
        }
        if (op == TL_OP_BYE_RESPONSE) {
            p->close_rule = FP_CLOSE_BYE_RESPONSE;
            unchecked_after = 1;
        }
    } else {
        eop = tl_conform_echo_opcode(op);
        if (info->type == TL_TYPE_REGULAR || info->type == TL_TYPE_WELCOME) {
            p->budget = 1;
        }
        if (info->role == TL_ROLE_REQUEST && h->message_id == 0) {
            /* The echo is a response without id: post refuses it. tofu and
             * `serve --exact` stop; a hardened server may close the channel
             * or answer with an error status. Nothing after it is judged. */
            if (p->stop_rule == FP_RULE_NONE) {
                p->stop_rule = FP_RULE_ID0;
            }
            unchecked_after = 1;
        } else if (more && info->type != TL_TYPE_REGULAR) {
            if (p->stop_rule == FP_RULE_NONE) {
                p->stop_rule = FP_RULE_MORE;
            }
            unchecked_after = 1;
        } else if (op == TL_OP_BYE_SIGNAL) {
            /* tofu echoes 0x07 when bit A is clear (then sends nothing more);
             * with A, or on the reference server (A2), it is a local abort. */
            p->close_rule = FP_CLOSE_BYE_SIGNAL;
            reply = !origin;
            optional = 1;
        } else if (eop >= 0) {
            reply = 1;
        }
        if (reply) {
            p->eop = eop;
        }
    }
    if (origin) {
        /* tofu passes it to EchoService as an engine notification and ignores
         * it; the reference engine clears the bit (A7) and echoes. */
        optional = 1;
    }
    if (p->stop_rule != FP_RULE_NONE) {
        /* A stop closes every connection (6.13): the echo is still due
         * unless the connection closes. */
        if (p->close_rule < 0) {
            p->close_rule = FP_CLOSE_STOP;
        }
    }
    if (p->close_rule >= 0) {
        st->closing = 1;
    }
    if (st->closing) {
        p->flags |= FP_P_MAY_CLOSE;
    }
    if (!echo) {
        /* Only a HelloRequest has to be answered by any tofu server app; after
         * a bye frame of ours, it may send nothing more (6.6). */
        if (info != NULL && info->type == TL_TYPE_BYE) {
            st->maybe_quiet = 1;
        }
        if (op != TL_OP_HELLO_REQUEST || reply == 0) {
            reply = 0;
        }
    }
    if (reply && !st->quiet && !st->unchecked) {
        p->flags |= FP_P_REPLY;
        if (optional || st->maybe_quiet) {
            p->flags |= FP_P_OPTIONAL;
        }
        if (h->proto & TL_PROTO_BIT_A) {
            p->flags |= FP_P_BIT_A;
        }
    }
    if (st->unchecked) {
        p->flags |= FP_P_UNCHECKED;
    }
    if (reply && info != NULL && info->type == TL_TYPE_BYE) {
        /* After a bye frame the channel never sends again (6.6). */
        if (optional) {
            st->maybe_quiet = 1;
        } else {
            st->quiet = 1;
        }
    }
    if (unchecked_after) {
        st->unchecked = 1;
    }
    if (info == NULL || info->role == TL_ROLE_RESPONSE) {
        p->budget = 0;
    }
    /* tofu does not count engine-origin frames; the reference engine clears
     * the bit and counts them: an upper bound counts them, a sure count not. */
    p->budget_max = p->budget;
    if (origin) {
        p->budget = 0;
    }
    st->budget = before + (uint64_t)p->budget;
}

int fp_model_build(fp_model *m, const uint8_t *data, size_t len, uint64_t budget_before, int echo)
{
    model_state st;
    size_t off = 0;

    memset(m, 0, sizeof *m);
    memset(&st, 0, sizeof st);
    st.budget = budget_before;
    m->stop_rule = FP_RULE_NONE;
    while (len - off >= TL_HEADER_SIZE) {
        tl_header h;
        size_t need;
        fp_pred *p;

        tl_header_decode(data + off, &h);
        need = TL_HEADER_SIZE + (size_t)h.thl + h.bl;
        if (need > len - off) {
            m->missing = need - (len - off);
            if (tl_opcode_info_get(tl_proto_opcode(h.proto)) == NULL) {
                m->may_close = 1; /* A7: closed as soon as the header is in */
            }
            break;
        }
        if (grow(m) != 0) {
            fp_model_free(m);
            return -1;
        }
        p = &m->p[m->n];
        memset(p, 0, sizeof *p);
        p->index = m->n;
        p->offset = off;
        p->end = off + need;
        p->h = h;
        p->text = data + off + TL_HEADER_SIZE;
        predict(p, &st, echo);
        if (p->stop_rule != FP_RULE_NONE) {
            m->stop_rules |= 1u << p->stop_rule;
        }
        if (m->stop_rule == FP_RULE_NONE && p->stop_rule != FP_RULE_NONE) {
            m->stop_rule = p->stop_rule;
        }
        if (p->close_rule >= 0) {
            m->may_close = 1;
        }
        if ((p->flags & FP_P_REPLY) && !(p->flags & FP_P_OPTIONAL)) {
            m->mandatory++;
        }
        m->n++;
        off += need;
    }
    if (m->missing == 0 && len - off > 0) {
        m->missing = TL_HEADER_SIZE - (len - off);
    }
    m->complete = off;
    m->budget = st.budget - budget_before;
    m->quiet_after = st.quiet;
    return 0;
}
