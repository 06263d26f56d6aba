/*
 * test_inplace_plan.c — an in-place restore's decisions about one slot
 * (app/restore/inplace_plan.h): what stands under the claim name (by uid,
 * never by name alone), what the old PersistentVolume allows, and the patches
 * and claim that give the old volume back. The claim is compared whole, so a
 * field the PV binder would reject fails.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "app/api/api.h"
#include "app/restore/inplace_plan.h"
#include "app/restore/restore_plan.h"
#include "util/error.h"

static const app_inplace_volume SLOT = { "data-db-0", "data", 0, "old-uid", "pv-old",
					 "Delete" };
static const char *RESTORE = "{\"metadata\":{\"name\":\"rb\",\"namespace\":\"ns\","
			     "\"uid\":\"r-uid\"}}";

static void assert_json_is(const json_t *actual, const char *expected)
{
	json_t *want = tu_json(expected);

	if (!json_equal((json_t *)actual, want)) {
		char *a = json_dumps(actual, JSON_SORT_KEYS | JSON_COMPACT);
		char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);

		print_error("got:  %s\nwant: %s\n", a ? a : "(null)", w ? w : "(null)");
		free(a);
		free(w);
		json_decref(want);
		fail();
	}
	json_decref(want);
}

static app_slot_kind kind_of(const char *pvc_json)
{
	json_t *restore = tu_json(RESTORE);
	json_t *pvc = pvc_json ? tu_json(pvc_json) : NULL;
	app_slot_kind k = app_inplace_slot_kind(pvc, &SLOT, restore);

	json_decref(pvc);
	json_decref(restore);
	return k;
}

static void test_slot_kind(void **state)
{
	(void)state;
	assert_int_equal(kind_of(NULL), APP_SLOT_GONE);
	assert_int_equal(kind_of("{\"metadata\":{\"name\":\"data-db-0\",\"uid\":\"old-uid\"}}"),
			 APP_SLOT_OLD);
	assert_int_equal(kind_of("{\"metadata\":{\"name\":\"data-db-0\",\"uid\":\"old-uid\","
				 "\"deletionTimestamp\":\"2026-12-01T00:00:00Z\"}}"),
			 APP_SLOT_DELETING);
	assert_int_equal(kind_of("{\"metadata\":{\"name\":\"data-db-0\",\"uid\":\"n1\","
				 "\"labels\":{\"" APP_LABEL_RESTORE "\":\"rb\"},"
				 "\"annotations\":{\"" APP_ANNOTATION_RESTORE_UID
				 "\":\"r-uid\"}}}"),
			 APP_SLOT_OURS);
	assert_int_equal(kind_of("{\"metadata\":{\"name\":\"data-db-0\",\"uid\":\"n2\","
				 "\"annotations\":{\"" APP_ANNOTATION_REATTACHED
				 "\":\"r-uid\"}}}"),
			 APP_SLOT_REATTACHED);
	/* Another Restore's claim, a reattach of another Restore, a stranger. */
	assert_int_equal(kind_of("{\"metadata\":{\"name\":\"data-db-0\",\"uid\":\"n3\","
				 "\"labels\":{\"" APP_LABEL_RESTORE "\":\"rb\"},"
				 "\"annotations\":{\"" APP_ANNOTATION_RESTORE_UID
				 "\":\"other\"}}}"),
			 APP_SLOT_FOREIGN);
	assert_int_equal(kind_of("{\"metadata\":{\"name\":\"data-db-0\",\"uid\":\"n4\","
				 "\"annotations\":{\"" APP_ANNOTATION_REATTACHED
				 "\":\"other\"}}}"),
			 APP_SLOT_FOREIGN);
	assert_int_equal(kind_of("{\"metadata\":{\"name\":\"data-db-0\",\"uid\":\"n5\"}}"),
			 APP_SLOT_FOREIGN);
}

