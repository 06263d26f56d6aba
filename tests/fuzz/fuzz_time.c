/*
 * fuzz_time.c — libFuzzer target for RFC 3339 times (util/clock.h):
 * ss_time_parse() on any text, ss_time_format() and ss_time_format_micro()
 * on any instant.
 *
 * The input is the text (NUL bytes end it early: the parser takes C
 * strings); its first 8 bytes are also read as an instant. Beyond "no
 * crash, no undefined behaviour" (ASan and UBSan abort on any fault) it
 * checks what must always hold:
 *   - a failure is SS_EINVALID or SS_EUNSUPPORTED with a message, and
 *     leaves the output untouched;
 *   - a time parsed names the digits it was written with: formatted back
 *     in UTC, the date and time of day are the text's, once its offset is
 *     taken away (so 31 February cannot read as 3 March, nor +99:99 count);
 *   - format then parse gives the instant back, rounded down to the second
 *     or the microsecond, for every int64 instant, in at most
 *     SS_TIME_RFC3339_MAX - 1 characters.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/error.h"

/* abort() with a reason: libFuzzer saves the input as a crash. */
#define CHECK(cond)                                                             \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "fuzz_time: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                     \
			abort();                                                \
		}                                                               \
	} while (0)

#define TEXT_MAX 128

/* Whether a rounded down to a multiple of b (b > 0) is an int64, and
 * that multiple. */
static int floor_to(int64_t *out, int64_t a, int64_t b)
{
	int64_t r = a % b;

	if (r >= 0) {
		*out = a - r;
		return 1;
	}
	if (a - r < INT64_MIN + b)
		return 0;
	*out = a - r - b;
	return 1;
}

/* Format, parse back: the instant rounded down to the unit. In the first
 * second of the clock that instant is before INT64_MIN nanoseconds, so
 * it is refused as out of range. */
static void check_unit(const char *buf, int64_t t, int64_t unit)
{
	int64_t back = 0, want = 0;

	if (!floor_to(&want, t, unit)) {
		CHECK(ss_time_parse(&back, buf) == SS_EUNSUPPORTED);
		return;
	}
	CHECK(ss_time_parse(&back, buf) == 0);
	CHECK(back == want);
}

static void check_round_trip(int64_t t)
{
	char buf[SS_TIME_RFC3339_MAX];

	ss_time_format(buf, sizeof(buf), t);
	CHECK(strlen(buf) == 20);
	check_unit(buf, t, SS_NS_PER_SEC);
	ss_time_format_micro(buf, sizeof(buf), t);
	CHECK(strlen(buf) == 27);
	check_unit(buf, t, 1000);
}

static int num(const char *s, int n)
{
	int v = 0;

	while (n-- > 0)
		v = v * 10 + (*s++ - '0');
	return v;
}

/* A parsed time shows the text's digits: the instant, moved by the
 * text's offset, formats to the text's first 19 characters. */
static void check_fields(const char *text, int64_t t)
{
	char buf[SS_TIME_RFC3339_MAX], want[20];
	const char *zone = text + 19;
	int64_t offset_s = 0, local;

	while (*zone == '.' || (*zone >= '0' && *zone <= '9'))
		zone++;
	if (*zone == '+' || *zone == '-') {
		offset_s = (int64_t)num(zone + 1, 2) * 3600 + num(zone + 4, 2) * 60;
		CHECK(num(zone + 1, 2) <= 23 && num(zone + 4, 2) <= 59);
		if (*zone == '-')
			offset_s = -offset_s;
	}
	if (num(text + 17, 2) == 60)
		return; /* a leap second shows as the next minute */
	local = t / SS_NS_PER_SEC - (t % SS_NS_PER_SEC < 0) + offset_s;
	/* every local time of a representable instant is representable */
	if (local > INT64_MAX / SS_NS_PER_SEC - 1 || local < INT64_MIN / SS_NS_PER_SEC + 1)
		return;
	ss_time_format(buf, sizeof(buf), local * SS_NS_PER_SEC);
	memcpy(want, text, 19);
	want[10] = 'T';
	want[19] = '\0';
	buf[19] = '\0';
	CHECK(strcmp(buf, want) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[TEXT_MAX + 1];
	size_t n = size < TEXT_MAX ? size : TEXT_MAX;
	uint64_t raw = 0;
	int64_t t = 42;
	size_t i;
	int rc;

	memcpy(text, data, n);
	text[n] = '\0';
	rc = ss_time_parse(&t, text);
	if (rc == 0) {
		check_fields(text, t);
		check_round_trip(t);
	} else {
		CHECK(rc == SS_EINVALID || rc == SS_EUNSUPPORTED);
		CHECK(ss_error_last()->code == rc);
		CHECK(ss_error_last()->message[0] != '\0');
		CHECK(t == 42);
	}
	for (i = 0; i < 8 && i < size; i++)
		raw = raw << 8 | data[i];
	check_round_trip((int64_t)raw);
	check_round_trip(INT64_MAX);
	check_round_trip(INT64_MIN);
	return 0;
}
