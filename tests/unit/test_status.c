/*
 * test_status.c — decoding the API server's answers into error codes
 * (kube/status.h), from real Status bodies as the server sends them and
 * from bodies that are not Status at all.
 */
#include <string.h>

#include "testutil.h"

#include "kube/status.h"
#include "util/error.h"

static void decode(kube_status *st, long http, const char *body, const char *retry_after)
{
	kube_status_decode(st, http, body, body ? strlen(body) : 0, retry_after);
}

static const struct {
	long http;
	const char *reason;
	int code;
} table[] = {
	{ 404, "NotFound", SS_ENOTFOUND },
	{ 409, "AlreadyExists", SS_EEXISTS },
	{ 409, "Conflict", SS_ECONFLICT },
	{ 410, "Expired", SS_EGONE },
	{ 410, "Gone", SS_EGONE },
	{ 401, "Unauthorized", SS_EUNAUTHORIZED },
	{ 403, "Forbidden", SS_EFORBIDDEN },
	{ 422, "Invalid", SS_EINVALID },
	{ 400, "BadRequest", SS_EINVALID },
	{ 429, "TooManyRequests", SS_ETOOMANYREQUESTS },
	{ 504, "Timeout", SS_ETIMEOUT },
	{ 500, "ServerTimeout", SS_ETIMEOUT },
	{ 500, "InternalError", SS_ESERVER },
	{ 503, "ServiceUnavailable", SS_ESERVER },
	{ 405, "MethodNotAllowed", SS_EUNSUPPORTED },
	{ 415, "UnsupportedMediaType", SS_EUNSUPPORTED },
	{ 413, "RequestEntityTooLarge", SS_ETOOLARGE },
	/* Without a reason the HTTP status decides. */
	{ 404, NULL, SS_ENOTFOUND },
	{ 409, NULL, SS_ECONFLICT },
	{ 410, NULL, SS_EGONE },
	{ 429, NULL, SS_ETOOMANYREQUESTS },
	{ 502, NULL, SS_ESERVER },
	{ 504, NULL, SS_ETIMEOUT },
	{ 418, NULL, SS_ERROR },
	{ 200, NULL, SS_OK },
	{ 201, "", SS_OK },
};

static void test_code_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		print_message("%ld %s\n", table[i].http,
			      table[i].reason ? table[i].reason : "-");
		assert_int_equal(kube_status_code_for(table[i].http, table[i].reason),
				 table[i].code);
	}
}

/* Bodies captured from kube-apiserver 1.20. */
static void test_real_bodies(void **state)
{
	kube_status st;

	(void)state;
	decode(&st, 409,
	       "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
	       "\"status\":\"Failure\",\"message\":\"configmaps \\\"x\\\" already "
	       "exists\","
	       "\"reason\":\"AlreadyExists\",\"details\":{\"name\":\"x\",\"kind\":"
	       "\"configmaps\"},"
	       "\"code\":409}\n",
	       NULL);
	assert_int_equal(st.code, SS_EEXISTS);
	assert_string_equal(st.reason, "AlreadyExists");
	assert_string_equal(st.message, "configmaps \"x\" already exists");
	assert_int_equal(st.http_status, 409);
	assert_int_equal(st.retry_after_seconds, -1);

	decode(&st, 409,
	       "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
	       "\"message\":\"Operation cannot be fulfilled on configmaps \\\"x\\\": the "
	       "object has been modified; "
	       "please apply your changes to the latest version and try "
	       "again\",\"reason\":\"Conflict\","
	       "\"code\":409}",
	       NULL);
	assert_int_equal(st.code, SS_ECONFLICT);

	decode(&st, 410,
	       "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
	       "\"message\":\"The provided continue parameter is too old to display a "
	       "consistent list result.\","
	       "\"reason\":\"Expired\",\"code\":410}",
	       NULL);
	assert_int_equal(st.code, SS_EGONE);

	decode(&st, 429,
	       "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Too many "
	       "requests\","
	       "\"reason\":\"TooManyRequests\",\"details\":{\"retryAfterSeconds\":2},"
	       "\"code\":429}",
	       "1");
	assert_int_equal(st.code, SS_ETOOMANYREQUESTS);
	/* The header wins over details. */
	assert_int_equal(st.retry_after_seconds, 1);

	decode(&st, 500,
	       "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"x\","
	       "\"reason\":\"ServerTimeout\",\"details\":{\"retryAfterSeconds\":3},"
	       "\"code\":500}",
	       NULL);
	assert_int_equal(st.code, SS_ETIMEOUT);
	assert_int_equal(st.retry_after_seconds, 3);
}

