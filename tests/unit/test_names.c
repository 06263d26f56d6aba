/*
 * test_names.c — deterministic object names (app/api/names.h): the natural
 * name when it fits, a cut prefix plus a stable hash when it does not,
 * always a valid name of the right length, and never two equal names for
 * different inputs — neither ones that share a long prefix, nor a Backup's
 * snapshots whose parts read the same joined ("a-b" + "c", "a" + "b-c"), nor
 * a retry's and another Backup's. The snapstage.io/backup label value:
 * the name, or for a name over 63 a shortened value that no Backup can be
 * named.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "app/api/dec.h"
#include "app/api/names.h"
#include "util/error.h"

static void test_natural_names(void **state)
{
	char out[APP_NAME_BUF];

	(void)state;
	/* 2026-11-23T03:00:59.9Z: the minute is what counts */
	assert_int_equal(app_name_scheduled_backup(out, "nightly", 1795402859900000000LL),
			 0);
	assert_string_equal(out, "nightly-202611230300");
	assert_int_equal(app_name_join(out, 63, "a", "b"), 0);
	assert_string_equal(out, "a-b");
}

/* The readable part, then a hash of (backup, volume, attempt) — pinned
 * (the values were computed independently, in Python), as a retry by
 * another build or after an upgrade must find the same name. */
static void test_snapshot_names(void **state)
{
	char out[APP_NAME_BUF];

	(void)state;
	assert_int_equal(app_name_backup_snapshot(out, "nightly-202611230300", "data", 1),
			 0);
	assert_string_equal(out, "nightly-202611230300-data-33bf9bede2");
	assert_int_equal(app_name_backup_snapshot(out, "nightly-202611230300", "data", 2),
			 0);
	assert_string_equal(out, "nightly-202611230300-data-r2-87c73ac41b");
	assert_true(app_dec_is_dns_label(out));
}

/* The two collisions of the old <backup>-<volume> and <backup>-r<N>-<volume>
 * names (issue 14): both gave "a-b-c" and "x-r2-data" twice. */
static void test_snapshot_names_do_not_collide(void **state)
{
	char a[APP_NAME_BUF], b[APP_NAME_BUF];

	(void)state;
	assert_int_equal(app_name_backup_snapshot(a, "a-b", "c", 1), 0);
	assert_int_equal(app_name_backup_snapshot(b, "a", "b-c", 1), 0);
	assert_string_equal(a, "a-b-c-d6a27502cb");
	assert_string_equal(b, "a-b-c-5425593d14");

	/* a retry of Backup x, and attempt 1 of a Backup named x-r2 */
	assert_int_equal(app_name_backup_snapshot(a, "x", "data", 2), 0);
	assert_int_equal(app_name_backup_snapshot(b, "x-r2", "data", 1), 0);
	assert_string_not_equal(a, b);
	/* ... and of Backup x-data with volume r2 */
	assert_int_equal(app_name_backup_snapshot(b, "x-data", "r2", 1), 0);
	assert_string_not_equal(a, b);
	/* each attempt its own names */
	assert_int_equal(app_name_backup_snapshot(b, "x", "data", 1), 0);
	assert_string_not_equal(a, b);
}

static int cmp_names(const void *x, const void *y)
{
	return strcmp((const char *)x, (const char *)y);
}

/* Every string of length 1..max over {a, b, -} that is a DNS label (no '-'
 * at either end), into parts[] (each 8 bytes); returns how many. */
static size_t dns_words(char (*parts)[8], size_t cap, size_t max)
{
	static const char alphabet[] = "ab-";
	size_t n = 0, len, code, total, i;

	for (len = 1; len <= max; len++) {
		for (total = 1, i = 0; i < len; i++)
			total *= 3;
		for (code = 0; code < total && n < cap; code++) {
			size_t c = code;

			for (i = 0; i < len; i++, c /= 3)
				parts[n][i] = alphabet[c % 3];
			parts[n][len] = '\0';
			if (parts[n][0] != '-' && parts[n][len - 1] != '-')
				n++;
		}
	}
	return n;
}

/* Property: over every (backup, volume, attempt) of a generated set built to
 * make joined parts read alike — and again with Backup names so long that
 * the readable part of every name is the same cut prefix — no two names are
 * equal, each is a DNS label of at most 63, and each is made again the same. */
