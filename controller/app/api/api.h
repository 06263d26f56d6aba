/*
 * api.h — the snapstage.io/v1alpha1 kinds as C structs: BackupSchedule,
 * Backup and Restore, decoded from the JSON the API server serves, checked
 * beyond what the CRD schema can say, and their status written back.
 *
 * The CRDs in crds/ are the contract and docs/api.md documents every field.
 * Decoding applies the same defaults as the schema (so an object that
 * skipped the server's defaulting, e.g. in a test, reads the same) and
 * re-checks every bound, because the controller must not trust that the
 * schema it runs against is the one it was built with. On top of that it
 * checks what an OpenAPI schema in Kubernetes 1.20 cannot express: cron
 * syntax, that the time zone exists, durations, exactly-one-of and
 * "required when" rules, label syntax. The first problem found fails the
 * decode with SS_EINVALID, a message "field.path: what is wrong", and
 * `reason` set to the status-condition reason to report.
 *
 * Ownership: a decoded spec borrows every string and map from the JSON
 * object it was decoded from; keep that object alive (and unmodified) as
 * long as the struct is used. Status structs borrow from whoever filled
 * them. Nothing here allocates except app_*_status_to_json().
 *
 * Thread-safety: all functions are reentrant; errors go to the calling
 * thread's ss_error.
 */
#ifndef SNAPSTAGE_APP_API_H
#define SNAPSTAGE_APP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app/sched/cron.h"
#include "kube/rest.h"

#define APP_GROUP "snapstage.io"
#define APP_VERSION "v1alpha1"
#define APP_API_VERSION APP_GROUP "/" APP_VERSION

extern const kube_resource app_backupschedules;
extern const kube_resource app_backups;
extern const kube_resource app_restores;

/* Labels and annotations the controller reads and writes. */
#define APP_LABEL_SCHEDULE "snapstage.io/schedule"
/* The uid of the schedule that created a Backup: with APP_LABEL_SCHEDULE
 * (or an ownerReference with that uid) what makes the Backup the
 * schedule's own for retention (retention.h app_retention_is_own). */
#define APP_LABEL_SCHEDULE_UID "snapstage.io/schedule-uid"
#define APP_LABEL_BACKUP "snapstage.io/backup"
#define APP_LABEL_PIN "snapstage.io/pin"
#define APP_ANNOTATION_SCHEDULED_TIME "snapstage.io/scheduled-time"
#define APP_ANNOTATION_RUN_NOW "snapstage.io/run-now"
/* Every key with this prefix (the DNS name snapstage.io itself, in any
 * case; not its subdomains) is snapstage's: one given in a spec's labels or
 * annotations is InvalidSpec, and none is ever copied from a spec. */
#define APP_KEY_PREFIX "snapstage.io/"
/* The most a spec's annotations (spec.snapshot.annotations,
 * spec.target.newClaims.annotations) may hold, keys plus values: what the
 * API server allows on an object, less room for snapstage's own
 * annotations (the position, up to three GTID lists of 2 KiB, and the
 * Backup's name) on the same object. */
#define APP_ANNOTATIONS_RESERVED_BYTES (16 * 1024)
#define APP_USER_ANNOTATIONS_MAX_BYTES (256 * 1024 - APP_ANNOTATIONS_RESERVED_BYTES)

/* Bounds shared with the CRD schema. */
#define APP_MAX_VOLUMES 16
#define APP_MAX_SELECTOR_TERMS 16
#define APP_MAX_CLAIMS 16
#define APP_MAX_ACCESS_MODES 4
#define APP_SCHEDULE_MAX 256
#define APP_TIME_ZONE_MAX 64

/* Defaults shared with the CRD schema (tests/unit/test_api_crds.c checks
 * they match). */
#define APP_DEFAULT_TIME_ZONE "UTC"
#define APP_DEFAULT_MAX_LAG_SECONDS 300
#define APP_DEFAULT_CONNECT_TIMEOUT_SECONDS 10
#define APP_DEFAULT_LOCK_TIMEOUT_SECONDS 30
#define APP_DEFAULT_ACQUIRE_TIMEOUT_SECONDS 10
#define APP_DEFAULT_READY_TIMEOUT_SECONDS 3600
#define APP_MAX_READY_TIMEOUT_SECONDS 604800
#define APP_DEFAULT_KEEP_FAILED 3
#define APP_DEFAULT_RESTORE_TIMEOUT_SECONDS 1800
#define APP_DEFAULT_USERNAME_KEY "username"
#define APP_DEFAULT_PASSWORD_KEY "password"
#define APP_DEFAULT_CA_KEY "ca.crt"
#define APP_DEFAULT_MYSQL_PORT 3306

