/*
 * Conformance suite: tofu's EchoService as a model (PROTOCOL.md section 7) -
 * the frames we build, the op code the echo answers with, the check of a
 * reply against the echo of what was sent, the reply we send ourselves
 * (client role), and the liveness probe (a HelloRequest on a fresh
 * connection). Uses net.h, case.h and util.h only.
 */
#ifndef TOFULAB_CONFORM_ECHO_H
#define TOFULAB_CONFORM_ECHO_H

#include <stddef.h>
#include <stdint.h>

#include "case.h"
#include "net.h"
#include "util.h"

/* ---- frames we build ---- */

typedef struct {
    tl_header h; /* thl/bl filled in by tlc_out_add */
    const uint8_t *text;
    size_t text_len;
    const uint8_t *body;
    size_t body_len;
} tlc_msg;

/* A run of frames to send. */
typedef struct {
    tlc_bytes bytes;
    size_t frames;
    size_t regular; /* frames tofu's echo budget counts */
} tlc_out;

/* Encode m (thl/bl from the lengths) and append; m->h gets thl/bl. */
void tlc_out_add(tlc_out *o, tlc_msg *m);
void tlc_out_free(tlc_out *o);
/* Send an tlc_out and account for the budget. */
int tlc_send_out(tlc_conn *k, tlc_out *o, const tlc_split *split, const char *what);
/* Build and send one frame in one write. */
int tlc_send_msg(tlc_conn *k, tlc_msg *m, const char *what);

/* ---- echo rules (section 7) ---- */

/* Op code EchoService replies with, or -1 when it sends nothing back. */
int tlc_echo_opcode(unsigned op);
/* Check reply against the echo of sent (header as sent, text as sent).
 * Findings go to the case, prefixed with what. Returns 1 if nothing FAILED. */
int tlc_check_echo(tlc_case *c, tlc_conn *k, const tl_header *sent, const uint8_t *text,
                   const tlc_frame *reply, const char *what);
/* Receive and check one echo. Returns 1 if a correct echo arrived. */
int tlc_expect_echo(tlc_case *c, tlc_conn *k, const tlc_msg *sent, const char *what);
/* Receive one frame or explain why not (FAILED finding). Returns 1 on a frame. */
int tlc_expect_frame(tlc_case *c, tlc_conn *k, tlc_frame *f, const char *what);
/* Build the echo reply EchoService would send for a received frame
 * (client role), with our channel number. */
void tlc_make_echo(const tlc_frame *in, uint16_t our_channel, tlc_out *o);

/* Server role: a follow-up connection still works (connect + HelloRequest
 * answered with at least one byte within the timeout). Records a note and
 * remembers the result in c->alive_checked / c->alive for the runner. */
int tlc_check_alive(tlc_case *c);

#endif /* TOFULAB_CONFORM_ECHO_H */
