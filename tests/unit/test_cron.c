/*
 * test_cron.c — the schedule parser: exact bitsets for good expressions,
 * H (stable, in range, evenly spread), the day-of-month/day-of-week rule,
 * and a message naming the fault for every way to get a schedule wrong.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "app/sched/cron.h"
#include "util/error.h"

#define B(i) (1ULL << (i))
#define R(lo, hi) ((~0ULL >> (63 - (hi))) & (~0ULL << (lo)))
#define ALL_MIN R(0, 59)
#define ALL_HOUR R(0, 23)
#define ALL_MDAY R(1, 31)
#define ALL_MON R(1, 12)
#define ALL_WDAY R(0, 6)

typedef struct {
	const char *text;
	uint64_t minutes, hours, mdays, months, wdays;
	bool mday_star, wday_star;
} good_case;

static const good_case good[] = {
	/* plain */
	{ "* * * * *", ALL_MIN, ALL_HOUR, ALL_MDAY, ALL_MON, ALL_WDAY, true, true },
	{ "0 0 * * *", B(0), B(0), ALL_MDAY, ALL_MON, ALL_WDAY, true, true },
	{ "30 2 15 6 3", B(30), B(2), B(15), B(6), B(3), false, false },
	{ "59 23 31 12 6", B(59), B(23), B(31), B(12), B(6), false, false },
	{ "05 09 01 02 03", B(5), B(9), B(1), B(2), B(3), false, false },
	/* lists */
	{ "0,15,30,45 1,13 1,15 1,7 1,3,5", B(0) | B(15) | B(30) | B(45), B(1) | B(13),
	  B(1) | B(15), B(1) | B(7), B(1) | B(3) | B(5), false, false },
	{ "5,5,5 1 1 1 1", B(5), B(1), B(1), B(1), B(1), false, false },
	/* ranges */
	{ "10-20 9-17 1-7 3-5 1-5", R(10, 20), R(9, 17), R(1, 7), R(3, 5), R(1, 5), false,
	  false },
	{ "5-5 0-23 1-31 1-12 0-7", B(5), ALL_HOUR, ALL_MDAY, ALL_MON, ALL_WDAY, false,
	  false },
	{ "0-59 * * * *", ALL_MIN, ALL_HOUR, ALL_MDAY, ALL_MON, ALL_WDAY, true, true },
	/* steps */
	{ "*/15 */6 */10 */3 */2", B(0) | B(15) | B(30) | B(45),
	  B(0) | B(6) | B(12) | B(18), B(1) | B(11) | B(21) | B(31),
	  B(1) | B(4) | B(7) | B(10), B(0) | B(2) | B(4) | B(6), true, true },
	{ "*/1 */23 */30 */11 */6", ALL_MIN, B(0) | B(23), B(1) | B(31), B(1) | B(12),
	  B(0) | B(6), true, true },
	{ "10-30/10 8-18/5 1-15/7 1-12/4 1-5/2", B(10) | B(20) | B(30),
	  B(8) | B(13) | B(18), B(1) | B(8) | B(15), B(1) | B(5) | B(9),
	  B(1) | B(3) | B(5), false, false },
	/* a/n: a through the maximum, every n */
	{ "5/20 3/8 10/10 2/5 1/2", B(5) | B(25) | B(45), B(3) | B(11) | B(19),
	  B(10) | B(20) | B(30), B(2) | B(7) | B(12), B(1) | B(3) | B(5), false, false },
	{ "0/30 0/12 1/15 1/6 0/3", B(0) | B(30), B(0) | B(12), B(1) | B(16) | B(31),
	  B(1) | B(7), B(0) | B(3) | B(6), false, false },
	/* lists of ranges and steps */
	{ "0-10/5,30,45-47 0,12-14 1-3,*/10 1,6-7 0,3-4",
	  B(0) | B(5) | B(10) | B(30) | R(45, 47), B(0) | R(12, 14),
	  R(1, 3) | B(11) | B(21) | B(31), B(1) | B(6) | B(7), B(0) | B(3) | B(4), false,
	  false },
	/* names, in any case, also in ranges and steps */
	{ "0 0 * JAN-MAR,dec MON-FRI", B(0), B(0), ALL_MDAY, R(1, 3) | B(12), R(1, 5),
	  true, false },
	{ "0 0 * jul sun,Sat", B(0), B(0), ALL_MDAY, B(7), B(0) | B(6), true, false },
	{ "0 0 * Feb-aug/2 mon-sat/2", B(0), B(0), ALL_MDAY, B(2) | B(4) | B(6) | B(8),
	  B(1) | B(3) | B(5), true, false },
	{ "0 0 * jan,FEB,Mar,apr,MAY,jun,JUL,aug,SEP,oct,NOV,dec SUN-SAT", B(0), B(0),
	  ALL_MDAY, ALL_MON, ALL_WDAY, true, false },
	{ "0 0 * * tue,WED,Thu", B(0), B(0), ALL_MDAY, ALL_MON, B(2) | B(3) | B(4), true,
	  false },
	/* 7 is Sunday */
	{ "0 0 * * 7", B(0), B(0), ALL_MDAY, ALL_MON, B(0), true, false },
	{ "0 0 * * 5-7", B(0), B(0), ALL_MDAY, ALL_MON, B(5) | B(6) | B(0), true, false },
	{ "0 0 * * 0,7", B(0), B(0), ALL_MDAY, ALL_MON, B(0), true, false },
	{ "0 0 * * 1-7/2", B(0), B(0), ALL_MDAY, ALL_MON, B(1) | B(3) | B(5) | B(0), true,
	  false },
	/* ? is * */
	{ "0 0 ? * MON", B(0), B(0), ALL_MDAY, ALL_MON, B(1), true, false },
	{ "? ? ? ? ?", ALL_MIN, ALL_HOUR, ALL_MDAY, ALL_MON, ALL_WDAY, true, true },
	/* a starred step counts as starred (Vixie) */
	{ "0 0 */2 * 3", B(0), B(0), 0xaaaaaaaaULL /* odd days */, ALL_MON, B(3), true,
	  false },
	/* blanks */
	{ "  0\t0   *  *\t\t* ", B(0), B(0), ALL_MDAY, ALL_MON, ALL_WDAY, true, true },
	{ "\t15 \t 3 1 * *\t", B(15), B(3), B(1), ALL_MON, ALL_WDAY, false, true },
	/* macros: Kubernetes' meaning, no H */
	{ "@yearly", B(0), B(0), B(1), B(1), ALL_WDAY, false, true },
	{ "@annually", B(0), B(0), B(1), B(1), ALL_WDAY, false, true },
	{ "@monthly", B(0), B(0), B(1), ALL_MON, ALL_WDAY, false, true },
	{ "@weekly", B(0), B(0), ALL_MDAY, ALL_MON, B(0), true, false },
	{ "@daily", B(0), B(0), ALL_MDAY, ALL_MON, ALL_WDAY, true, true },
	{ "@midnight", B(0), B(0), ALL_MDAY, ALL_MON, ALL_WDAY, true, true },
	{ "@hourly", B(0), ALL_HOUR, ALL_MDAY, ALL_MON, ALL_WDAY, true, true },
	{ " @Daily\t", B(0), B(0), ALL_MDAY, ALL_MON, ALL_WDAY, true, true },
	{ "@HOURLY", B(0), ALL_HOUR, ALL_MDAY, ALL_MON, ALL_WDAY, true, true },
};

