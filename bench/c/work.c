/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * work: tiny items through an iv_work_pool.
 *
 * The main thread creates a pool with `threads` as max_threads and keeps
 * `window` work items in flight: each completion checks its item and, until
 * `items` have been submitted, submits the same item again with new input.
 * The work function is a few arithmetic instructions, so what is measured
 * is the pool: queueing, handing items to worker threads, waking them, and
 * carrying completions back to the owner's loop. After the last completion
 * the pool is put, its threads end, and the loop runs out of work.
 *
 *   work threads=4 items=200000 window=64
 *
 * ops = items (each: one submit, one work call on a worker, one completion
 * in the owner thread). The run fails (exit 1) unless every item's work ran
 * exactly once, on a worker thread, before its completion, and exactly
 * `items` completions saw the expected result. The BENCH line reports
 * wall_ns_per_op and workers (how many worker threads the pool started).
 */

#include "common.h"
#include "threads.h"

#include <iv_work.h>

enum job_state { JOB_IDLE, JOB_QUEUED, JOB_DONE };

struct job {
	struct iv_work_item item;
	unsigned long input;
	unsigned long output;
	int state;
	int bad;		/* work ran twice, in the owner, or unqueued */
};

static struct iv_work_pool pool;
static struct job *jobs;
static long window;
static unsigned long items_wanted;
static unsigned long submitted;
static unsigned long completed;
static unsigned long bad_completions;
static unsigned long workers_started;	/* thread_start hook calls */
static pthread_t owner_thread;

static unsigned long tiny_work(unsigned long x)
{
	return x * 2654435761UL + 12345;
}

static void do_work(void *cookie)
{
	struct job *job = cookie;

	if (job->state != JOB_QUEUED || pthread_equal(pthread_self(),
						      owner_thread))
		job->bad = 1;
	job->output = tiny_work(job->input);
	job->state = JOB_DONE;
}

static void submit(struct job *job)
{
	job->input = submitted++;
	job->state = JOB_QUEUED;
	iv_work_pool_submit_work(&pool, &job->item);
}

static void on_completion(void *cookie)
{
	struct job *job = cookie;

	if (job->bad || job->state != JOB_DONE ||
	    job->output != tiny_work(job->input))
		bad_completions++;
	job->state = JOB_IDLE;
	completed++;
	if (submitted < items_wanted)
		submit(job);
	else if (completed == items_wanted)
		iv_work_pool_put(&pool);
}

static void on_thread_start(void *cookie)
{
	(void)cookie;
	__atomic_fetch_add(&workers_started, 1, __ATOMIC_RELAXED);
}

static BENCH_MEASURED void bench_measured_phase(void)
{
	long i;

	for (i = 0; i < window && submitted < items_wanted; i++)
		submit(&jobs[i]);
	iv_main();
}

int main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	struct bench_stopwatch sw;
	long threads, i;
	char params[96];
	char observed[96];
	char workers_text[32];

	bench_name = "work";
	threads = bench_arg_long(&args, "threads", 4, 1, 1000);
	items_wanted = bench_arg_long(&args, "items", 200000, 1, 1L << 40);
	window = bench_arg_long(&args, "window", 64, 1, 1000000);
	bench_args_done(&args);
	bench_watchdog(600);

	iv_init();
	owner_thread = pthread_self();
	jobs = calloc(window, sizeof(*jobs));
	if (jobs == NULL)
		bench_fail("out of memory");
	for (i = 0; i < window; i++) {
		IV_WORK_ITEM_INIT(&jobs[i].item);
		jobs[i].item.cookie = &jobs[i];
		jobs[i].item.work = do_work;
		jobs[i].item.completion = on_completion;
	}
	IV_WORK_POOL_INIT(&pool);
	pool.max_threads = threads;
	pool.cookie = NULL;
	pool.thread_start = on_thread_start;
	if (iv_work_pool_create(&pool) != 0)
		bench_fail("iv_work_pool_create failed");

	bench_stopwatch_start(&sw);
	bench_measured_phase();
	bench_stopwatch_stop(&sw);

	if (completed != items_wanted)
		bench_fail("%lu completions, expected %lu", completed,
			   items_wanted);
	if (bad_completions != 0)
		bench_fail("%lu completions found their work not done, done "
			   "twice, in the owner thread or wrong",
			   bad_completions);
	for (i = 0; i < window; i++) {
		if (jobs[i].state != JOB_IDLE)
			bench_fail("job %ld was never completed", i);
	}
	if (workers_started < 1 || workers_started > (unsigned long)threads)
		bench_fail("%lu worker threads started, max_threads is %ld",
			   workers_started, threads);

	snprintf(params, sizeof(params), "threads=%ld items=%lu window=%ld",
		 threads, items_wanted, window);
	snprintf(workers_text, sizeof(workers_text), "workers=%lu",
		 workers_started);
	bench_wall_observation(observed, sizeof(observed), &sw, items_wanted,
			       workers_text);
	bench_report(params, items_wanted, &sw, observed);

	free(jobs);
	iv_deinit();
	return 0;
}
