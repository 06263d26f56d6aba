/*
 * manager.c — the process's run loop. See manager.h.
 *
 * run() is a small state machine driven by three flags under one mutex:
 * stop requested (a signal, or request_stop), leading, and lease lost. The
 * leader elector's callbacks and the signal thread only set flags and
 * signal the condition; every start and stop happens on run()'s thread, in
 * one order, so shutdown cannot race start-up.
 */
#include "ctrl/manager.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctrl/leader.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

#define MAX_PARTS 16
#define TICK_NS (100 * SS_NS_PER_MS)

struct ctrl_manager {
	ctrl_manager_opts opts;
	ctrl_health *health;
	ctrl_informer *informers[MAX_PARTS];
	size_t n_informers;
	ctrl_controller *controllers[MAX_PARTS];
	size_t n_controllers;

	pthread_mutex_t lock;
	pthread_cond_t changed;
	bool stop_requested;
	bool leading;
	bool lost;
	ctrl_leader *leader; /* while campaigning or leading; else NULL */
	bool fenced;	     /* lost, or reconciles outlived the shutdown: no writes */
	int signals_seen;
	bool signal_thread_quit;
};

void ctrl_manager_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int ping(void *payload, ss_buf *why)
{
	(void)payload;
	(void)why;
	return 0;
}

static int informers_synced(void *payload, ss_buf *why)
{
	ctrl_manager *m = payload;
	size_t i;

	for (i = 0; i < m->n_informers; i++) {
		if (!ctrl_informer_has_synced(m->informers[i])) {
			ss_buf_printf(why, "%zu of %zu caches not synced yet",
				      m->n_informers - i, m->n_informers);
			return 1;
		}
	}
	return 0;
}

int ctrl_manager_new(ctrl_manager **out, const ctrl_manager_opts *opts)
{
	ctrl_manager *m;
	pthread_condattr_t attr;

	if (!opts->options || !opts->client || !opts->metrics)
		return ss_error_set(SS_EINVALID, "a manager needs options, a client and "
						 "a metrics registry");
	m = calloc(1, sizeof(*m));
	if (!m)
		return ss_error_set(SS_ENOMEM, "out of memory creating the manager");
	m->opts = *opts;
	if (ctrl_health_new(&m->health) < 0 ||
	    ctrl_health_add_check(m->health, "healthz", "ping", ping, m) < 0 ||
	    ctrl_health_add_check(m->health, "readyz", "informers-synced",
				  informers_synced, m) < 0) {
		ctrl_health_free(m->health);
		free(m);
		return SS_ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&m->changed, &attr);
	pthread_condattr_destroy(&attr);
	*out = m;
	return 0;
}

