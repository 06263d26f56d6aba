/*
 * fuzz_cron.c — libFuzzer target for the schedule parser (app/sched/cron.h) and
 * the due-time search (app/sched/cron_next.h).
 *
 * An input is the schedule text up to the first newline and the H seed
 * after it. Text that parses is asked for next and prev runs in UTC, in
 * Europe/Berlin and Australia/Lord_Howe (from their POSIX rules, so no
 * zone files are needed) and, when the system has it, America/New_York,
 * at instants around DST transitions, at the ends of the nanosecond clock
 * and at one derived from the input. Beyond "no crash" (ASan and UBSan
 * abort on any fault) it checks what must always hold:
 *   - a failure returns the expected code and records a non-empty message;
 *   - next is strictly after the instant and prev at or before it;
 *   - next and prev mirror each other: prev(next(t)) is next(t), next just
 *     before prev(t) is prev(t), and next(prev(t)) is next(t).
 * Every call does bounded work (the search stops after
 * APP_CRON_SEARCH_YEARS), so libFuzzer's -timeout catches any hang.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread. The zones are
 * loaded once and live as long as the process.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/sched/cron.h"
#include "app/sched/cron_next.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/tz.h"

/* abort() with a reason: libFuzzer saves the input as a crash. */
#define CHECK(cond)                                                             \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "fuzz_cron: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                     \
			abort();                                                \
		}                                                               \
	} while (0)

#define MAX_ZONES 4

static ss_tz *zones[MAX_ZONES];
static int nzones;

static void add_zone(int rc, ss_tz *tz)
{
	CHECK(rc == 0 && tz != NULL);
	zones[nzones++] = tz;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ss_tz *tz = NULL;

	(void)argc;
	(void)argv;
	add_zone(ss_tz_load(&tz, "UTC"), tz);
	add_zone(ss_tz_posix(&tz, "CET-1CEST,M3.5.0,M10.5.0/3"), tz);
	add_zone(ss_tz_posix(&tz, "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"), tz);
	if (ss_tz_load(&tz, "America/New_York") == 0)
		zones[nzones++] = tz;
	return 0;
}

/* A failed call: the code it returned is recorded, with a message. */
static void check_failure(int rc, int want)
{
	const ss_error *e = ss_error_last();

	CHECK(rc == want);
	CHECK(e->code == rc);
	CHECK(e->message[0] != '\0');
}

static void check_at(const app_cron *c, const ss_tz *tz, int64_t t)
{
	int64_t next = 0, prev = 0, x = 0;
	int rn, rp;

	rn = app_cron_next(&next, c, tz, t);
	if (rn == 0) {
		CHECK(next > t);
		CHECK(next % SS_NS_PER_SEC == 0);
		CHECK(app_cron_prev(&x, c, tz, next) == 0 && x == next);
		CHECK(app_cron_next(&x, c, tz, next - 1) == 0 && x == next);
	} else {
		check_failure(rn, SS_ENOTFOUND);
	}
	rp = app_cron_prev(&prev, c, tz, t);
	if (rp == 0) {
		CHECK(prev <= t);
		if (prev > INT64_MIN)
			CHECK(app_cron_next(&x, c, tz, prev - 1) == 0 && x == prev);
		if (rn == 0)
			CHECK(app_cron_next(&x, c, tz, prev) == 0 && x == next);
	} else {
		check_failure(rp, SS_ENOTFOUND);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Instants: DST transitions of 2025 (Berlin, Lord Howe, New York),
	 * the ends of the clock, the epoch. */
	static const int64_t fixed[] = {
		1743296400 * SS_NS_PER_SEC,
		1761440399 * SS_NS_PER_SEC,
		1759591800 * SS_NS_PER_SEC,
		1743865199 * SS_NS_PER_SEC,
		1762063200 * SS_NS_PER_SEC,
		INT64_MAX,
		INT64_MIN,
		0,
	};
	char text[APP_CRON_TEXT_MAX + 64];
	char seed[64];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t tlen = nl ? (size_t)(nl - data) : size, slen = 0, i;
	uint64_t h = 14695981039346656037ULL;
	app_cron c;
	int rc, z;

	/* NUL bytes simply end the text early: the parser takes C strings. */
	if (tlen >= sizeof(text))
		tlen = sizeof(text) - 1;
	memcpy(text, data, tlen);
	text[tlen] = '\0';
	if (nl) {
		slen = size - (size_t)(nl - data) - 1;
		if (slen >= sizeof(seed))
			slen = sizeof(seed) - 1;
		memcpy(seed, nl + 1, slen);
	}
	seed[slen] = '\0';

	rc = app_cron_parse(&c, text, seed);
	if (rc != 0) {
		check_failure(rc, SS_EINVALID);
		/* cron.h promises short messages */
		CHECK(strlen(ss_error_last()->message) < 256);
		return 0;
	}
	for (i = 0; i < size; i++) {
		h ^= data[i];
		h *= 1099511628211ULL;
	}
	for (z = 0; z < nzones; z++) {
		/* one instant from the input, 1970 to 2262 */
		check_at(&c, zones[z], (int64_t)(h >> 1));
		for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			check_at(&c, zones[z], fixed[i]);
	}
	return 0;
}
