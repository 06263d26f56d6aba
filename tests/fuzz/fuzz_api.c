/*
 * fuzz_api.c — libFuzzer target for app/api/api.h: decoding and validating the
 * three kinds (BackupSchedule, Backup, Restore) and decoding and encoding
 * their status, a Backup's status.verification included.
 *
 * An input is one object as YAML or JSON (util/yaml.h reads both). Every
 * spec decoder and every status decoder runs on it, whatever its kind.
 * Beyond "no crash" (ASan, UBSan) it checks:
 *   - spec decoding is total and bounded: 0, or SS_EINVALID with a
 *     "field: what" message and a condition reason from the list api.h
 *     gives; counts within their arrays; a Restore never has 0 access
 *     modes; a schedule's spec.verification checks are named, have SQL,
 *     minRows in 0..1000000 and finite bounds with atLeast <= atMost;
 *   - status counts and ordinals are in range or at their sentinel (a cast
 *     wrapped 4294967299 replicas to 3), status.verification's claims and
 *     checks within their arrays;
 *   - status: decode -> encode -> decode -> encode gives the same status
 *     both times (the spec has no encoder: the status is what snapstage
 *     writes back), and an encoded status decodes without loss of the
 *     fields it holds.
 *
 * Spec decoding checks a time zone against the system's tz database
 * (read-only), as the controller does.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app/api/api.h"
#include "util/error.h"
#include "util/yaml.h"

#define CHECK(cond)                                                             \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "fuzz_api: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                     \
			abort();                                                \
		}                                                               \
	} while (0)

static void check_spec_result(int rc, const char *reason)
{
	static const char *const reasons[] = { "InvalidSpec", "InvalidSchedule",
					       "InvalidTimeZone", "NotAcknowledged" };
	size_t i;

	if (rc == 0)
		return;
	CHECK(rc == SS_EINVALID);
	CHECK(ss_error_last()->code == rc);
	CHECK(ss_error_last()->message[0] != '\0');
	CHECK(reason != NULL);
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (!strcmp(reason, reasons[i]))
			return;
	fprintf(stderr, "fuzz_api: unknown reason '%s'\n", reason);
	CHECK(0);
}

/* An accepted spec.verification: its checks as api.h states them. */
static void check_verification_spec(const app_verification_spec *v)
{
	size_t i;

	if (!v->enabled) {
		CHECK(v->n_checks == 0);
		return;
	}
	CHECK(v->schedule != NULL && v->time_zone != NULL);
	CHECK(v->n_checks <= APP_MAX_VERIFY_CHECKS);
	CHECK(v->max_tables >= 1);
	for (i = 0; i < v->n_checks; i++) {
		const app_verify_check *c = &v->checks[i];

		CHECK(c->name != NULL && c->name[0] != '\0' && strlen(c->name) <= 63);
		CHECK(c->sql != NULL && strlen(c->sql) <= APP_VERIFY_CHECK_SQL_MAX);
		CHECK(c->min_rows >= 0 && c->min_rows <= 1000000);
		CHECK(!c->has_at_least || isfinite(c->at_least));
		CHECK(!c->has_at_most || isfinite(c->at_most));
		CHECK(!c->has_at_least || !c->has_at_most || c->at_least <= c->at_most);
	}
}

static void check_specs(const json_t *obj)
{
	app_schedule_spec s;
	app_backup_spec b;
	app_restore_spec r;
	const char *reason = NULL;
	int rc;

	rc = app_schedule_spec_decode(&s, obj, &reason);
	check_spec_result(rc, reason);
	if (rc == 0) {
		CHECK(s.schedule != NULL && s.time_zone != NULL);
		CHECK(s.target.n_volumes <= APP_MAX_VOLUMES);
		CHECK(s.target.selector.n_terms <= APP_MAX_SELECTOR_TERMS);
		check_verification_spec(&s.verification);
		CHECK(!s.retention.require_verified || s.verification.enabled);
	}
	reason = NULL;
	rc = app_backup_spec_decode(&b, obj, &reason);
	check_spec_result(rc, reason);
	if (rc == 0) {
		CHECK(b.target.n_volumes <= APP_MAX_VOLUMES);
		CHECK(!b.target.statefulset_name != !b.target.has_selector);
	}
	reason = NULL;
	rc = app_restore_spec_decode(&r, obj, &reason);
	check_spec_result(rc, reason);
	if (rc == 0) {
		CHECK(r.n_claims <= APP_MAX_CLAIMS);
		CHECK(r.n_access_modes > 0 && r.n_access_modes <= APP_MAX_ACCESS_MODES);
		CHECK(r.source_name != NULL);
	}
}

/* An object holding only the status `encode` writes from `st`. */
#define ROUND_TRIP(type, decode, encode, obj)                                  \
	do {                                                                   \
		type st1, st2;                                                 \
		json_t *a = json_object(), *b = json_object();                 \
		char *ta, *tb;                                                 \
                                                                               \
		CHECK(a && b);                                                 \
		CHECK(decode(&st1, obj) == 0);                                 \
		CHECK(encode(a, &st1) == 0);                                   \
		CHECK(decode(&st2, a) == 0);                                   \
		CHECK(encode(b, &st2) == 0);                                   \
		ta = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);             \
		tb = json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT);             \
		CHECK(ta && tb);                                               \
		if (strcmp(ta, tb))                                            \
			fprintf(stderr, "fuzz_api: " #type "\n%.2000s\n%.2000s\n", \
				ta, tb);                                       \
		CHECK(!strcmp(ta, tb));                                        \
		free(ta);                                                      \
		free(tb);                                                      \
		json_decref(a);                                                \
		json_decref(b);                                                \
	} while (0)

/* Counts and ordinals are in range or at their sentinel, never wrapped. */
static void check_counts(const json_t *obj)
{
	app_backup_status b;
	app_restore_status r;
	app_verification_status v;
	size_t i;

	CHECK(app_backup_status_decode(&b, obj) == 0);
	CHECK(b.attempts >= 0);
	CHECK(b.n_snapshots <= APP_MAX_VOLUMES);
	CHECK(app_restore_status_decode(&r, obj) == 0);
	CHECK(r.original_replicas >= -1 && r.primary_ordinal >= -1);
	CHECK(r.n_volumes <= APP_MAX_INPLACE_CLAIMS && r.n_configured <= APP_MAX_MEMBERS);
	for (i = 0; i < r.n_volumes; i++)
		CHECK(r.volumes[i].ordinal >= 0);
	for (i = 0; i < r.n_configured; i++)
		CHECK(r.configured[i] >= 0);
	CHECK(app_verification_status_decode(&v, obj) == 0);
	CHECK(v.n_claims <= APP_MAX_VOLUMES && v.n_checks <= APP_VERIFY_MAX_CHECKS);
	for (i = 0; i < v.n_claims; i++)
		CHECK(v.claims[i] != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *obj = NULL;

	if (ss_yaml_to_json(&obj, (const char *)data, size, "fuzz") != 0)
		return 0;
	check_specs(obj);
	check_counts(obj);
	ROUND_TRIP(app_backup_status, app_backup_status_decode, app_backup_status_encode,
		   obj);
	ROUND_TRIP(app_schedule_status, app_schedule_status_decode,
		   app_schedule_status_encode, obj);
	ROUND_TRIP(app_restore_status, app_restore_status_decode,
		   app_restore_status_encode, obj);
	ROUND_TRIP(app_verification_status, app_verification_status_decode,
		   app_verification_status_encode, obj);
	json_decref(obj);
	ss_error_clear();
	return 0;
}
