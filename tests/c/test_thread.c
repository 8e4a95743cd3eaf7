/*
 * SPEC 7: iv_thread. iv_thread_create holds a reference on the creator's
 * loop until the thread ends (iv_main does not return before), however the
 * thread ends; thread ids are the OS thread ids; debug messages and the
 * children list go to standard error.
 */
#include "harness.h"

#include <iv_thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static atomic_int finished;

static void sleep_then_finish(void *arg)
{
	usleep((useconds_t)(long)arg);
	atomic_fetch_add(&finished, 1);
}

/* Nothing else is registered: iv_main returns only once the thread ended. */
static void creator_loop_waits_for_thread(void)
{
	iv_init();
	CHECK(iv_thread_create("sleeper", sleep_then_finish, (void *)100000L) == 0);
	iv_main();
	CHECK_EQ_LONG(atomic_load(&finished), 1);
	iv_deinit();
}

static void exit_early(void *arg)
{
	(void)arg;
	atomic_fetch_add(&finished, 1);
	pthread_exit(NULL);
}

static void pthread_exit_counts_as_ending(void)
{
	iv_init();
	CHECK(iv_thread_create("exiter", exit_early, NULL) == 0);
	iv_main();
	CHECK_EQ_LONG(atomic_load(&finished), 1);
	iv_deinit();
}

static void many(void *arg)
{
	usleep((useconds_t)(1000 * ((long)arg % 7)));
	atomic_fetch_add(&finished, 1);
}

static void many_threads_all_joined(void)
{
	long i;

	iv_init();
	for (i = 0; i < 32; i++)
		CHECK(iv_thread_create("many", many, (void *)i) == 0);
	iv_main();
	CHECK_EQ_LONG(atomic_load(&finished), 32);
	iv_deinit();
}

static unsigned long seen_id, seen_id2;
static long seen_tid;

static void report_ids(void *arg)
{
	(void)arg;
	seen_id = iv_thread_get_id();
	seen_id2 = iv_get_thread_id();
	seen_tid = syscall(SYS_gettid);
}

static void thread_ids_are_os_ids(void)
{
	iv_init();
	CHECK_EQ_LONG((long)iv_thread_get_id(), syscall(SYS_gettid));
	CHECK_EQ_LONG((long)iv_get_thread_id(), syscall(SYS_gettid));
	CHECK(iv_thread_create("ids", report_ids, NULL) == 0);
	iv_main();
	CHECK_EQ_LONG((long)seen_id, seen_tid);
	CHECK_EQ_LONG((long)seen_id2, seen_tid);
	CHECK(seen_tid != syscall(SYS_gettid));
	iv_deinit();
}

static struct iv_timer t;

static void quit_nested(void *cookie)
{
	(void)cookie;
	iv_quit();
}

static void child_is_ivykis_thread(void *arg)
{
	(void)arg;
	iv_init();
	IV_TIMER_INIT(&t);
	t.expires = iv_now;
	t.handler = quit_nested;
	iv_timer_register(&t);
	iv_main();
	iv_deinit();
	atomic_fetch_add(&finished, 1);
}

/* The created thread may have its own loop. */
static void created_thread_may_run_a_loop(void)
{
	iv_init();
	CHECK(iv_thread_create("looper", child_is_ivykis_thread, NULL) == 0);
	iv_main();
	CHECK_EQ_LONG(atomic_load(&finished), 1);
	iv_deinit();
}

static char captured[8192];

/* Runs fn with stderr redirected into `captured`. */
static void capture_stderr(void (*fn)(void))
{
	int p[2], saved;
	ssize_t n;
	size_t got = 0;

	h_pipe(p);
	fflush(stderr);
	saved = dup(2);
	dup2(p[1], 2);
	close(p[1]);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	while ((n = read(p[0], captured + got, sizeof(captured) - 1 - got)) > 0)
		got += (size_t)n;
	captured[got] = '\0';
	close(p[0]);
}

static void block_until_listed(void *arg)
{
	(void)arg;
	while (atomic_load(&finished) == 0)
		usleep(1000);
}

static struct iv_timer list_timer;

static void list_then_release(void *cookie)
{
	(void)cookie;
	iv_thread_list_children();
	atomic_store(&finished, 1);
}

static void run_listing(void)
{
	iv_init();
	CHECK(iv_thread_create("listed-child", block_until_listed, NULL) == 0);
	IV_TIMER_INIT(&list_timer);
	list_timer.expires = iv_now;
	list_timer.handler = list_then_release;
	iv_timer_register(&list_timer);
	iv_main();
	iv_deinit();
}

static void list_children_names_live_child(void)
{
	capture_stderr(run_listing);
	CHECKF(strstr(captured, "listed-child") != NULL, "stderr: %s", captured);
}

static void run_debug(void)
{
	iv_thread_set_debug_state(1);
	iv_init();
	CHECK(iv_thread_create("debugged", sleep_then_finish, (void *)1000L) == 0);
	iv_main();
	iv_deinit();
	iv_thread_set_debug_state(0);
}

static int occurrences(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* With debugging on, creation, exit and join each print a message naming
 * the thread; with it off, nothing is printed. */
static void debug_messages(void)
{
	capture_stderr(run_debug);
	CHECKF(occurrences(captured, "debugged") >= 3, "stderr: %s", captured);
	atomic_store(&finished, 0);
	capture_stderr(creator_loop_waits_for_thread);
	CHECKF(captured[0] == '\0', "stderr: %s", captured);
}

int main(void)
{
	RUN(creator_loop_waits_for_thread);
	RUN(pthread_exit_counts_as_ending);
	RUN(many_threads_all_joined);
	RUN(thread_ids_are_os_ids);
	RUN(created_thread_may_run_a_loop);
	RUN(list_children_names_live_child);
	RUN(debug_messages);
	return h_done("test_thread");
}