#define N_GOOD (sizeof(good) / sizeof(good[0]))

static void test_good(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_GOOD; i++) {
		const good_case *g = &good[i];
		app_cron c;

		if (app_cron_parse(&c, g->text, "ns/name") != 0)
			fail_msg("\"%s\": %s", g->text, ss_error_last()->message);
		if (c.kind != APP_CRON_EXPR || c.minutes != g->minutes ||
		    c.hours != g->hours || c.mdays != g->mdays || c.months != g->months ||
		    c.wdays != g->wdays || c.mday_star != g->mday_star ||
		    c.wday_star != g->wday_star)
			fail_msg("\"%s\": got %llx %x %x %x %x star %d %d", g->text,
				 (unsigned long long)c.minutes, (unsigned)c.hours,
				 (unsigned)c.mdays, (unsigned)c.months, (unsigned)c.wdays,
				 c.mday_star, c.wday_star);
	}
}

static void test_once(void **state)
{
	const char *texts[] = { "once", "ONCE", "  Once\t" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		app_cron c;

		assert_int_equal(app_cron_parse(&c, texts[i], "ns/name"), 0);
		assert_int_equal(c.kind, APP_CRON_ONCE);
		assert_true(c.minutes == 0 && c.hours == 0 && c.mdays == 0 &&
			    c.months == 0 && c.wdays == 0);
		assert_false(app_cron_matches(&c, 0, 0, 1, 1, 0));
		assert_false(app_cron_day_matches(&c, 1, 0));
	}
}

