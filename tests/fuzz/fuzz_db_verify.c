/*
 * fuzz_db_verify.c — libFuzzer target for the pure helpers of
 * app/db/verify.h that read what a scratch MariaDB server returns during a
 * restore verification: CHECK TABLE's result rows, a user check's first
 * value, and a failed statement's error number and text.
 *
 * An input is text, one row a line: "Msg_type|Msg_text" ("\N" for SQL
 * NULL; a line without '|' has a NULL Msg_text). An empty line ends one
 * table's rows. Two kinds of line also drive a user check:
 * "value|ROWS|KEPT|VALUE" (what the statement returned: ROWS rows, the
 * first value VALUE of which KEPT bytes were kept; "value|ROWS" has no
 * column) and "check|MINROWS|ATLEAST|ATMOST|EQUALS" (a check evaluated
 * against the last value line; an empty field is unset). A line
 * "NUMBER|TEXT" is a statement error with that number. Every line is also
 * quoted as `schema`.`table`, parsed as a number and trimmed as SQL.
 *
 * Beyond "no crash" (ASan, UBSan; lengths are exact allocations, values
 * and numbers are not NUL-terminated) it checks verify.h's contracts:
 *   - rows: a row whose Msg_type is "error" (any case) makes the table
 *     corrupt; so does no "status" row or a last one that is neither "OK"
 *     nor "Table is already up to date"; rows with only status "OK" are not
 *     corrupt; the reason is the first error's text (cut) or fixed words;
 *     a Msg_text saying "denied" (any case) or holding "'@'" is never kept:
 *     what is kept does not depend on it;
 *   - the corrupt list is append-only, NUL-terminated within cap, holds
 *     "`db`.`t` (why)" entries (why cut to 200 bytes with "...") and, once
 *     one does not fit, ends with "..." and never changes again;
 *   - quoting: `schema`.`table` with backticks doubled, which parses back
 *     to the two names, exactly when it fits; else SS_ETOOLARGE and "";
 *   - numbers: an accepted one is finite and made of white space, digits,
 *     sign, point and exponent only; snprintf("%.17g") of any finite
 *     double (each 8 bytes of the input read as one) parses back to the
 *     same double;
 *   - a user check passes exactly when its rows, text and number tests
 *     hold (a model of verify.h's rules), and its message is the same text
 *     cut at any cap (snprintf), NUL-terminated within it;
 *   - an error message starts "MariaDB error N", and quotes the server's
 *     text only for the errors whose text cannot name the account: for
 *     1044, 1045, 1142, 1143, 1203, 1226, 1370, 1698 and every error
 *     db.h does not quote, it is the same whatever the text;
 *   - the SQL's length drops exactly the trailing white space and ';';
 *   - every message (a check's, an error's, the corrupt list, a table's
 *     reason) can be written into status.verification, whatever bytes the
 *     server sent (JSON takes only UTF-8: a value cut mid-character made
 *     the status write fail).
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#define _GNU_SOURCE /* strcasestr() */

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <mysqld_error.h>

#include "app/db/db.h"
#include "app/db/verify.h"
#include "util/error.h"

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "fuzz_db_verify: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                          \
			abort();                                                     \
		}                                                                    \
	} while (0)

#define MAX_LINES 512
#define NAME_CUT 128 /* bytes of a name: quoted, two fit in 517 as in verify.c */
#define WHY_SHOWN 200
#define ACCOUNT_WORDS "a Msg_text that says denied"

typedef struct {
	const char *type; /* NULL: SQL NULL */
	const char *text; /* NULL: SQL NULL or no '|' */
	const char *rest; /* what follows the first '|' as it is, or NULL */
	const char *line; /* Msg_type's field as it is */
	bool blank;	  /* an empty line: the end of a table's rows */
} fline;

static const char *field(const char *s)
{
	return strcmp(s, "\\N") == 0 ? NULL : s;
}

