/*
 * Helpers shared by every service (patterns/service.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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
