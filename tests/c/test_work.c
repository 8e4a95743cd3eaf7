/*
 * SPEC 7: iv_work. Work runs on worker threads (at most max_threads of
 * them), completions in the owner thread; workers are full ivykis threads;
 * a NULL pool runs work locally from a task; put lets queued work finish
 * and the pool struct be freed at once; continuations from workers; idle
 * workers end after about ten seconds; submitting from another thread is
 * fatal.
 */
#include "harness.h"

#include <iv_work.h>
#include <pthread.h>
#include <stdatomic.h>

#define MAX_WORKER_IDS 64

static pthread_t owner;
static atomic_int works, completions, starts, stops;
static pthread_t worker_ids[MAX_WORKER_IDS];
static atomic_int n_worker_ids;
static pthread_mutex_t ids_lock = PTHREAD_MUTEX_INITIALIZER;

static void note_worker(void)
{
	int i, n;

	pthread_mutex_lock(&ids_lock);
	n = atomic_load(&n_worker_ids);
	for (i = 0; i < n; i++)
		if (pthread_equal(worker_ids[i], pthread_self()))
			break;
	if (i == n && n < MAX_WORKER_IDS) {
		worker_ids[n] = pthread_self();
		atomic_store(&n_worker_ids, n + 1);
	}
	pthread_mutex_unlock(&ids_lock);
}

static void on_start(void *cookie)
{
	CHECK(cookie == (void *)&owner);
	CHECK(!pthread_equal(pthread_self(), owner));
	atomic_fetch_add(&starts, 1);
}

static void on_stop(void *cookie)
{
	CHECK(cookie == (void *)&owner);
	atomic_fetch_add(&stops, 1);
}

static void do_work(void *cookie)
{
	(void)cookie;
	CHECK(!pthread_equal(pthread_self(), owner));
	CHECK(iv_inited());
	note_worker();
	usleep(200);
	atomic_fetch_add(&works, 1);
}

#define ITEMS 200

static struct iv_work_pool pool;
static struct iv_work_item items[ITEMS];

static void count_completion(void *cookie)
{
	(void)cookie;
	CHECK(pthread_equal(pthread_self(), owner));
	if (atomic_fetch_add(&completions, 1) + 1 == ITEMS)
		iv_work_pool_put(&pool);
}

static void make_pool(int max_threads)
{
	IV_WORK_POOL_INIT(&pool);
	pool.max_threads = max_threads;
	pool.cookie = &owner;
	pool.thread_start = on_start;
	pool.thread_stop = on_stop;
	CHECK(iv_work_pool_create(&pool) == 0);
}

/* More items than threads: every work and completion runs once, work on at
 * most max_threads workers, completions in the owner; the owner's iv_main
 * returns only after put and after the workers ended (thread_stop ran for
 * every thread_start). */
static void more_items_than_threads(void)
{
	int i;

	iv_init();
	owner = pthread_self();
	make_pool(2);
	for (i = 0; i < ITEMS; i++) {
		IV_WORK_ITEM_INIT(&items[i]);
		items[i].work = do_work;
		items[i].completion = count_completion;
		iv_work_pool_submit_work(&pool, &items[i]);
	}
	iv_main();
	CHECK_EQ_LONG(atomic_load(&works), ITEMS);
	CHECK_EQ_LONG(atomic_load(&completions), ITEMS);
	CHECK(atomic_load(&n_worker_ids) >= 1);
	CHECKF(atomic_load(&n_worker_ids) <= 2, "%d workers", atomic_load(&n_worker_ids));
	CHECK(atomic_load(&starts) >= 1 && atomic_load(&starts) <= 2);
	CHECK_EQ_LONG(atomic_load(&stops), atomic_load(&starts));
	iv_deinit();
}

static void count_only(void *cookie)
{
	(void)cookie;
	CHECK(pthread_equal(pthread_self(), owner));
	atomic_fetch_add(&completions, 1);
}