typedef enum { APP_ROLE_PREFER_REPLICA, APP_ROLE_REPLICA, APP_ROLE_PRIMARY } app_role;
typedef enum {
	APP_TLS_DISABLED,
	APP_TLS_PREFERRED,
	APP_TLS_REQUIRED,
	APP_TLS_VERIFY_CA,
	APP_TLS_VERIFY_IDENTITY
} app_tls_mode;
typedef enum {
	APP_STAGE_FLUSH,
	APP_STAGE_BLOCK_DDL,
	APP_STAGE_BLOCK_COMMIT
} app_lock_stage;
typedef enum {
	APP_SEL_IN,
	APP_SEL_NOT_IN,
	APP_SEL_EXISTS,
	APP_SEL_DOES_NOT_EXIST
} app_selector_op;
typedef enum { APP_DELETION_RETAIN, APP_DELETION_DELETE } app_deletion_policy;

/* The spelling of each enum value in the API ("PreferReplica", ...). */
const char *app_role_name(app_role role);
const char *app_tls_mode_name(app_tls_mode mode);
const char *app_lock_stage_name(app_lock_stage stage);

/* A Secret in the object's namespace and the keys to read from it. */
typedef struct {
	const char *name;
	const char *username_key;
	const char *password_key;
} app_credentials_ref;

typedef struct {
	const char *key;
	app_selector_op op;
	const json_t *values; /* array of strings; NULL for Exists/DoesNotExist */
} app_selector_term;

/* A metav1.LabelSelector. It always selects something narrower than
 * "everything": an empty selector is rejected when decoded. */
typedef struct {
	const json_t *match_labels; /* object of strings, or NULL */
	app_selector_term terms[APP_MAX_SELECTOR_TERMS];
	size_t n_terms;
} app_selector;

/* True if `labels` (an object of strings, or NULL) satisfies `sel`. */
bool app_selector_matches(const app_selector *sel, const json_t *labels);

typedef struct {
	int port; /* 0: the container port named "mysql", else 3306 */
	app_credentials_ref credentials;
	app_tls_mode tls_mode;
	const char *ca_secret_name; /* NULL unless tls.caSecretRef is set */
	const char *ca_secret_key;
	int connect_timeout_seconds;
} app_connection;

typedef struct {
	const char *statefulset_name; /* exactly one of this ... */
	bool has_selector;	      /* ... and this */
	app_selector selector;
	const char *volumes[APP_MAX_VOLUMES]; /* pod volume names; none: every PVC */
	size_t n_volumes;
	app_role role;
	int max_replication_lag_seconds;
	app_connection connection;
} app_target;

typedef struct {
	const char *class_name;	   /* NULL: the cluster's default class */
	const json_t *labels;	   /* object of strings, or NULL */
	const json_t *annotations; /* object of strings, or NULL */
	int ready_timeout_seconds; /* the longest Uploading may last */
} app_snapshot_opts;

typedef struct {
	app_lock_stage stage;
	int timeout_seconds;
	int acquire_timeout_seconds;
} app_lock_opts;

typedef struct {
	bool enabled; /* spec.retention present: prune by these rules */
	int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
	int64_t max_age_seconds; /* 0: no age limit */
	int keep_failed;
	bool dry_run;
	/* the newest verified Backup is never pruned, and a failed
	 * verification makes the schedule Degraded until a newer one passes */
	bool require_verified;
} app_retention;

/* One user check of a restore verification (spec.verification.checks[]):
 * one read-only SQL statement run on the scratch server, passing when it
 * returns at least min_rows rows and, when given, the first column of the
 * first row equals `equals` (as text) and/or lies within
 * [at_least, at_most] (as a number). */
