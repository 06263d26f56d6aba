/*
 * replication_input.c — checks of the GTID position and the replication
 * credentials an in-place restore will hand MariaDB. See
 * replication_input.h for the limits and where they come from.
 *
 * Both walk their input once, byte by byte, without copying it; a message
 * quotes at most ENTRY_QUOTE_MAX bytes of a GTID entry, with every byte
 * that is not printable ASCII shown as '?', so a message is always short
 * and valid UTF-8 (it goes into a status condition, which is JSON).
 */
#include "app/db/replication_input.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

#define ENTRY_QUOTE_MAX 48
/* "0-0-0," is the shortest entry: a position of APP_REPLICATION_VALUE_MAX
 * bytes has at most this many. */
#define ENTRIES_MAX (APP_REPLICATION_VALUE_MAX / 6 + 1)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ---- GTID positions ------------------------------------------------------ */

typedef enum { NUM_OK, NUM_NONE, NUM_LEADING_ZERO, NUM_TOO_BIG } num_result;

/* A decimal number at *p of at most `max`; on NUM_OK *p moves past it. */
static num_result number(uint64_t *out, const char **p, uint64_t max)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!is_digit(*s))
		return NUM_NONE;
	if (s[0] == '0' && is_digit(s[1]))
		return NUM_LEADING_ZERO;
	for (; is_digit(*s); s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (v > (max - d) / 10)
			return NUM_TOO_BIG;
		v = v * 10 + d;
	}
	*out = v;
	*p = s;
	return NUM_OK;
}

