/*
 * The HTML sequence diagram (html.h). Trace lines are parsed as they come:
 *
 *   <s>.<ns> <node> ch=<channel> <event> [details]
 *
 * `connect tcp|HOST|PORT` and `accept from HOST:PORT` tell which node is at
 * the other end of a channel; a `send OP id=N more=M` on such a channel
 * waits for the first `recv OP id=N` on the peer's side, and the arrow goes
 * from the one to the other. Sends with no known peer (the engine's own
 * notifications) are drawn as a loop on the sender's lane; sends never
 * received end in a cross.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"

#define LANE_W   200
#define ROW_H    18
#define LEFT     110
#define TOP      50
#define MAX_CHAN 1024

enum { R_SEND = 1, R_RECV, R_MARK, R_PARTITION };

typedef struct {
    int kind;
    int node, peer;  /* peer: -1 unknown */
    size_t recv_row; /* R_SEND: the row of its receive, SIZE_MAX if none */
    int local;       /* R_SEND: the engine's own notification (origin=engine) or no peer known */
    unsigned ch;
    char time[24];
    char label[96];
    char op[40];
    char cls[16];
} row;

typedef struct {
    int node;
    unsigned ch;
    int peer;
} chan;

struct tl_html {
    char **names;
    size_t nnodes;
    row *rows;
    size_t nrows, max_rows;
    chan chans[MAX_CHAN];
    size_t nchans;
    size_t frames, frames_drawn, left_out;
};

int tl_html_new(const char *const *nodes, size_t n, size_t max_rows, tl_html **out)
{
    tl_html *h = calloc(1, sizeof *h);
    *out = NULL;
    if (h == NULL) {
        return TL_E_NOMEM;
    }
    h->max_rows = max_rows ? max_rows : 4000;
    h->names = calloc(n ? n : 1, sizeof *h->names);
    h->rows = calloc(h->max_rows, sizeof *h->rows);
    if (h->names == NULL || h->rows == NULL) {
        tl_html_free(h);
        return TL_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(nodes[i]);
        if ((h->names[i] = malloc(len + 1)) == NULL) {
            h->nnodes = i;
            tl_html_free(h);
            return TL_E_NOMEM;
        }
        memcpy(h->names[i], nodes[i], len + 1);
    }
    h->nnodes = n;
    *out = h;
    return TL_OK;
}

void tl_html_free(tl_html *h)
{
    if (h == NULL) {
        return;
    }
    for (size_t i = 0; i < h->nnodes; i++) {
        free(h->names[i]);
    }
    free(h->names);
    free(h->rows);
    free(h);
}

size_t tl_html_frames(const tl_html *h, size_t *drawn)
{
    if (drawn) {
        *drawn = h->frames_drawn;
    }
    return h->frames;
}

