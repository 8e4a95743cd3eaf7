/*
 * SPEC 4: timers -- never early, fired in expiry order, past-due timers
 * fire on a following iteration and never synchronously, timers registered
 * from timer callbacks wait for the next iteration, unregistering a due
 * timer prevents its call, re-registration from the handler, the
 * registered flag, cookie/handler changes, and large numbers of timers.
 */
#include "harness.h"

#include <limits.h>
#include <pthread.h>

/* Expiry relative to the library's (fresh) idea of now. */
static struct timespec expiry_in_ms(long long ms)
{
	iv_invalidate_now();
	return h_ts_add_ms(iv_now, ms);
}

/* ------------------------------------------------------------------ */

static struct timespec fired_clock, fired_ivnow;
static int fired_registered;
static int fired_calls;

static void record_fire(void *cookie)
{
	struct iv_timer *t = cookie;

	fired_clock = h_mono();
	fired_ivnow = iv_now;
	fired_registered = iv_timer_registered(t);
	fired_calls++;
}

/* A 50 ms timer does not fire before 50 ms and fires within 5 s. */
static void fires_not_early_not_late(void)
{
	struct iv_timer t;
	struct timespec start;

	iv_init();
	IV_TIMER_INIT(&t);
	CHECK(!iv_timer_registered(&t));
	start = h_mono();
	t.expires = h_ts_add_ms(start, 50);
	t.cookie = &t;
	t.handler = record_fire;
	iv_timer_register(&t);
	CHECK(iv_timer_registered(&t));
	iv_main();
	CHECK_EQ_LONG(fired_calls, 1);
	CHECKF(h_ts_cmp(&fired_clock, &t.expires) >= 0,
	       "fired %.3f ms early by CLOCK_MONOTONIC",
	       h_ts_diff_ms(&fired_clock, &t.expires));
	CHECKF(h_ts_cmp(&fired_ivnow, &t.expires) >= 0,
	       "iv_now in the handler (%.3f ms after start) is before expires",
	       h_ts_diff_ms(&start, &fired_ivnow));
	CHECKF(h_ts_diff_ms(&t.expires, &fired_clock) < 5000.0,
	       "fired %.3f ms late", h_ts_diff_ms(&t.expires, &fired_clock));
	CHECKF(!fired_registered,
	       "iv_timer_registered() true inside its own handler");
	CHECK(!iv_timer_registered(&t));
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/*
 * Timers registered in a random order fire in order of expires: 40 future
 * ones 2 ms apart and 20 already past-due ones (all due in the first
 * iteration, so their order is decided inside one run).
 */
#define NORD 60

struct ord_timer {
	struct iv_timer t;
	int rank;
};

static struct ord_timer ord[NORD];
static int ord_log[NORD];
static int ord_n;

static void ord_handler(void *cookie)
{
	struct ord_timer *o = cookie;
	struct timespec now = h_mono();

	CHECKF(h_ts_cmp(&now, &o->t.expires) >= 0, "timer %d fired early",
	       o->rank);
	ord_log[ord_n++] = o->rank;
}

static void fire_in_expiry_order(void)
{
	int perm[NORD];
	int i;
	struct timespec base;

	iv_init();
	base = expiry_in_ms(0);
	for (i = 0; i < NORD; i++) {
		IV_TIMER_INIT(&ord[i].t);
		ord[i].rank = i;
		/* ranks 0..19: 200..10 ms in the past; 20..59: future */
		if (i < 20)
			ord[i].t.expires = h_ts_add_ms(base, -200 + 10 * i);
		else
			ord[i].t.expires = h_ts_add_ms(base, 2 * (i - 19));
		ord[i].t.cookie = &ord[i];
		ord[i].t.handler = ord_handler;
		perm[i] = i;
	}
	h_srand(777);
	for (i = NORD - 1; i > 0; i--) {
		int j = (int)h_rand_below((unsigned long)i + 1);
		int tmp = perm[i];

		perm[i] = perm[j];
		perm[j] = tmp;
	}
	for (i = 0; i < NORD; i++)
		iv_timer_register(&ord[perm[i]].t);

	iv_main();
	CHECK_EQ_LONG(ord_n, NORD);
	for (i = 0; i < NORD; i++)
		CHECKF(ord_log[i] == i, "call #%d was timer %d (want %d)", i,
		       ord_log[i], i);
	iv_deinit();
}

/* Timers with the same expiry all fire (order among them unspecified). */
static int same_calls;

static void same_handler(void *cookie)
{
	(void)cookie;
	same_calls++;
}

static void equal_expiries_all_fire(void)
{
	struct iv_timer t[10];
	struct timespec when;
	int i;

	iv_init();
	when = expiry_in_ms(10);
	for (i = 0; i < 10; i++) {
		IV_TIMER_INIT(&t[i]);
		t[i].expires = when;
		t[i].handler = same_handler;
		iv_timer_register(&t[i]);
	}
	iv_main();
	CHECK_EQ_LONG(same_calls, 10);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/*
 * A past-due timer never fires inside iv_timer_register, and fires on a
 * following iteration without the loop sleeping first (a 30 s keep-alive
 * timer would otherwise bound the sleep).
 */
static struct iv_timer keepalive;
static int keepalive_used;
static int past_calls;
static struct timespec past_fired;

static void past_handler(void *cookie)
{
	(void)cookie;
	past_calls++;
	past_fired = h_mono();
	if (keepalive_used && iv_timer_registered(&keepalive))
		iv_timer_unregister(&keepalive);
}

static void keepalive_handler(void *cookie)
{
	(void)cookie;
	FAIL("the loop slept until the keep-alive timer: the past-due timer "
	     "did not fire");
}

static void past_due_fires_next_iteration(void)
{
	struct iv_timer t;
	struct timespec start;

	iv_init();
	IV_TIMER_INIT(&keepalive);
	keepalive.expires = expiry_in_ms(30000);
	keepalive.handler = keepalive_handler;
	iv_timer_register(&keepalive);
	keepalive_used = 1;

	IV_TIMER_INIT(&t);
	t.expires = expiry_in_ms(-1000);
	t.handler = past_handler;
	iv_timer_register(&t);
	CHECKF(past_calls == 0, "past-due timer fired inside "
				"iv_timer_register");
	start = h_mono();
	iv_main();
	CHECK_EQ_LONG(past_calls, 1);
	CHECKF(h_ts_diff_ms(&start, &past_fired) < 5000.0,
	       "past-due timer fired only after %.0f ms",
	       h_ts_diff_ms(&start, &past_fired));
	iv_deinit();
}

/* The same when registered from a task and from an fd callback. */
static struct iv_timer sync_timer;
static int sync_registered_from;

static void sync_register(void)
{
	int before = past_calls;

	IV_TIMER_INIT(&sync_timer);
	sync_timer.expires = expiry_in_ms(-10);
	sync_timer.handler = past_handler;
	iv_timer_register(&sync_timer);
	CHECKF(past_calls == before,
	       "past-due timer fired synchronously inside iv_timer_register "
	       "(called from a %s)",
	       sync_registered_from == 1 ? "task" : "fd callback");
}

static void sync_task_handler(void *cookie)
{
	(void)cookie;
	sync_registered_from = 1;
	sync_register();
}

static void sync_fd_handler(void *cookie)
{
	struct iv_fd *fd = cookie;

	iv_fd_unregister(fd);
	sync_registered_from = 2;
	sync_register();
}

static void past_due_from_callbacks_not_synchronous(void)
{
	struct iv_task task;
	struct iv_fd fd;
	int p[2];

	iv_init();
	IV_TASK_INIT(&task);
	task.handler = sync_task_handler;
	iv_task_register(&task);
	iv_main();
	CHECK_EQ_LONG(past_calls, 1);

	h_pipe(p);
	h_write_byte(p[1]);
	IV_FD_INIT(&fd);
	fd.fd = p[0];
	fd.cookie = &fd;
	fd.handler_in = sync_fd_handler;
	iv_fd_register(&fd);
	iv_main();
	CHECK_EQ_LONG(past_calls, 2);
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/*
 * A timer registered from a timer callback, even if already due, waits for
 * the next iteration: the self-re-registering ticker task (one run per
 * iteration) must run in between.
 */
static struct iv_timer chain1, chain2;
static unsigned long chain1_tick, chain2_tick;
static int chain2_calls;

static void chain2_handler(void *cookie)
{
	(void)cookie;
	chain2_tick = h_ticks;
	chain2_calls++;
	h_finish();
}

static void chain1_handler(void *cookie)
{
	(void)cookie;
	chain1_tick = h_ticks;
	IV_TIMER_INIT(&chain2);
	chain2.expires = chain1.expires;	/* already due */
	chain2.handler = chain2_handler;
	iv_timer_register(&chain2);
}

static void timer_from_timer_waits_next_iteration(void)
{
	iv_init();
	IV_TIMER_INIT(&chain1);
	chain1.expires = expiry_in_ms(-5);
	chain1.handler = chain1_handler;
	iv_timer_register(&chain1);
	h_ticker_start();
	h_deadline_start(5000, "timer registered from a timer callback");
	iv_main();
	CHECK_EQ_LONG(chain2_calls, 1);
	CHECKF(chain2_tick > chain1_tick,
	       "timer registered (already due) from a timer callback at "
	       "iteration %lu ran in the same iteration (%lu)",
	       chain1_tick, chain2_tick);
	iv_deinit();
}

/*
 * A due timer registered from a timer callback must not hold back the other
 * timers that were already due: T1 (base) registers T2 (base + 1 ms, due)
 * while T3 (base + 2 ms) is due too.  T3 still fires in this iteration's
 * timer run (SPEC 1 step 1: every due timer), T2 in the next: the order is
 * T1 T3 T2, with T1 and T3 in one iteration.
 */
static struct iv_timer hb1, hb2, hb3;
static char hb_log[8];
static int hb_n;
static unsigned long hb_tick[3];

static void hb_note(int which)
{
	hb_tick[which - 1] = h_ticks;
	hb_log[hb_n++] = (char)('0' + which);
	if (hb_n == 3)
		h_finish();
}

static void hb2_handler(void *cookie)
{
	(void)cookie;
	hb_note(2);
}

static void hb3_handler(void *cookie)
{
	(void)cookie;
	hb_note(3);
}

static void hb1_handler(void *cookie)
{
	(void)cookie;
	hb_note(1);
	IV_TIMER_INIT(&hb2);
	hb2.expires = h_ts_add_ms(hb1.expires, 1);
	hb2.handler = hb2_handler;
	iv_timer_register(&hb2);
}

static void new_due_timer_does_not_hold_back_old_ones(void)
{
	struct timespec base;

	iv_init();
	base = expiry_in_ms(-50);
	IV_TIMER_INIT(&hb1);
	hb1.expires = base;
	hb1.handler = hb1_handler;
	IV_TIMER_INIT(&hb3);
	hb3.expires = h_ts_add_ms(base, 2);
	hb3.handler = hb3_handler;
	iv_timer_register(&hb3);
	iv_timer_register(&hb1);
	h_ticker_start();
	h_deadline_start(5000, "three timers");
	iv_main();
	CHECKF(hb_tick[0] == hb_tick[2],
	       "T3 was due with T1 but fired an iteration later (%lu vs %lu): "
	       "held back by the newly registered T2",
	       hb_tick[0], hb_tick[2]);
	CHECK(hb_tick[1] > hb_tick[0]);
	CHECK_STREQ(hb_log, "132");
	iv_deinit();
}

/*
 * The same observed without the ticker: an fd that is ready the whole time
 * gets a callback between the two timers.
 */
static struct iv_fd obs_fd;
static char obs_log[16];
static int obs_n;

static void obs_note(char c)
{
	if (obs_n < (int)sizeof(obs_log) - 1)
		obs_log[obs_n++] = c;
}

static void obs2_handler(void *cookie)
{
	(void)cookie;
	obs_note('2');
	iv_fd_unregister(&obs_fd);
}

static void obs1_handler(void *cookie)
{
	(void)cookie;
	obs_note('1');
	IV_TIMER_INIT(&chain2);
	chain2.expires = chain1.expires;
	chain2.handler = obs2_handler;
	iv_timer_register(&chain2);
}

static void obs_fd_in(void *cookie)
{
	(void)cookie;
	obs_note('F');
}

static void timer_from_timer_fd_in_between(void)
{
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	IV_FD_INIT(&obs_fd);
	obs_fd.fd = p[0];
	obs_fd.handler_in = obs_fd_in;

	IV_TIMER_INIT(&chain1);
	chain1.expires = expiry_in_ms(-5);
	chain1.handler = obs1_handler;
	iv_timer_register(&chain1);
	iv_fd_register(&obs_fd);
	iv_main();
	CHECKF(obs_n >= 3 && obs_log[0] == '1' && strchr(obs_log, '2') &&
		       strchr(obs_log, 'F') < strchr(obs_log, '2'),
	       "call order \"%s\": want timer 1, fd, then timer 2", obs_log);
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/*
 * Unregistering a due timer from an earlier timer's callback prevents its
 * call; its memory is freed right away (h_obj_free).
 */
static struct iv_timer *victim;
static int victim_calls;

static void victim_handler(void *cookie)
{
	(void)cookie;
	victim_calls++;
}

static void killer_handler(void *cookie)
{
	(void)cookie;
	CHECK(iv_timer_registered(victim));
	iv_timer_unregister(victim);
	CHECK(!iv_timer_registered(victim));
	h_obj_free(victim, sizeof(*victim));
	victim = NULL;
}

static void unregister_due_timer_from_earlier(void)
{
	struct iv_timer killer;
	struct timespec base;
	int i;

	iv_init();
	base = expiry_in_ms(-50);
	IV_TIMER_INIT(&killer);
	killer.expires = base;
	killer.handler = killer_handler;

	victim = h_obj_alloc(sizeof(*victim));
	IV_TIMER_INIT(victim);
	victim->expires = h_ts_add_ns(base, 1);
	victim->handler = victim_handler;

	/* Register the victim first so registration order does not help. */
	iv_timer_register(victim);
	iv_timer_register(&killer);
	iv_main();
	CHECK_EQ_LONG(victim_calls, 0);

	/* Once more with a bunch of other due timers around. */
	{
		struct iv_timer others[8];

		base = expiry_in_ms(-50);
		victim = h_obj_alloc(sizeof(*victim));
		IV_TIMER_INIT(victim);
		victim->expires = h_ts_add_ms(base, 5);
		victim->handler = victim_handler;
		killer.expires = h_ts_add_ms(base, 4);
		for (i = 0; i < 8; i++) {
			IV_TIMER_INIT(&others[i]);
			others[i].expires = h_ts_add_ms(base, i);
			others[i].handler = same_handler;
		}
		iv_timer_register(victim);
		for (i = 0; i < 8; i++)
			iv_timer_register(&others[i]);
		iv_timer_register(&killer);
		same_calls = 0;
		iv_main();
		CHECK_EQ_LONG(victim_calls, 0);
		CHECK_EQ_LONG(same_calls, 8);
	}
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/* The handler may register its own timer again (it is unregistered first). */
static struct iv_timer self_timer;
static int self_calls;
static struct timespec self_times[5];

static void self_handler(void *cookie)
{
	(void)cookie;
	CHECKF(!iv_timer_registered(&self_timer),
	       "iv_timer_registered() true inside its own handler");
	self_times[self_calls] = h_mono();
	CHECK(h_ts_cmp(&self_times[self_calls], &self_timer.expires) >= 0);
	self_calls++;
	if (self_calls < 5) {
		self_timer.expires = h_ts_add_ms(self_timer.expires, 5);
		iv_timer_register(&self_timer);
		CHECK(iv_timer_registered(&self_timer));
	}
}

static void reregister_own_timer(void)
{
	iv_init();
	IV_TIMER_INIT(&self_timer);
	self_timer.expires = expiry_in_ms(5);
	self_timer.handler = self_handler;
	iv_timer_register(&self_timer);
	iv_main();
	CHECK_EQ_LONG(self_calls, 5);
	iv_deinit();
}

/* A timer may free itself in its own handler; 64 of them, all due at once,
 * each freeing itself while the others are still queued. */
static int self_free_calls;

static void self_free_handler(void *cookie)
{
	struct iv_timer *t = cookie;

	self_free_calls++;
	h_obj_free(t, sizeof(*t));
}

static void timer_frees_itself(void)
{
	struct timespec base;
	int i;

	iv_init();
	base = expiry_in_ms(-20);
	for (i = 0; i < 64; i++) {
		struct iv_timer *t = h_obj_alloc(sizeof(*t));

		IV_TIMER_INIT(t);
		t->expires = h_ts_add_ns(base, (long long)(i % 7) * 1000);
		t->cookie = t;
		t->handler = self_free_handler;
		iv_timer_register(t);
	}
	iv_main();
	CHECK_EQ_LONG(self_free_calls, 64);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/* ->cookie and ->handler may change while registered; the new ones are
 * used. */
static int h1_calls, h2_calls;
static void *h2_cookie;

static void h1(void *cookie)
{
	(void)cookie;
	h1_calls++;
}

static void h2(void *cookie)
{
	h2_calls++;
	h2_cookie = cookie;
}

static struct iv_timer change_target;
static int change_marker;

static void change_from_task(void *cookie)
{
	(void)cookie;
	change_target.handler = h2;
	change_target.cookie = &change_marker;
}

static void cookie_and_handler_changes(void)
{
	struct iv_timer t;
	struct iv_task task;
	int c1, c2;

	iv_init();
	/* Changed right after registration. */
	IV_TIMER_INIT(&t);
	t.expires = expiry_in_ms(10);
	t.cookie = &c1;
	t.handler = h1;
	iv_timer_register(&t);
	t.cookie = &c2;
	t.handler = h2;
	iv_main();
	CHECK_EQ_LONG(h1_calls, 0);
	CHECK_EQ_LONG(h2_calls, 1);
	CHECK(h2_cookie == &c2);

	/* Changed from another callback while the loop runs. */
	IV_TIMER_INIT(&change_target);
	change_target.expires = expiry_in_ms(30);
	change_target.cookie = &c1;
	change_target.handler = h1;
	iv_timer_register(&change_target);
	IV_TASK_INIT(&task);
	task.handler = change_from_task;
	iv_task_register(&task);
	iv_main();
	CHECK_EQ_LONG(h1_calls, 0);
	CHECK_EQ_LONG(h2_calls, 2);
	CHECK(h2_cookie == &change_marker);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/* Unregistering a registered (future) timer prevents it; the loop then has
 * nothing left and returns at once. */
static void unregister_future_timer(void)
{
	struct iv_timer t;
	struct timespec start, end;

	iv_init();
	IV_TIMER_INIT(&t);
	t.expires = expiry_in_ms(10000);
	t.handler = h1;
	iv_timer_register(&t);
	iv_timer_unregister(&t);
	CHECK(!iv_timer_registered(&t));
	start = h_mono();
	iv_main();
	end = h_mono();
	CHECK_EQ_LONG(h1_calls, 0);
	CHECKF(h_ts_diff_ms(&start, &end) < 5000.0,
	       "iv_main waited for an unregistered timer");

	/* Re-registering the same struct works. */
	t.expires = expiry_in_ms(5);
	iv_timer_register(&t);
	iv_main();
	CHECK_EQ_LONG(h1_calls, 1);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/*
 * A timer far in the future (30 years, and the largest tv_sec) is the
 * soonest one: the loop must sleep (or at least not crash or fire it) until
 * a pipe becomes readable from another thread 50 ms later.
 */
static struct iv_fd far_fd;
static int far_fd_calls;

static void far_fd_in(void *cookie)
{
	struct iv_timer *t = cookie;

	far_fd_calls++;
	h_drain(far_fd.fd);
	iv_fd_unregister(&far_fd);
	iv_timer_unregister(t);
}

static void *far_writer(void *arg)
{
	usleep(50000);
	h_write_byte(*(int *)arg);
	return NULL;
}

static void far_future_timer(void)
{
	static const time_t secs[] = { 0, LONG_MAX };
	struct iv_timer t;
	int i;

	iv_init();
	for (i = 0; i < 2; i++) {
		pthread_t th;
		int p[2];

		h_pipe(p);
		IV_TIMER_INIT(&t);
		if (secs[i] == 0)
			t.expires = expiry_in_ms(30LL * 365 * 86400 * 1000);
		else {
			t.expires.tv_sec = secs[i];
			t.expires.tv_nsec = 999999999;
		}
		t.handler = h1;
		iv_timer_register(&t);
		IV_FD_INIT(&far_fd);
		far_fd.fd = p[0];
		far_fd.cookie = &t;
		far_fd.handler_in = far_fd_in;
		iv_fd_register(&far_fd);
		CHECK(pthread_create(&th, NULL, far_writer, &p[1]) == 0);
		iv_main();
		CHECK(pthread_join(th, NULL) == 0);
		CHECK_EQ_LONG(far_fd_calls, i + 1);
		CHECKF(h1_calls == 0, "a timer %s in the future fired",
		       i ? "LONG_MAX seconds" : "30 years");
		close(p[0]);
		close(p[1]);
	}
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/*
 * 100000 timers with random expiries within 300 ms; half unregistered
 * before the loop runs, 10000 more unregistered from the first callback.
 * The rest fire exactly once, never early, in expiry order.
 */
#define NMANY 100000

struct many_timer {
	struct iv_timer t;
	int index;
	int calls;
	int cancelled;
};

static struct many_timer *mt;
static int mt_fired;
static int mt_first_done;
static struct timespec mt_last;

static void many_handler(void *cookie)
{
	struct many_timer *m = cookie;
	int i;

	CHECKF(!m->cancelled, "unregistered timer %d fired", m->index);
	m->calls++;
	mt_fired++;
	CHECKF(h_ts_cmp(&mt_last, &m->t.expires) <= 0,
	       "timer %d fired out of expiry order", m->index);
	mt_last = m->t.expires;

	if (!mt_first_done) {
		int cancelled = 0;

		mt_first_done = 1;
		for (i = 0; i < NMANY && cancelled < 10000; i++) {
			int j = (int)h_rand_below(NMANY);

			if (iv_timer_registered(&mt[j].t)) {
				iv_timer_unregister(&mt[j].t);
				mt[j].cancelled = 1;
				cancelled++;
			}
		}
	}
}

static void hundred_thousand_timers(void)
{
	struct timespec base;
	int i;
	int expected;

	iv_init();
	mt = calloc(NMANY, sizeof(*mt));
	CHECK(mt != NULL);
	h_srand(4242);
	base = expiry_in_ms(20);
	for (i = 0; i < NMANY; i++) {
		IV_TIMER_INIT(&mt[i].t);
		mt[i].index = i;
		mt[i].t.expires = h_ts_add_ns(base,
					      (long long)h_rand_below(300000000));
		mt[i].t.cookie = &mt[i];
		mt[i].t.handler = many_handler;
		iv_timer_register(&mt[i].t);
	}
	for (i = 0; i < NMANY; i++) {
		if (h_rand() & 1) {
			iv_timer_unregister(&mt[i].t);
			mt[i].cancelled = 1;
			CHECK(!iv_timer_registered(&mt[i].t));
		}
	}
	iv_main();

	expected = 0;
	for (i = 0; i < NMANY; i++) {
		if (mt[i].cancelled) {
			CHECKF(mt[i].calls == 0, "cancelled timer %d fired", i);
		} else {
			CHECKF(mt[i].calls == 1, "timer %d fired %d times", i,
			       mt[i].calls);
			expected++;
		}
		CHECK(!iv_timer_registered(&mt[i].t));
	}
	CHECK_EQ_LONG(mt_fired, expected);
	CHECKF(expected > NMANY / 2 - 15000, "too few timers left (%d)",
	       expected);
	free(mt);
	iv_deinit();
}

int main(void)
{
	RUN(fires_not_early_not_late);
	RUN(fire_in_expiry_order);
	RUN(equal_expiries_all_fire);
	RUN(past_due_fires_next_iteration);
	RUN(past_due_from_callbacks_not_synchronous);
	RUN(timer_from_timer_waits_next_iteration);
	RUN(timer_from_timer_fd_in_between);
	RUN(new_due_timer_does_not_hold_back_old_ones);
	RUN_BOTH(unregister_due_timer_from_earlier);
	RUN(reregister_own_timer);
	RUN_BOTH(timer_frees_itself);
	RUN(cookie_and_handler_changes);
	RUN(unregister_future_timer);
	RUN(far_future_timer);
	RUN(hundred_thousand_timers);
	return h_done("test_timer");
}