/* Records "GTID position entry <n> ("<entry>"): <why>" as SS_EINVALID. */
static int bad_entry(size_t n, const char *entry, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad_entry(size_t n, const char *entry, const char *fmt, ...)
{
	char quote[ENTRY_QUOTE_MAX + 4], why[160];
	size_t i;
	va_list ap;

	for (i = 0; i < ENTRY_QUOTE_MAX && entry[i] != '\0' && entry[i] != ','; i++)
		quote[i] = entry[i] >= 0x20 && entry[i] < 0x7f ? entry[i] : '?';
	if (i == ENTRY_QUOTE_MAX && entry[i] != '\0' && entry[i] != ',') {
		memcpy(quote + i, "...", 3);
		i += 3;
	}
	quote[i] = '\0';
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return ss_error_set(SS_EINVALID, "GTID position entry %zu (\"%s\"): %s", n, quote,
			    why);
}

/* One "domain-server-sequence" entry at *p (entry number n); on success
 * *domain is its domain and *p the byte after it, which is ',' or the end. */
static int entry(uint32_t *domain, const char **p, size_t n)
{
	static const char *const part[] = { "domain", "server id", "sequence number" };
	static const uint64_t max[] = { UINT32_MAX, UINT32_MAX, UINT64_MAX };
	const char *start = *p;
	uint64_t v[3];
	size_t i;

	for (i = 0; i < 3; i++) {
		if (i > 0) {
			if (**p != '-')
				break;
			(*p)++;
		}
		switch (number(&v[i], p, max[i])) {
		case NUM_OK: continue;
		case NUM_NONE:
			return bad_entry(n, start, "the %s is not a decimal number",
					 part[i]);
		case NUM_LEADING_ZERO:
			return bad_entry(n, start, "the %s has a leading zero", part[i]);
		case NUM_TOO_BIG:
			return bad_entry(n, start, "the %s is above %" PRIu64, part[i],
					 max[i]);
		}
	}
	if (i < 3 || (**p != ',' && **p != '\0'))
		return bad_entry(n, start,
				 "must be domain-server-sequence, three decimal numbers "
				 "joined by '-', and entries are separated by ','");
	*domain = (uint32_t)v[0];
	return 0;
}

int app_gtid_pos_check(const char *pos)
{
	uint32_t seen[ENTRIES_MAX];
	size_t len, n = 0, i;
	const char *p = pos;
	int rc;

	if (pos == NULL)
		return ss_error_set(SS_EINVALID, "no GTID position");
	len = strlen(pos);
	if (len > APP_REPLICATION_VALUE_MAX)
		return ss_error_set(SS_EINVALID,
				    "the GTID position is %zu bytes long; snapstage "
				    "passes MariaDB at most %d",
				    len, APP_REPLICATION_VALUE_MAX);
	while (*p != '\0') {
		const char *start = p;

		if (n == ENTRIES_MAX) /* cannot happen within the length */
			return ss_error_set(SS_EINVALID, "too many GTID entries");
		rc = entry(&seen[n], &p, n + 1);
		if (rc < 0)
			return rc;
		for (i = 0; i < n; i++)
			if (seen[i] == seen[n])
				return bad_entry(n + 1, start,
						 "domain %" PRIu32
						 " is also in entry %zu; a "
						 "position holds one GTID per domain",
						 seen[n], i + 1);
		n++;
		if (*p == '\0')
			break;
		for (p++; *p == ' '; p++)
			;
		if (*p == '\0')
			return ss_error_set(SS_EINVALID,
					    "the GTID position ends with a comma");
	}
	return 0;
}

/* ---- credentials ---------------------------------------------------------- */

/* Whether `s` is UTF-8 MariaDB keeps as given (see the header); its length
 * in characters into *chars. */
static int text_check(size_t *chars, const char *what, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = 0, more, k;

	while (*u != '\0') {
		if (*u < 0x20 || *u == 0x7f)
			return ss_error_set(
				SS_EINVALID,
				"the replication %s contains a control "
				"character such as a line break, which MariaDB's "
				"master.info does not keep",
				what);
		if (*u < 0x80)
			more = 0;
		else if (*u >= 0xc2 && *u <= 0xdf)
			more = 1;
		else if (*u >= 0xe0 && *u <= 0xef)
			more = 2;
		else if (*u >= 0xf0 && *u <= 0xf4)
			return ss_error_set(
				SS_EINVALID,
				"the replication %s has a character of 4 bytes in "
				"UTF-8 (outside the Basic Multilingual Plane, such "
				"as an emoji), which MariaDB stores as '?'",
				what);
		else
			goto not_utf8;
		for (k = 1; k <= more; k++)
			if ((u[k] & 0xc0) != 0x80)
				goto not_utf8;
		/* overlong 3-byte forms and UTF-16 surrogates */
		if (more == 2 &&
		    ((u[0] == 0xe0 && u[1] < 0xa0) || (u[0] == 0xed && u[1] >= 0xa0)))
			goto not_utf8;
		u += more + 1;
		n++;
	}
	*chars = n;
	return 0;
not_utf8:
	return ss_error_set(SS_EINVALID, "the replication %s is not valid UTF-8", what);
}

int app_replication_credentials_check(const char *user, const char *password)
{
	size_t chars, bytes;
	int rc;

	if (user == NULL || user[0] == '\0')
		return ss_error_set(SS_EINVALID, "the replication user is empty");
	if (password == NULL)
		return ss_error_set(SS_EINVALID, "no replication password");
	if ((rc = text_check(&chars, "user", user)) < 0)
		return rc;
	bytes = strlen(user);
	if (chars > APP_REPLICATION_USER_MAX_CHARS)
		return ss_error_set(SS_EINVALID,
				    "the replication user is %zu characters long; "
				    "MariaDB accepts at most %d in MASTER_USER",
				    chars, APP_REPLICATION_USER_MAX_CHARS);
	if (bytes > APP_REPLICATION_VALUE_MAX)
		return ss_error_set(SS_EINVALID,
				    "the replication user is %zu bytes long in UTF-8; "
				    "snapstage passes MariaDB at most %d",
				    bytes, APP_REPLICATION_VALUE_MAX);
	if ((rc = text_check(&chars, "password", password)) < 0)
		return rc;
	bytes = strlen(password);
	if (bytes > APP_REPLICATION_PASSWORD_MAX_BYTES)
		return ss_error_set(SS_EINVALID,
				    "the replication password is %zu bytes long in "
				    "UTF-8; MariaDB accepts at most %d in "
				    "MASTER_PASSWORD",
				    bytes, APP_REPLICATION_PASSWORD_MAX_BYTES);
	return 0;
}
