/*
 * The canonical trace (trace.c, ARCHITECTURE.md 4): a line is begun, added
 * to and ended; its end hashes it into the world's trace hash and writes it
 * where the options say. Also the pcap file's global header.
 */
#ifndef TOFULAB_SIM_TRACE_H
#define TOFULAB_SIM_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "world.h"

/* Start a line: "<time> <who> ch=<channel> "; who NULL -> "*". */
void sim_tr_begin(sim_world *w, const char *who, unsigned channel);
void sim_tr_str(sim_world *w, const char *s);
void sim_tr_strn(sim_world *w, const char *s, size_t n);
void sim_tr_u64(sim_world *w, uint64_t v);
void sim_tr_ch(sim_world *w, char c);
void sim_tr_dur(sim_world *w, uint64_t ns); /* "200ms", "1.5s" style, exact */
void sim_tr_header(sim_world *w, const tl_header *h, int with_status);
void sim_tr_end(sim_world *w);
void sim_pcap_header(FILE *f);

#endif /* TOFULAB_SIM_TRACE_H */