static app_oldpv_kind pv_kind(const char *pv_json)
{
	json_t *pv = pv_json ? tu_json(pv_json) : NULL;
	app_oldpv_kind k = app_inplace_oldpv_kind(pv, &SLOT, "ns");

	json_decref(pv);
	return k;
}

static void test_oldpv_kind(void **state)
{
	(void)state;
	assert_int_equal(pv_kind(NULL), APP_OLDPV_GONE);
	assert_int_equal(pv_kind("{\"metadata\":{\"name\":\"pv-old\",\"deletionTimestamp\":"
				 "\"2026-12-01T00:00:00Z\"},\"spec\":{}}"),
			 APP_OLDPV_GONE);
	assert_int_equal(pv_kind("{\"metadata\":{\"name\":\"pv-old\"},\"spec\":{\"claimRef\":{"
				 "\"namespace\":\"ns\",\"name\":\"data-db-0\",\"uid\":"
				 "\"old-uid\"}}}"),
			 APP_OLDPV_RELEASED);
	assert_int_equal(pv_kind("{\"metadata\":{\"name\":\"pv-old\"},\"spec\":{}}"),
			 APP_OLDPV_FREE);
	assert_int_equal(pv_kind("{\"metadata\":{\"name\":\"pv-old\"},\"spec\":{\"claimRef\":{"
				 "\"namespace\":\"ns\",\"name\":\"data-db-0\"}}}"),
			 APP_OLDPV_FREE);
	assert_int_equal(pv_kind("{\"metadata\":{\"name\":\"pv-old\"},\"spec\":{\"claimRef\":{"
				 "\"namespace\":\"ns\",\"name\":\"data-db-0\",\"uid\":\"n2\"}}}"),
			 APP_OLDPV_BOUND_SLOT);
	assert_int_equal(pv_kind("{\"metadata\":{\"name\":\"pv-old\"},\"spec\":{\"claimRef\":{"
				 "\"namespace\":\"ns\",\"name\":\"someone\",\"uid\":\"x\"}}}"),
			 APP_OLDPV_TAKEN);
	assert_int_equal(pv_kind("{\"metadata\":{\"name\":\"pv-old\"},\"spec\":{\"claimRef\":{"
				 "\"namespace\":\"other\",\"name\":\"data-db-0\"}}}"),
			 APP_OLDPV_TAKEN);
}

static void test_patches(void **state)
{
	json_t *p;
	json_t *pv = tu_json("{\"spec\":{}}");

	(void)state;
	p = app_inplace_policy_patch("Retain");
	assert_json_is(p, "{\"spec\":{\"persistentVolumeReclaimPolicy\":\"Retain\"}}");
	json_decref(p);
	p = app_inplace_prebind_patch(&SLOT, "ns");
	assert_json_is(p, "{\"spec\":{\"claimRef\":{\"namespace\":\"ns\",\"name\":"
			  "\"data-db-0\",\"uid\":null,\"resourceVersion\":null}}}");
	json_decref(p);
	assert_string_equal(app_inplace_reclaim_policy(pv), "Delete");
	tu_json_set(pv, "spec.persistentVolumeReclaimPolicy", json_string("Retain"));
	assert_string_equal(app_inplace_reclaim_policy(pv), "Retain");
	json_decref(pv);
}

