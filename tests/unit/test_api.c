/*
 * test_api.c — decoding and checking the snapstage kinds (app/api/api.h).
 *
 * Each kind starts from one complete, valid object. Good cases change it
 * and check what the C struct says; bad cases change one field and check
 * the decode fails with a message that names the field's path and the
 * problem, and with the right condition reason. A final test walks every
 * spec field of the CRDs in crds/ and fails if one has no bad case here,
 * so a field added to the schema cannot go untested.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "app/api/api.h"
#include "app/api/dec.h"
#include "app/api/names.h"
#include "app/schedule/schedule_plan.h"
#include "kube/quantity.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/file.h"
#include "util/yaml.h"

/* ---- building test objects ------------------------------------------ */

static const char *schedule_base =
	"{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"BackupSchedule\","
	"\"metadata\":{\"name\":\"nightly\",\"namespace\":\"db\"},"
	"\"spec\":{\"schedule\":\"30 2 * * MON-FRI\",\"timeZone\":\"Europe/Berlin\","
	"\"target\":{\"statefulSetName\":\"mariadb\",\"volumes\":[\"data\",\"logs\"],"
	"\"connection\":{\"credentialsSecretRef\":{\"name\":\"mariadb-backup\"}}},"
	"\"retention\":{\"keepDaily\":7,\"maxAge\":\"90d\",\"requireVerified\":true},"
	"\"verification\":{\"schedule\":\"H 4 * * *\",\"checks\":[{\"name\":\"orders\","
	"\"sql\":\"SELECT COUNT(*) FROM shop.orders\",\"expect\":{\"atLeast\":1}},"
	"{\"name\":\"ledger\",\"sql\":\"SELECT 1\"}]}}}";

static const char *backup_base =
	"{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"Backup\","
	"\"metadata\":{\"name\":\"adhoc\",\"namespace\":\"db\"},"
	"\"spec\":{\"target\":{\"podSelector\":{\"matchLabels\":{\"app\":\"mariadb\"}},"
	"\"connection\":{\"credentialsSecretRef\":{\"name\":\"mariadb-backup\"}}}}}";

static const char *restore_base =
	"{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"Restore\","
	"\"metadata\":{\"name\":\"r1\",\"namespace\":\"db\"},"
	"\"spec\":{\"source\":{\"backupName\":\"nightly-20261123-0230\"},"
	"\"target\":{\"mode\":\"NewClaims\",\"newClaims\":{\"storageClassName\":\"fast\","
	"\"claims\":[{\"volume\":\"data\",\"name\":\"restored-data\",\"size\":\"20Gi\"}]}"
	"}}}";

static const char *in_place_base =
	"{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"Restore\","
	"\"metadata\":{\"name\":\"r2\",\"namespace\":\"db\"},"
	"\"spec\":{\"source\":{\"scheduleName\":\"nightly\",\"pointInTime\":\"2026-11-"
	"20T12:00:00Z\"},"
	"\"target\":{\"mode\":\"InPlace\",\"inPlace\":{\"statefulSetName\":\"mariadb\","
	"\"acknowledgeDataLoss\":true,\"primaryOrdinal\":1,"
	"\"replicationCredentialsSecretRef\":{\"name\":\"repl\"},"
	"\"connection\":{\"credentialsSecretRef\":{\"name\":\"root\"},"
	"\"tls\":{\"mode\":\"VerifyCA\",\"caSecretRef\":{\"name\":\"db-ca\"}}}}}}}";

static const char *replay_base =
	"{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"Restore\","
	"\"metadata\":{\"name\":\"r3\",\"namespace\":\"db\"},"
	"\"spec\":{\"source\":{\"scheduleName\":\"nightly\"},"
	"\"target\":{\"mode\":\"NewClaims\"},"
	"\"replay\":{\"gtid\":\"0-1-4711\",\"inclusive\":false,"
	"\"source\":{\"podName\":\"mariadb-0\"},\"timeoutSeconds\":600,"
	"\"replicationCredentialsSecretRef\":{\"name\":\"repl\"},"
	"\"connection\":{\"credentialsSecretRef\":{\"name\":\"root\"},"
	"\"tls\":{\"mode\":\"VerifyCA\",\"caSecretRef\":{\"name\":\"db-ca\"}}}}}}";

typedef enum { K_SCHEDULE, K_BACKUP, K_RESTORE, K_IN_PLACE, K_REPLAY } kind;

static json_t *base_of(kind k)
{
	switch (k) {
	case K_SCHEDULE: return tu_json(schedule_base);
	case K_BACKUP: return tu_json(backup_base);
	case K_RESTORE: return tu_json(restore_base);
	case K_REPLAY: return tu_json(replay_base);
	default: return tu_json(in_place_base);
	}
}

/* Decodes `obj` as kind k; returns the rc and the reason. */
static int decode(kind k, const json_t *obj, const char **reason)
{
	app_schedule_spec s;
	app_backup_spec b;
	app_restore_spec r;

	switch (k) {
	case K_SCHEDULE: return app_schedule_spec_decode(&s, obj, reason);
	case K_BACKUP: return app_backup_spec_decode(&b, obj, reason);
	default: return app_restore_spec_decode(&r, obj, reason);
	}
}

/* ---- bad values ------------------------------------------------------ */

typedef struct {
	kind k;
	const char *path;  /* the field changed */
	const char *value; /* JSON, or NULL to delete the field */
	const char *fragment;
	const char *reason; /* NULL: InvalidSpec */
} bad_case;

