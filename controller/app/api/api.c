/*
 * api.c — decoding and checking the specs of the snapstage kinds. See
 * api.h. One function per block of the schema, in the schema's order, so
 * a reader can hold this file next to the CRDs in crds/.
 */
#include "app/api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/api/dec.h"
#include "app/api/gtid.h"
#include "kube/quantity.h"
#include "util/error.h"
#include "util/str.h"
#include "util/tz.h"

const kube_resource app_backupschedules = { APP_GROUP, APP_VERSION, "backupschedules",
					    true };
const kube_resource app_backups = { APP_GROUP, APP_VERSION, "backups", true };
const kube_resource app_restores = { APP_GROUP, APP_VERSION, "restores", true };

#define NAME_MAX_LEN 253
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const role_names[] = { "PreferReplica", "Replica", "Primary" };
static const char *const tls_names[] = { "Disabled", "Preferred", "Required", "VerifyCA",
					 "VerifyIdentity" };
static const char *const stage_names[] = { "FLUSH", "BLOCK_DDL", "BLOCK_COMMIT" };
static const char *const op_names[] = { "In", "NotIn", "Exists", "DoesNotExist" };
static const char *const deletion_names[] = { "Retain", "Delete" };
static const char *const mode_names[] = { "NewClaims", "InPlace" };
static const char *const repl_host_names[] = { "PodDNSName", "PodIP" };
static const char *const access_mode_names[] = { "ReadWriteOnce", "ReadOnlyMany",
						 "ReadWriteMany", "ReadWriteOncePod" };

const char *app_role_name(app_role role)
{
	return (size_t)role < N(role_names) ? role_names[role] : "?";
}

const char *app_tls_mode_name(app_tls_mode mode)
{
	return (size_t)mode < N(tls_names) ? tls_names[mode] : "?";
}

const char *app_lock_stage_name(app_lock_stage stage)
{
	return (size_t)stage < N(stage_names) ? stage_names[stage] : "?";
}

/* ---- small checks ----------------------------------------------------- */

int app_age_parse(int64_t *out_seconds, const char *text)
{
	const char *p = text;
	int64_t total = 0;

	if (text == NULL || *text == '\0')
		return ss_error_set(SS_EINVALID, "age is empty");
	while (*p != '\0') {
		int64_t n = 0, unit;

		if (*p < '0' || *p > '9')
			goto bad;
		while (*p >= '0' && *p <= '9') {
			if (n > INT64_MAX / 10 - 9)
				goto too_large;
			n = n * 10 + (*p++ - '0');
		}
		switch (*p++) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: goto bad;
		}
		if (n > (INT64_MAX - total) / unit)
			goto too_large;
		total += n * unit;
	}
	*out_seconds = total;
	return 0;
bad:
	return ss_error_set(SS_EINVALID,
			    "\"%.32s\" is not an age: use whole numbers with units s, m, "
			    "h, d, w, e.g. \"90d\"",
			    text);
too_large:
	return ss_error_set(SS_EINVALID, "\"%.32s\" is too long an age", text);
}

/* The controller computes due times with the zone util/tz.h loads, so the
 * decoder accepts exactly the zones that load: one judge of what a zone
 * is, and a zone file the loader refuses (TZif version 1, leap seconds, a
 * corrupt file) is reported as InvalidTimeZone at once rather than failing
 * at the first due time. */
int app_time_zone_check(const char *name)
{
	ss_tz *tz = NULL;
	int rc;

	if (name && strlen(name) > APP_TIME_ZONE_MAX)
		return ss_error_set(SS_EINVALID,
				    "time zone name is longer than %d characters",
				    APP_TIME_ZONE_MAX);
	rc = ss_tz_load(&tz, name);
	ss_tz_free(tz);
	return rc;
}

bool app_label_is_copyable(const char *key)
{
	static const char *const exact[] = {
		"app.kubernetes.io/instance", /* Argo CD's default tracking label */
		"argocd.argoproj.io/instance",
	};
	static const char *const prefixes[] = {
		"argocd.argoproj.io/",		"kustomize.toolkit.fluxcd.io/",
		"helm.toolkit.fluxcd.io/",	"fluxcd.io/",
		"app.kubernetes.io/managed-by", /* the schedule's manager, not ours */
	};
	size_t i;

	if (key == NULL || app_key_is_reserved(key))
		return false;
	for (i = 0; i < N(exact); i++) {
		if (strcmp(key, exact[i]) == 0)
			return false;
	}
	for (i = 0; i < N(prefixes); i++) {
		if (ss_str_has_prefix(key, prefixes[i]))
			return false;
	}
	return true;
}

bool app_key_is_reserved(const char *key)
{
	return key != NULL &&
	       strncasecmp(key, APP_KEY_PREFIX, sizeof(APP_KEY_PREFIX) - 1) == 0;
}

int app_copy_copyable(json_t *to, const json_t *from, bool as_labels)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)from, key, v)
	{
		if (!json_is_string(v) || !app_label_is_copyable(key))
			continue;
		if (as_labels && (!app_dec_is_label_key(key) ||
				  !app_dec_is_label_value(json_string_value(v))))
			continue;
		/* A copy, not a shared reference: `from` may belong to a
		 * cached object other threads read. */
		if (json_object_set_new(to, key, json_string(json_string_value(v))) != 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
	}
	return 0;
}

