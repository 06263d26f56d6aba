/*
 * leader.c — Lease-based leader election. See leader.h for the rules.
 *
 * Two threads per elector. The worker does all API calls: it campaigns
 * until it holds the lease, then renews every retry period. The watchdog
 * only watches the clock: when the last successful renewal is older than the
 * renew deadline it declares the lease lost, so leadership ends on time even
 * if the worker is stuck in a request for longer (the client's own timeout
 * may well exceed the renew deadline).
 *
 * Invariants: `mu` guards the flags and the condition variable; `cb_mu`
 * serialises the leading/not-leading transitions together with their
 * callbacks, so the callbacks see them in order. `leading` and
 * `renewed_mono` are atomics too, so is_leader() needs no lock. The observed
 * record, the last Lease object and the reported holder belong to the worker.
 */
#include "ctrl/leader.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube/rest.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

static const kube_resource leases = { "coordination.k8s.io", "v1", "leases", true };

struct ctrl_leader {
	kube_client *client;
	const ss_clock *clock;
	ctrl_gauge *gauge;
	ctrl_leader_callbacks cb;
	int64_t lease_ns, renew_ns, retry_ns;
	int64_t lease_s; /* leaseDurationSeconds we write */
	char ns[64];
	char name[254];
	char identity[CTRL_LEADER_IDENTITY_MAX];

	pthread_mutex_t mu;
	pthread_cond_t wake; /* CLOCK_MONOTONIC; any change of the flags */
	pthread_mutex_t cb_mu;
	pthread_t worker, watchdog;
	bool started, joined;	      /* controlling thread only */
	bool stopping, release;	      /* under mu: stop requested, and how */
	bool finished;		      /* under mu: lost or stopped, never leads again */
	bool lost;		      /* under mu: finished because the lease was lost */
	atomic_bool leading;	      /* written under mu */
	_Atomic int64_t renewed_mono; /* start of the last successful write */

	/* Worker only. */
	ctrl_lease_observed seen;
	json_t *lease; /* the Lease as last read or written: its resourceVersion */
	char reported[CTRL_LEASE_HOLDER_MAX];
};

/* ---- pure rules ---- */

int ctrl_leader_check_durations(int64_t lease_ns, int64_t renew_ns, int64_t retry_ns)
{
	if (lease_ns < SS_NS_PER_SEC)
		return ss_error_set(
			SS_EINVALID,
			"leader election: lease duration must be at least 1s");
	if (renew_ns <= 0 || retry_ns <= 0)
		return ss_error_set(SS_EINVALID, "leader election: renew deadline and "
						 "retry period must be positive");
	if (lease_ns <= renew_ns)
		return ss_error_set(SS_EINVALID, "leader election: lease duration must "
						 "be greater than the renew deadline");
	/* client-go's JitterFactor: the deadline must leave room for a retry. */
	if (renew_ns * 10 <= retry_ns * 12)
		return ss_error_set(SS_EINVALID,
				    "leader election: renew deadline must be greater "
				    "than 1.2 x the retry period");
	return 0;
}

bool ctrl_lease_record_equal(const ctrl_lease_record *a, const ctrl_lease_record *b)
{
	return strcmp(a->holder, b->holder) == 0 &&
	       a->lease_duration_s == b->lease_duration_s &&
	       a->acquire_time_ns == b->acquire_time_ns &&
	       a->renew_time_ns == b->renew_time_ns && a->transitions == b->transitions;
}

bool ctrl_lease_observe(ctrl_lease_observed *seen, const ctrl_lease_record *current,
			int64_t now_mono_ns)
{
	if (seen->valid && ctrl_lease_record_equal(&seen->record, current))
		return false;
	seen->record = *current;
	seen->observed_mono_ns = now_mono_ns;
	seen->valid = true;
	return true;
}

