/*
 * volumesnapshot.h — the VolumeSnapshot (snapshot.storage.k8s.io/v1) as
 * snapstage uses it, shared by the Backup controller that makes them and
 * the Restore controller that restores from them: the resources, the
 * labels and annotations every VolumeSnapshot of a Backup carries (the
 * position read under the lock among them, which a Restore reads back),
 * and what a VolumeSnapshot's status says.
 *
 * Ownership: app_vs_state borrows strings from the object it was read
 * from. Thread-safety: reentrant; errors go to the calling thread's
 * ss_error.
 */
#ifndef SNAPSTAGE_APP_VOLUMESNAPSHOT_H
#define SNAPSTAGE_APP_VOLUMESNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kube/rest.h"

/* The snapshot API's resources: VolumeSnapshots (namespaced), their
 * classes and contents (cluster-scoped). */
extern const kube_resource app_volumesnapshots;
extern const kube_resource app_volumesnapshotclasses;
extern const kube_resource app_volumesnapshotcontents;

/* Labels on every VolumeSnapshot a Backup makes (besides APP_LABEL_BACKUP
 * and, for a scheduled Backup, APP_LABEL_SCHEDULE). */
#define APP_LABEL_POD "snapstage.io/pod"
#define APP_LABEL_CLAIM "snapstage.io/claim"
#define APP_LABEL_VOLUME "snapstage.io/volume"
/* Annotations on every VolumeSnapshot: the position read under the lock
 * (absent when unknown) and the role of the server it was cut from. */
#define APP_ANNOTATION_GTID_BINLOG_POS "snapstage.io/gtid-binlog-pos"
#define APP_ANNOTATION_GTID_SLAVE_POS "snapstage.io/gtid-slave-pos"
#define APP_ANNOTATION_GTID_CURRENT_POS "snapstage.io/gtid-current-pos"
#define APP_ANNOTATION_BINLOG_FILE "snapstage.io/binlog-file"
#define APP_ANNOTATION_BINLOG_POSITION "snapstage.io/binlog-position"
#define APP_ANNOTATION_PRIMARY_BINLOG_FILE "snapstage.io/primary-binlog-file"
#define APP_ANNOTATION_PRIMARY_BINLOG_POSITION "snapstage.io/primary-binlog-position"
#define APP_ANNOTATION_SOURCE_ROLE "snapstage.io/source-role"
/* The BACKUP STAGE the Backup's spec asked for (spec.lock.stage: FLUSH,
 * BLOCK_DDL or BLOCK_COMMIT), so a bare VolumeSnapshot says how consistent
 * its cut is. */
#define APP_ANNOTATION_LOCK_STAGE "snapstage.io/lock-stage"
/* The Backup's whole name. The APP_LABEL_BACKUP label holds it too when it
 * fits a label value (at most 63), else a shortened value with a hash
 * (app_name_backup_label); readers match the label by that same rule. */
#define APP_ANNOTATION_BACKUP_NAME "snapstage.io/backup-name"

/* What a VolumeSnapshot's status says. */
typedef struct {
	bool bound;		  /* status.boundVolumeSnapshotContentName set */
	int64_t creation_time_ns; /* status.creationTime; 0: not cut */
	bool ready_to_use;
	int64_t restore_size_bytes; /* -1: unknown */
	const char *error;	    /* status.error.message; NULL: none (an error
				       without a message reads as a static
				       text saying so) */
} app_vs_state;

/* Reads `vs` (a VolumeSnapshot; NULL or without status: all unset). A
 * status that cannot be parsed (a bad time or quantity, a field of the
 * wrong type) is SS_EINVALID (or kube_quantity_parse()'s SS_ETOOLARGE);
 * *out is written only on success. */
int app_vs_state_read(app_vs_state *out, const json_t *vs);

#endif
