/*
 * SPEC 5: tasks -- run once after control returns to the loop, before it
 * sleeps; unregistered just before the handler runs; fairness between
 * self-re-registering tasks and fds; tasks registered during a round run
 * in that round; unregistering before the run prevents it.
 */
#include "harness.h"

static char seq[256];
static int nseq;

static void note(char c)
{
	if (nseq < (int)sizeof(seq) - 1) {
		seq[nseq++] = c;
		seq[nseq] = '\0';
	}
}

/* ------------------------------------------------------------------ */

static struct iv_task once_task;
static int once_calls;
static int once_registered_inside;

static void once_handler(void *cookie)
{
	CHECK(cookie == &once_calls);
	once_calls++;
	once_registered_inside = iv_task_registered(&once_task);
}

/* A task runs once, not inside iv_task_register, and is unregistered
 * before its handler runs. */
static void runs_once_after_return(void)
{
	iv_init();
	IV_TASK_INIT(&once_task);
	CHECK(!iv_task_registered(&once_task));
	once_task.cookie = &once_calls;
	once_task.handler = once_handler;
	iv_task_register(&once_task);
	CHECK(iv_task_registered(&once_task));
	CHECKF(once_calls == 0, "task ran inside iv_task_register");
	iv_main();
	CHECK_EQ_LONG(once_calls, 1);
	CHECKF(!once_registered_inside,
	       "iv_task_registered() true inside its own handler");
	CHECK(!iv_task_registered(&once_task));

	/* Runs again only when registered again. */
	iv_main();
	CHECK_EQ_LONG(once_calls, 1);
	iv_task_register(&once_task);
	iv_main();
	CHECK_EQ_LONG(once_calls, 2);
	iv_deinit();
}

/* Registered from an fd callback, the task does not run inside it but
 * before the loop sleeps (a 30 s timer bounds any sleep). */
static struct iv_fd reg_fd;
static struct iv_timer reg_keepalive;
static struct timespec reg_start, reg_ran;

static void reg_task_handler(void *cookie)
{
	(void)cookie;
	once_calls++;
	reg_ran = h_mono();
	iv_timer_unregister(&reg_keepalive);
}

static void reg_fd_in(void *cookie)
{
	(void)cookie;
	iv_fd_unregister(&reg_fd);
	IV_TASK_INIT(&once_task);
	once_task.handler = reg_task_handler;
	iv_task_register(&once_task);
	CHECKF(once_calls == 0, "task ran inside iv_task_register");
	reg_start = h_mono();
}

static void keepalive_fail(void *cookie)
{
	(void)cookie;
	FAIL("the loop slept with a task pending");
}

