/*
 * SPEC 1: iv_main() returns when nothing is registered or after iv_quit()
 * from a callback; a later iv_main() starts with the quit flag cleared;
 * the order of one iteration (timers, tasks, then fds).
 */
#include "harness.h"

#include <pthread.h>

static char seq[64];
static int nseq;

static void note(char c)
{
	if (nseq < (int)sizeof(seq) - 1) {
		seq[nseq++] = c;
		seq[nseq] = '\0';
	}
}

/* Nothing registered: iv_main returns at once (the watchdog catches a
 * hang). */
static void returns_with_nothing_registered(void)
{
	iv_init();
	iv_main();
	iv_main();
	iv_deinit();
}

/* iv_main returns when the last object goes away: a timer that fires, an
 * fd that is unregistered in its callback, a task that runs. */
static void count_handler(void *cookie)
{
	(*(int *)cookie)++;
}

static void unregister_self_in(void *cookie)
{
	iv_fd_unregister(cookie);
}

static void returns_when_last_object_goes(void)
{
	struct iv_timer t;
	struct iv_task task;
	struct iv_fd fd;
	int calls = 0;
	int p[2];

	iv_init();
	IV_TIMER_INIT(&t);
	t.expires = h_ts_add_ms(h_mono(), 10);
	t.cookie = &calls;
	t.handler = count_handler;
	iv_timer_register(&t);
	iv_main();
	CHECK_EQ_LONG(calls, 1);

	IV_TASK_INIT(&task);
	task.cookie = &calls;
	task.handler = count_handler;
	iv_task_register(&task);
	iv_main();
	CHECK_EQ_LONG(calls, 2);

	h_pipe(p);
	h_write_byte(p[1]);
	IV_FD_INIT(&fd);
	fd.fd = p[0];
	fd.cookie = &fd;
	fd.handler_in = unregister_self_in;
	iv_fd_register(&fd);
	iv_main();
	CHECK(!iv_fd_registered(&fd));
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/*
 * iv_quit from a timer makes iv_main return while an fd (never ready) and a
 * far timer remain registered.  The next iv_main runs normally: it must
 * wait for a 30 ms timer (a stale quit flag would return after one
 * iteration).
 */
static struct iv_fd idle_fd;
static struct iv_timer far_timer, quit_timer, end_timer;
static int end_calls, quit_calls;

static void quit_handler(void *cookie)
{
	(void)cookie;
	quit_calls++;
	iv_quit();
}

static void end_handler(void *cookie)
{
	(void)cookie;
	end_calls++;
	iv_fd_unregister(&idle_fd);
	iv_timer_unregister(&far_timer);
}

static void far_handler(void *cookie)
{
	(void)cookie;
	FAIL("far timer fired: iv_main did not return on iv_quit");
}

static void quit_from_timer_then_main_again(void)
{
	int p[2];

	iv_init();
	h_pipe(p);
	IV_FD_INIT(&idle_fd);
	idle_fd.fd = p[0];
	idle_fd.handler_in = count_handler;
	idle_fd.cookie = &end_calls;
	iv_fd_register(&idle_fd);

	IV_TIMER_INIT(&far_timer);
	far_timer.expires = h_ts_add_ms(h_mono(), 20000);
	far_timer.handler = far_handler;
	iv_timer_register(&far_timer);

	IV_TIMER_INIT(&quit_timer);
	quit_timer.expires = h_ts_add_ms(h_mono(), 10);
	quit_timer.handler = quit_handler;
	iv_timer_register(&quit_timer);

	iv_main();
	CHECK_EQ_LONG(quit_calls, 1);
	CHECK(iv_fd_registered(&idle_fd));
	CHECK(iv_timer_registered(&far_timer));

	/* Second run: the quit flag is cleared. */
	IV_TIMER_INIT(&end_timer);
	end_timer.expires = h_ts_add_ms(h_mono(), 30);
	end_timer.handler = end_handler;
	iv_timer_register(&end_timer);
	iv_main();
	CHECKF(end_calls == 1,
	       "second iv_main returned before its timer fired (stale quit "
	       "flag?)");
	CHECK(!iv_fd_registered(&idle_fd));
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/* iv_quit from a task and from an fd callback. */
static struct iv_fd quit_fd;

static void quit_fd_in(void *cookie)
{
	(void)cookie;
	quit_calls++;
	iv_quit();
}

static void quit_from_task_and_fd(void)
{
	struct iv_task task;
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);

	/* A never-firing keep-alive so only iv_quit can end iv_main. */
	IV_TIMER_INIT(&far_timer);
	far_timer.expires = h_ts_add_ms(h_mono(), 20000);
	far_timer.handler = far_handler;
	iv_timer_register(&far_timer);

	IV_TASK_INIT(&task);
	task.handler = quit_handler;
	iv_task_register(&task);
	iv_main();
	CHECK_EQ_LONG(quit_calls, 1);

	IV_FD_INIT(&quit_fd);
	quit_fd.fd = p[0];
	quit_fd.handler_in = quit_fd_in;
	iv_fd_register(&quit_fd);
	iv_main();
	CHECK_EQ_LONG(quit_calls, 2);
	/* Level-triggered: a further run sees the fd again. */
	iv_main();
	CHECK_EQ_LONG(quit_calls, 3);

	iv_fd_unregister(&quit_fd);
	iv_timer_unregister(&far_timer);
	iv_main();
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/*
 * One iteration: due timers, then pending tasks, then fds.  A due timer, a
 * pending task and a ready fd, all set up before iv_main, run as "TKF".
 */
static struct iv_fd order_fd;

static void order_timer(void *cookie)
{
	(void)cookie;
	note('T');
}

static void order_task(void *cookie)
{
	(void)cookie;
	note('K');
}

static void order_fd_in(void *cookie)
{
	(void)cookie;
	note('F');
	iv_fd_unregister(&order_fd);
}

static void iteration_order(void)
{
	struct iv_timer t;
	struct iv_task task;
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	IV_FD_INIT(&order_fd);
	order_fd.fd = p[0];
	order_fd.handler_in = order_fd_in;
	iv_fd_register(&order_fd);

	IV_TASK_INIT(&task);
	task.handler = order_task;
	iv_task_register(&task);

	IV_TIMER_INIT(&t);
	t.expires = h_ts_add_ms(h_mono(), -10);
	t.handler = order_timer;
	iv_timer_register(&t);

	iv_main();
	CHECK_STREQ(seq, "TKF");
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/*
 * iv_quit from a timer callback: the tasks pending in that iteration still
 * run before iv_main returns (step 2 comes before the quit check, step 3).
 */
static struct iv_task pending_task;
static struct iv_timer quitting_timer;

static void pending_task_handler(void *cookie)
{
	(void)cookie;
	note('K');
}

static void quitting_timer_handler(void *cookie)
{
	(void)cookie;
	note('T');
	iv_quit();
}

static void quit_from_timer_runs_pending_tasks(void)
{
	iv_init();
	IV_TIMER_INIT(&far_timer);
	far_timer.expires = h_ts_add_ms(h_mono(), 20000);
	far_timer.handler = far_handler;
	iv_timer_register(&far_timer);

	IV_TASK_INIT(&pending_task);
	pending_task.handler = pending_task_handler;
	IV_TIMER_INIT(&quitting_timer);
	quitting_timer.expires = h_ts_add_ms(h_mono(), -1);
	quitting_timer.handler = quitting_timer_handler;
	iv_timer_register(&quitting_timer);
	iv_task_register(&pending_task);

	iv_main();
	CHECK_STREQ(seq, "TK");
	iv_timer_unregister(&far_timer);
	iv_deinit();
}

/*
 * iv_quit from a task: the other tasks already pending in that round still
 * run before iv_main returns.
 */
static struct iv_task qa, qb;

static void qa_handler(void *cookie)
{
	(void)cookie;
	note('A');
	iv_quit();
}

static void qb_handler(void *cookie)
{
	(void)cookie;
	note('B');
}

static void quit_from_task_finishes_round(void)
{
	iv_init();
	IV_TIMER_INIT(&far_timer);
	far_timer.expires = h_ts_add_ms(h_mono(), 20000);
	far_timer.handler = far_handler;
	iv_timer_register(&far_timer);
	IV_TASK_INIT(&qa);
	qa.handler = qa_handler;
	IV_TASK_INIT(&qb);
	qb.handler = qb_handler;
	iv_task_register(&qa);
	iv_task_register(&qb);
	iv_main();
	CHECK_STREQ(seq, "AB");
	iv_timer_unregister(&far_timer);
	iv_deinit();
}

/*
 * A registered fd alone keeps iv_main running (sleeping without a
 * timeout): another thread writes to the pipe 50 ms later, the handler
 * unregisters the fd, and only then does iv_main return.
 */
static struct iv_fd keep_fd;
static int keep_calls;

static void keep_in(void *cookie)
{
	(void)cookie;
	keep_calls++;
	iv_fd_unregister(&keep_fd);
}

static void *late_writer(void *arg)
{
	usleep(50000);
	h_write_byte(*(int *)arg);
	return NULL;
}

static void fd_alone_keeps_main_running(void)
{
	pthread_t th;
	int p[2];

	iv_init();
	h_pipe(p);
	IV_FD_INIT(&keep_fd);
	keep_fd.fd = p[0];
	keep_fd.handler_in = keep_in;
	iv_fd_register(&keep_fd);
	CHECK(pthread_create(&th, NULL, late_writer, &p[1]) == 0);
	iv_main();
	CHECKF(keep_calls == 1,
	       "iv_main returned while an fd was still registered");
	CHECK(pthread_join(th, NULL) == 0);
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

int main(void)
{
	RUN(returns_with_nothing_registered);
	RUN(returns_when_last_object_goes);
	RUN(quit_from_timer_then_main_again);
	RUN(quit_from_task_and_fd);
	RUN(iteration_order);
	RUN(quit_from_timer_runs_pending_tasks);
	RUN(fd_alone_keeps_main_running);
	RUN(quit_from_task_finishes_round);
	return h_done("test_main_quit");
}