static const bad_case bad[] = {
	/* BackupSchedule: when */
	{ K_SCHEDULE, "spec.schedule", NULL, "spec.schedule: required", NULL },
	{ K_SCHEDULE, "spec.schedule", "\"61 * * * *\"",
	  "spec.schedule: field 1 (minute)", "InvalidSchedule" },
	{ K_SCHEDULE, "spec.schedule", "\"CRON_TZ=UTC 0 3 * * *\"", "spec.timeZone",
	  "InvalidSchedule" },
	{ K_SCHEDULE, "spec.schedule", "\"@every 1h\"",
	  "spec.schedule:", "InvalidSchedule" },
	{ K_SCHEDULE, "spec.schedule", "3", "spec.schedule: must be a string", NULL },
	{ K_SCHEDULE, "spec.timeZone", "\"Mars/Olympus_Mons\"", "unknown time zone",
	  "InvalidTimeZone" },
	{ K_SCHEDULE, "spec.timeZone", "\"../../etc/passwd\"",
	  "not an IANA time zone name", "InvalidTimeZone" },
	{ K_SCHEDULE, "spec.timeZone", "\"/etc/localtime\"", "not an IANA time zone name",
	  "InvalidTimeZone" },
	/* the host's setting, not a zone of the database (issue 15) */
	{ K_SCHEDULE, "spec.timeZone", "\"localtime\"", "not an IANA time zone name",
	  "InvalidTimeZone" },
	{ K_SCHEDULE, "spec.timeZone", "\"posixrules\"", "not an IANA time zone name",
	  "InvalidTimeZone" },
	{ K_SCHEDULE, "spec.timeZone", "\"Factory\"", "not an IANA time zone name",
	  "InvalidTimeZone" },
	{ K_SCHEDULE, "spec.timeZone", "\"posix/Europe/Berlin\"",
	  "not an IANA time zone name", "InvalidTimeZone" },
	/* a name no Backup's snapstage.io/schedule label can hold (issue 15) */
	{ K_SCHEDULE, "metadata.name",
	  "\"s234567890123456789012345678901234567890123456789012345678901234\"",
	  "metadata.name: \"s234567890123456789012345678901234567890...\" (64 "
	  "characters) is no label value",
	  NULL },
	{ K_SCHEDULE, "spec.suspend", "\"yes\"", "spec.suspend: must be true or false",
	  NULL },
	{ K_SCHEDULE, "spec.startingDeadlineSeconds", "-5",
	  "spec.startingDeadlineSeconds: must be between 0 and 9223372036, got -5",
	  NULL },
	{ K_SCHEDULE, "spec.backupDeletionPolicy", "\"Orphan\"",
	  "spec.backupDeletionPolicy: must be one of Retain, Delete, got \"Orphan\"",
	  NULL },
	/* target */
	{ K_SCHEDULE, "spec.target", NULL, "spec.target: required", NULL },
	{ K_SCHEDULE, "spec.target.statefulSetName", "\"MariaDB\"",
	  "spec.target.statefulSetName: \"MariaDB\" is not a valid name", NULL },
	{ K_SCHEDULE, "spec.target.statefulSetName", NULL,
	  "spec.target: give exactly one of statefulSetName and podSelector", NULL },
	{ K_SCHEDULE, "spec.target.podSelector", "{\"matchLabels\":{\"app\":\"x\"}}",
	  "give exactly one of statefulSetName and podSelector", NULL },
	{ K_BACKUP, "spec.target.podSelector", "{}",
	  "spec.target.podSelector: selects every pod", NULL },
	{ K_BACKUP, "spec.target.podSelector.matchLabels", "{\"app\":\"-bad-\"}",
	  "spec.target.podSelector.matchLabels: value of \"app\" is not a valid label "
	  "value",
	  NULL },
	{ K_BACKUP, "spec.target.podSelector.matchLabels", "{\"a b\":\"x\"}",
	  "\"a b\" is not a valid label key", NULL },
	{ K_BACKUP, "spec.target.podSelector.matchExpressions[0].key", "\"/x\"",
	  "spec.target.podSelector.matchExpressions[0].key: \"/x\" is not a valid label "
	  "key",
	  NULL },
	{ K_BACKUP, "spec.target.podSelector.matchExpressions[0]",
	  "{\"key\":\"tier\",\"operator\":\"Near\"}",
	  "spec.target.podSelector.matchExpressions[0].operator: must be one of In, "
	  "NotIn",
	  NULL },
	{ K_BACKUP, "spec.target.podSelector.matchExpressions[0]",
	  "{\"key\":\"tier\",\"operator\":\"In\",\"values\":[]}",
	  "matchExpressions[0].values: must not be empty for operator In", NULL },
	{ K_BACKUP, "spec.target.podSelector.matchExpressions[0]",
	  "{\"key\":\"tier\",\"operator\":\"Exists\",\"values\":[\"a\"]}",
	  "matchExpressions[0].values: must be empty for operator Exists", NULL },
	{ K_SCHEDULE, "spec.target.volumes[1]", "\"data\"",
	  "spec.target.volumes[1]: \"data\" is listed twice", NULL },
	{ K_SCHEDULE, "spec.target.volumes[0]", "\"Data\"",
	  "spec.target.volumes[0]: \"Data\" is not a volume name", NULL },
	{ K_SCHEDULE, "spec.target.volumes",
	  "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\","
	  "\"m\",\"n\",\"o\",\"p\",\"q\"]",
	  "spec.target.volumes: at most 16 items, got 17", NULL },
	{ K_SCHEDULE, "spec.target.role", "\"Secondary\"",
	  "spec.target.role: must be one of PreferReplica, Replica, Primary", NULL },
	{ K_SCHEDULE, "spec.target.maxReplicationLagSeconds", "-1",
	  "spec.target.maxReplicationLagSeconds: must be between 0 and", NULL },
	{ K_SCHEDULE, "spec.target.connection", NULL, "spec.target.connection: required",
	  NULL },
	{ K_SCHEDULE, "spec.target.connection.port", "70000",
	  "spec.target.connection.port: must be between 1 and 65535, got 70000", NULL },
	{ K_SCHEDULE, "spec.target.connection.credentialsSecretRef", NULL,
	  "spec.target.connection.credentialsSecretRef: required", NULL },
	{ K_SCHEDULE, "spec.target.connection.credentialsSecretRef.name", NULL,
	  "spec.target.connection.credentialsSecretRef.name: required", NULL },
	{ K_SCHEDULE, "spec.target.connection.credentialsSecretRef.usernameKey",
	  "\"user name\"",
	  "credentialsSecretRef.usernameKey: \"user name\" is not a valid Secret key",
	  NULL },
	{ K_SCHEDULE, "spec.target.connection.credentialsSecretRef.passwordKey", "\"\"",
	  "credentialsSecretRef.passwordKey: must not be empty", NULL },
	{ K_SCHEDULE, "spec.target.connection.tls.mode", "\"Yes\"",
	  "spec.target.connection.tls.mode: must be one of Disabled, Preferred", NULL },
	{ K_SCHEDULE, "spec.target.connection.tls.mode", "\"VerifyCA\"",
	  "spec.target.connection.tls.caSecretRef: required when mode is VerifyCA",
	  NULL },
	{ K_SCHEDULE, "spec.target.connection.tls.caSecretRef.name", "\"Bad_Name\"",
	  "spec.target.connection.tls.caSecretRef.name: \"Bad_Name\" is not a valid name",
	  NULL },
	{ K_SCHEDULE, "spec.target.connection.tls.caSecretRef",
	  "{\"name\":\"ca\",\"key\":\"a/b\"}",
	  "spec.target.connection.tls.caSecretRef.key: \"a/b\" is not a valid Secret key",
	  NULL },
	{ K_SCHEDULE, "spec.target.connection.connectTimeoutSeconds", "0",
	  "spec.target.connection.connectTimeoutSeconds: must be between 1 and 300, got "
	  "0",
	  NULL },
	/* snapshot */
	{ K_SCHEDULE, "spec.snapshot", "[]",
	  "spec.snapshot: must be an object, not a list", NULL },
	{ K_SCHEDULE, "spec.snapshot.volumeSnapshotClassName", "\"CSI Fast\"",
	  "spec.snapshot.volumeSnapshotClassName: \"CSI Fast\" is not a valid name",
	  NULL },
	{ K_SCHEDULE, "spec.snapshot.labels", "{\"team\":7}",
	  "spec.snapshot.labels: value of \"team\" must be a string", NULL },
	{ K_SCHEDULE, "spec.snapshot.annotations", "{\"note\":false}",
	  "spec.snapshot.annotations: value of \"note\" must be a string", NULL },
	/* what the API server would refuse on the snapshots, under the lock */
	{ K_BACKUP, "spec.snapshot.annotations", "{\"bad key!\":\"v\"}",
	  "spec.snapshot.annotations: \"bad key!\" is not a valid annotation key", NULL },
	{ K_SCHEDULE, "spec.snapshot.annotations", "{\"example.com/\":\"v\"}",
	  "spec.snapshot.annotations: \"example.com/\" is not a valid annotation key",
	  NULL },
	{ K_BACKUP, "spec.snapshot.annotations", "{\"-x\":\"v\"}",
	  "\"-x\" is not a valid annotation key", NULL },
	{ K_BACKUP, "spec.snapshot.annotations", "{\"a/b/c\":\"v\"}",
	  "\"a/b/c\" is not a valid annotation key", NULL },
	{ K_BACKUP, "spec.snapshot.annotations", "{\"ex_ample.com/x\":\"v\"}",
	  "\"ex_ample.com/x\" is not a valid annotation key", NULL },
	{ K_BACKUP, "spec.snapshot.annotations",
	  "{\"a234567890123456789012345678901234567890123456789012345678901234\":\"v\"}",
	  "is not a valid annotation key", NULL },
	{ K_BACKUP, "spec.snapshot.labels", "{\"bad key!\":\"v\"}",
	  "spec.snapshot.labels: \"bad key!\" is not a valid label key", NULL },
	/* a schedule's go onto each Backup it creates: refused when decoded,
	 * never a create the API server refuses (issue 15) */
	{ K_SCHEDULE, "spec.snapshot.labels", "{\"bad key!\":\"v\"}",
	  "spec.snapshot.labels: \"bad key!\" is not a valid label key", NULL },
	{ K_SCHEDULE, "spec.snapshot.annotations", "{\"bad key!\":\"v\"}",
	  "spec.snapshot.annotations: \"bad key!\" is not a valid annotation key", NULL },
	{ K_BACKUP, "spec.snapshot.labels", "{\"Example.com/x\":\"v\"}",
	  "spec.snapshot.labels: \"Example.com/x\" is not a valid label key", NULL },
	{ K_BACKUP, "spec.snapshot.labels", "{\"team\":\"a b\"}",
	  "spec.snapshot.labels: value of \"team\" is not a valid label value", NULL },
	/* snapstage's prefix: refused, not silently dropped */
	{ K_BACKUP, "spec.snapshot.labels", "{\"snapstage.io/pin\":\"true\"}",
	  "spec.snapshot.labels: \"snapstage.io/pin\": the prefix snapstage.io/ is "
	  "reserved for snapstage's own keys",
	  NULL },
	{ K_SCHEDULE, "spec.snapshot.labels", "{\"snapstage.io/backup\":\"x\"}",
	  "spec.snapshot.labels: \"snapstage.io/backup\": the prefix snapstage.io/ is "
	  "reserved",
	  NULL },
	{ K_SCHEDULE, "spec.snapshot.annotations",
	  "{\"note\":\"x\",\"snapstage.io/gtid-binlog-pos\":\"0-1-9\"}",
	  "spec.snapshot.annotations: \"snapstage.io/gtid-binlog-pos\": the prefix "
	  "snapstage.io/ is reserved",
	  NULL },
	{ K_BACKUP, "spec.snapshot.annotations", "{\"SnapStage.IO/lock-stage\":\"x\"}",
	  "\"SnapStage.IO/lock-stage\": the prefix snapstage.io/ is reserved", NULL },
	{ K_SCHEDULE, "spec.snapshot.readyTimeoutSeconds", "0",
	  "spec.snapshot.readyTimeoutSeconds: must be between 1 and 604800, got 0",
	  NULL },
	{ K_BACKUP, "spec.snapshot.readyTimeoutSeconds", "604801",
	  "spec.snapshot.readyTimeoutSeconds: must be between 1 and 604800", NULL },
	/* lock */
	{ K_SCHEDULE, "spec.lock.stage", "\"BLOCK_EVERYTHING\"",
	  "spec.lock.stage: must be one of FLUSH, BLOCK_DDL, BLOCK_COMMIT", NULL },
	{ K_SCHEDULE, "spec.lock.timeoutSeconds", "0",
	  "spec.lock.timeoutSeconds: must be between 1 and 3600, got 0", NULL },
	{ K_BACKUP, "spec.lock.timeoutSeconds", "3601",
	  "spec.lock.timeoutSeconds: must be between 1 and 3600, got 3601", NULL },
	{ K_BACKUP, "spec.lock.acquireTimeoutSeconds", "1.5",
	  "spec.lock.acquireTimeoutSeconds: must be an integer, not a number", NULL },
	/* retention */
	{ K_SCHEDULE, "spec.retention.keepLast", "\"three\"",
	  "spec.retention.keepLast: must be an integer, not a string", NULL },
	{ K_SCHEDULE, "spec.retention.keepHourly", "-1",
	  "spec.retention.keepHourly: must be", NULL },
	{ K_SCHEDULE, "spec.retention.keepDaily", "-1",
	  "spec.retention.keepDaily: must be between 0 and", NULL },
	{ K_SCHEDULE, "spec.retention.keepWeekly", "true",
	  "spec.retention.keepWeekly: must be an integer", NULL },
	{ K_SCHEDULE, "spec.retention.keepMonthly", "-3",
	  "spec.retention.keepMonthly: must be", NULL },
	{ K_SCHEDULE, "spec.retention.keepYearly", "2147483648",
	  "spec.retention.keepYearly: must be between 0 and 2147483647", NULL },
	{ K_SCHEDULE, "spec.retention.maxAge", "\"3 days\"",
	  "spec.retention.maxAge: \"3 days\" is not an age", NULL },
	{ K_SCHEDULE, "spec.retention.maxAge", "\"0d\"",
	  "spec.retention.maxAge: must be longer than 0", NULL },
	{ K_SCHEDULE, "spec.retention.keepFailed", "-1",
	  "spec.retention.keepFailed: must be", NULL },
	{ K_SCHEDULE, "spec.retention.dryRun", "1",
	  "spec.retention.dryRun: must be true or false", NULL },
	{ K_SCHEDULE, "spec.retention", "{\"keepFailed\":2}",
	  "spec.retention: set at least one keep rule or maxAge", NULL },
	{ K_SCHEDULE, "spec.retention.requireVerified", "\"yes\"",
	  "spec.retention.requireVerified: must be true or false", NULL },
	{ K_SCHEDULE, "spec.verification", NULL,
	  "spec.retention: requireVerified needs spec.verification", NULL },
	/* BackupSchedule: verification */
	{ K_SCHEDULE, "spec.verification", "[]", "spec.verification: must be an object",
	  NULL },
	{ K_SCHEDULE, "spec.verification.schedule", "\"61 * * * *\"",
	  "spec.verification.schedule: field 1 (minute)", "InvalidSchedule" },
	{ K_SCHEDULE, "spec.verification.timeZone", "\"Mars/Olympus\"",
	  "spec.verification.timeZone:", "InvalidTimeZone" },
	{ K_SCHEDULE, "spec.verification.everyNthBackup", "-1",
	  "spec.verification.everyNthBackup: must be between 0 and 10000", NULL },
	{ K_SCHEDULE, "spec.verification.startTimeoutSeconds", "5",
	  "spec.verification.startTimeoutSeconds: must be between 10 and 86400", NULL },
	{ K_SCHEDULE, "spec.pointInTime.checkIntervalSeconds", "9",
	  "spec.pointInTime.checkIntervalSeconds: must be between 10 and 86400", NULL },
	{ K_SCHEDULE, "spec.pointInTime", "[]", "spec.pointInTime: must be an object",
	  NULL },
	{ K_SCHEDULE, "spec.verification.checkTimeoutSeconds", "86401",
	  "spec.verification.checkTimeoutSeconds: must be between 10 and 86400", NULL },
	{ K_SCHEDULE, "spec.verification.maxTables", "0",
	  "spec.verification.maxTables: must be between 1 and 1000000", NULL },
	{ K_SCHEDULE, "spec.verification.resources", "\"big\"",
	  "spec.verification.resources: must be an object", NULL },
	{ K_SCHEDULE, "spec.verification.storageClassName", "\"Fast_SSD\"",
	  "spec.verification.storageClassName: \"Fast_SSD\" is not a valid name", NULL },
	{ K_SCHEDULE, "spec.verification.checks", "{}",
	  "spec.verification.checks: must be a list", NULL },
	{ K_SCHEDULE, "spec.verification.checks[0]", "\"SELECT 1\"",
	  "spec.verification.checks[0]: must be an object", NULL },
	{ K_SCHEDULE, "spec.verification.checks[0].name", "\"Orders\"",
	  "spec.verification.checks[0].name: \"Orders\" is not a DNS label", NULL },
	{ K_SCHEDULE, "spec.verification.checks[1].name", "\"orders\"",
	  "spec.verification.checks[1].name: \"orders\" is used twice", NULL },
	{ K_SCHEDULE, "spec.verification.checks[0].sql", NULL,
	  "spec.verification.checks[0].sql: required", NULL },
	{ K_SCHEDULE, "spec.verification.checks[0].sql", "\" \\n \"",
	  "spec.verification.checks[0].sql: is empty", NULL },
	{ K_SCHEDULE, "spec.verification.checks[0].expect", "1",
	  "spec.verification.checks[0].expect: must be an object", NULL },
	{ K_SCHEDULE, "spec.verification.checks[0].expect.minRows", "-1",
	  "spec.verification.checks[0].expect.minRows: must be between 0", NULL },
	{ K_SCHEDULE, "spec.verification.checks[0].expect.equals", "7",
	  "spec.verification.checks[0].expect.equals: must be a string", NULL },
	{ K_SCHEDULE, "spec.verification.checks[0].expect.atLeast", "\"1\"",
	  "spec.verification.checks[0].expect.atLeast: must be a number", NULL },
	{ K_SCHEDULE, "spec.verification.checks[0].expect.atMost", "0.5",
	  "spec.verification.checks[0].expect: atLeast is greater than atMost", NULL },
	/* Backup as a whole */
	{ K_BACKUP, "spec", NULL, "spec: required", NULL },
	{ K_BACKUP, "spec", "\"x\"", "spec: must be an object", NULL },
	/* Restore: source */
	{ K_RESTORE, "spec.source", NULL, "spec.source: required", NULL },
	{ K_RESTORE, "spec.source.backupName", NULL,
	  "spec.source: give exactly one of backupName, volumeSnapshotName and "
	  "scheduleName",
	  NULL },
	{ K_RESTORE, "spec.source.volumeSnapshotName", "\"vs-1\"",
	  "spec.source: give exactly one of", NULL },
	{ K_RESTORE, "spec.source.backupName", "\"Nightly\"",
	  "spec.source.backupName: \"Nightly\" is not a valid name", NULL },
	{ K_IN_PLACE, "spec.source.scheduleName", "\"a..b\"",
	  "spec.source.scheduleName: \"a..b\" is not a valid name", NULL },
	{ K_RESTORE, "spec.source.pointInTime", "\"2026-11-20T12:00:00Z\"",
	  "spec.source.pointInTime: only applies with scheduleName", NULL },
	{ K_IN_PLACE, "spec.source.pointInTime", "\"yesterday\"",
	  "spec.source.pointInTime: must be an RFC 3339 time", NULL },
	/* the epoch is a time, not "unset" */
	{ K_RESTORE, "spec.source.pointInTime", "\"1970-01-01T00:00:00Z\"",
	  "spec.source.pointInTime: only applies with scheduleName", NULL },
	/* outside int64 nanoseconds: rejected with the range, never wrapped */
	{ K_IN_PLACE, "spec.source.pointInTime", "\"2999-01-01T00:00:00Z\"",
	  "spec.source.pointInTime: must be at or after 1678-01-01T00:00:00Z and "
	  "before 2262-01-01T00:00:00Z, got \"2999-01-01T00:00:00Z\"",
	  NULL },
	{ K_IN_PLACE, "spec.source.pointInTime", "\"1600-06-01T00:00:00Z\"",
	  "spec.source.pointInTime: must be at or after 1678-01-01T00:00:00Z and "
	  "before 2262-01-01T00:00:00Z, got \"1600-06-01T00:00:00Z\"",
	  NULL },
	{ K_IN_PLACE, "spec.source.pointInTime", "\"2262-01-01T00:00:00Z\"",
	  "spec.source.pointInTime: must be at or after 1678-01-01T00:00:00Z", NULL },
	{ K_IN_PLACE, "spec.source.pointInTime", "\"1678-01-01T00:30:00+01:00\"",
	  "spec.source.pointInTime: must be at or after 1678-01-01T00:00:00Z", NULL },
	/* Restore: target */
	{ K_RESTORE, "spec.target.mode", NULL, "spec.target.mode: required", NULL },
	{ K_RESTORE, "spec.target.mode", "\"Overwrite\"",
	  "spec.target.mode: must be one of NewClaims, InPlace", NULL },
	{ K_RESTORE, "spec.target.inPlace", "{\"statefulSetName\":\"x\"}",
	  "spec.target.inPlace: only applies with mode InPlace", NULL },
	{ K_RESTORE, "spec.target.newClaims.claims[0].volume", NULL,
	  "spec.target.newClaims.claims[0].volume: required", NULL },
	{ K_RESTORE, "spec.target.newClaims.claims[0].name", "\"Restored\"",
	  "spec.target.newClaims.claims[0].name: \"Restored\" is not a valid name",
	  NULL },
	{ K_RESTORE, "spec.target.newClaims.claims[0].size", "\"20 GB\"",
	  "spec.target.newClaims.claims[0].size: quantity \"20 GB\" is not a valid size",
	  NULL },
	{ K_RESTORE, "spec.target.newClaims.claims[1]",
	  "{\"volume\":\"data\",\"name\":\"other\"}",
	  "spec.target.newClaims.claims[1].volume: \"data\" is listed twice", NULL },
	{ K_RESTORE, "spec.target.newClaims.claims[1]",
	  "{\"volume\":\"logs\",\"name\":\"restored-data\"}",
	  "spec.target.newClaims.claims[1].name: \"restored-data\" is listed twice",
	  NULL },
	{ K_RESTORE, "spec.target.newClaims.storageClassName", "\"Fast SSD\"",
	  "spec.target.newClaims.storageClassName: \"Fast SSD\" is not a valid name",
	  NULL },
	{ K_RESTORE, "spec.target.newClaims.accessModes", "[\"ReadWriteSometimes\"]",
	  "spec.target.newClaims.accessModes[0]: must be one of ReadWriteOnce", NULL },
	{ K_RESTORE, "spec.target.newClaims.labels", "{\"k\":\"has space\"}",
	  "spec.target.newClaims.labels: value of \"k\" is not a valid label value",
	  NULL },
	{ K_RESTORE, "spec.target.newClaims.annotations", "\"x\"",
	  "spec.target.newClaims.annotations: must be an object", NULL },
	{ K_RESTORE, "spec.target.newClaims.annotations", "{\"bad key!\":\"v\"}",
	  "spec.target.newClaims.annotations: \"bad key!\" is not a valid annotation key",
	  NULL },
	{ K_RESTORE, "spec.target.newClaims.labels", "{\"snapstage.io/restore\":\"x\"}",
	  "spec.target.newClaims.labels: \"snapstage.io/restore\": the prefix "
	  "snapstage.io/ is reserved",
	  NULL },
	{ K_RESTORE, "spec.target.newClaims.annotations",
	  "{\"snapstage.io/restore-uid\":\"x\"}",
	  "spec.target.newClaims.annotations: \"snapstage.io/restore-uid\": the prefix "
	  "snapstage.io/ is reserved",
	  NULL },
	/* Restore: replay (point-in-time) */
	{ K_REPLAY, "spec.replay", "[]", "spec.replay: must be an object", NULL },
	{ K_REPLAY, "spec.replay.time", "\"2026-12-07T10:00:00Z\"",
	  "spec.replay: give exactly one of time and gtid", NULL },
	{ K_REPLAY, "spec.replay.time", "\"yesterday\"", "spec.replay.time:", NULL },
	{ K_REPLAY, "spec.replay.gtid", NULL,
	  "spec.replay: give exactly one of time and gtid", NULL },
	{ K_REPLAY, "spec.replay.gtid", "\"0-1-x\"",
	  "spec.replay.gtid: \"0-1-x\" is not a GTID", NULL },
	{ K_REPLAY, "spec.replay.inclusive", "\"no\"",
	  "spec.replay.inclusive: must be true or false", NULL },
	{ K_REPLAY, "spec.replay.source", "\"mariadb-0\"",
	  "spec.replay.source: must be an object", NULL },
	{ K_REPLAY, "spec.replay.source.podName", "\"Mariadb_0\"",
	  "spec.replay.source.podName: \"Mariadb_0\" is not a valid name", NULL },
	{ K_REPLAY, "spec.replay.timeoutSeconds", "5",
	  "spec.replay.timeoutSeconds: must be between 10 and 604800", NULL },
	{ K_REPLAY, "spec.replay.replicationCredentialsSecretRef", NULL,
	  "spec.replay.replicationCredentialsSecretRef: required", NULL },
	{ K_REPLAY, "spec.replay.replicationCredentialsSecretRef.name", "\"\"",
	  "spec.replay.replicationCredentialsSecretRef.name:", NULL },
	{ K_REPLAY, "spec.replay.replicationCredentialsSecretRef.usernameKey", "\"a b\"",
	  "spec.replay.replicationCredentialsSecretRef.usernameKey:", NULL },
	{ K_REPLAY, "spec.replay.replicationCredentialsSecretRef.passwordKey", "\"a/b\"",
	  "spec.replay.replicationCredentialsSecretRef.passwordKey:", NULL },
	{ K_REPLAY, "spec.replay.connection", NULL, "spec.replay.connection: required",
	  NULL },
	{ K_REPLAY, "spec.replay.connection.port", "0",
	  "spec.replay.connection.port: must be between 1 and 65535", NULL },
	{ K_REPLAY, "spec.replay.connection.credentialsSecretRef.name", NULL,
	  "spec.replay.connection.credentialsSecretRef.name: required", NULL },
	{ K_REPLAY, "spec.replay.connection.credentialsSecretRef.usernameKey", "\"a b\"",
	  "spec.replay.connection.credentialsSecretRef.usernameKey:", NULL },
	{ K_REPLAY, "spec.replay.connection.credentialsSecretRef.passwordKey", "\"a b\"",
	  "spec.replay.connection.credentialsSecretRef.passwordKey:", NULL },
	{ K_REPLAY, "spec.replay.connection.tls.mode", "\"Verify\"",
	  "spec.replay.connection.tls.mode: must be one of", NULL },
	{ K_REPLAY, "spec.replay.connection.tls.caSecretRef.name", NULL,
	  "spec.replay.connection.tls.caSecretRef.name: required", NULL },
	{ K_REPLAY, "spec.replay.connection.tls.caSecretRef.key", "\"a b\"",
	  "spec.replay.connection.tls.caSecretRef.key:", NULL },
	{ K_REPLAY, "spec.replay.connection.connectTimeoutSeconds", "0",
	  "spec.replay.connection.connectTimeoutSeconds: must be between 1 and 300",
	  NULL },
	{ K_REPLAY, "spec.source.pointInTime", "\"2026-11-20T12:00:00Z\"",
	  "spec.source: pointInTime picks a Backup; with replay", NULL },
	{ K_REPLAY, "spec.source", "{\"volumeSnapshotName\":\"vs-1\"}",
	  "spec.source: replay needs a Backup's recorded position", NULL },
	{ K_IN_PLACE, "spec.target.newClaims", "{}",
	  "spec.target.newClaims: only applies with mode NewClaims", NULL },
	{ K_IN_PLACE, "spec.target.inPlace", NULL,
	  "spec.target.inPlace: required with mode InPlace", NULL },
	{ K_IN_PLACE, "spec.target.inPlace.statefulSetName", NULL,
	  "spec.target.inPlace.statefulSetName: required", NULL },
	{ K_IN_PLACE, "spec.target.inPlace.acknowledgeDataLoss", "false",
	  "spec.target.inPlace.acknowledgeDataLoss: must be true", "NotAcknowledged" },
	{ K_IN_PLACE, "spec.target.inPlace.acknowledgeDataLoss", NULL,
	  "spec.target.inPlace.acknowledgeDataLoss: must be true", "NotAcknowledged" },
	{ K_IN_PLACE, "spec.target.inPlace.primaryOrdinal", "-1",
	  "spec.target.inPlace.primaryOrdinal: must be between 0 and", NULL },
	{ K_IN_PLACE, "spec.target.inPlace.replicationHost", "\"PodName\"",
	  "spec.target.inPlace.replicationHost: must be one of", NULL },
	{ K_IN_PLACE, "spec.target.inPlace.acceptInexactPosition", "\"yes\"",
	  "spec.target.inPlace.acceptInexactPosition: must be", NULL },
	{ K_IN_PLACE, "spec.target.inPlace.replicationCredentialsSecretRef.name", NULL,
	  "spec.target.inPlace.replicationCredentialsSecretRef.name: required", NULL },
	{ K_IN_PLACE, "spec.target.inPlace.replicationCredentialsSecretRef.usernameKey",
	  "\"a b\"",
	  "replicationCredentialsSecretRef.usernameKey: \"a b\" is not a valid Secret "
	  "key",
	  NULL },
	{ K_IN_PLACE, "spec.target.inPlace.replicationCredentialsSecretRef.passwordKey",
	  "7", "replicationCredentialsSecretRef.passwordKey: must be a string", NULL },
	{ K_IN_PLACE, "spec.target.inPlace.connection", NULL,
	  "spec.target.inPlace.connection: required", NULL },
	{ K_IN_PLACE, "spec.target.inPlace.connection.port", "0",
	  "spec.target.inPlace.connection.port: must be between 1 and 65535, got 0",
	  NULL },
	{ K_IN_PLACE, "spec.target.inPlace.connection.credentialsSecretRef.name", "\"\"",
	  "spec.target.inPlace.connection.credentialsSecretRef.name: must not be empty",
	  NULL },
	{ K_IN_PLACE, "spec.target.inPlace.connection.credentialsSecretRef.usernameKey",
	  "\"*\"",
	  "connection.credentialsSecretRef.usernameKey: \"*\" is not a valid Secret key",
	  NULL },
	{ K_IN_PLACE, "spec.target.inPlace.connection.credentialsSecretRef.passwordKey",
	  "\"?\"",
	  "connection.credentialsSecretRef.passwordKey: \"?\" is not a valid Secret key",
	  NULL },
	{ K_IN_PLACE, "spec.target.inPlace.connection.tls.mode", "\"On\"",
	  "spec.target.inPlace.connection.tls.mode: must be one of", NULL },
	{ K_IN_PLACE, "spec.target.inPlace.connection.tls.caSecretRef.name", NULL,
	  "spec.target.inPlace.connection.tls.caSecretRef.name: required", NULL },
	{ K_IN_PLACE, "spec.target.inPlace.connection.tls.caSecretRef.key", "\"\"",
	  "spec.target.inPlace.connection.tls.caSecretRef.key: must not be empty", NULL },
	{ K_IN_PLACE, "spec.target.inPlace.connection.connectTimeoutSeconds", "301",
	  "spec.target.inPlace.connection.connectTimeoutSeconds: must be between 1 and "
	  "300",
	  NULL },
	{ K_RESTORE, "spec.timeoutSeconds", "0",
	  "spec.timeoutSeconds: must be between 1 and 86400", NULL },
	{ K_RESTORE, "spec.timeoutSeconds", "86401",
	  "spec.timeoutSeconds: must be between 1 and 86400", NULL },
};