#define APP_MAX_VERIFY_CHECKS 16
#define APP_VERIFY_CHECK_SQL_MAX 4096
typedef struct {
	const char *name; /* a DNS label: [a-z0-9-], at most 63 */
	const char *sql;  /* one statement, at most APP_VERIFY_CHECK_SQL_MAX bytes */
	int min_rows;	  /* default 1; 0 allowed (the statement must only run) */
	const char *equals; /* NULL: no text test */
	bool has_at_least;
	double at_least;
	bool has_at_most;
	double at_most;
} app_verify_check;

/* BackupSchedule.spec.verification: when and how its Backups are restored
 * into a scratch server and checked (docs/api.md "Verification"). */
#define APP_DEFAULT_VERIFY_SCHEDULE "H H * * *"
#define APP_DEFAULT_VERIFY_START_TIMEOUT_SECONDS 900
#define APP_DEFAULT_VERIFY_CHECK_TIMEOUT_SECONDS 1800
#define APP_DEFAULT_VERIFY_MAX_TABLES 10000
typedef struct {
	bool enabled; /* spec.verification present */
	const char *schedule;
	app_cron cron;
	const char *time_zone;	  /* default: the schedule's spec.timeZone */
	int every_nth_backup;	  /* 0: off */
	int start_timeout_seconds; /* claims bound + server Ready */
	int check_timeout_seconds; /* every check together */
	int max_tables;		   /* CHECK TABLE on at most this many */
	const json_t *resources;   /* ResourceRequirements, or NULL: the template's */
	const char *storage_class; /* NULL: the backed-up claim's class */
	app_verify_check checks[APP_MAX_VERIFY_CHECKS];
	size_t n_checks;
} app_verification_spec;

typedef struct {
	const char *schedule;
	app_cron cron;
	const char *time_zone;
	bool suspend;
	int64_t starting_deadline_seconds; /* -1: unset */
	app_deletion_policy backup_deletion_policy;
	app_target target;
	app_snapshot_opts snapshot;
	app_lock_opts lock;
	app_retention retention;
	app_verification_spec verification;
	/* spec.pointInTime present: the schedule checks how far back its
	 * primary's binlog reaches (status.pointInTime, the condition
	 * PointInTimeCoverage; schedule/pitr_window.h). Opt-in. */
	bool point_in_time;
	int point_in_time_interval_s; /* checkIntervalSeconds, default 300 */
} app_schedule_spec;

typedef struct {
	app_target target;
	app_snapshot_opts snapshot;
	app_lock_opts lock;
} app_backup_spec;

typedef enum {
	APP_SOURCE_BACKUP,
	APP_SOURCE_VOLUME_SNAPSHOT,
	APP_SOURCE_SCHEDULE
} app_restore_source_kind;
typedef enum { APP_MODE_NEW_CLAIMS, APP_MODE_IN_PLACE } app_restore_mode;
/* What an in-place restore's replicas are told to replicate from: the
 * primary Pod's DNS name (stable across its restarts) or its IP. */
typedef enum { APP_REPL_HOST_POD_DNS_NAME, APP_REPL_HOST_POD_IP } app_replication_host;

typedef struct {
	const char *volume;
	const char *name;
	int64_t size_bytes; /* 0: the snapshot's restoreSize */
	/* NULL: the restore's storage_class. The API has no per-claim class:
	 * set only by the controller, for an in-place point-in-time restore's
	 * scratch claims (each in its volumeClaimTemplate's class). */
	const char *storage_class;
} app_claim_spec;

/* Restore.spec.replay: point-in-time restore. The base (a Backup at or
 * before the target) is restored into a scratch server, which replays the
 * replay source's binary log up to exactly the target (docs/api.md). */
#define APP_REPLAY_GTID_MAX 4096
#define APP_DEFAULT_REPLAY_TIMEOUT_SECONDS 3600
typedef struct {
	bool enabled;		/* spec.replay present */
	bool has_time;		/* exactly one of time ... */
	int64_t time_ns;	/* (whole seconds: a binlog event's resolution) */
	const char *gtid;	/* ... and a GTID or full position ("0-1-4711") */
	bool inclusive;		/* default true; false only with gtid: stop just
				   before it (the "undo this DROP" target) */
	const char *source_pod; /* NULL: the target's current primary */
	int timeout_seconds;
	app_credentials_ref replication_credentials; /* on the source */
	app_connection connection; /* to the scratch server (its admin) */
} app_replay_spec;

