/*
 * Alerts in Alertmanager's format (the postable alerts of its v2 API), for
 * GET /alerts and for the push to Alertmanager: labels (alertname, severity,
 * code and the identifying labels), annotations (summary, description, code,
 * remedy, runbook_url), startsAt, endsAt for resolved alerts, generatorURL.
 */
#ifndef KMSWATCH_ALERTJSON_H
#define KMSWATCH_ALERTJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmswatch/alerts.h"

/* A malloc'd JSON array; include_resolved adds alerts resolved but still
 * retained, with their endsAt. valid_until_ms, when not 0, is the endsAt
 * given to firing alerts (the push); 0 leaves it out (GET /alerts). */
char *alertjson_render(const struct alerts *al, const char *external_url, bool include_resolved,
                       int64_t valid_until_ms, size_t *len);
/* RFC 3339 with milliseconds, UTC. */
void alertjson_time(int64_t ms, char *out, size_t len);

#endif
