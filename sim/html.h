/*
 * A run as a self-contained HTML page (`tofulab sim run FILE --html OUT`):
 * a sequence diagram drawn from the canonical trace, one lane per node, an
 * arrow per frame sent (label: op code, id, more) from the sender's lane at
 * the send to the receiver's lane at the matching receive, faults and deaths
 * marked (crash, silent death, pause, restart, partition and heal, lost
 * segments, retransmissions, timeouts, resets). Inline CSS and SVG only.
 *
 * Feed it every trace line through tl_html_on_trace (the on_trace callback
 * of tl_scn_run_options), then write it.
 */
#ifndef TOFULAB_SIM_HTML_H
#define TOFULAB_SIM_HTML_H

#include <stddef.h>
#include <stdio.h>

#include "sim.h"

typedef struct tl_html tl_html;

/* nodes: the lane names, in order. max_rows: rows drawn at most (frames,
 * receives and marks; 0 = 4000); beyond, the page says how many were left
 * out. TL_OK, TL_E_NOMEM. */
int tl_html_new(const char *const *nodes, size_t n, size_t max_rows, tl_html **out);
/* A tl_scn_run_options.on_trace callback (ctx = the tl_html). */
void tl_html_on_trace(void *ctx, const char *line, size_t len);
/* The page; title names it (escaped). TL_OK or TL_E_IO. */
int tl_html_write(const tl_html *h, FILE *f, const char *title);
/* Frames seen (send lines) and frames drawn. */
size_t tl_html_frames(const tl_html *h, size_t *drawn);
void tl_html_free(tl_html *h);

#endif /* TOFULAB_SIM_HTML_H */
