/*
 * fuzz_quantity.c — libFuzzer target for resource quantities
 * (kube/quantity.h): kube_quantity_parse() on any text,
 * kube_quantity_format() on any size, and the exact arithmetic between.
 *
 * The input is the text (NUL bytes end it early); its first 8 bytes are
 * also read as a size and the next two choose a unit and a number of
 * trailing zeros. Beyond "no crash, no undefined behaviour" (ASan and
 * UBSan abort on any fault) it checks what must always hold:
 *   - a failure is SS_EINVALID or SS_ETOOLARGE with a message;
 *   - a size read formats to at most KUBE_QUANTITY_MAX - 1 characters
 *     that read back as the same size;
 *   - the size written exactly in another unit — v / 2^s with a binary
 *     suffix ("5.1Ei"), v / 10^j with a decimal one or an exponent, with
 *     trailing zeros — reads back as v; when the exact decimal has more
 *     significant digits than the parser keeps (36), as v or v + 1 (the
 *     header's "rounded up, never less").
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/quantity.h"
#include "util/error.h"

/* abort() with a reason: libFuzzer saves the input as a crash. */
#define CHECK(cond)                                                                 \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "fuzz_quantity: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                         \
			abort();                                                    \
		}                                                                   \
	} while (0)

#define TEXT_MAX 160
#define KEPT_DIGITS 36

static void check_format(int64_t v)
{
	char buf[KUBE_QUANTITY_MAX];
	int64_t back = -1;

	kube_quantity_format(buf, sizeof(buf), v);
	CHECK(strlen(buf) < KUBE_QUANTITY_MAX - 1);
	CHECK(kube_quantity_parse(&back, buf) == 0);
	CHECK(back == v);
}

/* `text` is v exactly, with `sig` significant digits. */
static void check_exact(const char *text, int64_t v, int sig)
{
	int64_t back = -1;
	int rc = kube_quantity_parse(&back, text);

	if (sig <= KEPT_DIGITS) {
		CHECK(rc == 0);
		CHECK(back == v);
	} else if (rc == 0) {
		CHECK(back == v || back == v + 1);
	} else {
		CHECK(rc == SS_ETOOLARGE && v == INT64_MAX);
	}
}

/* The significant digits of a plain decimal (no sign, no suffix). */
static int significant(const char *s)
{
	int n = 0, started = 0;

	for (; *s >= '0' && *s <= '9'; s++) {
		started |= *s != '0';
		n += started;
		if (s[1] == '.')
			s++;
	}
	return n;
}

/* Writes v / 10^point with a decimal point `point` digits from the right
 * (v's digits, zero-padded), then `zeros` zeros and `tail`. */
static void write_decimal(char *text, size_t cap, int64_t v, int point, int zeros,
			  const char *tail)
{
	char digits[32];
	int len = snprintf(digits, sizeof(digits), "%0*lld", point + 1, (long long)v);
	size_t n = 0;

	memcpy(text, digits, (size_t)(len - point));
	n = (size_t)(len - point);
	text[n++] = '.';
	memcpy(text + n, digits + len - point, (size_t)point);
	n += (size_t)point;
	while (zeros-- > 0 && n < cap - 8)
		text[n++] = '0';
	snprintf(text + n, cap - n, "%s", tail);
}

/* v / 2^shift as an exact decimal with `zeros` more zeros, suffix `unit`
 * (2^shift bytes). */
static void check_binary(int64_t v, int shift, int zeros, const char *unit)
{
	char text[TEXT_MAX];
	uint64_t mask = (UINT64_C(1) << shift) - 1, f = (uint64_t)v & mask;
	int n, sig;

	/* at most 19 + 1 + 60 + 39 + 2 characters: TEXT_MAX holds them */
	n = snprintf(text, sizeof(text), "%llu.", (unsigned long long)((uint64_t)v >> shift));
	while (f != 0) { /* at most `shift` digits: 2^-shift has that many */
		f *= 10;
		text[n++] = (char)('0' + (f >> shift));
		f &= mask;
	}
	while (zeros-- > 0)
		text[n++] = '0';
	text[n] = '\0';
	sig = significant(text);
	snprintf(text + n, sizeof(text) - (size_t)n, "%s", unit);
	check_exact(text, v, sig);
}

/* v / 10^pow10 with a decimal suffix, and as an exponent. */
static void check_decimal(int64_t v, int pow10, int zeros, const char *unit)
{
	char text[TEXT_MAX], tail[16];
	int n;

	write_decimal(text, sizeof(text), v, pow10, zeros, unit);
	check_exact(text, v, 0);
	snprintf(tail, sizeof(tail), "e%d", pow10);
	write_decimal(text, sizeof(text), v, pow10, zeros, tail);
	check_exact(text, v, 0);
	/* v followed by `zeros` zeros, times 10^-zeros */
	n = snprintf(text, sizeof(text), "%lld", (long long)v);
	memset(text + n, '0', (size_t)zeros);
	snprintf(text + n + zeros, sizeof(text) - (size_t)(n + zeros), "E-%d", zeros);
	check_exact(text, v, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const binary[] = { "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
	static const char *const decimal[] = { "k", "M", "G", "T", "P", "E" };
	char text[TEXT_MAX + 1];
	size_t n = size < TEXT_MAX ? size : TEXT_MAX, i;
	uint64_t raw = 0;
	int64_t v = -1;
	int rc, unit = 0, zeros = 0;

	memcpy(text, data, n);
	text[n] = '\0';
	rc = kube_quantity_parse(&v, text);
	if (rc == 0) {
		CHECK(v >= 0);
		check_format(v);
	} else {
		CHECK(rc == SS_EINVALID || rc == SS_ETOOLARGE);
		CHECK(ss_error_last()->code == rc);
		CHECK(ss_error_last()->message[0] != '\0');
	}

	for (i = 0; i < 8 && i < size; i++)
		raw = raw << 8 | data[i];
	v = (int64_t)(raw >> 1);
	if (size > 8)
		unit = data[8] % 6;
	if (size > 9)
		zeros = data[9] % 40;
	check_format(v);
	check_binary(v, 10 * (unit + 1), zeros, binary[unit]);
	check_decimal(v, 3 * (unit + 1), zeros, decimal[unit]);
	return 0;
}
