/*
 * test_db_verify_rules.c — the pure parts of app/db/verify.h: table names
 * quoted for CHECK TABLE (backticks doubled, bounded), CHECK TABLE's rows
 * told OK or corrupt (with the rows MariaDB 10.11 gives for a corrupt
 * MyISAM table), the corrupt list cut with ", ...", the SQL trimmed,
 * numbers parsed, a user check's expectation and the words for its
 * statement errors, which never quote a text that may name the account.
 * The server side is tests/integration/test_db_verify.c.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"

#include "app/db/verify.h"
#include "util/error.h"

/* ---- quoting ---------------------------------------------------------------- */

static void test_quote_table(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(app_db_verify_quote_table(out, sizeof(out), "db", "t1"), 0);
	assert_string_equal(out, "`db`.`t1`");
	assert_int_equal(app_db_verify_quote_table(out, sizeof(out), "a`b", "``"), 0);
	assert_string_equal(out, "`a``b`.``````");
	/* a dot or a quote inside a name stays inside its backticks */
	assert_int_equal(app_db_verify_quote_table(out, sizeof(out), "x.y", "it's"), 0);
	assert_string_equal(out, "`x.y`.`it's`");
	assert_int_equal(app_db_verify_quote_table(out, sizeof(out), "", ""), 0);
	assert_string_equal(out, "``.``");
}

static void test_quote_table_bounds(void **state)
{
	char out[10];

	(void)state;
	/* "`ab`.`cd`" is 9 bytes: fits exactly */
	assert_int_equal(app_db_verify_quote_table(out, sizeof(out), "ab", "cd"), 0);
	assert_string_equal(out, "`ab`.`cd`");
	assert_int_equal(app_db_verify_quote_table(out, sizeof(out), "ab", "cde"),
			 SS_ETOOLARGE);
	assert_string_equal(out, "");
	/* a doubled backtick takes two bytes */
	assert_int_equal(app_db_verify_quote_table(out, sizeof(out), "a`", "cd"),
			 SS_ETOOLARGE);
	assert_string_equal(out, "");
	assert_int_equal(app_db_verify_quote_table(out, 4, "abcdef", "x"), SS_ETOOLARGE);
	assert_string_equal(out, "");
}

/* ---- CHECK TABLE rows ---------------------------------------------------------- */

typedef struct {
	const char *type, *text;
} row;

static bool classify(const row *rows, size_t n, const char **why, app_db_check_rows *r)
{
	size_t i;

	app_db_verify_rows_init(r);
	for (i = 0; i < n; i++)
		app_db_verify_rows_add(r, rows[i].type, rows[i].text);
	return app_db_verify_rows_corrupt(r, why);
}

static void test_rows_ok(void **state)
{
	static const row ok[] = { { "status", "OK" } };
	static const row up_to_date[] = { { "status", "Table is already up to date" } };
	/* a MyISAM table not closed properly: a warning, then OK */
	static const row warned[] = {
		{ "warning", "1 client is using or hasn't closed the table properly" },
		{ "status", "OK" },
	};
	static const row note[] = { { "note", "something" }, { "status", "OK" } };
	app_db_check_rows r;
	const char *why = NULL;

	(void)state;
	assert_false(classify(ok, 1, &why, &r));
	assert_string_equal(why, "OK");
	assert_false(classify(up_to_date, 1, &why, &r));
	assert_false(classify(warned, 2, &why, &r));
	assert_false(classify(note, 2, &why, &r));
}

