/*
 * test_gtid.c — app/api/gtid.h: GTID positions as MariaDB 10.11 prints them
 * (sorted by domain, ',' between entries, no spaces), parsed, formatted
 * and compared the way point-in-time restore decides with them: whether a
 * base can start a replay to a target, whether a replica has reached a
 * target, and the target that stops just before a GTID (what START SLAVE
 * UNTIL master_gtid_pos does with it is in gtid.h).
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "app/api/gtid.h"
#include "util/error.h"

/* Parses `text`, failing the test if it is refused. */
static app_gtid_pos pos(const char *text)
{
	app_gtid_pos p;

	if (app_gtid_pos_parse(&p, text) != 0)
		fail_msg("\"%s\": %s", text, ss_error_last()->message);
	return p;
}

static app_gtid gtid(const char *text)
{
	app_gtid g;

	if (app_gtid_parse(&g, text) != 0)
		fail_msg("\"%s\": %s", text, ss_error_last()->message);
	return g;
}

/* The canonical text of p (static storage). */
static const char *text(const app_gtid_pos *p)
{
	static char buf[APP_GTID_TEXT_MAX];

	assert_int_equal(app_gtid_pos_format(buf, sizeof(buf), p), 0);
	return buf;
}

/* "D-S-N" entries for domains first..first+n-1 joined by ',' into buf. */
static const char *domains(char *buf, size_t cap, unsigned first, unsigned n)
{
	size_t len = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		int w = snprintf(buf + len, cap - len, "%s%u-1-%u", i ? "," : "",
				 first + i, i + 1);

		assert_true(w > 0 && (size_t)w < cap - len);
		len += (size_t)w;
	}
	return buf;
}

