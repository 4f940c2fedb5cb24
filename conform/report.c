/*
 * Conformance suite: reports. Console table, JSON, JUnit XML and a
 * self-contained HTML page (no external assets; each case is a <details>
 * element that expands to its findings and the frames sent and received, as
 * hex and decoded).
 */
#include <stdio.h>
#include <string.h>

#include "case.h"
#include "util.h"

#define CONSOLE_DETAIL_LINES 12

static double ms(uint64_t us) { return (double)us / 1000.0; }

static const char *role_name(tl_conform_role r) { return r == TL_CONFORM_ROLE_CLIENT ? "client" : "server"; }

static size_t passed(const tl_conform_report *rep)
{
    return rep->totals[TL_VERDICT_OK] + rep->totals[TL_VERDICT_NON_STRICT] +
           rep->totals[TL_VERDICT_INFORMATIONAL];
}

static void totals_line(tlc_sb *b, const tl_conform_report *rep)
{
    int v;

    tlc_sb_printf(b, "%zu passed, %zu failed (", passed(rep), rep->totals[TL_VERDICT_FAILED]);
    for (v = 0; v < TL_VERDICT_COUNT; v++) {
        tlc_sb_printf(b, "%s%s %zu", v ? ", " : "", tl_conform_verdict_name((tl_conform_verdict)v),
                      rep->totals[v]);
    }
    tlc_sb_printf(b, ")");
}

/* The section part of "tofu/<section>/<n>". */
static void section_of(const char *id, char *out, size_t cap)
{
    const char *a = strchr(id, '/');
    const char *z = strrchr(id, '/');
    size_t n;

    if (a == NULL || z == NULL || z <= a) {
        snprintf(out, cap, "%s", id);
        return;
    }
    n = (size_t)(z - a - 1);
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(out, a + 1, n);
    out[n] = '\0';
}

static const char *dir_name(int dir)
{
    return dir == TL_CONFORM_SENT ? "sent" : dir == TL_CONFORM_RECEIVED ? "received" : "note";
}

/* ---- console ---- */

int tl_conform_console_header(FILE *out, const tl_conform_report *rep)
{
    fprintf(out, "tofulab conform: peer %s, role %s, timeout %.2f s%s\n", rep->peer, role_name(rep->role),
            (double)rep->timeout_ms / 1000.0, rep->strict ? ", strict" : "");
    fprintf(out, "%4s  %-12s %-14s %10s  %s\n", "#", "case", "verdict", "time", "title");
    return ferror(out) ? -1 : 0;
}

int tl_conform_console_row(FILE *out, const tl_conform_result *r)
{
    char order[16];

    if (r->run_order > 0) {
        snprintf(order, sizeof order, "%u", r->run_order);
    } else {
        snprintf(order, sizeof order, "-");
    }
    fprintf(out, "%4s  %-12s %-14s %7.1f ms  %s%s\n", order, r->info->id, tl_conform_verdict_name(r->verdict),
            ms(r->duration_us), r->info->title,
            (r->info->flags & TL_CONFORM_DESTRUCTIVE) ? " [destructive]" : "");
    fflush(out);
    return ferror(out) ? -1 : 0;
}