ctrl_lease_action ctrl_lease_decide(const ctrl_lease_observed *seen, const char *identity,
				    int64_t now_mono_ns)
{
	const ctrl_lease_record *r = &seen->record;
	int64_t expires;

	if (!seen->valid || r->holder[0] == '\0')
		return CTRL_LEASE_ACQUIRE;
	if (strcmp(r->holder, identity) == 0)
		return CTRL_LEASE_RENEW;
	/* Expiry by our own clock, from when we saw the record change. */
	expires = seen->observed_mono_ns + r->lease_duration_s * SS_NS_PER_SEC;
	if (r->lease_duration_s > 0 && expires > now_mono_ns)
		return CTRL_LEASE_WAIT;
	return CTRL_LEASE_ACQUIRE;
}

void ctrl_lease_next(ctrl_lease_record *out, const ctrl_lease_record *current,
		     ctrl_lease_action action, const char *identity,
		     int64_t lease_duration_s, int64_t now_real_ns)
{
	ctrl_lease_record next;

	memset(&next, 0, sizeof(next));
	ss_strlcpy(next.holder, identity, sizeof(next.holder));
	next.lease_duration_s = lease_duration_s;
	next.renew_time_ns = now_real_ns;
	if (action == CTRL_LEASE_RENEW) {
		next.acquire_time_ns = current->acquire_time_ns;
		next.transitions = current->transitions;
	} else {
		next.acquire_time_ns = now_real_ns;
		next.transitions = current->transitions + 1;
	}
	*out = next;
}

void ctrl_lease_released(ctrl_lease_record *out, const ctrl_lease_record *current,
			 int64_t now_real_ns)
{
	ctrl_lease_record next;

	memset(&next, 0, sizeof(next));
	next.lease_duration_s = 1;
	next.acquire_time_ns = now_real_ns;
	next.renew_time_ns = now_real_ns;
	next.transitions = current->transitions;
	*out = next;
}

static int parse_time(int64_t *out, const json_t *spec, const char *field)
{
	const json_t *v = json_object_get(spec, field);

	if (!v || json_is_null(v)) {
		*out = 0;
		return 0;
	}
	if (!json_is_string(v))
		return ss_error_set(SS_EINVALID, "Lease spec.%s is not a string", field);
	return ss_time_parse(out, json_string_value(v));
}

int ctrl_lease_from_json(ctrl_lease_record *out, const json_t *lease)
{
	ctrl_lease_record rec;
	const json_t *spec;
	const char *holder;
	int error;

	if (!json_is_object(lease))
		return ss_error_set(SS_EINVALID, "a Lease must be a JSON object");
	memset(&rec, 0, sizeof(rec));
	spec = json_object_get(lease, "spec");
	holder = json_string_value(json_object_get(spec, "holderIdentity"));
	ss_strlcpy(rec.holder, holder ? holder : "", sizeof(rec.holder));
	rec.lease_duration_s =
		json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
	rec.transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
	error = parse_time(&rec.acquire_time_ns, spec, "acquireTime");
	if (error < 0)
		return error;
	error = parse_time(&rec.renew_time_ns, spec, "renewTime");
	if (error < 0)
		return error;
	*out = rec;
	return 0;
}

json_t *ctrl_lease_spec_json(const ctrl_lease_record *rec)
{
	char t[SS_TIME_RFC3339_MAX];
	json_t *spec = json_object();
	int failed = 0;

	if (!spec)
		goto nomem;
	failed |= json_object_set_new(spec, "holderIdentity", json_string(rec->holder));
	failed |= json_object_set_new(spec, "leaseDurationSeconds",
				      json_integer(rec->lease_duration_s));
	if (rec->acquire_time_ns)
		failed |=
			json_object_set_new(spec, "acquireTime",
					    json_string(ss_time_format_micro(
						    t, sizeof(t), rec->acquire_time_ns)));
	if (rec->renew_time_ns)
		failed |= json_object_set_new(spec, "renewTime",
					      json_string(ss_time_format_micro(
						      t, sizeof(t), rec->renew_time_ns)));
	failed |= json_object_set_new(spec, "leaseTransitions",
				      json_integer(rec->transitions));
	if (!failed)
		return spec;
nomem:
	json_decref(spec);
	ss_error_set(SS_ENOMEM, "out of memory building a Lease spec");
	return NULL;
}

