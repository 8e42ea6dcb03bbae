/*
 * ePID parsing; see epid.h and section 6 of KMS-PROTOCOL.md.
 */
#include <string.h>

#include "kmswatch/buf.h"
#include "kmswatch/epid.h"

#define EPID_YEAR_MIN 1970
#define EPID_YEAR_MAX 9999

/* Reads exactly n decimal digits (n <= 9, so the value fits in 32 bits). */
static int
digits_read(struct buf_reader *r, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c;
		if (buf_get_u8(r, &c) == -1 || c < '0' || c > '9')
			return -1;
		v = v * 10 + (uint32_t)(c - '0');
	}
	*out = v;
	return 0;
}

static int
sep_read(struct buf_reader *r, char sep)
{
	uint8_t c;
	if (buf_get_u8(r, &c) == -1 || c != (uint8_t)sep)
		return -1;
	return 0;
}

static int
is_leap(unsigned year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Leap days in the years 1..y-1 of the proleptic Gregorian calendar. */
static int64_t
leaps_before(int64_t y)
{
	y -= 1;
	return y / 4 - y / 100 + y / 400;
}

int
epid_day_timestamp(unsigned day, unsigned year, int64_t *out)
{
	if (year < EPID_YEAR_MIN || year > EPID_YEAR_MAX || day < 1 ||
	    day > (is_leap(year) ? 366u : 365u))
		return -1;
	int64_t days = 365 * ((int64_t)year - 1970) + leaps_before(year) - leaps_before(1970);
	*out = (days + (int64_t)day - 1) * 86400;
	return 0;
}

int
epid_timestamp(const struct epid *e, int64_t *out)
{
	return epid_day_timestamp(e->day, e->year, out);
}

int
epid_parse(const char *text, size_t len, struct epid *out)
{
	struct buf_reader r;
	uint32_t platform, group, serial_hi, serial_lo, channel, lcid, build, rev, day, year;
	/* Nothing is written to out until every check has passed. */
	memset(out, 0, sizeof(*out));
	if (len > EPID_TEXT_MAX)
		return -1;
	buf_reader_init(&r, text, len);
	if (digits_read(&r, 5, &platform) == -1 || sep_read(&r, '-') == -1 ||
	    digits_read(&r, 5, &group) == -1 || sep_read(&r, '-') == -1 ||
	    digits_read(&r, 3, &serial_hi) == -1 || sep_read(&r, '-') == -1 ||
	    digits_read(&r, 6, &serial_lo) == -1 || sep_read(&r, '-') == -1 ||
	    digits_read(&r, 2, &channel) == -1 || sep_read(&r, '-') == -1 ||
	    digits_read(&r, 4, &lcid) == -1 || sep_read(&r, '-') == -1)
		return -1;
	/* Builds below 10000 (9200, 9600) are written with four digits, so the
	 * build is four or five digits: the length of the rest decides. */
	size_t build_len = buf_remaining(&r) == 4 + 1 + 4 + 1 + 7 ? 4 : 5;
	if (digits_read(&r, build_len, &build) == -1 || sep_read(&r, '.') == -1 ||
	    digits_read(&r, 4, &rev) == -1 || sep_read(&r, '-') == -1 ||
	    digits_read(&r, 3, &day) == -1 || digits_read(&r, 4, &year) == -1 ||
	    buf_remaining(&r) != 0)
		return -1;
	int64_t ts;
	if (epid_day_timestamp(day, year, &ts) == -1)
		return -1;
	memcpy(out->text, text, len);
	out->text[len] = '\0';
	out->platform = platform;
	out->key_group = group;
	out->key_serial = serial_hi * 1000000 + serial_lo;
	out->channel = (uint8_t)channel;
	out->lcid = (uint16_t)lcid;
	out->build = build;
	out->build_revision = (uint16_t)rev;
	out->day = (uint16_t)day;
	out->year = (uint16_t)year;
	return 0;
}

const char *
epid_platform_name(uint32_t platform)
{
	switch (platform) {
	case 55041:
		return "Windows 7 / Server 2008 R2 or earlier";
	case 5426:
		return "Windows 8 / Server 2012";
	case 6401:
		return "Windows 8.1 / Server 2012 R2";
	case 3612:
		return "Windows 10 / Server 2016 or later";
	}
	return NULL;
}

const char *
epid_build_name(uint32_t build)
{
	switch (build) {
	case 6002:
	case 6003:
		return "Windows Server 2008";
	case 7600:
	case 7601:
		return "Windows Server 2008 R2";
	case 9200:
		return "Windows Server 2012";
	case 9600:
		return "Windows Server 2012 R2";
	case 14393:
		return "Windows Server 2016";
	case 17763:
		return "Windows Server 2019";
	case 20348:
		return "Windows Server 2022";
	case 26100:
		return "Windows Server 2025";
	}
	return NULL;
}
