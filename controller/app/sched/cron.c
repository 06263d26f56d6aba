/*
 * cron.c — the schedule parser. See cron.h for the language.
 *
 * The text is checked as a whole first (present, at most
 * APP_CRON_TEXT_MAX bytes, printable ASCII), so everything after works on
 * bounded, printable spans and any piece of it may be quoted in a message.
 * Then: a time zone prefix, a macro (expanded to its 5-field text and
 * parsed like any other), "once", or 5 fields. A field is a comma list of
 * elements; an element is a base (`*`, `?`, `H`, `H(a-b)`, `a`, `a-b`)
 * with an optional `/step`, and sets bits in a uint64_t that is cut down
 * to the field's width at the end. Nothing is allocated and every loop is
 * bounded by the input's length or a field's width.
 */
#include "app/sched/cron.h"

#include <assert.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

/* At most this many characters of one piece of input go into a message. */
#define ECHO_MAX 32

/* A piece of the input: not NUL-terminated. */
typedef struct {
	const char *p;
	size_t n;
} span;

/* printf arguments for "%.*s%s": the span, cut to ECHO_MAX with "...". */
#define ECHO_FMT "%.*s%s"
#define ECHO(s) \
	(int)((s).n > ECHO_MAX ? ECHO_MAX : (s).n), (s).p, ((s).n > ECHO_MAX ? "..." : "")

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
					   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const day_names[] = {
	"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"
};

typedef struct {
	const char *name;
	int min, max;		  /* the numbers accepted */
	int star_lo, star_hi;	  /* what `*` means; star_hi also ends `a/n` */
	int h_lo, h_hi;		  /* what a bare `H` ranges over */
	const char *const *names; /* three-letter names, or NULL */
	int names_base;		  /* the value of names[0] */
	int names_count;
} field_def;

static const field_def defs[5] = {
	{ "minute", 0, 59, 0, 59, 0, 59, NULL, 0, 0 },
	{ "hour", 0, 23, 0, 23, 0, 23, NULL, 0, 0 },
	/* H stays within 1-28 so that it happens in February too. */
	{ "day of month", 1, 31, 1, 31, 1, 28, NULL, 0, 0 },
	{ "month", 1, 12, 1, 12, 1, 12, month_names, 1, 12 },
	/* 7 is Sunday again; `*` and H use 0-6 so Sunday is not counted twice. */
	{ "day of week", 0, 7, 0, 6, 0, 6, day_names, 0, 7 },
};

/* One field being parsed. */
typedef struct {
	const field_def *def;
	int index; /* 0-4 */
	const char *seed;
	int h_count; /* H's seen so far in this field */
} field_ctx;

