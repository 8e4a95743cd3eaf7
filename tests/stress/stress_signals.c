/*
 * A signal storm: tens of thousands of signals from several threads, and
 * no lost wake-up under the coalescing rule.
 *
 * Objects:
 *   main loop     two plain SIGUSR1 objects; one exclusive SIGUSR2 object
 *                 and a plain SIGUSR2 one behind it (never to be called)
 *   second loop   a plain SIGUSR1 object; a SIGWINCH object with
 *                 IV_SIGNAL_FLAG_THIS_THREAD
 *
 * Before every signal the sender increments that signal's "sent" counter;
 * every handler call stores the counter's value as it finds it.  Signals
 * coalesce, so there are fewer calls than signals, but SPEC 6 says a
 * signal that arrives while or before a handler is pending leads to a call
 * after it: so, once the senders stop, every object's last stored value
 * must reach the final count.  One that does not within the deadline lost
 * a wake-up.
 *
 * Phase 1, storm: 4 threads send 10000 signals each, mixing kill() to the
 * process, pthread_kill() to either loop thread and to themselves.
 * Phase 2, lock-step: one thread sends 2000 single signals and waits, for
 * each, until every object concerned has seen it (5 s at most).
 *
 * Long mode: 20 times as many of both.
 */
#include "stress.h"

#include <iv_event.h>
#include <iv_signal.h>

#define SENDERS 4
#define SHORT_STORM 10000
#define SHORT_STEPS 2000

enum { USR1, USR2, WINCH, NSIGS };

static const int signums[NSIGS] = { SIGUSR1, SIGUSR2, SIGWINCH };
static atomic_long sent[NSIGS];

struct watcher {
	const char *name;
	int sig;        /* index into signums */
	unsigned int flags;
	int must_not_run;
	struct iv_signal s;
	atomic_long last_seen;
	atomic_long calls;
	pthread_t thread;
};

static struct watcher w_main[] = {
	{ .name = "main USR1 a", .sig = USR1 },
	{ .name = "main USR1 b", .sig = USR1 },
	{ .name = "main USR2 exclusive", .sig = USR2, .flags = IV_SIGNAL_FLAG_EXCLUSIVE },
	{ .name = "main USR2 behind exclusive", .sig = USR2, .must_not_run = 1 },
};
static struct watcher w_second[] = {
	{ .name = "second USR1", .sig = USR1 },
	{ .name = "second WINCH this-thread", .sig = WINCH, .flags = IV_SIGNAL_FLAG_THIS_THREAD },
};
#define N_MAIN (sizeof(w_main) / sizeof(w_main[0]))
#define N_SECOND (sizeof(w_second) / sizeof(w_second[0]))

static pthread_t main_thread, second_thread;
static struct iv_event stop_main, stop_second;
static pthread_barrier_t second_ready;
static long storm_each, steps;

static void on_signal(void *cookie)
{
	struct watcher *w = cookie;

	atomic_store(&w->last_seen, atomic_load(&sent[w->sig]));
	atomic_fetch_add(&w->calls, 1);
	if (w->must_not_run)
		s_bad_event("%s: called, but an exclusive object comes first", w->name);
	if (!pthread_equal(pthread_self(), w->thread))
		s_bad_event("%s: called in another thread", w->name);
}

static void register_watchers(struct watcher *ws, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct watcher *w = &ws[i];

		IV_SIGNAL_INIT(&w->s);
		w->s.signum = signums[w->sig];
		w->s.flags = w->flags;
		w->s.cookie = w;
		w->s.handler = on_signal;
		w->thread = pthread_self();
		if (iv_signal_register(&w->s) != 0)
			s_die("iv_signal_register(%s) failed", w->name);
	}
}

static void unregister_watchers(struct watcher *ws, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		iv_signal_unregister(&ws[i].s);
}

static void stop_main_handler(void *cookie)
{
	(void)cookie;
	unregister_watchers(w_main, N_MAIN);
	iv_event_unregister(&stop_main);
}

static void stop_second_handler(void *cookie)
{
	(void)cookie;
	unregister_watchers(w_second, N_SECOND);
	iv_event_unregister(&stop_second);
}

static void *second_loop(void *arg)
{
	(void)arg;
	iv_init();
	register_watchers(w_second, N_SECOND);
	IV_EVENT_INIT(&stop_second);
	stop_second.handler = stop_second_handler;
	if (iv_event_register(&stop_second) != 0)
		s_die("iv_event_register failed");
	pthread_barrier_wait(&second_ready);
	iv_main();
	iv_deinit();
	return NULL;
}

