/*
 * main.c — the snapstage executable: parse flags and wire the layers.
 *
 * Today it connects to the API server and reports whether the APIs snapstage
 * needs are served; the controllers themselves arrive with the controller
 * runtime. Nothing here holds logic worth testing on its own.
 */
#include <stdio.h>
#include <string.h>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/discovery.h"
#include "util/error.h"

#ifndef SNAPSTAGE_VERSION
#define SNAPSTAGE_VERSION "dev"
#endif

static void usage(FILE *f)
{
	fputs("usage: snapstage [--kubeconfig FILE] [--context NAME]\n"
	      "       snapstage --version | --help\n"
	      "\n"
	      "Connects to the Kubernetes API server and reports whether the APIs\n"
	      "snapstage needs are served.\n",
	      f);
}

typedef struct {
	const char *kubeconfig;
	const char *context;
} flags;

/* 0 to run, 1 to exit successfully (help/version), -1 on a bad flag. */
static int parse_flags(flags *out, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char **target = NULL;
		size_t n;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			usage(stdout);
			return 1;
		}
		if (!strcmp(arg, "--version")) {
			printf("snapstage %s\n", SNAPSTAGE_VERSION);
			return 1;
		}
		if (!strncmp(arg, "--kubeconfig", n = strlen("--kubeconfig")))
			target = &out->kubeconfig;
		else if (!strncmp(arg, "--context", n = strlen("--context")))
			target = &out->context;
		if (!target || (arg[n] != '\0' && arg[n] != '=')) {
			fprintf(stderr, "snapstage: unknown flag '%s'\n", arg);
			usage(stderr);
			return -1;
		}
		if (arg[n] == '=') {
			*target = arg + n + 1;
		} else if (i + 1 < argc) {
			*target = argv[++i];
		} else {
			fprintf(stderr, "snapstage: flag %s needs a value\n", arg);
			return -1;
		}
	}
	return 0;
}

static void report_api(kube_client *client, const char *group, const char *version,
		       const char *resource)
{
	if (kube_discover_resource(NULL, client, group, version, resource) == 0)
		printf("  %-45s served\n", resource);
	else
		printf("  %-45s MISSING: %s\n", resource, ss_error_last()->message);
}

int main(int argc, char **argv)
{
	flags f = { 0 };
	kube_config_sources src;
	kube_config *cfg = NULL;
	kube_client *client = NULL;
	int rc = parse_flags(&f, argc, argv);

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (kube_global_init() < 0)
		goto fail;
	kube_config_sources_from_env(&src, f.kubeconfig, f.context);
	if (kube_config_load(&cfg, &src) < 0 || kube_client_new(&client, cfg, NULL) < 0)
		goto fail;
	printf("API server %s (namespace %s)\n", kube_client_server(client),
	       kube_client_namespace(client));
	report_api(client, "", "v1", "persistentvolumeclaims");
	report_api(client, "snapshot.storage.k8s.io", "v1", "volumesnapshots");
	report_api(client, "snapstage.io", "v1alpha1", "backups");
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "snapstage: %s\n", ss_error_last()->message);
	rc = 1;
done:
	kube_client_free(client);
	kube_config_free(cfg);
	kube_global_cleanup();
	return rc;
}
