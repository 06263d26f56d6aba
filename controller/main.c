/*
 * main.c — the snapstage executable: parse flags and wire the layers.
 *
 * It builds the client (with API request metrics), checks which APIs the
 * cluster serves, and hands everything to the controller runtime's manager:
 * probes, metrics, leader election and a clean shutdown on SIGTERM. The
 * backup and schedule controllers register here; restore will join them.
 * Nothing here holds logic worth testing on its own.
 *
 * Exit codes: 0 after a clean shutdown or --help/--version; 1 on a runtime
 * failure or a lost lease; 2 on bad flags.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "app/api/api.h"
#include "app/api/volumesnapshot.h"
#include "app/backup/backup.h"
#include "app/restore/restore.h"
#include "app/schedule/schedule.h"
#include "ctrl/controller.h"
#include "ctrl/events.h"
#include "ctrl/informer.h"
#include "ctrl/manager.h"
#include "ctrl/metrics.h"
#include "ctrl/options.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/discovery.h"
#include "util/error.h"
#include "util/log.h"

#ifndef SNAPSTAGE_VERSION
#define SNAPSTAGE_VERSION "dev"
#endif

/* kube_discover_served's wait at start-up: says why, then waits up to
 * wait_ns for SIGTERM/SIGINT (blocked in every thread, so taken here): a
 * signal ends the start-up (*payload set) instead of waiting for the
 * manager. */
static bool startup_wait(void *payload, int64_t wait_ns)
{
	bool *stopped = payload;
	struct timespec ts = { (time_t)(wait_ns / SS_NS_PER_SEC),
			       (long)(wait_ns % SS_NS_PER_SEC) };
	sigset_t set;

	ss_log(SS_LOG_WARN, "API discovery failed; asking again",
	       SS_LI("in_ms", wait_ns / SS_NS_PER_MS), SS_LERR());
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigtimedwait(&set, NULL, &ts) > 0) {
		*stopped = true;
		return false;
	}
	return true;
}

/* Says, at start-up, which APIs snapstage needs and whether they are served,
 * so a missing CRD is a clear log line rather than a stream of 404s. Asked
 * until the API server answers: started while it was down or restarting,
 * snapstage used to take "no answer" for "not served" and ran without its
 * Restore controller, failing every Backup with SnapshotAPIMissing, until
 * restarted (found by the soak). *stopped: a signal came while waiting. */
static int check_apis(bool *snapshot_api, bool *restore_api, bool *stopped,
		      kube_client *client)
{
	static const char *const apis[][3] = {
		{ "", "v1", "persistentvolumeclaims" },
		{ "snapshot.storage.k8s.io", "v1", "volumesnapshots" },
		{ "snapstage.io", "v1alpha1", "backups" },
		{ "snapstage.io", "v1alpha1", "backupschedules" },
		{ "snapstage.io", "v1alpha1", "restores" },
	};
	bool served[5] = { false };
	size_t i;

	for (i = 0; i < 5; i++) {
		if (kube_discover_served(&served[i], client, apis[i][0], apis[i][1],
					 apis[i][2], startup_wait, stopped) < 0)
			return ss_error_last()->code;
		ss_log(served[i] ? SS_LOG_INFO : SS_LOG_WARN,
		       served[i] ? "API served" : "API not served",
		       SS_LS("resource", apis[i][2]), SS_LS("group", apis[i][0]),
		       SS_LS("version", apis[i][1]));
	}
	*snapshot_api = served[1];
	*restore_api = served[4];
	return 0;
}

static const kube_resource pods = { "", "v1", "pods", true };

/* The namespaces --namespace named, as the informers take them: `names`
 * points into `o`; n 0 means all namespaces. */
typedef struct {
	const char *names[CTRL_OPTIONS_MAX_NAMESPACES];
	size_t n;
} watched;

static void watched_from(watched *w, const ctrl_options *o)
{
	size_t i;

	for (i = 0; i < o->n_namespaces; i++)
		w->names[i] = o->namespaces[i];
	w->n = o->n_namespaces;
}

/* "a,b" into buf (cap bytes: room for every name, see main), for the log. */
static void watched_list(char *buf, size_t cap, const watched *w)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < w->n && used < cap; i++)
		used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? "," : "",
					 w->names[i]);
}