/* ---- the elector ---- */

static void random_hex(char *out, size_t cap)
{
	unsigned char bytes[8] = { 0 };
	uint64_t v = 0;
	size_t i;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, bytes, sizeof(bytes)) != (ssize_t)sizeof(bytes))
			memset(bytes, 0, sizeof(bytes));
		close(fd);
	}
	for (i = 0; i < sizeof(bytes); i++)
		v = (v << 8) | bytes[i];
	if (v == 0) { /* no urandom: still distinct per process and moment */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
		    ((uint64_t)getpid() << 16);
	}
	snprintf(out, cap, "%016llx", (unsigned long long)v);
}

static int default_identity(char *out, size_t cap)
{
	char host[64] = "";
	char suffix[17];
	int n;

	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		ss_strlcpy(host, "snapstage", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	random_hex(suffix, sizeof(suffix));
	n = snprintf(out, cap, "%s_%s", host, suffix);
	if (n < 0 || (size_t)n >= cap)
		return ss_error_set(SS_EINVALID, "leader election: identity too long");
	return 0;
}

static int copy_opt(char *dst, size_t cap, const char *src, const char *what)
{
	if (!src || !*src)
		return ss_error_set(SS_EINVALID, "leader election: %s is required", what);
	if (ss_strlcpy(dst, src, cap) >= cap)
		return ss_error_set(SS_EINVALID, "leader election: %s '%s' is too long",
				    what, src);
	return 0;
}

int ctrl_leader_new(ctrl_leader **out, const ctrl_leader_opts *opts)
{
	ctrl_leader *le = NULL;
	pthread_condattr_t attr;
	int error;

	if (!opts || !opts->client)
		return ss_error_set(SS_EINVALID, "leader election: a client is required");
	error = ctrl_leader_check_durations(
		opts->lease_duration_ns, opts->renew_deadline_ns, opts->retry_period_ns);
	if (error < 0)
		return error;
	le = calloc(1, sizeof(*le));
	if (!le)
		return ss_error_set(SS_ENOMEM, "out of memory for a leader elector");
	error = copy_opt(le->ns, sizeof(le->ns), opts->lease_namespace,
			 "lease namespace");
	if (error < 0)
		goto done;
	error = copy_opt(le->name, sizeof(le->name), opts->lease_name, "lease name");
	if (error < 0)
		goto done;
	if (opts->identity)
		error = copy_opt(le->identity, sizeof(le->identity), opts->identity,
				 "identity");
	else
		error = default_identity(le->identity, sizeof(le->identity));
	if (error < 0)
		goto done;
	if (opts->metrics) {
		le->gauge = ctrl_metrics_gauge(opts->metrics, "snapstage_leader",
					       "1 while this process holds the leader "
					       "lease, else 0.",
					       CTRL_LV("lease"));
		if (!le->gauge) {
			error = ss_error_last()->code < 0 ? ss_error_last()->code
							  : SS_ERROR;
			goto done;
		}
		ctrl_gauge_set(le->gauge, CTRL_LV(le->name), 0);
	}
	le->client = opts->client;
	le->clock = opts->clock ? opts->clock : ss_clock_system();
	le->cb = opts->callbacks;
	le->lease_ns = opts->lease_duration_ns;
	le->renew_ns = opts->renew_deadline_ns;
	le->retry_ns = opts->retry_period_ns;
	le->lease_s = opts->lease_duration_ns / SS_NS_PER_SEC;
	atomic_init(&le->leading, false);
	atomic_init(&le->renewed_mono, 0);

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&le->wake, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&le->mu, NULL);
	pthread_mutex_init(&le->cb_mu, NULL);
	*out = le;
	le = NULL;
	error = 0;
done:
	free(le);
	return error;
}

const char *ctrl_leader_identity(const ctrl_leader *le)
{
	return le->identity;
}

bool ctrl_leader_is_leader(const ctrl_leader *le)
{
	int64_t renewed;

	if (!atomic_load(&le->leading))
		return false;
	renewed = atomic_load(&le->renewed_mono);
	return ss_clock_mono(le->clock) < renewed + le->renew_ns;
}