#define N_BAD (sizeof(bad) / sizeof(bad[0]))

static void test_bad_values(void **state)
{
	size_t i, failed = 0;

	(void)state;
	for (i = 0; i < N_BAD; i++) {
		const bad_case *c = &bad[i];
		json_t *obj = base_of(c->k);
		const char *reason = NULL, *want = c->reason ? c->reason : "InvalidSpec";
		int rc;

		tu_json_set(obj, c->path, c->value ? tu_json(c->value) : NULL);
		rc = decode(c->k, obj, &reason);
		if (rc != SS_EINVALID ||
		    strstr(ss_error_last()->message, c->fragment) == NULL ||
		    reason == NULL || strcmp(reason, want) != 0) {
			print_error("case %zu (%s = %s): rc %d reason %s message \"%s\"; "
				    "want "
				    "\"%s\" reason %s\n",
				    i, c->path, c->value ? c->value : "<deleted>", rc,
				    reason ? reason : "(null)", ss_error_last()->message,
				    c->fragment, want);
			failed++;
		}
		json_decref(obj);
	}
	print_message("%zu bad cases, %zu failed\n", N_BAD, failed);
	assert_int_equal(failed, 0);
}

/* ---- good values ------------------------------------------------------ */

static void test_schedule_decodes_with_defaults(void **state)
{
	json_t *obj = tu_json(schedule_base);
	app_schedule_spec s;
	const char *reason = "x";

	(void)state;
	assert_int_equal(app_schedule_spec_decode(&s, obj, &reason), 0);
	assert_null(reason);
	assert_string_equal(s.schedule, "30 2 * * MON-FRI");
	assert_int_equal(s.cron.kind, APP_CRON_EXPR);
	assert_true(app_cron_matches(&s.cron, 30, 2, 23, 11, 1));
	assert_false(app_cron_matches(&s.cron, 30, 2, 22, 11, 0));
	assert_string_equal(s.time_zone, "Europe/Berlin");
	assert_false(s.suspend);
	assert_int_equal(s.starting_deadline_seconds, -1);
	assert_int_equal(s.backup_deletion_policy, APP_DELETION_RETAIN);
	assert_string_equal(s.target.statefulset_name, "mariadb");
	assert_false(s.target.has_selector);
	assert_int_equal(s.target.n_volumes, 2);
	assert_string_equal(s.target.volumes[1], "logs");
	assert_int_equal(s.target.role, APP_ROLE_PREFER_REPLICA);
	assert_int_equal(s.target.max_replication_lag_seconds,
			 APP_DEFAULT_MAX_LAG_SECONDS);
	assert_int_equal(s.target.connection.port, 0);
	assert_string_equal(s.target.connection.credentials.name, "mariadb-backup");
	assert_string_equal(s.target.connection.credentials.username_key, "username");
	assert_string_equal(s.target.connection.credentials.password_key, "password");
	assert_int_equal(s.target.connection.tls_mode, APP_TLS_PREFERRED);
	assert_null(s.target.connection.ca_secret_name);
	assert_int_equal(s.target.connection.connect_timeout_seconds, 10);
	assert_null(s.snapshot.class_name);
	assert_int_equal(s.lock.stage, APP_STAGE_BLOCK_COMMIT);
	assert_int_equal(s.lock.timeout_seconds, 30);
	assert_int_equal(s.lock.acquire_timeout_seconds, 10);
	assert_true(s.retention.enabled);
	assert_int_equal(s.retention.keep_daily, 7);
	assert_int_equal(s.retention.keep_last, 0);
	assert_int_equal(s.retention.max_age_seconds, 90 * 86400);
	assert_int_equal(s.retention.keep_failed, 3);
	assert_false(s.retention.dry_run);
	json_decref(obj);
}

