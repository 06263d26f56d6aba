/*
 * verify_plan.c — see verify_plan.h.
 */
#include "app/verify/verify_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl/conditions.h"
#include "ctrl/object.h"
#include "util/str.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define TOKEN_MAX 256
#define GTID_MAX_ENTRIES 64

static const json_t *at(const json_t *o, const char *k1, const char *k2)
{
	return json_object_get(json_object_get(o, k1), k2);
}

size_t app_verify_plan_volumes(app_scratch_volume *vols, const char **claims,
			       const app_backup_status *bst)
{
	size_t i, n = 0;

	for (i = 0; i < bst->n_snapshots && i < APP_MAX_VOLUMES; i++) {
		const app_snapshot_status *s = &bst->snapshots[i];

		if (s->volume == NULL || s->volume_snapshot_name == NULL)
			continue;
		vols[n].volume = s->volume;
		vols[n].snapshot = s->volume_snapshot_name;
		vols[n].restore_size_bytes = s->restore_size_bytes;
		vols[n].source_claim = NULL;
		claims[n] = s->claim;
		n++;
	}
	return n;
}

const char *app_verify_plan_token(const json_t *backup)
{
	const char *t = json_string_value(
		json_object_get(at(backup, "metadata", "annotations"), APP_ANNOTATION_VERIFY_NOW));

	if (t == NULL || t[0] == '\0' || strlen(t) > TOKEN_MAX)
		return NULL;
	return t;
}

static bool has_finalizer(const json_t *backup)
{
	const json_t *f;
	size_t i;

	json_array_foreach(at(backup, "metadata", "finalizers"), i, f)
	{
		if (ss_streq(json_string_value(f), APP_VERIFY_FINALIZER))
			return true;
	}
	return false;
}

app_verify_plan_need app_verify_plan_todo(const json_t *backup,
					  const app_verification_status *v)
{
	const char *token = app_verify_plan_token(backup);

	if (ctrl_meta(backup, "deletionTimestamp") != NULL)
		return has_finalizer(backup) ? APP_VERIFY_PLAN_DELETED
					     : APP_VERIFY_PLAN_NOTHING;
	if (v->has_phase && v->phase != APP_VERIFY_DONE)
		return APP_VERIFY_PLAN_CONTINUE;
	if (token != NULL && !ss_streq(token, v->token))
		return APP_VERIFY_PLAN_START;
	/* a finalizer left by a crash after Done was recorded */
	return has_finalizer(backup) ? APP_VERIFY_PLAN_CONTINUE : APP_VERIFY_PLAN_NOTHING;
}

static bool snapshots_ready(const json_t *snaps, const char **why)
{
	const json_t *s;
	size_t i;

	if (json_array_size(snaps) == 0) {
		*why = "it lists no snapshot";
		return false;
	}
	json_array_foreach(snaps, i, s)
	{
		if (json_string_value(json_object_get(s, "volumeSnapshotName")) == NULL) {
			*why = "a snapshot has no VolumeSnapshot name";
			return false;
		}
		if (!json_is_true(json_object_get(s, "readyToUse"))) {
			*why = "a snapshot is not readyToUse yet";
			return false;
		}
	}
	return true;
}

bool app_verify_plan_source_ok(const json_t *backup, const char **why)
{
	const char *unused;

	if (why == NULL)
		why = &unused;
	if (ctrl_meta(backup, "deletionTimestamp") != NULL) {
		*why = "it is being deleted";
		return false;
	}
	if (!ss_streq(json_string_value(at(backup, "status", "phase")), "Completed") ||
	    !ctrl_condition_is_true(backup, "Complete")) {
		*why = "it is not Complete";
		return false;
	}
	if (ss_streq(ctrl_condition_get_status(backup, APP_CONDITION_RESTORABLE), "False")) {
		*why = "it is no longer restorable (Restorable False)";
		return false;
	}
	return snapshots_ready(at(backup, "status", "snapshots"), why);
}

