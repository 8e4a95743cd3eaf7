/*
 * SPEC 1 and 9: per-thread loops, iv_init / iv_inited / iv_deinit,
 * iv_poll_method_name.
 */
#include "harness.h"

#include <pthread.h>

static void init_deinit_cycle(void)
{
	CHECKF(!iv_inited(), "iv_inited() true before iv_init()");
	iv_init();
	CHECKF(iv_inited(), "iv_inited() false after iv_init()");
	iv_deinit();
	CHECKF(!iv_inited(), "iv_inited() still true after iv_deinit()");

	/* A thread may set up its loop again after tearing it down. */
	iv_init();
	CHECKF(iv_inited(), "iv_inited() false after a second iv_init()");
	iv_deinit();
	CHECKF(!iv_inited(), "iv_inited() true after the second iv_deinit()");
}

static void loop_usable_after_reinit_handler(void *cookie)
{
	(*(int *)cookie)++;
}

/* A loop created after an iv_deinit() works: a task registered in it runs. */
static void loop_usable_after_reinit(void)
{
	struct iv_task task;
	int ran = 0;

	iv_init();
	iv_deinit();
	iv_init();

	IV_TASK_INIT(&task);
	task.cookie = &ran;
	task.handler = loop_usable_after_reinit_handler;
	iv_task_register(&task);
	iv_main();
	CHECK_EQ_LONG(ran, 1);

	iv_deinit();
}

static const char *const known_methods[] = {
	"epoll-timerfd", "epoll", "ppoll", "poll",
	"kqueue", "port", "port-timer", "dev_poll",
};

static void poll_method_name(void)
{
	const char *name;
	const char *expect = getenv("IVYKIS_EXPECT_METHOD");
	size_t i;
	int known = 0;

	iv_init();
	name = iv_poll_method_name();
	CHECKF(name != NULL, "iv_poll_method_name() returned NULL");
	CHECKF(*name != '\0', "iv_poll_method_name() returned \"\"");

	for (i = 0; i < sizeof(known_methods) / sizeof(known_methods[0]); i++)
		if (!strcmp(name, known_methods[i]))
			known = 1;
	CHECKF(known, "unknown poll method name \"%s\"", name);

	if (expect != NULL && *expect != '\0')
		CHECK_STREQ(name, expect);

	/* The same name on every call. */
	CHECK_STREQ(iv_poll_method_name(), name);
	iv_deinit();
}

/*
 * IV_EXCLUDE_POLL_METHOD is honoured: whatever method the environment made
 * the library pick is not in the exclusion list.
 */
static void poll_method_not_excluded(void)
{
	const char *excl = getenv("IV_EXCLUDE_POLL_METHOD");
	char *copy;
	char *tok;
	char *save = NULL;
	const char *name;

	iv_init();
	name = iv_poll_method_name();
	CHECK(name != NULL);
	if (excl != NULL) {
		copy = strdup(excl);
		CHECK(copy != NULL);
		for (tok = strtok_r(copy, " ", &save); tok != NULL;
		     tok = strtok_r(NULL, " ", &save))
			CHECKF(strcmp(tok, name),
			       "method \"%s\" chosen although "
			       "IV_EXCLUDE_POLL_METHOD=\"%s\"",
			       name, excl);
		free(copy);
	}
	iv_deinit();
}

/*
 * IV_EXCLUDE_POLL_METHOD is honoured only when the real and effective user
 * ids are the same (SPEC 9).  Needs root: with real uid "nobody" and
 * effective uid 0, excluding both epoll methods must have no effect.
 */
static void exclude_ignored_when_uids_differ(void)
{
	const char *name;

	if (geteuid() != 0) {
		printf("     (skipped: needs root)\n");
		return;
	}
	setenv("IV_EXCLUDE_POLL_METHOD", "epoll-timerfd epoll", 1);
	if (setresuid(65534, 0, 0) < 0)
		FAIL("setresuid: %s", strerror(errno));
	CHECK(getuid() != geteuid());
	iv_init();
	name = iv_poll_method_name();
	CHECK(name != NULL);
	CHECKF(!strncmp(name, "epoll", 5),
	       "method \"%s\": IV_EXCLUDE_POLL_METHOD was honoured although "
	       "real uid %d != effective uid %d",
	       name, (int)getuid(), (int)geteuid());
	iv_deinit();
}

/* The control: with equal ids the same exclusion does take effect. */
static void exclude_honoured_when_uids_equal(void)
{
	const char *name;

	setenv("IV_EXCLUDE_POLL_METHOD", "epoll-timerfd epoll", 1);
	iv_init();
	name = iv_poll_method_name();
	CHECK(name != NULL);
	CHECKF(strncmp(name, "epoll", 5),
	       "method \"%s\" although IV_EXCLUDE_POLL_METHOD excludes it",
	       name);
	iv_deinit();
}