static void test_rows_corrupt(void **state)
{
	/* MariaDB 10.11, garbage written into a MyISAM table's .MYD */
	static const row myisam[] = {
		{ "error", "Wrong bytesec: 255-255-255 at linkstart: 30016" },
		{ "error", "Corrupt" },
	};
	static const row crashed[] = {
		{ "warning", "Table is marked as crashed" },
		{ "error", "Wrong bytesec: 255-255-255 at linkstart: 30016" },
		{ "error", "Corrupt" },
	};
	/* an error row even with an OK status after it */
	static const row error_then_ok[] = { { "Error", "Table 'x' doesn't exist" },
					     { "status", "OK" } };
	static const row failed[] = { { "status", "Operation failed" } };
	static const row ok_then_bad[] = { { "status", "OK" }, { "status", "Corrupt" } };
	static const row only_note[] = {
		{ "note", "The storage engine for the table doesn't support check" }
	};
	app_db_check_rows r;
	const char *why = NULL;

	(void)state;
	assert_true(classify(myisam, 2, &why, &r));
	assert_string_equal(why, "Wrong bytesec: 255-255-255 at linkstart: 30016");
	assert_true(classify(crashed, 3, &why, &r));
	assert_string_equal(why, "Wrong bytesec: 255-255-255 at linkstart: 30016");
	assert_true(classify(error_then_ok, 2, &why, &r));
	assert_string_equal(why, "Table 'x' doesn't exist");
	assert_true(classify(failed, 1, &why, &r));
	assert_string_equal(why, "Operation failed");
	/* the last status decides */
	assert_true(classify(ok_then_bad, 2, &why, &r));
	assert_string_equal(why, "Corrupt");
	/* no status at all is not OK */
	assert_true(classify(only_note, 1, &why, &r));
	assert_string_equal(why, "CHECK TABLE gave no status");
	assert_true(classify(NULL, 0, &why, &r));
	/* NULL fields are taken as empty, never as OK */
	app_db_verify_rows_init(&r);
	app_db_verify_rows_add(&r, "status", NULL);
	app_db_verify_rows_add(&r, NULL, "OK");
	assert_true(app_db_verify_rows_corrupt(&r, &why));
	assert_string_equal(why, "an empty status");
}

static void test_rows_withhold_account(void **state)
{
	static const row denied[] = {
		{ "Error", "SELECT command denied to user 'alice'@'10.0.0.1' for table "
			   "`db`.`t`" },
		{ "status", "Operation failed" },
	};
	static const row at[] = { { "error", "definer 'bob'@'%' does not exist" } };
	app_db_check_rows r;
	const char *why = NULL;

	(void)state;
	assert_true(classify(denied, 2, &why, &r));
	assert_null(strstr(why, "alice"));
	assert_non_null(strstr(why, "privilege error"));
	assert_true(classify(at, 1, &why, &r));
	assert_null(strstr(why, "bob"));
}

/* ---- the corrupt list ------------------------------------------------------------ */

static void test_note_corrupt(void **state)
{
	char list[APP_DB_VERIFY_CORRUPT_MAX] = "";
	char small[40] = "";
	int i;

	(void)state;
	app_db_verify_note_corrupt(list, sizeof(list), "`db`.`t1`", "Corrupt");
	assert_string_equal(list, "`db`.`t1` (Corrupt)");
	app_db_verify_note_corrupt(list, sizeof(list), "`db`.`t2`", "Wrong bytesec");
	assert_string_equal(list, "`db`.`t1` (Corrupt), `db`.`t2` (Wrong bytesec)");

	/* "`a`.`b` (x)" is 11 bytes; two and the separator take 24, and
	 * room for ", ..." (5 + NUL) stays */
	app_db_verify_note_corrupt(small, sizeof(small), "`a`.`b`", "x");
	app_db_verify_note_corrupt(small, sizeof(small), "`a`.`c`", "x");
	assert_string_equal(small, "`a`.`b` (x), `a`.`c` (x)");
	app_db_verify_note_corrupt(small, sizeof(small), "`a`.`d`", "x");
	assert_string_equal(small, "`a`.`b` (x), `a`.`c` (x), ...");
	/* closed: later entries are dropped, even short ones */
	app_db_verify_note_corrupt(small, sizeof(small), "`e`", "");
	assert_string_equal(small, "`a`.`b` (x), `a`.`c` (x), ...");

	/* many: the list stays within its bound and ends with the ellipsis */
	list[0] = '\0';
	for (i = 0; i < 500; i++) {
		char name[32];

		snprintf(name, sizeof(name), "`db`.`t%d`", i);
		app_db_verify_note_corrupt(list, sizeof(list), name, "Corrupt");
	}
	assert_true(strlen(list) < sizeof(list));
	assert_string_equal(list + strlen(list) - 5, ", ...");
	assert_non_null(strstr(list, "`db`.`t0` (Corrupt), `db`.`t1` (Corrupt)"));
}

