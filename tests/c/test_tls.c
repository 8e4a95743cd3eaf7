/*
 * SPEC 7: iv_tls_user.  A user registered before the first iv_init() gets
 * ->sizeof_state zeroed bytes in every thread with a loop; init_thread runs
 * at the end of iv_init(), deinit_thread at the start of iv_deinit() or when
 * a thread ends without calling it; iv_tls_user_ptr() is NULL without a
 * loop.
 *
 * Registration is allowed only before the process's first iv_init(), and
 * every subtest runs in a fresh forked child, so each one registers its own
 * users first.
 */
#include "harness.h"

#include <dirent.h>
#include <pthread.h>
#include <iv_tls.h>

#define STATE_SIZE 40

/* What the hooks saw; one record per hook call, in call order. */
struct hook_call {
	char which;		/* 'i' init, 'd' deinit */
	char user;		/* 'a' or 'b' */
	void *st;
	void *ptr_in_hook;	/* iv_tls_user_ptr() of the same user */
	int inited;		/* iv_inited() */
	int zeroed;		/* init: the area was all zero */
	int value;		/* deinit: first int of the area */
	pthread_t thread;
};

static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hook_call calls[64];
static int ncalls;

static struct iv_tls_user user_a;
static struct iv_tls_user user_b;

static void record(char which, char user, struct iv_tls_user *tu, void *st)
{
	struct hook_call c;
	size_t i;

	memset(&c, 0, sizeof(c));
	c.which = which;
	c.user = user;
	c.st = st;
	c.ptr_in_hook = iv_tls_user_ptr(tu);
	c.inited = iv_inited();
	c.zeroed = 1;
	for (i = 0; i < tu->sizeof_state; i++)
		if (((unsigned char *)st)[i] != 0)
			c.zeroed = 0;
	c.value = *(int *)st;
	c.thread = pthread_self();

	pthread_mutex_lock(&calls_lock);
	if (ncalls < (int)(sizeof(calls) / sizeof(calls[0])))
		calls[ncalls] = c;
	ncalls++;
	pthread_mutex_unlock(&calls_lock);
}

static int count_calls(char which, char user)
{
	int i;
	int n = 0;

	pthread_mutex_lock(&calls_lock);
	for (i = 0; i < ncalls; i++)
		if (calls[i].which == which && calls[i].user == user)
			n++;
	pthread_mutex_unlock(&calls_lock);
	return n;
}

/* The last call of that kind, or NULL. */
static struct hook_call *last_call(char which, char user)
{
	int i;

	for (i = ncalls - 1; i >= 0; i--)
		if (calls[i].which == which && calls[i].user == user)
			return &calls[i];
	return NULL;
}

/* Init hooks store a marker, which deinit hooks then read back. */
static void init_a(void *st)
{
	record('i', 'a', &user_a, st);
	*(int *)st = 0x1234;
}

static void deinit_a(void *st)
{
	record('d', 'a', &user_a, st);
}

static void init_b(void *st)
{
	record('i', 'b', &user_b, st);
	*(int *)st = 0x5678;
}

static void deinit_b(void *st)
{
	record('d', 'b', &user_b, st);
}

static void register_a(void)
{
	user_a.sizeof_state = STATE_SIZE;
	user_a.init_thread = init_a;
	user_a.deinit_thread = deinit_a;
	iv_tls_user_register(&user_a);
}

static void register_b(void)
{
	user_b.sizeof_state = 3;
	user_b.init_thread = init_b;
	user_b.deinit_thread = deinit_b;
	iv_tls_user_register(&user_b);
}

/* ------------------------------------------------------------------ */

static void *ptr_in_thread_without_loop(void *arg)
{
	(void)arg;
	return iv_tls_user_ptr(&user_a);
}

/* NULL before iv_init, after iv_deinit, and in another thread without a
 * loop while this one has one. */
static void ptr_null_without_loop(void)
{
	pthread_t th;
	void *other = (void *)1;

	register_a();
	CHECK(iv_tls_user_ptr(&user_a) == NULL);
	iv_init();
	CHECK(iv_tls_user_ptr(&user_a) != NULL);
	CHECK(pthread_create(&th, NULL, ptr_in_thread_without_loop, NULL) == 0);
	CHECK(pthread_join(th, &other) == 0);
	CHECKF(other == NULL, "iv_tls_user_ptr() = %p in a thread without a "
	       "loop", other);
	iv_deinit();
	CHECK(iv_tls_user_ptr(&user_a) == NULL);
}

