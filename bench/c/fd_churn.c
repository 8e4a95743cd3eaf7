/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * fd_churn: registration churn. Descriptors are registered, their handlers
 * switched on and off (iv_fd_set_handler_in/out) and unregistered, a batch of
 * such calls per loop pass; the workload itself is described in fd_churn.h,
 * which bench/raw/raw_fd_churn.c shares.
 *
 *   fd_churn slots=1000 batch=64 passes=10000
 *
 * A task that re-registers itself runs one batch per loop pass (tasks run
 * before the wait, and a pending task makes the wait non-blocking). The
 * first WARMUP_PASSES passes are not measured, so the measured phase starts
 * from a steady mix of registered and unregistered slots.
 *
 * ops = API calls (iv_fd_register, iv_fd_unregister, iv_fd_set_handler_in,
 * iv_fd_set_handler_out) in the measured phase. The observations show the
 * number of batch steps and handler calls, which must be equal for every
 * library (the loop pass structure is the same).
 */

#include "common.h"

#define CHURN_FD_TYPE struct iv_fd
#include "fd_churn.h"

#define WARMUP_PASSES 200

static void churn_fd_init(struct churn_slot *s)
{
	IV_FD_INIT(&s->fd);
}

static void churn_fd_register(struct churn_slot *s)
{
	IV_FD_INIT(&s->fd);
	s->fd.fd = s->sock;
	s->fd.cookie = s;
	s->fd.handler_in = churn_on_in;
	iv_fd_register(&s->fd);
}

static void churn_fd_unregister(struct churn_slot *s)
{
	iv_fd_unregister(&s->fd);
}

static void churn_fd_set_in(struct churn_slot *s, int on)
{
	iv_fd_set_handler_in(&s->fd, on ? churn_on_in : NULL);
}

static void churn_fd_set_out(struct churn_slot *s, int on)
{
	iv_fd_set_handler_out(&s->fd, on ? churn_on_out : NULL);
}

static struct iv_task driver;
static unsigned long passes_left;

static void on_driver(void *cookie)
{
	(void)cookie;
	if (passes_left == 0) {
		churn_check();
		iv_quit();
		return;
	}
	passes_left--;
	churn_batch_run();
	iv_task_register(&driver);
}

static void run_passes(unsigned long passes)
{
	passes_left = passes;
	iv_task_register(&driver);
	iv_main();
	if (passes_left != 0)
		bench_fail("the loop returned with %lu passes to go",
			   passes_left);
}

static BENCH_MEASURED void bench_measured_phase(unsigned long passes)
{
	run_passes(passes);
}

int main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	long slots, batch;
	unsigned long passes;
	struct bench_stopwatch sw;
	char params[128], observed[128];

	bench_name = "fd_churn";
	slots = bench_arg_long(&args, "slots", 1000, 1, 100000);
	batch = bench_arg_long(&args, "batch", 64, 1, 1000000);
	passes = bench_arg_long(&args, "passes", 10000, 1, 1L << 40);
	bench_args_done(&args);

	bench_raise_fd_limit();
	iv_init();
	IV_TASK_INIT(&driver);
	driver.handler = on_driver;
	churn_setup(slots, batch);

	run_passes(WARMUP_PASSES);
	churn_reset_counts();

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
	bench_report(params, churn_ops, &sw, observed);

	churn_teardown();
	iv_deinit();
	return 0;
}