static void test_reattach_claim(void **state)
{
	json_t *restore = tu_json(RESTORE), *out = NULL;
	json_t *pv = tu_json("{\"metadata\":{\"name\":\"pv-old\"},\"spec\":{"
			     "\"capacity\":{\"storage\":\"2Gi\"},\"storageClassName\":\"fast\","
			     "\"accessModes\":[\"ReadWriteOnce\"],\"volumeMode\":\"Filesystem\","
			     "\"persistentVolumeReclaimPolicy\":\"Retain\"}}");
	json_t *tmpl = tu_json("{\"metadata\":{\"name\":\"data\",\"labels\":{\"app\":\"db\"}}}");

	(void)state;
	assert_int_equal(app_inplace_reattach_claim(&out, &SLOT, pv, tmpl, restore, "ns"), 0);
	assert_json_is(out, "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\","
			    "\"metadata\":{\"name\":\"data-db-0\",\"namespace\":\"ns\","
			    "\"labels\":{\"app\":\"db\"},\"annotations\":{\"" APP_ANNOTATION_REATTACHED
			    "\":\"r-uid\"}},\"spec\":{\"volumeName\":\"pv-old\","
			    "\"storageClassName\":\"fast\",\"accessModes\":[\"ReadWriteOnce\"],"
			    "\"volumeMode\":\"Filesystem\",\"resources\":{\"requests\":{"
			    "\"storage\":\"2Gi\"}}}}");
	json_decref(out);
	/* No class on the PV: the claim asks for "no class", not the default. */
	json_object_del(json_object_get(pv, "spec"), "storageClassName");
	assert_int_equal(app_inplace_reattach_claim(&out, &SLOT, pv, NULL, restore, "ns"), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(out, "spec"),
							      "storageClassName")),
			    "");
	assert_null(json_object_get(json_object_get(out, "metadata"), "labels"));
	json_decref(out);
	out = NULL;
	json_object_del(json_object_get(pv, "spec"), "capacity");
	assert_int_equal(app_inplace_reattach_claim(&out, &SLOT, pv, NULL, restore, "ns"),
			 SS_EINVALID);
	assert_null(out);
	json_decref(pv);
	json_decref(tmpl);
	json_decref(restore);
}

static void test_configured(void **state)
{
	app_restore_status st;

	(void)state;
	app_restore_status_init(&st);
	assert_false(app_inplace_is_configured(&st, 0));
	st.configured[st.n_configured++] = 2;
	st.configured[st.n_configured++] = 0;
	assert_true(app_inplace_is_configured(&st, 0));
	assert_true(app_inplace_is_configured(&st, 2));
	assert_false(app_inplace_is_configured(&st, 1));
}

/* Issue 15, point 12: a one-member StatefulSet was told "making db-0 the
 * primary and the others its replicas from GTID (none)". */
static void test_configuring_message(void **state)
{
	char m[1024];

	(void)state;
	app_inplace_configuring_message(m, sizeof(m), "db", 0, 1, NULL, NULL, APP_TLS_REQUIRED);
	assert_string_equal(m, "opening db-0, the only member, as the primary; the Backup "
			       "recorded no GTID position, so its binary log starts empty");
	assert_null(strstr(m, "replica"));
	app_inplace_configuring_message(m, sizeof(m), "db", 0, 1, "", NULL, APP_TLS_DISABLED);
	assert_null(strstr(m, "replica"));
	assert_null(strstr(m, "(none)"));
	app_inplace_configuring_message(m, sizeof(m), "db", 0, 1, "0-1-7", NULL, APP_TLS_DISABLED);
	assert_string_equal(m, "opening db-0, the only member, as the primary; its binary "
			       "log starts at the Backup's GTID position 0-1-7");
	app_inplace_configuring_message(m, sizeof(m), "db", 1, 2, "0-1-7", "db-1.db.ns.svc",
					APP_TLS_VERIFY_CA);
	assert_string_equal(m, "making db-1 the primary and the other 1 member its replicas "
			       "from GTID 0-1-7, replicating from db-1.db.ns.svc over TLS, the primary's "
			       "certificate checked against the servers' own CA (tls.mode "
			       "VerifyCA)");
	app_inplace_configuring_message(m, sizeof(m), "db", 0, 3, "0-1-7", NULL, APP_TLS_PREFERRED);
	assert_string_equal(m, "making db-0 the primary and the other 2 members its replicas "
			       "from GTID 0-1-7, replicating from its Pod IP (replicationHost "
			       "PodIP) without TLS (tls.mode "
			       "Preferred)");
	app_inplace_configuring_message(m, sizeof(m), "db", 0, 3, "0-1-7", NULL, APP_TLS_REQUIRED);
	assert_non_null(strstr(m, "over TLS, unverified (tls.mode Required)"));
}

