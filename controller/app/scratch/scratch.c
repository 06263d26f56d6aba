/*
 * scratch.c — see scratch.h.
 *
 * Layout: names and the owner; the metadata every scratch object carries;
 * the claims; the Pod (volumes, scheduling, containers); whether an object
 * is ours; the Pod's state and the one line that says why.
 *
 * Every decision here keeps the live database safe from its scratch copy:
 * the Pod's spec is a deep copy of the template's with what would tie it
 * to the live set (claims, labels, pod anti-affinity, replication) taken
 * out, and the `why` of a state is one bounded line, valid UTF-8, fit for
 * a condition message. Pure: no I/O, no clock; reentrant.
 */
#include "app/scratch/scratch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/dec.h"
#include "app/api/owner.h"
#include "app/api/volumesnapshot.h"
#include "ctrl/object.h"
#include "ctrl/writes.h"
#include "kube/quantity.h"
#include "util/error.h"
#include "util/str.h"

#define SKIP_SLAVE_START "--skip-slave-start"
/* The scratch readiness probe: a TCP connect every 2 s, so READY is seen
 * soon after the server listens (after InnoDB recovery). */
#define PROBE_PERIOD_SECONDS 2
/* The head of a `why` (container, state, exit code) before its message. */
#define WHY_HEAD_MAX 256
/* Messages longer than this are cut before cleaning: a Pod status message
 * is at most a few KiB (a termination message 4096 bytes), but a status
 * is data and its size is not ours to trust. */
#define WHY_MSG_MAX (64 * 1024)

static bool scratch_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

static const char *str_at(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static const json_t *at2(const json_t *obj, const char *a, const char *b)
{
	return json_object_get(json_object_get(obj, a), b);
}

/* ---- names and the owner ------------------------------------------------- */

/* What the names need: an owner with a name, and a purpose that is a DNS
 * label (it is in every name, and a label value). */
static int scratch_check_names(const app_scratch_for *f)
{
	if (f == NULL || f->owner == NULL || scratch_empty(ctrl_meta(f->owner, "name")))
		return ss_error_set(SS_EINVALID, "a scratch object needs an owner with "
						 "a name");
	if (scratch_empty(f->purpose) || !app_dec_is_dns_label(f->purpose))
		return ss_error_set(SS_EINVALID,
				    "scratch purpose \"%s\" is not a DNS label",
				    f->purpose != NULL ? f->purpose : "");
	return 0;
}

/* What an object needs on top: the owner's namespace and uid, and the
 * apiVersion and kind of its ownerReference. */
static int scratch_check_owner(const app_scratch_for *f)
{
	const char *ns, *uid;
	int rc = scratch_check_names(f);

	if (rc != 0)
		return rc;
	ns = ctrl_meta(f->owner, "namespace");
	uid = ctrl_meta(f->owner, "uid");
	if (scratch_empty(ns) || scratch_empty(uid) ||
	    scratch_empty(str_at(f->owner, "apiVersion")) ||
	    scratch_empty(str_at(f->owner, "kind")))
		return ss_error_set(
			SS_EINVALID,
			"the owner %s of a scratch object needs apiVersion, "
			"kind, namespace and uid (it has namespace %s, uid %s)",
			ctrl_meta(f->owner, "name"), ns != NULL ? ns : "none",
			uid != NULL ? uid : "none");
	return 0;
}

int app_scratch_pod_name(char *out, size_t cap, const app_scratch_for *f)
{
	int rc;

	if (out == NULL || cap < APP_NAME_BUF)
		return ss_error_set(SS_EINVALID, "a scratch name needs %d bytes",
				    APP_NAME_BUF);
	rc = scratch_check_names(f);
	if (rc != 0)
		return rc;
	return app_name_join(out, APP_LABEL_VALUE_MAX, ctrl_meta(f->owner, "name"),
			     f->purpose);
}

int app_scratch_claim_name(char *out, size_t cap, const app_scratch_for *f,
			   const char *volume)
{
	char head[APP_NAME_BUF];
	int rc;

	if (out == NULL || cap < APP_NAME_BUF)
		return ss_error_set(SS_EINVALID, "a scratch name needs %d bytes",
				    APP_NAME_BUF);
	if (scratch_empty(volume))
		return ss_error_set(SS_EINVALID, "a scratch claim needs a volume name");
	rc = scratch_check_names(f);
	if (rc != 0)
		return rc;
	/* "<owner>-<purpose>" uncut (up to 253), then cut to 63 as a whole
	 * with "-<volume>", so the hash covers all three parts. */
	rc = app_name_join(head, APP_NAME_MAX, ctrl_meta(f->owner, "name"), f->purpose);
	if (rc != 0)
		return rc;
	return app_name_join(out, APP_LABEL_VALUE_MAX, head, volume);
}

/* The volumes must each have a name (and, for claims, a VolumeSnapshot),
 * none twice: a name twice would make two claims of one name. */
static int scratch_check_volumes(const app_scratch_volume *v, size_t n, bool for_claims)
{
	size_t i, j;

	if (n > 0 && v == NULL)
		return ss_error_set(SS_EINVALID, "scratch volumes missing");
	for (i = 0; i < n; i++) {
		if (scratch_empty(v[i].volume))
			return ss_error_set(SS_EINVALID, "scratch volume %zu has no name",
					    i);
		if (for_claims && scratch_empty(v[i].snapshot))
			return ss_error_set(SS_EINVALID,
					    "scratch volume \"%s\" has no VolumeSnapshot",
					    v[i].volume);
		for (j = 0; j < i; j++) {
			if (strcmp(v[j].volume, v[i].volume) == 0)
				return ss_error_set(SS_EINVALID,
						    "scratch volume \"%s\" is listed "
						    "twice",
						    v[i].volume);
		}
	}
	return 0;
}

static const app_scratch_volume *scratch_find_volume(const app_scratch_volume *v,
						     size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ss_streq(v[i].volume, name))
			return &v[i];
	}
	return NULL;
}

