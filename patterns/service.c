/*
 * Helpers shared by every service (patterns/service.h).
 */
#include <stdarg.h>
#include <stddef.h>

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
