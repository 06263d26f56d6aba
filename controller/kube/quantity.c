/*
 * quantity.c — see quantity.h.
 *
 * The number is read into an exact decimal: up to 36 significant digits
 * as an unsigned __int128 mantissa and a base-10 exponent, then scaled by
 * the suffix with exact integer arithmetic, so "0.1Gi" and "1e-3" round up
 * correctly without floating point. A nonzero digit past the 36th adds one
 * to the mantissa, so the result is never below the text's value (at most
 * one byte above the exact ceiling). A binary suffix with a decimal
 * fraction ("5.1Ei") is one exact division, whose remainder is what the
 * power of two multiplies (scale_down), so no intermediate outgrows 128
 * bits on the way to a size that fits.
 */
#include "kube/quantity.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

typedef unsigned __int128 u128;

#define MANTISSA_DIGITS 36 /* stays far below 2^128 after small scaling */
#define TEXT_MAX 64

static const struct {
	const char *suffix;
	int pow2;  /* value * 2^pow2 */
	int pow10; /* value * 10^pow10 */
} suffixes[] = {
	{ "Ki", 10, 0 }, { "Mi", 20, 0 }, { "Gi", 30, 0 }, { "Ti", 40, 0 },
	{ "Pi", 50, 0 }, { "Ei", 60, 0 }, { "n", 0, -9 },  { "u", 0, -6 },
	{ "m", 0, -3 },	 { "", 0, 0 },	  { "k", 0, 3 },   { "M", 0, 6 },
	{ "G", 0, 9 },	 { "T", 0, 12 },  { "P", 0, 15 },  { "E", 0, 18 },
};

static int malformed(const char *text)
{
	return ss_error_set(SS_EINVALID,
			    "quantity \"%.*s\" is not a valid size (e.g. \"10Gi\")",
			    TEXT_MAX, text);
}

/* Reads an optionally signed decimal exponent. */
static bool read_exponent(int *out, const char *p)
{
	bool negative = false;
	int e = 0;

	if (*p == '+' || *p == '-')
		negative = (*p++ == '-');
	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p)) {
		if (e > 1000)
			return false;
		e = e * 10 + (*p++ - '0');
	}
	if (*p != '\0')
		return false;
	*out = negative ? -e : e;
	return true;
}

/* The number: *mantissa * 10^*exp10, its first MANTISSA_DIGITS
 * significant digits. A nonzero digit past them sets *dropped: the value
 * is then a little more than that. Leaves *p after the number; false when
 * there is no digit. */
static bool read_number(const char **pp, u128 *mantissa, int *exp10, bool *dropped)
{
	const char *p = *pp;
	bool any_digit = false, point = false;
	int digits = 0;

	for (;; p++) {
		if (*p == '.' && !point) {
			point = true;
			continue;
		}
		if (!isdigit((unsigned char)*p))
			break;
		any_digit = true;
		if (digits < MANTISSA_DIGITS) {
			*mantissa = *mantissa * 10 + (u128)(*p - '0');
			if (*mantissa != 0)
				digits++;
			if (point)
				(*exp10)--;
		} else {
			if (*p != '0')
				*dropped = true;
			if (!point)
				(*exp10)++; /* only its place counts */
		}
	}
	*pp = p;
	return any_digit;
}

/* The suffix or exponent after the number, added to *exp10 and *pow2. */
static bool read_suffix(const char *p, int *exp10, int *pow2)
{
	size_t i;
	int e;

	/* "1E" is exa and "1Ei" exbi; "1E3" and "1e-3" are exponents. */
	if ((*p == 'e' || *p == 'E') && p[1] != '\0' && p[1] != 'i') {
		if (!read_exponent(&e, p + 1))
			return false;
		*exp10 += e;
		return true;
	}
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (strcmp(p, suffixes[i].suffix) == 0) {
			*exp10 += suffixes[i].pow10;
			*pow2 = suffixes[i].pow2;
			return true;
		}
	}
	return false;
}

