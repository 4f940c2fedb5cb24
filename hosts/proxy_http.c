/*
 * The proxy's control API (hosts/proxy_http.h, docs/proxy.md).
 *
 * toxiproxy's endpoints: GET/POST /proxies, POST /populate, GET/POST/PATCH/
 * DELETE /proxies/{proxy}, GET/POST /proxies/{proxy}/toxics, GET/POST/PATCH/
 * DELETE /proxies/{proxy}/toxics/{toxic}, POST /reset, GET /version. Ours:
 * POST /proxies/{proxy}/faults (fault or action words, as `--fault`),
 * GET /proxies/{proxy}/connections (each connection's frames in flight),
 * GET /proxies/{proxy}/stats, POST /heal. libmicrohttpd parses HTTP and runs
 * the handlers on its own thread; jansson reads and writes the JSON.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy_http.h"
#include "proxy_internal.h"

#define BODY_MAX (64u * 1024u)

struct tl_proxy_http {
    tl_proxy *px;
    struct MHD_Daemon *d;
    uint16_t port;
};

typedef struct {
    char *buf;
    size_t len;
    int too_big;
} req_body;

/* ------------------------------------------------------------ replies */

static enum MHD_Result reply_text(struct MHD_Connection *con, unsigned status, const char *ctype,
                                  const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    if (ctype != NULL) {
        MHD_add_response_header(r, "Content-Type", ctype);
    }
    enum MHD_Result rc = MHD_queue_response(con, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* Takes the reference. */
static enum MHD_Result reply_json(struct MHD_Connection *con, unsigned status, json_t *j)
{
    if (j == NULL) {
        return reply_text(con, 500, "application/json", "{\"error\":\"out of memory\",\"status\":500}");
    }
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s == NULL) {
        return reply_text(con, 500, "application/json", "{\"error\":\"out of memory\",\"status\":500}");
    }
    enum MHD_Result rc = reply_text(con, status, "application/json", s);
    free(s);
    return rc;
}

static enum MHD_Result reply_error(struct MHD_Connection *con, unsigned status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static enum MHD_Result reply_error(struct MHD_Connection *con, unsigned status, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return reply_json(con, status, json_pack("{s:s,s:i}", "error", msg, "status", (int)status));
}

static enum MHD_Result reply_empty(struct MHD_Connection *con, unsigned status)
{
    return reply_text(con, status, NULL, "");
}

static unsigned status_of(int rc)
{
    switch (rc) {
    case TL_E_NOT_FOUND: return 404;
    case TL_E_STATE: return 409;
    case TL_E_IO: return 500;
    case TL_E_NOMEM: return 500;
    default: return 400;
    }
}

/* ------------------------------------------------------------ JSON views (lock held) */

/* toxiproxy shows listen as HOST:PORT. */
static void listen_view(const px_route *r, char *out, size_t cap)
{
    tl_address a;
    const char *b = r->listen_bound[0] ? r->listen_bound : r->listen_text;
    if (tl_address_parse(b, strlen(b), &a) == TL_OK && a.kind == TL_ADDR_TCP) {
        if (strchr(a.host, ':') != NULL) {
            snprintf(out, cap, "[%s]:%u", a.host, (unsigned)a.port);
        } else {
            snprintf(out, cap, "%s:%u", a.host, (unsigned)a.port);
        }
    } else {
        snprintf(out, cap, "%s", b);
    }
}

static json_t *toxic_json(const tl_px_fault *f)
{
    tl_px_attr a[8];
    size_t n = tl_px_fault_attrs(f, a, 8);
    json_t *attrs = json_object();
    for (size_t i = 0; i < n; i++) {
        json_object_set_new(attrs, a[i].name,
                            a[i].text ? json_string(a[i].text) : json_integer((json_int_t)a[i].number));
    }
    return json_pack("{s:s,s:s,s:s,s:f,s:o}", "name", f->name, "type", f->type, "stream",
                     f->dir == TL_PX_UP ? "upstream" : "downstream", "toxicity",
                     (double)f->toxicity_ppb / (double)TL_SIM_PPB, "attributes", attrs);
}

static json_t *toxics_json(const px_route *r)
{
    json_t *arr = json_array();
    for (int s = 0; s < TL_PX_FAULTS_MAX; s++) {
        if (r->slots[s].used) {
            json_array_append_new(arr, toxic_json(&r->slots[s].f));
        }
    }
    return arr;
}

static json_t *proxy_json(const px_route *r)
{
    char l[320];
    listen_view(r, l, sizeof l);
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:o}", "name", r->name, "listen", l, "tofu_listen",
                     r->listen_bound[0] ? r->listen_bound : r->listen_text, "upstream", r->upstream_text,
                     "enabled", r->enabled && r->downs == 0, "toxics", toxics_json(r));
}

