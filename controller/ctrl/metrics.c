/*
 * metrics.c — the Prometheus registry behind ctrl/metrics.h.
 *
 * A registry holds families in an array sorted by name; a family holds its
 * series in an array sorted by label values, so rendering is a plain walk
 * and lookups are binary searches. Families are never removed before
 * ctrl_metrics_free(), which is why the pointers handed out stay valid.
 *
 * Locks, always taken in this order when more than one is held:
 *   collect_lock  the collector list; held while collectors run, which is
 *                 what lets remove_collector() promise "not running".
 *   lock          the family list (registration, render's walk).
 *   family lock   one family's series and values (every update).
 * Updates take only their family's lock, so hot paths in different
 * families never contend. Collectors run holding collect_lock only, so they
 * may register families and update any metric, but must not add or remove
 * collectors, nor render.
 *
 * Memory is bounded per family: past MAX_SERIES distinct label tuples new
 * series are dropped (and logged once), so a label fed from unexpected
 * input cannot grow the registry without limit.
 */
#include "ctrl/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define MAX_SERIES 10000
#define MAX_BUCKETS 64
#define DOUBLE_TEXT_MAX 40

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } family_kind;

static const char *const kind_names[] = { "counter", "gauge", "histogram" };

static const double default_buckets[] = {
	.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10
};

typedef struct {
	char *values[CTRL_METRICS_MAX_LABELS];
	double value;	  /* counter or gauge; a histogram's sum */
	uint64_t count;	  /* histogram observations */
	uint64_t *counts; /* histogram, per bucket (not cumulative), +Inf last */
} series;

typedef struct {
	family_kind kind;
	char *name;
	char *help;
	char *labels[CTRL_METRICS_MAX_LABELS];
	size_t nlabels;
	double *bounds; /* histogram upper bounds, without +Inf */
	size_t nbounds;
	pthread_mutex_t lock;
	series **series; /* sorted by label values */
	size_t nseries, capseries;
	atomic_bool warned; /* a misuse has been logged */
} family;

typedef struct {
	ctrl_metrics_collect_fn fn;
	void *payload;
} collector;

struct ctrl_metrics {
	pthread_mutex_t collect_lock;
	collector *collectors;
	size_t ncollectors, capcollectors;
	pthread_mutex_t lock;
	family **families; /* sorted by name */
	size_t nfamilies, capfamilies;
};

/* The public family types are never defined: they are views of `family`. */
static family *counter_family(ctrl_counter *c)
{
	return (family *)(void *)c;
}

static family *gauge_family(ctrl_gauge *g)
{
	return (family *)(void *)g;
}

static family *histogram_family(ctrl_histogram *h)
{
	return (family *)(void *)h;
}

/* --- names ------------------------------------------------------------- */

static bool valid_name(const char *s, bool colons)
{
	size_t i;

	if (!s || !*s)
		return false;
	for (i = 0; s[i]; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (colons && c == ':') || (i > 0 && c >= '0' && c <= '9');

		if (!ok)
			return false;
	}
	return true;
}

static size_t count_values(const char *const *values)
{
	size_t n = 0;

	while (values && values[n] && n <= CTRL_METRICS_MAX_LABELS)
		n++;
	return n;
}

static int check_labels(const char *name, const char *const *labels, family_kind kind)
{
	size_t n = count_values(labels), i, j;

	if (n > CTRL_METRICS_MAX_LABELS)
		return ss_error_set(SS_EINVALID, "metric %s: more than %d labels", name,
				    CTRL_METRICS_MAX_LABELS);
	for (i = 0; i < n; i++) {
		if (!valid_name(labels[i], false))
			return ss_error_set(SS_EINVALID,
					    "metric %s: label name '%s' is not valid",
					    name, labels[i]);
		if (ss_str_has_prefix(labels[i], "__"))
			return ss_error_set(SS_EINVALID,
					    "metric %s: label name '%s' is reserved "
					    "(starts with __)",
					    name, labels[i]);
		if (kind == KIND_HISTOGRAM && !strcmp(labels[i], "le"))
			return ss_error_set(SS_EINVALID,
					    "metric %s: label name 'le' is reserved for "
					    "histogram buckets",
					    name);
		for (j = 0; j < i; j++)
			if (!strcmp(labels[i], labels[j]))
				return ss_error_set(SS_EINVALID,
						    "metric %s: label '%s' given twice",
						    name, labels[i]);
	}
	return 0;
}