/* Waits up to `ns` of real time; true when the elector should end. */
static bool wait_for(ctrl_leader *le, int64_t ns)
{
	struct timespec ts = ss_mono_deadline(ns);
	bool end;
	int rc = 0;

	pthread_mutex_lock(&le->mu);
	while (!le->stopping && !le->finished && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&le->wake, &le->mu, &ts);
	end = le->stopping || le->finished;
	pthread_mutex_unlock(&le->mu);
	return end;
}

static bool ending(ctrl_leader *le)
{
	bool end;

	pthread_mutex_lock(&le->mu);
	end = le->stopping || le->finished;
	pthread_mutex_unlock(&le->mu);
	return end;
}

static void become_leader(ctrl_leader *le, int64_t renewed)
{
	pthread_mutex_lock(&le->cb_mu);
	pthread_mutex_lock(&le->mu);
	if (le->stopping || le->finished) {
		pthread_mutex_unlock(&le->mu);
		pthread_mutex_unlock(&le->cb_mu);
		return;
	}
	atomic_store(&le->renewed_mono, renewed);
	atomic_store(&le->leading, true);
	pthread_cond_broadcast(&le->wake);
	pthread_mutex_unlock(&le->mu);
	ctrl_gauge_set(le->gauge, CTRL_LV(le->name), 1);
	ss_log(SS_LOG_INFO, "leader election: started leading", SS_LS("lease", le->name),
	       SS_LS("namespace", le->ns), SS_LS("identity", le->identity));
	if (le->cb.on_started_leading)
		le->cb.on_started_leading(le->cb.payload);
	pthread_mutex_unlock(&le->cb_mu);
}

/* Ends leadership for good; `lost` when the lease was lost, not stopped. */
static void end_leading(ctrl_leader *le, bool lost, const char *why)
{
	bool was;

	pthread_mutex_lock(&le->cb_mu);
	pthread_mutex_lock(&le->mu);
	was = atomic_load(&le->leading);
	atomic_store(&le->leading, false);
	if (!le->finished)
		le->lost = lost;
	le->finished = true;
	pthread_cond_broadcast(&le->wake);
	pthread_mutex_unlock(&le->mu);
	if (was) {
		ctrl_gauge_set(le->gauge, CTRL_LV(le->name), 0);
		ss_log(lost ? SS_LOG_WARN : SS_LOG_INFO,
		       "leader election: stopped leading", SS_LS("lease", le->name),
		       SS_LS("namespace", le->ns), SS_LS("identity", le->identity),
		       SS_LS("reason", why));
		if (le->cb.on_stopped_leading)
			le->cb.on_stopped_leading(le->cb.payload);
	}
	pthread_mutex_unlock(&le->cb_mu);
}

static void report_holder(ctrl_leader *le, const char *holder)
{
	if (!holder[0] || strcmp(holder, le->reported) == 0)
		return;
	ss_strlcpy(le->reported, holder, sizeof(le->reported));
	ss_log(SS_LOG_INFO, "leader election: new leader", SS_LS("lease", le->name),
	       SS_LS("namespace", le->ns), SS_LS("leader", holder));
	if (le->cb.on_new_leader)
		le->cb.on_new_leader(holder, le->cb.payload);
}

/* A Lease object: `base` (the last one read, with its resourceVersion) with
 * the spec replaced, or a fresh one when base is NULL. */
static json_t *lease_object(const ctrl_leader *le, const json_t *base,
			    const ctrl_lease_record *rec)
{
	json_t *obj, *spec = ctrl_lease_spec_json(rec);

	if (!spec)
		return NULL;
	if (base)
		obj = json_deep_copy(base);
	else
		obj = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion",
				"coordination.k8s.io/v1", "kind", "Lease", "metadata",
				"name", le->name, "namespace", le->ns);
	if (!obj || json_object_set_new(obj, "spec", spec) != 0) {
		if (!obj)
			json_decref(spec);
		json_decref(obj);
		ss_error_set(SS_ENOMEM, "out of memory building Lease %s/%s", le->ns,
			     le->name);
		return NULL;
	}
	return obj;
}

