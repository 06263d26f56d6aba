/*
 * fuzz_tzif.c — libFuzzer target for TZif zone data (util/tz.h's
 * ss_tz_parse(), what ss_tz_load() reads from a zone file) and the queries
 * on a zone so loaded.
 *
 * The input is the file's bytes. Beyond "no crash, no undefined behaviour,
 * no leak" (ASan, LeakSanitizer and UBSan abort on any fault) it checks
 * what must always hold:
 *   - a refusal is SS_EINVALID or SS_EUNSUPPORTED with a message naming
 *     the zone, and hands out nothing;
 *   - a zone answers at the ends of the instant range, the epoch, around
 *     each of the first transitions in the data and at instants taken from
 *     the input: the period at t contains t, its offset is what
 *     ss_tz_offset() says and lies within RFC 8536's bounds, its
 *     abbreviation is a short string; the next period starts where it
 *     ends, and asked at its start the zone names the same period;
 *   - the wall clock at t reads back: ss_tz_local() fields count to
 *     t + offset, and ss_tz_resolve() of them finds t (its one instant, or
 *     between the first and the last of a fold), and its first_utc_s is
 *     the first instant showing that time or a later one;
 *   - instants outside the years 1 to 9999 are refused.
 * Every query does bounded work: a resolve walks the periods of four days,
 * of which a file of SS_TZ_FILE_MAX bytes holds at most a few thousand.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/tz.h"

/* abort() with a reason: libFuzzer saves the input as a crash. */
#define CHECK(cond)                                                             \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "fuzz_tzif: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                     \
			abort();                                                \
		}                                                               \
	} while (0)

#define OFFSET_MIN (-89999)
#define OFFSET_MAX 93599

/* The wall clock's reading at t, counted as local seconds. */
static int64_t local_at(const ss_tz *tz, int64_t t)
{
	ss_civil c;
	int64_t l = 0;

	CHECK(ss_tz_local(tz, t, &c) == 0);
	CHECK(ss_civil_to_seconds(&l, &c) == 0);
	return l;
}

/* first_utc_s is the first instant showing `c` or a later time: at most
 * the first that shows it (earlier when the clocks jumped over it first
 * and came back to it later), and the instant before shows an earlier
 * time. (A fuzz finding against this harness, not the code: it first
 * demanded first_utc_s == utc_s[0], which such a zone breaks; corpus
 * entry gap-then-fold.) */
static void check_first(const ss_tz *tz, const ss_civil *c, const ss_tz_resolution *r)
{
	int64_t l = 0;

	CHECK(ss_civil_to_seconds(&l, c) == 0);
	CHECK(r->first_utc_s <= r->utc_s[0]);
	if (r->first_utc_s < SS_TZ_INSTANT_MIN || r->first_utc_s > SS_TZ_INSTANT_MAX)
		return;
	CHECK(local_at(tz, r->first_utc_s) >= l);
	if (r->first_utc_s > SS_TZ_INSTANT_MIN)
		CHECK(local_at(tz, r->first_utc_s - 1) < l);
}

static void check_at(const ss_tz *tz, int64_t t)
{
	ss_tz_period p, next;
	ss_tz_resolution r;
	ss_civil c;
	int32_t off = 0;
	int64_t local;

	if (t < SS_TZ_INSTANT_MIN || t > SS_TZ_INSTANT_MAX) {
		CHECK(ss_tz_period_at(tz, t, &p) == SS_EINVALID);
		CHECK(ss_tz_local(tz, t, &c) == SS_EINVALID);
		return;
	}
	CHECK(ss_tz_period_at(tz, t, &p) == 0);
	CHECK(p.start_s <= t && t < p.end_s);
	CHECK(p.utc_offset_s >= OFFSET_MIN && p.utc_offset_s <= OFFSET_MAX);
	CHECK(p.abbr != NULL && strlen(p.abbr) < 256);
	CHECK(ss_tz_offset(tz, t, &off) == 0 && off == p.utc_offset_s);
	if (p.end_s <= SS_TZ_INSTANT_MAX) {
		CHECK(ss_tz_period_at(tz, p.end_s, &next) == 0);
		CHECK(next.start_s == p.end_s);
	}
	/* asked at its start, the period is the same one */
	if (p.start_s >= SS_TZ_INSTANT_MIN) {
		CHECK(ss_tz_period_at(tz, p.start_s, &next) == 0);
		CHECK(next.start_s == p.start_s && next.utc_offset_s == p.utc_offset_s &&
		      next.is_dst == p.is_dst);
	}
	CHECK(ss_tz_local(tz, t, &c) == 0);
	CHECK(c.utc_offset_s == p.utc_offset_s && c.is_dst == p.is_dst);
	CHECK(ss_civil_to_seconds(&local, &c) == 0 && local == t + p.utc_offset_s);
	CHECK(ss_tz_resolve(tz, &c, &r) == 0);
	CHECK(r.count == 1 || r.count == 2);
	if (r.count == 1)
		CHECK(r.utc_s[0] == t);
	else
		CHECK(r.utc_s[0] <= t && t <= r.utc_s[1]);
	check_first(tz, &c, &r);
}

/* A big-endian int64 from the TZif data at `at`, if there are 8 bytes. */
static int64_t be64_at(const uint8_t *data, size_t size, size_t at)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < 8 && at + i < size; i++)
		v = v << 8 | data[at + i];
	return v <= INT64_MAX ? (int64_t)v : -(int64_t)~v - 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t fixed[] = {
		SS_TZ_INSTANT_MIN, SS_TZ_INSTANT_MAX, 0, -1, 1743296400, 2147483648,
		SS_TZ_INSTANT_MIN - 1, SS_TZ_INSTANT_MAX + 1, INT64_MIN, INT64_MAX,
	};
	ss_tz *tz = (ss_tz *)&tz;
	size_t i, at;
	int rc;

	rc = ss_tz_parse(&tz, "Fuzz/Zone", data, size);
	if (rc != 0) {
		CHECK(rc == SS_EINVALID || rc == SS_EUNSUPPORTED);
		CHECK(ss_error_last()->code == rc);
		CHECK(strstr(ss_error_last()->message, "Fuzz/Zone") != NULL);
		CHECK(tz == (ss_tz *)&tz);
		return 0;
	}
	CHECK(strcmp(ss_tz_name(tz), "Fuzz/Zone") == 0);
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check_at(tz, fixed[i]);
	/* The version 2 header is at 44 + the version 1 block; rather than
	 * find it, read instants from the first bytes after each 8-byte
	 * boundary: transitions of real files, noise of others. */
	for (at = 44, i = 0; at < size && i < 64; at += 8, i++) {
		int64_t t = be64_at(data, size, at);

		check_at(tz, t);
		if (t > INT64_MIN)
			check_at(tz, t - 1);
	}
	ss_tz_free(tz);
	return 0;
}
