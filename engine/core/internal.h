/* Helpers shared by engine/core modules; not part of the public API. */
#ifndef TOFULAB_CORE_INTERNAL_H
#define TOFULAB_CORE_INTERNAL_H

/* A decimal 0..max of 1-3 digits and nothing else; -1 otherwise. */
int tl_small_decimal_parse(const char *text, int max);

#endif