static void test_schedule_decodes_every_field(void **state)
{
	json_t *obj = tu_json(schedule_base);
	app_schedule_spec s;

	(void)state;
	tu_json_set(obj, "spec.schedule", json_string("once"));
	tu_json_set(obj, "spec.timeZone", json_string("UTC"));
	tu_json_set(obj, "spec.suspend", json_true());
	tu_json_set(obj, "spec.startingDeadlineSeconds", json_integer(600));
	tu_json_set(obj, "spec.backupDeletionPolicy", json_string("Delete"));
	tu_json_set(obj, "spec.target.role", json_string("Replica"));
	tu_json_set(obj, "spec.target.maxReplicationLagSeconds", json_integer(0));
	tu_json_set(obj, "spec.target.connection.port", json_integer(3307));
	tu_json_set(obj, "spec.target.connection.credentialsSecretRef.usernameKey",
		    json_string("user"));
	tu_json_set(obj, "spec.target.connection.credentialsSecretRef.passwordKey",
		    json_string("pass.word"));
	tu_json_set(obj, "spec.target.connection.tls",
		    tu_json("{\"mode\":\"VerifyIdentity\","
			    "\"caSecretRef\":{\"name\":\"ca\"}}"));
	tu_json_set(obj, "spec.target.connection.connectTimeoutSeconds",
		    json_integer(300));
	tu_json_set(obj, "spec.snapshot",
		    tu_json("{\"volumeSnapshotClassName\":\"csi-fast\","
			    "\"labels\":{\"team\":\"db\"},"
			    "\"annotations\":{\"note\":\"any text at all\"}}"));
	tu_json_set(obj, "spec.lock",
		    tu_json("{\"stage\":\"FLUSH\",\"timeoutSeconds\":3600,"
			    "\"acquireTimeoutSeconds\":1}"));
	tu_json_set(obj, "spec.retention",
		    tu_json("{\"keepLast\":1,\"keepHourly\":2,\"keepDaily\":3,"
			    "\"keepWeekly\":4,\"keepMonthly\":5,\"keepYearly\":6,"
			    "\"maxAge\":\"1w2d3h\",\"keepFailed\":0,"
			    "\"dryRun\":true}"));
	assert_int_equal(app_schedule_spec_decode(&s, obj, NULL), 0);
	assert_int_equal(s.cron.kind, APP_CRON_ONCE);
	assert_true(s.suspend);
	assert_int_equal(s.starting_deadline_seconds, 600);
	assert_int_equal(s.backup_deletion_policy, APP_DELETION_DELETE);
	assert_int_equal(s.target.role, APP_ROLE_REPLICA);
	assert_int_equal(s.target.max_replication_lag_seconds, 0);
	assert_int_equal(s.target.connection.port, 3307);
	assert_string_equal(s.target.connection.credentials.username_key, "user");
	assert_string_equal(s.target.connection.credentials.password_key, "pass.word");
	assert_int_equal(s.target.connection.tls_mode, APP_TLS_VERIFY_IDENTITY);
	assert_string_equal(s.target.connection.ca_secret_name, "ca");
	assert_string_equal(s.target.connection.ca_secret_key, "ca.crt");
	assert_int_equal(s.target.connection.connect_timeout_seconds, 300);
	assert_string_equal(s.snapshot.class_name, "csi-fast");
	assert_string_equal(json_string_value(json_object_get(s.snapshot.labels, "team")),
			    "db");
	assert_non_null(s.snapshot.annotations);
	assert_int_equal(s.lock.stage, APP_STAGE_FLUSH);
	assert_int_equal(s.lock.timeout_seconds, 3600);
	assert_int_equal(s.lock.acquire_timeout_seconds, 1);
	assert_int_equal(s.retention.keep_last, 1);
	assert_int_equal(s.retention.keep_hourly, 2);
	assert_int_equal(s.retention.keep_weekly, 4);
	assert_int_equal(s.retention.keep_monthly, 5);
	assert_int_equal(s.retention.keep_yearly, 6);
	assert_int_equal(s.retention.max_age_seconds, 9 * 86400 + 3 * 3600);
	assert_int_equal(s.retention.keep_failed, 0);
	assert_true(s.retention.dry_run);
	json_decref(obj);
}

static void test_h_is_seeded_by_identity(void **state)
{
	json_t *a = tu_json(schedule_base), *b;
	app_schedule_spec sa, sb, sa2;
	int differ = 0, i;

	(void)state;
	tu_json_set(a, "spec.schedule", json_string("H H * * *"));
	assert_int_equal(app_schedule_spec_decode(&sa, a, NULL), 0);
	assert_int_equal(app_schedule_spec_decode(&sa2, a, NULL), 0);
	assert_true(sa.cron.minutes == sa2.cron.minutes &&
		    sa.cron.hours == sa2.cron.hours);
	for (i = 0; i < 20; i++) {
		char name[32];

		b = json_deep_copy(a);
		snprintf(name, sizeof(name), "nightly-%d", i);
		tu_json_set(b, "metadata.name", json_string(name));
		assert_int_equal(app_schedule_spec_decode(&sb, b, NULL), 0);
		differ += sa.cron.minutes != sb.cron.minutes ||
			  sa.cron.hours != sb.cron.hours;
		json_decref(b);
	}
	assert_true(differ >= 18);
	json_decref(a);
}

/* The longest name a schedule may have (63, with dots) decodes, and every
 * Backup name made from it is a DNS subdomain of at most 63 characters and
 * a label value, as the API server requires (issue 15, point 1). */