int tl_conform_console_footer(FILE *out, const tl_conform_report *rep)
{
    size_t i;
    size_t not_run = rep->totals[TL_VERDICT_NOT_RUN];
    int header = 0;
    tlc_sb b = {0};

    for (i = 0; i < rep->count; i++) {
        const tl_conform_result *r = &rep->results[i];
        const char *p;
        int lines = 0;

        if (r->verdict == TL_VERDICT_OK || r->verdict == TL_VERDICT_NOT_RUN || r->detail == NULL) {
            continue;
        }
        if (!header) {
            fprintf(out, "\nfindings:\n");
            header = 1;
        }
        fprintf(out, "  %s %s%s\n", r->info->id, tl_conform_verdict_name(r->verdict),
                r->strict_escalated ? " (NON-STRICT, failed because of --strict)" : "");
        for (p = r->detail; *p != '\0' && lines < CONSOLE_DETAIL_LINES; lines++) {
            size_t n = strcspn(p, "\n");

            fprintf(out, "      %.*s\n", (int)n, p);
            p += n;
            if (*p == '\n') {
                p++;
            }
        }
        if (*p != '\0') {
            fprintf(out, "      ...\n");
        }
    }
    fprintf(out, "\n");
    if (rep->role == TL_CONFORM_ROLE_SERVER) {
        fprintf(out, "budget-counted frames sent: %llu (tofu's EchoService stops after 1100)\n",
                (unsigned long long)rep->regular_sent);
    }
    if (rep->not_tofu[0] != '\0') {
        fprintf(out, "verdict: the peer does not speak tofu (found by %s): %s\n", rep->not_tofu_after,
                rep->not_tofu);
        if (not_run > 0) {
            fprintf(out, "%zu case%s not run (--keep-going runs them anyway)\n", not_run,
                    not_run == 1 ? "" : "s");
        }
    } else if (rep->peer_died) {
        fprintf(out, "the peer stopped answering after %s; %zu case%s not run\n", rep->died_after, not_run,
                not_run == 1 ? "" : "s");
    }
    fprintf(out, "time: %.2f s\n", (double)rep->duration_us / 1e6);
    totals_line(&b, rep);
    fprintf(out, "%s\n", b.s != NULL ? b.s : "");
    tlc_sb_free(&b);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

int tl_conform_write_console(FILE *out, const tl_conform_report *rep)
{
    size_t i;

    tl_conform_console_header(out, rep);
    for (i = 0; i < rep->count; i++) {
        tl_conform_console_row(out, &rep->results[i]);
    }
    return tl_conform_console_footer(out, rep);
}

/* ---- JSON ---- */

static void json_str(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");

    fputc('"', out);
    for (; *p != '\0'; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20 || *p >= 0x7f) {
                fprintf(out, "\\u%04x", *p);
            } else {
                fputc(*p, out);
            }
        }
    }
    fputc('"', out);
}

static void json_lines(FILE *out, const char *s)
{
    const char *p = s != NULL ? s : "";
    int first = 1;
    tlc_sb line = {0};

    fputc('[', out);
    while (*p != '\0') {
        size_t n = strcspn(p, "\n");

        tlc_sb_append(&line, p, n);
        if (!first) {
            fputc(',', out);
        }
        first = 0;
        json_str(out, line.s);
        line.len = 0;
        if (line.s != NULL) {
            line.s[0] = '\0';
        }
        p += n;
        if (*p == '\n') {
            p++;
        }
    }
    fputc(']', out);
    tlc_sb_free(&line);
}