/* init_thread runs once, at the end of iv_init: the loop exists, the area
 * is zeroed and aligned, and it is what iv_tls_user_ptr returns. */
static void init_hook_at_end_of_init(void)
{
	struct hook_call *c;
	void *ptr;

	register_a();
	CHECK_EQ_LONG(ncalls, 0);
	iv_init();
	CHECK_EQ_LONG(count_calls('i', 'a'), 1);
	CHECK_EQ_LONG(count_calls('d', 'a'), 0);
	c = last_call('i', 'a');
	CHECKF(c->inited, "iv_inited() false inside init_thread");
	CHECKF(c->zeroed, "the state area is not zeroed in init_thread");
	CHECK(c->st != NULL);
	CHECKF(c->ptr_in_hook == c->st, "iv_tls_user_ptr() = %p inside "
	       "init_thread, which got %p", c->ptr_in_hook, c->st);
	CHECKF((uintptr_t)c->st % 16 == 0, "area %p not 16-byte aligned",
	       c->st);
	ptr = iv_tls_user_ptr(&user_a);
	CHECK(ptr == c->st);
	/* The hook's write is there, and every byte is writable. */
	CHECK_EQ_LONG(*(int *)ptr, 0x1234);
	memset(ptr, 0xff, STATE_SIZE);
	iv_deinit();
}

/* Two users get disjoint areas, both zeroed; hooks run in registration
 * order at init. */
static void two_users_distinct_areas(void)
{
	char *a;
	char *b;
	int i;
	int first_a = -1;
	int first_b = -1;

	register_a();
	register_b();
	iv_init();
	a = iv_tls_user_ptr(&user_a);
	b = iv_tls_user_ptr(&user_b);
	CHECK(a != NULL && b != NULL);
	CHECKF(a + STATE_SIZE <= b || b + 3 <= a,
	       "areas overlap: a=%p (%d bytes), b=%p (3 bytes)", (void *)a,
	       STATE_SIZE, (void *)b);
	CHECK(last_call('i', 'a')->zeroed);
	CHECK(last_call('i', 'b')->zeroed);
	CHECK(last_call('i', 'b')->st == b);
	for (i = 0; i < ncalls; i++) {
		if (calls[i].user == 'a' && first_a < 0)
			first_a = i;
		if (calls[i].user == 'b' && first_b < 0)
			first_b = i;
	}
	CHECKF(first_a < first_b, "init hooks not in registration order");
	CHECK_EQ_LONG(*(int *)a, 0x1234);
	CHECK_EQ_LONG(*(int *)b, 0x5678);
	iv_deinit();
	CHECK_EQ_LONG(count_calls('d', 'a'), 1);
	CHECK_EQ_LONG(count_calls('d', 'b'), 1);
}

/* A user without hooks still gets its area. */
static void user_without_hooks(void)
{
	static struct iv_tls_user bare;
	unsigned char *p;
	int i;

	bare.sizeof_state = 100;
	iv_tls_user_register(&bare);
	iv_init();
	p = iv_tls_user_ptr(&bare);
	CHECK(p != NULL);
	for (i = 0; i < 100; i++)
		CHECK_EQ_LONG(p[i], 0);
	memset(p, 1, 100);
	iv_deinit();
	CHECK(iv_tls_user_ptr(&bare) == NULL);
}

/* Every iv_init starts from a zeroed area, also after an earlier loop of
 * the same thread wrote to its own. */
static void zeroed_again_after_reinit(void)
{
	register_a();
	iv_init();
	memset(iv_tls_user_ptr(&user_a), 0xab, STATE_SIZE);
	iv_deinit();
	iv_init();
	CHECK_EQ_LONG(count_calls('i', 'a'), 2);
	CHECKF(last_call('i', 'a')->zeroed,
	       "second iv_init: area not zeroed");
	iv_deinit();
	CHECK_EQ_LONG(count_calls('d', 'a'), 2);
}

/* deinit_thread runs once, at the start of iv_deinit: the loop still
 * exists, the area still holds what init_thread stored, and it is what
 * iv_tls_user_ptr returns. */