static void test_not_a_status(void **state)
{
	kube_status st;

	(void)state;
	decode(&st, 502, "<html>Bad Gateway</html>", NULL);
	assert_int_equal(st.code, SS_ESERVER);
	assert_string_equal(st.message, "<html>Bad Gateway</html>");
	decode(&st, 503, NULL, "7");
	assert_int_equal(st.code, SS_ESERVER);
	assert_int_equal(st.retry_after_seconds, 7);
	assert_string_equal(st.message, "");
	/* A JSON object that is not a Status is not trusted for a reason. */
	decode(&st, 404, "{\"reason\":\"AlreadyExists\"}", NULL);
	assert_int_equal(st.code, SS_ENOTFOUND);
	/* An HTTP date in Retry-After still means "later". */
	decode(&st, 429, "", "Wed, 21 Oct 2015 07:28:00 GMT");
	assert_int_equal(st.retry_after_seconds, 1);
}

static void test_long_message_truncated(void **state)
{
	char body[4096];
	kube_status st;

	(void)state;
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	decode(&st, 500, body, NULL);
	assert_int_equal(strlen(st.message), KUBE_STATUS_MESSAGE_MAX - 1);
}

/* Found by fuzzing (issue 16): the body's code replaced the response's, so
 * a 404 whose Status said `code: 201` decoded as success. */
static void test_http_status_wins(void **state)
{
	kube_status st;
	json_t *body;

	(void)state;
	decode(&st, 404, "{\"kind\":\"Status\",\"code\":201}", NULL);
	assert_int_equal(st.code, SS_ENOTFOUND);
	assert_int_equal(st.http_status, 404);
	decode(&st, 503, "{\"kind\":\"Status\",\"code\":200,\"reason\":\"\"}", NULL);
	assert_int_equal(st.code, SS_ESERVER);
	assert_int_equal(st.http_status, 503);
	/* no response status (a watch ERROR event): the body's failure code
	 * counts, a claimed success never does */
	body = tu_json("{\"kind\":\"Status\",\"code\":410}");
	kube_status_from_json(&st, 0, body);
	assert_int_equal(st.code, SS_EGONE);
	json_decref(body);
	body = tu_json("{\"kind\":\"Status\",\"code\":200}");
	kube_status_from_json(&st, 0, body);
	assert_int_equal(st.code, SS_ERROR);
	json_decref(body);
}

/* The body's retryAfterSeconds is bounded like the header's: a wait of
 * 2^32 + 5 seconds read as 5 through an int cast, a negative one kept. */
static void test_body_retry_after_bounded(void **state)
{
	kube_status st;

	(void)state;
	decode(&st, 429,
	       "{\"kind\":\"Status\",\"details\":{\"retryAfterSeconds\":4294967301}}",
	       NULL);
	assert_int_equal(st.retry_after_seconds, 3600);
	decode(&st, 429, "{\"kind\":\"Status\",\"details\":{\"retryAfterSeconds\":-5}}",
	       NULL);
	assert_int_equal(st.retry_after_seconds, -1);
	decode(&st, 429, "{\"kind\":\"Status\",\"details\":{\"retryAfterSeconds\":7}}",
	       NULL);
	assert_int_equal(st.retry_after_seconds, 7);
}

static void test_record(void **state)
{
	kube_status st;

	(void)state;
	decode(&st, 403,
	       "{\"kind\":\"Status\",\"message\":\"configmaps is forbidden: User "
	       "\\\"u\\\" cannot list\","
	       "\"reason\":\"Forbidden\",\"code\":403}",
	       NULL);
	assert_int_equal(kube_status_record(&st, "GET /api/v1/configmaps"),
			 SS_EFORBIDDEN);
	tu_assert_error(SS_EFORBIDDEN,
			"GET /api/v1/configmaps: 403 Forbidden: configmaps is forbidden");
	assert_int_equal(ss_error_last()->http_status, 403);
	assert_string_equal(ss_error_last()->reason, "Forbidden");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_code_table),
		cmocka_unit_test(test_real_bodies),
		cmocka_unit_test(test_not_a_status),
		cmocka_unit_test(test_long_message_truncated),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_http_status_wins),
		cmocka_unit_test(test_body_retry_after_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