/* The only set bit of a one-value field, or -1. */
static int only_bit(uint64_t bits)
{
	int i;

	if (bits == 0 || (bits & (bits - 1)) != 0)
		return -1;
	for (i = 0; !(bits & B(i)); i++)
		;
	return i;
}

static int lowest_bit(uint64_t bits)
{
	int i;

	for (i = 0; i < 64; i++)
		if (bits & B(i))
			return i;
	return -1;
}

static app_cron parse_ok(const char *text, const char *seed)
{
	app_cron c;

	if (app_cron_parse(&c, text, seed) != 0)
		fail_msg("\"%s\": %s", text, ss_error_last()->message);
	return c;
}

/* Known values, so that a change to the hash (which would move every H
 * schedule in every cluster) cannot pass unnoticed. */
static void test_h_pinned(void **state)
{
	app_cron c;

	(void)state;
	c = parse_ok("H H H H H", "default/nightly");
	assert_int_equal(only_bit(c.minutes), 24);
	assert_int_equal(only_bit(c.hours), 14);
	assert_int_equal(only_bit(c.mdays), 12);
	assert_int_equal(only_bit(c.months), 4);
	assert_int_equal(only_bit(c.wdays), 2);
	assert_false(c.mday_star);
	assert_false(c.wday_star);
	c = parse_ok("H/15 * * * *", "prod/mariadb-main");
	assert_int_equal(c.minutes, B(1) | B(16) | B(31) | B(46));
	c = parse_ok("H/15 * * * *", "ns/backup-1");
	assert_int_equal(lowest_bit(c.minutes), 10);
	c = parse_ok("H/15 * * * *", "ns/backup-2");
	assert_int_equal(lowest_bit(c.minutes), 9);
}

/* Field by field: app_cron has padding, which assert_memory_equal would
 * compare too (it differed in a -O3 Release build, where a struct copy
 * need not carry padding bytes). */
static void assert_cron_equal(const app_cron *a, const app_cron *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->minutes, b->minutes);
	assert_int_equal(a->hours, b->hours);
	assert_int_equal(a->mdays, b->mdays);
	assert_int_equal(a->months, b->months);
	assert_int_equal(a->wdays, b->wdays);
	assert_int_equal(a->mday_star, b->mday_star);
	assert_int_equal(a->wday_star, b->wday_star);
}

static void test_h_stable(void **state)
{
	app_cron a, b;

	(void)state;
	a = parse_ok("H H(2-5) H H * ", "shop/orders");
	b = parse_ok("H  H(2-5)  H  H  *", "shop/orders");
	assert_cron_equal(&a, &b);
	/* lower-case h is H */
	b = parse_ok("h h(2-5) h h *", "shop/orders");
	assert_cron_equal(&a, &b);
	/* NULL is the empty seed */
	a = parse_ok("H H H H H", NULL);
	b = parse_ok("H H H H H", "");
	assert_cron_equal(&a, &b);
	/* a field's value does not depend on the other fields */
	a = parse_ok("H 3 * * *", "shop/orders");
	b = parse_ok("H H(2-5) H H *", "shop/orders");
	assert_int_equal(a.minutes, b.minutes);
}