/* A copy of s[0..len) in an allocation of exactly len bytes (no NUL). */
static char *exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	CHECK(p != NULL);
	memcpy(p, s, len);
	return p;
}

static bool names_account(const char *text)
{
	return text && (strcasestr(text, "denied") || strstr(text, "'@'"));
}

/* What the verify controller does with a message: status.verification. */
static void check_encodes(const char *message)
{
	app_verification_status v;
	json_t *obj = json_object();

	CHECK(obj != NULL);
	app_verification_status_init(&v);
	v.message = message;
	CHECK(app_verification_status_encode(obj, &v) == 0);
	json_decref(obj);
}

/* ---- quoting ------------------------------------------------------------- */

static size_t quoted_len(const char *name)
{
	size_t n = 2;

	for (; *name; name++)
		n += *name == '`' ? 2 : 1;
	return n;
}

/* Whether *p starts with `name` quoted; moves *p past it. */
static bool unquote(const char **p, const char *name)
{
	const char *q = *p;

	if (*q++ != '`')
		return false;
	for (;;) {
		if (q[0] == '`' && q[1] == '`') {
			if (*name++ != '`')
				return false;
			q += 2;
		} else if (q[0] == '`') {
			break;
		} else {
			if (*q == '\0' || *q != *name)
				return false;
			q++;
			name++;
		}
	}
	*p = q + 1;
	return *name == '\0';
}

static void check_quote(const char *schema, const char *table, size_t cap)
{
	size_t need = quoted_len(schema) + 1 + quoted_len(table);
	char *out = malloc(cap ? cap : 1);
	const char *p;
	int rc;

	CHECK(out != NULL);
	rc = app_db_verify_quote_table(out, cap, schema, table);
	if (need < cap) {
		CHECK(rc == 0);
		CHECK(strlen(out) == need);
		p = out;
		CHECK(unquote(&p, schema));
		CHECK(*p++ == '.');
		CHECK(unquote(&p, table));
		CHECK(*p == '\0');
	} else {
		CHECK(rc == SS_ETOOLARGE && ss_error_last()->code == SS_ETOOLARGE);
		CHECK(cap == 0 || out[0] == '\0');
	}
	free(out);
}

/* ---- the corrupt list ------------------------------------------------------ */

static bool closed(const char *list)
{
	size_t n = strlen(list);

	return n >= 3 && strcmp(list + n - 3, "...") == 0;
}

/* Notes (table, why) in list (cap bytes) and checks what changed. */
static void note(char *list, size_t cap, const char *table, const char *why)
{
	char *before = strndup(list, cap), *entry;
	size_t n = strlen(before), wl = strlen(why), len;
	const char *sep = n > 0 ? ", " : "";

	CHECK(before != NULL);
	app_db_verify_note_corrupt(list, cap, table, why);
	if (cap <= sizeof(", ...") || closed(before)) {
		CHECK(strcmp(list, before) == 0);
		free(before);
		return;
	}
	CHECK(strnlen(list, cap) < cap);
	CHECK(strncmp(list, before, n) == 0);
	len = strlen(sep) + strlen(table) + 2 + (wl > WHY_SHOWN ? WHY_SHOWN + 3 : wl) + 1;
	entry = malloc(len + 1);
	CHECK(entry != NULL);
	snprintf(entry, len + 1, "%s%s (%.*s%s)", sep, table, WHY_SHOWN, why,
		 wl > WHY_SHOWN ? "..." : "");
	if (n + len + sizeof(", ...") <= cap)
		CHECK(strcmp(list + n, entry) == 0);
	else
		CHECK(strcmp(list + n, n > 0 ? ", ..." : "...") == 0);
	free(entry);
	free(before);
}

/* ---- CHECK TABLE rows -------------------------------------------------------- */

/* One table's rows, folded by verify.c and by the rule verify.h states. */
typedef struct {
	app_db_check_rows r;
	bool error, status;
	const char *first_error; /* raw Msg_text of the first error row */
	const char *last_status; /* raw Msg_text of the last status row */
	const char *name_type, *name_text;
	size_t n;
} table_rows;

