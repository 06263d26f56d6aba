/*
 * main.c — the snapstage executable: parse flags and wire the layers.
 *
 * main() only wires, in these steps:
 *   1. parse the flags and configure logging (parse_flags);
 *   2. build the client, with API request metrics (connect_api_server);
 *   3. check which APIs the cluster serves (check_apis);
 *   4. make the controller runtime's manager (probes, metrics, leader
 *      election, a clean shutdown on SIGTERM) and the Events recorder
 *      (make_manager);
 *   5. make the informers (informer_specs) and the backup, schedule and
 *      restore controllers over them (make_*_controller);
 *   6. run the manager until a signal or a lost lease (serve);
 *   7. free everything (cleanup).
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
#include "app/verify/verify.h"
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

/* The informers, in the order they are made (and started). */
enum { INF_BACKUPS, INF_PODS, INF_SNAPSHOTS, INF_SCHEDULES, INF_RESTORES, N_INFORMERS };

/* An informer to make: what it lists and watches, and the secondary index
 * (none when `index` is NULL) the controllers read its cache by. */
typedef struct {
	const kube_resource *resource;
	const char *kind;
	const char *index;
	ctrl_index_fn index_fn;
	void *index_payload;
} informer_spec;

static const informer_spec informer_specs[N_INFORMERS] = {
	[INF_BACKUPS] = { &app_backups, "Backup", APP_INDEX_SCHEDULE,
			  ctrl_index_by_label, (void *)APP_LABEL_SCHEDULE },
	[INF_PODS] = { &pods, "Pod", APP_INDEX_NAMESPACE, ctrl_index_by_namespace,
		       NULL },
	[INF_SNAPSHOTS] = { &app_volumesnapshots, "VolumeSnapshot", NULL, NULL, NULL },
	[INF_SCHEDULES] = { &app_backupschedules, "BackupSchedule", NULL, NULL, NULL },
	[INF_RESTORES] = { &app_restores, "Restore", APP_INDEX_NAMESPACE,
			   ctrl_index_by_namespace, NULL },
};

/* The namespaces --namespace named, as the informers take them: `names`
 * points into the options; n 0 means all namespaces. */
typedef struct {
	const char *names[CTRL_OPTIONS_MAX_NAMESPACES];
	size_t n;
} watched;

/* Everything main() makes. NULL parts were not made (or are not needed:
 * an API the cluster does not serve); cleanup() frees what was. */
typedef struct {
	ctrl_options options;
	watched ns;
	kube_config *cfg;
	kube_client_opts copts;
	kube_client *client;
	kube_client *lease_client; /* with --leader-elect only */
	ctrl_metrics *metrics;
	ctrl_manager *manager;
	ctrl_events *events;
	bool snapshot_api, restore_api;
	bool stopped; /* by a signal during start-up */
	ctrl_informer *inf[N_INFORMERS];
	/* Stands in for the VolumeSnapshot cache when that API is not served. */
	ctrl_store *empty_snapshots;
	app_backup_ctrl *backup_ctrl;
	ctrl_controller *backup_controller;
	app_schedule_ctrl *schedule_ctrl;
	ctrl_controller *schedule_controller;
	app_restore_ctrl *restore_ctrl;
	ctrl_controller *restore_controller;
	app_verify_ctrl *verify_ctrl;
	ctrl_controller *verify_controller;
} snapstage;

static void watched_from(watched *w, const ctrl_options *o)
{
	size_t i;

	for (i = 0; i < o->n_namespaces; i++)
		w->names[i] = o->namespaces[i];
	w->n = o->n_namespaces;
}

/* "a,b" into buf (cap bytes: room for every name), for the log. */
static void watched_list(char *buf, size_t cap, const watched *w)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < w->n && used < cap; i++)
		used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? "," : "",
					 w->names[i]);
}

/* The informer `which` of informer_specs, in the watched namespace(s),
 * added to the manager, with its index. */
static int make_informer(snapstage *s, int which)
{
	const informer_spec *spec = &informer_specs[which];
	ctrl_informer_opts o = { 0 };

	o.client = s->client;
	o.resource = spec->resource;
	o.namespaces = s->ns.names;
	o.n_namespaces = s->ns.n;
	o.kind = spec->kind;
	o.metrics = s->metrics;
	if (ctrl_informer_new(&s->inf[which], &o) < 0 ||
	    ctrl_manager_add_informer(s->manager, s->inf[which]) < 0)
		return -1;
	if (spec->index && ctrl_informer_add_index(s->inf[which], spec->index,
						   spec->index_fn, spec->index_payload) < 0)
		return -1;
	return 0;
}

