/*
 * The simulator's host oracles (sim/sim.h, tl_sim_oracle_error): per-channel
 * FIFO of application messages and channel_closed once, last and never
 * missing. Clean runs of the pattern library pass them (make run); these
 * tests show that each one fails when what it guards is broken, by a client
 * service that goes behind the host's back and talks to its node's engine
 * directly: a Request the host never saw posted (a duplicate, arriving ahead
 * of the original), and a channel_closed the service swallowed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../patterns/echo.h"
#include "../../patterns/request_response.h"
#include "../../sim/sim.h"

#define MS  TL_SIM_NS_PER_MS
#define SEC TL_SIM_NS_PER_S

typedef enum { SNEAK_NONE, SNEAK_DUPLICATE_AHEAD, SNEAK_SWALLOW_CLOSE } sneak_mode;

typedef struct {
    tl_sim *sim;
    uint32_t node;
    sneak_mode mode;
    uint16_t channel;
    int answered;
} sneak;

static const char *const listen_addr[] = {"tcp|server|7099"};

static int make_echo(void *arg, tl_service **out)
{
    tl_echo_config c;
    (void)arg;
    memset(&c, 0, sizeof c);
    c.listen = listen_addr;
    c.listen_count = 1;
    return tl_echo_service_create(&c, out);
}

static tl_message *request(const tl_svc_env *env, uint16_t ch, uint64_t id, const char *body)
{
    tl_message *m = NULL;
    assert_int_equal(env->get(env->host, TL_GET_ALWAYS, &m), TL_OK);
    m->hdr.channel = ch;
    m->hdr.proto = tl_proto_make(TL_OP_REQUEST, 0, 0, 0, 0);
    m->hdr.message_id = id;
    assert_int_equal(tl_msg_body_set(m, body, strlen(body)), TL_OK);
    return m;
}

static int sneak_start(tl_service *s, const tl_svc_env *env)
{
    sneak *k = s->state;
    tl_message *m = NULL;
    tl_post_out out;
    assert_int_equal(env->get(env->host, TL_GET_ALWAYS, &m), TL_OK);
    assert_int_equal(tl_msg_set_address(m, TL_OP_HELLO_REQUEST, "tcp|server|7099"), TL_OK);
    assert_int_equal(env->post(env->host, &m, &out), TL_OK);
    k->channel = out.hdr.channel;
    return 0;
}

static int sneak_on_message(tl_service *s, const tl_svc_env *env, tl_message **msg)
{
    sneak *k = s->state;
    tl_engine *e = tl_sim_node_engine(k->sim, k->node);
    unsigned op = tl_proto_opcode((*msg)->hdr.proto);
    tl_post_out out;

    if (op == TL_OP_HELLO_RESPONSE) {
        uint32_t group = tl_engine_channel_group(e, k->channel);
        assert_true(group != 0);
        if (k->mode == SNEAK_DUPLICATE_AHEAD) {
            /* Request 2 straight into the engine, then 1 and 2 through the
             * host: the server receives 2, 1, 2. */
            tl_message *m = request(env, k->channel, 2, "two");
            assert_int_equal(tl_engine_post(e, group, &m, &out), TL_OK);
        }
        tl_message *a = request(env, k->channel, 1, "one");
        assert_int_equal(env->post(env->host, &a, &out), TL_OK);
        tl_message *b = request(env, k->channel, 2, "two");
        assert_int_equal(env->post(env->host, &b, &out), TL_OK);
        return 0;
    }
    if (op == TL_OP_RESPONSE && ++k->answered == 2 && k->mode == SNEAK_SWALLOW_CLOSE) {
        /* Abort the channel, then take its channel_closed from the engine
         * before the host can deliver it. */
        tl_message *m = NULL;
        assert_int_equal(env->get(env->host, TL_GET_ALWAYS, &m), TL_OK);
        m->hdr.channel = k->channel;
        m->hdr.proto = tl_proto_make(TL_OP_BYE_SIGNAL, 0, 0, 1, 0);
        uint32_t group = tl_engine_channel_group(e, k->channel);
        assert_int_equal(env->post(env->host, &m, &out), TL_OK);
        tl_message *got = NULL;
        int swallowed = 0;
        while (tl_engine_receive(e, group, &got) == TL_OK) {
            swallowed |= tl_proto_opcode(got->hdr.proto) == TL_OP_SIGNAL &&
                         got->hdr.status == TL_STATUS_CHANNEL_CLOSED;
            tl_engine_put(e, &got);
        }
        assert_true(swallowed);
    }
    return 0;
}