static const struct {
	const char *name;
	const char *expansion;
} macros[] = {
	{ "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char to_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* ASCII case-insensitive: does `s` equal the NUL-terminated `word`? */
static bool span_is(span s, const char *word)
{
	size_t i;

	if (strlen(word) != s.n)
		return false;
	for (i = 0; i < s.n; i++)
		if (to_upper(s.p[i]) != to_upper(word[i]))
			return false;
	return true;
}

static bool span_has_prefix(span s, const char *prefix)
{
	size_t n = strlen(prefix);

	return s.n >= n && span_is((span){ s.p, n }, prefix);
}

/* Records SS_EINVALID as "field N (name): <message>". */
static int field_error(const field_ctx *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int field_error(const field_ctx *f, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return ss_error_set(SS_EINVALID, "field %d (%s): %s", f->index + 1, f->def->name,
			    text);
}

/* FNV-1a (64 bit) over the seed, then over the field number and the H's
 * place in the field, finished with splitmix64's mixer so that seeds that
 * differ only in their last character still spread over small ranges.
 * Changing any of this moves every H schedule: treat it as part of the
 * API (test_cron pins known values). */
static uint64_t h_hash(const char *seed, int field, int nth)
{
	const unsigned char *s = (const unsigned char *)(seed ? seed : "");
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++) {
		h ^= *s;
		h *= 1099511628211ULL;
	}
	h ^= (uint64_t)field;
	h *= 1099511628211ULL;
	h ^= (uint64_t)nth;
	h *= 1099511628211ULL;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

/* A number or, where the field has them, a name; within the field's range. */
static int parse_value(field_ctx *f, span s, int *out)
{
	const field_def *d = f->def;
	int v = 0;
	size_t i;

	if (s.n > 0 && is_digit(s.p[0])) {
		for (i = 0; i < s.n; i++) {
			if (!is_digit(s.p[i]))
				return field_error(f, "\"" ECHO_FMT "\" is not a number",
						   ECHO(s));
			if (v < 1000) /* big enough to be out of range, no overflow */
				v = v * 10 + (s.p[i] - '0');
		}
		if (v < d->min || v > d->max)
			return field_error(f, ECHO_FMT " is out of range %d-%d", ECHO(s),
					   d->min, d->max);
		*out = v;
		return 0;
	}
	if (s.n > 0 && is_alpha(s.p[0]) && d->names) {
		for (i = 0; i < (size_t)d->names_count; i++) {
			if (span_is(s, d->names[i])) {
				*out = d->names_base + (int)i;
				return 0;
			}
		}
		return field_error(f, "unknown name \"" ECHO_FMT "\"", ECHO(s));
	}
	return field_error(f, "\"" ECHO_FMT "\" is not a number", ECHO(s));
}

/* "a-b" into *lo, *hi. */
static int parse_range(field_ctx *f, span s, int *lo, int *hi)
{
	const char *dash = memchr(s.p, '-', s.n);
	span a, b;

	assert(dash);
	a = (span){ s.p, (size_t)(dash - s.p) };
	b = (span){ dash + 1, s.n - a.n - 1 };
	if (a.n == 0)
		return field_error(f, "range \"" ECHO_FMT "\" has no start", ECHO(s));
	if (b.n == 0)
		return field_error(f, "range \"" ECHO_FMT "\" has no end", ECHO(s));
	if (parse_value(f, a, lo) < 0 || parse_value(f, b, hi) < 0)
		return SS_EINVALID;
	if (*lo > *hi)
		return field_error(f, "range " ECHO_FMT " is backwards", ECHO(s));
	return 0;
}

static int parse_step(field_ctx *f, span s, int *out)
{
	int v = 0;
	size_t i;

	for (i = 0; i < s.n; i++) {
		if (!is_digit(s.p[i]))
			return field_error(f, "step \"" ECHO_FMT "\" is not a number",
					   ECHO(s));
		if (v < 1000)
			v = v * 10 + (s.p[i] - '0');
	}
	if (v < 1)
		return field_error(f, "step must be at least 1");
	*out = v;
	return 0;
}

/* A step must reach a second value: every 60 minutes is just minute 0.
 * `text` is the step as written (a huge one was capped when parsed). */
static int check_step(field_ctx *f, span text, int step, int lo, int hi)
{
	if (step > hi - lo)
		return field_error(f,
				   "step " ECHO_FMT " is too large for the range %d-%d",
				   ECHO(text), lo, hi);
	return 0;
}

/* `H` or `H(a-b)`; `step` is 0 when there is none, `st` its text. */
static int parse_h(field_ctx *f, span base, int step, span st, uint64_t *bits)
{
	int lo = f->def->h_lo, hi = f->def->h_hi, v;
	uint64_t h;

	if (base.n > 1) {
		span inner = { base.p + 2, base.n - 2 };

		if (base.p[base.n - 1] != ')')
			return field_error(f, "\"" ECHO_FMT "\" is missing \")\"",
					   ECHO(base));
		inner.n--;
		if (!memchr(inner.p, '-', inner.n))
			return field_error(f, "\"" ECHO_FMT "\" should be H(a-b)",
					   ECHO(base));
		if (parse_range(f, inner, &lo, &hi) < 0)
			return SS_EINVALID;
	}
	h = h_hash(f->seed, f->index, f->h_count++);
	if (step == 0) {
		*bits |= 1ULL << (lo + (int)(h % (uint64_t)(hi - lo + 1)));
		return 0;
	}
	if (check_step(f, st, step, lo, hi) < 0)
		return SS_EINVALID;
	for (v = lo + (int)(h % (uint64_t)step); v <= hi; v += step)
		*bits |= 1ULL << v;
	return 0;
}

static bool is_h(span base)
{
	return (base.n == 1 && to_upper(base.p[0]) == 'H') ||
	       (base.n >= 2 && to_upper(base.p[0]) == 'H' && base.p[1] == '(');
}

/* One element of a list: base[/step]. */
static int parse_element(field_ctx *f, span e, uint64_t *bits)
{
	const char *slash = memchr(e.p, '/', e.n);
	span base = e, st = { NULL, 0 };
	int lo, hi, v, step = 0;

	if (slash) {
		st = (span){ slash + 1, e.n - (size_t)(slash - e.p) - 1 };
		base.n = (size_t)(slash - e.p);
		if (base.n == 0)
			return field_error(f, "\"" ECHO_FMT "\" has nothing before \"/\"",
					   ECHO(e));
		if (st.n == 0)
			return field_error(f, "\"" ECHO_FMT "\" has no step after \"/\"",
					   ECHO(e));
		if (parse_step(f, st, &step) < 0)
			return SS_EINVALID;
	}
	if (is_h(base))
		return parse_h(f, base, step, st, bits);
	if (span_is(base, "*") || span_is(base, "?")) {
		lo = f->def->star_lo;
		hi = f->def->star_hi;
	} else if (memchr(base.p, '-', base.n)) {
		if (parse_range(f, base, &lo, &hi) < 0)
			return SS_EINVALID;
	} else {
		if (parse_value(f, base, &lo) < 0)
			return SS_EINVALID;
		/* a/n is a through `*`'s end (6 in day of week); 7/n in day
		 * of week is the range 7-7, which check_step refuses. */
		hi = step == 0 ? lo : (lo > f->def->star_hi ? lo : f->def->star_hi);
	}
	if (step == 0)
		step = 1;
	else if (check_step(f, st, step, lo, hi) < 0)
		return SS_EINVALID;
	for (v = lo; v <= hi; v += step)
		*bits |= 1ULL << v;
	return 0;
}

/* A whole field: a comma list of elements. */
static int parse_field(field_ctx *f, span text, uint64_t *out)
{
	const char *p = text.p, *end = text.p + text.n;
	uint64_t bits = 0;
	size_t i;

	for (i = 0; i < text.n; i++) {
		char c = text.p[i];

		if (!is_digit(c) && !is_alpha(c) && !strchr("*?,-/()", c))
			return field_error(f, "unexpected character '%c'", c);
	}
	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		span e = { p, comma ? (size_t)(comma - p) : (size_t)(end - p) };

		if (e.n == 0) {
			if (p == text.p)
				return field_error(f, "list starts with a comma");
			if (!comma)
				return field_error(f, "list ends with a comma");
			return field_error(f, "list has an empty element");
		}
		if (parse_element(f, e, &bits) < 0)
			return SS_EINVALID;
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = bits;
	return 0;
}

/* Five fields separated by blanks; `s` has no leading or trailing blanks. */
static int parse_fields(app_cron *c, span s, const char *seed)
{
	span field[5];
	uint64_t bits[5];
	size_t i = 0;
	int n = 0;

	while (i < s.n) {
		size_t start = i;

		while (i < s.n && !is_blank(s.p[i]))
			i++;
		if (n < 5)
			field[n] = (span){ s.p + start, i - start };
		n++;
		while (i < s.n && is_blank(s.p[i]))
			i++;
	}
	if (n == 6)
		return ss_error_set(
			SS_EINVALID,
			"expected 5 fields, got 6 (seconds are not supported)");
	if (n != 5)
		return ss_error_set(SS_EINVALID,
				    "expected 5 fields (minute hour day-of-month month "
				    "day-of-week), got %d",
				    n);
	for (i = 0; i < 5; i++) {
		field_ctx f = { &defs[i], (int)i, seed, 0 };

		if (parse_field(&f, field[i], &bits[i]) < 0)
			return SS_EINVALID;
	}
	/* Sunday may be written 7; fold it into 0. */
	if (bits[4] & (1ULL << 7))
		bits[4] |= 1;
	memset(c, 0, sizeof(*c));
	c->kind = APP_CRON_EXPR;
	c->minutes = bits[0];
	c->hours = (uint32_t)bits[1];
	c->mdays = (uint32_t)bits[2];
	c->months = (uint16_t)bits[3];
	c->wdays = (uint8_t)(bits[4] & 0x7f);
	c->mday_star = field[2].p[0] == '*' || field[2].p[0] == '?';
	c->wday_star = field[4].p[0] == '*' || field[4].p[0] == '?';
	return 0;
}

/* `s` starts with '@'. */
static int parse_macro(app_cron *c, span s)
{
	span name = s, rest;
	size_t i;

	for (i = 0; i < s.n && !is_blank(s.p[i]); i++)
		;
	name.n = i;
	for (; i < s.n && is_blank(s.p[i]); i++)
		;
	rest = (span){ s.p + i, s.n - i };
	if (span_is(name, "@every"))
		return ss_error_set(SS_EINVALID, "@every is not supported: use a cron "
						 "expression such as \"*/30 * * * *\"");
	if (span_is(name, "@reboot"))
		return ss_error_set(SS_EINVALID, "@reboot is not supported: use \"once\" "
						 "for a single backup");
	for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
		if (!span_is(name, macros[i].name))
			continue;
		if (rest.n > 0)
			return ss_error_set(SS_EINVALID,
					    "%s takes nothing after it, got \"" ECHO_FMT
					    "\"",
					    macros[i].name, ECHO(rest));
		return parse_fields(
			c, (span){ macros[i].expansion, strlen(macros[i].expansion) },
			NULL);
	}
	return ss_error_set(SS_EINVALID,
			    "unknown macro \"" ECHO_FMT "\" (use @yearly, @monthly, "
			    "@weekly, @daily or @hourly)",
			    ECHO(name));
}

int app_cron_parse(app_cron *out, const char *text, const char *seed)
{
	app_cron c;
	span s;
	size_t len, i;
	int error;

	assert(out);
	if (!text)
		return ss_error_set(SS_EINVALID, "schedule is empty");
	len = strnlen(text, APP_CRON_TEXT_MAX + 1);
	if (len > APP_CRON_TEXT_MAX)
		return ss_error_set(SS_EINVALID,
				    "schedule is too long (more than %d characters)",
				    APP_CRON_TEXT_MAX);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		if (!is_blank((char)ch) && (ch < 0x21 || ch > 0x7e))
			return ss_error_set(SS_EINVALID,
					    "unexpected byte 0x%02x at position %zu "
					    "(only printable ASCII is allowed)",
					    ch, i + 1);
	}
	s = (span){ text, len };
	while (s.n > 0 && is_blank(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_blank(s.p[s.n - 1]))
		s.n--;
	if (s.n == 0)
		return ss_error_set(SS_EINVALID, "schedule is empty");
	if (span_has_prefix(s, "CRON_TZ=") || span_has_prefix(s, "TZ="))
		return ss_error_set(SS_EINVALID,
				    "a time zone prefix (CRON_TZ= or TZ=) is "
				    "not supported: set spec.timeZone");
	if (s.p[0] == '@') {
		error = parse_macro(&c, s);
	} else if (span_is(s, "once")) {
		memset(&c, 0, sizeof(c));
		c.kind = APP_CRON_ONCE;
		error = 0;
	} else {
		error = parse_fields(&c, s, seed);
	}
	if (error < 0)
		return error;
	*out = c;
	return 0;
}

bool app_cron_day_matches(const app_cron *c, int mday, int wday)
{
	bool dom, dow;

	if (c->kind != APP_CRON_EXPR || mday < 1 || mday > 31 || wday < 0 || wday > 6)
		return false;
	dom = (c->mdays >> mday) & 1u;
	dow = (c->wdays >> wday) & 1u;
	if (c->mday_star || c->wday_star)
		return dom && dow;
	return dom || dow;
}

bool app_cron_matches(const app_cron *c, int minute, int hour, int mday, int month,
		      int wday)
{
	if (c->kind != APP_CRON_EXPR || minute < 0 || minute > 59 || hour < 0 ||
	    hour > 23 || month < 1 || month > 12)
		return false;
	if (!((c->minutes >> minute) & 1u) || !((c->hours >> hour) & 1u) ||
	    !((c->months >> month) & 1u))
		return false;
	return app_cron_day_matches(c, mday, wday);
}