int app_label_set_own(json_t *labels, const char *key, const char *value)
{
	json_object_del(labels, key);
	if (value == NULL || !app_dec_is_label_value(value))
		return 0;
	if (json_object_set_new(labels, key, json_string(value)) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return 0;
}

bool app_selector_matches(const app_selector *sel, const json_t *labels)
{
	const char *key;
	const json_t *want;
	size_t i, j;

	json_object_foreach((json_t *)sel->match_labels, key, want)
	{
		const json_t *have = json_object_get(labels, key);

		if (!json_is_string(have) ||
		    strcmp(json_string_value(have), json_string_value(want)) != 0)
			return false;
	}
	for (i = 0; i < sel->n_terms; i++) {
		const app_selector_term *t = &sel->terms[i];
		const json_t *have = json_object_get(labels, t->key);
		bool in = false;

		if (t->op == APP_SEL_EXISTS || t->op == APP_SEL_DOES_NOT_EXIST) {
			if ((have != NULL) != (t->op == APP_SEL_EXISTS))
				return false;
			continue;
		}
		for (j = 0; json_is_string(have) && j < json_array_size(t->values); j++) {
			if (strcmp(json_string_value(json_array_get(t->values, j)),
				   json_string_value(have)) == 0)
				in = true;
		}
		if (in != (t->op == APP_SEL_IN))
			return false;
	}
	return true;
}

/* ---- shared blocks ---------------------------------------------------- */

static int dec_int(int *out, app_dec *d, const json_t *obj, const char *key, int def,
		   int min, int max)
{
	int64_t v;
	int rc = app_dec_int(&v, d, obj, key, def, min, max, false);

	if (rc == 0)
		*out = (int)v;
	return rc;
}

static int dec_name(const char **out, app_dec *d, const json_t *obj, const char *key,
		    bool required)
{
	int rc = app_dec_string(out, d, obj, key, NULL, NAME_MAX_LEN, required);

	if (rc == 0 && *out != NULL && !app_dec_is_dns_subdomain(*out))
		return app_dec_fail_at(d, key, NULL,
				       "\"%.64s\" is not a valid name (lowercase "
				       "letters, digits, '-' and '.')",
				       *out);
	return rc;
}

static int dec_secret_key(const char **out, app_dec *d, const json_t *obj,
			  const char *key, const char *def)
{
	int rc = app_dec_string(out, d, obj, key, def, NAME_MAX_LEN, false);

	if (rc == 0 && !app_dec_is_secret_key(*out))
		return app_dec_fail_at(
			d, key, NULL,
			"\"%.64s\" is not a valid Secret key ([-._a-zA-Z0-9])", *out);
	return rc;
}

static int dec_credentials(app_credentials_ref *out, app_dec *d, const json_t *obj,
			   const char *key, bool required, bool *out_present)
{
	const json_t *ref;
	size_t mark;
	int rc;

	rc = app_dec_object(&ref, d, obj, key, required);
	if (rc != 0)
		return rc;
	if (out_present != NULL)
		*out_present = ref != NULL;
	if (ref == NULL)
		return 0;
	mark = app_dec_push(d, key);
	rc = dec_name(&out->name, d, ref, "name", true);
	if (rc == 0)
		rc = dec_secret_key(&out->username_key, d, ref, "usernameKey",
				    APP_DEFAULT_USERNAME_KEY);
	if (rc == 0)
		rc = dec_secret_key(&out->password_key, d, ref, "passwordKey",
				    APP_DEFAULT_PASSWORD_KEY);
	app_dec_pop(d, mark);
	return rc;
}

static int dec_tls(app_connection *out, app_dec *d, const json_t *conn)
{
	const json_t *tls, *ca;
	size_t mark;
	int mode, rc;

	out->tls_mode = APP_TLS_PREFERRED;
	out->ca_secret_name = NULL;
	out->ca_secret_key = NULL;
	rc = app_dec_object(&tls, d, conn, "tls", false);
	if (rc != 0 || tls == NULL)
		return rc;
	mark = app_dec_push(d, "tls");
	rc = app_dec_enum(&mode, d, tls, "mode", tls_names, N(tls_names),
			  APP_TLS_PREFERRED);
	if (rc != 0)
		goto done;
	out->tls_mode = (app_tls_mode)mode;
	rc = app_dec_object(&ca, d, tls, "caSecretRef", false);
	if (rc != 0)
		goto done;
	if (ca != NULL) {
		size_t inner = app_dec_push(d, "caSecretRef");

		rc = dec_name(&out->ca_secret_name, d, ca, "name", true);
		if (rc == 0)
			rc = dec_secret_key(&out->ca_secret_key, d, ca, "key",
					    APP_DEFAULT_CA_KEY);
		app_dec_pop(d, inner);
		if (rc != 0)
			goto done;
	}
	if ((out->tls_mode == APP_TLS_VERIFY_CA ||
	     out->tls_mode == APP_TLS_VERIFY_IDENTITY) &&
	    ca == NULL)
		rc = app_dec_fail_at(
			d, "caSecretRef", NULL,
			"required when mode is %s (the CA to verify the server with)",
			tls_names[out->tls_mode]);
done:
	app_dec_pop(d, mark);
	return rc;
}

static int dec_connection(app_connection *out, app_dec *d, const json_t *obj)
{
	const json_t *conn;
	size_t mark;
	int rc;

	rc = app_dec_object(&conn, d, obj, "connection", true);
	if (rc != 0)
		return rc;
	mark = app_dec_push(d, "connection");
	rc = dec_int(&out->port, d, conn, "port", 0, 1, 65535);
	if (rc == 0)
		rc = dec_credentials(&out->credentials, d, conn, "credentialsSecretRef",
				     true, NULL);
	if (rc == 0)
		rc = dec_tls(out, d, conn);
	if (rc == 0)
		rc = dec_int(&out->connect_timeout_seconds, d, conn,
			     "connectTimeoutSeconds", APP_DEFAULT_CONNECT_TIMEOUT_SECONDS,
			     1, 300);
	app_dec_pop(d, mark);
	return rc;
}

static int dec_selector_term(app_selector_term *out, app_dec *d, const json_t *term)
{
	const json_t *values;
	int op, rc;
	size_t i;

	if (!json_is_object(term))
		return app_dec_fail(d, NULL, "must be an object");
	rc = app_dec_string(&out->key, d, term, "key", NULL, 317, true);
	if (rc != 0)
		return rc;
	if (!app_dec_is_label_key(out->key))
		return app_dec_fail_at(d, "key", NULL,
				       "\"%.64s\" is not a valid label key", out->key);
	rc = app_dec_enum(&op, d, term, "operator", op_names, N(op_names), -1);
	if (rc != 0)
		return rc;
	out->op = (app_selector_op)op;
	rc = app_dec_array(&values, d, term, "values", 64);
	if (rc != 0)
		return rc;
	for (i = 0; values != NULL && i < json_array_size(values); i++) {
		if (!json_is_string(json_array_get(values, i)))
			return app_dec_fail_at(d, "values", NULL,
					       "item %zu must be a string", i);
	}
	out->values = values;
	if ((out->op == APP_SEL_IN || out->op == APP_SEL_NOT_IN) &&
	    json_array_size(values) == 0)
		return app_dec_fail_at(d, "values", NULL,
				       "must not be empty for operator %s", op_names[op]);
	if ((out->op == APP_SEL_EXISTS || out->op == APP_SEL_DOES_NOT_EXIST) &&
	    json_array_size(values) != 0)
		return app_dec_fail_at(d, "values", NULL, "must be empty for operator %s",
				       op_names[op]);
	return 0;
}

static int dec_selector(app_selector *out, app_dec *d, const json_t *sel)
{
	const json_t *exprs;
	size_t mark, i;
	int rc;

	memset(out, 0, sizeof(*out));
	mark = app_dec_push(d, "podSelector");
	rc = app_dec_string_map(&out->match_labels, d, sel, "matchLabels", true);
	if (rc == 0)
		rc = app_dec_array(&exprs, d, sel, "matchExpressions",
				   APP_MAX_SELECTOR_TERMS);
	for (i = 0; rc == 0 && exprs != NULL && i < json_array_size(exprs); i++) {
		size_t m1 = app_dec_push(d, "matchExpressions");
		size_t m2 = app_dec_push_index(d, i);

		rc = dec_selector_term(&out->terms[i], d, json_array_get(exprs, i));
		app_dec_pop(d, m2);
		app_dec_pop(d, m1);
		out->n_terms = i + 1;
	}
	if (rc == 0 && json_object_size(out->match_labels) == 0 && out->n_terms == 0)
		rc = app_dec_fail(d, NULL,
				  "selects every pod in the namespace: give matchLabels "
				  "or matchExpressions");
	app_dec_pop(d, mark);
	return rc;
}

static int dec_volumes(app_target *out, app_dec *d, const json_t *target)
{
	const json_t *vols;
	size_t i, j;
	int rc;

	out->n_volumes = 0;
	rc = app_dec_array(&vols, d, target, "volumes", APP_MAX_VOLUMES);
	if (rc != 0 || vols == NULL)
		return rc;
	for (i = 0; i < json_array_size(vols); i++) {
		const char *name = json_string_value(json_array_get(vols, i));
		size_t m1 = app_dec_push(d, "volumes");
		size_t m2 = app_dec_push_index(d, i);

		if (name == NULL)
			rc = app_dec_fail(d, NULL, "must be a string");
		else if (!app_dec_is_dns_label(name))
			rc = app_dec_fail(d, NULL,
					  "\"%.64s\" is not a volume name (lowercase "
					  "letters, digits and '-', at most 63)",
					  name);
		for (j = 0; rc == 0 && j < i; j++) {
			if (strcmp(out->volumes[j], name) == 0)
				rc = app_dec_fail(d, NULL, "\"%s\" is listed twice",
						  name);
		}
		app_dec_pop(d, m2);
		app_dec_pop(d, m1);
		if (rc != 0)
			return rc;
		out->volumes[i] = name;
		out->n_volumes = i + 1;
	}
	return 0;
}

static int dec_target(app_target *out, app_dec *d, const json_t *spec)
{
	const json_t *target, *sel;
	size_t mark;
	int role, rc;

	memset(out, 0, sizeof(*out));
	rc = app_dec_object(&target, d, spec, "target", true);
	if (rc != 0)
		return rc;
	mark = app_dec_push(d, "target");
	rc = dec_name(&out->statefulset_name, d, target, "statefulSetName", false);
	if (rc != 0)
		goto done;
	rc = app_dec_object(&sel, d, target, "podSelector", false);
	if (rc != 0)
		goto done;
	if ((out->statefulset_name != NULL) == (sel != NULL)) {
		rc = app_dec_fail(d, NULL,
				  "give exactly one of statefulSetName and podSelector");
		goto done;
	}
	if (sel != NULL) {
		out->has_selector = true;
		rc = dec_selector(&out->selector, d, sel);
		if (rc != 0)
			goto done;
	}
	rc = dec_volumes(out, d, target);
	if (rc != 0)
		goto done;
	rc = app_dec_enum(&role, d, target, "role", role_names, N(role_names),
			  APP_ROLE_PREFER_REPLICA);
	if (rc != 0)
		goto done;
	out->role = (app_role)role;
	rc = dec_int(&out->max_replication_lag_seconds, d, target,
		     "maxReplicationLagSeconds", APP_DEFAULT_MAX_LAG_SECONDS, 0,
		     INT32_MAX);
	if (rc != 0)
		goto done;
	rc = dec_connection(&out->connection, d, target);
done:
	app_dec_pop(d, mark);
	return rc;
}

/* A key of `map` (member `key` of the current object) in snapstage's
 * prefix: InvalidSpec. */
static int refuse_reserved(app_dec *d, const json_t *map, const char *key)
{
	const char *k;
	const json_t *v;

	json_object_foreach((json_t *)map, k, v)
	{
		(void)v;
		if (app_key_is_reserved(k))
			return app_dec_fail_at(d, key, NULL,
					       "\"%.64s\": the prefix %s is reserved for "
					       "snapstage's own keys",
					       k, APP_KEY_PREFIX);
	}
	return 0;
}

/* The `labels` and `annotations` a spec asks to put on the objects snapstage
 * makes, checked as the API server will check them there (so a bad key
 * fails here, not under the lock) and for snapstage's prefix. */
static int dec_metadata(const json_t **labels, const json_t **annotations, app_dec *d,
			const json_t *obj)
{
	int rc = app_dec_string_map(labels, d, obj, "labels", true);

	if (rc == 0)
		rc = refuse_reserved(d, *labels, "labels");
	if (rc == 0)
		rc = app_dec_annotations(annotations, d, obj, "annotations",
					 APP_USER_ANNOTATIONS_MAX_BYTES);
	if (rc == 0)
		rc = refuse_reserved(d, *annotations, "annotations");
	return rc;
}

static int dec_snapshot(app_snapshot_opts *out, app_dec *d, const json_t *spec)
{
	const json_t *snap;
	size_t mark;
	int rc;

	memset(out, 0, sizeof(*out));
	out->ready_timeout_seconds = APP_DEFAULT_READY_TIMEOUT_SECONDS;
	rc = app_dec_object(&snap, d, spec, "snapshot", false);
	if (rc != 0 || snap == NULL)
		return rc;
	mark = app_dec_push(d, "snapshot");
	rc = dec_name(&out->class_name, d, snap, "volumeSnapshotClassName", false);
	if (rc == 0)
		rc = dec_int(&out->ready_timeout_seconds, d, snap, "readyTimeoutSeconds",
			     APP_DEFAULT_READY_TIMEOUT_SECONDS, 1,
			     APP_MAX_READY_TIMEOUT_SECONDS);
	if (rc == 0)
		rc = dec_metadata(&out->labels, &out->annotations, d, snap);
	app_dec_pop(d, mark);
	return rc;
}

static int dec_lock(app_lock_opts *out, app_dec *d, const json_t *spec)
{
	const json_t *lock;
	size_t mark;
	int stage, rc;

	out->stage = APP_STAGE_BLOCK_COMMIT;
	out->timeout_seconds = APP_DEFAULT_LOCK_TIMEOUT_SECONDS;
	out->acquire_timeout_seconds = APP_DEFAULT_ACQUIRE_TIMEOUT_SECONDS;
	rc = app_dec_object(&lock, d, spec, "lock", false);
	if (rc != 0 || lock == NULL)
		return rc;
	mark = app_dec_push(d, "lock");
	rc = app_dec_enum(&stage, d, lock, "stage", stage_names, N(stage_names),
			  APP_STAGE_BLOCK_COMMIT);
	if (rc == 0) {
		out->stage = (app_lock_stage)stage;
		rc = dec_int(&out->timeout_seconds, d, lock, "timeoutSeconds",
			     APP_DEFAULT_LOCK_TIMEOUT_SECONDS, 1, 3600);
	}
	if (rc == 0)
		rc = dec_int(&out->acquire_timeout_seconds, d, lock,
			     "acquireTimeoutSeconds", APP_DEFAULT_ACQUIRE_TIMEOUT_SECONDS,
			     1, 3600);
	app_dec_pop(d, mark);
	return rc;
}

static int dec_retention(app_retention *out, app_dec *d, const json_t *spec)
{
	const json_t *ret;
	const char *age = NULL;
	size_t mark;
	int rc;

	memset(out, 0, sizeof(*out));
	out->keep_failed = APP_DEFAULT_KEEP_FAILED;
	rc = app_dec_object(&ret, d, spec, "retention", false);
	if (rc != 0 || ret == NULL)
		return rc;
	out->enabled = true;
	mark = app_dec_push(d, "retention");
	rc = dec_int(&out->keep_last, d, ret, "keepLast", 0, 0, INT32_MAX);
	if (rc == 0)
		rc = dec_int(&out->keep_hourly, d, ret, "keepHourly", 0, 0, INT32_MAX);
	if (rc == 0)
		rc = dec_int(&out->keep_daily, d, ret, "keepDaily", 0, 0, INT32_MAX);
	if (rc == 0)
		rc = dec_int(&out->keep_weekly, d, ret, "keepWeekly", 0, 0, INT32_MAX);
	if (rc == 0)
		rc = dec_int(&out->keep_monthly, d, ret, "keepMonthly", 0, 0, INT32_MAX);
	if (rc == 0)
		rc = dec_int(&out->keep_yearly, d, ret, "keepYearly", 0, 0, INT32_MAX);
	if (rc == 0)
		rc = app_dec_string(&age, d, ret, "maxAge", NULL, 32, false);
	if (rc == 0 && age != NULL) {
		rc = app_age_parse(&out->max_age_seconds, age);
		if (rc != 0)
			rc = app_dec_fail_at(d, "maxAge", NULL, "%s",
					     ss_error_last()->message);
		else if (out->max_age_seconds == 0)
			rc = app_dec_fail_at(d, "maxAge", NULL, "must be longer than 0");
	}
	if (rc == 0)
		rc = dec_int(&out->keep_failed, d, ret, "keepFailed",
			     APP_DEFAULT_KEEP_FAILED, 0, INT32_MAX);
	if (rc == 0)
		rc = app_dec_bool(&out->dry_run, d, ret, "dryRun", false);
	if (rc == 0)
		rc = app_dec_bool(&out->require_verified, d, ret, "requireVerified",
				  false);
	if (rc == 0 && out->keep_last == 0 && out->keep_hourly == 0 &&
	    out->keep_daily == 0 && out->keep_weekly == 0 && out->keep_monthly == 0 &&
	    out->keep_yearly == 0 && out->max_age_seconds == 0)
		rc = app_dec_fail(d, NULL,
				  "set at least one keep rule or maxAge (or leave "
				  "retention out to keep every backup)");
	app_dec_pop(d, mark);
	return rc;
}

/* ---- verification ------------------------------------------------------ */

/* A JSON number (integer or real) under `key`, if given. */
static int dec_number(bool *has, double *out, app_dec *d, const json_t *obj,
		      const char *key)
{
	const json_t *v = json_object_get(obj, key);

	*has = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return app_dec_fail_at(d, key, NULL, "must be a number");
	*has = true;
	*out = json_number_value(v);
	return 0;
}

static int dec_expect(app_verify_check *c, app_dec *d, const json_t *check)
{
	const json_t *exp;
	size_t mark;
	int rc;

	c->min_rows = 1;
	rc = app_dec_object(&exp, d, check, "expect", false);
	if (rc != 0 || exp == NULL)
		return rc;
	mark = app_dec_push(d, "expect");
	rc = dec_int(&c->min_rows, d, exp, "minRows", 1, 0, 1000000);
	if (rc == 0)
		rc = app_dec_string(&c->equals, d, exp, "equals", NULL, 1024, false);
	if (rc == 0)
		rc = dec_number(&c->has_at_least, &c->at_least, d, exp, "atLeast");
	if (rc == 0)
		rc = dec_number(&c->has_at_most, &c->at_most, d, exp, "atMost");
	if (rc == 0 && c->has_at_least && c->has_at_most && c->at_least > c->at_most)
		rc = app_dec_fail(d, NULL, "atLeast is greater than atMost");
	app_dec_pop(d, mark);
	return rc;
}

static int dec_check(app_verify_check *c, app_dec *d, const json_t *check,
		     const app_verify_check *earlier, size_t n_earlier)
{
	size_t i;
	int rc;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(check))
		return app_dec_fail(d, NULL, "must be an object");
	rc = app_dec_string(&c->name, d, check, "name", NULL, 63, true);
	if (rc == 0 && !app_dec_is_dns_label(c->name))
		return app_dec_fail_at(d, "name", NULL,
				       "\"%.63s\" is not a DNS label ([a-z0-9-])", c->name);
	for (i = 0; rc == 0 && i < n_earlier; i++)
		if (strcmp(earlier[i].name, c->name) == 0)
			return app_dec_fail_at(d, "name", NULL, "\"%s\" is used twice",
					       c->name);
	if (rc == 0)
		rc = app_dec_string(&c->sql, d, check, "sql", NULL,
				    APP_VERIFY_CHECK_SQL_MAX, true);
	if (rc == 0 && c->sql[strspn(c->sql, " \t\r\n")] == '\0')
		return app_dec_fail_at(d, "sql", NULL, "is empty");
	return rc == 0 ? dec_expect(c, d, check) : rc;
}