/* ---- the metadata of every scratch object -------------------------------- */

/* Labels (ours only: the purpose, the owner's name when it is a label
 * value, the volume) and the owner as controller. `volume` may be NULL. */
static int scratch_meta_fill(json_t *obj, const app_scratch_for *f, const char *volume)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *labels = json_object();
	int rc;

	if (labels == NULL || json_object_set_new(meta, "labels", labels) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	rc = app_label_set_own(labels, APP_LABEL_SCRATCH, f->purpose);
	if (rc == 0)
		rc = app_label_set_own(labels, APP_LABEL_BACKUP,
				       ctrl_meta(f->owner, "name"));
	if (rc == 0 && volume != NULL)
		rc = app_label_set_own(labels, APP_LABEL_VOLUME, volume);
	if (rc == 0)
		rc = ctrl_owner_set_controller(NULL, obj, f->owner);
	return rc;
}

/* A new object of `kind` named `name` in the owner's namespace, with its
 * metadata filled, into *out. */
static int scratch_object_new(json_t **out, const char *kind, const char *name,
			      const app_scratch_for *f, const char *volume)
{
	json_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind",
				kind, "metadata", "name", name, "namespace",
				ctrl_meta(f->owner, "namespace"));
	int rc;

	if (obj == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	rc = scratch_meta_fill(obj, f, volume);
	if (rc != 0) {
		json_decref(obj);
		return rc;
	}
	*out = obj;
	return 0;
}

/* ---- the claims ---------------------------------------------------------- */

/* The size of `v`'s claim: restoreSize, else the source claim's request. */
static int scratch_claim_bytes(int64_t *bytes, const app_scratch_volume *v)
{
	const json_t *req = json_object_get(
		at2(json_object_get(v->source_claim, "spec"), "resources", "requests"),
		"storage");

	*bytes = v->restore_size_bytes;
	if (*bytes > 0)
		return 0;
	if (req != NULL && kube_quantity_from_json(bytes, req) == 0 && *bytes > 0)
		return 0;
	return ss_error_set(SS_EINVALID,
			    "volume \"%s\": the size of VolumeSnapshot %s is not known "
			    "(no restoreSize) and %s",
			    v->volume, v->snapshot,
			    v->source_claim == NULL ? "its claim is gone"
						    : "its claim requests no size");
}

/* Access modes and class: the source claim's, ReadWriteOnce and the
 * default class without one; `storage_class` wins when given. */
