/*
 * verify.h — the verify controller: proves a Backup restorable by
 * restoring it into scratch claims, starting a scratch MariaDB on them
 * (app/scratch), checking it (app/db/verify.h) and removing everything it
 * made. Started by a new snapstage.io/verify-now value on a Backup (a user,
 * or its schedule when spec.verification is due).
 *
 * One reconcile of a Backup, in numbered steps (verify.c); every phase is
 * recorded in status.verification before it is acted on, so a controller
 * killed at any step resumes it, and deterministic names mean a resumed
 * step finds what it made instead of making it twice:
 *   1. what the Backup needs (verify_plan.h): nothing; a new token; a
 *      verification in progress; or, being deleted with our finalizer,
 *      only the clean-up (step 7) and the finalizer's removal;
 *   2. a new token: the Backup must be Complete with every snapshot ready
 *      (else Failed SourceNotReady at once) and its spec must decode;
 *      options come from its schedule's spec.verification (else
 *      defaults); phase Pending;
 *   3. Pending: wait while another verification of the same database runs
 *      or an in-place Restore rolls it back; then our finalizer, phase
 *      Restoring;
 *   4. Restoring: the scratch claims from the Backup's VolumeSnapshots;
 *      when all are Bound, phase Starting;
 *   5. Starting: the scratch Pod from the target StatefulSet's template;
 *      when Ready, phase Checking; not Ready within startTimeoutSeconds
 *      (claims included): ServerDidNotStart with what the Pod says;
 *   6. Checking: connect with the Backup's credentials, CHECK TABLE, the
 *      GTID position, the user's checks, each recorded with its duration;
 *      the verdict; phase CleaningUp;
 *   7. CleaningUp: delete the scratch Pod and claims (only ours: label and
 *      owner uid), wait until they are gone; then Done, the Verified
 *      condition, Events, metrics, and our finalizer removed.
 * Scratch objects are owned by the Backup (garbage collected with it) and
 * never touch the target StatefulSet, its claims or Services.
 *
 * Ownership: the controller borrows everything in its options, which must
 * outlive it. Thread-safety: app_verify_reconcile() runs on the
 * controller's workers (never twice at once for one key); the registry of
 * running verifications has its own mutex.
 */
#ifndef SNAPSTAGE_APP_VERIFY_H
#define SNAPSTAGE_APP_VERIFY_H

#include "ctrl/controller.h"
#include "ctrl/events.h"
#include "ctrl/metrics.h"
#include "ctrl/store.h"
#include "ctrl/workqueue.h"
#include "kube/client.h"
#include "util/clock.h"

typedef struct {
	kube_client *client;   /* required */
	ctrl_store *backups;   /* required: the Backup informer's cache */
	ctrl_store *pods;      /* optional: Pods, to notice a scratch Pod's
				  changes sooner than the poll */
	ctrl_store *schedules; /* optional: a Backup's schedule's options */
	ctrl_store *restores;  /* optional: Restores by APP_INDEX_NAMESPACE */
	ctrl_events *events;   /* optional */
	ctrl_metrics *metrics; /* optional */
	const ss_clock *clock; /* NULL: the system clock */
	int64_t poll_ns;       /* how often a waiting step looks; 0: 2 s */
} app_verify_ctrl_opts;

typedef struct app_verify_ctrl app_verify_ctrl;

int app_verify_ctrl_new(app_verify_ctrl **out, const app_verify_ctrl_opts *o);
void app_verify_ctrl_free(app_verify_ctrl *vc);

/* The reconcile of Backup `key` ("namespace/name"); `payload` is the
 * app_verify_ctrl. */
ctrl_result app_verify_reconcile(void *payload, const char *key);

#endif
