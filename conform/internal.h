/*
 * Internals of the conformance suite (the conform/ sources), all layers in
 * one include for code outside conform/ (tests, other tools reusing the echo
 * model). Not installed. Inside conform/ each file includes only the layers
 * it uses; they depend on each other in one direction (docs/ARCHITECTURE.md):
 *
 *   util.h  <-  sniff.h  <-  net.h  <-  echo.h  <-  cases.h  <-  runner.c
 *   util.h  <-  case.h   <-  net.h                             report.c -> case.h
 */
#ifndef TOFULAB_CONFORM_INTERNAL_H
#define TOFULAB_CONFORM_INTERNAL_H

#include "case.h"
#include "cases.h"
#include "echo.h"
#include "net.h"
#include "sniff.h"
#include "util.h"

#endif /* TOFULAB_CONFORM_INTERNAL_H */
