/*
 * test_quantity.c — kube/quantity: sizes read exactly and rounded up, and
 * formatted sizes read back. (The basic grammar is in test_api.c's
 * test_quantity.) Expected values were computed with Python's fractions:
 * ceil(Fraction(text) * unit).
 */
#include <stdint.h>

#include "testutil.h"

#include "kube/quantity.h"
#include "util/error.h"

typedef struct {
	const char *text;
	int64_t bytes;
} quantity_case;

static void check_cases(const quantity_case *cases, size_t n)
{
	int64_t v;
	size_t i;

	for (i = 0; i < n; i++) {
		v = -1;
		if (kube_quantity_parse(&v, cases[i].text) != 0)
			fail_msg("%s: %s", cases[i].text, ss_error_last()->message);
		if (v != cases[i].bytes)
			fail_msg("%s: got %lld, want %lld", cases[i].text, (long long)v,
				 (long long)cases[i].bytes);
	}
}

/* Issue 16: the binary suffix was applied before the decimal division, so
 * a fraction with many digits overflowed on the way to a small size. */
static void test_binary_suffix_with_fraction(void **state)
{
	static const quantity_case cases[] = {
		{ "1.000000000000Gi", INT64_C(1) << 30 },
		{ "5.1Ei", INT64_C(5879899673494919578) },
		{ "7.999999999999999999Ei", INT64_MAX },
		{ "1.5Pi", INT64_C(1688849860263936) },
		{ "0.1Ki", 103 },
		{ "0.000123456789012345678901234567890123456Ei", INT64_C(142335986942044) },
		{ "0.000000000000000000000000000000000000000000000000000000001Ei", 1 },
		{ "1.00000000000000000000000000000000000Ei", INT64_C(1) << 60 },
	};
	int64_t v;

	(void)state;
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
	assert_int_equal(kube_quantity_parse(&v, "7.9999999999999999999999Ei"),
			 SS_ETOOLARGE);
	assert_int_equal(kube_quantity_parse(&v, "8.0000000000Ei"), SS_ETOOLARGE);
	tu_assert_error(SS_ETOOLARGE, "quantity \"8.0000000000Ei\" is too large");
}

/* Issue 16: digits past the 36th of the integer part were dropped, which
 * rounded down; the header promises never less than the text says. */
static void test_dropped_digits_round_up(void **state)
{
	static const quantity_case cases[] = {
		/* 10^36 + 1, over 10^36 */
		{ "1000000000000000000000000000000000001e-36", 2 },
		{ "1000000000000000000000000000000000000e-36", 1 },
		/* (10^36 + 1) * 10^-27 */
		{ "1000000000000000000000000000000000001e-27", INT64_C(1000000000) + 1 },
		{ "123456789012345678.901234567890123456789", INT64_C(123456789012345679) },
		{ "1.0000000000000000000000000000000000001", 2 },
	};

	(void)state;
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Every size formats to a text that reads back as the same size. */
static void test_format_round_trip(void **state)
{
	static const int64_t sizes[] = {
		0, 1, 1023, 1024, 1025, INT64_C(10) << 30, INT64_C(1536) << 20,
		INT64_C(1) << 60, INT64_C(7) << 60, INT64_MAX, INT64_MAX - 1023,
	};
	char buf[KUBE_QUANTITY_MAX];
	int64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		kube_quantity_format(buf, sizeof(buf), sizes[i]);
		assert_int_equal(kube_quantity_parse(&v, buf), 0);
		assert_true(v == sizes[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binary_suffix_with_fraction),
		cmocka_unit_test(test_dropped_digits_round_up),
		cmocka_unit_test(test_format_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