void ctrl_manager_free(ctrl_manager *m)
{
	if (!m)
		return;
	ctrl_health_free(m->health);
	pthread_cond_destroy(&m->changed);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int ctrl_manager_add_informer(ctrl_manager *m, ctrl_informer *inf)
{
	if (m->n_informers == MAX_PARTS)
		return ss_error_set(SS_EINVALID, "a manager runs at most %d informers",
				    MAX_PARTS);
	m->informers[m->n_informers++] = inf;
	return 0;
}

int ctrl_manager_add_controller(ctrl_manager *m, ctrl_controller *c)
{
	if (m->n_controllers == MAX_PARTS)
		return ss_error_set(SS_EINVALID, "a manager runs at most %d controllers",
				    MAX_PARTS);
	m->controllers[m->n_controllers++] = c;
	return 0;
}

ctrl_health *ctrl_manager_health(ctrl_manager *m)
{
	return m->health;
}

static void set_flag(ctrl_manager *m, bool *flag, bool value)
{
	pthread_mutex_lock(&m->lock);
	*flag = value;
	pthread_cond_broadcast(&m->changed);
	pthread_mutex_unlock(&m->lock);
}

void ctrl_manager_request_stop(ctrl_manager *m)
{
	set_flag(m, &m->stop_requested, true);
}

bool ctrl_manager_is_leader(ctrl_manager *m)
{
	bool leading;

	pthread_mutex_lock(&m->lock);
	leading = m->leading && !m->lost;
	pthread_mutex_unlock(&m->lock);
	return leading;
}

const char *ctrl_manager_write_gate(void *payload)
{
	ctrl_manager *m = payload;
	const char *why = NULL;

	if (!m->opts.options->leader_elect)
		return NULL;
	pthread_mutex_lock(&m->lock);
	/* m->leader is NULL before the campaign (no controller runs yet) and
	 * after a clean stop (the controllers have returned; what is left is
	 * the flush of the Events they made while leading). */
	if (m->fenced || m->lost || (m->leader && !ctrl_leader_is_leader(m->leader)))
		why = "this process is not the leader (it does not hold the Lease, "
		      "or did not renew it within the renew deadline)";
	pthread_mutex_unlock(&m->lock);
	return why;
}

static void on_started_leading(void *payload)
{
	ctrl_manager *m = payload;

	set_flag(m, &m->leading, true);
}

static void on_stopped_leading(void *payload)
{
	ctrl_manager *m = payload;

	pthread_mutex_lock(&m->lock);
	/* Stopping on request also ends leadership; only an unasked end is a loss. */
	if (m->leading && !m->stop_requested)
		m->lost = true;
	m->leading = false;
	pthread_cond_broadcast(&m->changed);
	pthread_mutex_unlock(&m->lock);
}

static void on_new_leader(const char *identity, void *payload)
{
	(void)payload;
	ss_log(SS_LOG_INFO, "new leader", SS_LS("identity", identity));
}

/* Waits for SIGTERM/SIGINT: the first asks for a clean stop, a second
 * ends the process at once (an operator who presses ^C twice means it). */
static void *signal_thread(void *arg)
{
	ctrl_manager *m = arg;
	struct timespec tick = { 0, TICK_NS };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		int sig = sigtimedwait(&set, NULL, &tick);
		bool quit;

		pthread_mutex_lock(&m->lock);
		quit = m->signal_thread_quit;
		pthread_mutex_unlock(&m->lock);
		if (quit)
			return NULL;
		if (sig < 0)
			continue;
		if (++m->signals_seen > 1) {
			ss_log(SS_LOG_WARN, "second signal: exiting at once",
			       SS_LS("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
			_exit(130);
		}
		ss_log(SS_LOG_INFO, "shutting down",
		       SS_LS("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
		ctrl_manager_request_stop(m);
	}
}

static bool all_synced(ctrl_manager *m)
{
	size_t i;

	for (i = 0; i < m->n_informers; i++)
		if (!ctrl_informer_has_synced(m->informers[i]))
			return false;
	return true;
}

static int start_servers(ctrl_manager *m, ctrl_httpserver **metrics_srv,
			 ctrl_httpserver **probe_srv)
{
	const ctrl_options *o = m->opts.options;
	ctrl_httpserver_opts mo = { o->metrics_bind_address, m->opts.metrics, NULL };
	ctrl_httpserver_opts po = { o->health_probe_bind_address, NULL, m->health };

	if (ctrl_httpserver_start(metrics_srv, &mo) < 0)
		return ss_error_set(ss_error_last()->code, "--metrics-bind-address: %s",
				    ss_error_last()->message);
	if (ctrl_httpserver_start(probe_srv, &po) < 0)
		return ss_error_set(ss_error_last()->code,
				    "--health-probe-bind-address: %s",
				    ss_error_last()->message);
	ss_log(SS_LOG_INFO, "serving",
	       SS_LI("metrics_port", ctrl_httpserver_port(*metrics_srv)),
	       SS_LI("probe_port", ctrl_httpserver_port(*probe_srv)));
	return 0;
}

static int start_leader(ctrl_manager *m, ctrl_leader **out)
{
	const ctrl_options *o = m->opts.options;
	ctrl_leader_opts lo = CTRL_LEADER_OPTS_INIT;

	lo.client = m->opts.lease_client ? m->opts.lease_client : m->opts.client;
	lo.lease_namespace = o->leader_election_namespace
				     ? o->leader_election_namespace
				     : kube_client_namespace(m->opts.client);
	lo.lease_name = o->leader_election_id;
	lo.identity = m->opts.identity;
	lo.lease_duration_ns = o->lease_duration_ns;
	lo.renew_deadline_ns = o->renew_deadline_ns;
	lo.retry_period_ns = o->retry_period_ns;
	lo.metrics = m->opts.metrics;
	lo.callbacks.on_started_leading = on_started_leading;
	lo.callbacks.on_stopped_leading = on_stopped_leading;
	lo.callbacks.on_new_leader = on_new_leader;
	lo.callbacks.payload = m;
	if (ctrl_leader_new(out, &lo) < 0)
		return SS_EINVALID;
	ss_log(SS_LOG_INFO, "campaigning for leadership",
	       SS_LS("lease_namespace", lo.lease_namespace),
	       SS_LS("lease", lo.lease_name),
	       SS_LS("identity", ctrl_leader_identity(*out)));
	return ctrl_leader_start(*out);
}

/* Stops every controller by `deadline_ns` (monotonic): 0 or SS_ETIMEOUT. */
static int stop_controllers(ctrl_manager *m, int64_t deadline_ns)
{
	int error = 0;
	size_t i;

	for (i = 0; i < m->n_controllers; i++)
		if (ctrl_controller_stop(m->controllers[i], deadline_ns) < 0)
			error = SS_ETIMEOUT;
	return error;
}

/* What one run() started, for stop_parts() to stop. */
typedef struct {
	pthread_t sig_thread;
	ctrl_httpserver *metrics_srv, *probe_srv;
	size_t n_started;	  /* informers started, in order */
	ctrl_leader *leader;	  /* with --leader-elect */
	bool controllers_started; /* once, when leading with synced caches */
	bool lost;		  /* the lease was lost */
	bool stuck;		  /* reconciles outlived --shutdown-timeout */
} run_state;

/* Steps 1-3 of manager.h: the metrics and probe servers, the informers,
 * then the campaign for leadership (or leadership at once without an
 * election). */
static int start_parts(ctrl_manager *m, run_state *s)
{
	int error;

	error = start_servers(m, &s->metrics_srv, &s->probe_srv);
	if (error < 0)
		return error;
	for (; s->n_started < m->n_informers; s->n_started++) {
		error = ctrl_informer_start(m->informers[s->n_started]);
		if (error < 0)
			return error;
	}
	if (!m->opts.options->leader_elect) {
		set_flag(m, &m->leading, true);
		return 0;
	}
	error = start_leader(m, &s->leader);
	if (error < 0)
		return error;
	pthread_mutex_lock(&m->lock);
	m->leader = s->leader;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* Steps 4-5: waits until leading with synced caches, starts the
 * controllers once, then waits for a stop request or a lost lease
 * (s->lost). Returns a controller's failure to start, else 0. */
static int run_while_leading(ctrl_manager *m, run_state *s)
{
	int error = 0;
	size_t i;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		struct timespec until = ss_mono_deadline(TICK_NS);

		if (m->stop_requested || m->lost)
			break;
		if (m->leading && !s->controllers_started && all_synced(m)) {
			pthread_mutex_unlock(&m->lock);
			ss_log(SS_LOG_INFO,
			       "leading with synced caches: starting controllers",
			       SS_LI("controllers", m->n_controllers));
			for (i = 0; i < m->n_controllers && error == 0; i++)
				error = ctrl_controller_start(m->controllers[i]);
			s->controllers_started = true;
			pthread_mutex_lock(&m->lock);
			if (error < 0)
				break;
			continue;
		}
		pthread_cond_timedwait(&m->changed, &m->lock, &until);
	}
	s->lost = m->lost;
	pthread_mutex_unlock(&m->lock);
	return error;
}

/* The end of step 5: stops the controllers at once after a lost lease
 * (the result is then SS_ECANCELLED), else within --shutdown-timeout
 * (s->stuck when reconciles outlive it) and the result is `error`. */
static int stop_controllers_at_exit(ctrl_manager *m, run_state *s, int error)
{
	const ctrl_options *o = m->opts.options;

	if (s->lost) {
		ss_log(SS_LOG_ERROR,
		       "leader election lost: stopping reconciles and exiting",
		       SS_LS("lease", o->leader_election_id));
		stop_controllers(m, ss_clock_mono(ss_clock_system()));
		return ss_error_set(SS_ECANCELLED, "leader election lost");
	}
	if (s->controllers_started &&
	    stop_controllers(m, ss_clock_mono(ss_clock_system()) +
					o->shutdown_timeout_ns) < 0) {
		ss_log(SS_LOG_WARN, "reconciles still running at the shutdown deadline",
		       SS_LI("timeout_s", o->shutdown_timeout_ns / SS_NS_PER_SEC));
		/* They must not write once a successor may lead: fenced, and
		 * the Lease left to expire rather than released. */
		s->stuck = true;
	}
	return error;
}

/* Then, and after a failed start-up: fences writes if the lease was lost
 * or reconciles are stuck, then stops the elector (releasing the Lease
 * only after a clean stop), the informers, the servers and the signal
 * thread. */
static void stop_parts(ctrl_manager *m, run_state *s)
{
	size_t i;

	pthread_mutex_lock(&m->lock);
	m->fenced = s->lost || s->stuck;
	m->leader = NULL;
	pthread_mutex_unlock(&m->lock);
	if (s->leader) /* releasing lets a successor lead without waiting */
		ctrl_leader_stop(s->leader, !s->lost && !s->stuck);
	ctrl_leader_free(s->leader);
	for (i = 0; i < s->n_started; i++)
		ctrl_informer_stop(m->informers[i]);
	ctrl_httpserver_stop(s->probe_srv);
	ctrl_httpserver_stop(s->metrics_srv);
	set_flag(m, &m->signal_thread_quit, true);
	pthread_join(s->sig_thread, NULL);
}

int ctrl_manager_run(ctrl_manager *m)
{
	run_state s = { 0 };
	int error;

	if (pthread_create(&s.sig_thread, NULL, signal_thread, m) != 0)
		return ss_error_set(SS_ERROR, "cannot start the signal thread");
	error = start_parts(m, &s);
	if (error < 0)
		goto cleanup;
	error = run_while_leading(m, &s);
	error = stop_controllers_at_exit(m, &s, error);
cleanup:
	stop_parts(m, &s);
	if (error == 0)
		ss_log(SS_LOG_INFO, "stopped cleanly");
	return error;
}