static int dec_checks(app_verification_spec *v, app_dec *d, const json_t *ver)
{
	const json_t *arr;
	size_t i, mark;
	int rc;

	rc = app_dec_array(&arr, d, ver, "checks", APP_MAX_VERIFY_CHECKS);
	for (i = 0; rc == 0 && arr != NULL && i < json_array_size(arr); i++) {
		mark = app_dec_push(d, "checks");
		app_dec_push_index(d, i);
		rc = dec_check(&v->checks[i], d, json_array_get(arr, i), v->checks, i);
		app_dec_pop(d, mark);
		v->n_checks = i + 1;
	}
	return rc;
}

static int dec_verify_when(app_verification_spec *v, app_dec *d, const json_t *ver,
			   const char *seed, const char *default_zone)
{
	int rc;

	rc = app_dec_string(&v->schedule, d, ver, "schedule", APP_DEFAULT_VERIFY_SCHEDULE,
			    APP_SCHEDULE_MAX, false);
	if (rc != 0)
		return rc;
	if (app_cron_parse(&v->cron, v->schedule, seed) != 0)
		return app_dec_fail_at(d, "schedule", "InvalidSchedule", "%s",
				       ss_error_last()->message);
	rc = app_dec_string(&v->time_zone, d, ver, "timeZone", default_zone,
			    APP_TIME_ZONE_MAX, false);
	if (rc == 0 && app_time_zone_check(v->time_zone) != 0)
		return app_dec_fail_at(d, "timeZone", "InvalidTimeZone", "%s",
				       ss_error_last()->message);
	if (rc == 0)
		rc = dec_int(&v->every_nth_backup, d, ver, "everyNthBackup", 0, 0, 10000);
	return rc;
}

