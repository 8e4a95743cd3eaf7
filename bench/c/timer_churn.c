/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * timer_churn: many timers registered, cancelled, re-armed and fired.
 *
 * mode=churn (default)
 *   Registers `timers` timers with random expiries within `spread_ms` of
 *   iv_now, unregisters every second one, and runs the loop until the rest
 *   have fired.
 *     timer_churn mode=churn timers=1000000 spread_ms=100
 *   ops = registrations + unregistrations + fires (2 * timers).
 *
 *   Three optional arguments serve the scaling runs (bench/scaling.sh),
 *   which need the same per-operation figure for 1 timer and for a million:
 *     repeat=R        do the whole register / cancel half / fire cycle R
 *                     times (default 1), so that small `timers` counts still
 *                     amount to enough operations; ops = R * 2 * timers
 *     expire=past     draw the expiries from the `spread_ms` before iv_now
 *                     instead of after it (default expire=future): every
 *                     timer is overdue, so each cycle is one loop pass and
 *                     the loop never sleeps (as under callgrind anyway)
 *     cancel=odd      cancel the odd-numbered timers rather than the even
 *                     ones (default cancel=even), so that with timers=1 the
 *                     one timer fires instead of being cancelled
 *     timer_churn mode=churn timers=10 repeat=100000 expire=past cancel=odd
 *
 * mode=idle
 *   The idle-timeout pattern of a server: `timers` timers (one per
 *   connection) are armed with random expiries within `spread_ms`. Every
 *   firing timer pushes back `rearm` other, randomly chosen timers (unregister
 *   if armed, then register with a new expiry) and re-arms itself. After
 *   `fires` firings the last callback unregisters every armed timer, so the
 *   loop runs out of work and iv_main() returns.
 *     timer_churn mode=idle timers=100000 fires=200000 rearm=10 spread_ms=100
 *   ops = registrations + unregistrations + fires.
 *
 * The BENCH line also reports fire_passes: how many distinct values of
 * iv_now the handlers saw, i.e. how many loop passes fired timers. Timers
 * come due in real time, so a library that wakes up more often than needed
 * pays for it in CPU time here (but not under callgrind, which runs so
 * slowly that every timer is overdue).
 *
 * Both modes check, for every registration, that the timer fired at most
 * once and only while registered, never before its expiry (by iv_now), and
 * that firings come in non-decreasing order of expiry; churn mode also
 * checks that every timer left registered fired exactly once and no
 * cancelled one did. Any violation ends the run with exit status 1.
 */

#include "common.h"

enum mode { MODE_CHURN, MODE_IDLE };

static enum mode mode;
static struct iv_timer *timers;
static unsigned char *armed;		/* our own view of "registered" */
/*
 * churn mode: times each timer fired, modulo 256 with repeat=. A byte keeps
 * the measured phase's memory footprint small; a second firing within one
 * cycle, or one while cancelled, fails check_firing() at once, and the total
 * is checked against op_fires.
 */
static unsigned char *fired;
static long timer_count;
static int64_t spread_ns;
static long repeat_count = 1;		/* churn mode: register/cancel/fire cycles */
static int expire_past;			/* churn mode: expiries before iv_now */
static long cancel_first;		/* churn mode: 0 cancels even, 1 odd */
static long rearm_per_fire;
static unsigned long fires_wanted;

static uint64_t op_registers;
static uint64_t op_unregisters;
static uint64_t op_fires;
static struct timespec last_fired_expiry;
static struct timespec last_pass_now;
static uint64_t fire_passes;

static void arm(long index, const struct timespec *now)
{
	struct iv_timer *timer = &timers[index];

	timer->expires = bench_ts_add_ns(*now, (int64_t)bench_rand_below(spread_ns));
	iv_timer_register(timer);
	armed[index] = 1;
	op_registers++;
}

static void disarm(long index)
{
	iv_timer_unregister(&timers[index]);
	armed[index] = 0;
	op_unregisters++;
}