/* The store of informer `which`, or NULL when it was not made. */
static ctrl_store *store_of(const snapstage *s, int which)
{
	return s->inf[which] ? ctrl_informer_store(s->inf[which]) : NULL;
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

/* A controller `name` with --workers workers, as add_controller(). */
static int controller(ctrl_controller **out, snapstage *s, int primary, const char *name,
		      ctrl_reconcile_fn reconcile, void *payload)
{
	ctrl_controller_opts o = CTRL_CONTROLLER_OPTS_INIT;

	o.name = name;
	o.workers = s->options.workers;
	o.reconcile = reconcile;
	o.payload = payload;
	o.metrics = s->metrics;
	return add_controller(out, s->manager, s->inf[primary], &o);
}

/* Step 1: the flags, then logging as they say. false: exit with *exit_code
 * (0 after --help/--version, 2 on bad flags). */
static bool parse_flags(snapstage *s, int argc, char **argv, int *exit_code)
{
	int rc;

	ctrl_options_init(&s->options);
	rc = ctrl_options_parse(&s->options, argc, argv, SNAPSTAGE_VERSION, stdout);
	if (rc == CTRL_OPTIONS_EXIT) {
		*exit_code = 0;
		return false;
	}
	if (rc < 0) {
		fprintf(stderr, "snapstage: %s\n", ss_error_last()->message);
		*exit_code = 2;
		return false;
	}
	ss_log_configure(s->options.log_level, s->options.log_format, NULL);
	ss_log(SS_LOG_INFO, "starting", SS_LS("version", SNAPSTAGE_VERSION));
	watched_from(&s->ns, &s->options);
	return true;
}

/* Step 2: the client, with API request metrics. */
static int connect_api_server(snapstage *s)
{
	char ns_list[CTRL_OPTIONS_MAX_NAMESPACES * CTRL_OPTIONS_NAMESPACE_CAP];
	kube_config_sources src;

	watched_list(ns_list, sizeof(ns_list), &s->ns);
	if (kube_global_init() < 0 || ctrl_metrics_new(&s->metrics) < 0)
		return -1;
	kube_config_sources_from_env(&src, s->options.kubeconfig, s->options.context);
	if (kube_config_load(&s->cfg, &src) < 0)
		return -1;
	s->copts.user_agent = "snapstage/" SNAPSTAGE_VERSION;
	s->copts.on_request = ctrl_metrics_observe_api;
	s->copts.on_request_payload = s->metrics;
	if (kube_client_new(&s->client, s->cfg, &s->copts) < 0)
		return -1;
	ss_log(SS_LOG_INFO, "API server", SS_LS("server", kube_client_server(s->client)),
	       SS_LS("namespaces", s->ns.n ? ns_list : "(all)"));
	return 0;
}

/* Step 4: the manager (probes, metrics, leader election) and the Events
 * recorder. With an election, the Lease gets a client of its own and every
 * other write is fenced by leadership (ctrl_manager_write_gate). */
static int make_manager(snapstage *s)
{
	ctrl_manager_opts mopts = { 0 };
	ctrl_events_opts eopts = CTRL_EVENTS_OPTS_INIT;

	if (s->options.leader_elect &&
	    kube_client_new(&s->lease_client, s->cfg, &s->copts) < 0)
		return -1;
	mopts.options = &s->options;
	mopts.client = s->client;
	mopts.lease_client = s->lease_client;
	mopts.metrics = s->metrics;
	if (ctrl_manager_new(&s->manager, &mopts) < 0)
		return -1;
	if (s->options.leader_elect)
		kube_client_set_write_gate(s->client, ctrl_manager_write_gate, s->manager);
	eopts.client = s->client;
	eopts.controller = "snapstage.io/controller";
	return ctrl_events_new(&s->events, &eopts);
}

/* Step 5a: the Backup controller: Backups, the Pods it picks a server from,
 * and the VolumeSnapshots whose cuts it waits for (when served: a cache
 * that can never sync would hold every controller back). Its lane has as
 * many workers for the lock sessions (app/backup/backup.h), so that they
 * never hold the workers the other steps need, and at most --workers
 * databases are locked at once. */
static int make_backup_controller(snapstage *s)
{
	app_backup_ctrl_opts bopts = { 0 };
	ctrl_controller_opts o = CTRL_CONTROLLER_OPTS_INIT;
	ctrl_handlers sh;

	if (make_informer(s, INF_BACKUPS) < 0 || make_informer(s, INF_PODS) < 0)
		return -1;
	if (s->snapshot_api) {
		if (make_informer(s, INF_SNAPSHOTS) < 0)
			return -1;
	} else if (ctrl_store_new(&s->empty_snapshots) < 0) {
		return -1;
	}
	bopts.client = s->client;
	bopts.backups = store_of(s, INF_BACKUPS);
	bopts.pods = store_of(s, INF_PODS);
	bopts.snapshots = s->inf[INF_SNAPSHOTS] ? store_of(s, INF_SNAPSHOTS)
						: s->empty_snapshots;
	bopts.snapshot_api_missing = !s->snapshot_api;
	bopts.events = s->events;
	bopts.metrics = s->metrics;
	if (app_backup_ctrl_new(&s->backup_ctrl, &bopts) < 0)
		return -1;
	o.name = "backup";
	o.workers = s->options.workers;
	o.reconcile = app_backup_reconcile;
	o.payload = s->backup_ctrl;
	o.metrics = s->metrics;
	o.lane_workers = s->options.workers;
	o.lane_name = "backup-session";
	o.lane_reconcile = app_backup_reconcile_session;
	if (add_controller(&s->backup_controller, s->manager, s->inf[INF_BACKUPS], &o) < 0)
		return -1;
	app_backup_ctrl_set_queue(s->backup_ctrl,
				  ctrl_controller_queue(s->backup_controller));
	sh = (ctrl_handlers){ app_backup_on_snapshot, app_backup_on_snapshot_update,
			      app_backup_on_snapshot, s->backup_ctrl };
	if (s->inf[INF_SNAPSHOTS] && ctrl_informer_add_handlers(s->inf[INF_SNAPSHOTS], &sh) < 0)
		return -1;
	return 0;
}

/* Step 5b: the BackupSchedule controller: schedules, the Backups they made
 * (from the Backup informer's cache, by the snapstage.io/schedule label),
 * the Pods their targets name and the Restores that hold their Backups
 * (when the Restore CRD is served). */
static int make_schedule_controller(snapstage *s)
{
	app_schedule_ctrl_opts sopts = { 0 };
	ctrl_handlers bh, rh;

	if (make_informer(s, INF_SCHEDULES) < 0 ||
	    (s->restore_api && make_informer(s, INF_RESTORES) < 0))
		return -1;
	sopts.client = s->client;
	sopts.schedules = store_of(s, INF_SCHEDULES);
	sopts.backups = store_of(s, INF_BACKUPS);
	sopts.pods = store_of(s, INF_PODS);
	sopts.restores = store_of(s, INF_RESTORES);
	sopts.snapshot_api_missing = !s->snapshot_api;
	sopts.events = s->events;
	sopts.metrics = s->metrics;
	if (app_schedule_ctrl_new(&s->schedule_ctrl, &sopts) < 0 ||
	    controller(&s->schedule_controller, s, INF_SCHEDULES, "schedule",
		       app_schedule_reconcile, s->schedule_ctrl) < 0)
		return -1;
	app_schedule_ctrl_set_queue(s->schedule_ctrl,
				    ctrl_controller_queue(s->schedule_controller));
	bh = (ctrl_handlers){ app_schedule_on_backup, app_schedule_on_backup_update,
			      app_schedule_on_backup, s->schedule_ctrl };
	rh = (ctrl_handlers){ app_schedule_on_restore, app_schedule_on_restore_update,
			      app_schedule_on_restore, s->schedule_ctrl };
	if (ctrl_informer_add_handlers(s->inf[INF_BACKUPS], &bh) < 0 ||
	    (s->inf[INF_RESTORES] && ctrl_informer_add_handlers(s->inf[INF_RESTORES], &rh) < 0))
		return -1;
	return 0;
}

/* Step 5c: the Restore controller (when the Restore CRD is served):
 * Restores (the informer made for the schedules), the Backups they restore
 * from. */
static int make_restore_controller(snapstage *s)
{
	app_restore_ctrl_opts ropts = { 0 };

	if (!s->inf[INF_RESTORES])
		return 0;
	ropts.client = s->client;
	ropts.restores = store_of(s, INF_RESTORES);
	ropts.backups = store_of(s, INF_BACKUPS);
	ropts.pods = store_of(s, INF_PODS);
	ropts.schedules = store_of(s, INF_SCHEDULES);
	ropts.events = s->events;
	ropts.metrics = s->metrics;
	ropts.enable_in_place = s->options.enable_in_place_restore;
	ropts.enable_replay = s->options.enable_point_in_time_restore;
	if (app_restore_ctrl_new(&s->restore_ctrl, &ropts) < 0 ||
	    controller(&s->restore_controller, s, INF_RESTORES, "restore",
		       app_restore_reconcile, s->restore_ctrl) < 0)
		return -1;
	return 0;
}

/* Step 5d: the verify controller (with --enable-verification and the
 * snapshot API served): Backups again, under their own workqueue, with
 * the schedules (their verification options) and Restores (in-place ones
 * hold a database) from the caches the others made. */
static int make_verify_controller(snapstage *s)
{
	app_verify_ctrl_opts vopts = { 0 };

	if (!s->options.enable_verification || !s->snapshot_api)
		return 0;
	vopts.client = s->client;
	vopts.backups = store_of(s, INF_BACKUPS);
	vopts.pods = store_of(s, INF_PODS);
	vopts.schedules = store_of(s, INF_SCHEDULES);
	vopts.restores = store_of(s, INF_RESTORES);
	vopts.events = s->events;
	vopts.metrics = s->metrics;
	if (app_verify_ctrl_new(&s->verify_ctrl, &vopts) < 0 ||
	    controller(&s->verify_controller, s, INF_BACKUPS, "verify",
		       app_verify_reconcile, s->verify_ctrl) < 0)
		return -1;
	return 0;
}

/* Steps 2-6. Returns the exit code; a lost lease exits here at once. */
static int serve(snapstage *s)
{
	int rc;

	if (connect_api_server(s) < 0)
		goto fail;
	if (check_apis(&s->snapshot_api, &s->restore_api, &s->stopped, s->client) < 0) {
		if (!s->stopped)
			goto fail;
		ss_log(SS_LOG_INFO, "stopped by a signal during start-up");
		return 0;
	}
	if (!s->snapshot_api)
		ss_log(SS_LOG_WARN,
		       "Backups will fail with SnapshotAPIMissing until the "
		       "VolumeSnapshot API is installed and snapstage restarted");
	if (make_manager(s) < 0 || make_backup_controller(s) < 0 ||
	    make_schedule_controller(s) < 0 || make_restore_controller(s) < 0 ||
	    make_verify_controller(s) < 0)
		goto fail;
	rc = ctrl_manager_run(s->manager);
	if (rc == SS_ECANCELLED) {
		/* Reconciles may still be running: exit without freeing under them. */
		fflush(NULL);
		_Exit(1);
	}
	if (rc < 0)
		goto fail;
	return 0;
fail:
	ss_log(SS_LOG_ERROR, "snapstage failed", SS_LERR());
	return 1;
}

/* Step 7: Events flushed, then everything freed, users before what they
 * use. */
static void cleanup(snapstage *s)
{
	if (s->events)
		ctrl_events_flush(s->events, 2 * SS_NS_PER_SEC);
	/* Its sender thread writes through the client, whose write gate asks
	 * the manager: joined before the manager goes. */
	ctrl_events_free(s->events);
	ctrl_manager_free(s->manager);
	ctrl_controller_free(s->restore_controller);
	app_restore_ctrl_free(s->restore_ctrl);
	ctrl_controller_free(s->verify_controller);
	app_verify_ctrl_free(s->verify_ctrl);
	ctrl_controller_free(s->schedule_controller);
	app_schedule_ctrl_free(s->schedule_ctrl);
	ctrl_controller_free(s->backup_controller);
	app_backup_ctrl_free(s->backup_ctrl);
	ctrl_informer_free(s->inf[INF_SNAPSHOTS]);
	ctrl_informer_free(s->inf[INF_PODS]);
	ctrl_informer_free(s->inf[INF_SCHEDULES]);
	ctrl_informer_free(s->inf[INF_RESTORES]);
	ctrl_informer_free(s->inf[INF_BACKUPS]);
	ctrl_store_free(s->empty_snapshots);
	kube_client_free(s->client);
	kube_client_free(s->lease_client);
	kube_config_free(s->cfg);
	ctrl_metrics_free(s->metrics);
	kube_global_cleanup();
}

int main(int argc, char **argv)
{
	snapstage s = { 0 };
	int exit_code;

	s.copts = (kube_client_opts)KUBE_CLIENT_OPTS_INIT;
	/* Before any thread exists, so signals reach only the manager's. */
	ctrl_manager_block_signals();
	if (!parse_flags(&s, argc, argv, &exit_code))
		return exit_code;
	exit_code = serve(&s);
	cleanup(&s);
	return exit_code;
}