static int check_buckets(const char *name, const double *b, size_t n)
{
	size_t i;

	if (n == 0 || n > MAX_BUCKETS)
		return ss_error_set(SS_EINVALID,
				    "histogram %s: between 1 and %d buckets needed", name,
				    MAX_BUCKETS);
	for (i = 0; i < n; i++) {
		if (!isfinite(b[i]))
			return ss_error_set(SS_EINVALID,
					    "histogram %s: bucket bounds must be finite "
					    "(+Inf is implied)",
					    name);
		if (i > 0 && !(b[i] > b[i - 1]))
			return ss_error_set(
				SS_EINVALID,
				"histogram %s: bucket bounds must be strictly "
				"increasing",
				name);
	}
	return 0;
}

/* --- families ---------------------------------------------------------- */

static void series_free(series *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < CTRL_METRICS_MAX_LABELS; i++)
		free(s->values[i]);
	free(s->counts);
	free(s);
}

static void family_free(family *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->nseries; i++)
		series_free(f->series[i]);
	free(f->series);
	for (i = 0; i < CTRL_METRICS_MAX_LABELS; i++)
		free(f->labels[i]);
	free(f->bounds);
	free(f->name);
	free(f->help);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Compares a tuple of label values with a series' values. */
static int compare_values(const family *f, const char *const *values, const series *s)
{
	size_t i;

	for (i = 0; i < f->nlabels; i++) {
		int c = strcmp(values[i], s->values[i]);

		if (c != 0)
			return c;
	}
	return 0;
}

