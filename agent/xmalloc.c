/*
 * Allocation that cannot fail; see xmalloc.h.
 */
#include <stdlib.h>
#include <string.h>

#include "kmswatch/log.h"
#include "kmswatch/xmalloc.h"

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n > 0 ? n : 1, size > 0 ? size : 1);
	if (p == NULL)
		fatalx("out of memory");
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	void *q = reallocarray(p, n > 0 ? n : 1, size > 0 ? size : 1);
	if (q == NULL)
		fatalx("out of memory");
	return q;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		fatalx("out of memory");
	return p;
}

char *
xstrdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}
