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
static unsigned char *fired;		/* churn mode: times each timer fired */
static long timer_count;
static int64_t spread_ns;
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

static BENCH_MEASURED void bench_measured_phase(void)
{
	struct timespec now = iv_now;
	long i;

	for (i = 0; i < timer_count; i++)
		arm(i, &now);
	if (mode == MODE_CHURN) {
		for (i = 0; i < timer_count; i += 2)
			disarm(i);
	}
	iv_main();
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
				     mode == MODE_CHURN ? 1000000 : 100000, 2,
				     100000000);
	spread_ns = bench_arg_long(&args, "spread_ms", 100, 1, 100000) *
		    1000000LL;
	if (mode == MODE_IDLE) {
		fires_wanted = bench_arg_long(&args, "fires", 200000, 1,
					      1L << 40);
		rearm_per_fire = bench_arg_long(&args, "rearm", 10, 0, 1000);
	}
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
		for (i = 0; i < timer_count; i++) {
			int want = i % 2 == 0 ? 0 : 1;

			if (fired[i] != want)
				bench_fail("timer %ld fired %d times, expected %d",
					   i, fired[i], want);
		}
		snprintf(params, sizeof(params),
			 "mode=churn timers=%ld spread_ms=%lld", timer_count,
			 (long long)(spread_ns / 1000000));
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