static void rows_begin(table_rows *t)
{
	memset(t, 0, sizeof(*t));
	app_db_verify_rows_init(&t->r);
}

/* What one row leaves in a fresh fold: the same for any Msg_text that may
 * name the account, so none of it is kept. */
static void check_row_alone(const char *type, const char *text)
{
	app_db_check_rows a, b;

	if (!names_account(text))
		return;
	app_db_verify_rows_init(&a);
	app_db_verify_rows_init(&b);
	app_db_verify_rows_add(&a, type, text);
	app_db_verify_rows_add(&b, type, ACCOUNT_WORDS);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
}

static void rows_add(table_rows *t, const char *type, const char *text)
{
	if (t->n++ == 0) {
		t->name_type = type ? type : "";
		t->name_text = text ? text : "";
	}
	app_db_verify_rows_add(&t->r, type, text);
	check_row_alone(type, text);
	if (type && strcasecmp(type, "error") == 0) {
		if (!t->error)
			t->first_error = text ? text : "";
		t->error = true;
	} else if (type && strcasecmp(type, "status") == 0) {
		t->status = true;
		t->last_status = text ? text : "";
	}
	CHECK(t->r.error == t->error && t->r.has_status == t->status);
	CHECK(strnlen(t->r.first_error, sizeof(t->r.first_error)) <
	      sizeof(t->r.first_error));
	CHECK(strnlen(t->r.last_status, sizeof(t->r.last_status)) <
	      sizeof(t->r.last_status));
	CHECK(!names_account(t->r.first_error) && !names_account(t->r.last_status));
}

/* The first error's text as kept: cut to the field, or replaced. */
static void check_why_error(const table_rows *t, const char *why)
{
	size_t cut = sizeof(t->r.first_error) - 1;

	if (t->first_error[0] == '\0')
		CHECK(strcmp(why, "an error row") == 0);
	else if (!names_account(t->first_error))
		CHECK(strncmp(why, t->first_error, cut) == 0 &&
		      strlen(why) == (strlen(t->first_error) < cut
					      ? strlen(t->first_error)
					      : cut));
}

static bool rows_end(table_rows *t, const char **why)
{
	bool corrupt = app_db_verify_rows_corrupt(&t->r, why), want;

	want = t->error || !t->status ||
	       (strcmp(t->last_status, "OK") != 0 &&
		strcmp(t->last_status, "Table is already up to date") != 0);
	CHECK(corrupt == want);
	check_encodes(*why);
	CHECK(*why != NULL && (*why)[0] != '\0');
	if (!corrupt)
		CHECK(strcmp(*why, "OK") == 0);
	if (t->error)
		check_why_error(t, *why);
	return corrupt;
}

/* Each table's rows (lines up to an empty one) folded and, when corrupt,
 * noted in a full-size list and in one of `small` bytes. */
static void check_tables(const fline *lines, size_t n, size_t small)
{
	char list[APP_DB_VERIFY_CORRUPT_MAX] = "", *tiny = calloc(1, small ? small : 1);
	char name[2 * (2 * NAME_CUT + 2) + 2], schema[NAME_CUT + 1], table[NAME_CUT + 1];
	const char *why;
	table_rows t;
	size_t i;

	CHECK(tiny != NULL);
	rows_begin(&t);
	for (i = 0; i <= n; i++) {
		if (i < n && !lines[i].blank) {
			rows_add(&t, lines[i].type, lines[i].text);
			continue;
		}
		if (t.n == 0)
			continue;
		if (rows_end(&t, &why)) {
			snprintf(schema, sizeof(schema), "%s", t.name_type);
			snprintf(table, sizeof(table), "%s", t.name_text);
			CHECK(app_db_verify_quote_table(name, sizeof(name), schema,
							table) == 0);
			note(list, sizeof(list), name, why);
			note(tiny, small, name, why);
		}
		rows_begin(&t);
	}
	check_encodes(list);
	free(tiny);
}

