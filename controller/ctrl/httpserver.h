/*
 * httpserver.h — liveness/readiness probes and Prometheus metrics over HTTP.
 *
 * Two pieces:
 *   ctrl_health      named checks behind /healthz and /readyz. Components
 *                    register a check when they start (before or after the
 *                    server does) and remove it before they are freed.
 *   ctrl_httpserver  a small HTTP/1.1 server (libwebsockets, one service
 *                    thread of its own) answering
 *                      GET /healthz, /readyz  200 "ok" when every check of
 *                                             that endpoint passes, else 500
 *                                             listing each check as
 *                                             "[+]name ok" / "[-]name failed:
 *                                             why" (the Kubernetes format)
 *                      GET /metrics           the registry's exposition text
 *                    HEAD like GET; 404 for other paths, or for an endpoint
 *                    whose health/metrics was not given; 405 for other
 *                    methods. snapstage runs one server per bind address
 *                    (--metrics-bind-address, --health-probe-bind-address);
 *                    a server may serve probes, metrics or both.
 *
 * Bind addresses are written as controller-runtime's flags are: ":8080"
 * (every interface), "127.0.0.1:8081", "[::1]:8080", and "0" for "do not
 * serve". Port 0 lets the kernel pick one; ctrl_httpserver_port() tells.
 *
 * Bounds: request paths over CTRL_HTTP_MAX_PATH bytes get 414 (lws itself
 * rejects header blocks past its own limit); at most about
 * CTRL_HTTP_MAX_CONNECTIONS connections are accepted at once; idle
 * keep-alive connections are closed after a few seconds.
 *
 * Ownership: the server borrows `metrics` and `health`; they must outlive
 * ctrl_httpserver_stop(). Check names are copied; payloads are borrowed.
 * Thread-safety: every ctrl_health function may be called from any thread;
 * checks run on the server's thread, one probe at a time, under the health
 * object's lock — they must be quick and must not add or remove checks.
 * ctrl_httpserver_start()/stop() are for one controlling thread.
 */
#ifndef SNAPSTAGE_CTRL_HTTPSERVER_H
#define SNAPSTAGE_CTRL_HTTPSERVER_H

#include <stdbool.h>

#include "ctrl/metrics.h"
#include "util/buf.h"

#define CTRL_HTTP_MAX_PATH 256
#define CTRL_HTTP_MAX_CONNECTIONS 48
#define CTRL_HEALTH_MAX_REASON 512

/* A check: 0 when healthy; otherwise non-zero with a one-line reason
 * appended to `why` (bounded at CTRL_HEALTH_MAX_REASON bytes). */
typedef int (*ctrl_check_fn)(void *payload, ss_buf *why);

typedef struct ctrl_health ctrl_health;

int ctrl_health_new(ctrl_health **out);
/* Must not race with a server still using it. NULL is ignored. */
void ctrl_health_free(ctrl_health *h);

/* Registers `fn` under `name` (1-63 of [A-Za-z0-9._/-], as Kubernetes names
 * its checks: "ping", "informers-synced") for `endpoint`, "healthz" or
 * "readyz": 0, SS_EINVALID for a bad endpoint or name, SS_EEXISTS when the
 * endpoint already has a check of that name. */
int ctrl_health_add_check(ctrl_health *h, const char *endpoint, const char *name,
			  ctrl_check_fn fn, void *payload);
/* Removes the check, if present; when it returns the check is not running
 * and will not run again, so its payload may be freed. */
void ctrl_health_remove_check(ctrl_health *h, const char *endpoint, const char *name);

/* Runs `endpoint`'s checks and appends the report: "ok" when all pass (or
 * there are none), else one "[+]name ok" / "[-]name failed: why" line per
 * check and "<endpoint> check failed". *healthy tells which. 0, or
 * SS_EINVALID for an unknown endpoint, or the buffer's error. */
int ctrl_health_run(ctrl_health *h, const char *endpoint, ss_buf *report, bool *healthy);

/* A parsed bind address. */
typedef struct {
	bool disabled; /* "0" */
	char host[64]; /* "" for every interface; IPv6 without brackets */
	int port;      /* 0..65535; 0: the kernel picks */
} ctrl_bind_address;

/* Parses ":8080", "127.0.0.1:8081", "[::1]:8080" or "0": 0, or SS_EINVALID
 * naming the text. Hosts must be IP literals (no name lookups). */
int ctrl_bind_address_parse(ctrl_bind_address *out, const char *text);

typedef struct ctrl_httpserver ctrl_httpserver;

typedef struct {
	const char *bind_address; /* see above; NULL or "0": disabled */
	ctrl_metrics *metrics;	  /* borrowed; NULL: /metrics is 404 */
	ctrl_health *health;	  /* borrowed; NULL: /healthz, /readyz are 404 */
} ctrl_httpserver_opts;

/* Binds and starts serving on a new thread. *out is the server, or NULL
 * when the address is "0" (disabled; still a success). SS_EINVALID for a
 * malformed address, SS_ETRANSPORT when it cannot be bound (in use, not
 * local), SS_ENOMEM. */
int ctrl_httpserver_start(ctrl_httpserver **out, const ctrl_httpserver_opts *opts);

/* The port actually bound (useful after asking for port 0); -1 for NULL. */
int ctrl_httpserver_port(const ctrl_httpserver *s);

/* Stops the thread, closes every connection and frees the server. NULL is
 * ignored. */
void ctrl_httpserver_stop(ctrl_httpserver *s);

#endif