/* Checks shared by both modes; returns the loop's current time. */
static struct timespec check_firing(long index)
{
	struct iv_timer *timer = &timers[index];
	struct timespec now = iv_now;

	if (!armed[index])
		bench_fail("timer %ld fired while not registered", index);
	if (iv_timer_registered(timer))
		bench_fail("timer %ld is still registered in its own handler",
			   index);
	if (bench_ts_before(&now, &timer->expires))
		bench_fail("timer %ld fired %lld ns before its expiry", index,
			   (long long)bench_ts_diff_ns(&now, &timer->expires));
	if (bench_ts_before(&timer->expires, &last_fired_expiry))
		bench_fail("timer %ld fired out of expiry order", index);
	last_fired_expiry = timer->expires;
	if (now.tv_sec != last_pass_now.tv_sec ||
	    now.tv_nsec != last_pass_now.tv_nsec) {
		last_pass_now = now;
		fire_passes++;
	}
	armed[index] = 0;
	op_fires++;
	return now;
}

static void on_churn_timer(void *cookie)
{
	long index = (long)(intptr_t)cookie;

	check_firing(index);
	fired[index]++;
}

static void on_idle_timer(void *cookie)
{
	long index = (long)(intptr_t)cookie;
	struct timespec now = check_firing(index);
	long i;

	if (op_fires == fires_wanted) {
		for (i = 0; i < timer_count; i++) {
			if (armed[i])
				disarm(i);
		}
		return;
	}

	/*
	 * New expiries are at or after this pass's iv_now, and every timer
	 * fired so far expired at or before it, so the global order check in
	 * check_firing() still holds.
	 */
	for (i = 0; i < rearm_per_fire; i++) {
		long other = (long)bench_rand_below(timer_count);

		if (other == index)
			continue;
		if (armed[other])
			disarm(other);
		arm(other, &now);
	}
	arm(index, &now);
}

/* ts minus ns, for 0 <= ns; tv_nsec stays within [0, 1e9). */
static struct timespec ts_sub_ns(struct timespec ts, int64_t ns)
{
	ts.tv_sec -= ns / 1000000000;
	ts.tv_nsec -= ns % 1000000000;
	if (ts.tv_nsec < 0) {
		ts.tv_sec--;
		ts.tv_nsec += 1000000000;
	}
	return ts;
}

static BENCH_MEASURED void bench_measured_phase(void)
{
	struct timespec now = iv_now;
	long i, cycle;

	if (mode == MODE_IDLE) {
		for (i = 0; i < timer_count; i++)
			arm(i, &now);
		iv_main();
		return;
	}
	for (cycle = 0; cycle < repeat_count; cycle++) {
		/*
		 * Expiry order is checked within one cycle: with expire=past a
		 * new cycle's expiries may lie before the last one's.
		 */
		last_fired_expiry.tv_sec = 0;
		last_fired_expiry.tv_nsec = 0;
		now = expire_past ? ts_sub_ns(iv_now, spread_ns) : iv_now;
		for (i = 0; i < timer_count; i++)
			arm(i, &now);
		for (i = cancel_first; i < timer_count; i += 2)
			disarm(i);
		iv_main();
	}
}

