/*
 * SPEC 6: iv_event_raw -- posts from the same thread, another thread, a
 * signal handler and a forked child all reach the handler in the
 * registering thread; posts before the handler runs coalesce, a post made
 * while it runs gives another call; unregister and free from the handler;
 * a register that finds no descriptor left returns -1 and leaves the loop
 * working; unregistering twice is fatal; no descriptor leaks. Debian's
 * ivykis 0.42.4 passes every subtest.
 */
#include <pthread.h>
#include <sys/syscall.h>

#include <iv_event_raw.h>

#include "harness.h"

static pid_t h_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static struct iv_event_raw ev;
static int calls;
static pid_t handler_tid;

/* ------------------------------------------------------------------ */

static void count_and_unregister(void *cookie)
{
	CHECK(cookie == &calls);
	calls++;
	handler_tid = h_gettid();
	iv_event_raw_unregister(&ev);
}

static void init_ev(void (*handler)(void *))
{
	IV_EVENT_RAW_INIT(&ev);
	ev.cookie = &calls;
	ev.handler = handler;
	calls = 0;
	CHECK_EQ_LONG(iv_event_raw_register(&ev), 0);
}

/* Three posts before the loop runs: one call, in this thread; not inside
 * iv_event_raw_post. The object keeps iv_main running until unregistered. */
static void cancel_deadline_then_count(void *cookie);

static void posts_coalesce(void)
{
	iv_init();
	init_ev(cancel_deadline_then_count);
	iv_event_raw_post(&ev);
	iv_event_raw_post(&ev);
	iv_event_raw_post(&ev);
	CHECK_EQ_LONG(calls, 0);
	h_deadline_start(5000, "the posted handler");
	iv_main(); /* returns once the handler unregistered the event and
		    * cancelled the deadline */
	CHECK_EQ_LONG(calls, 1);
	CHECK(handler_tid == h_gettid());
	iv_deinit();
}

static void cancel_deadline_then_count(void *cookie)
{
	count_and_unregister(cookie);
	h_deadline_cancel();
}

/* A registered event keeps iv_main running once the timer that posts to it
 * has fired, until the post reaches the handler. */
static struct iv_timer post_timer;

static void post_from_timer(void *cookie)
{
	(void)cookie;
	iv_event_raw_post(&ev);
}