typedef struct {
	app_restore_source_kind source_kind;
	const char *source_name; /* the Backup, VolumeSnapshot or schedule */
	/* With a schedule: restore the newest Backup whose data is from
	 * point_in_time_ns or before when has_point_in_time (the epoch is a
	 * point like any other), else the newest one now. */
	bool has_point_in_time;
	int64_t point_in_time_ns; /* 0 unless has_point_in_time */
	app_restore_mode mode;
	/* NewClaims */
	app_claim_spec claims[APP_MAX_CLAIMS]; /* none: one per volume */
	size_t n_claims;
	const char *storage_class; /* NULL: the cluster default */
	const char *access_modes[APP_MAX_ACCESS_MODES];
	size_t n_access_modes; /* never 0 after decoding */
	const json_t *claim_labels;
	const json_t *claim_annotations;
	/* InPlace */
	const char *statefulset_name;
	int primary_ordinal;
	app_replication_host replication_host;
	bool accept_inexact_position;
	bool has_replication_credentials;
	app_credentials_ref replication_credentials;
	app_connection connection;
	int timeout_seconds;
	app_replay_spec replay;
} app_restore_spec;

/* Decode `obj`'s spec (the whole object is passed so the schedule's
 * identity can seed H in its cron, and a schedule's name, which its
 * Backups carry as a label value, is checked: at most 63 characters).
 * On failure *out_reason (may be NULL) is the condition reason:
 * InvalidSpec, InvalidSchedule, InvalidTimeZone or NotAcknowledged. */
int app_schedule_spec_decode(app_schedule_spec *out, const json_t *obj,
			     const char **out_reason);
int app_backup_spec_decode(app_backup_spec *out, const json_t *obj,
			   const char **out_reason);
int app_restore_spec_decode(app_restore_spec *out, const json_t *obj,
			    const char **out_reason);

/* Only spec.target of a Backup, with the same checks as
 * app_backup_spec_decode: what cleaning up after a lock session needs
 * (which pod, how to connect) when the rest of the spec no longer
 * decodes. 0 or < 0 with a message; *out untouched on failure. */
int app_backup_spec_decode_target(app_target *out, const json_t *obj);

/* Whether the IANA zone `name` loads from the system tz database ($TZDIR,
 * else /usr/share/zoneinfo) with util/tz.h, the loader due times are
 * computed with. 0, or SS_EINVALID (a bad name or file), SS_ENOTFOUND (no
 * such zone) or SS_EUNSUPPORTED (TZif version 1, leap seconds) with a
 * message. "UTC" always exists. */
int app_time_zone_check(const char *name);

/* Parses a retention age such as "90d", "36h", "1w2d" (units s m h d w,
 * whole numbers only) into seconds. 0 or SS_EINVALID. */
int app_age_parse(int64_t *out_seconds, const char *text);

/* False for labels that must not be copied from a schedule onto Backups
 * and VolumeSnapshots: GitOps tools' tracking labels (Argo CD, Flux,
 * app.kubernetes.io/instance which Argo CD uses by default), and snapstage's
 * own keys (app_key_is_reserved; a decoded spec has none, this is the
 * second line). */
bool app_label_is_copyable(const char *key);

/* Whether `key` (a label or annotation key) has the prefix APP_KEY_PREFIX,
 * compared without regard to case. */
bool app_key_is_reserved(const char *key);

/* Copies the string members of `from` (an object, or NULL) that
 * app_label_is_copyable() allows onto `to`, replacing what `to` held under
 * those keys. With `as_labels`, members whose key or value is no valid
 * label are left out too: maps decoded from a spec were checked already,
 * but a map built by hand must not make an object the API server refuses.
 * 0 or SS_ENOMEM. */
int app_copy_copyable(json_t *to, const json_t *from, bool as_labels);

/* Sets one of snapstage's own labels on `labels`: it replaces a user label
 * of that key, and is left out (with the user's) when `value` is NULL or
 * no label value, so a user label can never pose as ours. 0 or SS_ENOMEM. */
int app_label_set_own(json_t *labels, const char *key, const char *value);

/* ---- status ---------------------------------------------------------- */

/* ---- restore verification (Backup.status.verification) ---------------- */

/* A request to verify a Backup now: any new value (a token, e.g. a time)
 * on the Backup starts one; status.verification.token records the one
 * handled. The schedule sets it when its verification is due. */