static void test_longest_schedule_name_makes_valid_names(void **state)
{
	static const char *const names[] = {
		"a23456789.123456789.123456789.123456789.123456789.123456789.123",
		"n234567890-234567890-234567890-234567890-234567890-234567890-12",
		"x",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		json_t *obj = tu_json(schedule_base);
		char made[3][APP_NAME_BUF], suffix[APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF];
		app_schedule_spec spec;
		size_t k;

		tu_json_set(obj, "metadata.name", json_string(names[i]));
		assert_true(app_dec_is_dns_subdomain(names[i]) && strlen(names[i]) <= 63);
		assert_int_equal(app_schedule_spec_decode(&spec, obj, NULL), 0);
		assert_int_equal(app_name_scheduled_backup(made[0], names[i],
							   INT64_C(1795000000) * SS_NS_PER_SEC),
				 0);
		app_schedule_plan_run_now_suffix(suffix, "token", 1);
		assert_int_equal(app_name_join(made[1], APP_LABEL_VALUE_MAX, names[i], suffix), 0);
		assert_int_equal(app_name_join(made[2], APP_LABEL_VALUE_MAX, names[i], "once"), 0);
		for (k = 0; k < 3; k++) {
			if (!app_dec_is_dns_subdomain(made[k]) || strlen(made[k]) > 63 ||
			    !app_dec_is_label_value(made[k]))
				fail_msg("schedule %s made the invalid Backup name %s", names[i],
					 made[k]);
		}
		json_decref(obj);
	}
}

static void test_backup_with_selector(void **state)
{
	json_t *obj = tu_json(backup_base), *labels;
	app_backup_spec b;

	(void)state;
	tu_json_set(
		obj, "spec.target.podSelector.matchExpressions",
		tu_json("[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"db\","
			"\"cache\"]},"
			"{\"key\":\"example.com/skip\",\"operator\":\"DoesNotExist\"}]"));
	assert_int_equal(app_backup_spec_decode(&b, obj, NULL), 0);
	assert_null(b.target.statefulset_name);
	assert_true(b.target.has_selector);
	assert_int_equal(b.target.selector.n_terms, 2);
	assert_int_equal(b.target.n_volumes, 0);

	labels = tu_json("{\"app\":\"mariadb\",\"tier\":\"db\"}");
	assert_true(app_selector_matches(&b.target.selector, labels));
	json_object_set_new(labels, "tier", json_string("web"));
	assert_false(app_selector_matches(&b.target.selector, labels));
	json_object_set_new(labels, "tier", json_string("cache"));
	json_object_set_new(labels, "example.com/skip", json_string(""));
	assert_false(app_selector_matches(&b.target.selector, labels));
	json_object_del(labels, "example.com/skip");
	json_object_set_new(labels, "app", json_string("postgres"));
	assert_false(app_selector_matches(&b.target.selector, labels));
	json_decref(labels);
	json_decref(obj);
}

static void test_restore_new_claims(void **state)
{
	json_t *obj = tu_json(restore_base);
	app_restore_spec r;

	(void)state;
	assert_int_equal(app_restore_spec_decode(&r, obj, NULL), 0);
	assert_int_equal(r.source_kind, APP_SOURCE_BACKUP);
	assert_string_equal(r.source_name, "nightly-20261123-0230");
	assert_false(r.has_point_in_time);
	assert_int_equal(r.point_in_time_ns, 0);
	assert_int_equal(r.mode, APP_MODE_NEW_CLAIMS);
	assert_int_equal(r.n_claims, 1);
	assert_string_equal(r.claims[0].volume, "data");
	assert_string_equal(r.claims[0].name, "restored-data");
	assert_int_equal(r.claims[0].size_bytes, INT64_C(20) << 30);
	assert_string_equal(r.storage_class, "fast");
	assert_int_equal(r.n_access_modes, 1);
	assert_string_equal(r.access_modes[0], "ReadWriteOnce");
	assert_int_equal(r.timeout_seconds, APP_DEFAULT_RESTORE_TIMEOUT_SECONDS);

	tu_json_set(obj, "spec.source", tu_json("{\"volumeSnapshotName\":\"vs-1\"}"));
	tu_json_set(obj, "spec.target.newClaims.accessModes",
		    tu_json("[\"ReadWriteOncePod\"]"));
	tu_json_set(obj, "spec.target.newClaims.claims[0].size", json_integer(1000));
	tu_json_set(obj, "spec.timeoutSeconds", json_integer(60));
	assert_int_equal(app_restore_spec_decode(&r, obj, NULL), 0);
	assert_int_equal(r.source_kind, APP_SOURCE_VOLUME_SNAPSHOT);
	assert_string_equal(r.access_modes[0], "ReadWriteOncePod");
	assert_int_equal(r.claims[0].size_bytes, 1000);
	assert_int_equal(r.timeout_seconds, 60);

	/* a Backup's name may be longer than 63 (the API server only limits
	 * the whole to 253), so backupName may be too */
	tu_json_set(obj, "spec.source",
		    tu_json("{\"backupName\":\"backup-with-a-name-far-too-long-for-a-"
			    "label-value-0123456789abcdefghij\"}"));
	assert_int_equal(app_restore_spec_decode(&r, obj, NULL), 0);
	assert_int_equal(strlen(r.source_name), 70);
	json_decref(obj);
}

static void test_restore_in_place(void **state)
{
	json_t *obj = tu_json(in_place_base);
	app_restore_spec r;
	int64_t want;

	(void)state;
	assert_int_equal(app_restore_spec_decode(&r, obj, NULL), 0);
	assert_int_equal(r.source_kind, APP_SOURCE_SCHEDULE);
	assert_string_equal(r.source_name, "nightly");
	assert_int_equal(ss_time_parse(&want, "2026-11-20T12:00:00Z"), 0);
	assert_true(r.has_point_in_time);
	assert_int_equal(r.point_in_time_ns, want);
	assert_int_equal(r.mode, APP_MODE_IN_PLACE);
	assert_string_equal(r.statefulset_name, "mariadb");
	assert_int_equal(r.primary_ordinal, 1);
	assert_int_equal(r.replication_host, APP_REPL_HOST_POD_DNS_NAME);
	assert_true(r.has_replication_credentials);
	assert_string_equal(r.replication_credentials.name, "repl");
	assert_string_equal(r.replication_credentials.password_key, "password");
	assert_string_equal(r.connection.credentials.name, "root");
	json_decref(obj);
}

/* replicationHost PodIP is kept apart from the default PodDNSName. */
static void test_restore_in_place_pod_ip(void **state)
{
	json_t *obj = tu_json(in_place_base);
	json_t *ip = json_object_get(
		json_object_get(json_object_get(obj, "spec"), "target"), "inPlace");
	app_restore_spec r;

	(void)state;
	assert_int_equal(json_object_set_new(ip, "replicationHost", json_string("PodIP")), 0);
	assert_int_equal(app_restore_spec_decode(&r, obj, NULL), 0);
	assert_int_equal(r.replication_host, APP_REPL_HOST_POD_IP);
	json_decref(obj);
}

/* pointInTime: the epoch is a point (not "now"), the range's ends are
 * accepted, and leaving it out means now. */
static void test_restore_point_in_time(void **state)
{
	json_t *obj = tu_json(in_place_base);
	app_restore_spec r;
	int64_t t = 0;

	(void)state;
	assert_int_equal(ss_time_parse(&t, APP_TIME_MIN_TEXT), 0);
	assert_int_equal(t, APP_TIME_MIN_NS);
	assert_int_equal(ss_time_parse(&t, APP_TIME_END_TEXT), 0);
	assert_int_equal(t, APP_TIME_END_NS);

	tu_json_set(obj, "spec.source.pointInTime", json_string("1970-01-01T00:00:00Z"));
	assert_int_equal(app_restore_spec_decode(&r, obj, NULL), 0);
	assert_true(r.has_point_in_time);
	assert_int_equal(r.point_in_time_ns, 0);

	tu_json_set(obj, "spec.source.pointInTime", json_string("1678-01-01T00:00:00Z"));
	assert_int_equal(app_restore_spec_decode(&r, obj, NULL), 0);
	assert_true(r.has_point_in_time);
	assert_int_equal(r.point_in_time_ns, APP_TIME_MIN_NS);

	tu_json_set(obj, "spec.source.pointInTime",
		    json_string("2261-12-31T23:59:59.999999999Z"));
	assert_int_equal(app_restore_spec_decode(&r, obj, NULL), 0);
	assert_int_equal(r.point_in_time_ns, APP_TIME_END_NS - 1);

	tu_json_set(obj, "spec.source.pointInTime", json_null());
	assert_int_equal(app_restore_spec_decode(&r, obj, NULL), 0);
	assert_false(r.has_point_in_time);
	assert_int_equal(r.point_in_time_ns, 0);
	json_decref(obj);
}

static void test_time_zones_and_ages(void **state)
{
	int64_t s;

	(void)state;
	assert_int_equal(app_time_zone_check("UTC"), 0);
	assert_int_equal(app_time_zone_check("Europe/Berlin"), 0);
	assert_int_equal(app_time_zone_check("America/Argentina/Buenos_Aires"), 0);
	assert_int_equal(app_time_zone_check("Etc/GMT+5"), 0);
	assert_int_equal(app_time_zone_check("Europe/Gotham"), SS_ENOTFOUND);
	assert_int_equal(app_time_zone_check("Europe/"), SS_EINVALID);
	assert_int_equal(app_time_zone_check("Europe//Berlin"), SS_EINVALID);
	assert_int_equal(app_time_zone_check(""), SS_EINVALID);
	/* a directory of the tz database is not a zone */
	assert_int_equal(app_time_zone_check("Europe"), SS_ENOTFOUND);
	/* a backward link of the database is a zone; the host's setting not */
	assert_int_equal(app_time_zone_check("US/Eastern"), 0);
	assert_int_equal(app_time_zone_check("localtime"), SS_EINVALID);

	assert_int_equal(app_age_parse(&s, "90s"), 0);
	assert_int_equal(s, 90);
	assert_int_equal(app_age_parse(&s, "2w1d12h30m"), 0);
	assert_int_equal(s, 15 * 86400 + 12 * 3600 + 30 * 60);
	assert_int_equal(app_age_parse(&s, "1.5d"), SS_EINVALID);
	assert_int_equal(app_age_parse(&s, "d"), SS_EINVALID);
	assert_int_equal(app_age_parse(&s, "10"), SS_EINVALID);
	assert_int_equal(app_age_parse(&s, "99999999999999999999w"), SS_EINVALID);
	assert_int_equal(app_age_parse(&s, "15250284452472w"), SS_EINVALID);
}

static void test_gitops_labels_are_not_copied(void **state)
{
	(void)state;
	assert_true(app_label_is_copyable("team"));
	assert_true(app_label_is_copyable("app.kubernetes.io/name"));
	assert_false(app_label_is_copyable("app.kubernetes.io/instance"));
	assert_false(app_label_is_copyable("argocd.argoproj.io/instance"));
	assert_false(app_label_is_copyable("kustomize.toolkit.fluxcd.io/name"));
	assert_false(app_label_is_copyable("helm.toolkit.fluxcd.io/namespace"));
	/* snapstage's own prefix, in any case; not its subdomains */
	assert_false(app_label_is_copyable("snapstage.io/pin"));
	assert_false(app_label_is_copyable("Snapstage.IO/x"));
	assert_true(app_label_is_copyable("sim.snapstage.io/hang"));
	assert_true(app_label_is_copyable("snapstage.iox/a"));
	assert_true(app_key_is_reserved("snapstage.io/backup"));
	assert_false(app_key_is_reserved("snapstage.io"));
	assert_false(app_key_is_reserved(NULL));
}

/* Annotation keys as the API server checks them (a label key once
 * lowercased), values any text, and a bound on the total that leaves
 * room for snapstage's own annotations. */
