/*
 * quantity.c — see quantity.h.
 *
 * The number is read into an exact decimal: up to 38 significant digits
 * as an unsigned __int128 mantissa and a base-10 exponent, then scaled by
 * the suffix with exact integer arithmetic, so "0.1Gi" and "1e-3" round up
 * correctly without floating point.
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

int kube_quantity_parse(int64_t *out, const char *text)
{
	const char *p = text;
	u128 mantissa = 0;
	int exp10 = 0, pow2 = 0, digits = 0;
	bool any_digit = false, found = false;
	size_t i;

	if (text == NULL || *text == '\0')
		return ss_error_set(SS_EINVALID, "quantity is empty");
	if (*p == '-')
		return ss_error_set(SS_EINVALID, "quantity \"%.*s\" is negative",
				    TEXT_MAX, text);
	if (*p == '+')
		p++;
	for (; isdigit((unsigned char)*p); p++) {
		any_digit = true;
		if (digits < MANTISSA_DIGITS) {
			mantissa = mantissa * 10 + (u128)(*p - '0');
			if (mantissa != 0)
				digits++;
		} else {
			exp10++; /* insignificant digit: only its place counts */
		}
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			any_digit = true;
			if (digits < MANTISSA_DIGITS) {
				mantissa = mantissa * 10 + (u128)(*p - '0');
				exp10--;
				if (mantissa != 0)
					digits++;
			} else if (*p != '0') {
				mantissa++; /* rounds up the dropped tail */
				while (isdigit((unsigned char)p[1]))
					p++;
			}
		}
	}
	if (!any_digit)
		return malformed(text);
	if (*p == 'e' || *p == 'E') {
		int e;

		/* "1E" is exa and "1Ei" exbi; "1E3" and "1e-3" are exponents. */
		if (p[1] != '\0' && p[1] != 'i') {
			if (!read_exponent(&e, p + 1))
				return malformed(text);
			exp10 += e;
			found = true;
		}
	}
	if (!found) {
		for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
			if (strcmp(p, suffixes[i].suffix) == 0) {
				exp10 += suffixes[i].pow10;
				pow2 = suffixes[i].pow2;
				found = true;
				break;
			}
		}
	}
	if (!found)
		return malformed(text);

	/* value = mantissa * 10^exp10 * 2^pow2, rounded up. */
	if (mantissa == 0) {
		*out = 0;
		return 0;
	}
	while (exp10 > 0) {
		if (mantissa > (u128)INT64_MAX * 2)
			goto too_large;
		mantissa *= 10;
		exp10--;
	}
	for (i = 0; i < (size_t)pow2; i++) {
		if (mantissa > (u128)INT64_MAX * 2)
			goto too_large;
		mantissa <<= 1;
	}
	while (exp10 < 0) {
		u128 rest = mantissa % 10;

		mantissa /= 10;
		if (rest != 0)
			mantissa++;
		exp10++;
		if (mantissa == 1 && exp10 < 0)
			break; /* anything positive rounds up to one byte */
	}
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