/* ---- numbers and SQL ---------------------------------------------------------- */

static void check_number(const char *s)
{
	size_t len = strlen(s), i;
	char *p = exact(s, len);
	double v = 0;
	int rc = app_db_verify_parse_number(&v, p, len);

	if (rc == 0) {
		CHECK(isfinite(v));
		for (i = 0; i < len; i++)
			CHECK(isspace((unsigned char)s[i]) ||
			      isdigit((unsigned char)s[i]) ||
			      strchr("+-.eE", s[i]) != NULL);
		CHECK(v == strtod(s, NULL));
	} else {
		CHECK(rc == SS_EINVALID);
	}
	free(p);
}

static void check_round_trip(double d)
{
	char text[64], padded[80], *p;
	double v = 1;
	int n;

	if (!isfinite(d))
		return;
	n = snprintf(text, sizeof(text), "%.17g", d);
	p = exact(text, (size_t)n);
	CHECK(app_db_verify_parse_number(&v, p, (size_t)n) == 0);
	CHECK(v == d && !signbit(v) == !signbit(d));
	free(p);
	n = snprintf(padded, sizeof(padded), " \t%s\r\n", text);
	p = exact(padded, (size_t)n);
	CHECK(app_db_verify_parse_number(&v, p, (size_t)n) == 0);
	CHECK(v == d);
	free(p);
}

static void check_sql(const char *sql)
{
	size_t n = app_db_verify_sql_len(sql), len = strlen(sql), i;

	CHECK(n <= len);
	for (i = n; i < len; i++)
		CHECK(sql[i] == ';' || isspace((unsigned char)sql[i]));
	CHECK(n == 0 || (sql[n - 1] != ';' && !isspace((unsigned char)sql[n - 1])));
}

/* ---- a user check --------------------------------------------------------------- */

/* The rule of verify.h app_db_verify_evaluate(), stated again. */
static bool expected_pass(const app_verify_check *c, const app_db_check_result *r)
{
	bool whole = !r->is_null && r->value_kept == r->value_len;
	double v;

	if (r->n_rows < (uint64_t)(c->min_rows > 0 ? c->min_rows : 0))
		return false;
	if (!c->equals && !c->has_at_least && !c->has_at_most)
		return true;
	if (!r->has_value)
		return false;
	if (c->equals && !(whole && r->value_len == strlen(c->equals) &&
			   memcmp(r->value, c->equals, r->value_len) == 0))
		return false;
	if (!c->has_at_least && !c->has_at_most)
		return true;
	if (!whole || app_db_verify_parse_number(&v, r->value, r->value_kept) != 0)
		return false;
	return !(c->has_at_least && v < c->at_least) &&
	       !(c->has_at_most && v > c->at_most);
}

/* msg (cap bytes) is big (the same call with APP_DB_CHECK_MESSAGE_MAX
 * bytes) cut where snprintf() cuts. */
static void check_cut(const char *big, const char *msg, size_t cap)
{
	size_t len = strnlen(big, APP_DB_CHECK_MESSAGE_MAX);

	CHECK(len < APP_DB_CHECK_MESSAGE_MAX);
	if (cap == 0)
		return;
	CHECK(strnlen(msg, cap) == (len < cap ? len : cap - 1));
	CHECK(strncmp(msg, big, cap - 1) == 0);
}

static void check_evaluate(const app_verify_check *c, const app_db_check_result *r,
			   size_t small)
{
	char *big = malloc(APP_DB_CHECK_MESSAGE_MAX), *msg = malloc(small);
	bool passed = app_db_verify_evaluate(big, APP_DB_CHECK_MESSAGE_MAX, c, r);

	CHECK(big != NULL);
	CHECK(passed == expected_pass(c, r));
	check_encodes(big);
	CHECK(app_db_verify_evaluate(msg, small, c, r) == passed);
	check_cut(big, msg, small);
	free(msg);
	free(big);
}

