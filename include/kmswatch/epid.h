/*
 * The extended PID a KMS host returns, e.g.
 * 03612-00206-559-709370-03-1103-14393.0000-1912020 (KMS-PROTOCOL.md section
 * 6): platform, host key group and serial, channel, language, host OS build and
 * the day the host key was installed. Pure.
 */
#ifndef KMSWATCH_EPID_H
#define KMSWATCH_EPID_H

#include <stddef.h>
#include <stdint.h>

/* 44 fixed characters plus a build of at most five digits. */
#define EPID_TEXT_MAX 49

struct epid {
	char text[EPID_TEXT_MAX + 1]; /* the ePID as parsed */
	uint32_t platform;            /* PPPPP, e.g. 3612 */
	uint32_t key_group;           /* GGGGG, e.g. 206 */
	uint32_t key_serial;          /* SSS-SSSSSS as one 9-digit number */
	uint8_t channel;              /* 03 for volume licensing */
	uint16_t lcid;                /* LLLL, e.g. 1033 = en-US */
	uint32_t build;               /* host OS build, e.g. 14393 */
	uint16_t build_revision;      /* the four digits after the dot, 0000 so far */
	uint16_t day;                 /* day of year, 1..366 */
	uint16_t year;                /* 1970..9999 */
};

/* epid.c */
/* Parses exactly len bytes of text (no NUL needed). Returns -1 for anything
 * but a well-formed ePID with a real date; *out is then zeroed. */
int epid_parse(const char *text, size_t len, struct epid *out);
/* Unix time of 00:00 UTC on day (1..366) of year (1970..9999); day 366 only in
 * leap years. Returns -1 for an impossible date. */
int epid_day_timestamp(unsigned day, unsigned year, int64_t *out);
/* The same for a parsed ePID's date: when the host key was installed. */
int epid_timestamp(const struct epid *e, int64_t *out);
/* Human names where known, or NULL: the platform code (3612 -> "Windows 10 /
 * Server 2016 or later") and the host OS build (20348 -> "Windows Server
 * 2022"). */
const char *epid_platform_name(uint32_t platform);
const char *epid_build_name(uint32_t build);

#endif
