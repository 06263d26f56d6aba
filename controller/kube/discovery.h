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

#endif