/* Sends one signal of kind k by one of four routes. */
static void send_one(int k, unsigned long route)
{
	int rc = 0;

	atomic_fetch_add(&sent[k], 1);
	atomic_fetch_add(&s_signals, 1);
	if (k == WINCH) {
		/* Only the second loop's thread has a taker for it. */
		rc = pthread_kill(second_thread, SIGWINCH);
	} else {
		switch (route % 4) {
		case 0:
			if (kill(getpid(), signums[k]) < 0)
				rc = errno;
			break;
		case 1:
			rc = pthread_kill(main_thread, signums[k]);
			break;
		case 2:
			rc = pthread_kill(second_thread, signums[k]);
			break;
		default:
			rc = pthread_kill(pthread_self(), signums[k]);
			break;
		}
	}
	if (rc != 0)
		s_die("sending signal %d: %s", signums[k], strerror(rc));
}

static void *storm_sender(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
	long i;

	for (i = 0; i < storm_each; i++) {
		uint64_t r = s_rand_r(&rng);

		send_one((int)(r % NSIGS), (unsigned long)(r >> 8));
	}
	return NULL;
}

/* Did every object for signal k see count n? */
static int all_seen(int k, long n)
{
	size_t i;

	for (i = 0; i < N_MAIN; i++)
		if (w_main[i].sig == k && !w_main[i].must_not_run &&
		    atomic_load(&w_main[i].last_seen) < n)
			return 0;
	for (i = 0; i < N_SECOND; i++)
		if (w_second[i].sig == k && atomic_load(&w_second[i].last_seen) < n)
			return 0;
	return 1;
}

/* Waits until every object saw everything sent so far; returns how many
 * signals' worth of wake-ups are missing after the timeout. */
static long wait_all_seen(double timeout_secs)
{
	struct timespec start = s_mono();
	long missing;
	int k;

	for (;;) {
		int done = 1;

		for (k = 0; k < NSIGS; k++)
			if (!all_seen(k, atomic_load(&sent[k])))
				done = 0;
		if (done)
			return 0;
		if (s_secs_since(&start) > timeout_secs)
			break;
		usleep(20);
	}
	missing = 0;
	for (k = 0; k < NSIGS; k++)
		if (!all_seen(k, atomic_load(&sent[k])))
			missing++;
	return missing;
}

static void *lockstep_sender(void *arg)
{
	uint64_t rng = 12345;
	long i, missing;

	(void)arg;
	/* Phase 1: the storm, from SENDERS threads at once. */
	{
		pthread_t t[SENDERS];
		int j;

		for (j = 0; j < SENDERS; j++)
			if (pthread_create(&t[j], NULL, storm_sender, (void *)(uintptr_t)(j + 1)))
				s_die("pthread_create failed");
		for (j = 0; j < SENDERS; j++)
			pthread_join(t[j], NULL);
	}
	missing = wait_all_seen(10.0);
	if (missing)
		s_lost_ops(missing, "after the storm, signal kinds whose last signal no handler saw");

	/* Phase 2: one at a time, each one waited for. */
	for (i = 0; i < steps; i++) {
		uint64_t r = s_rand_r(&rng);

		send_one((int)(r % NSIGS), (unsigned long)(r >> 8));
		missing = wait_all_seen(5.0);
		if (missing) {
			s_lost_ops(missing, "lock-step signal %ld: not seen after 5 s", i);
			break;
		}
	}

	iv_event_post(&stop_main);
	iv_event_post(&stop_second);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t sender;
	long calls = 0, total = 0;
	size_t i;
	int k, rc;

	s_setup("stress_signals", argc, argv, 120);
	storm_each = s_count(SHORT_STORM);
	steps = s_count(SHORT_STEPS);
	iv_set_fatal_msg_handler(s_fatal_handler);
	main_thread = pthread_self();
	pthread_barrier_init(&second_ready, NULL, 2);

	iv_init();
	register_watchers(w_main, N_MAIN);
	IV_EVENT_INIT(&stop_main);
	stop_main.handler = stop_main_handler;
	if (iv_event_register(&stop_main) != 0)
		s_die("iv_event_register failed");
	if (pthread_create(&second_thread, NULL, second_loop, NULL))
		s_die("pthread_create failed");
	pthread_barrier_wait(&second_ready);
	if (pthread_create(&sender, NULL, lockstep_sender, NULL))
		s_die("pthread_create failed");
	atomic_store(&s_threads, 2 + 1 + SENDERS);

	iv_main();
	pthread_join(sender, NULL);
	pthread_join(second_thread, NULL);

	for (i = 0; i < N_MAIN; i++)
		calls += atomic_load(&w_main[i].calls);
	for (i = 0; i < N_SECOND; i++)
		calls += atomic_load(&w_second[i].calls);
	for (k = 0; k < NSIGS; k++)
		total += atomic_load(&sent[k]);
	atomic_store(&s_ops, total);
	fprintf(stderr, "# %ld signals (USR1 %ld, USR2 %ld, WINCH %ld), %ld handler calls\n",
		total, atomic_load(&sent[USR1]), atomic_load(&sent[USR2]),
		atomic_load(&sent[WINCH]), calls);
	rc = s_finish();
	iv_deinit();
	return rc;
}