int tl_conform_write_json(FILE *out, const tl_conform_report *rep)
{
    size_t i, j;
    int v;

    fprintf(out, "{\n  \"tool\": \"tofulab conform\",\n  \"peer\": ");
    json_str(out, rep->peer);
    fprintf(out, ",\n  \"role\": \"%s\",\n  \"strict\": %s,\n  \"timeout_ms\": %u,\n  \"started\": ",
            role_name(rep->role), rep->strict ? "true" : "false", rep->timeout_ms);
    json_str(out, rep->started);
    fprintf(out, ",\n  \"duration_ms\": %.3f,\n  \"budget_frames_sent\": %llu,\n  \"peer_died\": %s,\n",
            ms(rep->duration_us), (unsigned long long)rep->regular_sent, rep->peer_died ? "true" : "false");
    fprintf(out, "  \"died_after\": ");
    if (rep->peer_died) {
        json_str(out, rep->died_after);
    } else {
        fputs("null", out);
    }
    fprintf(out, ",\n  \"not_tofu\": ");
    if (rep->not_tofu[0] != '\0') {
        json_str(out, rep->not_tofu);
        fprintf(out, ", \"not_tofu_after\": ");
        json_str(out, rep->not_tofu_after);
    } else {
        fputs("null, \"not_tofu_after\": null", out);
    }
    fprintf(out, ",\n  \"totals\": {\"passed\": %zu, \"failed\": %zu", passed(rep),
            rep->totals[TL_VERDICT_FAILED]);
    for (v = 0; v < TL_VERDICT_COUNT; v++) {
        fprintf(out, ", \"%s\": %zu", tl_conform_verdict_name((tl_conform_verdict)v), rep->totals[v]);
    }
    fprintf(out, "},\n  \"cases\": [");
    for (i = 0; i < rep->count; i++) {
        const tl_conform_result *r = &rep->results[i];
        char sec[32];

        section_of(r->info->id, sec, sizeof sec);
        fprintf(out, "%s\n    {\"id\": ", i ? "," : "");
        json_str(out, r->info->id);
        fprintf(out, ", \"section\": ");
        json_str(out, sec);
        fprintf(out, ", \"title\": ");
        json_str(out, r->info->title);
        fprintf(out, ", \"rule\": ");
        json_str(out, r->info->rule);
        fprintf(out,
                ",\n     \"destructive\": %s, \"heavy\": %s, \"verdict\": \"%s\", \"strict_escalated\": %s, "
                "\"run_order\": %u, \"time_ms\": %.3f,\n     \"detail\": ",
                (r->info->flags & TL_CONFORM_DESTRUCTIVE) ? "true" : "false",
                (r->info->flags & TL_CONFORM_HEAVY) ? "true" : "false", tl_conform_verdict_name(r->verdict),
                r->strict_escalated ? "true" : "false", r->run_order, ms(r->duration_us));
        json_lines(out, r->detail);
        fprintf(out, ",\n     \"events_dropped\": %zu, \"events\": [", r->events_dropped);
        for (j = 0; j < r->event_count; j++) {
            const tl_conform_event *e = &r->events[j];
            tlc_sb hex = {0}, dec = {0};

            fprintf(out, "%s\n       {\"dir\": \"%s\", \"conn\": %u, \"t_ms\": %.3f", j ? "," : "",
                    dir_name(e->dir), e->conn, ms(e->t_us));
            if (e->text != NULL) {
                fprintf(out, ", \"text\": ");
                json_str(out, e->text);
            }
            if (e->dir != TL_CONFORM_NOTE) {
                tlc_sb_hex(&hex, e->bytes, e->len);
                tlc_describe_frames(&dec, e->bytes, e->len, e->total);
                fprintf(out, ", \"bytes\": %zu, \"truncated\": %s, \"hex\": ", e->total,
                        e->len < e->total ? "true" : "false");
                json_str(out, hex.s);
                fprintf(out, ", \"decoded\": ");
                json_lines(out, dec.s);
            }
            fputc('}', out);
            tlc_sb_free(&hex);
            tlc_sb_free(&dec);
        }
        fprintf(out, "]}");
    }
    fprintf(out, "\n  ]\n}\n");
    fflush(out);
    return ferror(out) ? -1 : 0;
}

/* ---- XML / HTML escaping ---- */

static void xml_text(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");

    for (; *p != '\0'; p++) {
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        case '\n':
        case '\t': fputc(*p, out); break;
        default:
            if (*p < 0x20) {
                fputc('?', out);
            } else if (*p >= 0x7f) {
                fprintf(out, "&#x%x;", *p);
            } else {
                fputc(*p, out);
            }
        }
    }
}

/* ---- JUnit ---- */

int tl_conform_write_junit(FILE *out, const tl_conform_report *rep)
{
    size_t i;
    size_t skipped = rep->totals[TL_VERDICT_NOT_RUN] + rep->totals[TL_VERDICT_UNIMPLEMENTED];

    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(
        out,
        "<testsuites name=\"tofulab conform\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" "
        "time=\"%.3f\">\n",
        rep->count, rep->totals[TL_VERDICT_FAILED], skipped, (double)rep->duration_us / 1e6);
    fprintf(out, "  <testsuite name=\"tofulab conform (%s role, ", role_name(rep->role));
    xml_text(out, rep->peer);
    fprintf(out, ")\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"%.3f\" timestamp=\"",
            rep->count, rep->totals[TL_VERDICT_FAILED], skipped, (double)rep->duration_us / 1e6);
    xml_text(out, rep->started);
    fprintf(out, "\">\n");
    for (i = 0; i < rep->count; i++) {
        const tl_conform_result *r = &rep->results[i];
        char sec[32];
        char cls[48];
        size_t k;

        section_of(r->info->id, sec, sizeof sec);
        snprintf(cls, sizeof cls, "tofu.%s", sec);
        for (k = 0; cls[k] != '\0'; k++) {
            if (cls[k] == '/') {
                cls[k] = '.';
            }
        }
        fprintf(out, "    <testcase classname=\"%s\" name=\"", cls);
        xml_text(out, r->info->id);
        fputc(' ', out);
        xml_text(out, r->info->title);
        fprintf(out, "\" time=\"%.3f\">\n", (double)r->duration_us / 1e6);
        if (r->verdict == TL_VERDICT_FAILED) {
            size_t n = strcspn(r->detail != NULL ? r->detail : "", "\n");
            char first[512];

            snprintf(first, sizeof first, "%.*s", (int)(n < sizeof first - 1 ? n : sizeof first - 1),
                     r->detail != NULL ? r->detail : "");
            fprintf(out, "      <failure type=\"%s\" message=\"",
                    r->strict_escalated ? "NON-STRICT" : "FAILED");
            xml_text(out, first);
            fprintf(out, "\">");
            xml_text(out, r->detail);
            fprintf(out, "</failure>\n");
        } else if (r->verdict == TL_VERDICT_NOT_RUN || r->verdict == TL_VERDICT_UNIMPLEMENTED) {
            fprintf(out, "      <skipped message=\"%s: ", tl_conform_verdict_name(r->verdict));
            xml_text(out, r->detail);
            fprintf(out, "\"/>\n");
        }
        fprintf(out, "      <system-out>verdict %s; rule: ", tl_conform_verdict_name(r->verdict));
        xml_text(out, r->info->rule);
        fputc('\n', out);
        xml_text(out, r->detail);
        fprintf(out, "</system-out>\n    </testcase>\n");
    }
    fprintf(out, "  </testsuite>\n</testsuites>\n");
    fflush(out);
    return ferror(out) ? -1 : 0;
}

