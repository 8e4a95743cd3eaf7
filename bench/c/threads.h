/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * threads.h: helpers for the benchmarks that use more than one thread
 * (event_pingpong, event_posts, signal, work). Include after common.h.
 *
 * Threads and callgrind: run.sh counts, besides the main thread's
 * bench_measured_phase(), the whole life of every other thread (it also
 * toggles collection on glibc's `start_thread`). So a thread started by a
 * program must not call bench_measured_phase() itself (a nested toggle would
 * switch collection off again), and its set-up (iv_init, registrations) is
 * counted: the callgrind sizes are chosen so that this is well under 1% of
 * the total. The worker threads of an iv_work_pool, started by the library,
 * are counted the same way.
 *
 * A lost wake-up makes a cross-thread benchmark wait forever; the watchdog
 * turns that into a failed run instead of a hung run.sh.
 */

#ifndef BENCH_THREADS_H
#define BENCH_THREADS_H

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

/* ---- Watchdog ----------------------------------------------------------- */

static void bench_watchdog_fired(int signum)
{
	static const char msg[] =
		"BENCH-FAIL: watchdog: the run did not finish in time "
		"(a lost wake-up or post?)\n";
	ssize_t ignored;

	(void)signum;
	ignored = write(2, msg, sizeof(msg) - 1);
	(void)ignored;
	_exit(1);
}

/* Ends the process with status 1 unless it finishes within `secs` seconds. */
static inline void bench_watchdog(unsigned int secs)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bench_watchdog_fired;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		bench_fail("sigaction(SIGALRM): %s", strerror(errno));
	alarm(secs);
}

/* ---- Threads ------------------------------------------------------------ */

static inline pthread_t bench_thread_start(void *(*fn)(void *), void *arg)
{
	pthread_t thread;
	int err = pthread_create(&thread, NULL, fn, arg);

	if (err != 0)
		bench_fail("pthread_create: %s", strerror(err));
	return thread;
}

static inline void bench_thread_join(pthread_t thread)
{
	int err = pthread_join(thread, NULL);

	if (err != 0)
		bench_fail("pthread_join: %s", strerror(err));
}

/* A one-shot "ready" flag: one thread waits until another has set it. */
struct bench_latch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int count;		/* how many bench_latch_arrive() calls so far */
};

#define BENCH_LATCH_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 }

static inline void bench_latch_arrive(struct bench_latch *latch)
{
	pthread_mutex_lock(&latch->lock);
	latch->count++;
	pthread_cond_broadcast(&latch->cond);
	pthread_mutex_unlock(&latch->lock);
}

/* Waits until bench_latch_arrive() was called at least `count` times. */
static inline void bench_latch_wait(struct bench_latch *latch, int count)
{
	pthread_mutex_lock(&latch->lock);
	while (latch->count < count)
		pthread_cond_wait(&latch->cond, &latch->lock);
	pthread_mutex_unlock(&latch->lock);
}

/* The observation every cross-thread workload adds: wall time per op. */
static inline void bench_wall_observation(char *out, size_t size,
					  const struct bench_stopwatch *sw,
					  uint64_t ops, const char *more)
{
	snprintf(out, size, "wall_ns_per_op=%.0f%s%s",
		 sw->wall_secs * 1e9 / (double)ops, more[0] != '\0' ? " " : "",
		 more);
}

#endif /* BENCH_THREADS_H */