struct thread_result {
	int inited_at_start;
	int inited_after_init;
	int inited_after_deinit;
	int timer_fired;
	const struct timespec *now_location;
	const char *method;
};

static void thread_timer_handler(void *cookie)
{
	struct thread_result *r = cookie;

	r->timer_fired++;
}

static void *thread_body(void *arg)
{
	struct thread_result *r = arg;
	struct iv_timer timer;

	r->inited_at_start = iv_inited();
	iv_init();
	r->inited_after_init = iv_inited();
	r->method = iv_poll_method_name();
	r->now_location = &iv_now;

	IV_TIMER_INIT(&timer);
	timer.expires = h_ts_add_ms(iv_now, 20);
	timer.cookie = r;
	timer.handler = thread_timer_handler;
	iv_timer_register(&timer);
	iv_main();

	iv_deinit();
	r->inited_after_deinit = iv_inited();
	return NULL;
}

/*
 * A fresh thread has no loop even while the creating thread has one; each
 * thread gets its own loop and runs its own timers; the poll method is
 * process-wide.
 */
static void per_thread_loops(void)
{
	pthread_t th[2];
	struct thread_result res[2];
	int i;

	iv_init();
	CHECK(iv_inited());
	memset(res, 0, sizeof(res));

	for (i = 0; i < 2; i++)
		CHECK(pthread_create(&th[i], NULL, thread_body, &res[i]) == 0);
	for (i = 0; i < 2; i++)
		CHECK(pthread_join(th[i], NULL) == 0);

	for (i = 0; i < 2; i++) {
		CHECKF(!res[i].inited_at_start,
		       "iv_inited() true in a fresh pthread");
		CHECKF(res[i].inited_after_init,
		       "iv_inited() false after iv_init() in a thread");
		CHECKF(!res[i].inited_after_deinit,
		       "iv_inited() true after iv_deinit() in a thread");
		CHECK_EQ_LONG(res[i].timer_fired, 1);
		CHECK_STREQ(res[i].method, iv_poll_method_name());
	}
	CHECKF(res[0].now_location != res[1].now_location,
	       "two threads share one cached-time location");
	CHECKF(res[0].now_location != &iv_now,
	       "a thread shares the main thread's cached-time location");

	/* The main thread's loop is untouched by the threads' deinit. */
	CHECK(iv_inited());
	iv_deinit();
	CHECK(!iv_inited());
}

struct shared_reader {
	struct iv_fd fd;
	int os_fd;
	int count;
};

static void shared_reader_in(void *cookie)
{
	struct shared_reader *r = cookie;
	char c;

	if (read(r->fd.fd, &c, 1) == 1)
		r->count++;
	if (r->count == 3)
		iv_fd_unregister(&r->fd);
}

static void *shared_reader_thread(void *arg)
{
	struct shared_reader *r = arg;

	iv_init();
	IV_FD_INIT(&r->fd);
	r->fd.fd = r->os_fd;
	r->fd.cookie = r;
	r->fd.handler_in = shared_reader_in;
	iv_fd_register(&r->fd);
	iv_main();
	iv_deinit();
	return NULL;
}

/*
 * The same OS descriptor may be registered in several threads through
 * different struct iv_fds (SPEC 2); each thread's loop runs on its own.
 * Six bytes go through one pipe; each reader stops after three, so both
 * loops must have been woken.
 */
static void same_os_fd_in_two_threads(void)
{
	struct shared_reader rd[2];
	pthread_t th[2];
	int p[2];
	int i;

	iv_init();
	h_pipe(p);
	memset(rd, 0, sizeof(rd));
	for (i = 0; i < 2; i++) {
		rd[i].os_fd = p[0];
		CHECK(pthread_create(&th[i], NULL, shared_reader_thread,
				     &rd[i]) == 0);
	}
	for (i = 0; i < 6; i++) {
		h_write_byte(p[1]);
		usleep(2000);
	}
	for (i = 0; i < 2; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	CHECK_EQ_LONG(rd[0].count, 3);
	CHECK_EQ_LONG(rd[1].count, 3);
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

int main(void)
{
	RUN(init_deinit_cycle);
	RUN(loop_usable_after_reinit);
	RUN(poll_method_name);
	RUN(poll_method_not_excluded);
	RUN(exclude_ignored_when_uids_differ);
	RUN(exclude_honoured_when_uids_equal);
	RUN(per_thread_loops);
	RUN(same_os_fd_in_two_threads);
	return h_done("test_init");
}
