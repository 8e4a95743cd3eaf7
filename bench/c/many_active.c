/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * many_active: every registered descriptor is ready in every loop pass.
 *
 * `pairs` socketpairs are created; one end of each is registered with an
 * input handler and one byte is waiting in it. The handler reads its byte and
 * writes a new one from the other end, so its descriptor is ready again at
 * the next wait: every loop pass dispatches all `pairs` descriptors. A task
 * that re-registers itself marks the passes (tasks run once per pass, before
 * the wait); it checks that the pass before it called every handler, and
 * after `iterations` passes it calls iv_quit().
 *
 *   many_active pairs=1000 iterations=1000
 *
 * WARMUP_PASSES passes before the measured phase are a warm-up: the loop
 * tells the kernel about the registrations there, and a library that sizes
 * its buffer of ready events to demand gets to grow it. Warm-up passes may
 * dispatch only part of the ready descriptors; the BENCH line reports how
 * many did (`short_warmup_passes`, 0 for a loop that takes everything ready
 * at once).
 *
 * ops = handler calls = pairs * iterations. The run fails (exit 1) unless
 * every measured pass called every handler exactly once and each call found
 * exactly one byte.
 *
 * bench/raw/raw_many_active.c does the same on a hand-written epoll loop.
 */

#include "common.h"

#include <sys/socket.h>
#include <unistd.h>

struct pair {
	struct iv_fd fd;		/* registered with the loop */
	int peer;			/* the other end, written to */
	unsigned long calls;
	unsigned long last_pass;	/* the pass of the last call */
};

#define WARMUP_PASSES 16

static long npairs;
static struct iv_task marker;
static int warming_up;
static unsigned long pass;		/* passes begun, warm-up included */
static unsigned long passes_left;	/* in the current phase */
static unsigned long calls_this_pass;
static unsigned long short_warmup_passes;
static unsigned long bad_calls;		/* a second call in one pass, or no byte */

static void on_marker(void *cookie)
{
	(void)cookie;
	if (pass > 0 && calls_this_pass != (unsigned long)npairs) {
		if (!warming_up)
			bench_fail("pass %lu called %lu handlers, expected %ld",
				   pass, calls_this_pass, npairs);
		short_warmup_passes++;
	}
	if (passes_left == 0) {
		iv_quit();
		return;
	}
	passes_left--;
	pass++;
	calls_this_pass = 0;
	iv_task_register(&marker);
}

static void on_readable(void *cookie)
{
	struct pair *p = cookie;
	static const char token = 't';
	char buf[2];

	p->calls++;
	calls_this_pass++;
	if (p->last_pass == pass && !warming_up)
		bad_calls++;
	p->last_pass = pass;
	if (read(p->fd.fd, buf, sizeof(buf)) != 1) {
		bad_calls++;
		return;
	}
	if (write(p->peer, &token, 1) != 1)
		bench_fail("write to socket: %s", strerror(errno));
}

/* Runs `passes` loop passes (the marker ends the loop after them). */
static void run_passes(unsigned long passes)
{
	passes_left = passes;
	iv_task_register(&marker);
	iv_main();
}

static BENCH_MEASURED void bench_measured_phase(unsigned long passes)
{
	run_passes(passes);
}

int main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	unsigned long iterations;
	struct pair *pairs;
	struct bench_stopwatch sw;
	char params[128], observed[64];
	long i;

	bench_name = "many_active";
	npairs = bench_arg_long(&args, "pairs", 1000, 1, 100000);
	iterations = bench_arg_long(&args, "iterations", 1000, 1, 1L << 40);
	bench_args_done(&args);

	bench_raise_fd_limit();
	iv_init();
	IV_TASK_INIT(&marker);
	marker.handler = on_marker;

	pairs = calloc(npairs, sizeof(*pairs));
	if (pairs == NULL)
		bench_fail("out of memory");
	for (i = 0; i < npairs; i++) {
		int ends[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) < 0)
			bench_fail("socketpair #%ld: %s", i, strerror(errno));
		IV_FD_INIT(&pairs[i].fd);
		pairs[i].fd.fd = ends[0];
		pairs[i].fd.cookie = &pairs[i];
		pairs[i].fd.handler_in = on_readable;
		pairs[i].peer = ends[1];
		iv_fd_register(&pairs[i].fd);
		if (write(ends[1], "t", 1) != 1)
			bench_fail("write to socket: %s", strerror(errno));
	}

	warming_up = 1;
	run_passes(WARMUP_PASSES);
	warming_up = 0;
	for (i = 0; i < npairs; i++)
		pairs[i].calls = 0;

	bench_stopwatch_start(&sw);
	bench_measured_phase(iterations);
	bench_stopwatch_stop(&sw);

	if (pass != iterations + WARMUP_PASSES)
		bench_fail("%lu passes, expected %lu", pass,
			   iterations + WARMUP_PASSES);
	if (bad_calls != 0)
		bench_fail("%lu handler calls were repeated in a pass or found "
			   "no byte", bad_calls);
	for (i = 0; i < npairs; i++) {
		if (pairs[i].calls != iterations)
			bench_fail("pair #%ld: %lu calls, expected %lu", i,
				   pairs[i].calls, iterations);
	}

	snprintf(params, sizeof(params), "pairs=%ld iterations=%lu", npairs,
		 iterations);
	snprintf(observed, sizeof(observed), "short_warmup_passes=%lu",
		 short_warmup_passes);
	bench_report(params, (uint64_t)npairs * iterations, &sw, observed);

	for (i = 0; i < npairs; i++) {
		iv_fd_unregister(&pairs[i].fd);
		close(pairs[i].fd.fd);
		close(pairs[i].peer);
	}
	free(pairs);
	iv_deinit();
	return 0;
}