static void runs_before_loop_sleeps(void)
{
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	IV_FD_INIT(&reg_fd);
	reg_fd.fd = p[0];
	reg_fd.handler_in = reg_fd_in;
	iv_fd_register(&reg_fd);
	IV_TIMER_INIT(&reg_keepalive);
	reg_keepalive.expires = h_ts_add_ms(h_mono(), 30000);
	reg_keepalive.handler = keepalive_fail;
	iv_timer_register(&reg_keepalive);
	iv_main();
	CHECK_EQ_LONG(once_calls, 1);
	CHECKF(h_ts_diff_ms(&reg_start, &reg_ran) < 5000.0,
	       "task ran %.0f ms after registration",
	       h_ts_diff_ms(&reg_start, &reg_ran));
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/* Two self-re-registering tasks alternate: A B A B ... */
static struct iv_task alt_a, alt_b;
static int alt_rounds;

static void alt_handler(void *cookie)
{
	struct iv_task *t = cookie;

	note(t == &alt_a ? 'A' : 'B');
	CHECK(!iv_task_registered(t));
	if (nseq < 20)
		iv_task_register(t);
	alt_rounds++;
}

static void self_reregistering_tasks_alternate(void)
{
	int i;

	iv_init();
	IV_TASK_INIT(&alt_a);
	alt_a.cookie = &alt_a;
	alt_a.handler = alt_handler;
	IV_TASK_INIT(&alt_b);
	alt_b.cookie = &alt_b;
	alt_b.handler = alt_handler;
	iv_task_register(&alt_a);
	iv_task_register(&alt_b);
	iv_main();
	CHECKF(nseq >= 20, "only %d task runs: \"%s\"", nseq, seq);
	for (i = 0; i < 20; i++)
		CHECKF(seq[i] == (i % 2 ? 'B' : 'A'),
		       "task sequence \"%s\" is not ABAB...", seq);
	iv_deinit();
}

/*
 * A self-re-registering task does not starve fds: a ready fd is dispatched
 * between the task's rounds, every round.
 */
static struct iv_task hog;
static struct iv_fd starve_fd;
static int hog_runs, fd_runs;

static void hog_handler(void *cookie)
{
	(void)cookie;
	hog_runs++;
	note('T');
	if (fd_runs < 5)
		iv_task_register(&hog);
}

static void starve_in(void *cookie)
{
	(void)cookie;
	fd_runs++;
	note('F');
	if (fd_runs == 5) {
		iv_fd_unregister(&starve_fd);
		h_finish();
	}
}

static void task_does_not_starve_fds(void)
{
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	IV_FD_INIT(&starve_fd);
	starve_fd.fd = p[0];
	starve_fd.handler_in = starve_in;
	iv_fd_register(&starve_fd);
	IV_TASK_INIT(&hog);
	hog.handler = hog_handler;
	iv_task_register(&hog);
	h_deadline_start(5000, "fd callbacks next to a self-re-registering "
			       "task");
	iv_main();
	CHECK_EQ_LONG(fd_runs, 5);
	CHECKF(!strncmp(seq, "TFTFTFTFTF", 10),
	       "task/fd sequence \"%s\", want TFTFTFTFTF...", seq);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/*
 * A task registered during a round, that has not yet run in it, runs in
 * that same round: A's handler registers B; B runs before the loop polls
 * the (ready) fd.
 */
static struct iv_task same_a, same_b;
static struct iv_fd same_fd;

static void same_b_handler(void *cookie)
{
	(void)cookie;
	note('B');
}

static void same_a_handler(void *cookie)
{
	(void)cookie;
	note('A');
	iv_task_register(&same_b);
}

static void same_fd_in(void *cookie)
{
	(void)cookie;
	note('F');
	iv_fd_unregister(&same_fd);
}

static void task_registered_in_round_runs_in_round(void)
{
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	IV_FD_INIT(&same_fd);
	same_fd.fd = p[0];
	same_fd.handler_in = same_fd_in;
	iv_fd_register(&same_fd);
	IV_TASK_INIT(&same_a);
	same_a.handler = same_a_handler;
	IV_TASK_INIT(&same_b);
	same_b.handler = same_b_handler;
	iv_task_register(&same_a);
	iv_main();
	CHECK_STREQ(seq, "ABF");
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/*
 * Tasks registered before the loop runs go in registration order; one
 * registered by an earlier task of the round also runs in the round, after
 * those already queued.  (FIFO order is what ivykis does and what programs
 * see; SPEC 5 does not spell it out.)
 */
static struct iv_task ord_t[4];

static void ord_handler(void *cookie)
{
	int i = (int)(long)cookie;

	note((char)('0' + i));
	if (i == 0)
		iv_task_register(&ord_t[3]);
}

static void task_order_in_round(void)
{
	int i;

	iv_init();
	for (i = 0; i < 4; i++) {
		IV_TASK_INIT(&ord_t[i]);
		ord_t[i].cookie = (void *)(long)i;
		ord_t[i].handler = ord_handler;
	}
	for (i = 0; i < 3; i++)
		iv_task_register(&ord_t[i]);
	iv_main();
	CHECK_STREQ(seq, "0123");
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/* Unregistering before the run prevents the call, also from an earlier
 * task of the same round; the memory may be freed right away. */
static int never_calls;

static void never_handler(void *cookie)
{
	(void)cookie;
	never_calls++;
}

static struct iv_task *killed;

static void killer_task(void *cookie)
{
	(void)cookie;
	CHECK(iv_task_registered(killed));
	iv_task_unregister(killed);
	CHECK(!iv_task_registered(killed));
	h_obj_free(killed, sizeof(*killed));
	killed = NULL;
}

static void unregister_before_run(void)
{
	struct iv_task t;
	struct iv_task killer;

	iv_init();
	IV_TASK_INIT(&t);
	t.handler = never_handler;
	iv_task_register(&t);
	iv_task_unregister(&t);
	CHECK(!iv_task_registered(&t));
	iv_main();
	CHECK_EQ_LONG(never_calls, 0);

	IV_TASK_INIT(&killer);
	killer.handler = killer_task;
	killed = h_obj_alloc(sizeof(*killed));
	IV_TASK_INIT(killed);
	killed->handler = never_handler;
	iv_task_register(&killer);
	iv_task_register(killed);
	iv_main();
	CHECK_EQ_LONG(never_calls, 0);
	iv_deinit();
}

/* ->cookie and ->handler may change after registration. */
static void cookie_handler_change(void)
{
	struct iv_task t;

	iv_init();
	IV_TASK_INIT(&t);
	t.handler = never_handler;
	t.cookie = NULL;
	iv_task_register(&t);
	t.handler = once_handler;
	t.cookie = &once_calls;
	iv_main();
	CHECK_EQ_LONG(never_calls, 0);
	CHECK_EQ_LONG(once_calls, 1);
	iv_deinit();
}

/* A task may free itself from its own handler. */
static int self_free_calls;

static void self_free_handler(void *cookie)
{
	struct iv_task *t = cookie;

	self_free_calls++;
	h_obj_free(t, sizeof(*t));
}

static void task_frees_itself(void)
{
	struct iv_task *t[16];
	int i;

	iv_init();
	for (i = 0; i < 16; i++) {
		t[i] = h_obj_alloc(sizeof(*t[i]));
		IV_TASK_INIT(t[i]);
		t[i]->cookie = t[i];
		t[i]->handler = self_free_handler;
		iv_task_register(t[i]);
	}
	iv_main();
	CHECK_EQ_LONG(self_free_calls, 16);
	iv_deinit();
}

/*
 * A pending task unregistered and registered again by an earlier task of
 * the same round has still not run in this round, so it runs in it (before
 * the fd is polled).
 */
static struct iv_task rr_a, rr_b;
static struct iv_fd rr_fd;

static void rr_b_handler(void *cookie)
{
	(void)cookie;
	note('B');
}

static void rr_a_handler(void *cookie)
{
	(void)cookie;
	note('A');
	iv_task_unregister(&rr_b);
	iv_task_register(&rr_b);
}

static void rr_fd_in(void *cookie)
{
	(void)cookie;
	note('F');
	iv_fd_unregister(&rr_fd);
}

static void pending_task_reregistered_runs_in_round(void)
{
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	IV_FD_INIT(&rr_fd);
	rr_fd.fd = p[0];
	rr_fd.handler_in = rr_fd_in;
	iv_fd_register(&rr_fd);
	IV_TASK_INIT(&rr_a);
	rr_a.handler = rr_a_handler;
	IV_TASK_INIT(&rr_b);
	rr_b.handler = rr_b_handler;
	iv_task_register(&rr_a);
	iv_task_register(&rr_b);
	iv_main();
	CHECK_STREQ(seq, "ABF");
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/*
 * A task registered from a timer callback runs in the same iteration
 * (tasks come after timers), before fds are polled.
 */
static struct iv_task from_timer_task;
static struct iv_fd from_timer_fd;

static void from_timer_task_handler(void *cookie)
{
	(void)cookie;
	note('K');
}

static void from_timer_timer_handler(void *cookie)
{
	(void)cookie;
	note('T');
	iv_task_register(&from_timer_task);
}

static void from_timer_fd_in(void *cookie)
{
	(void)cookie;
	note('F');
	iv_fd_unregister(&from_timer_fd);
}

static void task_from_timer_runs_same_iteration(void)
{
	struct iv_timer t;
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	IV_FD_INIT(&from_timer_fd);
	from_timer_fd.fd = p[0];
	from_timer_fd.handler_in = from_timer_fd_in;
	iv_fd_register(&from_timer_fd);
	IV_TASK_INIT(&from_timer_task);
	from_timer_task.handler = from_timer_task_handler;
	IV_TIMER_INIT(&t);
	t.expires = h_ts_add_ms(h_mono(), -1);
	t.handler = from_timer_timer_handler;
	iv_timer_register(&t);
	iv_main();
	CHECK_STREQ(seq, "TKF");
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/* Many tasks at once (no limit): 100000 tasks, each runs exactly once. */
#define NTASKS 100000

static int *task_runs;

static void counting_handler(void *cookie)
{
	task_runs[(long)cookie]++;
}

static void many_tasks(void)
{
	struct iv_task *t;
	long i;

	iv_init();
	t = calloc(NTASKS, sizeof(*t));
	task_runs = calloc(NTASKS, sizeof(*task_runs));
	CHECK(t != NULL && task_runs != NULL);
	for (i = 0; i < NTASKS; i++) {
		IV_TASK_INIT(&t[i]);
		t[i].cookie = (void *)i;
		t[i].handler = counting_handler;
		iv_task_register(&t[i]);
	}
	/* Unregister every third one. */
	for (i = 0; i < NTASKS; i += 3)
		iv_task_unregister(&t[i]);
	iv_main();
	for (i = 0; i < NTASKS; i++)
		CHECKF(task_runs[i] == (i % 3 ? 1 : 0), "task %ld ran %d times",
		       i, task_runs[i]);
	free(t);
	free(task_runs);
	iv_deinit();
}

int main(void)
{
	RUN(runs_once_after_return);
	RUN(runs_before_loop_sleeps);
	RUN(self_reregistering_tasks_alternate);
	RUN(task_does_not_starve_fds);
	RUN(task_registered_in_round_runs_in_round);
	RUN(task_order_in_round);
	RUN_BOTH(unregister_before_run);
	RUN(cookie_handler_change);
	RUN_BOTH(task_frees_itself);
	RUN(pending_task_reregistered_runs_in_round);
	RUN(task_from_timer_runs_same_iteration);
	RUN(many_tasks);
	return h_done("test_task");
}
