/*
 * test_replication_input.c — the checks of what an in-place restore's
 * ConfiguringReplication hands MariaDB (app/db/replication_input.h): GTID
 * positions as the server takes them (tried against mariadbd 10.11), and
 * the replication user and password at the lengths MariaDB accepts, with
 * messages that never contain either.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "app/db/replication_input.h"
#include "util/error.h"

/* `n` copies of `unit` into buf (cap bytes). */
static const char *repeat(char *buf, size_t cap, const char *unit, size_t n)
{
	size_t len = strlen(unit), i;

	assert_true(n * len < cap);
	for (i = 0; i < n; i++)
		memcpy(buf + i * len, unit, len);
	buf[n * len] = '\0';
	return buf;
}

static void test_gtid_valid(void **state)
{
	static const char *const ok[] = {
		"",
		"0-1-5",
		"0-1-0",
		"0-1-5,1-2-7",
		"0-1-5, 1-2-7",
		"0-1-5,   1-2-7, 2-3-9",
		"1-1-5,0-1-2", /* any order */
		"4294967295-4294967295-18446744073709551615",
		"0-0-0,1-0-0,2-0-0,3-0-0,4-0-0,5-0-0,6-0-0,7-0-0,8-0-0,9-0-0",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (app_gtid_pos_check(ok[i]) != 0)
			fail_msg("\"%s\": %s", ok[i], ss_error_last()->message);
}

static void test_gtid_invalid(void **state)
{
	static const struct {
		const char *pos;
		const char *message;
	} bad[] = {
		/* what MariaDB refuses too (error 1941 or 1943) */
		{ "0-1-5,0-2-7",
		  "GTID position entry 2 (\"0-2-7\"): domain 0 is also in entry 1; a "
		  "position holds one GTID per domain" },
		{ "7-1-1, 3-1-1, 7-1-2",
		  "entry 3 (\"7-1-2\"): domain 7 is also in entry 1" },
		{ "4294967296-1-1",
		  "GTID position entry 1 (\"4294967296-1-1\"): the domain is above "
		  "4294967295" },
		{ "1-4294967296-1",
		  "entry 1 (\"1-4294967296-1\"): the server id is above "
		  "4294967295" },
		{ "1-1-18446744073709551616",
		  "the sequence number is above 18446744073709551615" },
		{ "1-1-99999999999999999999999", "the sequence number is above" },
		{ "1-1", "entry 1 (\"1-1\"): must be domain-server-sequence" },
		{ "1-1-1-1", "entry 1 (\"1-1-1-1\"): must be domain-server-sequence" },
		{ "a-1-1", "entry 1 (\"a-1-1\"): the domain is not a decimal number" },
		{ "0-1-5,", "the GTID position ends with a comma" },
		{ "0-1-5, ", "the GTID position ends with a comma" },
		{ ",0-1-5", "entry 1 (\"\"): the domain is not a decimal number" },
		{ "0-1-5,,1-2-7", "entry 2 (\"\"): the domain is not a decimal number" },
		{ "0-1-5 ,1-2-7",
		  "entry 1 (\"0-1-5 \"): must be domain-server-sequence" },
		{ "0-1-5 ", "must be domain-server-sequence" },
		{ " ", "entry 1 (\" \"): the domain is not a decimal number" },
		{ "0x1-1-1", "must be domain-server-sequence" },
		/* what MariaDB would take but never prints */
		{ " 0-1-5", "entry 1 (\" 0-1-5\"): the domain is not a decimal number" },
		{ "+1-1-1", "the domain is not a decimal number" },
		{ "00-1-5", "entry 1 (\"00-1-5\"): the domain has a leading zero" },
		{ "0-01-5", "the server id has a leading zero" },
		{ "0-1-05", "the sequence number has a leading zero" },
		{ "0- 1-5", "the server id is not a decimal number" },
		{ "0-1-5,\t1-2-7",
		  "entry 2 (\"?1-2-7\"): the domain is not a decimal number" },
		{ "0-1-5,\n1-2-7", "entry 2 (\"?1-2-7\")" },
		/* a quote is bounded and printable */
		{ "1-1-1,1234567890123456789012345678901234567890123456789012345678-1-1",
		  "entry 2 (\"123456789012345678901234567890123456789012345678...\"): "
		  "the domain is above 4294967295" },
		{ "1-1-1,2-2-\xc3\xa9",
		  "entry 2 (\"2-2-??\"): the sequence number is not" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = app_gtid_pos_check(bad[i].pos);

		if (rc != SS_EINVALID)
			fail_msg("case %zu \"%s\": got %d", i, bad[i].pos, rc);
		if (strstr(ss_error_last()->message, bad[i].message) == NULL)
			fail_msg("case %zu:\n got: %s\nwant: %s", i,
				 ss_error_last()->message, bad[i].message);
	}
	assert_int_equal(app_gtid_pos_check(NULL), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "no GTID position");
}

/* APP_REPLICATION_VALUE_MAX bytes pass, one more does not. */
static void test_gtid_length(void **state)
{
	char pos[400];
	size_t len = 0, d;

	(void)state;
	/* "0-1-1,1-1-1,...", then a last entry whose sequence number makes
	 * up the rest */
	for (d = 0; len < 230; d++) {
		snprintf(pos + len, sizeof(pos) - len, "%zu-1-1,", d);
		len = strlen(pos);
	}
	snprintf(pos + len, sizeof(pos) - len, "%zu-1-", d);
	len = strlen(pos);
	while (len < APP_REPLICATION_VALUE_MAX)
		pos[len++] = '7';
	pos[len] = '\0';
	assert_int_equal(strlen(pos), 255);
	if (app_gtid_pos_check(pos) != 0)
		fail_msg("%s: %s", pos, ss_error_last()->message);
	pos[len++] = '7';
	pos[len] = '\0';
	assert_int_equal(app_gtid_pos_check(pos), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "the GTID position is 256 bytes long; snapstage "
				     "passes MariaDB at most 255");
}

static void test_credentials_valid(void **state)
{
	char user[1024], pw[1024];

	(void)state;
	assert_int_equal(app_replication_credentials_check("repl", "s3cret"), 0);
	assert_int_equal(app_replication_credentials_check("repl", ""), 0);
	assert_int_equal(app_replication_credentials_check("r", "x"), 0);
	/* longer than the 32 characters of older servers' documentation */
	assert_int_equal(app_replication_credentials_check(
				 "repl", repeat(pw, sizeof(pw), "p", 40)),
			 0);
	/* at the limits: 128 characters (of 1 or 2 bytes), 96 bytes */
	assert_int_equal(
		app_replication_credentials_check(repeat(user, sizeof(user), "u", 128),
						  repeat(pw, sizeof(pw), "p", 96)),
		0);
	assert_int_equal(app_replication_credentials_check(
				 repeat(user, sizeof(user), "\xc3\xa9", 127),
				 repeat(pw, sizeof(pw), "\xc3\xa9", 48)),
			 0);
	/* 3-byte characters (U+20AC) and every printable ASCII byte */
	assert_int_equal(app_replication_credentials_check(
				 repeat(user, sizeof(user), "\xe2\x82\xac", 85),
				 repeat(pw, sizeof(pw), "\xe2\x82\xac", 32)),
			 0);
	assert_int_equal(app_replication_credentials_check(
				 "repl", " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
			 0);
}

/* Every message must hold neither the user nor the password. */
static void assert_rejected(const char *user, const char *pw, const char *message)
{
	const char *got;

	assert_int_equal(app_replication_credentials_check(user, pw), SS_EINVALID);
	got = ss_error_last()->message;
	if (strstr(got, message) == NULL)
		fail_msg("got: %s\nwant: %s", got, message);
	if ((user != NULL && strlen(user) > 3 && strstr(got, user) != NULL) ||
	    (pw != NULL && strlen(pw) > 3 && strstr(got, pw) != NULL))
		fail_msg("the message quotes a credential: %s", got);
}

static void test_credentials_invalid(void **state)
{
	char user[1024], pw[1024];

	(void)state;
	assert_rejected("", "s3cret", "the replication user is empty");
	assert_rejected(NULL, "s3cret", "the replication user is empty");
	assert_rejected("rpluser", NULL, "no replication password");
	/* one over MariaDB's limits: characters for the user, bytes for the
	 * password (49 two-byte characters are 98 bytes) */
	assert_rejected(repeat(user, sizeof(user), "u", 129), "pw",
			"the replication user is 129 characters long; MariaDB accepts at "
			"most 128 in MASTER_USER");
	assert_rejected(repeat(user, sizeof(user), "\xc3\xa9", 129), "pw",
			"the replication user is 129 characters long");
	assert_rejected("rpluser", repeat(pw, sizeof(pw), "p", 97),
			"the replication password is 97 bytes long in UTF-8; MariaDB "
			"accepts at most 96 in MASTER_PASSWORD");
	assert_rejected("rpluser", repeat(pw, sizeof(pw), "\xc3\xa9", 49),
			"the replication password is 98 bytes long");
	assert_rejected("rpluser", repeat(pw, sizeof(pw), "p", 4000 / 4),
			"the replication password is 1000 bytes long");
	/* within MariaDB's 128 characters, over what snapstage quotes */
	assert_rejected(repeat(user, sizeof(user), "\xe2\x82\xac", 86), "pw",
			"the replication user is 258 bytes long in UTF-8; snapstage "
			"passes MariaDB at most 255");
	/* stored as '?' by MariaDB (U+1F600) */
	assert_rejected("rpluser\xf0\x9f\x98\x80", "pw",
			"the replication user has a character of 4 bytes in UTF-8");
	assert_rejected("rpluser", "pass\xf0\x9f\x98\x80word",
			"the replication password has a character of 4 bytes");
	/* master.info is line by line; a Secret written with `echo` ends
	 * with a line break */
	assert_rejected("rpluser", "s3cret\n",
			"the replication password contains a control character such as a "
			"line break");
	assert_rejected("re\npl", "s3cret", "the replication user contains a control");
	assert_rejected("rpluser", "s3\tcret",
			"the replication password contains a control");
	assert_rejected("rpluser", "s3\rcret",
			"the replication password contains a control");
	assert_rejected("rpluser", "s3cret\x7f",
			"the replication password contains a control");
	/* not UTF-8: a stray continuation byte, a cut sequence, overlong
	 * forms, a UTF-16 surrogate, bytes UTF-8 never uses */
	assert_rejected("rpluser", "s3cret\x80",
			"the replication password is not valid UTF-8");
	assert_rejected("rpluser", "s3cret\xc3",
			"the replication password is not valid UTF-8");
	assert_rejected("rpluser", "\xe2\x82",
			"the replication password is not valid UTF-8");
	assert_rejected("rpluser", "a\xc0\xaf",
			"the replication password is not valid UTF-8");
	assert_rejected("rpluser", "a\xe0\x80\xaf",
			"the replication password is not valid");
	assert_rejected("rpluser", "a\xed\xa0\x80",
			"the replication password is not valid");
	assert_rejected("r\xff", "s3cret", "the replication user is not valid UTF-8");
	assert_rejected("r\xf8\x88\x80\x80\x80", "s3cret", "the replication user is not");
	/* the user is checked first */
	assert_rejected("", "s3cret\n", "the replication user is empty");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gtid_valid),
		cmocka_unit_test(test_gtid_invalid),
		cmocka_unit_test(test_gtid_length),
		cmocka_unit_test(test_credentials_valid),
		cmocka_unit_test(test_credentials_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