static void test_annotations(void **state)
{
	static const char *const good_keys[] = {
		"note", "example.com/note", "Example.COM/Note", "a_b.c-D",
		"sim.snapstage.io/hang", "x/y",
	};
	json_t *obj = tu_json(backup_base), *ann;
	const char *reason = NULL;
	app_backup_spec b;
	size_t i, fill;
	char *big;

	(void)state;
	for (i = 0; i < sizeof(good_keys) / sizeof(good_keys[0]); i++) {
		ann = json_object();
		json_object_set_new(ann, good_keys[i], json_string("any text: at all!"));
		tu_json_set(obj, "spec.snapshot.annotations", ann);
		if (app_backup_spec_decode(&b, obj, &reason) != 0)
			fail_msg("%s: %s", good_keys[i], ss_error_last()->message);
		assert_true(app_dec_is_annotation_key(good_keys[i]));
	}
	assert_false(app_dec_is_label_key("Example.COM/Note")); /* labels: no */
	/* a prefix part over 63, as the API server allows (IsDNS1123Subdomain) */
	assert_true(
		app_dec_is_annotation_key("a234567890123456789012345678901234567890"
					  "12345678901234567890123456.example.com/x"));
	assert_false(app_dec_is_annotation_key(NULL));

	/* keys + values up to APP_USER_ANNOTATIONS_MAX_BYTES, and not one more */
	fill = APP_USER_ANNOTATIONS_MAX_BYTES - strlen("note") - strlen("big");
	big = calloc(1, fill + 2);
	assert_non_null(big);
	memset(big, 'v', fill);
	ann = json_pack("{s:s, s:s}", "note", "", "big", big);
	tu_json_set(obj, "spec.snapshot.annotations", ann);
	assert_int_equal(app_backup_spec_decode(&b, obj, &reason), 0);
	big[fill] = 'v';
	json_object_set_new(ann, "big", json_string(big));
	assert_int_equal(app_backup_spec_decode(&b, obj, &reason), SS_EINVALID);
	assert_string_equal(reason, "InvalidSpec");
	tu_assert_error(SS_EINVALID, "spec.snapshot.annotations: 245761 bytes of keys and "
				     "values, more than the 245760 allowed");
	assert_true(APP_USER_ANNOTATIONS_MAX_BYTES < APP_ANNOTATIONS_MAX_BYTES);
	free(big);
	json_decref(obj);
}

static void test_copy_copyable_and_own_labels(void **state)
{
	json_t *from = tu_json("{\"team\":\"db\",\"argocd.argoproj.io/instance\":\"x\","
			       "\"note\":\"not a label value!\",\"bad key!\":\"v\","
			       "\"n\":1}");
	json_t *to = tu_json("{\"team\":\"old\",\"kept\":\"yes\"}");
	json_t *ann = json_object();
	char *text;

	(void)state;
	/* As labels: GitOps tracking, non-strings and invalid labels left out. */
	assert_int_equal(app_copy_copyable(to, from, true), 0);
	text = json_dumps(to, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(text, "{\"kept\":\"yes\",\"team\":\"db\"}");
	free(text);
	/* As annotations: any string value of a copyable key. */
	assert_int_equal(app_copy_copyable(ann, from, false), 0);
	text = json_dumps(ann, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(text, "{\"bad key!\":\"v\",\"note\":\"not a label value!\","
				  "\"team\":\"db\"}");
	free(text);
	/* A copy, not the source's string: changing one leaves the other. */
	json_string_set(json_object_get(from, "team"), "changed");
	assert_string_equal(json_string_value(json_object_get(to, "team")), "db");
	assert_int_equal(app_copy_copyable(to, NULL, true), 0);

	/* Our own label replaces the user's, and goes when its value cannot be one. */
	assert_int_equal(app_label_set_own(to, "team", "ours"), 0);
	assert_string_equal(json_string_value(json_object_get(to, "team")), "ours");
	assert_int_equal(app_label_set_own(to, "team", "not a label value!"), 0);
	assert_null(json_object_get(to, "team"));
	assert_int_equal(app_label_set_own(to, "kept", NULL), 0);
	assert_int_equal(json_object_size(to), 0);
	json_decref(from);
	json_decref(to);
	json_decref(ann);
}

/* ---- status ---------------------------------------------------------- */

static void test_backup_status_round_trip(void **state)
{
	json_t *obj = tu_json(backup_base), *cond;
	app_backup_status st, back;
	char *text;

	(void)state;
	cond = tu_json("[{\"type\":\"Complete\",\"status\":\"True\"}]");
	tu_json_set(obj, "status.conditions", cond);
	tu_json_set(obj, "status.staleField", json_string("from an older controller"));
	app_backup_status_init(&st);
	st.observed_generation = 2;
	st.has_phase = true;
	st.phase = APP_BACKUP_COMPLETED;
	st.source_pod = "mariadb-1";
	st.source_role = "Replica";
	st.n_snapshots = 2;
	st.snapshots[0] = (app_snapshot_status){ "data",       "data-mariadb-1",
						 "adhoc-data", 1795401000000000000LL,
						 true,	       INT64_C(10) << 30,
						 NULL };
	st.snapshots[1] =
		(app_snapshot_status){ "logs", "logs-mariadb-1", "adhoc-logs", 0, false,
				       -1,     "disk on fire" };
	st.total_restore_size_bytes = INT64_C(10) << 30;
	st.position.gtid_binlog_pos = "0-1-42";
	st.position.binlog_file = "mysql-bin.000003";
	st.position.binlog_position = 1234;
	st.position.primary_binlog_position = 0;
	st.lock.stage = "BLOCK_COMMIT";
	st.lock.connection_id = 17;
	st.lock.acquired_ns = 1795401000000000000LL;
	st.lock.held_ms = 812;
	st.start_ns = 1795400990000000000LL;
	assert_int_equal(app_backup_status_encode(obj, &st), 0);

	text = json_dumps(json_object_get(obj, "status"), JSON_SORT_KEYS | JSON_COMPACT);
	print_message("%s\n", text);
	assert_non_null(strstr(text, "\"phase\":\"Completed\""));
	assert_non_null(strstr(text, "\"restoreSize\":\"10Gi\""));
	assert_non_null(strstr(text, "\"creationTime\":\"2026-11-23T"));
	assert_non_null(strstr(text, "\"conditions\":[{"));
	assert_null(strstr(text, "completionTime"));
	free(text);

	assert_int_equal(app_backup_status_decode(&back, obj), 0);
	assert_true(back.has_phase);
	assert_int_equal(back.phase, APP_BACKUP_COMPLETED);
	assert_int_equal(back.observed_generation, 2);
	assert_string_equal(back.source_pod, "mariadb-1");
	assert_int_equal(back.n_snapshots, 2);
	assert_int_equal(back.snapshots[0].creation_time_ns, 1795401000000000000LL);
	assert_int_equal(back.snapshots[0].restore_size_bytes, INT64_C(10) << 30);
	assert_true(back.snapshots[0].ready_to_use);
	assert_int_equal(back.snapshots[1].restore_size_bytes, -1);
	assert_string_equal(back.snapshots[1].error, "disk on fire");
	assert_string_equal(back.position.gtid_binlog_pos, "0-1-42");
	assert_null(back.position.gtid_slave_pos);
	assert_int_equal(back.position.binlog_position, 1234);
	assert_int_equal(back.position.primary_binlog_position, 0);
	assert_int_equal(back.lock.connection_id, 17);
	assert_int_equal(back.lock.held_ms, 812);
	assert_int_equal(back.lock.released_ns, 0);
	assert_int_equal(back.completion_ns, 0);

	/* Rebuilt, not accumulated: an emptied status keeps only conditions
	 * (and fields it does not describe). */
	app_backup_status_init(&st);
	assert_int_equal(app_backup_status_encode(obj, &st), 0);
	text = json_dumps(json_object_get(obj, "status"), JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(
		text, "{\"conditions\":[{\"status\":\"True\",\"type\":\"Complete\"}],"
		      "\"staleField\":\"from an older controller\"}");
	free(text);
	json_decref(obj);
}

/* The fullest Restore status the round trip wrote, for
 * test_restore_status_fits_crd. */
static json_t *restore_status_sample;

static void test_schedule_and_restore_status_round_trip(void **state)
{
	json_t *obj = tu_json(schedule_base), *names = tu_json("[\"old-1\",\"old-2\"]");
	app_schedule_status s, sb;
	app_restore_status r, rb;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.observed_generation = 3;
	s.last_schedule_ns = 1795400000000000000LL;
	s.next_schedule_ns = 1795486400000000000LL;
	s.last_successful_backup = "nightly-1";
	s.last_successful_ns = 1795400100000000000LL;
	s.active[0] = "nightly-2";
	s.n_active = 1;
	s.missed_runs = 4;
	s.last_run_now_token = "before-upgrade";
	s.pruned_total = 9;
	s.would_prune = names;
	assert_int_equal(app_schedule_status_encode(obj, &s), 0);
	assert_int_equal(app_schedule_status_decode(&sb, obj), 0);
	assert_int_equal(sb.observed_generation, 3);
	assert_int_equal(sb.last_schedule_ns, s.last_schedule_ns);
	assert_int_equal(sb.next_schedule_ns, s.next_schedule_ns);
	assert_string_equal(sb.last_successful_backup, "nightly-1");
	assert_int_equal(sb.last_successful_ns, s.last_successful_ns);
	assert_int_equal(sb.n_active, 1);
	assert_string_equal(sb.active[0], "nightly-2");
	assert_int_equal(sb.missed_runs, 4);
	assert_int_equal(sb.skipped_runs, 0);
	assert_string_equal(sb.last_run_now_token, "before-upgrade");
	assert_int_equal(sb.pruned_total, 9);
	assert_int_equal(json_array_size(sb.would_prune), 2);
	assert_false(sb.pit_set);
	/* status.pointInTime: "" is a binlog start (a log's first file) */
	s.pit_set = true;
	s.pit_from_ns = 1795400000000000000LL;
	s.pit_to_ns = 1795400300000000000LL;
	s.pit_base = "nightly-1";
	s.pit_binlog_start = "";
	s.pit_expire_seconds = 0;
	s.pit_removed_base = "nightly-0";
	s.pit_removed_ns = 1795400200000000000LL;
	assert_int_equal(app_schedule_status_encode(obj, &s), 0);
	assert_int_equal(app_schedule_status_decode(&sb, obj), 0);
	assert_true(sb.pit_set);
	assert_string_equal(sb.pit_binlog_start, "");
	assert_string_equal(sb.pit_base, "nightly-1");
	assert_string_equal(sb.pit_removed_base, "nightly-0");
	assert_int_equal(sb.pit_to_ns, s.pit_to_ns);
	assert_int_equal(sb.pit_expire_seconds, 0);
	/* encoding again from strings borrowed from the object itself */
	sb.would_prune = NULL;
	assert_int_equal(app_schedule_status_encode(obj, &sb), 0);
	assert_int_equal(app_schedule_status_decode(&s, obj), 0);
	assert_string_equal(s.pit_base, "nightly-1");
	s.pit_set = false;
	assert_int_equal(app_schedule_status_encode(obj, &s), 0);
	assert_null(json_object_get(json_object_get(obj, "status"), "pointInTime"));
	json_decref(names);
	json_decref(obj);

	obj = tu_json(in_place_base);
	app_restore_status_init(&r);
	r.has_phase = true;
	r.phase = APP_RESTORE_RESTORING;
	r.source_backup = "nightly-1";
	r.source_snapshots[0] = "nightly-1-data";
	r.n_source_snapshots = 1;
	r.claims[0] =
		(app_claim_status){ "data-mariadb-0", "data", "nightly-1-data", true };
	r.n_claims = 1;
	r.original_replicas = 3;
	r.step = APP_STEP_REPLACING_CLAIMS;
	r.start_ns = 1795400000000000000LL;
	r.mode = "InPlace";
	r.accepted_spec = json_object_get(obj, "spec");
	r.statefulset_name = "mariadb";
	r.statefulset_uid = "sts-uid";
	r.primary_ordinal = 1;
	r.replication_host = "mariadb-1.mariadb.db.svc";
	r.gtid_position = "0-1-42";
	r.volumes[0] = (app_inplace_volume){ "data-mariadb-0", "data", 0, "old-uid",
					     "pv-1", "Delete" };
	r.volumes[1] = (app_inplace_volume){ "data-mariadb-1", "data", 1, NULL, NULL,
					     NULL };
	r.n_volumes = 2;
	r.configured[r.n_configured++] = 1;
	r.failure_reason = "Timeout";
	r.failure_message = "gave up";
	r.replay.step = APP_REPLAY_STEP_SAFETY_BACKUP;
	r.replay.step_start_ns = 1795400000123456000LL;
	r.replay.snapshots[r.replay.n_snapshots++] = "r2-replayed-data";
	r.replay.snapshots[r.replay.n_snapshots++] = "r2-replayed-binlog";
	r.replay.safety_backup = "r2-safety";
	r.replay.base_position = "0-1-40";
	r.replay.target_position = "0-1-4710";
	r.replay.target_time_ns = 1795400060000000000LL;
	r.replay.source_pod = "mariadb-0";
	r.replay.reached = "0-1-2000";
	r.replay.relay_bytes = 123456;
	/* to the microsecond: at whole seconds every look in the second's
	 * later half found the last write "due" again (the interval is 0.5 s
	 * at first), and each write woke the Restore for another look */
	r.replay.progress_ns = 1795400000123456000LL;
	r.replay.scratch_pod = "r2-pitr";
	assert_int_equal(app_restore_status_encode(obj, &r), 0);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(obj, "status"), "inPlace"),
			"step")),
		"ReplacingClaims");
	assert_int_equal(app_restore_status_decode(&rb, obj), 0);
	assert_int_equal(rb.phase, APP_RESTORE_RESTORING);
	assert_string_equal(rb.source_backup, "nightly-1");
	assert_int_equal(rb.n_source_snapshots, 1);
	assert_int_equal(rb.n_claims, 1);
	assert_true(rb.claims[0].bound);
	assert_int_equal(rb.original_replicas, 3);
	assert_int_equal(rb.step, APP_STEP_REPLACING_CLAIMS);
	assert_int_equal(rb.start_ns, r.start_ns);
	assert_string_equal(rb.mode, "InPlace");
	assert_true(json_equal((json_t *)rb.accepted_spec, json_object_get(obj, "spec")));
	assert_string_equal(rb.statefulset_name, "mariadb");
	assert_string_equal(rb.statefulset_uid, "sts-uid");
	assert_int_equal(rb.primary_ordinal, 1);
	assert_string_equal(rb.replication_host, "mariadb-1.mariadb.db.svc");
	assert_string_equal(rb.gtid_position, "0-1-42");
	assert_int_equal(rb.n_volumes, 2);
	assert_string_equal(rb.volumes[0].claim, "data-mariadb-0");
	assert_string_equal(rb.volumes[0].old_claim_uid, "old-uid");
	assert_string_equal(rb.volumes[0].old_volume_name, "pv-1");
	assert_string_equal(rb.volumes[0].old_reclaim_policy, "Delete");
	assert_int_equal(rb.volumes[1].ordinal, 1);
	assert_null(rb.volumes[1].old_volume_name);
	assert_int_equal(rb.n_configured, 1);
	assert_int_equal(rb.configured[0], 1);
	assert_string_equal(rb.failure_reason, "Timeout");
	assert_string_equal(rb.failure_message, "gave up");
	assert_int_equal(rb.replay.step, APP_REPLAY_STEP_SAFETY_BACKUP);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(obj, "status"), "replay"),
			"step")),
		"SafetyBackup");
	assert_int_equal(rb.replay.n_snapshots, 2);
	assert_string_equal(rb.replay.snapshots[1], "r2-replayed-binlog");
	assert_string_equal(rb.replay.safety_backup, "r2-safety");
	assert_int_equal(rb.replay.step_start_ns, r.replay.step_start_ns);
	assert_string_equal(rb.replay.base_position, "0-1-40");
	assert_string_equal(rb.replay.target_position, "0-1-4710");
	assert_int_equal(rb.replay.target_time_ns, r.replay.target_time_ns);
	assert_string_equal(rb.replay.source_pod, "mariadb-0");
	assert_string_equal(rb.replay.reached, "0-1-2000");
	assert_int_equal(rb.replay.relay_bytes, 123456);
	assert_int_equal(rb.replay.progress_ns, 1795400000123456000LL);
	assert_string_equal(rb.replay.scratch_pod, "r2-pitr");
	restore_status_sample = json_deep_copy(json_object_get(obj, "status"));
	json_decref(obj);
}