/* Binary search: the series' index, or where it would be inserted. */
static size_t series_find(const family *f, const char *const *values, bool *found)
{
	size_t lo = 0, hi = f->nseries;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = compare_values(f, values, f->series[mid]);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static series *series_new(const family *f, const char *const *values)
{
	series *s = calloc(1, sizeof(*s));
	size_t i;

	if (!s)
		return NULL;
	for (i = 0; i < f->nlabels; i++) {
		s->values[i] = ss_strdup(values[i]);
		if (!s->values[i])
			goto fail;
	}
	if (f->kind == KIND_HISTOGRAM) {
		s->counts = calloc(f->nbounds + 1, sizeof(*s->counts));
		if (!s->counts)
			goto fail;
	}
	return s;
fail:
	series_free(s);
	return NULL;
}

static void warn_once(family *f, const char *msg, size_t got)
{
	if (atomic_exchange(&f->warned, true))
		return;
	ss_log(SS_LOG_ERROR, msg, SS_LS("metric", f->name), SS_LI("labels", f->nlabels),
	       SS_LI("got", got));
}

/* The series for `values`, created if new; NULL (logged once) on misuse,
 * at the cardinality bound or out of memory. Called with f->lock held. */
static series *series_get(family *f, const char *const *values)
{
	size_t n = count_values(values), at;
	bool found;
	series *s;

	if (n != f->nlabels) {
		warn_once(f, "metric used with the wrong number of label values", n);
		return NULL;
	}
	at = series_find(f, values, &found);
	if (found)
		return f->series[at];
	if (f->nseries >= MAX_SERIES) {
		warn_once(f, "metric has too many series; dropping new ones", n);
		return NULL;
	}
	if (f->nseries == f->capseries) {
		size_t cap = f->capseries ? f->capseries * 2 : 4;
		series **grown = realloc(f->series, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		f->series = grown;
		f->capseries = cap;
	}
	s = series_new(f, values);
	if (!s)
		return NULL;
	memmove(&f->series[at + 1], &f->series[at],
		(f->nseries - at) * sizeof(*f->series));
	f->series[at] = s;
	f->nseries++;
	return s;
}

static bool same_shape(const family *f, family_kind kind, const char *const *labels,
		       const double *bounds, size_t nbounds)
{
	size_t i;

	if (f->kind != kind || f->nlabels != count_values(labels))
		return false;
	for (i = 0; i < f->nlabels; i++)
		if (strcmp(f->labels[i], labels[i]) != 0)
			return false;
	if (kind != KIND_HISTOGRAM)
		return true;
	if (f->nbounds != nbounds)
		return false;
	for (i = 0; i < nbounds; i++)
		if (f->bounds[i] != bounds[i])
			return false;
	return true;
}

/* Whether `a` is histogram `h`'s name plus one of the suffixes its samples
 * use, which would make the two families' lines indistinguishable. */
static bool shadows_histogram(const char *a, const char *h)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	size_t n = strlen(h), i;

	if (strncmp(a, h, n) != 0)
		return false;
	for (i = 0; i < 3; i++)
		if (!strcmp(a + n, suffixes[i]))
			return true;
	return false;
}

static int check_clash(const ctrl_metrics *m, const char *name, family_kind kind)
{
	size_t i;

	for (i = 0; i < m->nfamilies; i++) {
		const family *f = m->families[i];

		if (f->kind == KIND_HISTOGRAM && shadows_histogram(name, f->name))
			return ss_error_set(SS_EEXISTS,
					    "metric %s clashes with histogram %s", name,
					    f->name);
		if (kind == KIND_HISTOGRAM && shadows_histogram(f->name, name))
			return ss_error_set(SS_EEXISTS,
					    "histogram %s clashes with metric %s", name,
					    f->name);
	}
	return 0;
}

static int family_new(family **out, family_kind kind, const char *name, const char *help,
		      const char *const *labels, const double *bounds, size_t nbounds)
{
	family *f = calloc(1, sizeof(*f));
	size_t i;
	int error = SS_ENOMEM;

	if (!f)
		return ss_error_set(SS_ENOMEM, "out of memory");
	pthread_mutex_init(&f->lock, NULL);
	f->kind = kind;
	f->nlabels = count_values(labels);
	f->name = ss_strdup(name);
	f->help = ss_strdup(help ? help : "");
	if (!f->name || !f->help)
		goto done;
	for (i = 0; i < f->nlabels; i++) {
		f->labels[i] = ss_strdup(labels[i]);
		if (!f->labels[i])
			goto done;
	}
	if (kind == KIND_HISTOGRAM) {
		f->bounds = malloc(nbounds * sizeof(*f->bounds));
		if (!f->bounds) {
			ss_error_set(SS_ENOMEM, "out of memory");
			goto done;
		}
		memcpy(f->bounds, bounds, nbounds * sizeof(*f->bounds));
		f->nbounds = nbounds;
	}
	/* A family without labels has exactly one series: show it from the
	 * start, so a counter reads 0 before its first event. */
	if (f->nlabels == 0 && !series_get(f, CTRL_LV_NONE)) {
		ss_error_set(SS_ENOMEM, "out of memory");
		goto done;
	}
	*out = f;
	f = NULL;
	error = 0;
done:
	family_free(f);
	return error;
}

/* Under m->lock: the family `name`, or NULL with *at the place it would
 * take in the sorted table. */
static family *find_locked(ctrl_metrics *m, const char *name, size_t *at)
{
	size_t lo = 0, hi = m->nfamilies;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, m->families[mid]->name);

		if (c == 0) {
			*at = mid;
			return m->families[mid];
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*at = lo;
	return NULL;
}

/* Under m->lock: room in the table for one more family. */
static int make_room_locked(ctrl_metrics *m)
{
	size_t cap;
	family **grown;

	if (m->nfamilies < m->capfamilies)
		return 0;
	cap = m->capfamilies ? m->capfamilies * 2 : 16;
	grown = realloc(m->families, cap * sizeof(*grown));
	if (!grown)
		return ss_error_set(SS_ENOMEM, "out of memory");
	m->families = grown;
	m->capfamilies = cap;
	return 0;
}

static family *family_register(ctrl_metrics *m, family_kind kind, const char *name,
			       const char *help, const char *const *labels,
			       const double *bounds, size_t nbounds)
{
	family *f = NULL;
	size_t at;

	if (!m) {
		ss_error_set(SS_EINVALID, "metric %s: no registry", name ? name : "");
		return NULL;
	}
	if (!valid_name(name, true)) {
		ss_error_set(SS_EINVALID, "metric name '%s' is not valid",
			     name ? name : "");
		return NULL;
	}
	if (check_labels(name, labels, kind) < 0)
		return NULL;
	if (kind == KIND_HISTOGRAM && !bounds) {
		bounds = default_buckets;
		nbounds = sizeof(default_buckets) / sizeof(default_buckets[0]);
	}
	if (kind == KIND_HISTOGRAM && check_buckets(name, bounds, nbounds) < 0)
		return NULL;

	pthread_mutex_lock(&m->lock);
	f = find_locked(m, name, &at);
	if (f) {
		if (!same_shape(f, kind, labels, bounds, nbounds)) {
			ss_error_set(SS_EEXISTS,
				     "metric %s is already registered as a %s with "
				     "other labels or buckets",
				     name, kind_names[f->kind]);
			f = NULL;
		}
		goto done;
	}
	if (check_clash(m, name, kind) < 0 || make_room_locked(m) < 0 ||
	    family_new(&f, kind, name, help, labels, bounds, nbounds) < 0)
		goto done;
	memmove(&m->families[at + 1], &m->families[at],
		(m->nfamilies - at) * sizeof(*m->families));
	m->families[at] = f;
	m->nfamilies++;
done:
	pthread_mutex_unlock(&m->lock);
	return f;
}

static family *family_lookup(ctrl_metrics *m, const char *name)
{
	family *f;
	size_t at;

	pthread_mutex_lock(&m->lock);
	f = find_locked(m, name, &at);
	pthread_mutex_unlock(&m->lock);
	return f;
}

/* --- public: registry -------------------------------------------------- */

int ctrl_metrics_new(ctrl_metrics **out)
{
	ctrl_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return ss_error_set(SS_ENOMEM, "out of memory");
	pthread_mutex_init(&m->collect_lock, NULL);
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

void ctrl_metrics_free(ctrl_metrics *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nfamilies; i++)
		family_free(m->families[i]);
	free(m->families);
	free(m->collectors);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->collect_lock);
	free(m);
}