int main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	const char *mode_name;
	struct bench_stopwatch sw;
	char params[160];
	char observed[64];
	long i;

	bench_name = "timer_churn";
	mode_name = bench_arg(&args, "mode");
	if (mode_name == NULL || strcmp(mode_name, "churn") == 0)
		mode = MODE_CHURN;
	else if (strcmp(mode_name, "idle") == 0)
		mode = MODE_IDLE;
	else
		bench_fail("mode=%s: expected churn or idle", mode_name);
	timer_count = bench_arg_long(&args, "timers",
				     mode == MODE_CHURN ? 1000000 : 100000, 1,
				     100000000);
	spread_ns = bench_arg_long(&args, "spread_ms", 100, 1, 100000) *
		    1000000LL;
	if (mode == MODE_IDLE) {
		fires_wanted = bench_arg_long(&args, "fires", 200000, 1,
					      1L << 40);
		rearm_per_fire = bench_arg_long(&args, "rearm", 10, 0, 1000);
	} else {
		const char *expire = bench_arg(&args, "expire");
		const char *cancel = bench_arg(&args, "cancel");

		repeat_count = bench_arg_long(&args, "repeat", 1, 1,
					      UINT32_MAX);
		if (expire == NULL || strcmp(expire, "future") == 0)
			expire_past = 0;
		else if (strcmp(expire, "past") == 0)
			expire_past = 1;
		else
			bench_fail("expire=%s: expected future or past", expire);
		if (cancel == NULL || strcmp(cancel, "even") == 0)
			cancel_first = 0;
		else if (strcmp(cancel, "odd") == 0)
			cancel_first = 1;
		else
			bench_fail("cancel=%s: expected even or odd", cancel);
	}
	if (mode == MODE_IDLE && timer_count < 2)
		bench_fail("mode=idle needs timers >= 2");
	bench_args_done(&args);

	iv_init();

	timers = calloc(timer_count, sizeof(*timers));
	armed = calloc(timer_count, 1);
	fired = calloc(timer_count, 1);
	if (timers == NULL || armed == NULL || fired == NULL)
		bench_fail("out of memory");
	for (i = 0; i < timer_count; i++) {
		IV_TIMER_INIT(&timers[i]);
		timers[i].cookie = (void *)(intptr_t)i;
		timers[i].handler =
			mode == MODE_CHURN ? on_churn_timer : on_idle_timer;
	}

	bench_stopwatch_start(&sw);
	bench_measured_phase();
	bench_stopwatch_stop(&sw);

	for (i = 0; i < timer_count; i++) {
		if (armed[i] || iv_timer_registered(&timers[i]))
			bench_fail("timer %ld still registered after iv_main",
				   i);
	}
	if (mode == MODE_CHURN) {
		long kept = cancel_first ? (timer_count + 1) / 2 :
					   timer_count / 2;
		int len;

		for (i = 0; i < timer_count; i++) {
			unsigned char want = i % 2 == cancel_first ?
						0 : (unsigned char)repeat_count;

			if (fired[i] != want)
				bench_fail("timer %ld fired %d times (mod 256), "
					   "expected %d", i, fired[i], want);
		}
		if (op_fires != (uint64_t)kept * (uint64_t)repeat_count)
			bench_fail("%llu timers fired, expected %llu",
				   (unsigned long long)op_fires,
				   (unsigned long long)kept *
					   (unsigned long long)repeat_count);
		len = snprintf(params, sizeof(params),
			       "mode=churn timers=%ld spread_ms=%lld",
			       timer_count, (long long)(spread_ns / 1000000));
		/* Only the non-default ones, so the usual line is unchanged. */
		if (repeat_count != 1)
			len += snprintf(params + len, sizeof(params) - len,
					" repeat=%ld", repeat_count);
		if (expire_past)
			len += snprintf(params + len, sizeof(params) - len,
					" expire=past");
		if (cancel_first)
			snprintf(params + len, sizeof(params) - len,
				 " cancel=odd");
	} else {
		if (op_fires != fires_wanted)
			bench_fail("%llu timers fired, expected %lu",
				   (unsigned long long)op_fires, fires_wanted);
		snprintf(params, sizeof(params),
			 "mode=idle timers=%ld fires=%lu rearm=%ld spread_ms=%lld",
			 timer_count, fires_wanted, rearm_per_fire,
			 (long long)(spread_ns / 1000000));
	}

	snprintf(observed, sizeof(observed), "fire_passes=%llu",
		 (unsigned long long)fire_passes);
	bench_report(params, op_registers + op_unregisters + op_fires, &sw,
		     observed);

	free(fired);
	free(armed);
	free(timers);
	iv_deinit();
	return 0;
}
