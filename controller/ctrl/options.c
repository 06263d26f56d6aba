/*
 * options.c — command-line flags. See options.h.
 *
 * One table describes every flag: its name, kind and where the value goes,
 * so parsing, validation and --help cannot drift apart.
 */
#include "ctrl/options.h"

#include <stddef.h>
#include <string.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

typedef enum {
	OPT_STRING,
	OPT_BOOL,
	OPT_INT,
	OPT_DURATION,
	OPT_LEVEL,
	OPT_FORMAT,
	OPT_NAMESPACES
} opt_kind;

typedef struct {
	const char *name;
	opt_kind kind;
	size_t offset;
	const char *help;
} opt_def;

#define O(field) offsetof(ctrl_options, field)

static const opt_def defs[] = {
	{ "kubeconfig", OPT_STRING, O(kubeconfig),
	  "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)" },
	{ "context", OPT_STRING, O(context), "kubeconfig context to use" },
	{ "namespace", OPT_NAMESPACES, O(namespaces),
	  "watch only these namespaces: a,b or the flag repeated (default: all)" },
	{ "leader-elect", OPT_BOOL, O(leader_elect),
	  "elect a leader with a Lease; only the leader reconciles" },
	{ "leader-election-namespace", OPT_STRING, O(leader_election_namespace),
	  "namespace of the Lease (default: the client's namespace)" },
	{ "leader-election-id", OPT_STRING, O(leader_election_id),
	  "name of the Lease (default snapstage-leader)" },
	{ "leader-elect-lease-duration", OPT_DURATION, O(lease_duration_ns),
	  "how long a lease is valid without renewal (default 15s)" },
	{ "leader-elect-renew-deadline", OPT_DURATION, O(renew_deadline_ns),
	  "the leader gives up if it cannot renew within this (default 10s)" },
	{ "leader-elect-retry-period", OPT_DURATION, O(retry_period_ns),
	  "how often to try to acquire or renew (default 2s)" },
	{ "metrics-bind-address", OPT_STRING, O(metrics_bind_address),
	  "address for /metrics, e.g. :8080 or 127.0.0.1:8080; 0 disables" },
	{ "health-probe-bind-address", OPT_STRING, O(health_probe_bind_address),
	  "address for /healthz and /readyz (default :8081); 0 disables" },
	{ "workers", OPT_INT, O(workers),
	  "reconcile workers per controller (1-64, default 4); the Backup "
	  "controller's lock sessions get as many more" },
	{ "shutdown-timeout", OPT_DURATION, O(shutdown_timeout_ns),
	  "on SIGTERM, how long to let running reconciles finish (default 30s)" },
	{ "enable-in-place-restore", OPT_BOOL, O(enable_in_place_restore),
	  "allow Restores in InPlace mode (needs RBAC to delete PVCs and scale "
	  "StatefulSets)" },
	{ "enable-point-in-time-restore", OPT_BOOL, O(enable_point_in_time_restore),
	  "allow point-in-time Restores (spec.replay; needs RBAC to create and "
	  "delete Pods and read StatefulSets, as verification does)" },
	{ "enable-verification", OPT_BOOL, O(enable_verification),
	  "run restore verifications (needs RBAC to create and delete Pods and PVCs "
	  "and read StatefulSets)" },
	{ "log-level", OPT_LEVEL, O(log_level),
	  "debug, info, warn or error (default info)" },
	{ "log-format", OPT_FORMAT, O(log_format),
	  "text (key=value) or json (default text)" },
};

#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

void ctrl_options_init(ctrl_options *o)
{
	memset(o, 0, sizeof(*o));
	o->leader_election_id = "snapstage-leader";
	o->lease_duration_ns = 15 * SS_NS_PER_SEC;
	o->renew_deadline_ns = 10 * SS_NS_PER_SEC;
	o->retry_period_ns = 2 * SS_NS_PER_SEC;
	o->metrics_bind_address = ":8080";
	o->health_probe_bind_address = ":8081";
	/* bench_fleet (40 databases due at once, 2 cores): 4 finishes in about
	 * half the time of 2 with locks held no longer; 8 and more hold each
	 * lock longer (1.45x at 8, 3.2x at 32) for little or no gain. */
	o->workers = 4;
	o->shutdown_timeout_ns = 30 * SS_NS_PER_SEC;
	o->log_level = SS_LOG_INFO;
	o->log_format = SS_LOG_TEXT;
}