static void sneak_report(const tl_service *s, tl_svc_report *out)
{
    (void)s;
    memset(out, 0, sizeof *out);
}

static void sneak_destroy(tl_service *s) { free(s); }

static const tl_service_ops sneak_ops = {"sneak", sneak_start,  sneak_on_message,
                                         NULL,    sneak_report, sneak_destroy};

static int make_sneak(void *arg, tl_service **out)
{
    tl_service *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return TL_E_NOMEM;
    }
    s->ops = &sneak_ops;
    s->state = arg;
    *out = s;
    return TL_OK;
}

/* Runs echo on "server" and the sneak on "client" for 10 s; returns the
 * oracle's text ("" if it holds) in buf. */
static const char *run(sneak_mode mode, uint32_t corrupt_ppb, char *buf, size_t cap, tl_sim_stats *st)
{
    tl_sim *sim = NULL;
    tl_sim_options so;
    tl_sim_node_options no;
    tl_sim_link l;
    uint32_t server, client, svc;
    sneak k;

    memset(&so, 0, sizeof so);
    so.seed = 1;
    assert_int_equal(tl_sim_create(&so, &sim), TL_OK);
    tl_sim_node_defaults(&no);
    assert_int_equal(tl_sim_node_add(sim, "server", &no, &server), TL_OK);
    assert_int_equal(tl_sim_node_add(sim, "client", &no, &client), TL_OK);
    tl_sim_link_defaults(&l);
    l.delay_ns = 5 * MS;
    l.corrupt_ppb = corrupt_ppb;
    assert_int_equal(tl_sim_link_set_default(sim, &l), TL_OK);
    memset(&k, 0, sizeof k);
    k.sim = sim;
    k.node = client;
    k.mode = mode;
    assert_int_equal(tl_sim_service_add(sim, server, NULL, make_echo, NULL, 0, &svc), TL_OK);
    assert_int_equal(tl_sim_service_add(sim, client, "sneak", make_sneak, &k, MS, &svc), TL_OK);
    assert_int_equal(tl_sim_run(sim, 10 * SEC), TL_OK);
    tl_sim_finish(sim);
    const char *why = tl_sim_oracle_error(sim);
    snprintf(buf, cap, "%s", why ? why : "");
    tl_sim_get_stats(sim, st);
    int answered = k.answered;
    tl_sim_destroy(sim);
    if (mode != SNEAK_DUPLICATE_AHEAD) {
        assert_int_equal(answered, 2);
    }
    return buf;
}

static void test_sim_oracle_honest_client_passes(void **state)
{
    char why[256];
    tl_sim_stats st;
    (void)state;
    assert_string_equal(run(SNEAK_NONE, 0, why, sizeof why, &st), "");
    assert_int_equal(st.oracle_violations, 0);
}

static void test_sim_oracle_catches_a_message_out_of_posting_order(void **state)
{
    char why[256];
    tl_sim_stats st;
    (void)state;
    run(SNEAK_DUPLICATE_AHEAD, 0, why, sizeof why, &st);
    assert_true(st.oracle_violations >= 1);
    assert_non_null(strstr(why, "node server channel "));
    assert_non_null(strstr(why, ": Request id 1 delivered, but client never posted it on its channel "));
}

static void test_sim_oracle_fifo_is_off_when_a_link_corrupts(void **state)
{
    char why[256];
    tl_sim_stats st;
    (void)state;
    /* the same misdeed, but a corrupting link makes content unmatchable: the
     * FIFO oracle stands down (corruption is 1 in 10^9, so nothing is hit) */
    run(SNEAK_DUPLICATE_AHEAD, 1, why, sizeof why, &st);
    assert_string_equal(why, "");
}

static void test_sim_oracle_catches_a_missing_channel_closed(void **state)
{
    char why[256];
    tl_sim_stats st;
    (void)state;
    run(SNEAK_SWALLOW_CLOSE, 0, why, sizeof why, &st);
    assert_int_equal(st.oracle_violations, 1);
    assert_non_null(strstr(why, "node client channel "));
    assert_non_null(strstr(why, ": closed by the engine, but its service sneak never got channel_closed"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_oracle_honest_client_passes),
        cmocka_unit_test(test_sim_oracle_catches_a_message_out_of_posting_order),
        cmocka_unit_test(test_sim_oracle_fifo_is_off_when_a_link_corrupts),
        cmocka_unit_test(test_sim_oracle_catches_a_missing_channel_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