static void test_h_in_range(void **state)
{
	bool seen_mday[32] = { false }, seen_h10[60] = { false },
	     seen_wday[8] = { false };
	char seed[64];
	int i, v;

	(void)state;
	for (i = 0; i < 1000; i++) {
		app_cron c;

		snprintf(seed, sizeof(seed), "ns-%d/backup", i);
		c = parse_ok("H H H H H", seed);
		assert_in_range(only_bit(c.minutes), 0, 59);
		assert_in_range(only_bit(c.hours), 0, 23);
		v = only_bit(c.mdays);
		assert_in_range(v, 1, 28); /* exists in every month */
		seen_mday[v] = true;
		assert_in_range(only_bit(c.months), 1, 12);
		assert_in_range(only_bit(c.wdays), 0, 6);

		c = parse_ok("H(10-20) H(9-17) H(1-31) H(JUN-AUG) H(mon-fri)", seed);
		v = only_bit(c.minutes);
		assert_in_range(v, 10, 20);
		seen_h10[v] = true;
		assert_in_range(only_bit(c.hours), 9, 17);
		assert_in_range(only_bit(c.mdays), 1, 31);
		assert_in_range(only_bit(c.months), 6, 8);
		v = only_bit(c.wdays);
		assert_in_range(v, 1, 5);
		seen_wday[v] = true;

		/* H(5-7) in day of week may land on 7, which is Sunday */
		c = parse_ok("0 0 * * H(5-7)", seed);
		assert_true(c.wdays == B(5) || c.wdays == B(6) || c.wdays == B(0));

		/* two H's in one field are chosen separately */
		c = parse_ok("H(0-29),H(30-59) * * * *", seed);
		assert_true((c.minutes & R(0, 29)) != 0 && (c.minutes & R(30, 59)) != 0);
	}
	for (v = 1; v <= 28; v++)
		assert_true(seen_mday[v]);
	for (v = 10; v <= 20; v++)
		assert_true(seen_h10[v]);
	for (v = 1; v <= 5; v++)
		assert_true(seen_wday[v]);
}

static void test_h_steps(void **state)
{
	char seed[64];
	int i;

	(void)state;
	for (i = 0; i < 200; i++) {
		app_cron c;
		int o;

		snprintf(seed, sizeof(seed), "db/%d", i);
		c = parse_ok("H/15 H/6 H/7 H/3 H/2", seed);
		o = lowest_bit(c.minutes);
		assert_in_range(o, 0, 14);
		assert_int_equal(c.minutes, B(o) | B(o + 15) | B(o + 30) | B(o + 45));
		o = lowest_bit(c.hours);
		assert_in_range(o, 0, 5);
		assert_int_equal(c.hours, B(o) | B(o + 6) | B(o + 12) | B(o + 18));
		o = lowest_bit(c.mdays); /* 1-28 here too */
		assert_in_range(o, 1, 7);
		assert_int_equal(c.mdays, B(o) | B(o + 7) | B(o + 14) | B(o + 21));
		o = lowest_bit(c.months);
		assert_in_range(o, 1, 3);
		assert_int_equal(c.months, B(o) | B(o + 3) | B(o + 6) | B(o + 9));
		o = lowest_bit(c.wdays);
		assert_in_range(o, 0, 1);
		assert_int_equal(c.wdays, o == 0 ? (B(0) | B(2) | B(4) | B(6))
						 : (B(1) | B(3) | B(5)));

		c = parse_ok("H(0-29)/10 H(8-17)/4 * * *", seed);
		o = lowest_bit(c.minutes);
		assert_in_range(o, 0, 9);
		assert_int_equal(c.minutes, B(o) | B(o + 10) | B(o + 20));
		o = lowest_bit(c.hours);
		assert_in_range(o, 8, 11);
		assert_int_equal(c.hours, B(o) | B(o + 4) | (o + 8 <= 17 ? B(o + 8) : 0));
	}
}

/* A step after H counts from the offset, so passing the step check does
 * not promise a second value (cron.h): H/4 in day of week is Wednesday
 * alone for a seed whose offset is 3, H(0-10)/8 one minute for offsets
 * 3-7. Both kinds of seed occur among these 200. */
static void test_h_step_may_give_one_value(void **state)
{
	char seed[64];
	int i, one_day = 0, two_days = 0, one_minute = 0, two_minutes = 0;

	(void)state;
	for (i = 0; i < 200; i++) {
		app_cron c;
		int o;

		snprintf(seed, sizeof(seed), "db/%d", i);
		c = parse_ok("H(0-10)/8 * * * H/4", seed);
		o = lowest_bit(c.wdays);
		assert_in_range(o, 0, 3);
		assert_int_equal(c.wdays, o == 3 ? B(3) : (B(o) | B(o + 4)));
		if (o == 3)
			one_day++;
		else
			two_days++;
		o = lowest_bit(c.minutes);
		assert_in_range(o, 0, 7);
		assert_int_equal(c.minutes, o >= 3 ? B(o) : (B(o) | B(o + 8)));
		if (o >= 3)
			one_minute++;
		else
			two_minutes++;
	}
	assert_true(one_day > 0 && two_days > 0);
	assert_true(one_minute > 0 && two_minutes > 0);
}