/* ---- coverage of the CRDs -------------------------------------------- */

static json_t *load_yaml(const char *rel)
{
	char path[1024];
	ss_buf text = SS_BUF_INIT(1 << 20);
	json_t *out = NULL;

	snprintf(path, sizeof(path), "%s/%s", SNAPSTAGE_SOURCE_DIR, rel);
	if (ss_file_read(&text, path, 1 << 20) != 0)
		fail_msg("%s", ss_error_last()->message);
	if (ss_yaml_to_json(&out, text.ptr, text.len, path) != 0)
		fail_msg("%s", ss_error_last()->message);
	ss_buf_free(&text);
	return out;
}

static const json_t *crd_schema(const json_t *crd)
{
	const json_t *versions =
		json_object_get(json_object_get(crd, "spec"), "versions");

	return json_object_get(json_object_get(json_array_get(versions, 0), "schema"),
			       "openAPIV3Schema");
}

/* Fails unless every field of `v` is in `schema` (properties, items, or
 * x-kubernetes-preserve-unknown-fields): a field the schema lacks would be
 * pruned by the API server, and a restore's rollback record with it. */
static void assert_in_schema(const json_t *v, const json_t *schema, const char *path)
{
	const json_t *props = json_object_get(schema, "properties"), *item;
	const char *key;
	char sub[512];
	size_t i;

	if (json_is_true(json_object_get(schema, "x-kubernetes-preserve-unknown-fields")))
		return;
	if (json_is_array(v)) {
		json_array_foreach((json_t *)v, i, item)
		{
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			assert_in_schema(item, json_object_get(schema, "items"), sub);
		}
		return;
	}
	json_object_foreach((json_t *)v, key, item)
	{
		snprintf(sub, sizeof(sub), "%s.%s", path, key);
		if (json_object_get(props, key) == NULL)
			fail_msg("%s is written but not in the CRD schema", sub);
		assert_in_schema(item, json_object_get(props, key), sub);
	}
}

/* Counts and ordinals outside 0..INT32_MAX are unset, not wrapped by a
 * cast (originalReplicas 4294967299 was read as 3, attempts 2^32 + 1 as 1;
 * found by fuzzing, issue 16). */
static void test_status_counts_in_range(void **state)
{
	json_t *obj = tu_json(
		"{\"status\":{\"attempts\":4294967297,\"inPlace\":{"
		"\"originalReplicas\":4294967299,\"primaryOrdinal\":-2,"
		"\"volumes\":[{\"claim\":\"c\",\"ordinal\":4294967297}]}}}");
	app_backup_status b;
	app_restore_status r;

	(void)state;
	assert_int_equal(app_backup_status_decode(&b, obj), 0);
	assert_int_equal(b.attempts, 0);
	assert_int_equal(app_restore_status_decode(&r, obj), 0);
	assert_int_equal(r.original_replicas, -1);
	assert_int_equal(r.primary_ordinal, -1);
	assert_int_equal(r.n_volumes, 1);
	assert_int_equal(r.volumes[0].ordinal, 0);
	json_decref(obj);
	obj = tu_json("{\"status\":{\"attempts\":7,\"inPlace\":{\"originalReplicas\":3,"
		      "\"primaryOrdinal\":2}}}");
	assert_int_equal(app_backup_status_decode(&b, obj), 0);
	assert_int_equal(b.attempts, 7);
	assert_int_equal(app_restore_status_decode(&r, obj), 0);
	assert_int_equal(r.original_replicas, 3);
	assert_int_equal(r.primary_ordinal, 2);
	json_decref(obj);
}

static void test_restore_status_fits_crd(void **state)
{
	json_t *crd = load_yaml("crds/snapstage.io_restores.yaml");
	const json_t *status = json_object_get(
		json_object_get(crd_schema(crd), "properties"), "status");

	(void)state;
	assert_non_null(restore_status_sample);
	assert_non_null(json_object_get(restore_status_sample, "inPlace"));
	assert_in_schema(restore_status_sample, status, "status");
	json_decref(restore_status_sample);
	restore_status_sample = NULL;
	json_decref(crd);
}

/* True if some bad case of a kind in `kinds` names `path` (with "[]" for
 * any index) or a field below it. */
static bool covered(const char *path, const kind *kinds, size_t n_kinds)
{
	size_t i, k;

	for (i = 0; i < N_BAD; i++) {
		char norm[256];
		const char *p;
		size_t o = 0;
		bool kind_ok = false;

		for (k = 0; k < n_kinds; k++)
			kind_ok = kind_ok || bad[i].k == kinds[k];
		if (!kind_ok)
			continue;
		for (p = bad[i].path; *p != '\0' && o + 1 < sizeof(norm); p++) {
			norm[o++] = *p;
			if (*p == '[') {
				while (p[1] != ']' && p[1] != '\0')
					p++;
			}
		}
		norm[o] = '\0';
		if (strncmp(norm, path, strlen(path)) == 0 &&
		    (norm[strlen(path)] == '\0' || norm[strlen(path)] == '.'))
			return true;
		/* A case that sets the parent object to a value naming the field. */
		if (bad[i].value != NULL && strncmp(path, norm, strlen(norm)) == 0 &&
		    path[strlen(norm)] == '.') {
			char quoted[128];

			snprintf(quoted, sizeof(quoted), "\"%s\"",
				 strrchr(path, '.') + 1);
			if (strstr(bad[i].value, quoted) != NULL)
				return true;
		}
	}
	return false;
}

/* Walks the schema and reports every leaf under spec without a bad case. */
static size_t uncovered(const json_t *schema, char *path, size_t len, const kind *kinds,
			size_t n_kinds)
{
	const json_t *props = json_object_get(schema, "properties");
	const json_t *items = json_object_get(schema, "items");
	const json_t *child;
	const char *key;
	size_t missing = 0;

	if (json_object_get(items, "properties") != NULL) {
		snprintf(path + len, 256 - len, "[]");
		return uncovered(items, path, len + 2, kinds, n_kinds);
	}
	if (props == NULL) {
		if (!covered(path, kinds, n_kinds)) {
			print_error("no bad case for %s\n", path);
			return 1;
		}
		return 0;
	}
	json_object_foreach((json_t *)props, key, child)
	{
		size_t n = (size_t)snprintf(path + len, 256 - len, ".%s", key);

		missing += uncovered(child, path, len + n, kinds, n_kinds);
		path[len] = '\0';
	}
	return missing;
}

static void test_every_spec_field_has_a_bad_case(void **state)
{
	static const struct {
		const char *file;
		kind kinds[3];
		size_t n;
	} crds[] = {
		/* target, snapshot and lock are one schema in both (checked below) */
		{ "crds/snapstage.io_backupschedules.yaml", { K_SCHEDULE, K_BACKUP }, 2 },
		{ "crds/snapstage.io_backups.yaml", { K_BACKUP, K_SCHEDULE }, 2 },
		{ "crds/snapstage.io_restores.yaml",
		  { K_RESTORE, K_IN_PLACE, K_REPLAY },
		  3 },
	};
	size_t i, missing = 0;

	(void)state;
	for (i = 0; i < sizeof(crds) / sizeof(crds[0]); i++) {
		json_t *crd = load_yaml(crds[i].file);
		const json_t *spec = json_object_get(
			json_object_get(crd_schema(crd), "properties"), "spec");
		char path[256] = "spec";

		assert_non_null(spec);
		missing += uncovered(spec, path, 4, crds[i].kinds, crds[i].n);
		json_decref(crd);
	}
	assert_int_equal(missing, 0);
}

