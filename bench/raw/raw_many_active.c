/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * raw_many_active: the floor of bench/c/many_active.c. The same socketpairs,
 * handlers, warm-up, checks and BENCH line (with `poll=raw-epoll lib=none`),
 * on the hand-written epoll loop of raw.h; a pass is one epoll_wait, which
 * takes all ready descriptors at once (up to RAW_MAX_EVENTS).
 *
 *   raw_many_active pairs=1000 iterations=1000
 *
 * ops = handler calls = pairs * iterations.
 */

#include "raw.h"

#include <sys/socket.h>

struct pair {
	struct raw_fd fd;		/* registered with the loop */
	int peer;			/* the other end, written to */
	unsigned long calls;
	unsigned long last_pass;	/* the pass of the last call */
};

#define WARMUP_PASSES 16

static long npairs;
static int warming_up;
static unsigned long pass;		/* passes begun, warm-up included */
static unsigned long calls_this_pass;
static unsigned long short_warmup_passes;
static unsigned long bad_calls;		/* a second call in one pass, or no byte */

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

static void run_passes(unsigned long passes)
{
	while (passes-- > 0) {
		pass++;
		calls_this_pass = 0;
		raw_run_once(-1);
		if (calls_this_pass != (unsigned long)npairs) {
			if (!warming_up)
				bench_fail("pass %lu called %lu handlers, "
					   "expected %ld", pass,
					   calls_this_pass, npairs);
			short_warmup_passes++;
		}
	}
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
	npairs = bench_arg_long(&args, "pairs", 1000, 1, RAW_MAX_EVENTS);
	iterations = bench_arg_long(&args, "iterations", 1000, 1, 1L << 40);
	bench_args_done(&args);

	bench_raise_fd_limit();
	raw_init();

	pairs = calloc(npairs, sizeof(*pairs));
	if (pairs == NULL)
		bench_fail("out of memory");
	for (i = 0; i < npairs; i++) {
		int ends[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) < 0)
			bench_fail("socketpair #%ld: %s", i, strerror(errno));
		raw_fd_init(&pairs[i].fd, ends[0], &pairs[i]);
		pairs[i].peer = ends[1];
		raw_register(&pairs[i].fd);
		raw_set_handler_in(&pairs[i].fd, on_readable);
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
		raw_unregister(&pairs[i].fd);
		close(pairs[i].fd.fd);
		close(pairs[i].peer);
	}
	free(pairs);
	raw_deinit();
	return 0;
}
