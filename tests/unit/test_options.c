/*
 * test_options.c — the command line: defaults, both value spellings,
 * booleans, durations, and a clear message for every kind of bad flag.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "ctrl/options.h"
#include "util/clock.h"
#include "util/error.h"

#define ARGV(...) ((char *[]){ "snapstage", __VA_ARGS__, NULL })

static int parse(ctrl_options *o, int argc, char **argv)
{
	ctrl_options_init(o);
	return ctrl_options_parse(o, argc, argv, "1.2.3", stdout);
}

static void test_defaults(void **state)
{
	ctrl_options o;
	char *argv[] = { "snapstage", NULL };

	(void)state;
	assert_int_equal(parse(&o, 1, argv), CTRL_OPTIONS_RUN);
	assert_false(o.leader_elect);
	assert_null(o.kubeconfig);
	assert_int_equal(o.n_namespaces, 0);
	assert_string_equal(o.metrics_bind_address, ":8080");
	assert_string_equal(o.health_probe_bind_address, ":8081");
	assert_string_equal(o.leader_election_id, "snapstage-leader");
	assert_int_equal(o.lease_duration_ns, 15 * SS_NS_PER_SEC);
	assert_int_equal(o.renew_deadline_ns, 10 * SS_NS_PER_SEC);
	assert_int_equal(o.retry_period_ns, 2 * SS_NS_PER_SEC);
	assert_int_equal(o.workers, 4);
	assert_int_equal(o.log_level, SS_LOG_INFO);
	assert_int_equal(o.log_format, SS_LOG_TEXT);
}

static void test_every_flag(void **state)
{
	ctrl_options o;
	char **argv =
		ARGV("--kubeconfig", "/k", "--context=c", "--namespace", "db",
		     "--leader-elect", "--leader-election-namespace=ops",
		     "--leader-election-id", "x", "--leader-elect-lease-duration=30s",
		     "--leader-elect-renew-deadline", "20s",
		     "--leader-elect-retry-period=500ms", "--metrics-bind-address=0",
		     "--health-probe-bind-address", "127.0.0.1:9000", "--workers=8",
		     "--shutdown-timeout", "1m30s", "--log-level=debug", "--log-format",
		     "json");

	(void)state;
	assert_int_equal(parse(&o, 23, argv), CTRL_OPTIONS_RUN);
	assert_string_equal(o.kubeconfig, "/k");
	assert_string_equal(o.context, "c");
	assert_int_equal(o.n_namespaces, 1);
	assert_string_equal(o.namespaces[0], "db");
	assert_true(o.leader_elect);
	assert_string_equal(o.leader_election_namespace, "ops");
	assert_string_equal(o.leader_election_id, "x");
	assert_int_equal(o.lease_duration_ns, 30 * SS_NS_PER_SEC);
	assert_int_equal(o.renew_deadline_ns, 20 * SS_NS_PER_SEC);
	assert_int_equal(o.retry_period_ns, 500 * SS_NS_PER_MS);
	assert_string_equal(o.metrics_bind_address, "0");
	assert_string_equal(o.health_probe_bind_address, "127.0.0.1:9000");
	assert_int_equal(o.workers, 8);
	assert_int_equal(o.shutdown_timeout_ns, 90 * SS_NS_PER_SEC);
	assert_int_equal(o.log_level, SS_LOG_DEBUG);
	assert_int_equal(o.log_format, SS_LOG_JSON);
}

static void test_booleans(void **state)
{
	ctrl_options o;
	char **on = ARGV("--leader-elect=true");
	char **off = ARGV("--leader-elect=false");
	char **bad = ARGV("--leader-elect=maybe");

	(void)state;
	assert_int_equal(parse(&o, 2, on), 0);
	assert_true(o.leader_elect);
	assert_int_equal(parse(&o, 2, off), 0);
	assert_false(o.leader_elect);
	assert_int_equal(parse(&o, 2, bad), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "--leader-elect: 'maybe' is not true or false");
}

static void expect_bad(char **argv, int argc, const char *fragment)
{
	ctrl_options o;

	assert_int_equal(parse(&o, argc, argv), SS_EINVALID);
	tu_assert_error(SS_EINVALID, fragment);
}

static void test_bad_flags(void **state)
{
	(void)state;
	expect_bad(ARGV("--frobnicate"), 2, "unknown flag '--frobnicate'");
	expect_bad(ARGV("--kubeconfig"), 2, "flag --kubeconfig needs a value");
	expect_bad(ARGV("--kubeconfig="), 2, "--kubeconfig needs a non-empty value");
	expect_bad(ARGV("stray"), 2, "unexpected argument 'stray'");
	expect_bad(ARGV("--workers=0"), 2, "--workers");
	expect_bad(ARGV("--workers", "many"), 3, "--workers");
	expect_bad(ARGV("--log-level=loud"), 2, "--log-level: log level 'loud'");
	expect_bad(ARGV("--log-format=xml"), 2, "--log-format: log format 'xml'");
	expect_bad(ARGV("--shutdown-timeout=10"), 2, "'10' is not a duration");
	expect_bad(ARGV("--shutdown-timeout=0"), 2,
		   "--shutdown-timeout must be more than 0");
	expect_bad(ARGV("--leader-elect-renew-deadline=20s"), 2,
		   "lease-duration must be longer than --leader-elect-renew-deadline");
	expect_bad(ARGV("--leader-elect-retry-period=9s"), 2, "1.2 x");
}

/* --namespace: a list, the flag repeated, and each name checked. */
static void test_namespaces(void **state)
{
	ctrl_options o;
	char big[CTRL_OPTIONS_MAX_NAMESPACES * 8 + 16];
	char *many[] = { "snapstage", "--namespace", big, NULL };
	size_t i, used = 0;

	(void)state;
	assert_int_equal(parse(&o, 4, ARGV("--namespace=team-a,b2", "--namespace", "c")),
			 CTRL_OPTIONS_RUN);
	assert_int_equal(o.n_namespaces, 3);
	assert_string_equal(o.namespaces[0], "team-a");
	assert_string_equal(o.namespaces[1], "b2");
	assert_string_equal(o.namespaces[2], "c");
	/* A name of the longest allowed length (63) is kept whole. */
	assert_int_equal(parse(&o, 2, ARGV("--namespace=a23456789012345678901234567890"
					   "12345678901234567890123456789012z")),
			 CTRL_OPTIONS_RUN);
	assert_int_equal(strlen(o.namespaces[0]), 63);
	expect_bad(ARGV("--namespace=a23456789012345678901234567890"
			"123456789012345678901234567890123z"),
		   2, "is not a namespace name");
	expect_bad(ARGV("--namespace=a,,b"), 2, "'' is not a namespace name");
	expect_bad(ARGV("--namespace=a,"), 2, "'' is not a namespace name");
	expect_bad(ARGV("--namespace=Prod"), 2, "'Prod' is not a namespace name");
	expect_bad(ARGV("--namespace=a b"), 2, "'a b' is not a namespace name");
	expect_bad(ARGV("--namespace=-a"), 2, "'-a' is not a namespace name");
	expect_bad(ARGV("--namespace=a,b", "--namespace=a"), 3, "'a' is listed twice");
	for (i = 0; i <= CTRL_OPTIONS_MAX_NAMESPACES; i++)
		used += (size_t)snprintf(big + used, sizeof(big) - used, "%sn%zu",
					 i ? "," : "", i);
	expect_bad(many, 3, "more than 64 namespaces");
	big[strlen(big) - strlen(",n64")] = '\0';
	assert_int_equal(parse(&o, 3, many), CTRL_OPTIONS_RUN);
	assert_int_equal(o.n_namespaces, CTRL_OPTIONS_MAX_NAMESPACES);
	assert_string_equal(o.namespaces[63], "n63");
}