static void test_note_corrupt_first_too_long(void **state)
{
	char list[16] = "";
	char why[400];

	(void)state;
	app_db_verify_note_corrupt(list, sizeof(list), "`db`.`a_long_table_name`", "x");
	assert_string_equal(list, "...");
	app_db_verify_note_corrupt(list, sizeof(list), "`e`", "");
	assert_string_equal(list, "...");
	/* a long Msg_text is cut in the entry */
	memset(why, 'w', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	{
		char big[APP_DB_VERIFY_CORRUPT_MAX] = "";

		app_db_verify_note_corrupt(big, sizeof(big), "`d`.`t`", why);
		assert_true(strlen(big) < 260);
		assert_non_null(strstr(big, "w...)"));
	}
}

/* ---- SQL and numbers ------------------------------------------------------------- */

static void test_sql_len(void **state)
{
	(void)state;
	assert_int_equal(app_db_verify_sql_len("SELECT 1"), 8);
	assert_int_equal(app_db_verify_sql_len("SELECT 1;"), 8);
	assert_int_equal(app_db_verify_sql_len("SELECT 1 ; \n;\t"), 8);
	assert_int_equal(app_db_verify_sql_len("SELECT ';'"), 10);
	assert_int_equal(app_db_verify_sql_len("SELECT 1; SELECT 2"), 18);
	assert_int_equal(app_db_verify_sql_len(" ;; "), 0);
	assert_int_equal(app_db_verify_sql_len(""), 0);
}

static void test_parse_number(void **state)
{
	static const char *const bad[] = { "",	  " ",	 "abc", "12abc", "1 2", "0x10",
					   "inf", "nan", "-",	"1e999", "1,5" };
	double v = 0;
	size_t i;

	(void)state;
	assert_int_equal(app_db_verify_parse_number(&v, "42", 2), 0);
	assert_true(v == 42.0);
	assert_int_equal(app_db_verify_parse_number(&v, " -3.5 ", 6), 0);
	assert_true(v == -3.5);
	assert_int_equal(app_db_verify_parse_number(&v, "1e3", 3), 0);
	assert_true(v == 1000.0);
	assert_int_equal(app_db_verify_parse_number(&v, "10.000", 6), 0);
	assert_true(v == 10.0);
	/* only `len` bytes count */
	assert_int_equal(app_db_verify_parse_number(&v, "12abc", 2), 0);
	assert_true(v == 12.0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		assert_int_equal(app_db_verify_parse_number(&v, bad[i], strlen(bad[i])),
				 SS_EINVALID);
		assert_true(v == 7);
	}
}

/* ---- a user check's expectation ---------------------------------------------------- */

static app_db_check_result result(uint64_t n_rows, const char *value)
{
	app_db_check_result r = { .n_rows = n_rows };

	if (n_rows > 0) {
		r.has_value = true;
		r.is_null = value == NULL;
		r.value = value;
		r.value_len = r.value_kept = value ? strlen(value) : 0;
	}
	return r;
}

static void test_evaluate_rows(void **state)
{
	app_verify_check c = { .name = "n", .sql = "SELECT 1", .min_rows = 1 };
	app_db_check_result r;
	char msg[APP_DB_CHECK_MESSAGE_MAX];

	(void)state;
	r = result(3, "42");
	assert_true(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "3 rows; first value '42'");
	r = result(1, NULL);
	assert_true(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "1 row; first value NULL");
	r = result(0, NULL);
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "0 rows, at least 1 expected");
	c.min_rows = 5;
	r = result(4, "x");
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "4 rows, at least 5 expected");
	/* minRows 0: the statement must only run */
	c.min_rows = 0;
	r = result(0, NULL);
	assert_true(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "0 rows");
	/* a statement without a result set */
	r = result(0, NULL);
	c.equals = "x";
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "0 rows: no first value to test");
}

