/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * event_posts: many threads posting one iv_event as fast as they can.
 *
 * The main thread registers one iv_event and runs its loop. `posters`
 * plain threads (no loop of their own) each post it `posts` times in a
 * tight loop. Before each post a poster publishes how many posts it has
 * made; the handler sums these counters and ends the loop once it has seen
 * every post. Posts coalesce (several posts before the handler runs give
 * one call), so the handler runs at most once per post and usually far less.
 *
 *   event_posts posters=4 posts=1000000
 *
 * ops = posts (posters * posts). The run fails (exit 1) unless the handler
 * saw the sum grow monotonically, ran at most once per post, and finally
 * saw all of them: a post whose wake-up is lost leaves the sum short and
 * the loop waiting, and the watchdog ends the run. The BENCH line reports
 * calls (handler calls: how much the posts coalesced) and wall_ns_per_op.
 */

#include "common.h"
#include "threads.h"

#include <iv_event.h>

#define MAX_POSTERS 64

/* One counter per cache line, so that posters do not share lines. */
struct poster {
	unsigned long posted;		/* written by the poster, read by the handler */
	pthread_t thread;
	char pad[64 - sizeof(unsigned long) - sizeof(pthread_t)];
} __attribute__((aligned(64)));

static struct poster posters[MAX_POSTERS];
static long poster_count;
static unsigned long posts_each;
static unsigned long posts_total;

static struct iv_event ev;
static unsigned long calls;
static unsigned long last_seen;	/* the sum the previous call saw */
static unsigned long went_back;	/* calls that saw a smaller sum */
static pthread_barrier_t start_line;

static void on_event(void *cookie)
{
	unsigned long sum = 0;
	long i;

	(void)cookie;
	calls++;
	for (i = 0; i < poster_count; i++)
		sum += __atomic_load_n(&posters[i].posted, __ATOMIC_ACQUIRE);
	if (sum < last_seen)
		went_back++;
	last_seen = sum;
	if (sum == posts_total)
		iv_quit();
}

static void *poster_thread(void *arg)
{
	struct poster *me = arg;
	unsigned long i;

	pthread_barrier_wait(&start_line);
	for (i = 1; i <= posts_each; i++) {
		__atomic_store_n(&me->posted, i, __ATOMIC_RELEASE);
		iv_event_post(&ev);
	}
	return NULL;
}

static BENCH_MEASURED void bench_measured_phase(void)
{
	pthread_barrier_wait(&start_line);
	iv_main();
}

int main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	struct bench_stopwatch sw;
	char params[64];
	char observed[96];
	char calls_text[32];
	long i;

	bench_name = "event_posts";
	poster_count = bench_arg_long(&args, "posters", 1, 1, MAX_POSTERS);
	posts_each = bench_arg_long(&args, "posts", 1000000, 1, 1L << 40);
	bench_args_done(&args);
	posts_total = posts_each * (unsigned long)poster_count;
	bench_watchdog(600);

	iv_init();
	IV_EVENT_INIT(&ev);
	ev.handler = on_event;
	if (iv_event_register(&ev) != 0)
		bench_fail("iv_event_register: %s", strerror(errno));
	if (pthread_barrier_init(&start_line, NULL, poster_count + 1) != 0)
		bench_fail("pthread_barrier_init failed");
	for (i = 0; i < poster_count; i++)
		posters[i].thread = bench_thread_start(poster_thread, &posters[i]);

	bench_stopwatch_start(&sw);
	bench_measured_phase();
	bench_stopwatch_stop(&sw);

	/* The last posts may still be returning from iv_event_post. */
	for (i = 0; i < poster_count; i++)
		bench_thread_join(posters[i].thread);

	if (last_seen != posts_total)
		bench_fail("the handler saw %lu of %lu posts", last_seen,
			   posts_total);
	if (went_back != 0)
		bench_fail("%lu handler calls saw fewer posts than the call "
			   "before", went_back);
	if (calls < 1 || calls > posts_total)
		bench_fail("%lu handler calls for %lu posts", calls,
			   posts_total);

	snprintf(params, sizeof(params), "posters=%ld posts=%lu", poster_count,
		 posts_each);
	snprintf(calls_text, sizeof(calls_text), "calls=%lu", calls);
	bench_wall_observation(observed, sizeof(observed), &sw, posts_total,
			       calls_text);
	bench_report(params, posts_total, &sw, observed);

	iv_event_unregister(&ev);
	pthread_barrier_destroy(&start_line);
	iv_deinit();
	return 0;
}