/* The defaults the schema writes and the ones the decoder applies agree,
 * and Backup's target/snapshot/lock blocks are the schedule's. */
static const json_t *prop(const json_t *schema, const char *dotted)
{
	char buf[256], *seg, *next;
	const json_t *cur = schema;

	snprintf(buf, sizeof(buf), "%s", dotted);
	for (seg = buf; seg != NULL && cur != NULL; seg = next) {
		next = strchr(seg, '.');
		if (next != NULL)
			*next++ = '\0';
		cur = json_object_get(json_object_get(cur, "properties"), seg);
	}
	return cur;
}

static void test_crd_defaults_match_the_decoder(void **state)
{
	json_t *sched = load_yaml("crds/snapstage.io_backupschedules.yaml");
	json_t *backup = load_yaml("crds/snapstage.io_backups.yaml");
	json_t *restore = load_yaml("crds/snapstage.io_restores.yaml");
	const json_t *s = prop(crd_schema(sched), "spec");
	const json_t *r = prop(crd_schema(restore), "spec");
	const char *blocks[] = { "target", "snapshot", "lock" };
	size_t i;

#define DEFAULT_OF(schema, path) json_object_get(prop((schema), (path)), "default")
	(void)state;
	assert_string_equal(json_string_value(DEFAULT_OF(s, "timeZone")),
			    APP_DEFAULT_TIME_ZONE);
	assert_false(json_is_true(DEFAULT_OF(s, "suspend")));
	assert_string_equal(json_string_value(DEFAULT_OF(s, "backupDeletionPolicy")),
			    "Retain");
	assert_string_equal(json_string_value(DEFAULT_OF(s, "target.role")),
			    app_role_name(APP_ROLE_PREFER_REPLICA));
	assert_int_equal(
		json_integer_value(DEFAULT_OF(s, "target.maxReplicationLagSeconds")),
		APP_DEFAULT_MAX_LAG_SECONDS);
	assert_string_equal(
		json_string_value(DEFAULT_OF(
			s, "target.connection.credentialsSecretRef.usernameKey")),
		APP_DEFAULT_USERNAME_KEY);
	assert_string_equal(
		json_string_value(DEFAULT_OF(
			s, "target.connection.credentialsSecretRef.passwordKey")),
		APP_DEFAULT_PASSWORD_KEY);
	assert_string_equal(
		json_string_value(DEFAULT_OF(s, "target.connection.tls.mode")),
		app_tls_mode_name(APP_TLS_PREFERRED));
	assert_string_equal(
		json_string_value(DEFAULT_OF(s, "target.connection.tls.caSecretRef.key")),
		APP_DEFAULT_CA_KEY);
	assert_int_equal(json_integer_value(DEFAULT_OF(
				 s, "target.connection.connectTimeoutSeconds")),
			 APP_DEFAULT_CONNECT_TIMEOUT_SECONDS);
	assert_string_equal(json_string_value(DEFAULT_OF(s, "lock.stage")),
			    app_lock_stage_name(APP_STAGE_BLOCK_COMMIT));
	assert_int_equal(json_integer_value(DEFAULT_OF(s, "lock.timeoutSeconds")),
			 APP_DEFAULT_LOCK_TIMEOUT_SECONDS);
	assert_int_equal(json_integer_value(DEFAULT_OF(s, "lock.acquireTimeoutSeconds")),
			 APP_DEFAULT_ACQUIRE_TIMEOUT_SECONDS);
	assert_int_equal(json_integer_value(DEFAULT_OF(s, "snapshot.readyTimeoutSeconds")),
			 APP_DEFAULT_READY_TIMEOUT_SECONDS);
	assert_int_equal(json_integer_value(DEFAULT_OF(s, "retention.keepFailed")),
			 APP_DEFAULT_KEEP_FAILED);
	assert_false(json_is_true(DEFAULT_OF(s, "retention.dryRun")));
	assert_int_equal(json_integer_value(DEFAULT_OF(r, "timeoutSeconds")),
			 APP_DEFAULT_RESTORE_TIMEOUT_SECONDS);
	assert_int_equal(
		json_integer_value(DEFAULT_OF(r, "target.inPlace.primaryOrdinal")), 0);
	assert_string_equal(
		json_string_value(DEFAULT_OF(r, "target.inPlace.replicationHost")),
		"PodDNSName");
	assert_true(json_equal(prop(r, "target.inPlace.connection"),
			       prop(s, "target.connection")) ==
		    0); /* descriptions differ */
	assert_true(json_equal(DEFAULT_OF(r, "target.inPlace.connection.tls.mode"),
			       DEFAULT_OF(s, "target.connection.tls.mode")));
	for (i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		if (!json_equal(prop(s, blocks[i]),
				prop(prop(crd_schema(backup), "spec"), blocks[i])))
			fail_msg("spec.%s differs between BackupSchedule and Backup",
				 blocks[i]);
	}
#undef DEFAULT_OF
	json_decref(sched);
	json_decref(backup);
	json_decref(restore);
}

/* ---- the shipped examples and the server-side invalid fixtures -------- */

/* Decodes a file by its kind: 0 or the decode's error; 1 if the file is
 * not one of our kinds (a Secret, say). */
static int decode_file(const char *rel)
{
	json_t *obj = load_yaml(rel);
	const char *k = json_string_value(json_object_get(obj, "kind"));
	const char *reason;
	int rc = 1;

	if (k != NULL && strcmp(k, "BackupSchedule") == 0)
		rc = decode(K_SCHEDULE, obj, &reason);
	else if (k != NULL && strcmp(k, "Backup") == 0)
		rc = decode(K_BACKUP, obj, &reason);
	else if (k != NULL && strcmp(k, "Restore") == 0)
		rc = decode(K_RESTORE, obj, &reason);
	json_decref(obj);
	return rc;
}

/* Calls fn on each *.yaml in a directory of the source tree; returns how
 * many there were. */
static size_t each_yaml(const char *dir_rel, void (*fn)(const char *rel, size_t *n_bad),
			size_t *n_bad)
{
	char dir[1024], rel[1024];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", SNAPSTAGE_SOURCE_DIR, dir_rel);
	d = opendir(dir);
	if (d == NULL)
		fail_msg("cannot open %s", dir);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len < 5 || strcmp(e->d_name + len - 5, ".yaml") != 0)
			continue;
		snprintf(rel, sizeof(rel), "%s/%s", dir_rel, e->d_name);
		fn(rel, n_bad);
		n++;
	}
	closedir(d);
	return n;
}

static void expect_valid(const char *rel, size_t *n_bad)
{
	int rc = decode_file(rel);

	if (rc < 0) {
		print_error("%s: %s\n", rel, ss_error_last()->message);
		(*n_bad)++;
	}
}

static void expect_invalid(const char *rel, size_t *n_bad)
{
	int rc = decode_file(rel);

	if (rc == 1) {
		print_error("%s: not a snapstage kind\n", rel);
		(*n_bad)++;
	} else if (rc == 0) {
		print_error("%s: the decoder accepted what the API server must refuse\n",
			    rel);
		(*n_bad)++;
	} else {
		print_message("%s: %s\n", rel, ss_error_last()->message);
	}
}

static void test_examples_decode(void **state)
{
	size_t n_bad = 0, n;

	(void)state;
	n = each_yaml("deploy/examples", expect_valid, &n_bad);
	assert_true(n >= 6);
	assert_int_equal(n_bad, 0);
}

/* What the schema rejects, the decoder rejects too: an object that skipped
 * the server's validation (an older CRD installed) is still refused. */
static void test_invalid_fixtures_are_refused(void **state)
{
	size_t n_bad = 0, n;

	(void)state;
	n = each_yaml("tests/fixtures/invalid", expect_invalid, &n_bad);
	assert_true(n >= 20);
	assert_int_equal(n_bad, 0);
}

/* ---- quantities -------------------------------------------------------- */

static void test_quantities(void **state)
{
	static const struct {
		const char *text;
		int64_t bytes;
	} good[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "10Gi", INT64_C(10) << 30 },
		{ "1.5Gi", INT64_C(3) << 29 },
		{ "0.1Ki", 103 }, /* 102.4 rounds up */
		{ "1G", 1000000000 },
		{ "500M", 500000000 },
		{ "1e3", 1000 },
		{ "1E3", 1000 },
		{ "2E", INT64_C(2000000000000000000) },
		{ "1m", 1 },	/* a thousandth of a byte is still a byte */
		{ "1500m", 2 }, /* 1.5 bytes */
		{ "+7k", 7000 },
		{ "7Ei", INT64_C(7) << 60 },
		{ ".5Ki", 512 },
		{ "0.000000000000000000000000000000000000000001", 1 },
	};
	static const char *const bad_texts[] = { "",	 "-1Gi",  "Gi",	 "1GB",
						 "1 Gi", "1.2.3", "e3",	 "1e",
						 "1e+",	 "0x10",  "1Ki2" };
	char buf[KUBE_QUANTITY_MAX];
	int64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (kube_quantity_parse(&v, good[i].text) != 0)
			fail_msg("%s: %s", good[i].text, ss_error_last()->message);
		if (v != good[i].bytes)
			fail_msg("%s: got %lld, want %lld", good[i].text, (long long)v,
				 (long long)good[i].bytes);
	}
	for (i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
		if (kube_quantity_parse(&v, bad_texts[i]) == 0)
			fail_msg("\"%s\" parsed as %lld", bad_texts[i], (long long)v);
	}
	assert_int_equal(kube_quantity_parse(&v, "8Ei"), SS_ETOOLARGE);
	assert_int_equal(kube_quantity_parse(&v, "1e19"), SS_ETOOLARGE);
	assert_int_equal(kube_quantity_parse(&v, "9223372036854775808"), SS_ETOOLARGE);
	assert_int_equal(kube_quantity_parse(&v, "9223372036854775807"), 0);
	assert_int_equal(v, INT64_MAX);

	assert_string_equal(kube_quantity_format(buf, sizeof(buf), INT64_C(10) << 30),
			    "10Gi");
	assert_string_equal(kube_quantity_format(buf, sizeof(buf), INT64_C(1536) << 20),
			    "1536Mi");
	assert_string_equal(kube_quantity_format(buf, sizeof(buf), 1000), "1000");
	assert_string_equal(kube_quantity_format(buf, sizeof(buf), 0), "0");
	assert_string_equal(kube_quantity_format(buf, sizeof(buf), INT64_C(1) << 60),
			    "1Ei");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_schedule_decodes_with_defaults),
		cmocka_unit_test(test_schedule_decodes_every_field),
		cmocka_unit_test(test_h_is_seeded_by_identity),
		cmocka_unit_test(test_longest_schedule_name_makes_valid_names),
		cmocka_unit_test(test_backup_with_selector),
		cmocka_unit_test(test_restore_new_claims),
		cmocka_unit_test(test_restore_in_place),
		cmocka_unit_test(test_restore_in_place_pod_ip),
		cmocka_unit_test(test_restore_point_in_time),
		cmocka_unit_test(test_time_zones_and_ages),
		cmocka_unit_test(test_gitops_labels_are_not_copied),
		cmocka_unit_test(test_annotations),
		cmocka_unit_test(test_copy_copyable_and_own_labels),
		cmocka_unit_test(test_backup_status_round_trip),
		cmocka_unit_test(test_schedule_and_restore_status_round_trip),
		cmocka_unit_test(test_restore_status_fits_crd),
		cmocka_unit_test(test_status_counts_in_range),
		cmocka_unit_test(test_every_spec_field_has_a_bad_case),
		cmocka_unit_test(test_crd_defaults_match_the_decoder),
		cmocka_unit_test(test_quantities),
		cmocka_unit_test(test_examples_decode),
		cmocka_unit_test(test_invalid_fixtures_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