/* The last "value|ROWS|KEPT|VALUE" line: value in an exact allocation. */
typedef struct {
	app_db_check_result r;
	char *value;
} result_line;

static void parse_value(result_line *v, const char *rest)
{
	char *copy = strdup(rest), *p = copy, *rows, *kept;
	const char *value;
	size_t len;

	CHECK(copy != NULL);
	free(v->value);
	memset(v, 0, sizeof(*v));
	rows = strsep(&p, "|");
	v->r.n_rows = *rows ? strtoull(rows, NULL, 10) : 1;
	if (p != NULL && v->r.n_rows > 0) {
		kept = strsep(&p, "|");
		value = p ? p : "";
		v->r.has_value = true;
		v->r.is_null = strcmp(value, "\\N") == 0;
		len = v->r.is_null ? 0 : strlen(value);
		v->r.value_len = len;
		v->r.value_kept = *kept && strtoull(kept, NULL, 10) < len
					  ? (size_t)strtoull(kept, NULL, 10)
					  : len;
	}
	v->value = exact(v->r.has_value ? value : "", v->r.value_kept);
	v->r.value = v->value;
	free(copy);
}

static void parse_bound(bool *has, double *out, const char *f)
{
	char *end;
	double d;

	*has = false;
	if (f == NULL || *f == '\0')
		return;
	d = strtod(f, &end);
	if (end != f && isfinite(d)) {
		*has = true;
		*out = d;
	}
}

/* "check|MINROWS|ATLEAST|ATMOST|EQUALS" into c; c->equals is allocated. */
static void parse_check(app_verify_check *c, const char *rest)
{
	char *copy = strdup(rest), *p = copy, *f;
	long min_rows;

	CHECK(copy != NULL);
	memset(c, 0, sizeof(*c));
	c->name = "fuzz";
	c->sql = "SELECT 1";
	f = strsep(&p, "|");
	min_rows = *f ? strtol(f, NULL, 10) : 1;
	c->min_rows = min_rows > 1000000 ? 1000000 : min_rows < -1 ? -1 : (int)min_rows;
	parse_bound(&c->has_at_least, &c->at_least, p ? strsep(&p, "|") : NULL);
	parse_bound(&c->has_at_most, &c->at_most, p ? strsep(&p, "|") : NULL);
	c->equals = p && strcmp(p, "\\N") != 0 ? strdup(p) : NULL;
	free(copy);
}

static void check_checks(const fline *lines, size_t n, size_t small)
{
	result_line v = { .value = NULL };
	app_verify_check c;
	size_t i;

	v.value = exact("", 0);
	v.r.value = v.value;
	for (i = 0; i < n; i++) {
		if (!lines[i].rest || !lines[i].type)
			continue;
		if (strcmp(lines[i].type, "value") == 0) {
			parse_value(&v, lines[i].rest);
		} else if (strcmp(lines[i].type, "check") == 0) {
			parse_check(&c, lines[i].rest);
			check_evaluate(&c, &v.r, small + i);
			free((char *)c.equals);
		}
	}
	free(v.value);
}

/* ---- a failed statement's words --------------------------------------------------- */

/* Whether the server's text may follow the words (verify.h: only where it
 * cannot name the account). */