/* put with work queued and running: everything still completes, and the
 * pool struct can be freed right after put returns. */
static void put_with_work_in_flight(void)
{
	struct iv_work_pool *p = malloc(sizeof(*p));
	int i;

	iv_init();
	owner = pthread_self();
	IV_WORK_POOL_INIT(p);
	p->max_threads = 3;
	p->cookie = &owner;
	CHECK(iv_work_pool_create(p) == 0);
	for (i = 0; i < 20; i++) {
		IV_WORK_ITEM_INIT(&items[i]);
		items[i].work = do_work;
		items[i].completion = count_only;
		iv_work_pool_submit_work(p, &items[i]);
	}
	iv_work_pool_put(p);
	memset(p, 0x5a, sizeof(*p));
	free(p);
	iv_main();
	CHECK_EQ_LONG(atomic_load(&works), 20);
	CHECK_EQ_LONG(atomic_load(&completions), 20);
	iv_deinit();
}

static int local_seq;
static int local_work_at, local_completion_at;

static void local_work(void *cookie)
{
	(void)cookie;
	CHECK(pthread_equal(pthread_self(), owner));
	local_work_at = ++local_seq;
}

static void local_completion(void *cookie)
{
	(void)cookie;
	CHECK(pthread_equal(pthread_self(), owner));
	local_completion_at = ++local_seq;
}

/* A NULL pool runs the item in this thread, from a task: not inside
 * submit_work, and work before completion. */
static void null_pool_runs_locally_from_task(void)
{
	struct iv_work_item item;

	iv_init();
	owner = pthread_self();
	IV_WORK_ITEM_INIT(&item);
	item.work = local_work;
	item.completion = local_completion;
	iv_work_pool_submit_work(NULL, &item);
	CHECK_EQ_LONG(local_seq, 0);
	iv_main();
	CHECK_EQ_LONG(local_work_at, 1);
	CHECK_EQ_LONG(local_completion_at, 2);
	iv_deinit();
}

static struct iv_work_item first, second;
static pthread_t second_ran_on;

static void second_work(void *cookie)
{
	(void)cookie;
	second_ran_on = pthread_self();
	atomic_fetch_add(&works, 1);
}

static void first_work(void *cookie)
{
	(void)cookie;
	IV_WORK_ITEM_INIT(&second);
	second.work = second_work;
	second.completion = count_only;
	iv_work_pool_submit_continuation(&pool, &second);
	atomic_fetch_add(&works, 1);
}

static void first_done(void *cookie)
{
	(void)cookie;
	atomic_fetch_add(&completions, 1);
}

static struct iv_timer put_timer;

static void put_when_both_done(void *cookie)
{
	(void)cookie;
	if (atomic_load(&completions) == 2) {
		iv_work_pool_put(&pool);
		return;
	}
	iv_validate_now();
	put_timer.expires = h_ts_add_ms(iv_now, 5);
	iv_timer_register(&put_timer);
}

/* A work function submits a continuation: it runs on a worker and its
 * completion in the owner. */
static void continuation_from_worker(void)
{
	iv_init();
	owner = pthread_self();
	make_pool(2);
	IV_WORK_ITEM_INIT(&first);
	first.work = first_work;
	first.completion = first_done;
	iv_work_pool_submit_work(&pool, &first);
	IV_TIMER_INIT(&put_timer);
	put_timer.handler = put_when_both_done;
	put_timer.expires = iv_now;
	iv_timer_register(&put_timer);
	iv_main();
	CHECK_EQ_LONG(atomic_load(&works), 2);
	CHECK_EQ_LONG(atomic_load(&completions), 2);
	CHECK(!pthread_equal(second_ran_on, owner));
	iv_deinit();
}

static struct iv_task worker_task;
static pthread_t work_thread, task_thread;
static atomic_int task_ran_after_work;

static void task_in_worker(void *cookie)
{
	(void)cookie;
	task_thread = pthread_self();
	atomic_store(&task_ran_after_work, 1);
}

