/*
 * discovery.h — asking the API server what it serves.
 *
 * Used to say clearly "the VolumeSnapshot API is not installed" instead of
 * failing later with a bare 404.
 *
 * Thread-safety: as kube_client.
 */
#ifndef SNAPSTAGE_KUBE_DISCOVERY_H
#define SNAPSTAGE_KUBE_DISCOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "kube/client.h"

typedef struct {
	char kind[128]; /* e.g. "VolumeSnapshot" */
	bool namespaced;
} kube_resource_info;

/* 0 and *out filled when group/version serves `resource` (a plural, e.g.
 * "volumesnapshots"; group "" is the core group). SS_ENOTFOUND, with a
 * message naming what is missing, when the group/version or the resource is
 * not served. `out` may be NULL. */
int kube_discover_resource(kube_resource_info *out, kube_client *c, const char *group,
			   const char *version, const char *resource);

/* Waits between tries of kube_discover_served: sleeps about `wait_ns` (or
 * less) and returns true to try again, false to give up. Told the error of
 * the try that failed (ss_error_last) so it can log it. */
typedef bool (*kube_discover_wait_fn)(void *payload, int64_t wait_ns);

/* Whether `resource` is served, asked until the API server has answered:
 * 0 with *served true (served) or false (SS_ENOTFOUND: not served). Any
 * other failure (no connection, a timeout, a 5xx, ...) says nothing about
 * what is served, nor does a 404 while the API server is not ready (GET
 * /readyz fails: a restarted kube-apiserver serves CRD groups only once its
 * CRD informers have synced), so the question is asked again after `wait`
 * has waited
 * 1, 2, 4 ... at most 10 s; when `wait` returns false, that failure's code
 * is returned and *served is left alone. A process that starts while the
 * API server is down or restarting must not conclude "not served": it
 * would run without the controllers of that API until its next restart. */
int kube_discover_served(bool *served, kube_client *c, const char *group,
			 const char *version, const char *resource,
			 kube_discover_wait_fn wait, void *payload);

#endif
