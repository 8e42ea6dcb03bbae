/*
 * ePID parsing: the captured ePID, the fields, the date arithmetic against
 * the C library, and rejection of every kind of malformed input.
 */
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "kmswatch/epid.h"

#include "capture.h"

#define EXAMPLE "03612-00206-559-709370-03-1103-14393.0000-1912020"

static int
parse(const char *s, struct epid *e)
{
	return epid_parse(s, strlen(s), e);
}

Test(epid, example_fields)
{
	struct epid e;
	cr_assert_eq(parse(EXAMPLE, &e), 0);
	cr_assert_str_eq(e.text, EXAMPLE);
	cr_assert_eq(e.platform, 3612);
	cr_assert_eq(e.key_group, 206);
	cr_assert_eq(e.key_serial, 559709370);
	cr_assert_eq(e.channel, 3);
	cr_assert_eq(e.lcid, 1103);
	cr_assert_eq(e.build, 14393);
	cr_assert_eq(e.build_revision, 0);
	cr_assert_eq(e.day, 191);
	cr_assert_eq(e.year, 2020);
	int64_t ts;
	cr_assert_eq(epid_timestamp(&e, &ts), 0);
	cr_assert_eq(ts, 1594252800); /* 2020-07-09 00:00 UTC */
	cr_assert_str_eq(epid_build_name(e.build), "Windows Server 2016");
	cr_assert_str_eq(epid_platform_name(e.platform), "Windows 10 / Server 2016 or later");
}

Test(epid, captured_epids_parse)
{
	const char *names[] = {"v4", "v5", "v6", "v6_ndr32"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct capture c;
		cr_assert_eq(capture_load(names[i], &c), 0);
		const char *text = capture_expected_str(&c, "response.epid");
		cr_assert_not_null(text);
		struct epid e;
		cr_assert_eq(parse(text, &e), 0, "%s: %s", names[i], text);
		/* The response carries it as UTF-16 with a NUL: P = 2 (len + 1). */
		cr_assert_eq(capture_expected_int(&c, "response.pid_size"),
		             2 * ((long long)strlen(text) + 1));
		capture_free(&c);
	}
}

Test(epid, four_digit_builds)
{
	struct epid e;
	cr_assert_eq(parse("06401-00206-271-392322-03-1033-9600.0000-3622014", &e), 0);
	cr_assert_eq(e.platform, 6401);
	cr_assert_eq(e.build, 9600);
	cr_assert_eq(e.day, 362);
	cr_assert_eq(e.year, 2014);
	cr_assert_str_eq(epid_build_name(e.build), "Windows Server 2012 R2");
	cr_assert_str_eq(epid_platform_name(e.platform), "Windows 8.1 / Server 2012 R2");
	cr_assert_eq(parse("05426-00206-271-298329-03-1033-9200.0000-0672017", &e), 0);
	cr_assert_eq(e.build, 9200);
	cr_assert_str_eq(epid_platform_name(5426), "Windows 8 / Server 2012");
	/* A zero-padded build is also five digits. */
	cr_assert_eq(parse("05426-00206-271-298329-03-1033-09200.0000-0672017", &e), 0);
	cr_assert_eq(e.build, 9200);
}

Test(epid, names)
{
	cr_assert_str_eq(epid_build_name(20348), "Windows Server 2022");
	cr_assert_str_eq(epid_build_name(17763), "Windows Server 2019");
	cr_assert_str_eq(epid_build_name(26100), "Windows Server 2025");
	cr_assert_str_eq(epid_build_name(9200), "Windows Server 2012");
	cr_assert_null(epid_build_name(12345));
	cr_assert_not_null(epid_platform_name(55041));
	cr_assert_null(epid_platform_name(1));
}

Test(epid, dates)
{
	int64_t ts;
	cr_assert_eq(epid_day_timestamp(1, 1970, &ts), 0);
	cr_assert_eq(ts, 0);
	cr_assert_eq(epid_day_timestamp(1, 2000, &ts), 0);
	cr_assert_eq(ts, 946684800);
	cr_assert_eq(epid_day_timestamp(366, 2020, &ts), 0);
	cr_assert_eq(ts, 1609372800);                        /* 2020-12-31 */
	cr_assert_eq(epid_day_timestamp(366, 2000, &ts), 0); /* divisible by 400 */
	cr_assert_neq(epid_day_timestamp(366, 2019, &ts), 0);
	cr_assert_neq(epid_day_timestamp(366, 2100, &ts), 0); /* divisible by 100 */
	cr_assert_neq(epid_day_timestamp(0, 2020, &ts), 0);
	cr_assert_neq(epid_day_timestamp(367, 2020, &ts), 0);
	cr_assert_neq(epid_day_timestamp(1, 1969, &ts), 0);
	cr_assert_eq(epid_day_timestamp(365, 9999, &ts), 0);
	cr_assert_neq(epid_day_timestamp(1, 10000, &ts), 0);
}

