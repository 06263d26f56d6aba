/*
 * main.c — the snapstage executable: parse flags and wire the layers.
 *
 * It builds the client (with API request metrics), checks which APIs the
 * cluster serves, and hands everything to the controller runtime's manager:
 * probes, metrics, leader election and a clean shutdown on SIGTERM. The
 * backup, schedule and restore controllers register here as they arrive.
 * Nothing here holds logic worth testing on its own.
 *
 * Exit codes: 0 after a clean shutdown or --help/--version; 1 on a runtime
 * failure or a lost lease; 2 on bad flags.
 */
#include <stdio.h>
#include <stdlib.h>

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

/* Says, at start-up, which APIs snapstage needs and whether they are served,
 * so a missing CRD is a clear log line rather than a stream of 404s. */
static void check_api(kube_client *client, const char *group, const char *version,
		      const char *resource)
{
	if (kube_discover_resource(NULL, client, group, version, resource) == 0)
		ss_log(SS_LOG_INFO, "API served", SS_LS("resource", resource),
		       SS_LS("group", group), SS_LS("version", version));
	else
		ss_log(SS_LOG_WARN, "API not served", SS_LS("resource", resource),
		       SS_LS("group", group), SS_LS("version", version), SS_LERR());
}

int main(int argc, char **argv)
{
	ctrl_options options;
	kube_config_sources src;
	kube_config *cfg = NULL;
	kube_client *client = NULL;
	kube_client_opts copts = KUBE_CLIENT_OPTS_INIT;
	ctrl_metrics *metrics = NULL;
	ctrl_manager *manager = NULL;
	ctrl_manager_opts mopts = { 0 };
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
	       SS_LS("namespace", options.ns ? options.ns : "(all)"));
	check_api(client, "", "v1", "persistentvolumeclaims");
	check_api(client, "snapshot.storage.k8s.io", "v1", "volumesnapshots");
	check_api(client, "snapstage.io", "v1alpha1", "backups");

	mopts.options = &options;
	mopts.client = client;
	mopts.metrics = metrics;
	if (ctrl_manager_new(&manager, &mopts) < 0)
		goto fail;
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
	ctrl_manager_free(manager);
	kube_client_free(client);
	kube_config_free(cfg);
	ctrl_metrics_free(metrics);
	kube_global_cleanup();
	return rc;
}