/* ---- HTML ---- */

static const char html_style[] =
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.4em}table.meta td{padding:0 1em 0 0}"
    ".totals{font-weight:bold;margin:1em 0}"
    "details.case{border-bottom:1px solid #ddd}"
    "details.case>summary{cursor:pointer;padding:.3em .2em;display:flex;gap:1em;align-items:baseline}"
    "details.case>summary span.ord{width:3em;text-align:right;color:#888}"
    "details.case>summary span.id{width:8em;font-family:monospace}"
    "details.case>summary span.v{width:9em;font-weight:bold}"
    "details.case>summary span.t{width:6em;text-align:right;color:#666}"
    ".v-OK span.v{color:#1a7f37}.v-FAILED span.v{color:#cf222e}.v-NON-STRICT span.v{color:#9a6700}"
    ".v-INFORMATIONAL span.v{color:#0969da}.v-UNIMPLEMENTED span.v,.v-NOT-RUN span.v{color:#888}"
    ".v-FAILED>summary{background:#ffebe9}.v-NON-STRICT>summary{background:#fff8c5}"
    ".body{padding:.5em 1em 1em 4em}pre{margin:0;white-space:pre-wrap;word-break:break-all}"
    "table.ev{border-collapse:collapse;margin-top:.5em;width:100%}"
    "table.ev td,table.ev th{border:1px solid #ddd;padding:.2em .4em;vertical-align:top;font-size:.85em}"
    "table.ev td.hex{font-family:monospace;width:36em}table.ev td.dec{font-family:monospace}"
    "tr.sent{background:#f6f8fa}tr.received{background:#fff}tr.note{background:#fbfbf0;color:#555}"
    ".badge{font-size:.75em;color:#888}";

static void html_hex(FILE *out, const uint8_t *b, size_t len, size_t total)
{
    size_t i;

    for (i = 0; i < len; i++) {
        fprintf(out, "%02x", b[i]);
        if (i + 1 < len && (i + 1) % 32 == 0) {
            fputc('\n', out);
        } else if (i + 1 < len && (i + 1) % 4 == 0) {
            fputc(' ', out);
        }
    }
    if (len < total) {
        fprintf(out, "\n... %zu more bytes not kept", total - len);
    }
}