void ctrl_options_usage(FILE *out)
{
	size_t i;

	fputs("usage: snapstage [flags]\n\n"
	      "The snapstage operator: consistent snapshot backups of MariaDB.\n\n"
	      "Flags:\n",
	      out);
	for (i = 0; i < N_DEFS; i++) {
		const char *arg = defs[i].kind == OPT_BOOL ? "" : " VALUE";

		fprintf(out, "  --%s%s\n        %s\n", defs[i].name, arg, defs[i].help);
	}
	fputs("  --version\n        print the version and exit\n"
	      "  --help\n        print this help and exit\n",
	      out);
}

int ctrl_parse_duration(int64_t *out_ns, const char *text, const char *what)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = { { "ms", SS_NS_PER_MS },
		      { "s", SS_NS_PER_SEC },
		      { "m", 60 * SS_NS_PER_SEC },
		      { "h", 3600 * SS_NS_PER_SEC } };
	const char *p = text;
	int64_t total = 0;

	if (!p || !*p)
		goto bad;
	if (!strcmp(p, "0")) {
		*out_ns = 0;
		return 0;
	}
	while (*p) {
		int64_t n = 0;
		size_t i, digits = 0;

		for (; *p >= '0' && *p <= '9'; p++, digits++) {
			if (n > (INT64_MAX / 10) - 9)
				goto bad;
			n = n * 10 + (*p - '0');
		}
		if (digits == 0)
			goto bad;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t len = strlen(units[i].unit);

			/* "m" must not swallow the "m" of "ms". */
			if (!strncmp(p, units[i].unit, len) &&
			    !(len == 1 && p[0] == 'm' && p[1] == 's'))
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			goto bad;
		if (n > INT64_MAX / units[i].ns || total > INT64_MAX - n * units[i].ns)
			goto bad;
		total += n * units[i].ns;
		p += strlen(units[i].unit);
	}
	*out_ns = total;
	return 0;
bad:
	return ss_error_set(SS_EINVALID,
			    "%s: '%s' is not a duration (use e.g. 500ms, 15s, 2m, 1h30m)",
			    what, text ? text : "");
}

static int parse_bool(bool *out, const char *text, const char *flag)
{
	if (ss_streq(text, "true") || ss_streq(text, "1")) {
		*out = true;
		return 0;
	}
	if (ss_streq(text, "false") || ss_streq(text, "0")) {
		*out = false;
		return 0;
	}
	return ss_error_set(SS_EINVALID, "--%s: '%s' is not true or false", flag, text);
}

/* An RFC 1123 label of len bytes: [a-z0-9], '-' inside, 1-63 long. */
static bool is_dns_label(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= CTRL_OPTIONS_NAMESPACE_CAP || s[0] == '-' ||
	    s[len - 1] == '-')
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-'))
			return false;
	return true;
}

/* Appends each name of "a,b,c" to o->namespaces: every one a valid
 * namespace name, none twice, at most CTRL_OPTIONS_MAX_NAMESPACES. */
