/*
 * owner.h — whose an object is, by the rules every controller shares: the
 * ownerReference marked controller, whether an ownerReference carries a
 * given uid (the check before snapstage deletes or adopts an object by
 * name: it never touches one it did not create for that very parent), and
 * where a Backup labelled for a schedule comes from (the one rule behind
 * the schedule's retention and a Restore's scheduleName).
 *
 * Pure functions over the JSON objects the informers cache; nothing here
 * does I/O. Ownership: results borrow from the object passed in.
 * Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_APP_OWNER_H
#define SNAPSTAGE_APP_OWNER_H

#include <stdbool.h>

#include <jansson.h>

/* The ownerReferences entry of `obj` marked controller: true, or NULL. */
const json_t *app_owner_controller(const json_t *obj);

/* Whether an ownerReference of `obj` carries `uid` (NULL or "": false):
 * the check before snapstage deletes or adopts a VolumeSnapshot by name. */
bool app_owner_has_uid(const json_t *obj, const char *uid);

/* Where a Backup labelled for a schedule comes from, as far as its labels
 * and ownerReferences tell; the one rule behind app_retention_is_own (OWN
 * only) and a Restore's scheduleName (anything but FOREIGN). */
typedef enum {
	/* not labelled snapstage.io/schedule=<schedule>, or labelled so but
	 * naming another uid (its uid label, or a BackupSchedule owner that is
	 * not this uid): another schedule's, or made by hand */
	APP_OWNER_FOREIGN,
	/* labelled, with no uid to compare (no uid label and no BackupSchedule
	 * owner: made before the uid label existed), or `uid` NULL/"" */
	APP_OWNER_LEGACY,
	/* labelled, and the uid label or an ownerReference names `uid` */
	APP_OWNER_OWN,
} app_owner_origin;

app_owner_origin app_owner_run_origin(const json_t *backup, const char *schedule,
				      const char *uid);

#endif