/* spec.verification of a schedule; `seed` seeds H (the schedule's
 * namespace/name + "/verify", so its H differs from the backups' H). */
static int dec_verification(app_verification_spec *v, app_dec *d, const json_t *spec,
			    const char *seed, const char *default_zone)
{
	const json_t *ver;
	size_t mark;
	int rc;

	memset(v, 0, sizeof(*v));
	rc = app_dec_object(&ver, d, spec, "verification", false);
	if (rc != 0 || ver == NULL)
		return rc;
	v->enabled = true;
	mark = app_dec_push(d, "verification");
	rc = dec_verify_when(v, d, ver, seed, default_zone);
	if (rc == 0)
		rc = dec_int(&v->start_timeout_seconds, d, ver, "startTimeoutSeconds",
			     APP_DEFAULT_VERIFY_START_TIMEOUT_SECONDS, 10, 86400);
	if (rc == 0)
		rc = dec_int(&v->check_timeout_seconds, d, ver, "checkTimeoutSeconds",
			     APP_DEFAULT_VERIFY_CHECK_TIMEOUT_SECONDS, 10, 86400);
	if (rc == 0)
		rc = dec_int(&v->max_tables, d, ver, "maxTables",
			     APP_DEFAULT_VERIFY_MAX_TABLES, 1, 1000000);
	if (rc == 0)
		rc = app_dec_object(&v->resources, d, ver, "resources", false);
	if (rc == 0)
		rc = dec_name(&v->storage_class, d, ver, "storageClassName", false);
	if (rc == 0)
		rc = dec_checks(v, d, ver);
	app_dec_pop(d, mark);
	return rc;
}