/* One round of client-go's tryAcquireOrRenew. 0 with *out_holding telling
 * whether we hold the lease now, or an error (SS_ECONFLICT / SS_EEXISTS:
 * another candidate wrote first). *out_other is set when another live
 * holder is seen. */
static int try_acquire_or_renew(ctrl_leader *le, bool *out_holding, bool *out_other)
{
	ctrl_lease_record current, next;
	ctrl_lease_action action;
	json_t *lease = NULL, *body = NULL, *written = NULL;
	int64_t now_mono = ss_clock_mono(le->clock);
	int64_t now_real = ss_clock_real(le->clock);
	int error;

	*out_other = false;
	error = kube_get(&lease, le->client, &leases, le->ns, le->name);
	if (error == SS_ENOTFOUND) {
		memset(&current, 0, sizeof(current));
		ctrl_lease_next(&next, &current, CTRL_LEASE_ACQUIRE, le->identity,
				le->lease_s, now_real);
		next.transitions = 0; /* a new Lease starts at 0, as client-go's */
		body = lease_object(le, NULL, &next);
		if (!body) {
			error = SS_ENOMEM;
			goto done;
		}
		error = kube_create(&written, le->client, &leases, le->ns, body);
		if (error < 0)
			goto done;
		goto holding;
	}
	if (error < 0)
		goto done;
	error = ctrl_lease_from_json(&current, lease);
	if (error < 0)
		goto done;
	ctrl_lease_observe(&le->seen, &current, now_mono);
	report_holder(le, current.holder);
	action = ctrl_lease_decide(&le->seen, le->identity, now_mono);
	if (action == CTRL_LEASE_WAIT) {
		*out_holding = false;
		*out_other = true;
		goto done;
	}
	ctrl_lease_next(&next, &current, action, le->identity, le->lease_s, now_real);
	body = lease_object(le, lease, &next);
	if (!body) {
		error = SS_ENOMEM;
		goto done;
	}
	error = kube_update(&written, le->client, &leases, body);
	if (error < 0)
		goto done;
holding:
	le->seen.record = next;
	le->seen.observed_mono_ns = now_mono;
	le->seen.valid = true;
	json_decref(le->lease);
	le->lease = written;
	written = NULL;
	report_holder(le, le->identity);
	*out_holding = true;
done:
	json_decref(written);
	json_decref(body);
	json_decref(lease);
	return error;
}

/* Gives the lease up with the resourceVersion of our last write; a
 * conflict means it already moved on, which is fine. */
static void release_lease(ctrl_leader *le)
{
	ctrl_lease_record rec;
	json_t *body;

	if (!le->lease || strcmp(le->seen.record.holder, le->identity) != 0)
		return;
	ctrl_lease_released(&rec, &le->seen.record, ss_clock_real(le->clock));
	body = lease_object(le, le->lease, &rec);
	if (!body || kube_update(NULL, le->client, &leases, body) < 0)
		ss_log(SS_LOG_WARN, "leader election: release failed",
		       SS_LS("lease", le->name), SS_LS("namespace", le->ns), SS_LERR());
	else
		ss_log(SS_LOG_INFO, "leader election: released lease",
		       SS_LS("lease", le->name), SS_LS("namespace", le->ns),
		       SS_LS("identity", le->identity));
	json_decref(body);
}

static void log_attempt_error(const ctrl_leader *le, int error, bool leading)
{
	ss_log_level level = SS_LOG_WARN;

	/* Losing a race to another candidate is the normal case. */
	if (!leading && (error == SS_ECONFLICT || error == SS_EEXISTS))
		level = SS_LOG_DEBUG;
	ss_log(level,
	       leading ? "leader election: renew failed"
		       : "leader election: acquire failed",
	       SS_LS("lease", le->name), SS_LS("namespace", le->ns), SS_LERR());
}