static void deinit_hook_at_start_of_deinit(void)
{
	struct hook_call *c;
	void *area;

	register_a();
	iv_init();
	area = iv_tls_user_ptr(&user_a);
	CHECK_EQ_LONG(count_calls('d', 'a'), 0);
	iv_deinit();
	CHECK_EQ_LONG(count_calls('d', 'a'), 1);
	c = last_call('d', 'a');
	CHECK(c->st == area);
	CHECKF(c->inited, "iv_inited() false inside deinit_thread");
	CHECKF(c->ptr_in_hook == area, "iv_tls_user_ptr() = %p inside "
	       "deinit_thread, expected %p", c->ptr_in_hook, area);
	CHECK_EQ_LONG(c->value, 0x1234);
	CHECK(pthread_equal(c->thread, pthread_self()));
}

/* The hooks may use the loop: init_thread registers a timer and a task,
 * the task runs in iv_main, deinit_thread unregisters the timer. */
struct api_state {
	struct iv_timer timer;
	struct iv_task task;
	int task_ran;
};

/* What api_deinit found; the area is gone once iv_deinit returns. */
static int api_timer_was_registered = -1;

static struct iv_tls_user user_api;

static void api_task(void *cookie)
{
	struct api_state *s = cookie;

	s->task_ran++;
	iv_quit();
}

static void api_timer(void *cookie)
{
	(void)cookie;
	FAIL("the timer of init_thread expired");
}

static void api_init(void *st)
{
	struct api_state *s = st;

	IV_TIMER_INIT(&s->timer);
	iv_validate_now();
	s->timer.expires = iv_now;
	s->timer.expires.tv_sec += 3600;
	s->timer.handler = api_timer;
	iv_timer_register(&s->timer);

	IV_TASK_INIT(&s->task);
	s->task.cookie = s;
	s->task.handler = api_task;
	iv_task_register(&s->task);
}

static void api_deinit(void *st)
{
	struct api_state *s = st;

	api_timer_was_registered = iv_timer_registered(&s->timer);
	iv_timer_unregister(&s->timer);
	record('d', 'a', &user_api, st);
}

static void hooks_may_use_the_loop(void)
{
	struct api_state *s;

	user_api.sizeof_state = sizeof(struct api_state);
	user_api.init_thread = api_init;
	user_api.deinit_thread = api_deinit;
	iv_tls_user_register(&user_api);

	iv_init();
	s = iv_tls_user_ptr(&user_api);
	CHECK(s != NULL);
	CHECK(iv_timer_registered(&s->timer));
	iv_main();
	CHECK_EQ_LONG(s->task_ran, 1);
	iv_deinit();
	CHECK_EQ_LONG(count_calls('d', 'a'), 1);
	CHECKF(api_timer_was_registered == 1,
	       "deinit_thread: the timer registered by init_thread is no "
	       "longer registered (%d)", api_timer_was_registered);
	CHECKF(last_call('d', 'a')->inited,
	       "iv_inited() false inside deinit_thread");
}

/* ------------------------------------------------------------------ */
/* Thread exit                                                         */
/* ------------------------------------------------------------------ */

static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		FAIL("opendir(/proc/self/fd): %s", strerror(errno));
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

struct exit_thread_arg {
	int how;		/* 0 return, 1 pthread_exit, 2 deinit first */
	void *area;
};

static void *exit_thread(void *p)
{
	struct exit_thread_arg *arg = p;

	iv_init();
	arg->area = iv_tls_user_ptr(&user_a);
	*(int *)arg->area = 99;
	if (arg->how == 1)
		pthread_exit(NULL);
	if (arg->how == 2)
		iv_deinit();
	return NULL;
}

static struct hook_call *run_exit_thread(int how, void **area)
{
	struct exit_thread_arg arg;
	pthread_t th;
	struct hook_call *c;