#define APP_ANNOTATION_VERIFY_NOW "snapstage.io/verify-now"
/* On a Backup while a verification's scratch objects may exist. */
#define APP_VERIFY_FINALIZER "snapstage.io/verification"
#define APP_CONDITION_VERIFIED "Verified"
/* The scratch objects' purpose (scratch.h APP_LABEL_SCRATCH). */
#define APP_SCRATCH_VERIFY "verify"

typedef enum {
	APP_VERIFY_PENDING,	/* requested, waiting for its turn */
	APP_VERIFY_RESTORING,	/* scratch claims made, waiting for Bound */
	APP_VERIFY_STARTING,	/* scratch Pod made, waiting for Ready */
	APP_VERIFY_CHECKING,	/* the checks run */
	APP_VERIFY_CLEANING_UP, /* the verdict is in; scratch objects go */
	APP_VERIFY_DONE
} app_verify_phase;

/* One check's record: type ServerStart, CheckTable, Position or User
 * (then `name` is the user check's); result Passed, Failed or Skipped. */
#define APP_VERIFY_MAX_CHECKS (3 + APP_MAX_VERIFY_CHECKS)
typedef struct {
	const char *type;
	const char *name;
	const char *result;
	int64_t duration_ms; /* -1: unknown */
	const char *message;
} app_verify_check_status;

typedef struct {
	const char *token; /* the request this is about; NULL: none yet */
	bool has_phase;
	app_verify_phase phase;
	const char *result; /* "Passed" or "Failed" once the checks are done */
	const char *reason; /* when Failed: TableCorrupt, PositionMismatch, ... */
	const char *message;
	const char *pod;
	const char *claims[APP_MAX_VOLUMES];
	size_t n_claims;
	int64_t start_ns;	/* the request taken up */
	int64_t phase_start_ns; /* the current phase began */
	int64_t completion_ns;
	/* Milliseconds spent restoring (claims Bound), starting (Pod Ready),
	 * checking and cleaning up; -1: not (yet) known. */
	int64_t restore_ms, start_ms, check_ms, cleanup_ms;
	app_verify_check_status checks[APP_VERIFY_MAX_CHECKS];
	size_t n_checks;
} app_verification_status;

const char *app_verify_phase_name(app_verify_phase phase);
void app_verification_status_init(app_verification_status *st);
/* Reads obj.status.verification (absent: an empty one). Borrowed strings. */
int app_verification_status_decode(app_verification_status *out, const json_t *obj);
/* Writes `v` as obj.status.verification, replacing it whole. */
int app_verification_status_encode(json_t *obj, const app_verification_status *v);

typedef enum {
	APP_BACKUP_PENDING,
	APP_BACKUP_QUEUED,
	APP_BACKUP_LOCKED,
	APP_BACKUP_UPLOADING,
	APP_BACKUP_COMPLETED,
	APP_BACKUP_FAILED
} app_backup_phase;

typedef struct {
	const char *volume;
	const char *claim;
	const char *volume_snapshot_name;
	int64_t creation_time_ns; /* 0: not cut yet */
	bool ready_to_use;
	int64_t restore_size_bytes; /* -1: unknown */
	const char *error;
} app_snapshot_status;

typedef struct {
	const char *gtid_binlog_pos;
	const char *gtid_slave_pos;
	const char *gtid_current_pos;
	const char *binlog_file;
	int64_t binlog_position; /* -1: unknown */
	const char *primary_binlog_file;
	int64_t primary_binlog_position; /* -1: unknown */
} app_db_position;

typedef struct {
	const char *stage;
	int64_t connection_id; /* -1: none */
	int64_t acquired_ns;   /* 0: not acquired */
	int64_t released_ns;
	int64_t held_ms; /* -1: unknown */
	bool replication_paused; /* we stopped the replica's SQL threads */
} app_lock_status;

/* The Backup condition that says whether a Complete Backup can still be
 * restored from (app_backup_plan_restorable in backup/backup_plan.h sets it; the
 * schedule's retention and a Restore read it), and its reasons. */
#define APP_CONDITION_RESTORABLE "Restorable"
#define APP_REASON_SNAPSHOTS_READY "SnapshotsReady"
#define APP_REASON_SNAPSHOT_MISSING "SnapshotMissing"
#define APP_REASON_SNAPSHOT_FAILED "SnapshotFailed"