static json_t *dir_json(const px_dir *d)
{
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:b}", "frames", (json_int_t)d->frames, "bytes_in",
                          (json_int_t)d->in, "bytes_out", (json_int_t)d->out, "queued", (json_int_t)d->queued,
                          "held", (json_int_t)0, "malformed", d->rd_broken);
    json_int_t held = 0;
    for (const px_piece *p = d->held; p != NULL; p = p->next) {
        held++;
    }
    json_object_set_new(o, "held", json_integer(held));
    size_t pending = d->rd_broken ? 0 : tl_reader_pending(&d->rd);
    if (pending > 0) {
        json_t *f = json_pack("{s:I,s:I,s:I,s:I}", "frame", (json_int_t)(d->frames + 1), "at",
                              (json_int_t)d->frame_start, "have", (json_int_t)pending, "missing",
                              (json_int_t)tl_reader_missing(&d->rd));
        if (d->rd.hdr_have == TL_HEADER_SIZE) {
            const tl_header *h = &d->rd.hdr;
            const char *nm = tl_opcode_name(tl_proto_opcode(h->proto));
            json_object_set_new(f, "op", nm ? json_string(nm) : json_integer(tl_proto_opcode(h->proto)));
            json_object_set_new(f, "channel", json_integer(h->channel));
            json_object_set_new(f, "id", json_integer((json_int_t)h->message_id));
            json_object_set_new(f, "thl", json_integer(h->thl));
            json_object_set_new(f, "bl", json_integer(h->bl));
        }
        json_object_set_new(o, "in_flight", f);
    } else {
        json_object_set_new(o, "in_flight", json_null());
    }
    return o;
}

static json_t *connections_json(const px_route *r)
{
    json_t *arr = json_array();
    for (const px_conn *c = r->conns; c != NULL; c = c->next) {
        if (c->dying) {
            continue;
        }
        json_array_append_new(arr, json_pack("{s:I,s:s,s:b,s:o,s:o}", "id", (json_int_t)c->id, "client",
                                             c->client_addr, "connected", c->up_connected, "upstream",
                                             dir_json(&c->d[TL_PX_UP]), "downstream",
                                             dir_json(&c->d[TL_PX_DOWN])));
    }
    return arr;
}

static json_t *stats_json(const tl_proxy_stats *s)
{
    return json_pack(
        "{s:I,s:I,s:I,s:[I,I],s:[I,I],s:[I,I],s:[I,I],s:I,s:I,s:I,s:I}", "connections",
        (json_int_t)s->connections, "open", (json_int_t)s->open, "upstream_failures",
        (json_int_t)s->upstream_failures, "frames", (json_int_t)s->frames[0], (json_int_t)s->frames[1],
        "bytes_in", (json_int_t)s->bytes_in[0], (json_int_t)s->bytes_in[1], "bytes_out",
        (json_int_t)s->bytes_out[0], (json_int_t)s->bytes_out[1], "dropped", (json_int_t)s->dropped[0],
        (json_int_t)s->dropped[1], "held", (json_int_t)s->held, "injected", (json_int_t)s->injected, "resets",
        (json_int_t)s->resets, "malformed", (json_int_t)s->malformed);
}

/* ------------------------------------------------------------ handlers */

