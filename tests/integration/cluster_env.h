/*
 * cluster_env.h — what an integration test knows about the local test
 * cluster started by hack/cluster.sh: read from the `env` file in
 * $SNAPSTAGE_CLUSTER_DIR, so the tests need nothing else from the shell.
 */
#ifndef SNAPSTAGE_TESTS_CLUSTER_ENV_H
#define SNAPSTAGE_TESTS_CLUSTER_ENV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "kube/client.h"
#include "util/error.h"

#define IT_VALUE_MAX 600

/* Fails the test when `expr` (an int error return) is not 0, printing the
 * expression and the thread's last error message. */
#define IT_CHECK(expr)                                                                   \
	do {                                                                             \
		int rc_ = (expr);                                                        \
		if (rc_ != 0) {                                                          \
			print_error("%s:%d: %s -> %d (%s)\n", __FILE__, __LINE__, #expr, \
				    rc_, ss_error_last()->message);                      \
			fail();                                                          \
		}                                                                        \
	} while (0)

/* Sleeps `ms` milliseconds of real time. */
void it_sleep_ms(long ms);

typedef struct {
	char dir[IT_VALUE_MAX];
	char kubeconfig[IT_VALUE_MAX];
	char kubeconfig_unprivileged[IT_VALUE_MAX];
	char apiserver_url[IT_VALUE_MAX];
	char etcd_url[IT_VALUE_MAX];
	char ca_file[IT_VALUE_MAX];
	char admin_token_file[IT_VALUE_MAX];
	char admin_cert_file[IT_VALUE_MAX];
	char admin_key_file[IT_VALUE_MAX];
} it_cluster;

/* Loads $SNAPSTAGE_CLUSTER_DIR/env; fails the test (cmocka) if absent. */
void it_cluster_load(it_cluster *out);

/* A client from a kubeconfig path; fails the test on error. */
kube_client *it_client_from_kubeconfig(const char *path);

/* A namespace named PREFIX-<random> created for the test; the name is
 * written to `out`. */
void it_namespace_create(kube_client *c, const char *prefix, char *out, size_t cap);
void it_namespace_delete(kube_client *c, const char *name);

/* Compacts etcd's history up to its current revision, as the API server
 * does periodically; afterwards older resourceVersions are gone. */
void it_etcd_compact(const it_cluster *cl);

/* Restarts the kube-apiserver on the same port (hack/cluster.sh
 * restart-apiserver) and returns once it is ready; fails the test if it
 * does not come back. The new server's watch caches start at etcd's current
 * revision, so watches from older resourceVersions are then too old. */
void it_apiserver_restart(const it_cluster *cl);

#endif