static void test_snapshot_names_never_collide(void **state)
{
	static char backups[200][8], volumes[64][8];
	size_t nb = dns_words(backups, 200, 5), nv = dns_words(volumes, 64, 4);
	size_t round, bi, vi, n = 0, i;
	int attempt;
	char(*names)[APP_NAME_BUF];

	(void)state;
	assert_int_equal(nb, 162);
	assert_int_equal(nv, 54);
	names = calloc(2 * nb * nv * 3, sizeof(*names));
	assert_non_null(names);
	for (round = 0; round < 2; round++) {
		for (bi = 0; bi < nb; bi++) {
			char backup[128];

			/* round 1: 60 x's first, so every name is cut to the same 52 */
			snprintf(backup, sizeof(backup), "%s%s",
				 round ? "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-"
				       : "",
				 backups[bi]);
			for (vi = 0; vi < nv; vi++) {
				for (attempt = 1; attempt <= 3; attempt++) {
					char again[APP_NAME_BUF];

					assert_int_equal(app_name_backup_snapshot(
								 names[n], backup,
								 volumes[vi], attempt),
							 0);
					assert_true(app_dec_is_dns_label(names[n]));
					assert_int_equal(app_name_backup_snapshot(
								 again, backup,
								 volumes[vi], attempt),
							 0);
					assert_string_equal(names[n], again);
					n++;
				}
			}
		}
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (i = 1; i < n; i++) {
		if (strcmp(names[i - 1], names[i]) == 0)
			fail_msg("two tuples are both named %s", names[i]);
	}
	print_message("%zu names, all different\n", n);
	free(names);
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
	assert_true(app_dec_is_dns_subdomain(a) && app_dec_is_label_value(a));
	assert_string_not_equal(a, b); /* different runs, same long prefix */
	assert_string_equal(a, again); /* stable */

	assert_int_equal(app_name_backup_snapshot(a, longname, "data", 1), 0);
	assert_int_equal(app_name_backup_snapshot(b, longname, "logs", 1), 0);
	assert_true(strlen(a) <= APP_LABEL_VALUE_MAX && app_dec_is_dns_subdomain(a));
	assert_true(strncmp(a, "xxxx", 4) == 0);
	assert_string_not_equal(a, b);
	longname[51] = '-'; /* the cut at 52 lands after "--": both go */
	assert_int_equal(app_name_backup_snapshot(a, longname, "data", 1), 0);
	assert_true(app_dec_is_dns_label(a));
	assert_int_equal(strlen(a), 50 + 1 + APP_NAME_HASH_LEN);

	memset(longname, 'y', sizeof(longname) - 1);
	longname[52] = '-';
	longname[53] = '-';
	assert_int_equal(app_name_join(a, 63, longname, "z"), 0);
	assert_true(strlen(a) <= 63);
	assert_true(app_dec_is_dns_subdomain(a));
}

/* The snapstage.io/backup label: the name up to 63; beyond, a value with
 * '_' (never in a name, so never another Backup's name) and a hash. */
static void test_backup_label(void **state)
{
	char out[APP_LABEL_VALUE_BUF], other[APP_LABEL_VALUE_BUF];
	char name[254];

	(void)state;
	assert_int_equal(app_name_backup_label(out, "nightly-202611230300"), 0);
	assert_string_equal(out, "nightly-202611230300");
	memset(name, 'n', 63);
	name[63] = '\0';
	assert_int_equal(app_name_backup_label(out, name), 0);
	assert_string_equal(out, name); /* 63 fits */

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	name[51] = '.'; /* cut after 52 would end in '.': it goes */
	assert_int_equal(app_name_backup_label(out, name), 0);
	assert_int_equal(strlen(out), 51 + 1 + APP_NAME_HASH_LEN);
	assert_true(app_dec_is_label_value(out));
	assert_non_null(strchr(out, '_'));
	assert_false(app_dec_is_dns_subdomain(out)); /* no Backup has this name */
	assert_true(app_name_backup_label_matches(out, name));
	name[200] = 'm'; /* same prefix, another name */
	assert_int_equal(app_name_backup_label(other, name), 0);
	assert_string_not_equal(out, other);
	assert_false(app_name_backup_label_matches(out, name));
	assert_true(app_name_backup_label_matches(other, name));

	assert_true(app_name_backup_label_matches("nightly", "nightly"));
	assert_false(app_name_backup_label_matches("weekly", "nightly"));
	assert_false(app_name_backup_label_matches(NULL, "nightly"));
	assert_false(app_name_backup_label_matches("", ""));
	assert_false(app_name_backup_label_matches("x", NULL));
}

static void test_empty_parts_are_refused(void **state)
{
	char out[APP_NAME_BUF];

	(void)state;
	assert_int_equal(app_name_join(out, 63, "", "b"), SS_EINVALID);
	assert_int_equal(app_name_join(out, 63, "a", NULL), SS_EINVALID);
	assert_int_equal(app_name_join(out, 5, "a", "b"), SS_EINVALID);
	assert_int_equal(app_name_backup_snapshot(out, "", "data", 1), SS_EINVALID);
	assert_int_equal(app_name_backup_snapshot(out, "b", NULL, 1), SS_EINVALID);
	assert_int_equal(app_name_backup_snapshot(out, "b", "data", 0), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "attempt 0");
	assert_int_equal(app_name_backup_label(out, ""), SS_EINVALID);
	assert_int_equal(app_name_backup_label(out, NULL), SS_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_natural_names),
		cmocka_unit_test(test_snapshot_names),
		cmocka_unit_test(test_snapshot_names_do_not_collide),
		cmocka_unit_test(test_snapshot_names_never_collide),
		cmocka_unit_test(test_long_names_are_cut_with_a_hash),
		cmocka_unit_test(test_backup_label),
		cmocka_unit_test(test_empty_parts_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