	arg.how = how;
	arg.area = NULL;
	CHECK(pthread_create(&th, NULL, exit_thread, &arg) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(arg.area != NULL);
	*area = arg.area;
	c = last_call('d', 'a');
	CHECK(c != NULL);
	CHECK(pthread_equal(c->thread, th));
	return c;
}

/* A thread that calls iv_init and returns without iv_deinit gets its
 * deinit_thread call, in that thread, with its area and the loop still
 * there; and its loop is freed (no descriptor left open). */
static void deinit_hook_at_thread_return(void)
{
	struct hook_call *c;
	void *area;
	int before;
	int i;

	register_a();
	before = count_open_fds();
	c = run_exit_thread(0, &area);
	CHECK_EQ_LONG(count_calls('i', 'a'), 1);
	CHECK_EQ_LONG(count_calls('d', 'a'), 1);
	CHECK(c->st == area);
	CHECK_EQ_LONG(c->value, 99);
	CHECKF(c->ptr_in_hook == area, "iv_tls_user_ptr() = %p in "
	       "deinit_thread at thread exit, expected %p", c->ptr_in_hook,
	       area);
	CHECKF(c->inited, "iv_inited() false in deinit_thread at thread exit");

	for (i = 0; i < 4; i++)
		run_exit_thread(0, &area);
	CHECK_EQ_LONG(count_calls('d', 'a'), 5);
	CHECKF(count_open_fds() == before,
	       "%d descriptors open after 5 threads ended with a loop, %d "
	       "before", count_open_fds(), before);
}

static void deinit_hook_at_pthread_exit(void)
{
	struct hook_call *c;
	void *area;

	register_a();
	c = run_exit_thread(1, &area);
	CHECK_EQ_LONG(count_calls('d', 'a'), 1);
	CHECK(c->st == area);
	CHECK_EQ_LONG(c->value, 99);
}

/* A thread that did call iv_deinit gets no second call when it ends. */
static void no_second_deinit_at_thread_exit(void)
{
	void *area;

	register_a();
	run_exit_thread(2, &area);
	CHECK_EQ_LONG(count_calls('i', 'a'), 1);
	CHECK_EQ_LONG(count_calls('d', 'a'), 1);
}

/* Several threads set up loops at once, after the first iv_init: each
 * gets its own zeroed area and both hooks. */
#define NTHREADS 8

static pthread_barrier_t start_barrier;

static void *concurrent_thread(void *arg)
{
	void **area = arg;

	pthread_barrier_wait(&start_barrier);
	iv_init();
	*area = iv_tls_user_ptr(&user_a);
	if (*area != NULL)
		memset(*area, 0x77, STATE_SIZE);
	pthread_barrier_wait(&start_barrier);
	iv_deinit();
	return NULL;
}

static void concurrent_inits(void)
{
	pthread_t th[NTHREADS];
	void *areas[NTHREADS];
	int i;
	int j;

	register_a();
	/* The first iv_init of the process races with nothing. */
	iv_init();
	CHECK(pthread_barrier_init(&start_barrier, NULL, NTHREADS) == 0);
	for (i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&th[i], NULL, concurrent_thread,
				     &areas[i]) == 0);
	for (i = 0; i < NTHREADS; i++)
		CHECK(pthread_join(th[i], NULL) == 0);
	CHECK_EQ_LONG(count_calls('i', 'a'), NTHREADS + 1);
	CHECK_EQ_LONG(count_calls('d', 'a'), NTHREADS);
	for (i = 0; i < ncalls; i++)
		if (calls[i].which == 'i')
			CHECKF(calls[i].zeroed, "init call %d: not zeroed", i);
	for (i = 0; i < NTHREADS; i++) {
		CHECK(areas[i] != NULL);
		for (j = 0; j < i; j++)
			CHECK(areas[i] != areas[j]);
	}
	iv_deinit();
}

/*
 * The main thread ends the process with exit() and no iv_deinit, while
 * another thread is in iv_main and a third is in the middle of ending (its
 * deinit_thread hook still running).  The process must exit, with status 0,
 * promptly, and the main thread's deinit_thread must not run (exit() is not
 * a thread exit).
 */
static int exit_pipe[2];

static void busy_timer_handler(void *cookie)
{
	struct iv_timer *t = cookie;

	CHECK(iv_tls_user_ptr(&user_a) != NULL);
	iv_validate_now();
	t->expires = iv_now;
	t->expires.tv_nsec += 1000000;
	if (t->expires.tv_nsec >= 1000000000) {
		t->expires.tv_sec++;
		t->expires.tv_nsec -= 1000000000;
	}
	iv_timer_register(t);
}

static void *busy_loop_thread(void *arg)
{
	struct iv_timer t;

	(void)arg;
	iv_init();
	IV_TIMER_INIT(&t);
	t.cookie = &t;
	t.handler = busy_timer_handler;
	iv_validate_now();
	t.expires = iv_now;
	iv_timer_register(&t);
	h_write_byte(exit_pipe[1]);
	iv_main();
	return NULL;
}

