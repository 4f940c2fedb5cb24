/*
 * Helpers shared by every service (patterns/service.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service.h"

void tl_svc_logf(const tl_svc_env *env, const char *fmt, ...)
{
    va_list ap;

    if (env == NULL || env->log == NULL || fmt == NULL) {
        return;
    }
    va_start(ap, fmt);
    env->log(env->host, fmt, ap);
    va_end(ap);
}

void tl_svc_warnf(const tl_svc_env *env, const char *fmt, ...)
{
    va_list ap;

    if (env == NULL || fmt == NULL) {
        return;
    }
    va_start(ap, fmt);
    if (env->warn != NULL) {
        env->warn(env->host, fmt, ap);
    } else if (env->log != NULL) {
        env->log(env->host, fmt, ap);
    }
    va_end(ap);
}

int tl_svc_describe(const tl_svc_env *env, uint16_t channel, int what, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0) {
        return 0;
    }
    buf[0] = '\0';
    if (env == NULL || env->describe == NULL) {
        return 0;
    }
    return env->describe(env->host, channel, what, buf, cap);
}

void tl_svc_report_error(tl_svc_report *r, const tl_svc_env *env, const char *fmt, ...)
{
    char line[sizeof r->first_error];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->errors++;
    if (r->first_error[0] == '\0') {
        memcpy(r->first_error, line, sizeof line);
    }
    tl_svc_logf(env, "error: %s", line);
}

void tl_svc_report_answer(tl_svc_report *r, uint64_t latency_ns)
{
    r->answered++;
    r->latency_count++;
    r->latency_sum_ns += latency_ns;
    if (latency_ns > r->latency_max_ns) {
        r->latency_max_ns = latency_ns;
    }
}

void tl_svc_report_add(tl_svc_report *t, const tl_svc_report *r, int with_open)
{
    t->requests |= r->requests;
    t->sent += r->sent;
    t->answered += r->answered;
    t->failed += r->failed;
    if (with_open) {
        t->open += r->open;
    } else {
        t->abandoned += r->open;
    }
    t->abandoned += r->abandoned;
    t->out_of_order += r->out_of_order;
    t->errors += r->errors;
    t->signals += r->signals;
    t->bytes += r->bytes;
    t->closed += r->closed;
    t->latency_count += r->latency_count;
    t->latency_sum_ns += r->latency_sum_ns;
    if (r->latency_max_ns > t->latency_max_ns) {
        t->latency_max_ns = r->latency_max_ns;
    }
    t->suspicions += r->suspicions;
    t->false_suspicions += r->false_suspicions;
    t->deaths += r->deaths;
    t->connect_failures += r->connect_failures;
    t->reconnects += r->reconnects;
    if (t->first_error[0] == '\0' && r->first_error[0] != '\0') {
        memcpy(t->first_error, r->first_error, sizeof t->first_error);
        t->first_error[sizeof t->first_error - 1] = '\0';
    }
}

const char *tl_svc_report_check(const tl_svc_report *r, int done, char *buf, size_t cap)
{
    if (!r->requests) {
        return NULL;
    }
    if (r->answered + r->failed + r->open + r->abandoned != r->sent) {
        snprintf(
            buf, cap,
            "request accounting: %llu sent, but %llu answered + %llu failed + %llu open + %llu abandoned",
            (unsigned long long)r->sent, (unsigned long long)r->answered, (unsigned long long)r->failed,
            (unsigned long long)r->open, (unsigned long long)r->abandoned);
        return buf;
    }
    if (done && r->open != 0) {
        snprintf(buf, cap, "finished with %llu request(s) neither answered nor failed (silently lost)",
                 (unsigned long long)r->open);
        return buf;
    }
    return NULL;
}

int tl_svc_new(tl_service **out, int cfg_ok, const tl_service_ops *ops, size_t state_size, tl_service **s)
{
    void *state;

    if (out == NULL) {
        return TL_E_INVAL;
    }
    *out = NULL;
    if (!cfg_ok) {
        return TL_E_INVAL;
    }
    *s = calloc(1, sizeof **s);
    state = calloc(1, state_size ? state_size : 1);
    if (*s == NULL || state == NULL) {
        free(*s);
        free(state);
        *s = NULL;
        return TL_E_NOMEM;
    }
    (*s)->ops = ops;
    (*s)->state = state;
    return TL_OK;
}

void tl_svc_free(tl_service *s)
{
    if (s != NULL) {
        free(s->state);
        free(s);
    }
}

char *tl_svc_strdup(const char *str)
{
    size_t n = strlen(str);
    char *copy = malloc(n + 1);

    if (copy != NULL) {
        memcpy(copy, str, n + 1);
    }
    return copy;
}