static json_t *parse_body(const req_body *b, struct MHD_Connection *con, enum MHD_Result *rc)
{
    json_error_t je;
    json_t *j = json_loadb(b->buf ? b->buf : "", b->len, 0, &je);
    if (j == NULL) {
        *rc = reply_error(con, 400, "bad request body: %s (line %d, column %d)", je.text, je.line, je.column);
    }
    return j;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static enum MHD_Result proxy_create(tl_proxy *px, struct MHD_Connection *con, json_t *in, int replace,
                                    json_t *collect)
{
    char err[400];
    const char *name = jstr(in, "name"), *listen = jstr(in, "listen"), *upstream = jstr(in, "upstream");
    json_t *en = json_object_get(in, "enabled");
    int enabled = en == NULL ? 1 : json_is_true(en);
    if (name == NULL || name[0] == '\0') {
        return collect ? MHD_YES : reply_error(con, 400, "missing required field: name");
    }
    if (upstream == NULL || upstream[0] == '\0') {
        return collect ? MHD_YES : reply_error(con, 400, "missing required field: upstream");
    }
    if (listen == NULL || listen[0] == '\0') {
        listen = "127.0.0.1:0";
    }
    if (replace) {
        pthread_mutex_lock(&px->lock);
        px_route *r = px_route_find(px, name);
        int same =
            r != NULL && strcmp(r->listen_text, listen) == 0 && strcmp(r->upstream_text, upstream) == 0;
        pthread_mutex_unlock(&px->lock);
        if (same) {
            return MHD_YES;
        }
        if (r != NULL) {
            tl_proxy_route_remove(px, name);
        }
    }
    int rc = tl_proxy_route_add(px, name, listen, upstream, enabled, err, sizeof err);
    if (rc != TL_OK) {
        if (collect != NULL) {
            json_object_set_new(collect, "error", json_string(err));
            return MHD_YES;
        }
        return reply_error(con, rc == TL_E_STATE ? 409 : status_of(rc), "%s", err);
    }
    if (collect != NULL) {
        return MHD_YES;
    }
    pthread_mutex_lock(&px->lock);
    px_route *r = px_route_find(px, name);
    json_t *out = r ? proxy_json(r) : NULL;
    pthread_mutex_unlock(&px->lock);
    return reply_json(con, 201, out);
}

static enum MHD_Result toxic_create(tl_proxy *px, struct MHD_Connection *con, const char *proxy, json_t *in,
                                    const char *fixed_name, const tl_px_fault *old)
{
    char err[400];
    const char *type = jstr(in, "type");
    const char *stream = jstr(in, "stream");
    const char *name = jstr(in, "name");
    int dir = TL_PX_DOWN;
    if (old != NULL) {
        type = old->type;
        dir = old->dir;
        name = old->name;
    } else {
        if (type == NULL) {
            return reply_error(con, 400, "missing required field: type");
        }
        if (stream != NULL && strcmp(stream, "upstream") == 0) {
            dir = TL_PX_UP;
        } else if (stream != NULL && strcmp(stream, "downstream") != 0) {
            return reply_error(con, 400, "stream was invalid, can be either upstream or downstream");
        }
    }
    if (fixed_name != NULL) {
        name = fixed_name;
    }
    tl_px_attr attrs[16];
    size_t na = 0;
    if (old != NULL) {
        na = tl_px_fault_attrs(old, attrs, 16);
    }
    json_t *ja = json_object_get(in, "attributes");
    if (ja != NULL && !json_is_object(ja)) {
        return reply_error(con, 400, "bad request body: attributes must be an object");
    }
    const char *key;
    json_t *v;
    json_object_foreach(ja, key, v)
    {
        size_t k = 0;
        while (k < na && strcmp(attrs[k].name, key) != 0) {
            k++;
        }
        if (k == na) {
            if (na == 16) {
                return reply_error(con, 400, "bad request body: too many attributes");
            }
            na++;
        }
        attrs[k].name = key;
        attrs[k].text = json_is_string(v) ? json_string_value(v) : NULL;
        attrs[k].number = json_is_number(v) ? json_number_value(v) : -1;
    }
    tl_px_fault f;
    if (tl_px_fault_from_toxic(type, dir, attrs, na, &f, err, sizeof err) != 0) {
        return reply_error(con, 400, "%s", err);
    }
    json_t *tx = json_object_get(in, "toxicity");
    if (tx != NULL) {
        double t = json_number_value(tx);
        if (!json_is_number(tx) || t < 0 || t > 1) {
            return reply_error(con, 400, "bad request body: toxicity must be a number from 0 to 1");
        }
        f.toxicity_ppb = (uint32_t)(t * (double)TL_SIM_PPB + 0.5);
    } else if (old != NULL) {
        f.toxicity_ppb = old->toxicity_ppb;
    }
    if (name != NULL) {
        if (strlen(name) >= TL_PX_NAME_MAX) {
            return reply_error(con, 400, "toxic name too long (at most %d bytes)", TL_PX_NAME_MAX - 1);
        }
        snprintf(f.name, sizeof f.name, "%s", name);
    }
    if (old != NULL) {
        tl_px_fault rm;
        memset(&rm, 0, sizeof rm);
        rm.kind = TL_PXA_REMOVE;
        snprintf(rm.name, sizeof rm.name, "%s", old->name);
        (void)tl_proxy_apply(px, proxy, &rm, err, sizeof err);
    }
    int rc = tl_proxy_apply(px, proxy, &f, err, sizeof err);
    if (rc != TL_OK) {
        return reply_error(con, rc == TL_E_STATE ? 409 : status_of(rc), "%s",
                           rc == TL_E_STATE ? "toxic already exists" : err);
    }
    if (f.name[0] == '\0') {
        snprintf(f.name, sizeof f.name, "%s_%s", f.type, dir == TL_PX_UP ? "upstream" : "downstream");
    }
    return reply_json(con, 200, toxic_json(&f));
}

static int find_toxic(px_route *r, const char *name, tl_px_fault *out)
{
    for (int s = 0; s < TL_PX_FAULTS_MAX; s++) {
        if (r->slots[s].used && strcmp(r->slots[s].f.name, name) == 0) {
            *out = r->slots[s].f;
            return 1;
        }
    }
    return 0;
}

/* /proxies/{proxy}[/{what}[/{toxic}]] */
static int split_path(const char *url, char *proxy, size_t pcap, char *what, size_t wcap, char *toxic,
                      size_t tcap)
{
    const char *p = url + strlen("/proxies/");
    const char *s1 = strchr(p, '/');
    size_t n = s1 ? (size_t)(s1 - p) : strlen(p);
    if (n == 0 || n >= pcap) {
        return -1;
    }
    memcpy(proxy, p, n);
    proxy[n] = '\0';
    what[0] = toxic[0] = '\0';
    if (s1 == NULL || s1[1] == '\0') {
        return 0;
    }
    p = s1 + 1;
    const char *s2 = strchr(p, '/');
    n = s2 ? (size_t)(s2 - p) : strlen(p);
    if (n >= wcap) {
        return -1;
    }
    memcpy(what, p, n);
    what[n] = '\0';
    if (s2 == NULL || s2[1] == '\0') {
        return 0;
    }
    p = s2 + 1;
    n = strlen(p);
    if (n >= tcap || strchr(p, '/') != NULL) {
        return -1;
    }
    memcpy(toxic, p, n + 1);
    return 0;
}

static enum MHD_Result route_request(tl_proxy_http *h, struct MHD_Connection *con, const char *url,
                                     const char *method, const req_body *body)
{
    tl_proxy *px = h->px;
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0,
        patch = strcmp(method, "PATCH") == 0, del = strcmp(method, "DELETE") == 0;
    enum MHD_Result rc = MHD_YES;
    char err[400];

    if (strcmp(url, "/version") == 0 && get) {
        return reply_text(con, 200, "application/json;charset=utf-8", "{\"version\": \"tofulab-0.1.0\"}\n");
    }
    if ((strcmp(url, "/reset") == 0 || strcmp(url, "/heal") == 0) && post) {
        pthread_mutex_lock(&px->lock);
        for (px_route *r = px->routes; r != NULL; r = r->next) {
            r->enabled = 1;
        }
        pthread_mutex_unlock(&px->lock);
        tl_proxy_heal(px, NULL);
        return reply_empty(con, 204);
    }
    if (strcmp(url, "/proxies") == 0 && get) {
        json_t *o = json_object();
        pthread_mutex_lock(&px->lock);
        for (px_route *r = px->routes; r != NULL; r = r->next) {
            json_object_set_new(o, r->name, proxy_json(r));
        }
        pthread_mutex_unlock(&px->lock);
        return reply_json(con, 200, o);
    }
    if (strcmp(url, "/proxies") == 0 && post) {
        json_t *in = parse_body(body, con, &rc);
        if (in == NULL) {
            return rc;
        }
        if (!json_is_object(in)) {
            json_decref(in);
            return reply_error(con, 400, "bad request body: expected a JSON object");
        }
        rc = proxy_create(px, con, in, 0, NULL);
        json_decref(in);
        return rc;
    }
    if (strcmp(url, "/populate") == 0 && post) {
        json_t *in = parse_body(body, con, &rc);
        if (in == NULL) {
            return rc;
        }
        if (!json_is_array(in)) {
            json_decref(in);
            return reply_error(con, 400, "bad request body: expected a JSON array of proxies");
        }
        json_t *status = json_object();
        size_t i;
        json_t *v;
        json_array_foreach(in, i, v)
        {
            if (json_is_object(v)) {
                proxy_create(px, con, v, 1, status);
            }
        }
        json_decref(in);
        json_t *list = json_array();
        pthread_mutex_lock(&px->lock);
        for (px_route *r = px->routes; r != NULL; r = r->next) {
            json_array_append_new(list, proxy_json(r));
        }
        pthread_mutex_unlock(&px->lock);
        json_object_set_new(status, "proxies", list);
        return reply_json(con, json_object_get(status, "error") ? 400 : 201, status);
    }
    if (strncmp(url, "/proxies/", 9) != 0) {
        return reply_error(con, 404, "no such endpoint: %s %s", method, url);
    }
    char proxy[TL_PX_NAME_MAX], what[32], toxic[TL_PX_NAME_MAX];
    if (split_path(url, proxy, sizeof proxy, what, sizeof what, toxic, sizeof toxic) != 0) {
        return reply_error(con, 404, "no such endpoint: %s %s", method, url);
    }
    pthread_mutex_lock(&px->lock);
    px_route *r = px_route_find(px, proxy);
    pthread_mutex_unlock(&px->lock);
    if (r == NULL) {
        return reply_error(con, 404, "proxy not found");
    }
    if (what[0] == '\0') {
        if (get) {
            pthread_mutex_lock(&px->lock);
            r = px_route_find(px, proxy);
            json_t *o = r ? proxy_json(r) : NULL;
            pthread_mutex_unlock(&px->lock);
            return o ? reply_json(con, 200, o) : reply_error(con, 404, "proxy not found");
        }
        if (del) {
            return tl_proxy_route_remove(px, proxy) == TL_OK ? reply_empty(con, 204)
                                                             : reply_error(con, 404, "proxy not found");
        }
        if (post || patch) {
            json_t *in = parse_body(body, con, &rc);
            if (in == NULL) {
                return rc;
            }
            json_t *en = json_object_get(in, "enabled");
            int r2 = tl_proxy_route_update(px, proxy, jstr(in, "listen"), jstr(in, "upstream"),
                                           en ? json_is_true(en) : -1, err, sizeof err);
            json_decref(in);
            if (r2 != TL_OK) {
                return reply_error(con, status_of(r2), "%s", err);
            }
            pthread_mutex_lock(&px->lock);
            r = px_route_find(px, proxy);
            json_t *o = r ? proxy_json(r) : NULL;
            pthread_mutex_unlock(&px->lock);
            return reply_json(con, 200, o);
        }
        return reply_error(con, 405, "method %s not allowed on %s", method, url);
    }
    if (strcmp(what, "toxics") == 0) {
        if (toxic[0] == '\0') {
            if (get) {
                pthread_mutex_lock(&px->lock);
                r = px_route_find(px, proxy);
                json_t *o = r ? toxics_json(r) : NULL;
                pthread_mutex_unlock(&px->lock);
                return o ? reply_json(con, 200, o) : reply_error(con, 404, "proxy not found");
            }
            if (post) {
                json_t *in = parse_body(body, con, &rc);
                if (in == NULL) {
                    return rc;
                }
                rc = json_is_object(in) ? toxic_create(px, con, proxy, in, NULL, NULL)
                                        : reply_error(con, 400, "bad request body: expected a JSON object");
                json_decref(in);
                return rc;
            }
            return reply_error(con, 405, "method %s not allowed on %s", method, url);
        }
        tl_px_fault f;
        pthread_mutex_lock(&px->lock);
        r = px_route_find(px, proxy);
        int found = r != NULL && find_toxic(r, toxic, &f);
        pthread_mutex_unlock(&px->lock);
        if (!found) {
            return reply_error(con, 404, "toxic not found");
        }
        if (get) {
            return reply_json(con, 200, toxic_json(&f));
        }
        if (del) {
            tl_px_fault rm;
            memset(&rm, 0, sizeof rm);
            rm.kind = TL_PXA_REMOVE;
            snprintf(rm.name, sizeof rm.name, "%s", toxic);
            return tl_proxy_apply(px, proxy, &rm, err, sizeof err) == TL_OK
                       ? reply_empty(con, 204)
                       : reply_error(con, 404, "toxic not found");
        }
        if (post || patch) {
            json_t *in = parse_body(body, con, &rc);
            if (in == NULL) {
                return rc;
            }
            rc = json_is_object(in) ? toxic_create(px, con, proxy, in, toxic, &f)
                                    : reply_error(con, 400, "bad request body: expected a JSON object");
            json_decref(in);
            return rc;
        }
        return reply_error(con, 405, "method %s not allowed on %s", method, url);
    }
    if (strcmp(what, "faults") == 0 && toxic[0] == '\0' && post) {
        /* words, as text or as {"fault": "words"} */
        char words[600];
        size_t n = body->len < sizeof words - 1 ? body->len : sizeof words - 1;
        memcpy(words, body->buf ? body->buf : "", n);
        words[n] = '\0';
        if (n > 0 && words[0] == '{') {
            json_t *in = parse_body(body, con, &rc);
            if (in == NULL) {
                return rc;
            }
            const char *w = jstr(in, "fault");
            if (w == NULL) {
                json_decref(in);
                return reply_error(con, 400, "bad request body: expected {\"fault\": \"WORDS\"}");
            }
            snprintf(words, sizeof words, "%s", w);
            json_decref(in);
        }
        while (n > 0 && (words[n - 1] == '\n' || words[n - 1] == '\r')) {
            words[--n] = '\0';
        }
        tl_px_fault f[2];
        int nf = tl_px_fault_parse(words, f, err, sizeof err);
        if (nf < 0) {
            return reply_error(con, 400, "fault words: %s", err);
        }
        json_t *out = json_array();
        for (int i = 0; i < nf; i++) {
            int r2 = tl_proxy_apply(px, proxy, &f[i], err, sizeof err);
            if (r2 != TL_OK) {
                json_decref(out);
                return reply_error(con, status_of(r2), "%s", err);
            }
            if (f[i].kind < TL_PXA_RESET && !(f[i].kind == TL_PXF_STALL && f[i].frame == 0) &&
                !(f[i].kind == TL_PXF_INJECT && f[i].frame == 0)) {
                if (f[i].name[0] == '\0') {
                    snprintf(f[i].name, sizeof f[i].name, "%s_%s", f[i].type,
                             f[i].dir == TL_PX_UP ? "upstream" : "downstream");
                }
                json_array_append_new(out, toxic_json(&f[i]));
            }
        }
        return reply_json(con, 200, out);
    }
    if (strcmp(what, "connections") == 0 && toxic[0] == '\0' && get) {
        pthread_mutex_lock(&px->lock);
        r = px_route_find(px, proxy);
        json_t *o = r ? connections_json(r) : NULL;
        pthread_mutex_unlock(&px->lock);
        return o ? reply_json(con, 200, o) : reply_error(con, 404, "proxy not found");
    }
    if (strcmp(what, "stats") == 0 && toxic[0] == '\0' && get) {
        tl_proxy_stats st;
        tl_proxy_get_stats(px, proxy, &st);
        return reply_json(con, 200, stats_json(&st));
    }
    return reply_error(con, 404, "no such endpoint: %s %s", method, url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    tl_proxy_http *h = cls;
    req_body *b = *con_cls;
    (void)version;
    if (b == NULL) {
        b = calloc(1, sizeof *b);
        if (b == NULL) {
            return MHD_NO;
        }
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (b->len + *upload_data_size > BODY_MAX) {
            b->too_big = 1;
        } else {
            char *nb = realloc(b->buf, b->len + *upload_data_size + 1);
            if (nb == NULL) {
                return MHD_NO;
            }
            memcpy(nb + b->len, upload_data, *upload_data_size);
            b->buf = nb;
            b->len += *upload_data_size;
            b->buf[b->len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (b->too_big) {
        return reply_error(con, 413, "request body larger than %u bytes", BODY_MAX);
    }
    return route_request(h, con, url, method, b);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req_body *b = *con_cls;
    (void)cls;
    (void)con;
    (void)toe;
    if (b != NULL) {
        free(b->buf);
        free(b);
        *con_cls = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 0)))
#endif
    ;

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    tl_proxy_http *h = cls;
    FILE *f = h->px->opt.log ? h->px->opt.log : stderr;
    char line[400];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n') {
        line[--n] = '\0';
    }
    fprintf(f, "tofulab: proxy api: %s\n", line);
}

int tl_proxy_http_start(tl_proxy *px, const char *addr, tl_proxy_http **out, char *err, size_t cap)
{
    tl_address a;
    char tofu[TL_ADDR_TEXT_MAX + 16];
    *out = NULL;
    if (tl_address_parse(addr, strlen(addr), &a) != TL_OK) {
        const char *colon = strrchr(addr, ':');
        if (colon == NULL) {
            snprintf(err, cap, "bad API address '%s': expected HOST:PORT or tcp|HOST|PORT", addr);
            return TL_E_BAD_ADDRESS;
        }
        snprintf(tofu, sizeof tofu, "tcp|%.*s|%s", (int)(colon - addr), colon == addr ? "127.0.0.1" : addr,
                 colon + 1);
        if (colon == addr) {
            snprintf(tofu, sizeof tofu, "tcp|127.0.0.1|%s", colon + 1);
        }
        if (tl_address_parse(tofu, strlen(tofu), &a) != TL_OK) {
            snprintf(err, cap, "bad API address '%s': expected HOST:PORT or tcp|HOST|PORT", addr);
            return TL_E_BAD_ADDRESS;
        }
    }
    if (a.kind != TL_ADDR_TCP) {
        snprintf(err, cap, "bad API address '%s': the API listens on TCP only", addr);
        return TL_E_BAD_ADDRESS;
    }
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(a.port);
    if (strcmp(a.host, "localhost") == 0) {
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, a.host, &sin.sin_addr) != 1) {
        snprintf(err, cap, "bad API address '%s': expected an IPv4 address or localhost", addr);
        return TL_E_BAD_ADDRESS;
    }
    tl_proxy_http *h = calloc(1, sizeof *h);
    if (h == NULL) {
        snprintf(err, cap, "out of memory");
        return TL_E_NOMEM;
    }
    h->px = px;
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, a.port, NULL, NULL,
                            on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sin, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (h->d == NULL) {
        snprintf(err, cap, "cannot serve the API on %s (address in use?)", addr);
        free(h);
        return TL_E_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL ? info->port : a.port;
    *out = h;
    return TL_OK;
}

uint16_t tl_proxy_http_port(const tl_proxy_http *h) { return h->port; }

void tl_proxy_http_stop(tl_proxy_http *h)
{
    if (h == NULL) {
        return;
    }
    MHD_stop_daemon(h->d);
    free(h);
}