/* 100 schedules with H in minutes should not pile up on a few minutes. */
static void test_h_spread(void **state)
{
	int minute[100], hour[100], offset[100], count[60] = { 0 };
	int distinct = 0, max_count = 0, equal_pairs = 0, neighbours_differ = 0;
	int distinct_hours = 0, distinct_offsets = 0, i, j;
	bool seen_hour[24] = { false }, seen_offset[15] = { false };
	char seed[64];

	(void)state;
	for (i = 0; i < 100; i++) {
		app_cron c;

		snprintf(seed, sizeof(seed), "team-%d/mariadb", i);
		c = parse_ok("H H * * *", seed);
		minute[i] = only_bit(c.minutes);
		hour[i] = only_bit(c.hours);
		c = parse_ok("H/15 * * * *", seed);
		offset[i] = lowest_bit(c.minutes);
	}
	for (i = 0; i < 100; i++) {
		if (count[minute[i]]++ == 0)
			distinct++;
		if (count[minute[i]] > max_count)
			max_count = count[minute[i]];
		if (!seen_hour[hour[i]]) {
			seen_hour[hour[i]] = true;
			distinct_hours++;
		}
		if (!seen_offset[offset[i]]) {
			seen_offset[offset[i]] = true;
			distinct_offsets++;
		}
		if (i > 0 && minute[i] != minute[i - 1])
			neighbours_differ++;
		for (j = i + 1; j < 100; j++)
			if (minute[i] == minute[j])
				equal_pairs++;
	}
	print_message(
		"H spread over 100 seeds: %d distinct minutes (uniform: ~49), "
		"busiest minute %d, %d/4950 pairs equal (uniform: ~82), "
		"%d/99 neighbouring seeds differ, %d/24 hours, %d/15 H/15 offsets\n",
		distinct, max_count, equal_pairs, neighbours_differ, distinct_hours,
		distinct_offsets);
	assert_true(distinct >= 40);
	assert_true(max_count <= 8);
	assert_true(equal_pairs <= 150);      /* about 1 in 60, like a fair die */
	assert_true(neighbours_differ >= 93); /* seeds differing in one char */
	assert_true(distinct_hours >= 20);
	assert_true(distinct_offsets >= 14);
	/* minute and hour of one seed are not tied to each other */
	for (i = 0, j = 0; i < 100; i++)
		if (minute[i] % 24 == hour[i])
			j++;
	assert_true(j <= 15);
}

static void test_matches(void **state)
{
	app_cron c;

	(void)state;
	c = parse_ok("30 2 * 6 *", "x");
	assert_true(app_cron_matches(&c, 30, 2, 10, 6, 1));
	assert_false(app_cron_matches(&c, 31, 2, 10, 6, 1));
	assert_false(app_cron_matches(&c, 30, 3, 10, 6, 1));
	assert_false(app_cron_matches(&c, 30, 2, 10, 7, 1));

	/* both days restricted: either matches */
	c = parse_ok("0 0 1,15 * MON", "x");
	assert_true(app_cron_matches(&c, 0, 0, 1, 3, 3));  /* the 1st, a Wednesday */
	assert_true(app_cron_matches(&c, 0, 0, 8, 3, 1));  /* a Monday, the 8th */
	assert_true(app_cron_matches(&c, 0, 0, 15, 3, 1)); /* both */
	assert_false(app_cron_matches(&c, 0, 0, 9, 3, 2));
	assert_false(app_cron_matches(&c, 1, 0, 1, 3, 1)); /* wrong minute */

	/* only day of week restricted */
	c = parse_ok("0 0 * * MON", "x");
	assert_true(app_cron_day_matches(&c, 8, 1));
	assert_false(app_cron_day_matches(&c, 9, 2));
	c = parse_ok("0 0 ? * MON", "x");
	assert_true(app_cron_day_matches(&c, 8, 1));
	assert_false(app_cron_day_matches(&c, 9, 2));

	/* only day of month restricted */
	c = parse_ok("0 0 13 * *", "x");
	assert_true(app_cron_day_matches(&c, 13, 5));
	assert_false(app_cron_day_matches(&c, 14, 5));

	/* Friday the 13th is "the 13th or a Friday" in cron */
	c = parse_ok("0 0 13 * 5", "x");
	assert_true(app_cron_day_matches(&c, 13, 2));
	assert_true(app_cron_day_matches(&c, 20, 5));
	assert_false(app_cron_day_matches(&c, 14, 6));

	/* a starred step is starred: odd-day Wednesdays only (robfig differs) */
	c = parse_ok("0 0 */2 * 3", "x");
	assert_true(app_cron_day_matches(&c, 3, 3));
	assert_false(app_cron_day_matches(&c, 4, 3));
	assert_false(app_cron_day_matches(&c, 5, 4));

	/* H in a day field restricts it */
	c = parse_ok("0 0 H * 1", "x");
	assert_false(c.mday_star);
	assert_true(app_cron_day_matches(&c, only_bit(c.mdays), only_bit(c.mdays) % 7));
	assert_true(app_cron_day_matches(&c, 29, 1));

	/* @weekly is Sundays only */
	c = parse_ok("@weekly", "x");
	assert_true(app_cron_matches(&c, 0, 0, 7, 1, 0));
	assert_false(app_cron_matches(&c, 0, 0, 8, 1, 1));

	/* every minute matches * * * * *; nothing outside the ranges does */
	c = parse_ok("* * * * *", "x");
	assert_true(app_cron_matches(&c, 59, 23, 31, 12, 6));
	assert_true(app_cron_matches(&c, 0, 0, 1, 1, 0));
	assert_false(app_cron_matches(&c, 60, 0, 1, 1, 0));
	assert_false(app_cron_matches(&c, -1, 0, 1, 1, 0));
	assert_false(app_cron_matches(&c, 0, 24, 1, 1, 0));
	assert_false(app_cron_matches(&c, 0, -1, 1, 1, 0));
	assert_false(app_cron_matches(&c, 0, 0, 0, 1, 0));
	assert_false(app_cron_matches(&c, 0, 0, 32, 1, 0));
	assert_false(app_cron_matches(&c, 0, 0, 1, 0, 0));
	assert_false(app_cron_matches(&c, 0, 0, 1, 13, 0));
	assert_false(app_cron_matches(&c, 0, 0, 1, 1, 7));
	assert_false(app_cron_matches(&c, 0, 0, 1, 1, -1));
}