/* The primary's DNS name: <sts>-<ordinal>.<service>.<ns>.svc; none without
 * a governing Service, none past DNS's 253 characters. */
static void test_replication_host(void **state)
{
	char h[256], longer[300];

	(void)state;
	assert_int_equal(app_inplace_replication_host(h, sizeof(h), "mariadb", 1, "mariadb-hl",
						      "shop"),
			 0);
	assert_string_equal(h, "mariadb-1.mariadb-hl.shop.svc");
	assert_int_equal(app_inplace_replication_host(h, sizeof(h), "db", 0, "", "ns"),
			 SS_EINVALID);
	assert_non_null(strstr(ss_error_last()->message, "db has no spec.serviceName"));
	assert_int_equal(app_inplace_replication_host(h, sizeof(h), "db", 0, NULL, "ns"),
			 SS_EINVALID);
	memset(longer, 'a', 245);
	longer[245] = '\0';
	assert_int_equal(app_inplace_replication_host(h, sizeof(h), "db", 0, longer, "ns"),
			 SS_ETOOLARGE);
	assert_int_equal(app_inplace_replication_host(h, 10, "db", 0, "db", "ns"),
			 SS_ETOOLARGE);
	/* 253 exactly is a name: "db-0." + 242 + ".n.svc" */
	memset(longer, 'b', 242);
	longer[242] = '\0';
	assert_int_equal(app_inplace_replication_host(h, sizeof(h), "db", 0, longer, "n"), 0);
	assert_int_equal(strlen(h), 253);
	longer[242] = 'b';
	longer[243] = '\0';
	assert_int_equal(app_inplace_replication_host(h, sizeof(h), "db", 0, longer, "n"),
			 SS_ETOOLARGE);
}

/* Only a headless Service whose selector takes the Pods gives them names. */
static void test_service_names_pods(void **state)
{
	json_t *sts = tu_json("{\"spec\":{\"serviceName\":\"db\",\"template\":{"
			      "\"metadata\":{\"labels\":{\"app\":\"db\",\"tier\":\"sql\"}}}}}");
	json_t *ok = tu_json("{\"spec\":{\"clusterIP\":\"None\",\"selector\":{\"app\":\"db\"}}}");
	json_t *ip = tu_json("{\"spec\":{\"clusterIP\":\"10.0.0.7\",\"selector\":{\"app\":\"db\"}}}");
	json_t *other = tu_json("{\"spec\":{\"clusterIP\":\"None\",\"selector\":{\"app\":\"db\","
				"\"tier\":\"web\"}}}");
	json_t *nosel = tu_json("{\"spec\":{\"clusterIP\":\"None\"}}");
	const char *why = "x";

	(void)state;
	assert_true(app_inplace_service_names_pods(ok, sts, &why));
	assert_null(why);
	assert_false(app_inplace_service_names_pods(NULL, sts, &why));
	assert_string_equal(why, "no such Service");
	assert_false(app_inplace_service_names_pods(ip, sts, &why));
	assert_non_null(strstr(why, "not headless"));
	assert_false(app_inplace_service_names_pods(other, sts, &why));
	assert_non_null(strstr(why, "selector does not take"));
	assert_false(app_inplace_service_names_pods(nosel, sts, &why));
	assert_non_null(strstr(why, "no selector"));
	json_decref(sts);
	json_decref(ok);
	json_decref(ip);
	json_decref(other);
	json_decref(nosel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slot_kind),     cmocka_unit_test(test_oldpv_kind),
		cmocka_unit_test(test_patches),	      cmocka_unit_test(test_reattach_claim),
		cmocka_unit_test(test_configured),
		cmocka_unit_test(test_configuring_message),
		cmocka_unit_test(test_replication_host),
		cmocka_unit_test(test_service_names_pods),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
