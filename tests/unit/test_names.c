/*
 * test_names.c — deterministic object names (app/names.h): the natural
 * name when it fits, a cut prefix plus a stable hash when it does not,
 * always a valid name of the right length, and never two equal names for
 * different inputs that share a long prefix.
 */
#include <string.h>

#include "testutil.h"

#include "app/fields.h"
#include "app/names.h"
#include "util/error.h"

static void test_natural_names(void **state)
{
	char out[APP_NAME_BUF];

	(void)state;
	assert_int_equal(app_name_backup_snapshot(out, "nightly-202611230300", "data"),
			 0);
	assert_string_equal(out, "nightly-202611230300-data");
	/* 2026-11-23T03:00:59.9Z: the minute is what counts */
	assert_int_equal(app_name_scheduled_backup(out, "nightly", 1795402859900000000LL),
			 0);
	assert_string_equal(out, "nightly-202611230300");
	assert_int_equal(app_name_join(out, 63, "a", "b"), 0);
	assert_string_equal(out, "a-b");
}

static void test_long_names_are_cut_with_a_hash(void **state)
{
	char a[APP_NAME_BUF], b[APP_NAME_BUF], again[APP_NAME_BUF];
	char longname[240];

	(void)state;
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	longname[50] = '-'; /* a cut may land after a '-': it must not end the prefix */
	assert_int_equal(app_name_scheduled_backup(a, longname, 1795402800000000000LL),
			 0);
	assert_int_equal(app_name_scheduled_backup(b, longname, 1795406400000000000LL),
			 0);
	assert_int_equal(
		app_name_scheduled_backup(again, longname, 1795402800000000000LL), 0);
	assert_int_equal(strlen(a), APP_LABEL_VALUE_MAX);
	assert_true(app_is_dns_subdomain(a) && app_is_label_value(a));
	assert_string_not_equal(a, b); /* different runs, same long prefix */
	assert_string_equal(a, again); /* stable */

	assert_int_equal(app_name_backup_snapshot(a, longname, "data"), 0);
	assert_int_equal(app_name_backup_snapshot(b, longname, "logs"), 0);
	assert_true(strlen(a) <= APP_LABEL_VALUE_MAX && app_is_dns_subdomain(a));
	assert_string_not_equal(a, b);

	memset(longname, 'y', sizeof(longname) - 1);
	longname[52] = '-';
	longname[53] = '-';
	assert_int_equal(app_name_join(a, 63, longname, "z"), 0);
	assert_true(strlen(a) <= 63);
	assert_true(app_is_dns_subdomain(a));
}

static void test_empty_parts_are_refused(void **state)
{
	char out[APP_NAME_BUF];

	(void)state;
	assert_int_equal(app_name_join(out, 63, "", "b"), SS_EINVALID);
	assert_int_equal(app_name_join(out, 63, "a", NULL), SS_EINVALID);
	assert_int_equal(app_name_join(out, 5, "a", "b"), SS_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_natural_names),
		cmocka_unit_test(test_long_names_are_cut_with_a_hash),
		cmocka_unit_test(test_empty_parts_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