static void test_durations(void **state)
{
	int64_t ns = 0;

	(void)state;
	assert_int_equal(ctrl_parse_duration(&ns, "500ms", "d"), 0);
	assert_int_equal(ns, 500 * SS_NS_PER_MS);
	assert_int_equal(ctrl_parse_duration(&ns, "1h30m", "d"), 0);
	assert_int_equal(ns, 5400 * SS_NS_PER_SEC);
	assert_int_equal(ctrl_parse_duration(&ns, "2m5s", "d"), 0);
	assert_int_equal(ns, 125 * SS_NS_PER_SEC);
	assert_int_equal(ctrl_parse_duration(&ns, "0", "d"), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(ctrl_parse_duration(&ns, "", "d"), SS_EINVALID);
	assert_int_equal(ctrl_parse_duration(&ns, "s", "d"), SS_EINVALID);
	assert_int_equal(ctrl_parse_duration(&ns, "5x", "d"), SS_EINVALID);
	assert_int_equal(ctrl_parse_duration(&ns, "-5s", "d"), SS_EINVALID);
	assert_int_equal(ctrl_parse_duration(&ns, "99999999999999999999h", "d"),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "d: '99999999999999999999h' is not a duration");
}

/* Runs the parser with output to a temporary file and returns what it
 * printed (static storage). */
static const char *printed(int argc, char **argv, int expect)
{
	static char text[4096];
	ctrl_options o;
	FILE *f = tmpfile();
	size_t n;

	assert_non_null(f);
	ctrl_options_init(&o);
	assert_int_equal(ctrl_options_parse(&o, argc, argv, "1.2.3", f), expect);
	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void test_help_and_version_exit(void **state)
{
	(void)state;
	assert_string_equal(printed(2, ARGV("--version"), CTRL_OPTIONS_EXIT),
			    "snapstage 1.2.3\n");
	assert_non_null(strstr(printed(2, ARGV("--help"), CTRL_OPTIONS_EXIT),
			       "  --leader-elect\n"));
	assert_non_null(strstr(printed(2, ARGV("--help"), CTRL_OPTIONS_EXIT),
			       "  --metrics-bind-address VALUE\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_flag),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_namespaces),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_help_and_version_exit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