typedef struct {
	const char *text;
	const char *fragment;
} bad_case;

static const bad_case bad[] = {
	/* nothing */
	{ NULL, "schedule is empty" },
	{ "", "schedule is empty" },
	{ " \t ", "schedule is empty" },
	/* out of range, per field */
	{ "60 * * * *", "field 1 (minute): 60 is out of range 0-59" },
	{ "* 24 * * *", "field 2 (hour): 24 is out of range 0-23" },
	{ "* * 0 * *", "field 3 (day of month): 0 is out of range 1-31" },
	{ "* * 32 * *", "field 3 (day of month): 32 is out of range 1-31" },
	{ "* * * 0 *", "field 4 (month): 0 is out of range 1-12" },
	{ "* * * 13 *", "field 4 (month): 13 is out of range 1-12" },
	{ "* * * * 8", "field 5 (day of week): 8 is out of range 0-7" },
	{ "* 1-30 * * *", "field 2 (hour): 30 is out of range 0-23" },
	{ "99999999999999999999 * * * *",
	  "field 1 (minute): 99999999999999999999 is out of range 0-59" },
	/* backwards ranges */
	{ "10-5 * * * *", "field 1 (minute): range 10-5 is backwards" },
	{ "* * * DEC-JAN *", "field 4 (month): range DEC-JAN is backwards" },
	{ "* * * * FRI-SUN", "field 5 (day of week): range FRI-SUN is backwards" },
	/* steps */
	{ "*/0 * * * *", "field 1 (minute): step must be at least 1" },
	{ "* 1-5/0 * * *", "field 2 (hour): step must be at least 1" },
	{ "*/60 * * * *", "field 1 (minute): step 60 is too large for the range 0-59" },
	{ "* */24 * * *", "field 2 (hour): step 24 is too large for the range 0-23" },
	{ "* * 1-5/5 * *",
	  "field 3 (day of month): step 5 is too large for the range 1-5" },
	{ "* * * 12/1 *", "field 4 (month): step 1 is too large for the range 12-12" },
	{ "* * * * */7", "field 5 (day of week): step 7 is too large for the range 0-6" },
	{ "* * * * 7/2", "field 5 (day of week): step 2 is too large for the range 7-7" },
	{ "*/99999 * * * *",
	  "field 1 (minute): step 99999 is too large for the range 0-59" },
	{ "*/x * * * *", "field 1 (minute): step \"x\" is not a number" },
	{ "*/5/2 * * * *", "field 1 (minute): step \"5/2\" is not a number" },
	{ "/5 * * * *", "field 1 (minute): \"/5\" has nothing before \"/\"" },
	{ "5/ * * * *", "field 1 (minute): \"5/\" has no step after \"/\"" },
	/* names */
	{ "* * * * FRX", "field 5 (day of week): unknown name \"FRX\"" },
	{ "* * * JANUARY *", "field 4 (month): unknown name \"JANUARY\"" },
	{ "* * * MON *", "field 4 (month): unknown name \"MON\"" },
	{ "* * * * JAN", "field 5 (day of week): unknown name \"JAN\"" },
	{ "MON * * * *", "field 1 (minute): \"MON\" is not a number" },
	/* malformed numbers and ranges */
	{ "5x * * * *", "field 1 (minute): \"5x\" is not a number" },
	{ "*-5 * * * *", "field 1 (minute): \"*\" is not a number" },
	{ "-5 * * * *", "field 1 (minute): range \"-5\" has no start" },
	{ "5- * * * *", "field 1 (minute): range \"5-\" has no end" },
	{ "1-2-3 * * * *", "field 1 (minute): \"2-3\" is not a number" },
	{ "(5) * * * *", "field 1 (minute): \"(5)\" is not a number" },
	{ "* * L * *", "field 3 (day of month): \"L\" is not a number" },
	{ "* * 15W * *", "field 3 (day of month): \"15W\" is not a number" },
	{ "* * * * 5L", "field 5 (day of week): \"5L\" is not a number" },
	/* lists */
	{ "1,,2 * * * *", "field 1 (minute): list has an empty element" },
	{ ",1 * * * *", "field 1 (minute): list starts with a comma" },
	{ "* , * * *", "field 2 (hour): list starts with a comma" },
	{ "1,2, * * * *", "field 1 (minute): list ends with a comma" },
	/* garbage characters */
	{ "* * * * 1#2", "field 5 (day of week): unexpected character '#'" },
	{ "1.5 * * * *", "field 1 (minute): unexpected character '.'" },
	{ "* * * * MON;FRI", "field 5 (day of week): unexpected character ';'" },
	{ "0 0 * * *\n", "unexpected byte 0x0a at position 10" },
	{ "0 0 * * \xe2\x80\xa2", "unexpected byte 0xe2 at position 9" },
	{ "0\r0 * * *", "unexpected byte 0x0d at position 2" },
	/* H */
	{ "H(1-5 * * * *", "field 1 (minute): \"H(1-5\" is missing \")\"" },
	{ "H( * * * *", "field 1 (minute): \"H(\" is missing \")\"" },
	{ "H(5) * * * *", "field 1 (minute): \"H(5)\" should be H(a-b)" },
	{ "H() * * * *", "field 1 (minute): \"H()\" should be H(a-b)" },
	{ "H(30-10) * * * *", "field 1 (minute): range 30-10 is backwards" },
	{ "H(0-60) * * * *", "field 1 (minute): 60 is out of range 0-59" },
	{ "H(-5) * * * *", "field 1 (minute): range \"-5\" has no start" },
	{ "H/60 * * * *", "field 1 (minute): step 60 is too large for the range 0-59" },
	{ "* * H/28 * *",
	  "field 3 (day of month): step 28 is too large for the range 1-28" },
	{ "H(0-9)/10 * * * *",
	  "field 1 (minute): step 10 is too large for the range 0-9" },
	{ "H/0 * * * *", "field 1 (minute): step must be at least 1" },
	{ "H-5 * * * *", "field 1 (minute): \"H\" is not a number" },
	{ "HH * * * *", "field 1 (minute): \"HH\" is not a number" },
	/* field counts */
	{ "* * * * * *", "expected 5 fields, got 6 (seconds are not supported)" },
	{ "0 0 0 * * * 2024", "expected 5 fields (minute hour day-of-month month "
			      "day-of-week), got 7" },
	{ "* * * *",
	  "expected 5 fields (minute hour day-of-month month day-of-week), got 4" },
	{ "daily", "got 1" },
	{ "once a day", "got 3" },
	/* macros */
	{ "@every 5m", "@every is not supported: use a cron expression" },
	{ "@EVERY 1h", "@every is not supported" },
	{ "@reboot", "@reboot is not supported: use \"once\"" },
	{ "@fortnightly",
	  "unknown macro \"@fortnightly\" (use @yearly, @monthly, @weekly, "
	  "@daily or @hourly)" },
	{ "@", "unknown macro \"@\"" },
	{ "@daily 5", "@daily takes nothing after it, got \"5\"" },
	{ "@hourly * * * * *", "@hourly takes nothing after it, got \"* * * * *\"" },
	/* time zones belong in spec.timeZone */
	{ "CRON_TZ=UTC 0 0 * * *",
	  "a time zone prefix (CRON_TZ= or TZ=) is not supported: set spec.timeZone" },
	{ "TZ=Europe/Berlin 0 0 * * *", "set spec.timeZone" },
	{ "  cron_tz=UTC @daily", "set spec.timeZone" },
};