ctrl_counter *ctrl_metrics_counter(ctrl_metrics *m, const char *name, const char *help,
				   const char *const *label_names)
{
	family *f = family_register(m, KIND_COUNTER, name, help, label_names, NULL, 0);

	return (ctrl_counter *)(void *)f;
}

ctrl_gauge *ctrl_metrics_gauge(ctrl_metrics *m, const char *name, const char *help,
			       const char *const *label_names)
{
	family *f = family_register(m, KIND_GAUGE, name, help, label_names, NULL, 0);

	return (ctrl_gauge *)(void *)f;
}

ctrl_histogram *ctrl_metrics_histogram(ctrl_metrics *m, const char *name,
				       const char *help, const char *const *label_names,
				       const double *buckets, size_t n_buckets)
{
	family *f = family_register(m, KIND_HISTOGRAM, name, help, label_names, buckets,
				    n_buckets);

	return (ctrl_histogram *)(void *)f;
}

/* --- public: updates --------------------------------------------------- */

void ctrl_counter_add(ctrl_counter *c, const char *const *label_values, double v)
{
	family *f = counter_family(c);
	series *s;

	if (!f)
		return;
	if (!(v >= 0)) {
		/* Counters only go up; NaN would poison the series for good. */
		warn_once(f, "counter given a negative or NaN increment", 0);
		return;
	}
	pthread_mutex_lock(&f->lock);
	s = series_get(f, label_values);
	if (s)
		s->value += v;
	pthread_mutex_unlock(&f->lock);
}

void ctrl_counter_inc(ctrl_counter *c, const char *const *label_values)
{
	ctrl_counter_add(c, label_values, 1);
}

static void gauge_update(ctrl_gauge *g, const char *const *label_values, double v,
			 bool add)
{
	family *f = gauge_family(g);
	series *s;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	s = series_get(f, label_values);
	if (s)
		s->value = add ? s->value + v : v;
	pthread_mutex_unlock(&f->lock);
}

void ctrl_gauge_set(ctrl_gauge *g, const char *const *label_values, double v)
{
	gauge_update(g, label_values, v, false);
}

void ctrl_gauge_add(ctrl_gauge *g, const char *const *label_values, double v)
{
	gauge_update(g, label_values, v, true);
}

void ctrl_histogram_observe(ctrl_histogram *h, const char *const *label_values, double v)
{
	family *f = histogram_family(h);
	series *s;
	size_t i;

	if (!f)
		return;
	if (isnan(v)) {
		warn_once(f, "histogram given NaN", 0);
		return;
	}
	pthread_mutex_lock(&f->lock);
	s = series_get(f, label_values);
	if (s) {
		for (i = 0; i < f->nbounds && v > f->bounds[i]; i++)
			;
		s->counts[i]++;
		s->count++;
		s->value += v;
	}
	pthread_mutex_unlock(&f->lock);
}

