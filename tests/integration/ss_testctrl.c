/*
 * ss_testctrl.c — a minimal operator built on the controller runtime, for
 * the integration tests: the same manager as snapstage (flags, probes,
 * metrics, leader election, signals) running one controller over the
 * ConfigMaps of --namespace that marks each one it reconciles with the
 * annotation it.snapstage.io/reconciled-by=<identity>.
 *
 * The identity comes from $SS_TESTCTRL_IDENTITY so a test can tell which of
 * several processes did the work. It takes snapstage's flags.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ctrl/controller.h"
#include "ctrl/informer.h"
#include "ctrl/manager.h"
#include "ctrl/object.h"
#include "kube/config.h"
#include "kube/rest.h"
#include "util/error.h"
#include "util/log.h"

#define MARK "it.snapstage.io/reconciled-by"

static const kube_resource configmaps = { "", "v1", "configmaps", true };

typedef struct {
	kube_client *client;
	ctrl_informer *informer;
	const char *identity;
} testctrl;

static ctrl_result reconcile(void *payload, const char *key)
{
	testctrl *t = payload;
	char ns[CTRL_KEY_MAX], name[CTRL_KEY_MAX];
	json_t *obj = NULL, *patch;
	int error;

	if (ctrl_store_get(&obj, ctrl_informer_store(t->informer), key) < 0)
		return ctrl_result_done(); /* deleted: nothing to do */
	if (ctrl_annotation(obj, MARK)) {
		json_decref(obj);
		return ctrl_result_done();
	}
	json_decref(obj);
	ctrl_key_split(key, ns, sizeof(ns), name, sizeof(name));
	patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", MARK, t->identity);
	error = kube_patch(NULL, t->client, &configmaps, ns, name, KUBE_PATCH_MERGE,
			   patch, NULL);
	json_decref(patch);
	if (error == SS_ENOTFOUND)
		return ctrl_result_done();
	return error < 0 ? ctrl_result_error() : ctrl_result_done();
}

int main(int argc, char **argv)
{
	ctrl_options options;
	kube_config_sources src;
	kube_config *cfg = NULL;
	kube_client_opts copts = KUBE_CLIENT_OPTS_INIT;
	ctrl_metrics *metrics = NULL;
	ctrl_manager *manager = NULL;
	ctrl_manager_opts mopts = { 0 };
	ctrl_informer_opts iopts = { 0 };
	ctrl_controller_opts copt = CTRL_CONTROLLER_OPTS_INIT;
	ctrl_controller *controller = NULL;
	ctrl_handlers handlers = { 0 };
	testctrl t = { 0 };
	int rc;

	ctrl_manager_block_signals();
	ctrl_options_init(&options);
	rc = ctrl_options_parse(&options, argc, argv, "test", stdout);
	if (rc != CTRL_OPTIONS_RUN) {
		if (rc < 0)
			fprintf(stderr, "ss_testctrl: %s\n", ss_error_last()->message);
		return rc < 0 ? 2 : 0;
	}
	ss_log_configure(options.log_level, options.log_format, NULL);
	t.identity = getenv("SS_TESTCTRL_IDENTITY");
	if (!t.identity || options.n_namespaces != 1) {
		fprintf(stderr,
			"ss_testctrl: needs $SS_TESTCTRL_IDENTITY and one --namespace\n");
		return 2;
	}
	kube_global_init();
	ctrl_metrics_new(&metrics);
	kube_config_sources_from_env(&src, options.kubeconfig, options.context);
	copts.on_request = ctrl_metrics_observe_api;
	copts.on_request_payload = metrics;
	if (kube_config_load(&cfg, &src) < 0 ||
	    kube_client_new(&t.client, cfg, &copts) < 0)
		goto fail;

	iopts.client = t.client;
	iopts.resource = &configmaps;
	iopts.ns = options.namespaces[0];
	iopts.kind = "ConfigMap";
	iopts.metrics = metrics;
	iopts.backoff_max_ns = 2 * SS_NS_PER_SEC; /* tests wait for retries */
	copt.name = "configmaps";
	copt.workers = options.workers;
	copt.reconcile = reconcile;
	copt.payload = &t;
	copt.metrics = metrics;
	if (ctrl_informer_new(&t.informer, &iopts) < 0 ||
	    ctrl_controller_new(&controller, &copt) < 0)
		goto fail;
	handlers = ctrl_controller_key_handlers(controller);
	mopts.options = &options;
	mopts.client = t.client;
	mopts.metrics = metrics;
	mopts.identity = t.identity;
	if (ctrl_informer_add_handlers(t.informer, &handlers) < 0 ||
	    ctrl_manager_new(&manager, &mopts) < 0 ||
	    ctrl_manager_add_informer(manager, t.informer) < 0 ||
	    ctrl_manager_add_controller(manager, controller) < 0)
		goto fail;
	rc = ctrl_manager_run(manager);
	if (rc == SS_ECANCELLED) {
		fflush(NULL);
		_Exit(1);
	}
	if (rc < 0)
		goto fail;
	rc = 0;
	goto done;
fail:
	ss_log(SS_LOG_ERROR, "ss_testctrl failed", SS_LERR());
	rc = 1;
done:
	ctrl_manager_free(manager);
	ctrl_controller_free(controller);
	ctrl_informer_free(t.informer);
	kube_client_free(t.client);
	kube_config_free(cfg);
	ctrl_metrics_free(metrics);
	kube_global_cleanup();
	return rc;
}