static int add_namespaces(ctrl_options *o, const char *value)
{
	const char *p = value;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p), i;

		if (!is_dns_label(p, len))
			return ss_error_set(SS_EINVALID,
					    "--namespace: '%.*s' is not a namespace name "
					    "(lower-case letters, digits and '-', at most "
					    "63; separate several with commas)",
					    (int)(len > 80 ? 80 : len), p);
		for (i = 0; i < o->n_namespaces; i++)
			if (strlen(o->namespaces[i]) == len &&
			    !strncmp(o->namespaces[i], p, len))
				return ss_error_set(SS_EINVALID,
						    "--namespace: '%.*s' is listed twice",
						    (int)len, p);
		if (o->n_namespaces == CTRL_OPTIONS_MAX_NAMESPACES)
			return ss_error_set(SS_EINVALID,
					    "--namespace: more than %d namespaces",
					    CTRL_OPTIONS_MAX_NAMESPACES);
		memcpy(o->namespaces[o->n_namespaces], p, len);
		o->namespaces[o->n_namespaces++][len] = '\0';
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int store_value(ctrl_options *o, const opt_def *d, const char *value)
{
	char *field = (char *)o + d->offset;
	char what[80];
	int64_t n;

	snprintf(what, sizeof(what), "--%s", d->name);
	switch (d->kind) {
	case OPT_STRING:
		if (!*value)
			return ss_error_set(SS_EINVALID, "%s needs a non-empty value",
					    what);
		*(const char **)(void *)field = value;
		return 0;
	case OPT_BOOL: return parse_bool((bool *)(void *)field, value, d->name);
	case OPT_INT:
		if (ss_parse_int64(&n, value, 1, 64, what) < 0)
			return SS_EINVALID;
		*(int *)(void *)field = (int)n;
		return 0;
	case OPT_DURATION:
		if (ctrl_parse_duration(&n, value, what) < 0)
			return SS_EINVALID;
		if (n <= 0)
			return ss_error_set(SS_EINVALID, "%s must be more than 0", what);
		*(int64_t *)(void *)field = n;
		return 0;
	case OPT_LEVEL:
		if (ss_log_parse_level((ss_log_level *)(void *)field, value) < 0)
			return ss_error_set(SS_EINVALID, "%s: %s", what,
					    ss_error_last()->message);
		return 0;
	case OPT_FORMAT:
		if (ss_log_parse_format((ss_log_format *)(void *)field, value) < 0)
			return ss_error_set(SS_EINVALID, "%s: %s", what,
					    ss_error_last()->message);
		return 0;
	case OPT_NAMESPACES: return add_namespaces(o, value);
	}
	return ss_error_set(SS_EINVALID, "%s: unknown kind", what);
}

/* Cross-flag rules, as client-go's leader election checks them. */
static int validate(const ctrl_options *o)
{
	if (o->lease_duration_ns <= o->renew_deadline_ns)
		return ss_error_set(SS_EINVALID,
				    "--leader-elect-lease-duration must be "
				    "longer than --leader-elect-renew-deadline");
	if (o->renew_deadline_ns <= o->retry_period_ns * 6 / 5)
		return ss_error_set(
			SS_EINVALID,
			"--leader-elect-renew-deadline must be longer than 1.2 x "
			"--leader-elect-retry-period");
	return 0;
}

int ctrl_options_parse(ctrl_options *o, int argc, char **argv, const char *version,
		       FILE *out)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *name, *eq, *value = NULL;
		size_t len, d;

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			ctrl_options_usage(out);
			return CTRL_OPTIONS_EXIT;
		}
		if (!strcmp(arg, "--version")) {
			fprintf(out, "snapstage %s\n", version);
			return CTRL_OPTIONS_EXIT;
		}
		if (strncmp(arg, "--", 2) != 0)
			return ss_error_set(
				SS_EINVALID,
				"unexpected argument '%s' (flags start with --)", arg);
		name = arg + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		for (d = 0; d < N_DEFS; d++)
			if (strlen(defs[d].name) == len &&
			    !strncmp(defs[d].name, name, len))
				break;
		if (d == N_DEFS)
			return ss_error_set(SS_EINVALID,
					    "unknown flag '--%.*s' (see --help)",
					    (int)len, name);
		if (eq)
			value = eq + 1;
		else if (defs[d].kind == OPT_BOOL)
			value = "true";
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return ss_error_set(SS_EINVALID, "flag --%s needs a value",
					    defs[d].name);
		if (store_value(o, &defs[d], value) < 0)
			return SS_EINVALID;
	}
	return validate(o);
}