static bool may_quote(unsigned int err)
{
	static const unsigned int user_sql[] = { ER_PARSE_ERROR, ER_NO_SUCH_TABLE,
						 ER_BAD_DB_ERROR, ER_BAD_FIELD_ERROR };
	static const unsigned int never[] = { ER_DBACCESS_DENIED_ERROR,
					      ER_ACCESS_DENIED_ERROR,
					      ER_TABLEACCESS_DENIED_ERROR,
					      ER_COLUMNACCESS_DENIED_ERROR,
					      ER_TOO_MANY_USER_CONNECTIONS,
					      ER_USER_LIMIT_REACHED,
					      ER_PROCACCESS_DENIED_ERROR,
					      ER_ACCESS_DENIED_NO_PASSWORD_ERROR,
					      ER_NO_DB_ERROR,
					      ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION,
					      ER_QUERY_INTERRUPTED,
					      ER_STATEMENT_TIMEOUT };
	app_db_error_words w;
	size_t i;

	for (i = 0; i < sizeof(user_sql) / sizeof(user_sql[0]); i++)
		if (err == user_sql[i])
			return true;
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (err == never[i])
			return false;
	app_db_error_words_of(&w, err);
	return w.quote;
}

static void check_error(unsigned int err, const char *text, size_t small)
{
	char base[APP_DB_CHECK_MESSAGE_MAX], want[APP_DB_CHECK_MESSAGE_MAX], words[64];
	char *big = malloc(APP_DB_CHECK_MESSAGE_MAX), *msg = malloc(small);
	int timeout = text ? (int)(strlen(text) % 3600) + 1 : 30;

	CHECK(big != NULL);
	app_db_verify_error_message(base, sizeof(base), err, "", timeout);
	app_db_verify_error_message(big, APP_DB_CHECK_MESSAGE_MAX, err, text, timeout);
	snprintf(words, sizeof(words), "MariaDB error %u", err);
	CHECK(strncmp(big, words, strlen(words)) == 0);
	if (may_quote(err) && text && *text) {
		snprintf(want, sizeof(want), "%s: %s", base, text);
		CHECK(strcmp(big, want) == 0);
	} else {
		CHECK(strcmp(big, base) == 0);
	}
	check_encodes(big);
	if (err == ER_STATEMENT_TIMEOUT) {
		snprintf(words, sizeof(words), "timeout of %d s", timeout);
		CHECK(strstr(big, words) != NULL);
	}
	app_db_verify_error_message(msg, small, err, text, timeout);
	check_cut(big, msg, small);
	free(msg);
	free(big);
}

/* ---- the input ------------------------------------------------------------------ */

/* Splits buf (modified) into lines; returns how many. */
static size_t split(char *buf, fline *lines)
{
	size_t n = 0;
	char *p = buf, *nl, *bar;

	while (n < MAX_LINES) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		lines[n].line = p;
		lines[n].blank = *p == '\0';
		bar = strchr(p, '|');
		if (bar)
			*bar = '\0';
		lines[n].type = field(p);
		lines[n].rest = bar ? bar + 1 : NULL;
		lines[n].text = bar ? field(bar + 1) : NULL;
		n++;
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

static void check_line(const fline *l, size_t small)
{
	const char *type = l->type ? l->type : "", *text = l->text ? l->text : "";
	size_t digits = strspn(l->line, "0123456789");

	check_quote(type, text, APP_DB_VERIFY_CORRUPT_MAX);
	check_quote(type, text, small);
	check_number(l->line);
	check_sql(l->line);
	if (l->rest) {
		check_number(l->rest);
		check_sql(l->rest);
	}
	if (digits > 0 && digits <= 10 && l->line[digits] == '\0')
		check_error((unsigned int)strtoull(l->line, NULL, 10), l->text, small);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static fline lines[MAX_LINES];
	char *buf = malloc(size + 1);
	size_t n, i, small = size % 67;
	double d;

	CHECK(buf != NULL);
	memcpy(buf, data, size);
	buf[size] = '\0';
	n = split(buf, lines);
	for (i = 0; i < n; i++)
		check_line(&lines[i], (small + i) % 67);
	check_tables(lines, n, small);
	check_checks(lines, n, small);
	for (i = 0; i + sizeof(d) <= size; i += sizeof(d)) {
		memcpy(&d, data + i, sizeof(d));
		check_round_trip(d);
	}
	free(buf);
	ss_error_clear();
	return 0;
}
