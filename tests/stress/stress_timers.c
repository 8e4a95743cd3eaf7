/*
 * One million timers in one loop.
 *
 * All of them are registered up front with expiries spread at random over
 * one second (many share the same nanosecond, many the same loop
 * iteration).  While they fire, handlers churn the queue: one in sixteen
 * unregisters another timer at random (a due one included: it must then
 * not be called), and one in sixteen re-registers one cancelled or fired
 * with an expiry a little later.
 *
 * Checked for every call: the timer was registered (not fired already, not
 * cancelled), its expiry has come (iv_now >= expires), and calls come in
 * non-decreasing order of expiry (every registration is for a time after
 * the current one, so this holds over the whole run).  At the end every
 * registration was either called once or cancelled, and iv_main returned
 * only once nothing was registered.
 *
 * Long mode: four million timers, five rounds.
 */
#include "stress.h"

#define SHORT_TIMERS 1000000L
#define WINDOW_NS 1000000000LL

enum { IDLE, PENDING, FIRED, CANCELLED };

static struct iv_timer *timers;
static unsigned char *state;
static long ntimers;
static long registrations, calls, cancels, rearms, early, disorder;
static struct timespec last_expiry;

static void on_timer(void *cookie);

static void arm(long i, struct timespec expires)
{
	timers[i].expires = expires;
	iv_timer_register(&timers[i]);
	state[i] = PENDING;
	registrations++;
}

static void on_timer(void *cookie)
{
	long i = (long)(intptr_t)cookie;
	const struct timespec *now = &iv_now;
	unsigned long r;

	calls++;
	if (state[i] != PENDING)
		s_bad_event("timer %ld called in state %d", i, state[i]);
	state[i] = FIRED;
	if (iv_timer_registered(&timers[i]))
		s_bad_event("timer %ld still registered in its handler", i);
	if (s_ts_cmp(now, &timers[i].expires) < 0 && early++ < 5)
		s_bad_event("timer %ld called before its expiry", i);
	if (s_ts_cmp(&timers[i].expires, &last_expiry) < 0 && disorder++ < 5)
		s_bad_event("timer %ld called out of expiry order", i);
	last_expiry = timers[i].expires;

	r = s_rand_below(16);
	if (r == 0) {
		/* Cancel another one, due or not. */
		long j = (long)s_rand_below((unsigned long)ntimers);

		if (state[j] == PENDING) {
			if (!iv_timer_registered(&timers[j]))
				s_bad_event("pending timer %ld not registered", j);
			iv_timer_unregister(&timers[j]);
			state[j] = CANCELLED;
			cancels++;
		}
	} else if (r == 1) {
		/* Bring back a cancelled or fired one, a little later. */
		long j = (long)s_rand_below((unsigned long)ntimers);

		if (state[j] == CANCELLED || state[j] == FIRED) {
			arm(j, s_ts_add_ns(*now, 1 + (long long)s_rand_below(50000000)));
			rearms++;
		}
	}
}

static void run_round(int round)
{
	struct timespec base;
	long i, pending = 0, fired = 0, cancelled = 0;

	registrations = calls = cancels = rearms = 0;
	last_expiry.tv_sec = 0;
	last_expiry.tv_nsec = 0;
	base = s_ts_add_ns(iv_now, 10000000);
	for (i = 0; i < ntimers; i++) {
		IV_TIMER_INIT(&timers[i]);
		timers[i].cookie = (void *)(intptr_t)i;
		timers[i].handler = on_timer;
		state[i] = IDLE;
		/* Coarse spread: about a quarter share their expiry with
		 * another timer. */
		arm(i, s_ts_add_ns(base, (long long)s_rand_below(WINDOW_NS / 4096) * 4096 +
						 (long long)(s_rand_below(4) == 0 ? 0 : s_rand_below(4096))));
	}

	/* Returns when no timer is registered any more. */
	iv_main();

	for (i = 0; i < ntimers; i++) {
		switch (state[i]) {
		case PENDING:
			pending++;
			break;
		case FIRED:
			fired++;
			break;
		case CANCELLED:
			cancelled++;
			break;
		default:
			s_bad_event("timer %ld never registered", i);
		}
		if (iv_timer_registered(&timers[i]))
			s_bad_event("timer %ld registered after iv_main returned", i);
	}
	s_lost_ops(pending, "round %d: timers registered and never called", round);
	if (calls + cancels != registrations)
		s_lost_ops(registrations - calls - cancels,
			   "round %d: %ld registrations, %ld calls, %ld cancels", round,
			   registrations, calls, cancels);
	if (fired + cancelled + pending != ntimers)
		s_bad_event("round %d: state counts do not add up", round);
	atomic_fetch_add(&s_ops, registrations + calls + cancels);
	fprintf(stderr, "# round %d: %ld timers, %ld registrations, %ld calls, %ld cancelled, %ld re-armed\n",
		round, ntimers, registrations, calls, cancels, rearms);
}

int main(int argc, char **argv)
{
	int rounds, r;

	s_setup("stress_timers", argc, argv, 120);
	ntimers = s_scale >= 4 ? 4 * SHORT_TIMERS : s_count(SHORT_TIMERS);
	rounds = s_scale >= 4 ? (int)(s_scale / 4) : 1;
	iv_set_fatal_msg_handler(s_fatal_handler);
	timers = calloc((size_t)ntimers, sizeof(*timers));
	state = calloc((size_t)ntimers, 1);
	if (timers == NULL || state == NULL)
		s_die("out of memory for %ld timers", ntimers);

	iv_init();
	atomic_store(&s_threads, 1);
	for (r = 0; r < rounds; r++)
		run_round(r);
	r = s_finish();
	iv_deinit();
	free(timers);
	free(state);
	return r;
}