/* Two Backups target the same database: the same StatefulSet name, or
 * equal pod selectors. */
static bool same_target(const json_t *a, const json_t *b)
{
	const json_t *ta = at(a, "spec", "target"), *tb = at(b, "spec", "target");
	const char *sa = json_string_value(json_object_get(ta, "statefulSetName"));
	const char *sb = json_string_value(json_object_get(tb, "statefulSetName"));

	if (!ss_streq(ctrl_meta(a, "namespace"), ctrl_meta(b, "namespace")))
		return false;
	if (sa != NULL || sb != NULL)
		return ss_streq(sa, sb);
	return json_equal(json_object_get(ta, "podSelector"),
			  json_object_get(tb, "podSelector"));
}

static bool verifying(const json_t *backup)
{
	const char *p = json_string_value(
		json_object_get(at(backup, "status", "verification"), "phase"));

	return p != NULL && !ss_streq(p, "Pending") && !ss_streq(p, "Done");
}

static bool restore_rolls_back(const json_t *restore, const char *ns, const char *sts)
{
	const char *phase = json_string_value(at(restore, "status", "phase"));
	const json_t *ip = json_object_get(at(restore, "spec", "target"), "inPlace");

	if (sts == NULL || !ss_streq(ctrl_meta(restore, "namespace"), ns) ||
	    ss_streq(phase, "Completed") || ss_streq(phase, "Failed"))
		return false;
	return ss_streq(json_string_value(json_object_get(ip, "statefulSetName")), sts);
}

const char *app_verify_plan_busy(const json_t *backup, const json_t *backups,
				 const json_t *restores, const char **who)
{
	const char *sts = json_string_value(at(backup, "spec", "target") != NULL
						    ? json_object_get(at(backup, "spec", "target"),
								      "statefulSetName")
						    : NULL);
	const char *me = ctrl_meta(backup, "name"), *best = NULL;
	const json_t *o;
	size_t i;

	json_array_foreach(backups, i, o)
	{
		const char *name = ctrl_meta(o, "name");

		if (name == NULL || ss_streq(name, me) || !verifying(o) ||
		    !same_target(o, backup))
			continue;
		if (best == NULL || strcmp(name, best) < 0)
			best = name; /* the smallest name: order-free */
	}
	if (best != NULL) {
		*who = best;
		return "another Backup of the same database is being verified";
	}
	json_array_foreach(restores, i, o)
	{
		const char *name = ctrl_meta(o, "name");

		if (name != NULL && restore_rolls_back(o, ctrl_meta(backup, "namespace"), sts) &&
		    (best == NULL || strcmp(name, best) < 0))
			best = name;
	}
	if (best != NULL) {
		*who = best;
		return "an in-place Restore of the same database is running";
	}
	return NULL;
}

/* ---- GTID lists ------------------------------------------------------ */

static int gtid_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Splits a copy of `list` (buf, cap bytes) into sorted entries. -1 when it
 * does not fit. */
static int gtid_split(const char **out, size_t *n, char *buf, size_t cap, const char *list)
{
	char *p, *save = NULL, *tok;
	size_t w = 0, i;

	for (i = 0; list != NULL && list[i] != '\0'; i++)
		if (list[i] != ' ' && list[i] != '\t' && list[i] != '\n') {
			if (w + 1 >= cap)
				return -1;
			buf[w++] = list[i];
		}
	buf[w] = '\0';
	*n = 0;
	for (p = buf; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		if (*n >= GTID_MAX_ENTRIES)
			return -1;
		out[(*n)++] = tok;
	}
	qsort(out, *n, sizeof(*out), gtid_cmp);
	return 0;
}