double ctrl_metrics_value(ctrl_metrics *m, const char *name,
			  const char *const *label_values)
{
	family *f = m && name ? family_lookup(m, name) : NULL;
	double v = 0;
	bool found;
	size_t at;

	if (!f || count_values(label_values) != f->nlabels)
		return -1;
	pthread_mutex_lock(&f->lock);
	at = series_find(f, label_values, &found);
	if (found)
		v = f->kind == KIND_HISTOGRAM ? (double)f->series[at]->count
					      : f->series[at]->value;
	pthread_mutex_unlock(&f->lock);
	return v;
}

/* --- public: collectors ------------------------------------------------ */

int ctrl_metrics_add_collector(ctrl_metrics *m, ctrl_metrics_collect_fn fn, void *payload)
{
	int error = 0;

	if (!m || !fn)
		return ss_error_set(SS_EINVALID,
				    "a collector needs a registry and a function");
	pthread_mutex_lock(&m->collect_lock);
	if (m->ncollectors == m->capcollectors) {
		size_t cap = m->capcollectors ? m->capcollectors * 2 : 4;
		collector *grown = realloc(m->collectors, cap * sizeof(*grown));

		if (!grown) {
			error = ss_error_set(SS_ENOMEM, "out of memory");
			goto done;
		}
		m->collectors = grown;
		m->capcollectors = cap;
	}
	m->collectors[m->ncollectors].fn = fn;
	m->collectors[m->ncollectors].payload = payload;
	m->ncollectors++;
done:
	pthread_mutex_unlock(&m->collect_lock);
	return error;
}

void ctrl_metrics_remove_collector(ctrl_metrics *m, ctrl_metrics_collect_fn fn,
				   void *payload)
{
	size_t i;

	if (!m)
		return;
	/* Waits for a render's collectors to finish: afterwards fn is idle. */
	pthread_mutex_lock(&m->collect_lock);
	for (i = 0; i < m->ncollectors; i++) {
		if (m->collectors[i].fn == fn && m->collectors[i].payload == payload) {
			memmove(&m->collectors[i], &m->collectors[i + 1],
				(m->ncollectors - i - 1) * sizeof(*m->collectors));
			m->ncollectors--;
			break;
		}
	}
	pthread_mutex_unlock(&m->collect_lock);
}

/* --- rendering --------------------------------------------------------- */

/* Go's strconv.ParseFloat reads this: integers without an exponent while
 * they are exact, otherwise the shortest %g that reads back the same. */
