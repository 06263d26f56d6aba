/*
 * metrics.h — a small Prometheus metrics registry: counters, gauges and
 * histograms with labels, rendered in the text exposition format 0.0.4.
 *
 * A family is registered once with its name, help and label names; each
 * distinct tuple of label values is a series, created on first use. Label
 * values are passed as a NULL-terminated array, most easily with CTRL_LV():
 *
 *   ctrl_counter *c = ctrl_metrics_counter(m, "snapstage_reconcile_total",
 *           "Reconciles by controller and result.", CTRL_LV("controller", "result"));
 *   ctrl_counter_inc(c, CTRL_LV("backup", "success"));
 *
 * Collectors run at scrape time (inside ctrl_metrics_render) to set gauges
 * from live state, such as a workqueue's depth, so hot paths keep no extra
 * bookkeeping.
 *
 * Names used across snapstage (keep them stable; dashboards depend on them):
 *   snapstage_reconcile_total{controller,result}       counter
 *   snapstage_reconcile_errors_total{controller}        counter
 *   snapstage_reconcile_duration_seconds{controller}    histogram
 *   snapstage_workqueue_depth{name}                     gauge
 *   snapstage_workqueue_adds_total{name}                counter
 *   snapstage_workqueue_retries_total{name}             counter
 *   snapstage_leader{lease}                             gauge (1 leading, 0 not)
 *   snapstage_watch_restarts_total{resource,reason}     counter
 *   snapstage_api_requests_total{verb,code}             counter
 *   snapstage_api_request_duration_seconds{verb}        histogram
 *
 * Ownership: the registry owns its families; family pointers stay valid until
 * ctrl_metrics_free(). Label arrays and strings are borrowed (copied when a
 * series is created). Thread-safety: every update and ctrl_metrics_render()
 * may be called from any thread at once; registering families and
 * collectors is also safe, but is normally done at start-up.
 */
#ifndef SNAPSTAGE_CTRL_METRICS_H
#define SNAPSTAGE_CTRL_METRICS_H

#include <stddef.h>

#include "util/buf.h"

/* A NULL-terminated array of label names or values, as a compound literal. */
#define CTRL_LV(...) ((const char *const[]){ __VA_ARGS__, NULL })
/* No labels at all. */
#define CTRL_LV_NONE ((const char *const[]){ NULL })

#define CTRL_METRICS_MAX_LABELS 4

typedef struct ctrl_metrics ctrl_metrics;
typedef struct ctrl_counter ctrl_counter;
typedef struct ctrl_gauge ctrl_gauge;
typedef struct ctrl_histogram ctrl_histogram;

int ctrl_metrics_new(ctrl_metrics **out);
void ctrl_metrics_free(ctrl_metrics *m);

/* Registers a family, or returns the one already registered under `name` if
 * its kind and label names match. NULL (with the last error set) when the
 * name or labels are malformed or clash with an existing family. */
ctrl_counter *ctrl_metrics_counter(ctrl_metrics *m, const char *name, const char *help,
				   const char *const *label_names);
ctrl_gauge *ctrl_metrics_gauge(ctrl_metrics *m, const char *name, const char *help,
			       const char *const *label_names);
/* `buckets`: strictly increasing upper bounds (the +Inf bucket is implied);
 * NULL for the default latency buckets
 * .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 (seconds). */
ctrl_histogram *ctrl_metrics_histogram(ctrl_metrics *m, const char *name,
				       const char *help, const char *const *label_names,
				       const double *buckets, size_t n_buckets);

/* Updates. A call whose label values do not match the family's label names
 * in number is a programming error: it is ignored and logged once. A NULL
 * family is ignored, so optional metrics need no checks at call sites. */
void ctrl_counter_add(ctrl_counter *c, const char *const *label_values, double v);
void ctrl_counter_inc(ctrl_counter *c, const char *const *label_values);
void ctrl_gauge_set(ctrl_gauge *g, const char *const *label_values, double v);
void ctrl_gauge_add(ctrl_gauge *g, const char *const *label_values, double v);
void ctrl_histogram_observe(ctrl_histogram *h, const char *const *label_values, double v);

/* Called at every render, before the text is written, with the registry
 * unlocked (it may update gauges). */
typedef void (*ctrl_metrics_collect_fn)(ctrl_metrics *m, void *payload);
int ctrl_metrics_add_collector(ctrl_metrics *m, ctrl_metrics_collect_fn fn,
			       void *payload);
/* Removes the collector registered with exactly (fn, payload), if any;
 * after it returns, fn is not running and will not be called again. */
void ctrl_metrics_remove_collector(ctrl_metrics *m, ctrl_metrics_collect_fn fn,
				   void *payload);

/* Appends the exposition text (families sorted by name, series by labels)
 * to `out`: 0, or the buffer's SS_ETOOLARGE / SS_ENOMEM. */
int ctrl_metrics_render(ctrl_metrics *m, ss_buf *out);

/* The current value of a counter or gauge series, or a histogram series'
 * observation count; 0 for a series never touched, -1 for an unknown
 * family. For tests and status reporting. */
double ctrl_metrics_value(ctrl_metrics *m, const char *name,
			  const char *const *label_values);

/* An observer for kube_client_opts.on_request: `payload` is a ctrl_metrics.
 * Records snapstage_api_requests_total{verb,code} (code is the HTTP status,
 * or "<error>" for a transport failure, as client-go does) and
 * snapstage_api_request_duration_seconds{verb}. Thread-safe. */
void ctrl_metrics_observe_api(void *payload, const char *verb, long http_status,
			      double seconds);

#endif