/* ---- the kinds -------------------------------------------------------- */

static int spec_of(const json_t **out, app_dec *d, const json_t *obj)
{
	if (!json_is_object(obj))
		return app_dec_fail(d, NULL, "the object is not a JSON object");
	*out = json_object_get(obj, "spec");
	if (!json_is_object(*out))
		return app_dec_fail(d, NULL,
				    *out == NULL ? "required" : "must be an object");
	return 0;
}

static const char *meta_string(const json_t *meta, const char *key)
{
	const char *v = json_string_value(json_object_get(meta, key));

	return v != NULL ? v : "";
}

static void set_reason(const char **out_reason, const app_dec *d, int rc)
{
	if (out_reason != NULL)
		*out_reason = rc == 0 ? NULL : d->reason;
}

/* A schedule's name is the value of the snapstage.io/schedule label on each
 * of its Backups, which the API server refuses beyond 63 characters: such
 * a schedule could never create one. (The CRD says so too, but the
 * controller must not trust the schema it runs against; an object made
 * before that schema is still refused here.) The Backup names made from
 * it (names.h) are then valid: at most 63 characters of DNS syntax. */
static int check_schedule_name(const json_t *obj)
{
	const char *name =
		json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	app_dec m;

	app_dec_init(&m, "metadata");
	if (name != NULL && !app_dec_is_label_value(name))
		return app_dec_fail_at(&m, "name", NULL,
				       "\"%.40s...\" (%zu characters) is no label value "
				       "(at most 63 of [A-Za-z0-9_.-]): the Backups of a "
				       "schedule carry its name in the label %s, so none "
				       "could be created; use a name of at most 63 "
				       "characters",
				       name, strlen(name), APP_LABEL_SCHEDULE);
	return 0;
}