/* ceil(m * 2^pow2 / 10^k) for m > 0, k > 0, exactly: the binary suffix
 * is applied to the remainder of the division, not before it, so
 * "1.000000000000Gi" (10^12 * 2^30 / 10^12) does not overflow on the way.
 * The twos of 10^k cancel against 2^pow2 first; what is left is either a
 * plain division (rounded up step by step, which is exact for ceilings)
 * or ceil(m * 2^p / 5^k), done as q * 2^p plus a binary long division of
 * the remainder, every intermediate below 2 * 5^k. false: too large. */
static bool scale_down(u128 *out, u128 m, int pow2, int k)
{
	int t = pow2 < k ? pow2 : k, p = pow2 - t, i;
	u128 d = 1, q, r, frac = 0;

	if (p == 0) { /* m / (2^(k-t) * 5^k) */
		for (i = 0; i < k + (k - t) && m > 1; i++) {
			u128 div = i < k ? 5 : 2;

			m = m / div + (m % div != 0);
		}
		*out = m;
		return true;
	}
	/* here k = t < pow2 <= 60; with m <= 10^36 the value is below one
	 * when 10^k > 10^36 * 2^60, i.e. k >= 55 */
	if (k >= 55) {
		*out = 1;
		return true;
	}
	for (i = 0; i < k; i++)
		d *= 5; /* 5^54 < 2^126 */
	q = m / d;
	r = m % d;
	if (q > ((u128)INT64_MAX >> p))
		return false;
	for (i = 0; i < p; i++) {
		r <<= 1;
		frac <<= 1;
		if (r >= d) {
			r -= d;
			frac |= 1;
		}
	}
	*out = (q << p) + frac + (r != 0);
	return true;
}

int kube_quantity_parse(int64_t *out, const char *text)
{
	const char *p = text;
	u128 mantissa = 0;
	int exp10 = 0, pow2 = 0, i;
	bool dropped = false;

	if (text == NULL || *text == '\0')
		return ss_error_set(SS_EINVALID, "quantity is empty");
	if (*p == '-')
		return ss_error_set(SS_EINVALID, "quantity \"%.*s\" is negative",
				    TEXT_MAX, text);
	if (*p == '+')
		p++;
	if (!read_number(&p, &mantissa, &exp10, &dropped) ||
	    !read_suffix(p, &exp10, &pow2))
		return malformed(text);

	/* value = mantissa * 10^exp10 * 2^pow2, rounded up; a dropped tail
	 * rounds the mantissa up first, so the result is never below it. */
	if (mantissa == 0 && !dropped) {
		*out = 0;
		return 0;
	}
	mantissa += dropped;
	for (; exp10 > 0; exp10--) {
		if (mantissa > (u128)INT64_MAX)
			goto too_large;
		mantissa *= 10;
	}
	for (i = 0; i < pow2 && exp10 == 0; i++) {
		if (mantissa > (u128)INT64_MAX)
			goto too_large;
		mantissa <<= 1;
	}
	if (exp10 < 0 && !scale_down(&mantissa, mantissa, pow2, -exp10))
		goto too_large;
	if (mantissa > (u128)INT64_MAX)
		goto too_large;
	*out = (int64_t)mantissa;
	return 0;

too_large:
	return ss_error_set(SS_ETOOLARGE, "quantity \"%.*s\" is too large", TEXT_MAX,
			    text);
}

int kube_quantity_from_json(int64_t *out, const json_t *value)
{
	if (json_is_integer(value)) {
		if (json_integer_value(value) < 0)
			return ss_error_set(SS_EINVALID, "quantity %lld is negative",
					    (long long)json_integer_value(value));
		*out = (int64_t)json_integer_value(value);
		return 0;
	}
	if (json_is_string(value))
		return kube_quantity_parse(out, json_string_value(value));
	return ss_error_set(SS_EINVALID, "quantity must be a string or an integer");
}

char *kube_quantity_format(char *buf, size_t cap, int64_t bytes)
{
	static const char *const names[] = { "Ei", "Pi", "Ti", "Gi", "Mi", "Ki" };
	int shift = 60;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++, shift -= 10) {
		int64_t unit = INT64_C(1) << shift;

		if (bytes > 0 && bytes % unit == 0) {
			snprintf(buf, cap, "%lld%s", (long long)(bytes / unit), names[i]);
			return buf;
		}
	}
	snprintf(buf, cap, "%lld", (long long)bytes);
	return buf;
}
