/*
 * options.h — the operator's command-line flags, in the style Kubernetes
 * users know from kube-controller-manager and controller-runtime managers.
 *
 * Parsing is a pure function over argv: no I/O except that --help and
 * --version print to the given stream. Every flag takes `--name value` or
 * `--name=value`; booleans also take a bare `--name`. Durations are Go
 * style ("15s", "500ms", "2m", "1h30m"). An unknown flag, a missing value
 * or a malformed one fails with SS_EINVALID and a message naming the flag.
 *
 * --namespace takes a comma-separated list and may be repeated: the
 * controller then watches exactly those namespaces (one list/watch each, so
 * a Role per namespace is all the RBAC it needs), none given: all of them.
 * Each must be a namespace name (an RFC 1123 label) and appear once.
 *
 * Ownership: string fields point into argv (borrowed for the program's
 * life); the namespaces are copied into the struct itself, so it may be
 * copied by value. Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_CTRL_OPTIONS_H
#define SNAPSTAGE_CTRL_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/log.h"

/* At most this many --namespace names; each costs one watch per resource. */
#define CTRL_OPTIONS_MAX_NAMESPACES 64
/* A namespace name: an RFC 1123 label, up to 63 characters and the NUL. */
#define CTRL_OPTIONS_NAMESPACE_CAP 64

typedef struct {
	const char *kubeconfig; /* NULL: $KUBECONFIG, ~/.kube/config, in-cluster */
	const char *context;
	/* The namespaces to watch, in flag order; n_namespaces 0: all. */
	char namespaces[CTRL_OPTIONS_MAX_NAMESPACES][CTRL_OPTIONS_NAMESPACE_CAP];
	size_t n_namespaces;
	bool leader_elect;
	const char *leader_election_namespace; /* NULL: the client's namespace */
	const char *leader_election_id;	       /* the Lease's name */
	int64_t lease_duration_ns;
	int64_t renew_deadline_ns;
	int64_t retry_period_ns;
	const char *metrics_bind_address; /* "0" disables */
	const char *health_probe_bind_address;
	int workers;
	int64_t shutdown_timeout_ns; /* how long SIGTERM waits for reconciles */
	/* For the app layer: whether Restores may replace a StatefulSet's
	 * volumes. Off by default, matching the default RBAC. */
	bool enable_in_place_restore;
	bool enable_verification;
	bool enable_point_in_time_restore;
	ss_log_level log_level;
	ss_log_format log_format;
} ctrl_options;

/* The defaults: leader election off, lease 15 s / 10 s / 2 s, metrics on
 * ":8080", probes on ":8081", 4 workers, 30 s shutdown, info, text. */
void ctrl_options_init(ctrl_options *o);

#define CTRL_OPTIONS_RUN 0
#define CTRL_OPTIONS_EXIT 1 /* --help or --version was printed */

/* Parses argv[1..]: CTRL_OPTIONS_RUN, CTRL_OPTIONS_EXIT, or SS_EINVALID
 * (message in the last error; nothing printed). `program` and `version`
 * are used by --help and --version, written to `out`. */
int ctrl_options_parse(ctrl_options *o, int argc, char **argv, const char *version,
		       FILE *out);

/* Go-style duration: 0, or SS_EINVALID naming `what`. */
int ctrl_parse_duration(int64_t *out_ns, const char *text, const char *what);

/* The usage text. */
void ctrl_options_usage(FILE *out);

#endif
