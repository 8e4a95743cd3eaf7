/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * raw_fd_churn: the floor of bench/c/fd_churn.c. The same workload
 * (bench/c/fd_churn.h: the same random sequence of calls, the same checks,
 * the same BENCH line with `poll=raw-epoll lib=none`) on the hand-written
 * epoll loop of raw.h: each call only records the new interest, and the
 * loop issues one epoll_ctl (ADD, MOD or DEL) per descriptor whose net
 * interest changed right before its epoll_wait.
 *
 *   raw_fd_churn slots=1000 batch=64 passes=10000
 *
 * ops = API calls (raw_register, raw_unregister, raw_set_handler_in,
 * raw_set_handler_out), as in fd_churn; the observations add the epoll_ctl
 * calls the loop made (`epoll_ctls`).
 */

#include "raw.h"

#define CHURN_FD_TYPE struct raw_fd
#include "fd_churn.h"

#define WARMUP_PASSES 200

static void churn_fd_init(struct churn_slot *s)
{
	raw_fd_init(&s->fd, s->sock, s);
}

static void churn_fd_register(struct churn_slot *s)
{
	raw_register(&s->fd);
	raw_set_handler_in(&s->fd, churn_on_in);
}

static void churn_fd_unregister(struct churn_slot *s)
{
	raw_unregister(&s->fd);
}

static void churn_fd_set_in(struct churn_slot *s, int on)
{
	raw_set_handler_in(&s->fd, on ? churn_on_in : NULL);
}

static void churn_fd_set_out(struct churn_slot *s, int on)
{
	raw_set_handler_out(&s->fd, on ? churn_on_out : NULL);
}

/* One batch per pass, then a wait that does not block. */
static void run_passes(unsigned long passes)
{
	while (passes-- > 0) {
		churn_batch_run();
		raw_run_once(0);
	}
	churn_check();
}

static BENCH_MEASURED void bench_measured_phase(unsigned long passes)
{
	run_passes(passes);
}

int main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	long slots, batch;
	unsigned long passes, ctls;
	struct bench_stopwatch sw;
	char params[128], observed[160];
	size_t len;

	bench_name = "fd_churn";
	slots = bench_arg_long(&args, "slots", 1000, 1, 100000);
	batch = bench_arg_long(&args, "batch", 64, 1, 1000000);
	passes = bench_arg_long(&args, "passes", 10000, 1, 1L << 40);
	bench_args_done(&args);

	bench_raise_fd_limit();
	raw_init();
	churn_setup(slots, batch);

	run_passes(WARMUP_PASSES);
	churn_reset_counts();
	ctls = raw_loop.ctls;

	bench_stopwatch_start(&sw);
	bench_measured_phase(passes);
	bench_stopwatch_stop(&sw);

	if (churn_steps != (uint64_t)batch * passes)
		bench_fail("%llu steps, expected %llu",
			   (unsigned long long)churn_steps,
			   (unsigned long long)batch * passes);

	snprintf(params, sizeof(params), "slots=%ld batch=%ld passes=%lu",
		 slots, batch, passes);
	churn_observed(observed, sizeof(observed));
	len = strlen(observed);
	snprintf(observed + len, sizeof(observed) - len, " epoll_ctls=%lu",
		 raw_loop.ctls - ctls);
	bench_report(params, churn_ops, &sw, observed);

	churn_teardown();
	raw_deinit();
	return 0;
}
