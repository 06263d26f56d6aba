/*
 * clock.h — time as a dependency: a monotonic clock for timers, backoff and
 * deadlines, and a wall clock for timestamps written into objects.
 *
 * Every module that makes decisions by time takes an `const ss_clock *`
 * instead of calling clock_gettime(), so tests drive time with a fake clock
 * and never sleep. ss_clock_system() is the real one.
 *
 * Times are int64_t nanoseconds: monotonic since an arbitrary origin, wall
 * clock since the Unix epoch (UTC). Kubernetes timestamps are RFC 3339:
 * metav1.Time has whole seconds ("2026-11-23T09:20:00Z"), metav1.MicroTime
 * (Events, Leases) microseconds ("2026-11-23T09:20:00.123456Z").
 *
 * Thread-safety: the system clock and the fake clock may be read from any
 * thread; ss_fake_clock_advance() may race with readers (atomics).
 */
#ifndef SNAPSTAGE_UTIL_CLOCK_H
#define SNAPSTAGE_UTIL_CLOCK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SS_NS_PER_MS INT64_C(1000000)
#define SS_NS_PER_SEC INT64_C(1000000000)

typedef struct ss_clock ss_clock;
struct ss_clock {
	int64_t (*mono_ns)(const ss_clock *self);
	int64_t (*real_ns)(const ss_clock *self);
};

/* The process's real clocks (CLOCK_MONOTONIC, CLOCK_REALTIME). Static. */
const ss_clock *ss_clock_system(void);

static inline int64_t ss_clock_mono(const ss_clock *c)
{
	return c->mono_ns(c);
}

static inline int64_t ss_clock_real(const ss_clock *c)
{
	return c->real_ns(c);
}

/* The CLOCK_MONOTONIC instant `ns` from now (a negative `ns` counts as 0):
 * the absolute time pthread_cond_timedwait() takes for a condition variable
 * set to CLOCK_MONOTONIC with pthread_condattr_setclock(). Real time, not
 * an injected clock: it bounds how long a thread actually sleeps. */
struct timespec ss_mono_deadline(int64_t ns);

/* A clock that moves only when told to. Embed it and pass &fc->clock. */
typedef struct {
	ss_clock clock;
	_Atomic int64_t mono;
	_Atomic int64_t real;
} ss_fake_clock;

/* Starts at monotonic 1 s and the given wall-clock time. */
void ss_fake_clock_init(ss_fake_clock *fc, int64_t real_ns);
/* Moves both clocks forward by `ns` (>= 0). */
void ss_fake_clock_advance(ss_fake_clock *fc, int64_t ns);

#define SS_TIME_RFC3339_MAX 32

/* Formats a wall-clock time as metav1.Time (seconds) or metav1.MicroTime
 * into `buf` (at least SS_TIME_RFC3339_MAX bytes). Returns buf. */
char *ss_time_format(char *buf, size_t cap, int64_t real_ns);
char *ss_time_format_micro(char *buf, size_t cap, int64_t real_ns);

/* Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)" into nanoseconds since the
 * epoch: 0; SS_EINVALID when the text is not such a time (a date the
 * month does not have, as 2026-02-31; an offset beyond 23:59, as +99:99; a
 * "." without digits); SS_EUNSUPPORTED
 * when it is one that int64 nanoseconds cannot hold (before
 * 1677-09-21T00:12:43.145224192Z or after 2262-04-11T23:47:16.854775807Z):
 * never a wrapped value, whatever the year (0000-9999). Digits of the
 * fraction past the ninth are ignored; a leap second (:60) is the next
 * minute's first. The message quotes at most 64 bytes of the text.
 * *out is written only on success. */
int ss_time_parse(int64_t *out, const char *text);

#endif
