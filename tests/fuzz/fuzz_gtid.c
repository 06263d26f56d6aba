/*
 * fuzz_gtid.c — libFuzzer target for app/api/gtid.h: GTID positions read
 * from a server (@@gtid_binlog_pos, @@gtid_slave_pos), a Backup's status
 * or a Restore's spec, all text from outside.
 *
 * An input is split at its first NUL byte into two positions a and b.
 * Beyond "no crash" (ASan and UBSan abort on any fault) it checks what must
 * always hold:
 *   - parsing returns 0 or SS_EINVALID, a failure records a short message
 *     of printable ASCII (it goes into JSON), and leaves *out alone;
 *   - an accepted position formats within APP_GTID_TEXT_MAX, and its text
 *     parses back to an equal position that formats to the same text
 *     (canonical), sorted by domain without repeats;
 *   - equal(a, b) implies reached both ways; reached both ways with the
 *     same domain -> server pairs implies equal (seq 0 and a missing domain
 *     are the same to reached, so the pairs are compared too);
 *   - not_after(a, b) is reached(b, a) (a missing domain counts as seq 0 in
 *     both), and says why when false;
 *   - before(b, g) for each GTID g of a, when accepted, reaches nothing
 *     past upto, stops short of g in g's domain, and is otherwise upto.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/gtid.h"
#include "util/error.h"

/* abort() with a reason: libFuzzer saves the input as a crash. */
#define CHECK(cond)                                                             \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "fuzz_gtid: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                     \
			abort();                                                \
		}                                                               \
	} while (0)

#define TEXT_MAX 4096

static void check_message(void)
{
	const char *m = ss_error_last()->message;
	size_t i, len = strlen(m);

	CHECK(ss_error_last()->code == SS_EINVALID);
	CHECK(len > 0 && len < 256);
	for (i = 0; i < len; i++)
		CHECK(m[i] >= 0x20 && m[i] < 0x7f);
}

/* Parses text into *p; checks the round trip. false when refused. */
static bool parse_checked(app_gtid_pos *p, const char *text)
{
	static char t1[APP_GTID_TEXT_MAX], t2[APP_GTID_TEXT_MAX];
	app_gtid_pos back;
	size_t i;

	p->n = 12345;
	if (app_gtid_pos_parse(p, text) != 0) {
		check_message();
		CHECK(p->n == 12345);
		return false;
	}
	CHECK(p->n <= APP_GTID_MAX_DOMAINS);
	for (i = 1; i < p->n; i++)
		CHECK(p->g[i - 1].domain < p->g[i].domain);
	CHECK(app_gtid_pos_format(t1, sizeof(t1), p) == 0);
	CHECK(app_gtid_pos_parse(&back, t1) == 0);
	CHECK(app_gtid_pos_equal(p, &back) && app_gtid_pos_equal(&back, p));
	CHECK(app_gtid_pos_format(t2, sizeof(t2), &back) == 0);
	CHECK(strcmp(t1, t2) == 0);
	return true;
}

/* Whether a and b hold the same domains with the same servers. */
static bool same_pairs(const app_gtid_pos *a, const app_gtid_pos *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		const app_gtid *o = app_gtid_pos_find(b, a->g[i].domain);

		if (o == NULL || o->server != a->g[i].server)
			return false;
	}
	return true;
}

static void check_compare(const app_gtid_pos *a, const app_gtid_pos *b)
{
	bool ab = app_gtid_pos_reached(a, b), ba = app_gtid_pos_reached(b, a);
	const char *why = NULL;
	bool na = app_gtid_pos_not_after(a, b, &why);

	if (app_gtid_pos_equal(a, b))
		CHECK(ab && ba && app_gtid_pos_equal(b, a));
	if (ab && ba && same_pairs(a, b))
		CHECK(app_gtid_pos_equal(a, b));
	CHECK(na == ba);
	CHECK(na || (why != NULL && why[0] != '\0'));
	CHECK(app_gtid_pos_reached(a, a) && app_gtid_pos_not_after(a, a, NULL));
}

static void check_before(const app_gtid_pos *upto, const app_gtid *g)
{
	app_gtid_pos out = { .n = 0 }, just_g = { .n = 0 };
	const app_gtid *u = app_gtid_pos_find(upto, g->domain), *o;
	size_t i;

	if (app_gtid_pos_before(&out, upto, g) != 0) {
		check_message();
		CHECK(out.n == 0);
		CHECK(g->seq == 0 || u == NULL || u->seq < g->seq);
		return;
	}
	CHECK(g->seq > 0 && u != NULL && u->seq >= g->seq);
	CHECK(app_gtid_pos_set(&just_g, g) == 0);
	CHECK(app_gtid_pos_reached(upto, &out));
	CHECK(!app_gtid_pos_reached(&out, &just_g));
	CHECK(out.n == upto->n);
	o = app_gtid_pos_find(&out, g->domain);
	CHECK(o != NULL && o->server == g->server && o->seq == g->seq - 1);
	for (i = 0; i < upto->n; i++)
		if (upto->g[i].domain != g->domain)
			CHECK(memcmp(app_gtid_pos_find(&out, upto->g[i].domain),
				     &upto->g[i], sizeof(app_gtid)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char a[TEXT_MAX + 1], b[TEXT_MAX + 1];
	static app_gtid_pos pa, pb;
	const uint8_t *nul = memchr(data, '\0', size);
	size_t alen = nul ? (size_t)(nul - data) : size, blen = 0, i;
	bool oka, okb;
	app_gtid one;

	if (alen > TEXT_MAX)
		alen = TEXT_MAX;
	memcpy(a, data, alen);
	a[alen] = '\0';
	if (nul) {
		blen = size - (size_t)(nul - data) - 1;
		if (blen > TEXT_MAX)
			blen = TEXT_MAX;
		memcpy(b, nul + 1, blen);
	}
	b[blen] = '\0';
	if (app_gtid_parse(&one, a) != 0)
		check_message();
	oka = parse_checked(&pa, a);
	okb = parse_checked(&pb, b);
	if (!oka || !okb)
		return 0;
	check_compare(&pa, &pb);
	check_compare(&pb, &pa);
	for (i = 0; i < pa.n; i++)
		check_before(&pb, &pa.g[i]);
	return 0;
}
