/*
 * Allocation that cannot fail: out of memory is the one condition the agent
 * does not try to recover from, so these log and exit (fatal) instead of
 * returning NULL. Zero sizes still return a unique pointer to free().
 */
#ifndef KMSWATCH_XMALLOC_H
#define KMSWATCH_XMALLOC_H

#include <stddef.h>

void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
/* NULL stays NULL. */
char *xstrdup_or_null(const char *s);

#endif