static void format_double(char *buf, size_t cap, double v)
{
	int precision;

	if (isnan(v)) {
		ss_strlcpy(buf, "NaN", cap);
		return;
	}
	if (isinf(v)) {
		ss_strlcpy(buf, v > 0 ? "+Inf" : "-Inf", cap);
		return;
	}
	if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
		snprintf(buf, cap, "%lld", (long long)v);
		return;
	}
	for (precision = 15; precision < 17; precision++) {
		snprintf(buf, cap, "%.*g", precision, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	snprintf(buf, cap, "%.17g", v);
}

static int put_escaped(ss_buf *out, const char *s, bool quotes)
{
	int error = 0;

	for (; *s && error == 0; s++) {
		if (*s == '\\')
			error = ss_buf_puts(out, "\\\\");
		else if (*s == '\n')
			error = ss_buf_puts(out, "\\n");
		else if (quotes && *s == '"')
			error = ss_buf_puts(out, "\\\"");
		else
			error = ss_buf_putc(out, *s);
	}
	return error;
}

/* `{a="x",le="0.5"}`, or nothing for a series without labels. */
static int put_labels(ss_buf *out, const family *f, const series *s, const char *le)
{
	size_t i;
	int error = 0;

	if (f->nlabels == 0 && !le)
		return 0;
	error = ss_buf_putc(out, '{');
	for (i = 0; i < f->nlabels && error == 0; i++) {
		error = ss_buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
		if (error == 0)
			error = put_escaped(out, s->values[i], true);
		if (error == 0)
			error = ss_buf_putc(out, '"');
	}
	if (error == 0 && le)
		error = ss_buf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
	if (error == 0)
		error = ss_buf_putc(out, '}');
	return error;
}

static int put_sample(ss_buf *out, const family *f, const char *suffix, const series *s,
		      const char *le, const char *value)
{
	int error = ss_buf_printf(out, "%s%s", f->name, suffix);

	if (error == 0)
		error = put_labels(out, f, s, le);
	if (error == 0)
		error = ss_buf_printf(out, " %s\n", value);
	return error;
}

static int render_histogram(ss_buf *out, const family *f, const series *s)
{
	char le[DOUBLE_TEXT_MAX], value[DOUBLE_TEXT_MAX];
	uint64_t cumulative = 0;
	size_t i;
	int error = 0;

	for (i = 0; i <= f->nbounds && error == 0; i++) {
		cumulative += s->counts[i];
		if (i < f->nbounds)
			format_double(le, sizeof(le), f->bounds[i]);
		else
			ss_strlcpy(le, "+Inf", sizeof(le));
		snprintf(value, sizeof(value), "%" PRIu64, cumulative);
		error = put_sample(out, f, "_bucket", s, le, value);
	}
	format_double(value, sizeof(value), s->value);
	if (error == 0)
		error = put_sample(out, f, "_sum", s, NULL, value);
	snprintf(value, sizeof(value), "%" PRIu64, s->count);
	if (error == 0)
		error = put_sample(out, f, "_count", s, NULL, value);
	return error;
}

/* Called with f->lock held. */
static int render_family(ss_buf *out, const family *f)
{
	char value[DOUBLE_TEXT_MAX];
	size_t i;
	int error = 0;

	if (f->help[0]) {
		error = ss_buf_printf(out, "# HELP %s ", f->name);
		if (error == 0)
			error = put_escaped(out, f->help, false);
		if (error == 0)
			error = ss_buf_putc(out, '\n');
	}
	if (error == 0)
		error = ss_buf_printf(out, "# TYPE %s %s\n", f->name,
				      kind_names[f->kind]);
	for (i = 0; i < f->nseries && error == 0; i++) {
		const series *s = f->series[i];

		if (f->kind == KIND_HISTOGRAM) {
			error = render_histogram(out, f, s);
		} else {
			format_double(value, sizeof(value), s->value);
			error = put_sample(out, f, "", s, NULL, value);
		}
	}
	return error;
}

static void run_collectors(ctrl_metrics *m)
{
	size_t i;

	pthread_mutex_lock(&m->collect_lock);
	for (i = 0; i < m->ncollectors; i++)
		m->collectors[i].fn(m, m->collectors[i].payload);
	pthread_mutex_unlock(&m->collect_lock);
}

int ctrl_metrics_render(ctrl_metrics *m, ss_buf *out)
{
	size_t i;
	int error = 0;

	run_collectors(m);
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->nfamilies && error == 0; i++) {
		family *f = m->families[i];

		pthread_mutex_lock(&f->lock);
		error = render_family(out, f);
		pthread_mutex_unlock(&f->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return error;
}

/* --- the kube client's request observer -------------------------------- */

#define API_REQUESTS "snapstage_api_requests_total"
#define API_DURATION "snapstage_api_request_duration_seconds"

static family *lookup_kind(ctrl_metrics *m, const char *name, family_kind kind)
{
	family *f = family_lookup(m, name);

	return f && f->kind == kind ? f : NULL;
}

void ctrl_metrics_observe_api(void *payload, const char *verb, long http_status,
			      double seconds)
{
	ctrl_metrics *m = payload;
	ctrl_counter *requests;
	ctrl_histogram *duration;
	char code[24];

	if (!m)
		return;
	/* Looked up on every call (a binary search) rather than cached, so
	 * there is no pointer to keep in sync; registered on first use. A
	 * lookup records no error, which matters: the client calls us while
	 * a request's own error may be the thread's last error. */
	requests = (ctrl_counter *)(void *)lookup_kind(m, API_REQUESTS, KIND_COUNTER);
	duration = (ctrl_histogram *)(void *)lookup_kind(m, API_DURATION, KIND_HISTOGRAM);
	if (!requests)
		requests = ctrl_metrics_counter(m, API_REQUESTS,
						"API server requests by verb and HTTP "
						"status code (<error>: no response).",
						CTRL_LV("verb", "code"));
	if (!duration)
		duration = ctrl_metrics_histogram(m, API_DURATION,
						  "API server request latency by verb.",
						  CTRL_LV("verb"), NULL, 0);
	if (http_status > 0)
		snprintf(code, sizeof(code), "%ld", http_status);
	else
		ss_strlcpy(code, "<error>", sizeof(code));
	if (!verb)
		verb = "UNKNOWN";
	ctrl_counter_inc(requests, CTRL_LV(verb, code));
	ctrl_histogram_observe(duration, CTRL_LV(verb), seconds);
}