#define N_BAD (sizeof(bad) / sizeof(bad[0]))

static void test_bad(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_BAD; i++) {
		app_cron c, before;
		const ss_error *e;
		int rc;

		memset(&c, 0xa5, sizeof(c));
		before = c;
		ss_error_clear();
		rc = app_cron_parse(&c, bad[i].text, "ns/name");
		e = ss_error_last();
		if (rc != SS_EINVALID || e->code != SS_EINVALID ||
		    !strstr(e->message, bad[i].fragment))
			fail_msg("\"%s\": want SS_EINVALID containing '%s', got %d: %s",
				 bad[i].text ? bad[i].text : "(null)", bad[i].fragment,
				 rc, e->message);
		/* short enough for a status condition; *out untouched */
		if (strlen(e->message) > 120)
			fail_msg("message too long: %s", e->message);
		assert_memory_equal(&c, &before, sizeof(c));
	}
}

static void test_length(void **state)
{
	char text[APP_CRON_TEXT_MAX + 2];
	char huge[10000];
	app_cron c;
	size_t n;

	(void)state;
	/* exactly the maximum, padded with blanks: fine */
	n = APP_CRON_TEXT_MAX - strlen("0 0 * * *");
	memset(text, ' ', n);
	memcpy(text + n, "0 0 * * *", sizeof("0 0 * * *"));
	assert_int_equal(strlen(text), APP_CRON_TEXT_MAX);
	assert_int_equal(app_cron_parse(&c, text, "x"), 0);
	assert_int_equal(c.minutes, B(0));

	/* one more: refused before anything else is looked at */
	memset(text, ' ', n + 1);
	memcpy(text + n + 1, "0 0 * * *", sizeof("0 0 * * *"));
	assert_int_equal(app_cron_parse(&c, text, "x"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "schedule is too long (more than 256 characters)");

	memset(huge, '*', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	assert_int_equal(app_cron_parse(&c, huge, "x"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "schedule is too long");
}

/* A long piece of input is quoted cut short, never whole. */
static void test_echo_is_bounded(void **state)
{
	char text[APP_CRON_TEXT_MAX + 1], run[34];
	const char *m;
	app_cron c;

	(void)state;
	memset(text, '1', 200);
	memcpy(text + 200, " * * * *", sizeof(" * * * *"));
	assert_int_equal(app_cron_parse(&c, text, "x"), SS_EINVALID);
	m = ss_error_last()->message;
	assert_non_null(strstr(m,
			       "field 1 (minute): 11111111111111111111111111111111... is "
			       "out of range 0-59"));
	memset(run, '1', 33);
	run[33] = '\0';
	assert_null(strstr(m, run));

	memset(text, 'X', 200);
	memcpy(text + 200, " * * * *", sizeof(" * * * *"));
	text[0] = '*';
	text[1] = ',';
	assert_int_equal(app_cron_parse(&c, text, "x"), SS_EINVALID);
	m = ss_error_last()->message;
	assert_true(strlen(m) < 80);
	assert_non_null(strstr(m, "...\" is not a number"));

	memset(text, 'x', 200);
	memcpy(text, "@daily ", 7);
	text[200] = '\0';
	assert_int_equal(app_cron_parse(&c, text, "x"), SS_EINVALID);
	assert_true(strlen(ss_error_last()->message) < 90);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_once),
		cmocka_unit_test(test_h_pinned),
		cmocka_unit_test(test_h_stable),
		cmocka_unit_test(test_h_in_range),
		cmocka_unit_test(test_h_steps),
		cmocka_unit_test(test_h_step_may_give_one_value),
		cmocka_unit_test(test_h_spread),
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_echo_is_bounded),
	};

	print_message("%zu good expressions, %zu bad expressions\n", N_GOOD, N_BAD);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