/* An informer over `res` in the watched namespace(s), added to the manager. */
static int informer(ctrl_informer **out, ctrl_manager *m, kube_client *client,
		    const kube_resource *res, const char *kind, const watched *ns,
		    ctrl_metrics *metrics)
{
	ctrl_informer_opts o = { 0 };

	o.client = client;
	o.resource = res;
	o.namespaces = ns->names;
	o.n_namespaces = ns->n;
	o.kind = kind;
	o.metrics = metrics;
	if (ctrl_informer_new(out, &o) < 0)
		return -1;
	return ctrl_manager_add_informer(m, *out);
}

/* The controller of `o`, reconciling the keys of `primary`'s objects, added
 * to the manager. *out is set once made, also when a later step fails (the
 * caller frees it). */
static int add_controller(ctrl_controller **out, ctrl_manager *m, ctrl_informer *primary,
			  const ctrl_controller_opts *o)
{
	ctrl_handlers h;

	if (ctrl_controller_new(out, o) < 0)
		return -1;
	h = ctrl_controller_key_handlers(*out);
	if (ctrl_informer_add_handlers(primary, &h) < 0)
		return -1;
	return ctrl_manager_add_controller(m, *out);
}

/* A controller `name` with `workers` workers, as add_controller(). */
static int controller(ctrl_controller **out, ctrl_manager *m, ctrl_informer *primary,
		      const char *name, ctrl_reconcile_fn reconcile, void *payload,
		      int workers, ctrl_metrics *metrics)
{
	ctrl_controller_opts o = CTRL_CONTROLLER_OPTS_INIT;

	o.name = name;
	o.workers = workers;
	o.reconcile = reconcile;
	o.payload = payload;
	o.metrics = metrics;
	return add_controller(out, m, primary, &o);
}

/* The Backup controller, with a lane of as many workers for the lock
 * sessions (app/backup/backup.h), so that they never hold the workers the
 * other steps need, and at most `workers` databases are locked at once. */
static int backup_controller_new(ctrl_controller **out, ctrl_manager *m,
				 ctrl_informer *backups, app_backup_ctrl *payload,
				 int workers, ctrl_metrics *metrics)
{
	ctrl_controller_opts o = CTRL_CONTROLLER_OPTS_INIT;

	o.name = "backup";
	o.workers = workers;
	o.reconcile = app_backup_reconcile;
	o.payload = payload;
	o.metrics = metrics;
	o.lane_workers = workers;
	o.lane_name = "backup-session";
	o.lane_reconcile = app_backup_reconcile_session;
	return add_controller(out, m, backups, &o);
}

