/*
 * test_url.c — API paths and query strings (kube/url.h): core and named
 * groups, namespaced and cluster-scoped, subresources, escaping, and the
 * combinations that must be refused.
 */
#include <string.h>

#include "testutil.h"

#include "kube/url.h"
#include "util/error.h"

static const kube_resource configmaps = { "", "v1", "configmaps", true };
static const kube_resource nodes = { NULL, "v1", "nodes", false };
static const kube_resource snapshots = { "snapshot.storage.k8s.io", "v1",
					 "volumesnapshots", true };
static const kube_resource crds = { "apiextensions.k8s.io", "v1",
				    "customresourcedefinitions", false };

static void expect_path(const kube_resource *r, const char *ns, const char *name,
			const char *sub, const char *want)
{
	ss_buf b = SS_BUF_INIT(4096);

	assert_int_equal(kube_url_path(&b, r, ns, name, sub), 0);
	assert_string_equal(ss_buf_cstr(&b), want);
	ss_buf_free(&b);
}

static void test_paths(void **state)
{
	(void)state;
	expect_path(&configmaps, "default", NULL, NULL,
		    "/api/v1/namespaces/default/configmaps");
	expect_path(&configmaps, NULL, NULL, NULL, "/api/v1/configmaps");
	expect_path(&configmaps, "ns1", "cm", NULL,
		    "/api/v1/namespaces/ns1/configmaps/cm");
	expect_path(&configmaps, "ns1", "cm", "status",
		    "/api/v1/namespaces/ns1/configmaps/cm/status");
	expect_path(&nodes, NULL, "node-1", NULL, "/api/v1/nodes/node-1");
	expect_path(&snapshots, "db", "bk-1-data", NULL,
		    "/apis/snapshot.storage.k8s.io/v1/namespaces/db/volumesnapshots/"
		    "bk-1-data");
	expect_path(&crds, NULL, "backups.snapstage.io", NULL,
		    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
		    "backups.snapstage.io");
}

static void test_path_escapes_segments(void **state)
{
	(void)state;
	/* A name can never add path segments or a query. */
	expect_path(&configmaps, "a/b", "x?y#z", NULL,
		    "/api/v1/namespaces/a%2Fb/configmaps/x%3Fy%23z");
	expect_path(&configmaps, "ns", "caf\xc3\xa9 1", NULL,
		    "/api/v1/namespaces/ns/configmaps/caf%C3%A9%201");
}

static void test_path_refusals(void **state)
{
	ss_buf b = SS_BUF_INIT(4096);
	const kube_resource no_version = { "", "", "pods", true };

	(void)state;
	assert_int_equal(kube_url_path(&b, &configmaps, NULL, "cm", NULL), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "configmaps is namespaced");
	assert_int_equal(kube_url_path(&b, &nodes, "ns", "n", NULL), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "nodes is cluster-scoped");
	assert_int_equal(kube_url_path(&b, &configmaps, "ns", NULL, "status"),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "subresource status needs an object name");
	assert_int_equal(kube_url_path(&b, &no_version, "ns", NULL, NULL), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "needs a version");
	ss_buf_free(&b);
}

static void test_query(void **state)
{
	ss_buf q = SS_BUF_INIT(4096);

	(void)state;
	assert_int_equal(kube_url_query_add(&q, "labelSelector", "app=db,tier in (a,b)"),
			 0);
	assert_int_equal(kube_url_query_add(&q, "fieldSelector", NULL), 0);
	assert_int_equal(kube_url_query_add(&q, "continue", ""), 0);
	assert_int_equal(kube_url_query_add_long(&q, "limit", 500), 0);
	assert_int_equal(kube_url_query_add(&q, "continue", "eyJ2Ijoi+/="), 0);
	assert_string_equal(ss_buf_cstr(&q),
			    "labelSelector=app%3Ddb%2Ctier%20in%20%28a%2Cb%29"
			    "&limit=500&continue=eyJ2Ijoi%2B%2F%3D");
	ss_buf_free(&q);
}

static void test_escape_unreserved_untouched(void **state)
{
	ss_buf b = SS_BUF_INIT(4096);

	(void)state;
	assert_int_equal(kube_url_escape(&b, "AZaz09-._~"), 0);
	assert_string_equal(ss_buf_cstr(&b), "AZaz09-._~");
	ss_buf_free(&b);
}

static void test_bounded(void **state)
{
	ss_buf b = SS_BUF_INIT(16);

	(void)state;
	assert_int_equal(kube_url_path(&b, &configmaps, "default", "x", NULL),
			 SS_ETOOLARGE);
	assert_null(b.ptr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_path_escapes_segments),
		cmocka_unit_test(test_path_refusals),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_escape_unreserved_untouched),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