static void keeps_loop_alive_until_posted(void)
{
	iv_init();
	init_ev(cancel_deadline_then_count);
	IV_TIMER_INIT(&post_timer);
	post_timer.expires = h_ts_add_ms(h_mono(), 50);
	post_timer.handler = post_from_timer;
	iv_timer_register(&post_timer);
	h_deadline_start(5000, "the handler after the timer's post");
	iv_main();
	CHECK_EQ_LONG(calls, 1);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/* A post made while the handler runs gives one more call afterwards. */
static void repost_handler(void *cookie)
{
	(void)cookie;
	calls++;
	if (calls == 1) {
		iv_event_raw_post(&ev);
		iv_event_raw_post(&ev);
	} else {
		iv_event_raw_unregister(&ev);
		h_deadline_cancel();
	}
}

static void post_during_handler_runs_again(void)
{
	iv_init();
	init_ev(repost_handler);
	iv_event_raw_post(&ev);
	h_deadline_start(5000, "the second call");
	iv_main();
	CHECK_EQ_LONG(calls, 2);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

static void *poster_thread(void *arg)
{
	(void)arg;
	usleep(20000);
	iv_event_raw_post(&ev);
	return NULL;
}

static void post_from_other_thread(void)
{
	pthread_t thr;

	iv_init();
	init_ev(cancel_deadline_then_count);
	h_deadline_start(5000, "the handler after another thread's post");
	CHECK(pthread_create(&thr, NULL, poster_thread, NULL) == 0);
	iv_main();
	CHECK(pthread_join(thr, NULL) == 0);
	CHECK_EQ_LONG(calls, 1);
	CHECK(handler_tid == h_gettid());
	iv_deinit();
}

/* ------------------------------------------------------------------ */

static void post_in_sighandler(int signum)
{
	(void)signum;
	errno = 12345;
	iv_event_raw_post(&ev);
	if (errno != 12345)
		_exit(7); /* post clobbered errno */
}

static pthread_t loop_thread;

static void *kill_loop_thread(void *arg)
{
	(void)arg;
	usleep(20000);
	pthread_kill(loop_thread, SIGUSR1);
	return NULL;
}

/* The signal arrives while the loop sleeps in the kernel; the program's own
 * handler posts. */
static void post_from_signal_handler(void)
{
	struct sigaction sa;
	pthread_t thr;

	iv_init();
	init_ev(cancel_deadline_then_count);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = post_in_sighandler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	SYSCHECK(sigaction(SIGUSR1, &sa, NULL));
	loop_thread = pthread_self();
	h_deadline_start(5000, "the handler after a post from a signal handler");
	CHECK(pthread_create(&thr, NULL, kill_loop_thread, NULL) == 0);
	iv_main();
	CHECK(pthread_join(thr, NULL) == 0);
	CHECK_EQ_LONG(calls, 1);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/* The child shares the descriptor: its post wakes the parent. */
static void post_from_forked_child(void)
{
	pid_t pid;
	int status;

	iv_init();
	init_ev(cancel_deadline_then_count);
	h_deadline_start(5000, "the handler after a forked child's post");
	pid = fork();
	SYSCHECK(pid);
	if (pid == 0) {
		usleep(20000);
		iv_event_raw_post(&ev);
		_exit(0);
	}
	iv_main();
	CHECK_EQ_LONG(calls, 1);
	SYSCHECK(waitpid(pid, &status, 0));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

/* The handler unregisters and frees its own object, while another object
 * posted in the same iteration still runs. */
static struct iv_event_raw *heap_ev;
static struct iv_event_raw other_ev;
static int other_calls;

static void free_self(void *cookie)
{
	CHECK(cookie == &calls);
	calls++;
	iv_event_raw_unregister(heap_ev);
	h_obj_free(heap_ev, sizeof(*heap_ev));
	heap_ev = NULL;
}

static void other_handler(void *cookie)
{
	(void)cookie;
	other_calls++;
	iv_event_raw_unregister(&other_ev);
}

static void deadline_ender(unsigned long tick)
{
	(void)tick;
	if (calls == 1 && other_calls == 1)
		h_finish();
}

static void unregister_and_free_in_handler_run(void)
{
	iv_init();
	heap_ev = h_obj_alloc(sizeof(*heap_ev));
	IV_EVENT_RAW_INIT(heap_ev);
	heap_ev->cookie = &calls;
	heap_ev->handler = free_self;
	CHECK_EQ_LONG(iv_event_raw_register(heap_ev), 0);
	IV_EVENT_RAW_INIT(&other_ev);
	other_ev.handler = other_handler;
	CHECK_EQ_LONG(iv_event_raw_register(&other_ev), 0);
	calls = other_calls = 0;
	iv_event_raw_post(heap_ev);
	iv_event_raw_post(&other_ev);
	h_deadline_start(5000, "both handlers");
	h_tick_hook = deadline_ender;
	h_ticker_start();
	iv_main();
	CHECK_EQ_LONG(calls, 1);
	CHECK_EQ_LONG(other_calls, 1);
	CHECK(heap_ev == NULL);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

static int count_open_fds(void)
{
	int n = 0;
	int fd;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* Register/unregister many times: no descriptor left behind; the read end
 * is non-blocking and close-on-exec. */
static void no_descriptor_leak(void)
{
	int before, i;

	iv_init();
	before = count_open_fds();
	for (i = 0; i < 500; i++) {
		IV_EVENT_RAW_INIT(&ev);
		ev.handler = count_and_unregister;
		CHECK_EQ_LONG(iv_event_raw_register(&ev), 0);
		if (i == 0) {
			CHECK(h_fd_flags(ev.event_rfd.fd) & O_NONBLOCK);
			CHECK(h_fd_fdflags(ev.event_rfd.fd) & FD_CLOEXEC);
		}
		iv_event_raw_post(&ev);
		iv_event_raw_unregister(&ev);
	}
	CHECK_EQ_LONG(count_open_fds(), before);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

static struct iv_timer emfile_timer;
static int emfile_timer_fired;

static void emfile_timer_handler(void *cookie)
{
	(void)cookie;
	emfile_timer_fired = 1;
}

/* With no descriptor left, register returns -1 (errno EMFILE) and leaves
 * nothing registered: the loop still works and ends when its timer is gone.
 * With the limit back up, registering works. */
static void register_fails_at_emfile(void)
{
	struct rlimit old, tight;
	int fd;

	iv_init();
	SYSCHECK(getrlimit(RLIMIT_NOFILE, &old));
	/* The lowest free descriptor number becomes the limit: nothing more
	 * can be opened. */
	fd = dup(0);
	SYSCHECK(fd);
	close(fd);
	tight = old;
	tight.rlim_cur = (rlim_t)fd;
	SYSCHECK(setrlimit(RLIMIT_NOFILE, &tight));

	IV_EVENT_RAW_INIT(&ev);
	ev.handler = count_and_unregister;
	errno = 0;
	CHECK_EQ_LONG(iv_event_raw_register(&ev), -1);
	CHECK_EQ_LONG(errno, EMFILE);

	IV_TIMER_INIT(&emfile_timer);
	emfile_timer.expires = h_ts_add_ms(h_mono(), 10);
	emfile_timer.handler = emfile_timer_handler;
	iv_timer_register(&emfile_timer);
	iv_main(); /* must return: the failed event keeps nothing alive */
	CHECK(emfile_timer_fired);

	SYSCHECK(setrlimit(RLIMIT_NOFILE, &old));
	init_ev(count_and_unregister);
	iv_event_raw_post(&ev);
	iv_main();
	CHECK_EQ_LONG(calls, 1);
	iv_deinit();
}

/* ------------------------------------------------------------------ */

static void unregister_twice_child(void *arg)
{
	(void)arg;
	iv_init();
	IV_EVENT_RAW_INIT(&ev);
	ev.handler = count_and_unregister;
	CHECK_EQ_LONG(iv_event_raw_register(&ev), 0);
	iv_event_raw_unregister(&ev);
	iv_event_raw_unregister(&ev);
}

static void unregister_twice_is_fatal(void)
{
	struct h_child_result res;

	h_fork_fatal(unregister_twice_child, NULL, 1, &res);
	CHECK_FATAL(&res, "unregister");
}

int main(void)
{
	RUN(posts_coalesce);
	RUN(keeps_loop_alive_until_posted);
	RUN(post_during_handler_runs_again);
	RUN(post_from_other_thread);
	RUN(post_from_signal_handler);
	RUN(post_from_forked_child);
	RUN_BOTH(unregister_and_free_in_handler_run);
	RUN(no_descriptor_leak);
	RUN(register_fails_at_emfile);
	RUN(unregister_twice_is_fatal);
	return h_done("test_event_raw");
}