static void test_parse_good(void **state)
{
	static const struct {
		const char *in, *canonical;
	} ok[] = {
		{ "", "" },
		{ "   ", "" },
		{ " \t\r\n", "" },
		{ "0-1-5", "0-1-5" },
		{ "0-1-0", "0-1-0" },
		{ "0-1-5,1-2-9", "0-1-5,1-2-9" },
		{ "1-2-9,0-1-5", "0-1-5,1-2-9" },
		{ " 0-1-5 , 1-2-9 ", "0-1-5,1-2-9" },
		{ "0-1-5,\n\t1-2-9", "0-1-5,1-2-9" },
		/* as MariaDB 10.11 printed @@gtid_binlog_pos with eleven domains */
		{ "0-1-25,1-1-2,2-1-1,3-7-2,5-1-2,7-4294967295-18446744073709551615,10-1-"
		  "1,"
		  "100-1-1,65536-1-1,4000000000-1-1,4294967295-4294967295-1",
		  "0-1-25,1-1-2,2-1-1,3-7-2,5-1-2,7-4294967295-18446744073709551615,10-1-"
		  "1,"
		  "100-1-1,65536-1-1,4000000000-1-1,4294967295-4294967295-1" },
		/* Gtid_IO_Pos order (SHOW SLAVE STATUS does not sort) */
		{ "5-1-2,0-2-7,3-7-2,2-1-1,10-1-1", "0-2-7,2-1-1,3-7-2,5-1-2,10-1-1" },
		{ "4294967295-4294967295-18446744073709551615",
		  "4294967295-4294967295-18446744073709551615" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		app_gtid_pos p = pos(ok[i].in);

		if (strcmp(text(&p), ok[i].canonical) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", ok[i].in, text(&p),
				 ok[i].canonical);
	}
	/* NULL is the empty position too */
	{
		app_gtid_pos p = { .n = 9 };

		assert_int_equal(app_gtid_pos_parse(&p, NULL), 0);
		assert_int_equal(p.n, 0);
	}
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *in, *message;
	} bad[] = {
		{ ",", "entry 1 (\"\"): the domain is not a decimal number" },
		{ "0-1-5,", "the GTID position ends with a comma" },
		{ "0-1-5, ", "ends with a comma" },
		{ "0-1-5,,1-2-9", "entry 2 (\"\"): the domain is not" },
		{ ",0-1-5", "entry 1 (\"\"): the domain is not" },
		{ "0-1", "entry 1 (\"0-1\"): must be domain-server-sequence" },
		{ "0-1-", "the sequence number is not a decimal number" },
		{ "0--5", "the server id is not a decimal number" },
		{ "-1-5", "the domain is not a decimal number" },
		{ "0-1-5-6", "entry 1 (\"0-1-5-6\"): entries must be separated by ','" },
		{ "0-1-5 1-2-9", "entries must be separated by ','" },
		{ "0 -1-5", "must be domain-server-sequence" },
		{ "0- 1-5", "the server id is not a decimal number" },
		{ "+0-1-5", "the domain is not a decimal number" },
		{ "0-+1-5", "the server id is not a decimal number" },
		{ "0-1-+5", "the sequence number is not a decimal number" },
		{ "0-1--5", "the sequence number is not a decimal number" },
		{ "00-1-5", "the domain has a leading zero" },
		{ "0-01-5", "the server id has a leading zero" },
		{ "0-1-05", "the sequence number has a leading zero" },
		{ "0x1-1-1", "entry 1 (\"0x1-1-1\"): must be domain-server-sequence" },
		{ "4294967296-1-1", "the domain is above 4294967295" },
		{ "1-4294967296-1", "the server id is above 4294967295" },
		{ "1-1-18446744073709551616", "the sequence number is above "
					      "18446744073709551615" },
		{ "1-1-99999999999999999999", "the sequence number is above" },
		{ "99999999999-1-1", "the domain is above" },
		{ "0-1-5,0-2-9", "entry 2 (\"0-2-9\"): domain 0 is given twice" },
		{ "3-1-1, 1-1-1, 3-1-1", "entry 3 (\"3-1-1\"): domain 3 is given twice" },
		{ "1-1-1,2-2-\xc3\xa9", "entry 2 (\"2-2-??\"): the sequence number" },
		{ "1-1-1,123456789012345678901234567890123456789012345678901234567890",
		  "entry 2 (\"123456789012345678901234567890123456789012345678...\")" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		app_gtid_pos p = { .n = 7 };

		if (app_gtid_pos_parse(&p, bad[i].in) != SS_EINVALID)
			fail_msg("case %zu \"%s\" was accepted", i, bad[i].in);
		if (strstr(ss_error_last()->message, bad[i].message) == NULL)
			fail_msg("case %zu:\n got: %s\nwant: %s", i,
				 ss_error_last()->message, bad[i].message);
		assert_int_equal(p.n, 7); /* untouched */
	}
}

static void test_parse_domain_limit(void **state)
{
	char buf[APP_GTID_TEXT_MAX * 2];
	app_gtid_pos p;

	(void)state;
	p = pos(domains(buf, sizeof(buf), 4294967295u - 63, APP_GTID_MAX_DOMAINS));
	assert_int_equal(p.n, APP_GTID_MAX_DOMAINS);
	assert_string_equal(text(&p), buf);
	assert_int_equal(app_gtid_pos_parse(&p, domains(buf, sizeof(buf), 0,
							APP_GTID_MAX_DOMAINS + 1)),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "entry 65 (\"64-1-65\"): more than 64 domains");
}

static void test_parse_one(void **state)
{
	static const char *const bad[] = {
		"",
		" 0-1-5",
		"0-1-5 ",
		"0-1-5,",
		"0-1-5,1-1-1",
		"0-1",
		"+0-1-5",
		"0-1-18446744073709551616",
		"0-4294967296-1",
		"01-1-1",
	};
	app_gtid g = gtid("4294967295-4294967295-18446744073709551615");
	size_t i;

	(void)state;
	assert_true(g.domain == 4294967295u && g.server == 4294967295u &&
		    g.seq == UINT64_MAX);
	g = gtid("0-2-0");
	assert_true(g.domain == 0 && g.server == 2 && g.seq == 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		app_gtid out = { 1, 2, 3 };

		if (app_gtid_parse(&out, bad[i]) != SS_EINVALID)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_true(out.domain == 1 && out.server == 2 && out.seq == 3);
	}
	assert_int_equal(app_gtid_parse(&g, NULL), SS_EINVALID);
	assert_int_equal(app_gtid_parse(&g, "0-1-5 "), SS_EINVALID);
	tu_assert_error(SS_EINVALID,
			"GTID (\"0-1-5 \"): must be domain-server-sequence alone");
}

static void test_format(void **state)
{
	char buf[APP_GTID_TEXT_MAX * 2], small[12];
	app_gtid_pos p = { .n = 0 }, q;
	app_gtid g;
	size_t i;

	(void)state;
	/* a position set by hand in any order formats sorted */
	for (i = 0; i < 5; i++) {
		g = (app_gtid){ (uint32_t)(40 - i * 10), 1, i };
		assert_int_equal(app_gtid_pos_set(&p, &g), 0);
	}
	assert_string_equal(text(&p), "0-1-4,10-1-3,20-1-2,30-1-1,40-1-0");
	p.g[0] = p.g[4]; /* unsorted by hand: still canonical */
	p.g[4] = (app_gtid){ 0, 1, 4 };
	assert_string_equal(text(&p), "0-1-4,10-1-3,20-1-2,30-1-1,40-1-0");
	/* exactly fitting, one byte short */
	q = pos("1-2-345678");
	assert_int_equal(app_gtid_pos_format(small, 11, &q), 0);
	assert_string_equal(small, "1-2-345678");
	memset(small, 'x', sizeof(small));
	assert_int_equal(app_gtid_pos_format(small, 10, &q), SS_ETOOLARGE);
	assert_string_equal(small, "");
	assert_int_equal(app_gtid_pos_format(small, 0, &q), SS_ETOOLARGE);
	q = pos("");
	assert_int_equal(app_gtid_pos_format(small, 1, &q), 0);
	assert_string_equal(small, "");
	/* the largest position fits APP_GTID_TEXT_MAX and round-trips */
	for (i = 0, p.n = 0; i < APP_GTID_MAX_DOMAINS; i++) {
		g = (app_gtid){ UINT32_MAX - (uint32_t)i, UINT32_MAX, UINT64_MAX };
		assert_int_equal(app_gtid_pos_set(&p, &g), 0);
	}
	assert_int_equal(app_gtid_pos_format(buf, APP_GTID_TEXT_MAX, &p), 0);
	q = pos(buf);
	assert_true(app_gtid_pos_equal(&p, &q));
}

static void test_find_set(void **state)
{
	app_gtid_pos p = pos("0-1-5,7-2-9");
	app_gtid g = { 3, 4, 1 };
	char buf[APP_GTID_TEXT_MAX * 2];

	(void)state;
	assert_null(app_gtid_pos_find(&p, 3));
	assert_int_equal(app_gtid_pos_find(&p, 7)->seq, 9);
	assert_int_equal(app_gtid_pos_set(&p, &g), 0);
	assert_string_equal(text(&p), "0-1-5,3-4-1,7-2-9");
	g = (app_gtid){ 7, 3, 10 };
	assert_int_equal(app_gtid_pos_set(&p, &g), 0);
	assert_string_equal(text(&p), "0-1-5,3-4-1,7-3-10");
	assert_int_equal(p.n, 3);
	/* full: replacing works, adding does not */
	p = pos(domains(buf, sizeof(buf), 0, APP_GTID_MAX_DOMAINS));
	g = (app_gtid){ 63, 9, 9 };
	assert_int_equal(app_gtid_pos_set(&p, &g), 0);
	assert_int_equal(app_gtid_pos_find(&p, 63)->server, 9);
	g = (app_gtid){ 64, 9, 9 };
	assert_int_equal(app_gtid_pos_set(&p, &g), SS_ETOOLARGE);
	assert_int_equal(p.n, APP_GTID_MAX_DOMAINS);
	assert_null(app_gtid_pos_find(&p, 64));
}

static void test_equal(void **state)
{
	static const struct {
		const char *a, *b;
		bool equal;
	} cases[] = {
		{ "", "", true },
		{ "0-1-5,1-2-9", "1-2-9, 0-1-5", true },
		{ "0-1-5", "0-2-5", false }, /* same seq, another server */
		{ "0-1-5", "0-1-6", false },
		{ "0-1-5", "0-1-5,1-1-0", false },
		{ "0-1-5", "1-1-5", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		app_gtid_pos a = pos(cases[i].a), b = pos(cases[i].b);

		if (app_gtid_pos_equal(&a, &b) != cases[i].equal ||
		    app_gtid_pos_equal(&b, &a) != cases[i].equal)
			fail_msg("case %zu: \"%s\" vs \"%s\"", i, cases[i].a, cases[i].b);
	}
}

static void test_reached(void **state)
{
	static const struct {
		const char *pos, *target;
		bool reached;
	} cases[] = {
		{ "", "", true },
		{ "0-1-5", "", true },
		{ "0-1-5", "0-1-5", true },
		{ "0-1-6", "0-1-5", true },
		{ "0-1-4", "0-1-5", false },
		{ "", "0-1-5", false },
		/* a failover inside the domain: the seq orders, not the server
		 * (UNTIL 0-1-8 left gtid_slave_pos at 0-2-8) */
		{ "0-2-8", "0-1-8", true },
		{ "0-2-7", "0-1-8", false },
		/* UNTIL 1-1-0 applies nothing of domain 1: gtid_slave_pos lacks it */
		{ "0-1-22", "0-1-22,1-1-0", true },
		{ "0-1-22,1-1-0", "0-1-22,1-1-0", true },
		{ "0-1-22", "0-1-22,1-1-1", false },
		/* every domain of the target must be reached */
		{ "0-1-9,1-1-2", "0-1-9,1-1-3", false },
		{ "0-1-8,1-1-3", "0-1-9,1-1-3", false },
		{ "0-1-9,1-1-3,2-1-1", "0-1-9,1-1-3", true }, /* extra domains ignored */
		{ "0-1-18446744073709551615", "0-1-18446744073709551615", true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		app_gtid_pos p = pos(cases[i].pos), t = pos(cases[i].target);

		if (app_gtid_pos_reached(&p, &t) != cases[i].reached)
			fail_msg("case %zu: \"%s\" reached \"%s\": want %s", i,
				 cases[i].pos, cases[i].target,
				 cases[i].reached ? "yes" : "no");
	}
}

static void test_not_after(void **state)
{
	static const struct {
		const char *base, *target;
		const char *why; /* NULL: usable */
	} cases[] = {
		{ "", "", NULL },
		{ "", "0-1-5", NULL },
		{ "0-1-5", "0-1-5", NULL }, /* nothing to replay is fine */
		{ "0-1-5", "0-1-9", NULL },
		{ "0-1-5", "0-2-9", NULL }, /* failover between base and target */
		{ "0-1-10", "0-1-9", "past the target" },
		{ "0-1-5,1-1-3", "0-1-9,1-1-2", "past the target" },
		/* a domain only the base has: harmless at seq 0, not after */
		{ "0-1-5,1-1-0", "0-1-9", NULL },
		{ "0-1-5,1-1-1", "0-1-9",
		  "a replication domain the target position does "
		  "not have" },
		/* a domain only the target has: the replay brings it */
		{ "0-1-5", "0-1-9,1-1-4", NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		app_gtid_pos b = pos(cases[i].base), t = pos(cases[i].target);
		const char *why = NULL;
		bool ok = app_gtid_pos_not_after(&b, &t, &why);

		if (ok != (cases[i].why == NULL))
			fail_msg("case %zu: \"%s\" not after \"%s\": got %s", i,
				 cases[i].base, cases[i].target, ok ? "yes" : "no");
		if (!ok && (why == NULL || strstr(why, cases[i].why) == NULL))
			fail_msg("case %zu: why \"%s\"", i, why ? why : "(null)");
		assert_int_equal(app_gtid_pos_not_after(&b, &t, NULL), ok);
	}
}

static void test_within(void **state)
{
	static const struct {
		const char *base, *target;
		bool within;
	} cases[] = {
		{ "", "", true },
		{ "0-1-5", "", true }, /* no domain named: nothing to pass */
		{ "0-1-5", "0-1-5", true },
		{ "0-1-6", "0-1-5", false },
		{ "0-1-5,1-3-9", "0-1-5", true }, /* domain 1: not named */
		{ "0-1-5,1-3-9", "0-1-5,1-3-8", false },
		{ "1-3-9", "0-2-1", true }, /* base lacks 0: seq 0 */
		{ "0-9-4", "0-1-5", true }, /* server ids not compared */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		app_gtid_pos b = pos(cases[i].base), t = pos(cases[i].target);

		if (app_gtid_pos_within(&b, &t) != cases[i].within)
			fail_msg("case %zu: \"%s\" within \"%s\": want %s", i,
				 cases[i].base, cases[i].target,
				 cases[i].within ? "yes" : "no");
	}
}

static void test_before(void **state)
{
	static const struct {
		const char *upto, *g, *out; /* out NULL: refused */
		const char *message;
	} cases[] = {
		/* whoever logged the predecessor (0-2-8 in gtid.h's
		 * measurement) or the last GTID of upto, the target keeps g's
		 * server: UNTIL 0-1-8 stops exactly before 0-1-9 */
		{ "0-1-22,1-1-2", "0-1-9", "0-1-8,1-1-2", NULL },
		{ "0-2-22,1-1-2", "0-1-9", "0-1-8,1-1-2", NULL },
		{ "0-1-18446744073709551615", "0-1-18446744073709551615",
		  "0-1-18446744073709551614", NULL },
		{ "0-1-22,1-1-2", "1-1-1", "0-1-22,1-1-0", NULL },
		{ "0-1-22,1-1-2", "0-1-22", "0-1-21,1-1-2", NULL },
		{ "0-2-22", "0-1-20", "0-1-19", NULL },
		{ "0-1-1", "0-1-18446744073709551615", NULL,
		  "is not in the source's "
		  "history" },
		{ "0-1-22", "0-1-0", NULL, "0-1-0 names no event" },
		{ "0-1-22", "0-1-23", NULL,
		  "GTID 0-1-23 is not in the source's history (its position in domain 0 "
		  "is 22)" },
		{ "0-1-22", "1-1-1", NULL, "its position in domain 1 is 0" },
		{ "", "0-1-1", NULL, "is not in the source's history" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		app_gtid_pos upto = pos(cases[i].upto), out = pos("9-9-9");
		app_gtid g = gtid(cases[i].g);
		int rc = app_gtid_pos_before(&out, &upto, &g);

		if (cases[i].out != NULL) {
			if (rc != 0)
				fail_msg("case %zu: %s", i, ss_error_last()->message);
			assert_string_equal(text(&out), cases[i].out);
			continue;
		}
		assert_int_equal(rc, SS_EINVALID);
		assert_string_equal(text(&out), "9-9-9"); /* untouched */
		if (strstr(ss_error_last()->message, cases[i].message) == NULL)
			fail_msg("case %zu:\n got: %s\nwant: %s", i,
				 ss_error_last()->message, cases[i].message);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_domain_limit),
		cmocka_unit_test(test_parse_one),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_find_set),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_reached),
		cmocka_unit_test(test_not_after),
		cmocka_unit_test(test_within),
		cmocka_unit_test(test_before),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