/* Backup.status without conditions (ctrl/conditions.h edits those in
 * place on the object). Unset strings are NULL, unset times 0. */
typedef struct {
	int64_t observed_generation;
	bool has_phase;
	app_backup_phase phase;
	const char *message;
	const char *source_pod;
	const char *source_role; /* "Primary" or "Replica" */
	app_snapshot_status snapshots[APP_MAX_VOLUMES];
	size_t n_snapshots;
	int64_t total_restore_size_bytes; /* -1: unknown */
	app_db_position position;
	app_lock_status lock;
	int64_t start_ns;
	int64_t completion_ns;
	int attempts; /* lock sessions started; 0: none yet */
	/* Pending after an attempt that was not trusted: the next session
	 * starts no earlier than this (status.nextAttemptTime); 0: at once. */
	int64_t next_attempt_ns;
} app_backup_status;

/* An empty status: every "unknown" field at its sentinel. */
void app_backup_status_init(app_backup_status *st);
const char *app_backup_phase_name(app_backup_phase phase);

/* Reads obj.status (absent: an empty status). Strings are borrowed. */
int app_backup_status_decode(app_backup_status *out, const json_t *obj);
/* The GTID position a Backup's data is at, as a restore starts from it
 * (and a schedule's point-in-time window reckons it):
 * status.position.gtidCurrentPos, else a Primary's gtidBinlogPos or a
 * Replica's gtidSlavePos. Borrowed from st; NULL when none is recorded.
 * Pure. */
const char *app_backup_status_gtid(const app_backup_status *st);
/* Writes `st` into obj.status, replacing every field it describes and
 * keeping the conditions already there. */
int app_backup_status_encode(json_t *obj, const app_backup_status *st);

typedef struct {
	int64_t observed_generation;
	int64_t last_schedule_ns;
	int64_t next_schedule_ns;
	const char *last_successful_backup;
	int64_t last_successful_ns;
	const char *active[APP_MAX_CLAIMS];
	size_t n_active;
	int64_t missed_runs;
	int64_t skipped_runs;
	const char *last_run_now_token;
	int64_t last_prune_ns;
	int64_t pruned_total;
	const json_t *would_prune; /* array of names, or NULL */
	/* status.verification: the newest verification of its Backups that
	 * finished (name, time, Passed/Failed), the newest Backup that passed,
	 * and the verification run last requested (its due time: a token) */
	const char *last_verification_backup;
	int64_t last_verification_ns;
	const char *last_verification_result;
	const char *last_verified_backup;
	int64_t last_verified_ns;
	int64_t last_verification_request_ns;
	int64_t next_verification_ns;
	/* status.pointInTime (written only when pit_set; removed otherwise):
	 * the window a point-in-time Restore can reach, the Backup its start
	 * is from, the primary checked and when, where its binlog starts (a
	 * GTID position) and its expiry, and the last base that went */
	bool pit_set;
	int64_t pit_from_ns, pit_to_ns;
	const char *pit_base;
	const char *pit_primary;
	int64_t pit_check_ns;
	const char *pit_binlog_start;
	int64_t pit_expire_seconds; /* -1: unknown */
	const char *pit_removed_base;
	int64_t pit_removed_ns;
} app_schedule_status;

int app_schedule_status_decode(app_schedule_status *out, const json_t *obj);
int app_schedule_status_encode(json_t *obj, const app_schedule_status *st);

typedef enum {
	APP_RESTORE_PENDING,
	APP_RESTORE_RESTORING,
	APP_RESTORE_COMPLETED,
	APP_RESTORE_FAILED
} app_restore_phase;

typedef enum {
	APP_STEP_NONE,
	APP_STEP_SCALING_DOWN,
	APP_STEP_REPLACING_CLAIMS,
	APP_STEP_SCALING_UP,
	APP_STEP_CONFIGURING_REPLICATION,
	APP_STEP_RELEASING_OLD_VOLUMES,
	APP_STEP_DONE,
	APP_STEP_ROLLING_BACK,
	APP_STEP_ROLLED_BACK
} app_restore_step;

/* Members of a StatefulSet an in-place restore handles, and the claims it
 * replaces (members x backed-up volumes). */
