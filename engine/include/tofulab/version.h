/*
 * tofulab's version: the one place it is written. `tofulab --version`, the
 * pkg-config file (tofulab.pc) and the man page take it from here.
 */
#ifndef TOFULAB_VERSION_H
#define TOFULAB_VERSION_H

#define TOFULAB_VERSION "0.1.0"

#endif /* TOFULAB_VERSION_H */
