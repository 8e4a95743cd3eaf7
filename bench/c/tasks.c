/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * tasks: tasks registering tasks.
 *
 *   tasks mode=self tasks=100 calls=10000000
 *   tasks mode=ring tasks=100 calls=10000000
 *
 * `tasks` lineages run side by side, each making calls/tasks handler calls:
 *
 * - mode=self: one iv_task per lineage; its handler registers the same task
 *   again, until the lineage has made its calls.
 * - mode=ring: two iv_tasks per lineage (2 * tasks in all); the handler of
 *   one registers the other, so each task is registered by another task's
 *   handler (never while it is still registered).
 *
 * Tasks run once per loop pass, so each pass runs `tasks` handlers, then
 * makes a non-blocking wait (nothing else is registered). The last handler
 * call of all calls iv_quit(); with tasks=1 every pass is a single task.
 *
 * ops = handler calls = calls (`calls` must be a multiple of `tasks`, and of
 * 2 * tasks in mode=ring). The run fails (exit 1) unless every task made
 * exactly its share of the calls, no lineage made more than its share, and
 * the loop returned after exactly `calls` calls; these totals do not depend
 * on the order in which a library runs its tasks.
 */

#include "common.h"

struct lineage_task {
	struct iv_task task;
	struct lineage_task *next;	/* registered by this one's handler */
	struct lineage *lineage;
	unsigned long calls;
};

struct lineage {
	unsigned long calls_left;
};

static unsigned long calls_total;
static unsigned long calls_done;

static void on_task(void *cookie)
{
	struct lineage_task *t = cookie;
	struct lineage *l = t->lineage;

	t->calls++;
	calls_done++;
	if (l->calls_left == 0)
		bench_fail("a lineage ran beyond its share");
	if (--l->calls_left != 0)
		iv_task_register(&t->next->task);
	else if (calls_done == calls_total)
		iv_quit();
}

static BENCH_MEASURED void bench_measured_phase(struct lineage_task *tasks,
						long n)
{
	long i;

	for (i = 0; i < n; i++)
		iv_task_register(&tasks[i].task);
	iv_main();
}

int main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	const char *mode_arg;
	int ring;
	long ntasks, nstructs, i;
	unsigned long share;
	struct lineage_task *tasks;
	struct lineage *lineages;
	struct bench_stopwatch sw;
	char params[128];

	bench_name = "tasks";
	mode_arg = bench_arg(&args, "mode");
	if (mode_arg == NULL || strcmp(mode_arg, "self") == 0)
		ring = 0;
	else if (strcmp(mode_arg, "ring") == 0)
		ring = 1;
	else
		bench_fail("mode=%s: expected self or ring", mode_arg);
	ntasks = bench_arg_long(&args, "tasks", 100, 1, 1000000);
	calls_total = bench_arg_long(&args, "calls", 10000000, 1, 1L << 40);
	bench_args_done(&args);

	nstructs = ring ? 2 * ntasks : ntasks;
	if (calls_total % nstructs != 0)
		bench_fail("calls=%lu is not a multiple of %ld", calls_total,
			   nstructs);
	share = calls_total / nstructs;

	iv_init();
	tasks = calloc(nstructs, sizeof(*tasks));
	lineages = calloc(ntasks, sizeof(*lineages));
	if (tasks == NULL || lineages == NULL)
		bench_fail("out of memory");
	for (i = 0; i < ntasks; i++)
		lineages[i].calls_left = calls_total / ntasks;
	for (i = 0; i < nstructs; i++) {
		IV_TASK_INIT(&tasks[i].task);
		tasks[i].task.cookie = &tasks[i];
		tasks[i].task.handler = on_task;
		tasks[i].lineage = &lineages[i % ntasks];
		tasks[i].next = ring ? &tasks[(i + ntasks) % nstructs] :
				       &tasks[i];
	}

	bench_stopwatch_start(&sw);
	bench_measured_phase(tasks, ntasks);
	bench_stopwatch_stop(&sw);

	if (calls_done != calls_total)
		bench_fail("the loop returned after %lu of %lu calls",
			   calls_done, calls_total);
	for (i = 0; i < nstructs; i++) {
		if (tasks[i].calls != share)
			bench_fail("task #%ld: %lu calls, expected %lu", i,
				   tasks[i].calls, share);
		if (iv_task_registered(&tasks[i].task))
			bench_fail("task #%ld is still registered", i);
	}

	snprintf(params, sizeof(params), "mode=%s tasks=%ld calls=%lu",
		 ring ? "ring" : "self", ntasks, calls_total);
	bench_report(params, calls_total, &sw, "");

	free(tasks);
	free(lineages);
	iv_deinit();
	return 0;
}