bool app_verify_plan_gtid_equal(const char *a, const char *b)
{
	const char *ea[GTID_MAX_ENTRIES], *eb[GTID_MAX_ENTRIES];
	char ba[4096], bb[4096];
	size_t na, nb, i;

	if (gtid_split(ea, &na, ba, sizeof(ba), a) < 0 ||
	    gtid_split(eb, &nb, bb, sizeof(bb), b) < 0)
		return ss_streq(a ? a : "", b ? b : "");
	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
		if (strcmp(ea[i], eb[i]) != 0)
			return false;
	return true;
}

const char *app_verify_check_result_name(app_verify_check_result r)
{
	static const char *const names[] = { "Passed", "Failed", "Skipped" };

	return (size_t)r < N(names) ? names[r] : "Failed";
}

static bool recorded(const char *s)
{
	return s != NULL && s[0] != '\0';
}

app_verify_check_result app_verify_plan_position(char *msg, size_t cap,
						 const app_db_position *rec,
						 const char *server_binlog_pos,
						 const char *server_slave_pos)
{
	if (!recorded(rec->gtid_slave_pos) && !recorded(rec->gtid_binlog_pos)) {
		snprintf(msg, cap, "the Backup recorded no GTID position");
		return APP_VERIFY_CHECK_SKIPPED;
	}
	if (recorded(rec->gtid_slave_pos) &&
	    !app_verify_plan_gtid_equal(rec->gtid_slave_pos, server_slave_pos)) {
		snprintf(msg, cap, "gtid_slave_pos is '%.400s', the Backup recorded '%.400s'",
			 server_slave_pos ? server_slave_pos : "", rec->gtid_slave_pos);
		return APP_VERIFY_CHECK_FAILED;
	}
	if (recorded(rec->gtid_binlog_pos) &&
	    !app_verify_plan_gtid_equal(rec->gtid_binlog_pos, server_binlog_pos)) {
		snprintf(msg, cap, "gtid_binlog_pos is '%.400s', the Backup recorded '%.400s'",
			 server_binlog_pos ? server_binlog_pos : "", rec->gtid_binlog_pos);
		return APP_VERIFY_CHECK_FAILED;
	}
	if (recorded(rec->gtid_slave_pos))
		snprintf(msg, cap, "gtid_slave_pos %.400s as recorded", rec->gtid_slave_pos);
	else
		snprintf(msg, cap, "gtid_binlog_pos %.400s as recorded", rec->gtid_binlog_pos);
	return APP_VERIFY_CHECK_PASSED;
}

static const char *reason_of(const char *type)
{
	static const char *const map[][2] = { { "ServerStart", "ServerDidNotStart" },
					      { "CheckTable", "TableCorrupt" },
					      { "Position", "PositionMismatch" },
					      { "User", "CheckFailed" } };
	size_t i;

	for (i = 0; i < N(map); i++)
		if (ss_streq(type, map[i][0]))
			return map[i][1];
	return "CheckFailed";
}

void app_verify_plan_verdict(app_verification_status *v, char *msg, size_t cap)
{
	size_t i, failed = 0;
	const app_verify_check_status *first = NULL;

	if (v->result != NULL)
		return;
	for (i = 0; i < v->n_checks; i++)
		if (ss_streq(v->checks[i].result, "Failed")) {
			failed++;
			if (first == NULL)
				first = &v->checks[i];
		}
	if (first != NULL) {
		v->result = "Failed";
		v->reason = reason_of(first->type);
		if (ss_streq(first->type, "User"))
			snprintf(msg, cap, "check %s failed: %.1500s", first->name ? first->name : "?",
				 first->message ? first->message : "");
		else
			snprintf(msg, cap, "%.1500s", first->message ? first->message : "");
		if (failed > 1)
			snprintf(msg + strlen(msg), cap - strlen(msg),
				 " (and %zu more failed checks)", failed - 1);
	} else {
		v->result = "Passed";
		v->reason = "Verified";
		snprintf(msg, cap, "restored and checked: %zu checks passed", v->n_checks);
	}
	v->message = msg;
}