int main(int argc, char **argv)
{
	ctrl_options options;
	kube_config_sources src;
	kube_config *cfg = NULL;
	kube_client *client = NULL, *lease_client = NULL;
	kube_client_opts copts = KUBE_CLIENT_OPTS_INIT;
	ctrl_metrics *metrics = NULL;
	ctrl_manager *manager = NULL;
	ctrl_manager_opts mopts = { 0 };
	ctrl_events_opts eopts = CTRL_EVENTS_OPTS_INIT;
	ctrl_events *events = NULL;
	ctrl_informer *backups_inf = NULL, *pods_inf = NULL, *snapshots_inf = NULL;
	ctrl_store *empty_snapshots = NULL;
	app_backup_ctrl_opts bopts = { 0 };
	app_backup_ctrl *backup_ctrl = NULL;
	ctrl_controller *backup_controller = NULL;
	ctrl_informer *schedules_inf = NULL, *restores_inf = NULL;
	app_schedule_ctrl_opts sopts = { 0 };
	app_schedule_ctrl *schedule_ctrl = NULL;
	ctrl_controller *schedule_controller = NULL;
	app_restore_ctrl_opts ropts = { 0 };
	app_restore_ctrl *restore_ctrl = NULL;
	ctrl_controller *restore_controller = NULL;
	bool snapshot_api = false, restore_api = false, stopped = false;
	watched ns;
	char ns_list[CTRL_OPTIONS_MAX_NAMESPACES * CTRL_OPTIONS_NAMESPACE_CAP];
	int rc;

	/* Before any thread exists, so signals reach only the manager's. */
	ctrl_manager_block_signals();
	ctrl_options_init(&options);
	rc = ctrl_options_parse(&options, argc, argv, SNAPSTAGE_VERSION, stdout);
	if (rc == CTRL_OPTIONS_EXIT)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "snapstage: %s\n", ss_error_last()->message);
		return 2;
	}
	ss_log_configure(options.log_level, options.log_format, NULL);
	ss_log(SS_LOG_INFO, "starting", SS_LS("version", SNAPSTAGE_VERSION));
	watched_from(&ns, &options);
	watched_list(ns_list, sizeof(ns_list), &ns);

	if (kube_global_init() < 0 || ctrl_metrics_new(&metrics) < 0)
		goto fail;
	kube_config_sources_from_env(&src, options.kubeconfig, options.context);
	if (kube_config_load(&cfg, &src) < 0)
		goto fail;
	copts.user_agent = "snapstage/" SNAPSTAGE_VERSION;
	copts.on_request = ctrl_metrics_observe_api;
	copts.on_request_payload = metrics;
	if (kube_client_new(&client, cfg, &copts) < 0)
		goto fail;
	ss_log(SS_LOG_INFO, "API server", SS_LS("server", kube_client_server(client)),
	       SS_LS("namespaces", ns.n ? ns_list : "(all)"));
	if (check_apis(&snapshot_api, &restore_api, &stopped, client) < 0) {
		if (!stopped)
			goto fail;
		ss_log(SS_LOG_INFO, "stopped by a signal during start-up");
		rc = 0;
		goto done;
	}
	if (!snapshot_api)
		ss_log(SS_LOG_WARN,
		       "Backups will fail with SnapshotAPIMissing until the "
		       "VolumeSnapshot API is installed and snapstage restarted");

	/* With an election, the Lease gets a client of its own and every other
	 * write is fenced by leadership (ctrl_manager_write_gate). */
	if (options.leader_elect && kube_client_new(&lease_client, cfg, &copts) < 0)
		goto fail;
	mopts.options = &options;
	mopts.client = client;
	mopts.lease_client = lease_client;
	mopts.metrics = metrics;
	if (ctrl_manager_new(&manager, &mopts) < 0)
		goto fail;
	if (options.leader_elect)
		kube_client_set_write_gate(client, ctrl_manager_write_gate, manager);
	eopts.client = client;
	eopts.controller = "snapstage.io/controller";
	if (ctrl_events_new(&events, &eopts) < 0)
		goto fail;

	/* The Backup controller: Backups, the Pods it picks a server from, and
	 * the VolumeSnapshots whose cuts it waits for (when served: a cache
	 * that can never sync would hold every controller back). */
	if (informer(&backups_inf, manager, client, &app_backups, "Backup", &ns,
		     metrics) < 0 ||
	    ctrl_informer_add_index(backups_inf, APP_INDEX_SCHEDULE, ctrl_index_by_label,
				    (void *)APP_LABEL_SCHEDULE) < 0 ||
	    informer(&pods_inf, manager, client, &pods, "Pod", &ns, metrics) < 0 ||
	    ctrl_informer_add_index(pods_inf, APP_INDEX_NAMESPACE,
				    ctrl_index_by_namespace, NULL) < 0)
		goto fail;
	if (snapshot_api) {
		if (informer(&snapshots_inf, manager, client, &app_volumesnapshots,
			     "VolumeSnapshot", &ns, metrics) < 0)
			goto fail;
	} else if (ctrl_store_new(&empty_snapshots) < 0) {
		goto fail;
	}
	bopts.client = client;
	bopts.backups = ctrl_informer_store(backups_inf);
	bopts.pods = ctrl_informer_store(pods_inf);
	bopts.snapshots =
		snapshots_inf ? ctrl_informer_store(snapshots_inf) : empty_snapshots;
	bopts.snapshot_api_missing = !snapshot_api;
	bopts.events = events;
	bopts.metrics = metrics;
	if (app_backup_ctrl_new(&backup_ctrl, &bopts) < 0)
		goto fail;
	if (backup_controller_new(&backup_controller, manager, backups_inf, backup_ctrl,
				  options.workers, metrics) < 0)
		goto fail;
	app_backup_ctrl_set_queue(backup_ctrl, ctrl_controller_queue(backup_controller));
	{
		ctrl_handlers sh = { app_backup_on_snapshot,
				     app_backup_on_snapshot_update,
				     app_backup_on_snapshot, backup_ctrl };

		if (snapshots_inf && ctrl_informer_add_handlers(snapshots_inf, &sh) < 0)
			goto fail;
	}

	/* The BackupSchedule controller: schedules, the Backups they made
	 * (from the Backup informer's cache, by the snapstage.io/schedule
	 * label), the Pods their targets name and the Restores that hold
	 * their Backups (when the Restore CRD is served). */
	if (informer(&schedules_inf, manager, client, &app_backupschedules,
		     "BackupSchedule", &ns, metrics) < 0)
		goto fail;
	if (restore_api && (informer(&restores_inf, manager, client, &app_restores,
				     "Restore", &ns, metrics) < 0 ||
			    ctrl_informer_add_index(restores_inf, APP_INDEX_NAMESPACE,
						    ctrl_index_by_namespace, NULL) < 0))
		goto fail;
	sopts.client = client;
	sopts.schedules = ctrl_informer_store(schedules_inf);
	sopts.backups = ctrl_informer_store(backups_inf);
	sopts.pods = ctrl_informer_store(pods_inf);
	sopts.restores = restores_inf ? ctrl_informer_store(restores_inf) : NULL;
	sopts.snapshot_api_missing = !snapshot_api;
	sopts.events = events;
	sopts.metrics = metrics;
	if (app_schedule_ctrl_new(&schedule_ctrl, &sopts) < 0)
		goto fail;
	if (controller(&schedule_controller, manager, schedules_inf, "schedule",
		       app_schedule_reconcile, schedule_ctrl, options.workers,
		       metrics) < 0)
		goto fail;
	app_schedule_ctrl_set_queue(schedule_ctrl,
				    ctrl_controller_queue(schedule_controller));
	{
		ctrl_handlers bh = { app_schedule_on_backup,
				     app_schedule_on_backup_update,
				     app_schedule_on_backup, schedule_ctrl };
		ctrl_handlers rh = { app_schedule_on_restore,
				     app_schedule_on_restore_update,
				     app_schedule_on_restore, schedule_ctrl };

		if (ctrl_informer_add_handlers(backups_inf, &bh) < 0 ||
		    (restores_inf && ctrl_informer_add_handlers(restores_inf, &rh) < 0))
			goto fail;
	}
	/* The Restore controller: Restores (the informer above), the Backups
	 * they restore from. */
	if (restores_inf) {
		ropts.client = client;
		ropts.restores = ctrl_informer_store(restores_inf);
		ropts.backups = ctrl_informer_store(backups_inf);
		ropts.pods = ctrl_informer_store(pods_inf);
		ropts.schedules = ctrl_informer_store(schedules_inf);
		ropts.events = events;
		ropts.metrics = metrics;
		ropts.enable_in_place = options.enable_in_place_restore;
		if (app_restore_ctrl_new(&restore_ctrl, &ropts) < 0 ||
		    controller(&restore_controller, manager, restores_inf, "restore",
			       app_restore_reconcile, restore_ctrl, options.workers,
			       metrics) < 0)
			goto fail;
	}
	rc = ctrl_manager_run(manager);
	if (rc == SS_ECANCELLED) {
		/* Reconciles may still be running: exit without freeing under them. */
		fflush(NULL);
		_Exit(1);
	}
	if (rc < 0)
		goto fail;
	rc = 0;
	goto done;
fail:
	ss_log(SS_LOG_ERROR, "snapstage failed", SS_LERR());
	rc = 1;
done:
	if (events)
		ctrl_events_flush(events, 2 * SS_NS_PER_SEC);
	/* Its sender thread writes through the client, whose write gate asks
	 * the manager: joined before the manager goes. */
	ctrl_events_free(events);
	ctrl_manager_free(manager);
	ctrl_controller_free(restore_controller);
	app_restore_ctrl_free(restore_ctrl);
	ctrl_controller_free(schedule_controller);
	app_schedule_ctrl_free(schedule_ctrl);
	ctrl_controller_free(backup_controller);
	app_backup_ctrl_free(backup_ctrl);
	ctrl_informer_free(snapshots_inf);
	ctrl_informer_free(pods_inf);
	ctrl_informer_free(schedules_inf);
	ctrl_informer_free(restores_inf);
	ctrl_informer_free(backups_inf);
	ctrl_store_free(empty_snapshots);
	kube_client_free(client);
	kube_client_free(lease_client);
	kube_config_free(cfg);
	ctrl_metrics_free(metrics);
	kube_global_cleanup();
	return rc;
}