/* 1. when: the cron (H seeded by `seed`), the zone, suspend, the
 * deadline, the deletion policy. */
static int dec_schedule_when(app_schedule_spec *s, app_dec *d, const json_t *spec,
			     const char *seed)
{
	int policy, rc;

	rc = app_dec_string(&s->schedule, d, spec, "schedule", NULL, APP_SCHEDULE_MAX,
			    true);
	if (rc != 0)
		return rc;
	if (app_cron_parse(&s->cron, s->schedule, seed) != 0)
		return app_dec_fail_at(d, "schedule", "InvalidSchedule", "%s",
				       ss_error_last()->message);
	rc = app_dec_string(&s->time_zone, d, spec, "timeZone", APP_DEFAULT_TIME_ZONE,
			    APP_TIME_ZONE_MAX, false);
	if (rc != 0)
		return rc;
	if (app_time_zone_check(s->time_zone) != 0)
		return app_dec_fail_at(d, "timeZone", "InvalidTimeZone", "%s",
				       ss_error_last()->message);
	rc = app_dec_bool(&s->suspend, d, spec, "suspend", false);
	if (rc == 0)
		rc = app_dec_int(&s->starting_deadline_seconds, d, spec,
				 "startingDeadlineSeconds", -1, 0, INT64_MAX / 1000000000,
				 false);
	if (rc == 0)
		rc = app_dec_enum(&policy, d, spec, "backupDeletionPolicy", deletion_names,
				  N(deletion_names), APP_DELETION_RETAIN);
	if (rc == 0)
		s->backup_deletion_policy = (app_deletion_policy)policy;
	return rc;
}

/* spec.pointInTime: present or not, and how often it is checked. */
static int dec_point_in_time(app_schedule_spec *s, app_dec *d, const json_t *spec)
{
	const json_t *pit;
	size_t mark;
	int rc = app_dec_object(&pit, d, spec, "pointInTime", false);

	s->point_in_time = rc == 0 && pit != NULL;
	if (!s->point_in_time)
		return rc;
	mark = app_dec_push(d, "pointInTime");
	rc = dec_int(&s->point_in_time_interval_s, d, pit, "checkIntervalSeconds", 300,
		     10, 86400);
	app_dec_pop(d, mark);
	return rc;
}

int app_schedule_spec_decode(app_schedule_spec *out, const json_t *obj,
			     const char **out_reason)
{
	app_schedule_spec s;
	const json_t *spec = NULL, *meta = json_object_get(obj, "metadata");
	char seed[2 * NAME_MAX_LEN + 2], vseed[sizeof(seed) + 8];
	app_dec d;
	int rc;

	memset(&s, 0, sizeof(s));
	app_dec_init(&d, "spec");
	snprintf(seed, sizeof(seed), "%s/%s", meta_string(meta, "namespace"),
		 meta_string(meta, "name"));
	/* the verification cron's H apart from the backups' */
	snprintf(vseed, sizeof(vseed), "%s/verify", seed);
	rc = spec_of(&spec, &d, obj);
	if (rc == 0)
		rc = check_schedule_name(obj);
	if (rc == 0)
		rc = dec_schedule_when(&s, &d, spec, seed);
	/* 2. what and how */
	if (rc == 0)
		rc = dec_target(&s.target, &d, spec);
	if (rc == 0)
		rc = dec_snapshot(&s.snapshot, &d, spec);
	if (rc == 0)
		rc = dec_lock(&s.lock, &d, spec);
	/* 3. how many to keep */
	if (rc == 0)
		rc = dec_retention(&s.retention, &d, spec);
	/* 4. how its Backups are proven restorable */
	if (rc == 0)
		rc = dec_verification(&s.verification, &d, spec, vseed, s.time_zone);
	/* 5. whether its point-in-time window is watched (an empty object) */
	if (rc == 0)
		rc = dec_point_in_time(&s, &d, spec);
	if (rc == 0 && s.retention.require_verified && !s.verification.enabled)
		rc = app_dec_fail_at(&d, "retention", NULL,
				     "requireVerified needs spec.verification");
	if (rc == 0)
		*out = s;
	set_reason(out_reason, &d, rc);
	return rc;
}

int app_backup_spec_decode(app_backup_spec *out, const json_t *obj,
			   const char **out_reason)
{
	app_backup_spec b;
	const json_t *spec = NULL;
	app_dec d;
	int rc;

	memset(&b, 0, sizeof(b));
	app_dec_init(&d, "spec");
	rc = spec_of(&spec, &d, obj);
	if (rc == 0)
		rc = dec_target(&b.target, &d, spec);
	if (rc == 0)
		rc = dec_snapshot(&b.snapshot, &d, spec);
	if (rc == 0)
		rc = dec_lock(&b.lock, &d, spec);
	if (rc == 0)
		*out = b;
	set_reason(out_reason, &d, rc);
	return rc;
}

int app_backup_spec_decode_target(app_target *out, const json_t *obj)
{
	app_target t;
	const json_t *spec = NULL;
	app_dec d;
	int rc;

	memset(&t, 0, sizeof(t));
	app_dec_init(&d, "spec");
	rc = spec_of(&spec, &d, obj);
	if (rc == 0)
		rc = dec_target(&t, &d, spec);
	if (rc == 0)
		*out = t;
	return rc;
}

