/*
 * The proxy's control API over HTTP (docs/proxy.md): toxiproxy's API for its
 * proxies and toxics (so toxiproxy clients can drive tofulab proxy) plus
 * tofu-aware endpoints. HTTP by libmicrohttpd, JSON by jansson; a program
 * that calls these links -lmicrohttpd -ljansson (the Makefile's HTTP_LIBS).
 */
#ifndef TOFULAB_HOSTS_PROXY_HTTP_H
#define TOFULAB_HOSTS_PROXY_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_proxy_http tl_proxy_http;

/* Serve the API on addr (a tofu TCP address "tcp|127.0.0.1|8474" or
 * "HOST:PORT"; port 0 picks a free one) with its own thread. TL_OK,
 * TL_E_BAD_ADDRESS, TL_E_IO (cannot listen), TL_E_NOMEM; err says which. */
int tl_proxy_http_start(tl_proxy *px, const char *addr, tl_proxy_http **out, char *err, size_t cap);
/* The port it listens on. */
uint16_t tl_proxy_http_port(const tl_proxy_http *h);
/* Stop the server (joined) and free. */
void tl_proxy_http_stop(tl_proxy_http *h);

#ifdef __cplusplus
}
#endif

#endif /* TOFULAB_HOSTS_PROXY_HTTP_H */