int tl_conform_write_html(FILE *out, const tl_conform_report *rep)
{
    size_t i, j;
    tlc_sb tot = {0};

    totals_line(&tot, rep);
    fprintf(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>tofulab conform: ");
    xml_text(out, rep->peer);
    fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>tofulab conformance report</h1>\n",
            html_style);
    fprintf(out, "<table class=\"meta\">\n<tr><td>peer</td><td>");
    xml_text(out, rep->peer);
    fprintf(out, "</td></tr>\n<tr><td>role</td><td>%s</td></tr>\n<tr><td>strict</td><td>%s</td></tr>\n",
            role_name(rep->role), rep->strict ? "yes" : "no");
    fprintf(out, "<tr><td>timeout</td><td>%.2f s</td></tr>\n<tr><td>started</td><td>",
            (double)rep->timeout_ms / 1e3);
    xml_text(out, rep->started);
    fprintf(out, "</td></tr>\n<tr><td>duration</td><td>%.2f s</td></tr>\n", (double)rep->duration_us / 1e6);
    if (rep->role == TL_CONFORM_ROLE_SERVER) {
        fprintf(out,
                "<tr><td>budget-counted frames sent</td><td>%llu (tofu's EchoService stops after "
                "1100)</td></tr>\n",
                (unsigned long long)rep->regular_sent);
    }
    if (rep->peer_died) {
        fprintf(out, "<tr><td>peer</td><td>stopped answering after ");
        xml_text(out, rep->died_after);
        fprintf(out, "</td></tr>\n");
    }
    if (rep->not_tofu[0] != '\0') {
        fprintf(out, "<tr><td>verdict</td><td>the peer does not speak tofu (found by ");
        xml_text(out, rep->not_tofu_after);
        fprintf(out, "): ");
        xml_text(out, rep->not_tofu);
        fprintf(out, "</td></tr>\n");
    }
    fprintf(out, "</table>\n<p class=\"totals\">");
    xml_text(out, tot.s);
    fprintf(out, "</p>\n<div class=\"cases\">\n");
    tlc_sb_free(&tot);
    for (i = 0; i < rep->count; i++) {
        const tl_conform_result *r = &rep->results[i];
        const char *vn = tl_conform_verdict_name(r->verdict);

        fprintf(out, "<details class=\"case v-%s\"><summary><span class=\"ord\">", vn);
        if (r->run_order > 0) {
            fprintf(out, "%u", r->run_order);
        }
        fprintf(out, "</span><span class=\"id\">");
        xml_text(out, r->info->id);
        fprintf(out,
                "</span><span class=\"v\">%s</span><span class=\"t\">%.1f ms</span><span class=\"title\">",
                vn, ms(r->duration_us));
        xml_text(out, r->info->title);
        if (r->info->flags & TL_CONFORM_DESTRUCTIVE) {
            fprintf(out, " <span class=\"badge\">destructive</span>");
        }
        fprintf(out, "</span></summary>\n<div class=\"body\">\n<p>Rule: ");
        xml_text(out, r->info->rule);
        fprintf(out, "</p>\n");
        if (r->strict_escalated) {
            fprintf(out, "<p>NON-STRICT, reported as FAILED because of --strict.</p>\n");
        }
        if (r->detail != NULL && r->detail[0] != '\0') {
            fprintf(out, "<pre class=\"detail\">");
            xml_text(out, r->detail);
            fprintf(out, "</pre>\n");
        }
        if (r->event_count > 0) {
            fprintf(out, "<table class=\"ev\"><tr><th>t (ms)</th><th>conn</th><th>what</th><th>hex</th>"
                         "<th>decoded</th></tr>\n");
            for (j = 0; j < r->event_count; j++) {
                const tl_conform_event *e = &r->events[j];

                fprintf(out, "<tr class=\"%s\"><td>%.3f</td><td>%u</td><td>%s", dir_name(e->dir), ms(e->t_us),
                        e->conn, dir_name(e->dir));
                if (e->dir != TL_CONFORM_NOTE) {
                    fprintf(out, " %zu bytes", e->total);
                }
                if (e->text != NULL) {
                    fprintf(out, "<br>");
                    xml_text(out, e->text);
                }
                fprintf(out, "</td>");
                if (e->dir == TL_CONFORM_NOTE) {
                    fprintf(out, "<td></td><td></td></tr>\n");
                    continue;
                }
                fprintf(out, "<td class=\"hex\"><pre>");
                html_hex(out, e->bytes, e->len, e->total);
                fprintf(out, "</pre></td><td class=\"dec\"><pre>");
                {
                    tlc_sb dec = {0};

                    tlc_describe_frames(&dec, e->bytes, e->len, e->total);
                    xml_text(out, dec.s);
                    tlc_sb_free(&dec);
                }
                fprintf(out, "</pre></td></tr>\n");
            }
            if (r->events_dropped > 0) {
                fprintf(out, "<tr class=\"note\"><td colspan=\"5\">%zu further events not kept</td></tr>\n",
                        r->events_dropped);
            }
            fprintf(out, "</table>\n");
        }
        fprintf(out, "</div></details>\n");
    }
    fprintf(out, "</div>\n</body>\n</html>\n");
    fflush(out);
    return ferror(out) ? -1 : 0;
}