Test(epid, dates_agree_with_timegm)
{
	for (unsigned year = 1970; year <= 2500; year++) {
		unsigned last = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 366 : 365;
		unsigned days[] = {1, 59, 60, 61, 200, last};
		for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
			struct tm tm;
			memset(&tm, 0, sizeof(tm));
			tm.tm_year = (int)year - 1900;
			tm.tm_mday = (int)days[i]; /* timegm normalises into later months */
			int64_t ts;
			cr_assert_eq(epid_day_timestamp(days[i], year, &ts), 0);
			cr_assert_eq(ts, (int64_t)timegm(&tm), "day %u of %u", days[i], year);
		}
	}
}

Test(epid, leap_day_in_the_epid)
{
	struct epid e;
	cr_assert_eq(parse("03612-00206-559-709370-03-1103-20348.0000-3662024", &e), 0);
	cr_assert_neq(parse("03612-00206-559-709370-03-1103-20348.0000-3662023", &e), 0);
	cr_assert_neq(parse("03612-00206-559-709370-03-1103-20348.0000-0002023", &e), 0);
	cr_assert_neq(parse("03612-00206-559-709370-03-1103-20348.0000-3672024", &e), 0);
	cr_assert_neq(parse("03612-00206-559-709370-03-1103-20348.0000-0011969", &e), 0);
}

Test(epid, malformed)
{
	static const char *const bad[] = {
	    "",
	    "0",
	    "03612",
	    EXAMPLE " ",
	    " " EXAMPLE,
	    EXAMPLE "0",
	    "3612-00206-559-709370-03-1103-14393.0000-1912020",   /* short platform */
	    "036120-0206-559-709370-03-1103-14393.0000-1912020",  /* separator moved */
	    "03612-00206-559709-370-03-1103-14393.0000-1912020",  /* serial split wrong */
	    "03612-00206-559-709370-3-1103-14393.0000-1912020",   /* one-digit channel */
	    "03612-00206-559-709370-03-103-14393.0000-1912020",   /* three-digit LCID */
	    "03612-00206-559-709370-03-1103-143930.0000-1912020", /* six-digit build */
	    "03612-00206-559-709370-03-1103-143.0000-1912020",    /* three-digit build */
	    "03612-00206-559-709370-03-1103-14393-0000-1912020",  /* dash for dot */
	    "03612-00206-559-709370-03-1103-14393.000-1912020",   /* short revision */
	    "03612-00206-559-709370-03-1103-14393.0000-191202",   /* short date */
	    "03612-00206-559-709370-03-1103-14393.0000-19120200", /* long date */
	    "03612-00206-559-709370-03-1103-14393.0000.1912020",  /* dot for dash */
	    "03612_00206-559-709370-03-1103-14393.0000-1912020",  /* underscore */
	    "0361a-00206-559-709370-03-1103-14393.0000-1912020",  /* letter */
	    "+3612-00206-559-709370-03-1103-14393.0000-1912020",  /* sign */
	    "03612-00206-559-709370-03-1103-14393.0000-191202O",  /* letter O */
	    "03612-00206-559-709370-03-1103-14393.0000-\xd9\xa1"
	    "912020", /* Arabic digit */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct epid e;
		memset(&e, 0xa5, sizeof(e));
		cr_assert_eq(parse(bad[i], &e), -1, "accepted \"%s\"", bad[i]);
		/* A failed parse leaves nothing half-filled behind. */
		cr_assert_eq(e.platform, 0);
		cr_assert_eq(e.text[0], '\0');
	}
}

Test(epid, embedded_nul_and_every_truncation)
{
	char s[] = EXAMPLE;
	size_t n = strlen(s);
	struct epid e;
	for (size_t k = 0; k < n; k++)
		cr_assert_eq(epid_parse(s, k, &e), -1, "accepted a prefix of %zu", k);
	for (size_t i = 0; i < n; i++) {
		char saved = s[i];
		s[i] = '\0';
		cr_assert_eq(epid_parse(s, n, &e), -1, "accepted a NUL at %zu", i);
		s[i] = saved;
	}
	cr_assert_eq(epid_parse(s, n, &e), 0);
	cr_assert_eq(epid_parse(s, n + 1, &e), -1); /* the terminating NUL counts as data */
}

Test(epid, every_single_character_mutation)
{
	/* Replacing any character by one of these either keeps a valid ePID
	 * (a digit for a digit) or is rejected: separators may not become
	 * digits and digits may not become anything else. */
	static const char repl[] = {'0', '9', 'a', '-', '.', ' ', '/', ':', '\x7f', '\xff'};
	char s[] = EXAMPLE;
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		char saved = s[i];
		bool digit_pos = saved >= '0' && saved <= '9';
		for (size_t j = 0; j < sizeof(repl); j++) {
			struct epid e;
			if (repl[j] == saved)
				continue;
			s[i] = repl[j];
			bool digit = repl[j] >= '0' && repl[j] <= '9';
			int rc = epid_parse(s, n, &e);
			if (!digit_pos || !digit)
				cr_assert_eq(rc, -1, "accepted %s", s);
		}
		s[i] = saved;
	}
}
