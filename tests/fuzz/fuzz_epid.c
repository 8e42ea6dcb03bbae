/*
 * Fuzz harness for the ePID parser: any input either fails cleanly or yields
 * fields that are in range and reproduce the same result when parsed again.
 */
#include <stdlib.h>
#include <string.h>

#include "kmswatch/epid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct epid e, again;
	int64_t ts;
	if (epid_parse((const char *)data, size, &e) == -1)
		return 0;
	check(strlen(e.text) == size);
	check(memcmp(e.text, data, size) == 0);
	check(e.day >= 1 && e.day <= 366 && e.year >= 1970);
	check(e.key_serial <= 999999999 && e.build <= 99999);
	check(epid_timestamp(&e, &ts) == 0 && ts >= 0);
	check(epid_parse(e.text, strlen(e.text), &again) == 0);
	check(memcmp(&e, &again, sizeof(e)) == 0);
	(void)epid_build_name(e.build);
	(void)epid_platform_name(e.platform);
	return 0;
}