#define APP_MAX_MEMBERS 16
#define APP_MAX_INPLACE_CLAIMS 64

/* One claim an in-place restore replaces, as it was before (recorded before
 * the first delete). */
typedef struct {
	const char *claim;  /* <volume>-<statefulset>-<ordinal> */
	const char *volume; /* the volumeClaimTemplate */
	int ordinal;
	const char *old_claim_uid;	/* NULL: no claim existed */
	const char *old_volume_name;	/* NULL: the claim was not bound */
	const char *old_reclaim_policy; /* of that PersistentVolume */
} app_inplace_volume;

typedef struct {
	const char *name;
	const char *volume;
	const char *volume_snapshot_name;
	bool bound;
} app_claim_status;

/* Restore.status.replay: a point-in-time restore's progress (issue 19),
 * each step recorded before it is acted on. */
typedef enum {
	APP_REPLAY_STEP_NONE,
	APP_REPLAY_STEP_RESTORING_BASE, /* scratch claims from the base */
	APP_REPLAY_STEP_STARTING,	/* the scratch server */
	APP_REPLAY_STEP_RESOLVING,	/* the target to a GTID position */
	APP_REPLAY_STEP_REPLAYING,	/* START SLAVE UNTIL, progress */
	APP_REPLAY_STEP_FINISHING,	/* stop, forget, check exact, shut down */
	APP_REPLAY_STEP_DONE,		/* the scratch server shut down */
	/* InPlace only, after Done: */
	APP_REPLAY_STEP_SNAPSHOTTING,  /* VolumeSnapshots of the replayed claims */
	APP_REPLAY_STEP_SAFETY_BACKUP, /* a Backup of the target as it is now */
	APP_REPLAY_STEP_IN_PLACE       /* the in-place machinery (status.inPlace.step) */
} app_replay_step;

typedef struct {
	app_replay_step step;
	int64_t step_start_ns;
	const char *base_position;   /* the base Backup's GTID position */
	const char *target_position; /* resolved, recorded before replaying */
	int64_t target_time_ns;	     /* a time target as given; 0 */
	const char *source_pod;	     /* the replay source, pinned */
	const char *reached;	     /* @@gtid_slave_pos at the last look */
	int64_t relay_bytes;	     /* progress; -1 unknown */
	int64_t progress_ns;	     /* when reached/relay_bytes were written */
	const char *scratch_pod;
	/* InPlace: the replayed claims' VolumeSnapshots (snapshots[i] of
	 * claims[i]), and the safety Backup (never owned by the Restore) */
	const char *snapshots[APP_MAX_CLAIMS];
	size_t n_snapshots;
	const char *safety_backup;
} app_restore_replay_status;

typedef struct {
	int64_t observed_generation;
	bool has_phase;
	app_restore_phase phase;
	const char *message;
	const char *source_backup;
	const char *source_snapshots[APP_MAX_VOLUMES];
	size_t n_source_snapshots;
	app_claim_status claims[APP_MAX_CLAIMS];
	size_t n_claims;
	const char *mode; /* "NewClaims" or "InPlace", pinned at the start */
	const json_t *accepted_spec; /* the spec as it was at the start */
	/* InPlace, pinned at the start */
	const char *statefulset_name;
	const char *statefulset_uid;
	int original_replicas; /* -1: not recorded */
	int primary_ordinal;   /* -1: not recorded */
	/* the primary's DNS name the replicas replicate from; NULL: its
	 * Pod IP (spec replicationHost PodIP, or a Restore an older
	 * version started) */
	const char *replication_host;
	app_restore_step step;
	app_inplace_volume volumes[APP_MAX_INPLACE_CLAIMS];
	size_t n_volumes;
	int configured[APP_MAX_MEMBERS]; /* ordinals whose replication is set */
	size_t n_configured;
	const char *gtid_position;  /* the source's, pinned at the start */
	const char *failure_reason; /* while RollingBack */
	const char *failure_message;
	int64_t start_ns;
	int64_t completion_ns;
	app_restore_replay_status replay;
} app_restore_status;

void app_restore_status_init(app_restore_status *st);
int app_restore_status_decode(app_restore_status *out, const json_t *obj);
int app_restore_status_encode(json_t *obj, const app_restore_status *st);

#endif