static void test_evaluate_equals(void **state)
{
	app_verify_check c = { .name = "n", .sql = "s", .min_rows = 1, .equals = "ok" };
	app_db_check_result r;
	char msg[APP_DB_CHECK_MESSAGE_MAX];
	static const char with_nul[] = { 'o', 'k', '\0', 'x' };

	(void)state;
	r = result(1, "ok");
	assert_true(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	r = result(1, "OK");
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "first value 'OK' is not 'ok'");
	r = result(1, "ok ");
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	r = result(1, NULL);
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "first value NULL is not 'ok'");
	/* bytes, not a C string: a NUL inside the value does not end it */
	r = result(1, "ok");
	r.value = with_nul;
	r.value_len = r.value_kept = sizeof(with_nul);
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	/* a value longer than what was kept never equals */
	r = result(1, "ok");
	r.value_len = 5000;
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	/* equals "" against an empty string */
	c.equals = "";
	r = result(1, "");
	assert_true(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
}

static void test_evaluate_numbers(void **state)
{
	app_verify_check c = { .name = "n",
			       .sql = "s",
			       .min_rows = 1,
			       .has_at_least = true,
			       .at_least = 10,
			       .has_at_most = true,
			       .at_most = 20.5 };
	app_db_check_result r;
	char msg[APP_DB_CHECK_MESSAGE_MAX];

	(void)state;
	r = result(1, "10");
	assert_true(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	r = result(1, "20.5");
	assert_true(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	r = result(1, "9.99");
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "first value '9.99' is below the minimum 10");
	r = result(1, "21");
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "first value '21' is above the maximum 20.5");
	r = result(1, "abc");
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "first value 'abc' is not a number");
	r = result(1, NULL);
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "first value NULL is not a number");
	/* only one bound */
	c.has_at_most = false;
	r = result(2, "1e6");
	assert_true(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "2 rows; first value '1e6'");
	c.has_at_least = false;
	c.has_at_most = true;
	c.at_most = 0;
	r = result(1, "-0.5");
	assert_true(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	r = result(1, "0.001");
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	/* equals and a bound together: both must hold */
	c.equals = "5";
	c.at_most = 4;
	r = result(1, "5");
	assert_false(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	assert_string_equal(msg, "first value '5' is above the maximum 4");
}

static void test_evaluate_long_value(void **state)
{
	app_verify_check c = { .name = "n", .sql = "s", .min_rows = 1 };
	char value[300], msg[APP_DB_CHECK_MESSAGE_MAX];
	app_db_check_result r;

	(void)state;
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	r = result(1, value);
	assert_true(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	/* shown cut */
	assert_true(strlen(msg) < 100);
	assert_non_null(strstr(msg, "v...'"));
	/* a tiny buffer is never overrun */
	assert_true(app_db_verify_evaluate(msg, 8, &c, &r));
	assert_int_equal(strlen(msg), 7);
}

/* A first value whose 64th byte starts a character ("ü": 0xC3 0xBC) is
 * shown cut mid-character, and a binary one is not UTF-8 at all: the
 * message still goes into status.verification, the stray bytes as '?'
 * (json_string() refused it: the status write failed as "out of memory"
 * and the verdict could not be recorded). Found by fuzz_db_verify. */
static void test_evaluate_value_not_utf8(void **state)
{
	app_verify_check c = { .name = "n", .sql = "s", .min_rows = 1 };
	char value[80], msg[APP_DB_CHECK_MESSAGE_MAX];
	const json_t *checks;
	app_verification_status v;
	app_db_check_result r;
	json_t *obj = json_object();
	const char *written;

	(void)state;
	memset(value, 'a', 63);
	memcpy(value + 63, "\xc3\xbc", 3);
	r = result(1, value);
	assert_true(app_db_verify_evaluate(msg, sizeof(msg), &c, &r));
	app_verification_status_init(&v);
	v.checks[0] = (app_verify_check_status){ .type = "User",
						 .name = "n",
						 .result = "Passed",
						 .duration_ms = 1,
						 .message = msg };
	v.n_checks = 1;
	v.message = "\xff\xfe binary";
	assert_int_equal(app_verification_status_encode(obj, &v), 0);
	checks = json_object_get(
		json_object_get(json_object_get(obj, "status"), "verification"),
		"checks");
	written =
		json_string_value(json_object_get(json_array_get(checks, 0), "message"));
	assert_non_null(written);
	assert_non_null(strstr(written, "aaaa?...'"));
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(obj, "status"), "verification"),
			"message")),
		"?? binary");
	json_decref(obj);
}

