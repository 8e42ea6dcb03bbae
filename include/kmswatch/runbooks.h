/*
 * docs/runbooks.md, compiled in at build time (scripts/embed.cmake) so that
 * every alert's runbook_url points at the agent's own /runbooks page.
 */
#ifndef KMSWATCH_RUNBOOKS_H
#define KMSWATCH_RUNBOOKS_H

#include <stddef.h>

extern const unsigned char runbooks_md[]; /* NUL-terminated */
extern const size_t runbooks_md_len;

#endif
