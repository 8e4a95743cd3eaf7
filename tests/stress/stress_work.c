/*
 * Worker pools whose workers start and end while work is submitted.
 *
 * Four owner threads (each with a loop, started with iv_thread_create) run
 * generations of pools, one after the other.  In each generation an owner
 * creates a pool with a random max_threads (1 to 8), submits its jobs in
 * bursts (from tasks and from timers, so workers are started, run dry and
 * go idle while more work comes in), and calls iv_work_pool_put as soon as
 * everything is submitted, with most of the work still queued: that work
 * must still run and complete, and the pool's workers end afterwards
 * (thread_stop) while the next generation's workers start.  One job in
 * eight submits a continuation from its worker (the pool is put only after
 * those are in, since a program may free a pool once it was put).  One generation in five
 * uses the NULL pool (work runs in the owner, from a task).
 *
 * Every item's work and completion must run exactly once, the work on a
 * worker (or in the owner for the NULL pool), the completion in the owner.
 * At the end every pool's thread_start count must equal its thread_stop
 * count (within a deadline: workers end on their own after put).
 *
 * Long mode: 20 times as many generations, and one generation per owner
 * with a 12 s pause between two bursts, so idle workers end on their ten
 * second timeout while their pool is still in use.
 */
#include "stress.h"

#include <iv_thread.h>
#include <iv_work.h>

#define OWNERS 4
#define SHORT_GENERATIONS 100
#define JOBS 200
#define BURST 20
#define MAX_ITEMS (JOBS * 2)

struct pool_stats {
	atomic_long starts, stops;
};

struct item {
	struct iv_work_item wi;
	struct owner *owner;
	atomic_int works;
	int completions;
	int is_continuation;
	struct item *cont; /* the continuation this item submits, if any */
};

struct owner {
	int id;
	pthread_t thread;
	struct iv_work_pool pool;
	struct iv_work_pool *pp; /* &pool, or NULL for the NULL pool */
	struct pool_stats *stats; /* this generation's */
	struct item items[MAX_ITEMS];
	int n_items, submitted, completed, expected;
	atomic_int cont_pending; /* continuations not yet submitted */
	int put_done;
	struct iv_task burst_task;
	struct iv_timer burst_timer;
	struct iv_task next_generation;
	int generation, generations;
	uint64_t rng;
	int long_pause_done;
	long total_completed, total_works;
};

static struct owner owners[OWNERS];
static long generations;
static struct pool_stats *all_stats;
static atomic_long n_stats;
static atomic_long pools_created;

static void on_thread_start(void *cookie)
{
	struct pool_stats *st = cookie;

	atomic_fetch_add(&st->starts, 1);
}

static void on_thread_stop(void *cookie)
{
	struct pool_stats *st = cookie;

	atomic_fetch_add(&st->stops, 1);
}

static void run_work(void *cookie)
{
	struct item *it = cookie;
	struct owner *o = it->owner;
	volatile unsigned long x = 0;
	int i;

	if (atomic_fetch_add(&it->works, 1) != 0)
		s_bad_event("owner %d item %d: work ran twice", o->id, (int)(it - o->items));
	if (o->pp != NULL && pthread_equal(pthread_self(), o->thread))
		s_bad_event("owner %d: work ran in the owner thread", o->id);
	if (o->pp != NULL && !iv_inited())
		s_bad_event("owner %d: worker thread without a loop", o->id);
	for (i = 0; i < 2000; i++)
		x += (unsigned long)i;
	if (it->cont != NULL) {
		iv_work_pool_submit_continuation(o->pp, &it->cont->wi);
		atomic_fetch_sub(&o->cont_pending, 1);
	}
}

/*
 * Puts the pool once everything is submitted, continuations included (a
 * worker may not submit to a pool that was put: the program may have
 * freed it).  Usually most plain jobs are still queued at that point.
 */
static void maybe_put(struct owner *o)
{
	if (o->pp != NULL && !o->put_done && o->submitted >= JOBS &&
	    atomic_load(&o->cont_pending) == 0) {
		o->put_done = 1;
		iv_work_pool_put(o->pp);
	}
}

static void start_generation(struct owner *o);

static void on_completion(void *cookie)
{
	struct item *it = cookie;
	struct owner *o = it->owner;

	if (!pthread_equal(pthread_self(), o->thread))
		s_bad_event("owner %d: completion outside the owner thread", o->id);
	if (atomic_load(&it->works) != 1)
		s_bad_event("owner %d: completion before its work", o->id);
	if (it->completions++ != 0)
		s_bad_event("owner %d: completion ran twice", o->id);
	o->completed++;
	maybe_put(o);
	if (o->submitted >= JOBS && o->completed == o->expected) {
		/* All done; the pool was put already. */
		o->total_completed += o->completed;
		if (++o->generation < o->generations)
			iv_task_register(&o->next_generation);
	}
}