/* ---- a user check's errors ------------------------------------------------------------
 */

static void test_error_message(void **state)
{
	char msg[APP_DB_CHECK_MESSAGE_MAX];

	(void)state;
	app_db_verify_error_message(msg, sizeof(msg), 1064,
				    "You have an error in your SQL syntax; near 'SELEC'",
				    30);
	assert_string_equal(msg, "MariaDB error 1064: a syntax error: You have an error "
				 "in your SQL syntax; near 'SELEC'");
	app_db_verify_error_message(msg, sizeof(msg), 1146,
				    "Table 'db.nope' doesn't exist", 30);
	assert_string_equal(msg, "MariaDB error 1146: a table it names does not exist: "
				 "Table 'db.nope' doesn't exist");
	app_db_verify_error_message(msg, sizeof(msg), 1792,
				    "Cannot execute statement in a READ ONLY transaction",
				    30);
	assert_string_equal(msg, "MariaDB error 1792: it writes, and checks run "
				 "read-only");
	app_db_verify_error_message(msg, sizeof(msg), 1969,
				    "Query execution was "
				    "interrupted",
				    7);
	assert_string_equal(msg, "MariaDB error 1969: it ran longer than its timeout "
				 "of 7 s (max_statement_time)");
}

static void test_error_message_withholds_account(void **state)
{
	static const unsigned int errs[] = { 1044, 1045, 1142, 1143, 1370,
					     1698, 1227, 1000, 9999 };
	char msg[APP_DB_CHECK_MESSAGE_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		char number[32];

		app_db_verify_error_message(msg, sizeof(msg), errs[i],
					    "SELECT command denied to user "
					    "'alice'@'10.1.2.3' for table 't'",
					    30);
		snprintf(number, sizeof(number), "MariaDB error %u", errs[i]);
		assert_non_null(strstr(msg, number));
		if (errs[i] != 1227) /* 1227's text names a privilege only */
			assert_null(strstr(msg, "alice"));
	}
	app_db_verify_error_message(msg, sizeof(msg), 1142, "x 'alice'@'h'", 30);
	assert_string_equal(msg, "MariaDB error 1142: the account lacks a privilege "
				 "this statement needs");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_table),
		cmocka_unit_test(test_quote_table_bounds),
		cmocka_unit_test(test_rows_ok),
		cmocka_unit_test(test_rows_corrupt),
		cmocka_unit_test(test_rows_withhold_account),
		cmocka_unit_test(test_note_corrupt),
		cmocka_unit_test(test_note_corrupt_first_too_long),
		cmocka_unit_test(test_sql_len),
		cmocka_unit_test(test_parse_number),
		cmocka_unit_test(test_evaluate_rows),
		cmocka_unit_test(test_evaluate_equals),
		cmocka_unit_test(test_evaluate_numbers),
		cmocka_unit_test(test_evaluate_long_value),
		cmocka_unit_test(test_evaluate_value_not_utf8),
		cmocka_unit_test(test_error_message),
		cmocka_unit_test(test_error_message_withholds_account),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