static void work_registers_task(void *cookie)
{
	(void)cookie;
	work_thread = pthread_self();
	IV_TASK_INIT(&worker_task);
	worker_task.handler = task_in_worker;
	iv_task_register(&worker_task);
	CHECK(atomic_load(&task_ran_after_work) == 0);
}

static void put_after_completion(void *cookie)
{
	(void)cookie;
	iv_work_pool_put(&pool);
}

/* Workers are full ivykis threads: a task registered by a work function
 * runs in that worker's loop afterwards (syslog-ng relies on this). */
static void task_from_work_runs_in_worker(void)
{
	struct iv_work_item item;

	iv_init();
	owner = pthread_self();
	make_pool(1);
	IV_WORK_ITEM_INIT(&item);
	item.work = work_registers_task;
	item.completion = put_after_completion;
	iv_work_pool_submit_work(&pool, &item);
	iv_main();
	CHECK_EQ_LONG(atomic_load(&task_ran_after_work), 1);
	CHECK(pthread_equal(task_thread, work_thread));
	CHECK(!pthread_equal(task_thread, owner));
	iv_deinit();
}

static struct iv_timer check_timer;
static struct timespec idle_since;

static void check_idle_stop(void *cookie)
{
	(void)cookie;
	if (atomic_load(&stops) == 0) {
		struct timespec now = h_mono();

		CHECKF(h_ts_diff_ms(&idle_since, &now) < 14000,
		       "idle worker still there after %.0f ms",
		       h_ts_diff_ms(&idle_since, &now));
		iv_validate_now();
		check_timer.expires = h_ts_add_ms(iv_now, 100);
		iv_timer_register(&check_timer);
		return;
	}
	{
		struct timespec now = h_mono();
		double ms = h_ts_diff_ms(&idle_since, &now);

		CHECKF(ms >= 9000, "idle worker ended after only %.0f ms", ms);
	}
	iv_work_pool_put(&pool);
}

static void note_idle_since(void *cookie)
{
	(void)cookie;
	idle_since = h_mono();
	IV_TIMER_INIT(&check_timer);
	check_timer.handler = check_idle_stop;
	iv_validate_now();
	check_timer.expires = h_ts_add_ms(iv_now, 100);
	iv_timer_register(&check_timer);
}

/* An idle worker ends after about ten seconds (thread_stop runs then). */
static void idle_worker_ends_after_ten_seconds(void)
{
	struct iv_work_item item;

	iv_init();
	owner = pthread_self();
	make_pool(1);
	IV_WORK_ITEM_INIT(&item);
	item.work = do_work;
	item.completion = note_idle_since;
	iv_work_pool_submit_work(&pool, &item);
	iv_main();
	CHECK_EQ_LONG(atomic_load(&stops), 1);
	iv_deinit();
}

static void *submit_from_thread(void *arg)
{
	iv_init();
	iv_work_pool_submit_work(&pool, arg);
	return NULL;
}

static void submit_from_other_thread(void *arg)
{
	pthread_t t;
	struct iv_work_item item;

	(void)arg;
	iv_init();
	make_pool(1);
	IV_WORK_ITEM_INIT(&item);
	item.work = do_work;
	item.completion = count_only;
	pthread_create(&t, NULL, submit_from_thread, &item);
	pthread_join(t, NULL);
}

static void submit_from_non_owner_is_fatal(void)
{
	struct h_child_result res;

	h_fork_fatal(submit_from_other_thread, NULL, 1, &res);
	CHECK_FATAL(&res, "iv_work_pool_submit_work");
}

int main(void)
{
	RUN(more_items_than_threads);
	RUN(put_with_work_in_flight);
	RUN(null_pool_runs_locally_from_task);
	RUN(continuation_from_worker);
	RUN(task_from_work_runs_in_worker);
	RUN(submit_from_non_owner_is_fatal);
	RUN(idle_worker_ends_after_ten_seconds);
	return h_done("test_work");
}