static int dec_source(app_restore_spec *out, app_dec *d, const json_t *spec)
{
	static const char *const keys[] = { "backupName", "volumeSnapshotName",
					    "scheduleName" };
	const json_t *src;
	const char *name;
	size_t mark, i;
	int given = 0, rc;

	rc = app_dec_object(&src, d, spec, "source", true);
	if (rc != 0)
		return rc;
	mark = app_dec_push(d, "source");
	for (i = 0; i < N(keys); i++) {
		rc = dec_name(&name, d, src, keys[i], false);
		if (rc != 0)
			goto done;
		if (name != NULL) {
			given++;
			out->source_kind = (app_restore_source_kind)i;
			out->source_name = name;
		}
	}
	if (given != 1) {
		rc = app_dec_fail(d, NULL,
				  "give exactly one of backupName, volumeSnapshotName "
				  "and scheduleName");
		goto done;
	}
	rc = app_dec_time(&out->point_in_time_ns, &out->has_point_in_time, d, src,
			  "pointInTime");
	if (rc == 0 && out->has_point_in_time && out->source_kind != APP_SOURCE_SCHEDULE)
		rc = app_dec_fail_at(d, "pointInTime", NULL,
				     "only applies with scheduleName");
done:
	app_dec_pop(d, mark);
	return rc;
}

static int dec_claims(app_restore_spec *out, app_dec *d, const json_t *nc)
{
	const json_t *claims;
	size_t i, j;
	int rc;

	rc = app_dec_array(&claims, d, nc, "claims", APP_MAX_CLAIMS);
	for (i = 0; rc == 0 && claims != NULL && i < json_array_size(claims); i++) {
		const json_t *c = json_array_get(claims, i);
		app_claim_spec *cs = &out->claims[i];
		size_t m1 = app_dec_push(d, "claims");
		size_t m2 = app_dec_push_index(d, i);

		cs->size_bytes = 0;
		cs->storage_class = NULL;
		if (!json_is_object(c))
			rc = app_dec_fail(d, NULL, "must be an object");
		if (rc == 0)
			rc = app_dec_string(&cs->volume, d, c, "volume", NULL, 63, true);
		if (rc == 0)
			rc = dec_name(&cs->name, d, c, "name", true);
		if (rc == 0 && json_object_get(c, "size") != NULL &&
		    kube_quantity_from_json(&cs->size_bytes,
					    json_object_get(c, "size")) != 0)
			rc = app_dec_fail_at(d, "size", NULL, "%s",
					     ss_error_last()->message);
		for (j = 0; rc == 0 && j < i; j++) {
			if (strcmp(out->claims[j].volume, cs->volume) == 0)
				rc = app_dec_fail_at(d, "volume", NULL,
						     "\"%s\" is listed twice",
						     cs->volume);
			else if (strcmp(out->claims[j].name, cs->name) == 0)
				rc = app_dec_fail_at(d, "name", NULL,
						     "\"%s\" is listed twice", cs->name);
		}
		app_dec_pop(d, m2);
		app_dec_pop(d, m1);
		out->n_claims = i + 1;
	}
	return rc;
}

static int dec_new_claims(app_restore_spec *out, app_dec *d, const json_t *nc)
{
	const json_t *modes;
	size_t mark, i;
	int rc;

	out->access_modes[0] = "ReadWriteOnce";
	out->n_access_modes = 1;
	if (nc == NULL)
		return 0;
	mark = app_dec_push(d, "newClaims");
	rc = dec_claims(out, d, nc);
	if (rc == 0)
		rc = dec_name(&out->storage_class, d, nc, "storageClassName", false);
	if (rc == 0)
		rc = app_dec_array(&modes, d, nc, "accessModes", APP_MAX_ACCESS_MODES);
	if (rc == 0 && modes != NULL && json_array_size(modes) > 0) {
		out->n_access_modes = 0;
		for (i = 0; rc == 0 && i < json_array_size(modes); i++) {
			const char *m = json_string_value(json_array_get(modes, i));
			size_t k, m1 = app_dec_push(d, "accessModes");
			size_t m2 = app_dec_push_index(d, i);
			bool known = false;

			for (k = 0; m != NULL && k < N(access_mode_names); k++)
				known = known || strcmp(m, access_mode_names[k]) == 0;
			if (!known)
				rc = app_dec_fail(
					d, NULL,
					"must be one of ReadWriteOnce, ReadOnlyMany, "
					"ReadWriteMany, ReadWriteOncePod");
			else
				out->access_modes[out->n_access_modes++] = m;
			app_dec_pop(d, m2);
			app_dec_pop(d, m1);
		}
	}
	if (rc == 0)
		rc = dec_metadata(&out->claim_labels, &out->claim_annotations, d, nc);
	app_dec_pop(d, mark);
	return rc;
}

static int dec_in_place(app_restore_spec *out, app_dec *d, const json_t *ip)
{
	int host = APP_REPL_HOST_POD_DNS_NAME;
	bool ack;
	size_t mark;
	int rc;

	mark = app_dec_push(d, "inPlace");
	rc = dec_name(&out->statefulset_name, d, ip, "statefulSetName", true);
	if (rc == 0)
		rc = app_dec_bool(&ack, d, ip, "acknowledgeDataLoss", false);
	if (rc == 0 && !ack)
		rc = app_dec_fail_at(d, "acknowledgeDataLoss", "NotAcknowledged",
				     "must be true: an in-place restore discards the "
				     "StatefulSet's current data");
	if (rc == 0)
		rc = dec_int(&out->primary_ordinal, d, ip, "primaryOrdinal", 0, 0,
			     INT32_MAX);
	if (rc == 0)
		rc = app_dec_enum(&host, d, ip, "replicationHost", repl_host_names,
				  N(repl_host_names), APP_REPL_HOST_POD_DNS_NAME);
	out->replication_host = (app_replication_host)host;
	if (rc == 0)
		rc = app_dec_bool(&out->accept_inexact_position, d, ip,
				  "acceptInexactPosition", false);
	if (rc == 0)
		rc = dec_credentials(&out->replication_credentials, d, ip,
				     "replicationCredentialsSecretRef", false,
				     &out->has_replication_credentials);
	if (rc == 0)
		rc = dec_connection(&out->connection, d, ip);
	app_dec_pop(d, mark);
	return rc;
}

