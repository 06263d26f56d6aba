/*
 * bench_informer_rss.c — a benchmark, not a test: how much memory an
 * informer cache of many ConfigMaps costs, and how long the first list takes.
 *
 * Against the local cluster (run through hack/bench.sh): creates N
 * ConfigMaps (default 10,000) with a 1 KiB value in a fresh namespace,
 * starts an informer on that namespace, waits for it to sync, and prints the
 * process's resident set size before and after, the objects cached, and the
 * time to sync. Usage: bench_informer_rss [N]
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctrl/informer.h"
#include "kube/config.h"
#include "kube/rest.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

#define WRITERS 4

static const kube_resource configmaps = { "", "v1", "configmaps", true };
static const kube_resource namespaces = { "", "v1", "namespaces", false };

typedef struct {
	kube_client *client;
	const char *ns;
	int first, last;
	int failures;
} writer;

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		int64_t v;
		char *p, *end;

		if (strncmp(line, "VmRSS:", 6) != 0)
			continue;
		for (p = line + 6; *p == ' ' || *p == '\t'; p++)
			;
		end = strchr(p, ' ');
		if (end)
			*end = '\0';
		if (ss_parse_int64(&v, p, 0, INT64_MAX, "VmRSS") == 0)
			kib = (long)v;
	}
	fclose(f);
	return kib;
}

static void *write_some(void *arg)
{
	writer *w = arg;
	char value[1025], name[64];
	int i;

	memset(value, 'x', 1024);
	value[1024] = '\0';
	for (i = w->first; i < w->last; i++) {
		json_t *cm;

		snprintf(name, sizeof(name), "bench-%05d", i);
		cm = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1",
			       "kind", "ConfigMap", "metadata", "name", name, "labels",
			       "bench", "rss", "data", "value", value);
		if (kube_create(NULL, w->client, &configmaps, w->ns, cm) < 0 &&
		    ss_error_last()->code != SS_EEXISTS)
			w->failures++;
		json_decref(cm);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int64_t n = 10000, start;
	kube_config *cfg = NULL;
	kube_client *client = NULL;
	ctrl_informer *inf = NULL;
	ctrl_informer_opts opts = { 0 };
	kube_config_sources src;
	pthread_t threads[WRITERS];
	writer w[WRITERS];
	char ns[64];
	long before, after;
	json_t *nsobj;
	int i, failures = 0;

	if (argc > 1 && ss_parse_int64(&n, argv[1], 1, 1000000, "N") < 0) {
		fprintf(stderr, "%s\n", ss_error_last()->message);
		return 2;
	}
	kube_global_init();
	kube_config_sources_from_env(&src, NULL, NULL);
	if (kube_config_load(&cfg, &src) < 0 || kube_client_new(&client, cfg, NULL) < 0) {
		fprintf(stderr, "bench: %s\n", ss_error_last()->message);
		return 1;
	}
	snprintf(ns, sizeof(ns), "bench-%lx", (unsigned long)time(NULL));
	nsobj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
			  "metadata", "name", ns);
	if (kube_create(NULL, client, &namespaces, NULL, nsobj) < 0) {
		fprintf(stderr, "bench: %s\n", ss_error_last()->message);
		return 1;
	}
	json_decref(nsobj);

	start = ss_clock_mono(ss_clock_system());
	for (i = 0; i < WRITERS; i++) {
		w[i] = (writer){ client, ns, (int)(n * i / WRITERS),
				 (int)(n * (i + 1) / WRITERS), 0 };
		pthread_create(&threads[i], NULL, write_some, &w[i]);
	}
	for (i = 0; i < WRITERS; i++) {
		pthread_join(threads[i], NULL);
		failures += w[i].failures;
	}
	printf("created %lld ConfigMaps of 1 KiB in %.1f s (%d failed)\n", (long long)n,
	       (double)(ss_clock_mono(ss_clock_system()) - start) / 1e9, failures);

	before = rss_kib();
	opts.client = client;
	opts.resource = &configmaps;
	opts.ns = ns;
	opts.kind = "ConfigMap";
	start = ss_clock_mono(ss_clock_system());
	if (ctrl_informer_new(&inf, &opts) < 0 || ctrl_informer_start(inf) < 0 ||
	    ctrl_informer_wait_synced(inf, 300 * SS_NS_PER_SEC) < 0) {
		fprintf(stderr, "bench: %s\n", ss_error_last()->message);
		return 1;
	}
	after = rss_kib();
	printf("informer synced %zu objects in %.2f s\n",
	       ctrl_store_len(ctrl_informer_store(inf)),
	       (double)(ss_clock_mono(ss_clock_system()) - start) / 1e9);
	printf("RSS before the informer: %.1f MiB\n", before / 1024.0);
	printf("RSS with the cache:      %.1f MiB (cache and list: +%.1f MiB, %.0f bytes "
	       "per object)\n",
	       after / 1024.0, (after - before) / 1024.0,
	       (after - before) * 1024.0 / (double)n);
	malloc_trim(0);
	printf("RSS after malloc_trim:   %.1f MiB\n", rss_kib() / 1024.0);
	ctrl_informer_free(inf);
	kube_delete(NULL, client, &namespaces, NULL, ns, NULL);
	kube_client_free(client);
	kube_config_free(cfg);
	kube_global_cleanup();
	return failures ? 1 : 0;
}