static int node_index(const tl_html *h, const char *name, size_t len)
{
    for (size_t i = 0; i < h->nnodes; i++) {
        if (strlen(h->names[i]) == len && memcmp(h->names[i], name, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static chan *chan_find(tl_html *h, int node, unsigned ch, int create)
{
    for (size_t i = h->nchans; i-- > 0;) {
        if (h->chans[i].node == node && h->chans[i].ch == ch) {
            return &h->chans[i];
        }
    }
    if (!create || h->nchans == MAX_CHAN) {
        return NULL;
    }
    chan *c = &h->chans[h->nchans++];
    c->node = node;
    c->ch = ch;
    c->peer = -1;
    return c;
}

static row *add_row(tl_html *h, int kind, int node, const char *time, size_t tlen)
{
    if (h->nrows == h->max_rows) {
        h->left_out++;
        return NULL;
    }
    row *r = &h->rows[h->nrows++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->node = node;
    r->peer = -1;
    r->recv_row = SIZE_MAX;
    snprintf(r->time, sizeof r->time, "%.*s", (int)(tlen < 20 ? tlen : 20), time);
    return r;
}

/* the value of "key=" in s (up to a blank), copied */
static void field(const char *s, const char *key, char *out, size_t cap)
{
    const char *p = strstr(s, key);
    out[0] = '\0';
    if (p == NULL) {
        return;
    }
    p += strlen(key);
    size_t n = strcspn(p, " ");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

void tl_html_on_trace(void *ctx, const char *line, size_t len)
{
    tl_html *h = ctx;
    char buf[512];
    if (len >= sizeof buf) {
        len = sizeof buf - 1;
    }
    memcpy(buf, line, len);
    buf[len] = '\0';
    if (buf[0] == '#') {
        return;
    }
    /* time, node, ch=, event */
    char *sp1 = strchr(buf, ' ');
    if (sp1 == NULL) {
        return;
    }
    char *nodep = sp1 + 1;
    char *sp2 = strchr(nodep, ' ');
    if (sp2 == NULL || strncmp(sp2 + 1, "ch=", 3) != 0) {
        return;
    }
    int node = node_index(h, nodep, (size_t)(sp2 - nodep));
    unsigned ch = (unsigned)strtoul(sp2 + 4, NULL, 10);
    char *ev = strchr(sp2 + 1, ' ');
    if (ev != NULL && node < 0 && sp2 - nodep == 1 && *nodep == '*' && strcmp(ev + 1, "heal all") == 0) {
        node = 0; /* `heal TIME`: a line across every lane, like a partition's */
    }
    if (node < 0 || ev == NULL) {
        return;
    }
    ev++;
    size_t tlen = (size_t)(sp1 - buf);
    row *r;
    if (strncmp(ev, "connect tcp|", 12) == 0) {
        const char *host = ev + 12;
        size_t hl = strcspn(host, "|");
        chan *c = chan_find(h, node, ch, 1);
        if (c) {
            c->peer = node_index(h, host, hl);
        }
    } else if (strncmp(ev, "accept from ", 12) == 0) {
        const char *host = ev + 12;
        size_t hl = strcspn(host, ":");
        chan *c = chan_find(h, node, ch, 1);
        if (c) {
            c->peer = node_index(h, host, hl);
        }
    } else if (strncmp(ev, "send ", 5) == 0) {
        h->frames++;
        if ((r = add_row(h, R_SEND, node, buf, tlen)) == NULL) {
            return;
        }
        h->frames_drawn++;
        chan *c = chan_find(h, node, ch, 0);
        r->ch = ch;
        r->peer = c ? c->peer : -1;
        /* the peer may be learnt later in the same instant (connect): see peer_of */
        r->local = strstr(ev, "origin=engine") != NULL;
        size_t on = strcspn(ev + 5, " ");
        snprintf(r->op, sizeof r->op, "%.*s", (int)(on < 39 ? on : 39), ev + 5);
        char id[24], more[8];
        field(ev, " id=", id, sizeof id);
        field(ev, " more=", more, sizeof more);
        snprintf(r->label, sizeof r->label, "%s id=%s more=%s", r->op, id, more);

    } else if (strncmp(ev, "recv ", 5) == 0 && strstr(ev, "origin=engine") == NULL) {
        chan *c = chan_find(h, node, ch, 0);
        if (c == NULL || c->peer < 0) {
            return;
        }
        char op[40], id[24];
        size_t on = strcspn(ev + 5, " ");
        snprintf(op, sizeof op, "%.*s", (int)(on < 39 ? on : 39), ev + 5);
        field(ev, " id=", id, sizeof id);
        for (size_t i = 0; i < h->nrows; i++) {
            row *s = &h->rows[i];
            char sid[24];
            if (s->kind != R_SEND || s->local || s->recv_row != SIZE_MAX || s->node != c->peer ||
                strcmp(s->op, op) != 0) {
                continue;
            }
            if (s->peer < 0) {
                const chan *sc = chan_find(h, s->node, s->ch, 0);
                s->peer = sc ? sc->peer : -1;
            }
            if (s->peer != node) {
                continue;
            }
            field(s->label, " id=", sid, sizeof sid);
            if (strcmp(sid, id) != 0) {
                continue;
            }
            if ((r = add_row(h, R_RECV, node, buf, tlen)) != NULL) {
                s->recv_row = h->nrows - 1;
            }
            return;
        }
    } else {
        static const struct {
            const char *prefix;
            const char *cls;
        } marks[] = {{"crash", "death"},          {"silent-death", "death"},
                     {"restart", "death"},        {"pause", "pause"},
                     {"resume", "pause"},         {"stop-listener", "death"},
                     {"partition", "partition"},  {"heal", "partition"},
                     {"lost ", "lost"},           {"rexmit ", "rexmit"},
                     {"timeout ", "lost"},        {"rst from", "lost"},
                     {"closed reason=", "close"}, {"start incarnation", "start"},
                     {"link ", "partition"}};
        for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
            if (strncmp(ev, marks[i].prefix, strlen(marks[i].prefix)) == 0) {
                if ((r = add_row(h, strcmp(marks[i].cls, "partition") == 0 ? R_PARTITION : R_MARK, node, buf,
                                 tlen)) == NULL) {
                    return;
                }
                snprintf(r->label, sizeof r->label, "%.*s", (int)sizeof r->label - 1, ev);
                snprintf(r->cls, sizeof r->cls, "%s", marks[i].cls);
                return;
            }
        }
    }
}

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static int lane_x(size_t i) { return LEFT + LANE_W / 2 + (int)i * LANE_W; }
static int row_y(size_t i) { return TOP + 20 + (int)i * ROW_H; }

int tl_html_write(const tl_html *h, FILE *f, const char *title)
{
    int width = LEFT + (int)(h->nnodes ? h->nnodes : 1) * LANE_W + 40;
    int height = row_y(h->nrows) + 20;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
    esc(f, title);
    fputs("</title>\n<style>\n"
          "body{font-family:sans-serif;margin:1em}\n"
          "svg{font-family:monospace;font-size:11px}\n"
          ".lane{stroke:#999;stroke-dasharray:4 3}\n"
          ".lanename{font-weight:bold;font-size:13px}\n"
          ".frame line{stroke:#1f5fbf;marker-end:url(#arrow)}\n"
          ".frame text{fill:#1f5fbf}\n"
          ".frame.unreceived line{stroke:#bf1f1f;stroke-dasharray:3 2;marker-end:url(#arrowr)}\n"
          ".frame.local path{stroke:#7a7a7a;fill:none;marker-end:url(#arrowg)}\n"
          ".frame.local text{fill:#7a7a7a}\n"
          ".time{fill:#666}\n"
          ".mark text{font-weight:bold;fill:currentColor}.mark circle{fill:currentColor}\n"
          ".death{color:#b00000}.pause{color:#a06000}.lost{color:#d03030}\n"
          ".rexmit{color:#d07000}.close{color:#555}.start{color:#007000}\n"
          ".partition{color:#b000b0}.partition line{stroke:#b000b0;stroke-width:2;stroke-dasharray:8 4}\n"
          "</style>\n</head>\n<body>\n<h1>",
          f);
    esc(f, title);
    fprintf(f, "</h1>\n<p>%zu nodes, %zu frames", h->nnodes, h->frames);
    if (h->left_out) {
        fprintf(f,
                "; <strong>only the first %zu rows are drawn (%zu frames); %zu more events were left "
                "out</strong>",
                h->nrows, h->frames_drawn, h->left_out);
    }
    fputs(
        ". Blue: a frame from send to receive (op, id, more); grey loop: the engine's own notification; red "
        "dashed: never received. Marks: crash/restart (dark red), pause, lost segments, retransmissions, "
        "partitions (purple).</p>\n",
        f);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n"
            "<defs>\n",
            width, height, width, height);
    static const struct {
        const char *id, *color;
    } arrows[] = {{"arrow", "#1f5fbf"}, {"arrowr", "#bf1f1f"}, {"arrowg", "#7a7a7a"}};
    for (size_t i = 0; i < 3; i++) {
        fprintf(f,
                "<marker id=\"%s\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" "
                "markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"%s\"/></marker>\n",
                arrows[i].id, arrows[i].color);
    }
    fputs("</defs>\n", f);
    for (size_t i = 0; i < h->nnodes; i++) {
        fprintf(f, "<g class=\"node\"><text class=\"lanename\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
                lane_x(i), TOP);
        esc(f, h->names[i]);
        fprintf(f, "</text><line class=\"lane\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/></g>\n", lane_x(i),
                TOP + 6, lane_x(i), height - 10);
    }
    for (size_t i = 0; i < h->nrows; i++) {
        const row *r = &h->rows[i];
        int x = lane_x((size_t)r->node), y = row_y(i);
        if (r->kind == R_RECV) {
            continue;
        }
        fprintf(f, "<text class=\"time\" x=\"4\" y=\"%d\">%s</text>", y + 4, r->time);
        if (r->kind == R_SEND && (r->local || r->peer < 0)) {
            fprintf(f, "<g class=\"frame local\"><path d=\"M%d,%d h24 v%d h-22\"/><text x=\"%d\" y=\"%d\">",
                    x, y - 4, ROW_H / 2, x + 28, y + 4);
            esc(f, r->label);
            fputs("</text></g>\n", f);
        } else if (r->kind == R_SEND) {
            int x2 = lane_x((size_t)r->peer);
            int y2 = r->recv_row != SIZE_MAX ? row_y(r->recv_row) : y + ROW_H;
            int unreceived = r->recv_row == SIZE_MAX;
            if (unreceived) {
                x2 = x + (x2 - x) / 2;
            }
            fprintf(f, "<g class=\"frame%s\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>",
                    unreceived ? " unreceived" : "", x, y, x2, y2);
            if (unreceived) {
                fprintf(f, "<text x=\"%d\" y=\"%d\">&#x2715;</text>", x2 - 4, y2 + 4);
            }
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\">", x + (x2 > x ? 6 : -6), y - 3,
                    x2 > x ? "start" : "end");
            esc(f, r->label);
            fputs("</text></g>\n", f);
        } else if (r->kind == R_PARTITION) {
            fprintf(
                f,
                "<g class=\"mark partition\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><text x=\"%d\" "
                "y=\"%d\">",
                LEFT, y, width - 20, y, x + 6, y - 3);
            esc(f, r->label);
            fputs("</text></g>\n", f);
        } else {
            fprintf(f,
                    "<g class=\"mark %s\"><circle cx=\"%d\" cy=\"%d\" r=\"4\"/><text "
                    "x=\"%d\" "
                    "y=\"%d\">",
                    r->cls, x, y, x + 8, y + 4);
            esc(f, r->label);
            fputs("</text></g>\n", f);
        }
    }
    fputs("</svg>\n</body>\n</html>\n", f);
    return ferror(f) ? TL_E_IO : TL_OK;
}
