/*
 * SPEC 3: the cached time.  iv_now (the macro over
 * __iv_now_location_valid()), the older entry points __iv_now_location()
 * and iv_validate_now() (exported functions, although newer headers make
 * iv_validate_now an empty macro), and iv_invalidate_now().
 */
#include "harness.h"

#include <pthread.h>

/* Older binaries' view of the interface: call the real functions. */
#undef iv_validate_now
extern void iv_validate_now(void);
extern const struct timespec *__iv_now_location(void);

/* before <= t <= after */
static void check_between(const struct timespec *before,
			  const struct timespec *t,
			  const struct timespec *after, const char *what)
{
	CHECKF(h_ts_cmp(before, t) <= 0 && h_ts_cmp(t, after) <= 0,
	       "%s = %ld.%09ld not within CLOCK_MONOTONIC [%ld.%09ld, "
	       "%ld.%09ld]",
	       what, (long)t->tv_sec, t->tv_nsec, (long)before->tv_sec,
	       before->tv_nsec, (long)after->tv_sec, after->tv_nsec);
}

/* After invalidation, reading iv_now refreshes it from CLOCK_MONOTONIC. */
static void now_is_monotonic_clock(void)
{
	struct timespec before, after, now;

	iv_init();
	iv_invalidate_now();
	before = h_mono();
	now = iv_now;
	after = h_mono();
	check_between(&before, &now, &after, "iv_now");
	iv_deinit();
}

/* Two reads without invalidation return the same cached value. */
static void now_is_cached(void)
{
	struct timespec a, b;

	iv_init();
	a = iv_now;
	usleep(20000);
	b = iv_now;
	CHECKF(h_ts_cmp(&a, &b) == 0,
	       "iv_now changed without iv_invalidate_now(): %ld.%09ld -> "
	       "%ld.%09ld", (long)a.tv_sec, a.tv_nsec, (long)b.tv_sec,
	       b.tv_nsec);
	iv_deinit();
}

/* iv_invalidate_now() makes the next read fetch a fresh value. */
static void invalidate_refreshes(void)
{
	struct timespec a, b, before, after;

	iv_init();
	a = iv_now;
	usleep(20000);
	iv_invalidate_now();
	before = h_mono();
	b = iv_now;
	after = h_mono();
	check_between(&before, &b, &after, "iv_now after invalidate");
	CHECKF(h_ts_diff_ms(&a, &b) >= 19.0,
	       "iv_now advanced only %.3f ms over a 20 ms sleep",
	       h_ts_diff_ms(&a, &b));
	iv_deinit();
}

/*
 * The old ABI: __iv_now_location() returns the same per-thread struct
 * without refreshing; iv_validate_now() refreshes it.
 */
static void old_abi_entry_points(void)
{
	const struct timespec *loc;
	const struct timespec *valid_loc;
	struct timespec stale, before, after;

	iv_init();
	valid_loc = __iv_now_location_valid();
	loc = __iv_now_location();
	CHECKF(loc == valid_loc,
	       "__iv_now_location() %p != __iv_now_location_valid() %p",
	       (const void *)loc, (const void *)valid_loc);

	iv_validate_now();
	stale = *loc;
	usleep(20000);
	/* Still valid: validating again does not change it. */
	iv_validate_now();
	CHECK(h_ts_cmp(&stale, loc) == 0);

	iv_invalidate_now();
	before = h_mono();
	iv_validate_now();
	after = h_mono();
	check_between(&before, loc, &after, "*__iv_now_location() after "
					    "iv_validate_now()");
	CHECK(h_ts_diff_ms(&stale, loc) >= 19.0);

	/* The three agree. */
	CHECK(h_ts_cmp(loc, &iv_now) == 0);
	iv_deinit();
}

/* Each thread has its own cached time location. */
static void *thread_location(void *arg)
{
	const struct timespec **out = arg;

	iv_init();
	*out = __iv_now_location_valid();
	iv_deinit();
	return NULL;
}

static void now_is_per_thread(void)
{
	pthread_t th;
	const struct timespec *other = NULL;

	iv_init();
	CHECK(pthread_create(&th, NULL, thread_location, &other) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(other != NULL);
	CHECKF(other != __iv_now_location_valid(),
	       "two threads share the cached time location");
	iv_deinit();
}

/*
 * The loop invalidates the cache after every wait: in a callback that runs
 * after a 50 ms wait, iv_now is fresh (not the value from before the wait).
 */
static struct timespec cb_after, cb_seen;

static void fresh_handler(void *cookie)
{
	(void)cookie;
	cb_seen = iv_now;
	cb_after = h_mono();
}

static void now_fresh_in_callbacks(void)
{
	struct iv_timer t;
	struct timespec start;

	iv_init();
	start = iv_now;
	IV_TIMER_INIT(&t);
	t.expires = h_ts_add_ms(start, 50);
	t.handler = fresh_handler;
	iv_timer_register(&t);
	iv_main();
	CHECKF(h_ts_cmp(&cb_seen, &t.expires) >= 0,
	       "iv_now in the timer callback is before the expiry");
	CHECKF(h_ts_cmp(&cb_seen, &cb_after) <= 0,
	       "iv_now in the callback is ahead of CLOCK_MONOTONIC");
	CHECKF(h_ts_diff_ms(&start, &cb_seen) >= 50.0,
	       "iv_now not refreshed across the loop's wait");
	iv_deinit();
}

/* The same after a wait that ends with an fd event (written by another
 * thread 50 ms later). */
static struct iv_fd wake_fd;
static struct timespec wake_seen;

static void wake_in(void *cookie)
{
	(void)cookie;
	wake_seen = iv_now;
	iv_fd_unregister(&wake_fd);
}

static void *wake_writer(void *arg)
{
	usleep(50000);
	h_write_byte(*(int *)arg);
	return NULL;
}

static void now_fresh_after_fd_wait(void)
{
	struct timespec start;
	pthread_t th;
	int p[2];

	iv_init();
	h_pipe(p);
	IV_FD_INIT(&wake_fd);
	wake_fd.fd = p[0];
	wake_fd.handler_in = wake_in;
	iv_fd_register(&wake_fd);
	iv_invalidate_now();
	start = iv_now;
	CHECK(pthread_create(&th, NULL, wake_writer, &p[1]) == 0);
	iv_main();
	CHECK(pthread_join(th, NULL) == 0);
	CHECKF(h_ts_diff_ms(&start, &wake_seen) >= 49.0,
	       "iv_now in the fd callback only %.3f ms after the start of a "
	       ">= 50 ms wait: not refreshed after the wait",
	       h_ts_diff_ms(&start, &wake_seen));
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

int main(void)
{
	RUN(now_is_monotonic_clock);
	RUN(now_is_cached);
	RUN(invalidate_refreshes);
	RUN(old_abi_entry_points);
	RUN(now_is_per_thread);
	RUN(now_fresh_in_callbacks);
	RUN(now_fresh_after_fd_wait);
	return h_done("test_time");
}