/* The replay target: exactly one of time and gtid; inclusive false only
 * with a GTID (a time has no "just before": the second before is a time
 * like any other). */
static int dec_replay_target(app_replay_spec *out, app_dec *d, const json_t *rp)
{
	app_gtid_pos pos;
	int rc;

	rc = app_dec_time(&out->time_ns, &out->has_time, d, rp, "time");
	if (rc == 0)
		rc = app_dec_string(&out->gtid, d, rp, "gtid", NULL, APP_REPLAY_GTID_MAX,
				    false);
	if (rc != 0)
		return rc;
	if (out->has_time == (out->gtid != NULL))
		return app_dec_fail(d, NULL, "give exactly one of time and gtid");
	if (out->gtid != NULL && app_gtid_pos_parse(&pos, out->gtid) != 0)
		return app_dec_fail_at(d, "gtid", NULL,
				       "\"%.64s\" is not a GTID position (domain-server-"
				       "sequence, e.g. 0-1-4711, one per domain): %s",
				       out->gtid, ss_error_last()->message);
	if (out->gtid != NULL && pos.n == 0)
		return app_dec_fail_at(d, "gtid", NULL, "names no GTID");
	rc = app_dec_bool(&out->inclusive, d, rp, "inclusive", true);
	if (rc == 0 && !out->inclusive && out->gtid == NULL)
		return app_dec_fail_at(d, "inclusive", NULL,
				       "false needs a gtid target (for a time, name the "
				       "second before)");
	return rc;
}

static int dec_replay(app_replay_spec *out, app_dec *d, const json_t *spec)
{
	const json_t *rp, *src;
	size_t mark;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = app_dec_object(&rp, d, spec, "replay", false);
	if (rc != 0 || rp == NULL)
		return rc;
	out->enabled = true;
	mark = app_dec_push(d, "replay");
	rc = dec_replay_target(out, d, rp);
	if (rc == 0)
		rc = app_dec_object(&src, d, rp, "source", false);
	if (rc == 0 && src != NULL) {
		size_t m2 = app_dec_push(d, "source");

		rc = dec_name(&out->source_pod, d, src, "podName", false);
		app_dec_pop(d, m2);
	}
	if (rc == 0)
		rc = dec_int(&out->timeout_seconds, d, rp, "timeoutSeconds",
			     APP_DEFAULT_REPLAY_TIMEOUT_SECONDS, 10, 604800);
	if (rc == 0)
		rc = dec_credentials(&out->replication_credentials, d, rp,
				     "replicationCredentialsSecretRef", true, NULL);
	if (rc == 0)
		rc = dec_connection(&out->connection, d, rp);
	app_dec_pop(d, mark);
	return rc;
}

static int dec_restore_target(app_restore_spec *out, app_dec *d, const json_t *spec)
{
	const json_t *target, *nc, *ip;
	size_t mark;
	int mode, rc;

	rc = app_dec_object(&target, d, spec, "target", true);
	if (rc != 0)
		return rc;
	mark = app_dec_push(d, "target");
	rc = app_dec_enum(&mode, d, target, "mode", mode_names, N(mode_names), -1);
	if (rc == 0)
		rc = app_dec_object(&nc, d, target, "newClaims", false);
	if (rc == 0)
		rc = app_dec_object(&ip, d, target, "inPlace", false);
	if (rc != 0)
		goto done;
	out->mode = (app_restore_mode)mode;
	if (out->mode == APP_MODE_NEW_CLAIMS) {
		if (ip != NULL) {
			rc = app_dec_fail_at(d, "inPlace", NULL,
					     "only applies with mode InPlace");
			goto done;
		}
		rc = dec_new_claims(out, d, nc);
	} else {
		if (nc != NULL) {
			rc = app_dec_fail_at(d, "newClaims", NULL,
					     "only applies with mode NewClaims");
			goto done;
		}
		if (ip == NULL) {
			rc = app_dec_fail_at(d, "inPlace", NULL,
					     "required with mode InPlace");
			goto done;
		}
		out->access_modes[0] = "ReadWriteOnce";
		out->n_access_modes = 1;
		rc = dec_in_place(out, d, ip);
	}
done:
	app_dec_pop(d, mark);
	return rc;
}

int app_restore_spec_decode(app_restore_spec *out, const json_t *obj,
			    const char **out_reason)
{
	app_restore_spec r;
	const json_t *spec = NULL;
	app_dec d;
	int rc;

	memset(&r, 0, sizeof(r));
	app_dec_init(&d, "spec");
	rc = spec_of(&spec, &d, obj);
	if (rc == 0)
		rc = dec_source(&r, &d, spec);
	if (rc == 0)
		rc = dec_restore_target(&r, &d, spec);
	if (rc == 0)
		rc = dec_int(&r.timeout_seconds, &d, spec, "timeoutSeconds",
			     APP_DEFAULT_RESTORE_TIMEOUT_SECONDS, 1, 86400);
	if (rc == 0)
		rc = dec_replay(&r.replay, &d, spec);
	if (rc == 0 && r.replay.enabled && r.has_point_in_time)
		rc = app_dec_fail_at(
			&d, "source", NULL,
			"pointInTime picks a Backup; with replay the base is "
			"picked by the replay target: leave pointInTime out");
	if (rc == 0 && r.replay.enabled && r.source_kind == APP_SOURCE_VOLUME_SNAPSHOT)
		rc = app_dec_fail_at(&d, "source", NULL,
				     "replay needs a Backup's recorded position: give "
				     "backupName or scheduleName");
	if (rc == 0)
		*out = r;
	set_reason(out_reason, &d, rc);
	return rc;
}
