/*
 * Alerts as Alertmanager JSON; see alertjson.h.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kmswatch/alertjson.h"
#include "kmswatch/config.h"
#include "kmswatch/log.h"

void
alertjson_time(int64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03dZ", base, (int)(ms % 1000));
}

static void
set_str(json_t *obj, const char *key, const char *value)
{
	if (json_object_set_new(obj, key, json_string(value)) == -1)
		fatal("alerts json");
}

char *
alertjson_render(const struct alerts *al, const char *external_url, bool include_resolved,
                 int64_t valid_until_ms, size_t *len)
{
	json_t *arr = json_array();
	if (arr == NULL)
		fatal("alerts json");
	/* Links are the external URL (CONFIG_URL_MAX at most) and a short path. */
	char buf[CONFIG_URL_MAX + 64], when[40];
	for (size_t i = 0; i < al->n; i++) {
		const struct alert *a = &al->a[i];
		if (a->ends_at_ms != 0 && !include_resolved)
			continue;
		json_t *labels = json_object(), *ann = json_object(), *obj = json_object();
		if (labels == NULL || ann == NULL || obj == NULL)
			fatal("alerts json");
		set_str(labels, "alertname", diag_alert_name(a->kind));
		set_str(labels, "severity", diag_alert_severity(a->kind));
		if (a->text.code[0] != '\0')
			set_str(labels, "code", a->text.code);
		for (size_t k = 0; k < a->n_labels; k++)
			set_str(labels, a->labels[k].name, a->labels[k].value);
		set_str(ann, "summary", a->text.summary);
		set_str(ann, "description", a->text.description);
		set_str(ann, "code", a->text.code);
		set_str(ann, "remedy", a->text.remedy);
		snprintf(buf, sizeof(buf), "%s/runbooks#%s", external_url,
		         diag_alert_anchor(a->kind));
		set_str(ann, "runbook_url", buf);
		json_object_set_new(obj, "labels", labels);
		json_object_set_new(obj, "annotations", ann);
		alertjson_time(a->starts_at_ms, when, sizeof(when));
		set_str(obj, "startsAt", when);
		if (a->ends_at_ms != 0 || valid_until_ms != 0) {
			alertjson_time(a->ends_at_ms != 0 ? a->ends_at_ms : valid_until_ms, when,
			               sizeof(when));
			set_str(obj, "endsAt", when);
		}
		snprintf(buf, sizeof(buf), "%s/", external_url);
		set_str(obj, "generatorURL", buf);
		if (json_array_append_new(arr, obj) == -1)
			fatal("alerts json");
	}
	char *out = json_dumps(arr, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(arr);
	if (out == NULL)
		fatal("alerts json");
	*len = strlen(out);
	return out;
}
