/*
 * The HTML sequence diagram (sim/html.h): one lane per node, one arrow per
 * frame sent, the crash marked, well-formed and self-contained; past its cap
 * it says so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sim/html.h"
#include "../../sim/sim.h"

static const char *scn_text = "duration 20s\n"
                              "node server\n"
                              "node client\n"
                              "node other\n"
                              "link * * delay 10ms\n"
                              "service server echo listen=tcp|server|7099\n"
                              "service client rr connect=tcp|server|7099 count=80 concurrency=2\n"
                              "service other rr connect=tcp|server|7099 count=5\n"
                              "at 150ms partition other server for 1s\n"
                              "at 2s crash server\n";

typedef struct {
    tl_html *html;
    size_t sends;
} tee;

static void on_line(void *ctx, const char *line, size_t len)
{
    tee *t = ctx;
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < 511 ? len : 511), line);
    /* "<time> <node> ch=<n> send ..." */
    const char *ev = strstr(buf, " ch=");
    if (ev && (ev = strchr(ev + 1, ' ')) != NULL && strncmp(ev, " send ", 6) == 0) {
        t->sends++;
    }
    tl_html_on_trace(t->html, line, len);
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what)) {
        n++;
    }
    return n;
}

static char *render(size_t max_rows, size_t *sends)
{
    tl_scenario *scn = NULL;
    assert_int_equal(tl_scn_parse(scn_text, strlen(scn_text), "h.scn", &scn, NULL), TL_OK);
    const char *names[3];
    assert_int_equal(tl_scn_node_count(scn), 3);
    for (size_t i = 0; i < 3; i++) {
        names[i] = tl_scn_node_name(scn, i);
    }
    tee t = {NULL, 0};
    assert_int_equal(tl_html_new(names, 3, max_rows, &t.html), TL_OK);
    tl_scn_run_options o;
    tl_scn_result r;
    memset(&o, 0, sizeof o);
    o.on_trace = on_line;
    o.trace_ctx = &t;
    assert_int_equal(tl_scn_run(scn, 1, &o, &r), TL_OK);
    char *page = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&page, &len);
    assert_int_equal(tl_html_write(t.html, m, "h.scn <seed 1>"), TL_OK);
    fclose(m);
    size_t drawn;
    assert_int_equal(tl_html_frames(t.html, &drawn), t.sends);
    tl_html_free(t.html);
    tl_scn_free(scn);
    *sends = t.sends;
    return page;
}

static void test_sim_html_run_one_lane_per_node_one_arrow_per_frame(void **state)
{
    (void)state;
    size_t sends;
    char *page = render(0, &sends);
    assert_true(sends > 100);
    assert_int_equal(strncmp(page, "<!DOCTYPE html>\n<html", 21), 0);
    assert_non_null(strstr(page, "</svg>\n</body>\n</html>\n"));
    assert_int_equal(count(page, "class=\"lanename\""), 3);
    assert_int_equal(count(page, "<g class=\"frame"), sends);
    assert_true(count(page, "<g class=\"frame\">") > 0); /* node to node arrows */
    assert_non_null(strstr(page, ">crash</text>"));
    assert_non_null(strstr(page, "class=\"mark partition\""));
    /* the title is escaped; nothing is fetched from elsewhere */
    assert_non_null(strstr(page, "h.scn &lt;seed 1&gt;"));
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "<link"));
    assert_null(strstr(page, "src="));
    assert_null(strstr(page, "href="));
    /* balanced elements */
    assert_int_equal(count(page, "<g "), count(page, "</g>"));
    assert_int_equal(count(page, "<text "), count(page, "</text>"));
    assert_int_equal(count(page, "<svg "), 1);
    assert_null(strstr(page, "more \"all rows\"")); /* no cap note */
    assert_null(strstr(page, "only the first"));
    free(page);
}

static void test_sim_html_past_cap_says_so(void **state)
{
    (void)state;
    size_t sends;
    char *page = render(25, &sends);
    assert_non_null(strstr(page, "only the first 25 rows are drawn"));
    assert_true(count(page, "<g class=\"frame") < sends);
    assert_int_equal(count(page, "<g "), count(page, "</g>"));
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_html_run_one_lane_per_node_one_arrow_per_frame),
        cmocka_unit_test(test_sim_html_past_cap_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