static pthread_t main_thread;
static struct iv_tls_user user_slow;

/* Registered after user_a, so it runs after main_deinit_marker. */
static void slow_deinit(void *st)
{
	(void)st;
	if (pthread_equal(pthread_self(), main_thread))
		return;
	/* Tell main that this thread is ending, then take our time. */
	h_write_byte(exit_pipe[1]);
	usleep(2000000);
}

static void main_deinit_marker(void *st)
{
	(void)st;
	if (pthread_equal(pthread_self(), main_thread))
		h_write_byte(exit_pipe[1]);
}

static void *ending_thread(void *arg)
{
	(void)arg;
	iv_init();
	return NULL;
}

static void main_exits_without_deinit_child(void)
{
	pthread_t th;
	char c;

	/* Not the harness's watchdog: that one is not inherited by fork. */
	alarm(10);
	main_thread = pthread_self();
	user_a.sizeof_state = 8;
	user_a.deinit_thread = main_deinit_marker;
	iv_tls_user_register(&user_a);
	user_slow.sizeof_state = 8;
	user_slow.deinit_thread = slow_deinit;
	iv_tls_user_register(&user_slow);

	iv_init();
	if (pthread_create(&th, NULL, busy_loop_thread, NULL) != 0)
		_exit(3);
	if (read(exit_pipe[0], &c, 1) != 1)
		_exit(4);
	if (pthread_create(&th, NULL, ending_thread, NULL) != 0)
		_exit(5);
	/* ending_thread is now inside its deinit hooks. */
	if (read(exit_pipe[0], &c, 1) != 1)
		_exit(6);
	exit(0);
}

static void main_exits_without_deinit(void)
{
	pid_t pid;
	int status;
	char buf[16];
	ssize_t n;
	struct timespec t0;
	struct timespec t1;

	h_pipe(exit_pipe);
	t0 = h_mono();
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0)
		main_exits_without_deinit_child();

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			FAIL("waitpid: %s", strerror(errno));
	t1 = h_mono();
	close(exit_pipe[1]);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "process exiting without iv_deinit: wait status 0x%x", status);
	CHECKF(h_ts_diff_ms(&t0, &t1) < 1500,
	       "exit took %.0f ms: it waited for an ending thread",
	       h_ts_diff_ms(&t0, &t1));
	/* Two bytes were consumed by the child; anything left means the
	 * main thread's deinit_thread ran at exit(). */
	fcntl(exit_pipe[0], F_SETFL, O_NONBLOCK);
	n = read(exit_pipe[0], buf, sizeof(buf));
	CHECKF(n <= 0, "the main thread's deinit_thread ran at exit() "
	       "(%zd bytes)", n);
	close(exit_pipe[0]);
}

/* ------------------------------------------------------------------ */
/* Misuse                                                              */
/* ------------------------------------------------------------------ */

static void register_after_init_case(void *arg)
{
	static struct iv_tls_user late;

	(void)arg;
	iv_init();
	late.sizeof_state = 8;
	iv_tls_user_register(&late);
}

static void register_after_deinit_case(void *arg)
{
	static struct iv_tls_user late;

	(void)arg;
	iv_init();
	iv_deinit();
	late.sizeof_state = 8;
	iv_tls_user_register(&late);
}

static void register_after_init_is_fatal(void)
{
	struct h_child_result res;

	h_fork_fatal(register_after_init_case, NULL, 1, &res);
	CHECK_FATAL(&res, "iv_tls_user_register");
	/* Even when that first loop is gone. */
	h_fork_fatal(register_after_deinit_case, NULL, 1, &res);
	CHECK_FATAL(&res, "iv_tls_user_register");
}

int main(void)
{
	RUN(ptr_null_without_loop);
	RUN(init_hook_at_end_of_init);
	RUN(two_users_distinct_areas);
	RUN(user_without_hooks);
	RUN(zeroed_again_after_reinit);
	RUN(deinit_hook_at_start_of_deinit);
	RUN(hooks_may_use_the_loop);
	RUN(deinit_hook_at_thread_return);
	RUN(deinit_hook_at_pthread_exit);
	RUN(no_second_deinit_at_thread_exit);
	RUN(concurrent_inits);
	RUN(main_exits_without_deinit);
	RUN(register_after_init_is_fatal);
	return h_done("test_tls");
}