static int scratch_claim_modes(json_t *pvc, const app_scratch_volume *v,
			       const char *storage_class)
{
	json_t *spec = json_object_get(pvc, "spec");
	json_t *modes = json_object_get(spec, "accessModes");
	const json_t *src = json_object_get(v->source_claim, "spec");
	const char *cls = str_at(src, "storageClassName");
	const json_t *m;
	size_t i;

	json_array_foreach(json_object_get(src, "accessModes"), i, m)
	{
		/* a copy: the source claim is the informer cache's */
		if (json_is_string(m) &&
		    json_array_append_new(modes, json_string(json_string_value(m))) != 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
	}
	if (json_array_size(modes) == 0 &&
	    json_array_append_new(modes, json_string("ReadWriteOnce")) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (!scratch_empty(storage_class))
		cls = storage_class;
	/* The source's "" (no class: bind a pre-made volume) is copied too. */
	if (cls != NULL &&
	    json_object_set_new(spec, "storageClassName", json_string(cls)) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return 0;
}

/* The claim restoring `v` into *out. */
static int scratch_claim_new(json_t **out, const app_scratch_for *f,
			     const app_scratch_volume *v, const char *storage_class)
{
	char name[APP_NAME_BUF], size[KUBE_QUANTITY_MAX];
	json_t *pvc = NULL, *spec;
	int64_t bytes;
	int rc;

	rc = scratch_claim_bytes(&bytes, v);
	if (rc == 0)
		rc = app_scratch_claim_name(name, sizeof(name), f, v->volume);
	if (rc != 0)
		return rc;
	kube_quantity_format(size, sizeof(size), bytes);
	rc = scratch_object_new(&pvc, "PersistentVolumeClaim", name, f, v->volume);
	if (rc != 0)
		return rc;
	spec = json_pack("{s:[], s:{s:{s:s}}, s:{s:s, s:s, s:s}}", "accessModes",
			 "resources", "requests", "storage", size, "dataSource",
			 "apiGroup", "snapshot.storage.k8s.io", "kind", "VolumeSnapshot",
			 "name", v->snapshot);
	/* set_new takes spec, also when it fails */
	if (spec == NULL || json_object_set_new(pvc, "spec", spec) != 0) {
		rc = ss_error_set(SS_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = scratch_claim_modes(pvc, v, storage_class);
	if (rc != 0)
		goto cleanup;
	*out = pvc;
	pvc = NULL;
cleanup:
	json_decref(pvc);
	return rc;
}

int app_scratch_claims_plan(json_t **out, const app_scratch_for *f,
			    const app_scratch_volume *volumes, size_t n,
			    const char *storage_class)
{
	json_t *arr = NULL, *pvc;
	size_t i;
	int rc;

	rc = scratch_check_owner(f);
	if (rc == 0 && n == 0)
		rc = ss_error_set(SS_EINVALID, "a scratch server needs at least one "
					       "volume to restore");
	if (rc == 0)
		rc = scratch_check_volumes(volumes, n, true);
	if (rc != 0)
		goto cleanup;
	arr = json_array();
	if (arr == NULL) {
		rc = ss_error_set(SS_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		rc = scratch_claim_new(&pvc, f, &volumes[i], storage_class);
		if (rc != 0)
			goto cleanup;
		/* append_new takes pvc, also when it fails */
		if (json_array_append_new(arr, pvc) != 0) {
			rc = ss_error_set(SS_ENOMEM, "out of memory");
			goto cleanup;
		}
	}
	*out = arr;
	arr = NULL;
cleanup:
	json_decref(arr);
	return rc;
}

/* ---- the Pod: volumes ---------------------------------------------------- */

/* Whether a pod volume is backed by a claim: a persistentVolumeClaim or a
 * generic ephemeral volume (a claim made for the Pod). */
static bool scratch_is_claim_volume(const json_t *vol)
{
	return json_object_get(vol, "persistentVolumeClaim") != NULL ||
	       json_object_get(vol, "ephemeral") != NULL;
}

/* The volume `name` of the scratch Pod: the scratch claim of that volume,
 * or an emptyDir when the Backup has none. */
static int scratch_volume_new(json_t **out, const app_scratch_for *f, const char *name,
			      const app_scratch_volume *v, size_t n)
{
	char claim[APP_NAME_BUF];
	int rc;

	const app_scratch_volume *found = scratch_find_volume(v, n, name);

	if (found == NULL) {
		*out = json_pack("{s:s, s:{}}", "name", name, "emptyDir");
	} else if (!scratch_empty(found->claim_name)) {
		*out = json_pack("{s:s, s:{s:s}}", "name", name, "persistentVolumeClaim",
				 "claimName", found->claim_name);
	} else {
		rc = app_scratch_claim_name(claim, sizeof(claim), f, name);
		if (rc != 0)
			return rc;
		*out = json_pack("{s:s, s:{s:s}}", "name", name, "persistentVolumeClaim",
				 "claimName", claim);
	}
	if (*out == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return 0;
}

/* Puts `name`'s scratch volume in `list`, replacing an entry of that name. */
static int scratch_volume_put(json_t *list, const app_scratch_for *f, const char *name,
			      const app_scratch_volume *v, size_t n)
{
	json_t *vol, *fresh = NULL;
	size_t i;
	int rc;

	rc = scratch_volume_new(&fresh, f, name, v, n);
	if (rc != 0)
		return rc;
	json_array_foreach(list, i, vol)
	{
		if (ss_streq(str_at(vol, "name"), name)) {
			if (json_array_set_new(list, i, fresh) != 0)
				return ss_error_set(SS_ENOMEM, "out of memory");
			return 0;
		}
	}
	if (json_array_append_new(list, fresh) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return 0;
}

/* Every claim-backed volume of the template and every volumeClaimTemplate
 * (which the containers mount by name without a volumes entry: the
 * StatefulSet controller adds it) onto the scratch claims. */
static int scratch_pod_volumes(json_t *spec, const json_t *sts, const app_scratch_for *f,
			       const app_scratch_volume *v, size_t n)
{
	json_t *list = json_object_get(spec, "volumes");
	const json_t *vol, *tmpl;
	size_t i;
	int rc;

	if (!json_is_array(list)) {
		list = json_array();
		if (list == NULL || json_object_set_new(spec, "volumes", list) != 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
	}
	json_array_foreach(list, i, vol)
	{
		const char *name = str_at(vol, "name");

		if (!scratch_is_claim_volume(vol))
			continue;
		if (scratch_empty(name))
			return ss_error_set(SS_EINVALID,
					    "the pod template's volume %zu has no name",
					    i);
		rc = scratch_volume_put(list, f, name, v, n);
		if (rc != 0)
			return rc;
	}
	json_array_foreach(at2(sts, "spec", "volumeClaimTemplates"), i, tmpl)
	{
		const char *name = str_at(json_object_get(tmpl, "metadata"), "name");

		if (scratch_empty(name))
			return ss_error_set(SS_EINVALID,
					    "volumeClaimTemplates[%zu] has no name", i);
		rc = scratch_volume_put(list, f, name, v, n);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- the Pod: scheduling and containers ---------------------------------- */

/* What ties the Pod to the live set's identity or placement: a node and
 * hostname the StatefulSet chose, pod anti-affinity written against the
 * live Pods' labels, and readiness gates another controller sets. Node
 * affinity, selectors and tolerations stay: they say where the image and
 * storage can run. */
static void scratch_pod_scheduling(json_t *spec)
{
	json_t *aff = json_object_get(spec, "affinity");

	json_object_del(spec, "nodeName");
	json_object_del(spec, "hostname");
	json_object_del(spec, "subdomain");
	json_object_del(spec, "readinessGates");
	if (json_is_object(aff)) {
		json_object_del(aff, "podAntiAffinity");
		if (json_object_size(aff) == 0)
			json_object_del(spec, "affinity");
	}
}

/* The containerPort of `c`'s port named "mysql", or 0. */
static int scratch_mysql_port(const json_t *c)
{
	const json_t *port;
	size_t i;

	json_array_foreach(json_object_get(c, "ports"), i, port)
	{
		json_int_t p = json_integer_value(json_object_get(port, "containerPort"));

		if (ss_streq(str_at(port, "name"), "mysql") && p >= 1 && p <= 65535)
			return (int)p;
	}
	return 0;
}

/* The main container: the first with a port named "mysql", else the one
 * named "mariadb" or "mysql", else the first. */
static size_t scratch_main_index(const json_t *containers)
{
	const json_t *c;
	size_t i;

	json_array_foreach((json_t *)containers, i, c)
	{
		if (scratch_mysql_port(c) > 0)
			return i;
	}
	json_array_foreach((json_t *)containers, i, c)
	{
		if (ss_streq(str_at(c, "name"), "mariadb") ||
		    ss_streq(str_at(c, "name"), "mysql"))
			return i;
	}
	return 0;
}

/* Whether `args` has an option `opt` ("--name", '_' read as '-'), with or
 * without "=value". */
static bool scratch_has_option(const json_t *args, const char *opt)
{
	const json_t *a;
	size_t i, n = strlen(opt);

	json_array_foreach(args, i, a)
	{
		const char *s = json_string_value(a);
		size_t k;

		for (k = 0; s != NULL && k < n && s[k] != '\0'; k++)
			if (s[k] != opt[k] && !(s[k] == '_' && opt[k] == '-'))
				break;
		if (s != NULL && k == n && (s[n] == '\0' || s[n] == '='))
			return true;
	}
	return false;
}

/* The main container's args end with --skip-slave-start, and with the
 * MyISAM and Aria automatic repair off, each unless given: a scratch server
 * must not replicate, and must not repair (and so hide) a corrupt table
 * before CHECK TABLE sees it (the first statement that opens a crashed
 * MyISAM table repairs it by default, dropping the damaged rows). */
static int scratch_args_add(json_t *c)
{
	static const char *const add[][2] = {
		{ SKIP_SLAVE_START, SKIP_SLAVE_START },
		{ "--myisam-recover-options", "--myisam-recover-options=OFF" },
		{ "--aria-recover-options", "--aria-recover-options=OFF" },
	};
	json_t *args = json_object_get(c, "args");
	size_t i;

	if (!json_is_array(args)) {
		args = json_array();
		if (args == NULL || json_object_set_new(c, "args", args) != 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
	}
	for (i = 0; i < sizeof(add) / sizeof(add[0]); i++) {
		if (scratch_has_option(args, add[i][0]))
			continue;
		if (json_array_append_new(args, json_string(add[i][1])) != 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
	}
	return 0;
}

/* Liveness and startup probes go (a slow recovery must not be killed);
 * a readiness probe becomes a TCP connect to `port`. The main container
 * always gets one, so Ready means the server listens. */
static int scratch_probes(json_t *c, int port, bool is_main)
{
	json_object_del(c, "livenessProbe");
	json_object_del(c, "startupProbe");
	if (!is_main && json_object_get(c, "readinessProbe") == NULL)
		return 0;
	if (json_object_set_new(c, "readinessProbe",
				json_pack("{s:{s:i}, s:i}", "tcpSocket", "port", port,
					  "periodSeconds", PROBE_PERIOD_SECONDS)) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return 0;
}

/* The main container's changes: the server's last lines as its
 * termination message, the resources given, a standalone start. */
static int scratch_main_container(json_t *c, const json_t *resources)
{
	if (json_object_set_new(c, "terminationMessagePolicy",
				json_string("FallbackToLogsOnError")) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (resources != NULL &&
	    json_object_set_new(c, "resources", json_deep_copy(resources)) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return scratch_args_add(c);
}

static int scratch_pod_containers(json_t *spec, const json_t *resources)
{
	json_t *containers = json_object_get(spec, "containers");
	size_t i, main_i = scratch_main_index(containers);
	json_t *c;
	int port, rc = 0;

	port = scratch_mysql_port(json_array_get(containers, main_i));
	if (port == 0)
		port = APP_DEFAULT_MYSQL_PORT;
	json_array_foreach(containers, i, c)
	{
		if (!json_is_object(c))
			return ss_error_set(SS_EINVALID,
					    "the pod template's container %zu is no "
					    "object",
					    i);
		rc = scratch_probes(c, port, i == main_i);
		if (rc == 0 && i == main_i)
			rc = scratch_main_container(c, resources);
		if (rc != 0)
			return rc;
	}
	/* An init container (a sidecar too) probing the server would hold
	 * the Pod up before the server starts: no probes there at all. */
	json_array_foreach(json_object_get(spec, "initContainers"), i, c)
	{
		json_object_del(c, "livenessProbe");
		json_object_del(c, "startupProbe");
		json_object_del(c, "readinessProbe");
	}
	return 0;
}

/* The template's spec, checked: containers a non-empty array, and the
 * StatefulSet in the owner's namespace (its ConfigMaps and Secrets must
 * be where the Pod is, and an ownerReference cannot cross namespaces). */
static int scratch_template_spec(const json_t **out, const app_scratch_for *f,
				 const json_t *sts)
{
	const json_t *spec = at2(json_object_get(sts, "spec"), "template", "spec");
	const char *ns = ctrl_meta(sts, "namespace");
	const char *name = ctrl_meta(sts, "name");

	if (!json_is_object(spec) ||
	    !json_is_array(json_object_get(spec, "containers")) ||
	    json_array_size(json_object_get(spec, "containers")) == 0)
		return ss_error_set(SS_EINVALID,
				    "StatefulSet %s has no pod template with containers",
				    name != NULL ? name : "(unnamed)");
	if (!scratch_empty(ns) && !ss_streq(ns, ctrl_meta(f->owner, "namespace")))
		return ss_error_set(SS_EINVALID,
				    "StatefulSet %s is in namespace %s, not in %s where "
				    "the scratch server would run",
				    name != NULL ? name : "(unnamed)", ns,
				    ctrl_meta(f->owner, "namespace"));
	*out = spec;
	return 0;
}

int app_scratch_pod_plan(json_t **out, const app_scratch_for *f,
			 const json_t *statefulset, const app_scratch_volume *volumes,
			 size_t n, const json_t *resources)
{
	char name[APP_NAME_BUF];
	const json_t *tmpl = NULL;
	json_t *pod = NULL, *spec = NULL;
	int rc;

	rc = scratch_check_owner(f);
	if (rc == 0)
		rc = scratch_check_volumes(volumes, n, false);
	if (rc == 0)
		rc = scratch_template_spec(&tmpl, f, statefulset);
	if (rc == 0)
		rc = app_scratch_pod_name(name, sizeof(name), f);
	if (rc != 0)
		goto cleanup;
	spec = json_deep_copy(tmpl);
	if (spec == NULL) {
		rc = ss_error_set(SS_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = scratch_pod_volumes(spec, statefulset, f, volumes, n);
	if (rc != 0)
		goto cleanup;
	scratch_pod_scheduling(spec);
	rc = scratch_pod_containers(spec, resources);
	if (rc != 0)
		goto cleanup;
	rc = scratch_object_new(&pod, "Pod", name, f, NULL);
	if (rc != 0)
		goto cleanup;
	/* set_new takes spec, also when it fails */
	rc = json_object_set_new(pod, "spec", spec);
	spec = NULL;
	if (rc != 0) {
		rc = ss_error_set(SS_ENOMEM, "out of memory");
		goto cleanup;
	}
	*out = pod;
	pod = NULL;
cleanup:
	json_decref(spec);
	json_decref(pod);
	return rc;
}

/* ---- ours? --------------------------------------------------------------- */

bool app_scratch_is_ours(const json_t *obj, const app_scratch_for *f)
{
	if (obj == NULL || f == NULL || f->owner == NULL || scratch_empty(f->purpose))
		return false;
	if (!ss_streq(ctrl_label(obj, APP_LABEL_SCRATCH), f->purpose))
		return false;
	return app_owner_has_uid(obj, ctrl_meta(f->owner, "uid"));
}

/* ---- one line for a status message --------------------------------------- */

/* Whether byte `c` starts a UTF-8 character (is no continuation byte). */
static bool why_char_start(char c)
{
	return ((unsigned char)c & 0xC0) != 0x80;
}

/* The longest prefix of s[0..len) that ends on a character boundary: a
 * sequence cut short at the end is dropped. */
static size_t why_utf8_fit(const char *s, size_t len)
{
	size_t start = len, need;
	unsigned char lead;

	while (start > 0 && !why_char_start(s[start - 1]))
		start--;
	if (start == 0)
		return 0;
	lead = (unsigned char)s[start - 1];
	need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	return len - (start - 1) >= need ? len : start - 1;
}

/* s[0..n) as one line in a new buffer (*len bytes): each run of line
 * breaks becomes " | ", other control characters a space, whitespace at
 * both ends dropped. NULL when out of memory. */
static char *why_clean(const char *s, size_t n, size_t *len)
{
	size_t i, o = 0;
	char *buf;

	while (n > 0 && (unsigned char)s[n - 1] <= ' ')
		n--;
	while (n > 0 && (unsigned char)*s <= ' ') {
		s++;
		n--;
	}
	buf = malloc(3 * n + 1);
	if (buf == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '\n' || s[i] == '\r') {
			while (i + 1 < n && (s[i + 1] == '\n' || s[i + 1] == '\r'))
				i++;
			memcpy(buf + o, " | ", 3);
			o += 3;
		} else if ((unsigned char)s[i] < ' ' || s[i] == 0x7f) {
			buf[o++] = ' ';
		} else {
			buf[o++] = s[i];
		}
	}
	buf[o] = '\0';
	*len = o;
	return buf;
}

/* Appends `n` bytes of `s` to `why` at *len (room checked by the caller). */
static void why_append(char *why, size_t *len, const char *s, size_t n)
{
	memcpy(why + *len, s, n);
	*len += n;
	why[*len] = '\0';
}

/* Appends ": " (when `why` is not empty) and `msg`, cleaned, to `why` (cap
 * bytes, *len used). When it does not fit, "..." marks the cut: the end is
 * kept with `keep_tail` (a server's last log lines say most), else the
 * beginning. */
static void why_add_message(char *why, size_t cap, size_t *len, const char *msg,
			    bool keep_tail)
{
	size_t sep = *len > 0 ? 2 : 0, n, mlen = 0, room, cut;
	char *clean;

	if (why == NULL || scratch_empty(msg) || *len + sep + 4 >= cap)
		return;
	n = strlen(msg);
	if (n > WHY_MSG_MAX) {
		msg += keep_tail ? n - WHY_MSG_MAX : 0;
		n = WHY_MSG_MAX;
	}
	clean = why_clean(msg, n, &mlen);
	if (clean == NULL || mlen == 0)
		goto done;
	room = cap - 1 - *len - sep;
	why_append(why, len, ": ", sep);
	if (mlen <= room) {
		why_append(why, len, clean, mlen);
	} else if (keep_tail) {
		for (cut = mlen - (room - 3); cut < mlen && !why_char_start(clean[cut]);)
			cut++;
		why_append(why, len, "...", 3);
		why_append(why, len, clean + cut, mlen - cut);
	} else {
		cut = why_utf8_fit(clean, room - 3);
		why_append(why, len, clean, cut);
		why_append(why, len, "...", 3);
	}
done:
	free(clean);
}

static void why_head(char *why, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The head of a `why` (printf) into `why` (cap bytes), cut on a character
 * boundary; *len is its length. */
static void why_head(char *why, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	*len = 0;
	if (why == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	*len = (size_t)n < cap ? (size_t)n : why_utf8_fit(why, cap - 1);
	why[*len] = '\0';
}

/* `text` alone into `why` (NULL: nothing). */
static void why_put(char *why, size_t cap, const char *text)
{
	size_t len;

	why_head(why, cap, &len, "%s", text);
}

/* ---- the Pod's state ----------------------------------------------------- */

/* Waiting reasons the kubelet keeps retrying but that will not pass by
 * waiting a few seconds: a crashing server, a bad config, an image. */
static bool scratch_failing_reason(const char *reason)
{
	static const char *const failing[] = {
		"CrashLoopBackOff",	"CreateContainerConfigError",
		"CreateContainerError", "InvalidImageName",
		"ErrImagePull",		"ImagePullBackOff",
		"ErrImageNeverPull",	"RunContainerError",
		"PreStartHookError",	"PostStartHookError",
	};
	size_t i;

	for (i = 0; i < sizeof(failing) / sizeof(failing[0]); i++) {
		if (ss_streq(reason, failing[i]))
			return true;
	}
	return false;
}

/* Whether container status `cs` shows a failure: a failing waiting
 * reason, or an exit (an init container's exit 0 is its success). */
static bool scratch_container_failing(const json_t *cs, bool init)
{
	const json_t *state = json_object_get(cs, "state");
	const json_t *term = json_object_get(state, "terminated");

	if (scratch_failing_reason(str_at(json_object_get(state, "waiting"), "reason")))
		return true;
	if (term == NULL)
		return false;
	return !init || json_integer_value(json_object_get(term, "exitCode")) != 0;
}

/* What a container status's state is, in a word or two. */
static const char *scratch_container_phrase(const json_t *state, bool init)
{
	const json_t *waiting = json_object_get(state, "waiting");

	if (waiting != NULL)
		return str_at(waiting, "reason") != NULL ? str_at(waiting, "reason")
							 : "waiting";
	if (json_object_get(state, "terminated") != NULL)
		return "terminated";
	if (json_object_get(state, "running") != NULL)
		return init ? "running" : "running, not Ready yet";
	return "not started";
}

/* One line for container status `cs`: its state, restarts, the (last)
 * exit with the end of its message, else the waiting message. */
static void scratch_container_why(char *why, size_t cap, const json_t *cs, bool init)
{
	const json_t *state = json_object_get(cs, "state");
	const json_t *term = json_object_get(state, "terminated");
	const json_t *t = term != NULL ? term : at2(cs, "lastState", "terminated");
	json_int_t restarts = json_integer_value(json_object_get(cs, "restartCount"));
	const char *reason = str_at(t, "reason");
	char rs[40] = "", ex[WHY_HEAD_MAX] = "";
	size_t len;

	if (restarts > 0)
		snprintf(rs, sizeof(rs), " (restarts: %lld)", (long long)restarts);
	if (t != NULL)
		snprintf(ex, sizeof(ex), "; %sexit code %lld%s%s%s",
			 term != NULL ? "" : "last ",
			 (long long)json_integer_value(json_object_get(t, "exitCode")),
			 reason != NULL ? " (" : "", reason != NULL ? reason : "",
			 reason != NULL ? ")" : "");
	why_head(why, cap, &len, "%scontainer %s: %s%s%s", init ? "init " : "",
		 str_at(cs, "name") != NULL ? str_at(cs, "name") : "?",
		 scratch_container_phrase(state, init), rs, ex);
	if (t != NULL)
		why_add_message(why, cap, &len, str_at(t, "message"), true);
	else
		why_add_message(why, cap, &len,
				str_at(json_object_get(state, "waiting"), "message"),
				false);
}

/* The status of container `name` in status list `key`, or NULL. */
static const json_t *scratch_status_of(const json_t *pod, const char *key,
				       const char *name)
{
	const json_t *cs;
	size_t i;

	json_array_foreach(at2(pod, "status", key), i, cs)
	{
		if (ss_streq(str_at(cs, "name"), name))
			return cs;
	}
	return NULL;
}

/* The main container's status (by the spec's rule; the first status
 * when the spec is missing). */
static const json_t *scratch_main_status(const json_t *pod)
{
	const json_t *containers = at2(pod, "spec", "containers");
	const json_t *c = json_array_get(containers, scratch_main_index(containers));

	if (c == NULL)
		return json_array_get(at2(pod, "status", "containerStatuses"), 0);
	return scratch_status_of(pod, "containerStatuses", str_at(c, "name"));
}

/* The failing container status to report: the main container's, then
 * another's, then an init container's. NULL when none fails. */
static const json_t *scratch_find_failing(const json_t *pod, bool *init)
{
	const json_t *cs = scratch_main_status(pod);
	size_t i;

	*init = false;
	if (cs != NULL && scratch_container_failing(cs, false))
		return cs;
	json_array_foreach(at2(pod, "status", "containerStatuses"), i, cs)
	{
		if (scratch_container_failing(cs, false))
			return cs;
	}
	*init = true;
	json_array_foreach(at2(pod, "status", "initContainerStatuses"), i, cs)
	{
		if (scratch_container_failing(cs, true))
			return cs;
	}
	return NULL;
}

/* The condition `type` of the Pod, or NULL. */
static const json_t *scratch_condition(const json_t *pod, const char *type)
{
	const json_t *c;
	size_t i;

	json_array_foreach(at2(pod, "status", "conditions"), i, c)
	{
		if (ss_streq(str_at(c, "type"), type))
			return c;
	}
	return NULL;
}

/* Why a Pod that is neither ready nor failing is not ready yet: not
 * scheduled, the main container's state, an init container still going,
 * or no status at all. */
static void scratch_starting_why(char *why, size_t cap, const json_t *pod)
{
	const json_t *sched = scratch_condition(pod, "PodScheduled");
	const json_t *cs;
	size_t i, len;

	if (sched != NULL && ss_streq(str_at(sched, "status"), "False")) {
		why_head(why, cap, &len, "not scheduled: %s",
			 str_at(sched, "reason") != NULL ? str_at(sched, "reason")
							 : "no reason given");
		why_add_message(why, cap, &len, str_at(sched, "message"), false);
		return;
	}
	json_array_foreach(at2(pod, "status", "initContainerStatuses"), i, cs)
	{
		if (at2(cs, "state", "terminated") == NULL) {
			scratch_container_why(why, cap, cs, true);
			return;
		}
	}
	cs = scratch_main_status(pod);
	if (cs != NULL)
		scratch_container_why(why, cap, cs, false);
	else if (json_object_get(pod, "status") == NULL)
		why_put(why, cap, "the Pod has no status yet");
	else
		why_put(why, cap, "the Pod's containers have not started yet");
}

/* Being deleted or finished: GONE, with why. */
static bool scratch_gone(const json_t *pod, char *why, size_t cap)
{
	const json_t *ts = at2(pod, "metadata", "deletionTimestamp");
	const json_t *status = json_object_get(pod, "status");
	const char *phase = str_at(status, "phase");
	const char *reason = str_at(status, "reason");
	size_t len;

	if (ts != NULL && !json_is_null(ts)) {
		why_put(why, cap, "the Pod is being deleted");
		return true;
	}
	if (!ss_streq(phase, "Failed") && !ss_streq(phase, "Succeeded"))
		return false;
	why_head(why, cap, &len, "the Pod is %s%s%s", phase, reason != NULL ? ": " : "",
		 reason != NULL ? reason : "");
	why_add_message(why, cap, &len, str_at(status, "message"), false);
	return true;
}

app_scratch_state app_scratch_pod_state(const json_t *pod, char *why, size_t cap)
{
	const json_t *ready = scratch_condition(pod, "Ready");
	const char *ip = str_at(json_object_get(pod, "status"), "podIP");
	const json_t *cs;
	bool init = false;

	if (why != NULL && cap > 0)
		why[0] = '\0';
	if (pod == NULL) {
		why_put(why, cap, "no Pod");
		return APP_SCRATCH_GONE;
	}
	if (scratch_gone(pod, why, cap))
		return APP_SCRATCH_GONE;
	if (ss_streq(str_at(ready, "status"), "True") && !scratch_empty(ip)) {
		why_put(why, cap, "Ready");
		return APP_SCRATCH_READY;
	}
	cs = scratch_find_failing(pod, &init);
	if (cs != NULL) {
		scratch_container_why(why, cap, cs, init);
		return APP_SCRATCH_FAILING;
	}
	if (ss_streq(str_at(ready, "status"), "True"))
		why_put(why, cap, "Ready but without a pod IP yet");
	else
		scratch_starting_why(why, cap, pod);
	return APP_SCRATCH_STARTING;
}