static void submit_one(struct owner *o)
{
	struct item *it = &o->items[o->n_items++];

	IV_WORK_ITEM_INIT(&it->wi);
	it->owner = o;
	atomic_store(&it->works, 0);
	it->completions = 0;
	it->is_continuation = 0;
	it->cont = NULL;
	it->wi.cookie = it;
	it->wi.work = run_work;
	it->wi.completion = on_completion;
	o->expected++;
	/* Continuations need a real pool. */
	if (o->pp != NULL && s_rand_r(&o->rng) % 8 == 0) {
		struct item *c = &o->items[o->n_items++];

		IV_WORK_ITEM_INIT(&c->wi);
		c->owner = o;
		atomic_store(&c->works, 0);
		c->completions = 0;
		c->is_continuation = 1;
		c->cont = NULL;
		c->wi.cookie = c;
		c->wi.work = run_work;
		c->wi.completion = on_completion;
		it->cont = c;
		o->expected++;
		atomic_fetch_add(&o->cont_pending, 1);
	}
	o->submitted++;
	iv_work_pool_submit_work(o->pp, &it->wi);
}

static void burst(void *cookie)
{
	struct owner *o = cookie;
	int i;

	for (i = 0; i < BURST && o->submitted < JOBS; i++)
		submit_one(o);
	if (o->submitted >= JOBS) {
		maybe_put(o);
		return;
	}
	if (s_long && !o->long_pause_done && o->generation == 1 && o->submitted >= JOBS / 2) {
		/* Idle workers time out (10 s) while the pool lives on. */
		o->long_pause_done = 1;
		o->burst_timer.expires = s_ts_add_ns(iv_now, 12LL * 1000000000LL);
		iv_timer_register(&o->burst_timer);
	} else if (s_rand_r(&o->rng) % 2) {
		iv_task_register(&o->burst_task);
	} else {
		o->burst_timer.expires =
			s_ts_add_ns(iv_now, (long long)(s_rand_r(&o->rng) % 2000000));
		iv_timer_register(&o->burst_timer);
	}
}

static void start_generation_task(void *cookie)
{
	start_generation(cookie);
}

static void start_generation(struct owner *o)
{
	long idx = atomic_fetch_add(&n_stats, 1);

	o->n_items = o->submitted = o->completed = o->expected = 0;
	o->put_done = 0;
	atomic_store(&o->cont_pending, 0);
	o->stats = &all_stats[idx];
	if (o->generation % 5 == 4) {
		o->pp = NULL;
	} else {
		o->pp = &o->pool;
		IV_WORK_POOL_INIT(&o->pool);
		o->pool.max_threads = 1 + (int)(s_rand_r(&o->rng) % 8);
		o->pool.cookie = o->stats;
		o->pool.thread_start = on_thread_start;
		o->pool.thread_stop = on_thread_stop;
		if (iv_work_pool_create(&o->pool) != 0)
			s_die("iv_work_pool_create failed");
		atomic_fetch_add(&pools_created, 1);
	}
	burst(o);
}

static void owner_thread(void *arg)
{
	struct owner *o = arg;

	o->thread = pthread_self();
	iv_init();
	IV_TASK_INIT(&o->burst_task);
	o->burst_task.cookie = o;
	o->burst_task.handler = burst;
	IV_TIMER_INIT(&o->burst_timer);
	o->burst_timer.cookie = o;
	o->burst_timer.handler = burst;
	IV_TASK_INIT(&o->next_generation);
	o->next_generation.cookie = o;
	o->next_generation.handler = start_generation_task;
	o->generations = (int)generations;
	o->rng = 0xabcdefULL * (uint64_t)(o->id + 1);
	start_generation(o);
	/* Returns once the last generation completed and its pool is gone. */
	iv_main();
	iv_deinit();
}

int main(int argc, char **argv)
{
	struct timespec t0;
	long starts = 0, stops = 0, i, completed = 0, expected_gens;
	int r;

	s_setup("stress_work", argc, argv, 180);
	generations = s_count(SHORT_GENERATIONS);
	iv_set_fatal_msg_handler(s_fatal_handler);
	all_stats = calloc((size_t)(generations * OWNERS), sizeof(*all_stats));
	if (all_stats == NULL)
		s_die("out of memory");

	iv_init();
	for (r = 0; r < OWNERS; r++) {
		owners[r].id = r;
		if (iv_thread_create("owner", owner_thread, &owners[r]) != 0)
			s_die("iv_thread_create failed");
	}
	iv_main();

	expected_gens = generations;
	for (r = 0; r < OWNERS; r++) {
		if (owners[r].generation != expected_gens)
			s_lost_ops((expected_gens - owners[r].generation) * JOBS,
				   "owner %d finished %d of %ld generations", r,
				   owners[r].generation, expected_gens);
		completed += owners[r].total_completed;
	}
	/* Workers of put pools end on their own; give them time. */
	t0 = s_mono();
	do {
		starts = stops = 0;
		for (i = 0; i < atomic_load(&n_stats); i++) {
			starts += atomic_load(&all_stats[i].starts);
			stops += atomic_load(&all_stats[i].stops);
		}
		if (starts == stops)
			break;
		usleep(10000);
	} while (s_secs_since(&t0) < 15.0);
	for (i = 0; i < atomic_load(&n_stats); i++)
		if (atomic_load(&all_stats[i].starts) != atomic_load(&all_stats[i].stops))
			s_bad_event("pool %ld: %ld workers started, %ld stopped", i,
				    atomic_load(&all_stats[i].starts),
				    atomic_load(&all_stats[i].stops));
	atomic_store(&s_ops, completed);
	atomic_store(&s_threads, 1 + OWNERS + starts);
	fprintf(stderr, "# %ld pools, %ld items completed, %ld worker threads started and %ld ended\n",
		atomic_load(&pools_created), completed, starts, stops);
	r = s_finish();
	iv_deinit();
	free(all_stats);
	return r;
}