static void *worker_main(void *arg)
{
	ctrl_leader *le = arg;
	bool holding = false, other = false, release = false, lost = false;
	int64_t start;
	int error;

	while (!ending(le)) {
		start = ss_clock_mono(le->clock);
		error = try_acquire_or_renew(le, &holding, &other);
		if (error < 0)
			log_attempt_error(le, error, false);
		if (error == 0 && holding) {
			become_leader(le, start);
			break;
		}
		if (wait_for(le, le->retry_ns))
			break;
	}
	while (atomic_load(&le->leading)) {
		if (wait_for(le, le->retry_ns))
			break;
		start = ss_clock_mono(le->clock);
		error = try_acquire_or_renew(le, &holding, &other);
		if (error == 0 && holding) {
			pthread_mutex_lock(&le->mu);
			if (!le->finished) {
				atomic_store(&le->renewed_mono, start);
				pthread_cond_broadcast(&le->wake);
			}
			pthread_mutex_unlock(&le->mu);
			continue;
		}
		if (error == 0 && other) {
			/* Someone else holds it: no point waiting for the deadline. */
			end_leading(le, true, "lease taken by another holder");
			break;
		}
		/* The watchdog ends leadership if this goes on too long. */
		log_attempt_error(le, error, true);
	}
	pthread_mutex_lock(&le->mu);
	release = le->release;
	lost = le->lost;
	pthread_mutex_unlock(&le->mu);
	if (release && !lost)
		release_lease(le);
	end_leading(le, false, "stopped");
	return NULL;
}

static void *watchdog_main(void *arg)
{
	ctrl_leader *le = arg;
	struct timespec ts;
	bool expired = false;

	pthread_mutex_lock(&le->mu);
	while (!le->stopping && !le->finished) {
		int64_t wait_ns = le->renew_ns;

		if (atomic_load(&le->leading)) {
			int64_t deadline = atomic_load(&le->renewed_mono) + le->renew_ns;
			int64_t now = ss_clock_mono(le->clock);

			if (now >= deadline) {
				expired = true;
				break;
			}
			wait_ns = deadline - now;
		}
		ts = ss_mono_deadline(wait_ns);
		pthread_cond_timedwait(&le->wake, &le->mu, &ts);
	}
	pthread_mutex_unlock(&le->mu);
	if (expired)
		end_leading(le, true, "renew deadline passed");
	return NULL;
}

int ctrl_leader_start(ctrl_leader *le)
{
	if (le->started)
		return ss_error_set(SS_EINVALID,
				    "leader election for %s/%s already started", le->ns,
				    le->name);
	if (pthread_create(&le->worker, NULL, worker_main, le) != 0)
		return ss_error_set(SS_ERROR, "cannot start the leader election thread");
	if (pthread_create(&le->watchdog, NULL, watchdog_main, le) != 0) {
		pthread_mutex_lock(&le->mu);
		le->stopping = true;
		pthread_cond_broadcast(&le->wake);
		pthread_mutex_unlock(&le->mu);
		pthread_join(le->worker, NULL);
		return ss_error_set(SS_ERROR,
				    "cannot start the leader election watchdog");
	}
	/* Under mu: the worker reads the neighbouring flags under it. */
	pthread_mutex_lock(&le->mu);
	le->started = true;
	pthread_mutex_unlock(&le->mu);
	return 0;
}

void ctrl_leader_stop(ctrl_leader *le, bool release)
{
	if (!le || !le->started || le->joined)
		return;
	pthread_mutex_lock(&le->mu);
	le->stopping = true;
	le->release = release;
	pthread_cond_broadcast(&le->wake);
	pthread_mutex_unlock(&le->mu);
	pthread_join(le->worker, NULL);
	pthread_join(le->watchdog, NULL);
	pthread_mutex_lock(&le->mu);
	le->joined = true;
	pthread_mutex_unlock(&le->mu);
}

void ctrl_leader_free(ctrl_leader *le)
{
	if (!le)
		return;
	ctrl_leader_stop(le, false);
	json_decref(le->lease);
	pthread_cond_destroy(&le->wake);
	pthread_mutex_destroy(&le->mu);
	pthread_mutex_destroy(&le->cb_mu);
	free(le);
}
