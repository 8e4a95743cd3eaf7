/*
 * Small test harness shared by the C conformance tests in tests/c/.
 *
 * Every test program is a list of subtests.  Each subtest runs in a forked
 * child by default, so a crash, a hang or a fatal error in one of them is
 * reported with its name and does not hide the others; the program exits 0
 * only when every subtest passed.
 *
 * Environment knobs (all optional):
 *   HARNESS_NOFORK=1    run subtests in-process (for gdb); the first failure
 *                       ends the program.  Subtests share globals and the
 *                       process-wide set-up, so combine it with
 *                       HARNESS_ONLY.
 *   HARNESS_TIMEOUT=N   per-subtest watchdog in seconds (default 15), e.g. for
 *                       valgrind runs.
 *   HARNESS_ONLY=name   run only the subtest with that name (with or without
 *                       its [malloc] / [guard] suffix).
 *   IVYKIS_EXPECT_METHOD=name
 *                       the poll method the runner forced; tests that care
 *                       compare iv_poll_method_name() with it.
 */
#ifndef IV_TEST_HARNESS_H
#define IV_TEST_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iv.h>

#define H_UNUSED __attribute__((unused))

/* ------------------------------------------------------------------ */
/* Failure reporting                                                   */
/* ------------------------------------------------------------------ */

static const char *h_current_subtest H_UNUSED = "(none)";

static inline void __attribute__((noreturn, format(printf, 3, 4)))
h_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: FAIL [%s]: ", file, line, h_current_subtest);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	fflush(stdout);
	/* _exit: never run atexit handlers or library destructors of a
	 * possibly broken loop state. */
	_exit(1);
}

#define FAIL(...) h_fail(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond))                                              \
			h_fail(__FILE__, __LINE__, "check failed: %s",    \
			       #cond);                                    \
	} while (0)

#define CHECKF(cond, ...)                                                 \
	do {                                                              \
		if (!(cond))                                              \
			h_fail(__FILE__, __LINE__, __VA_ARGS__);          \
	} while (0)

#define CHECK_EQ_LONG(a, b)                                               \
	do {                                                              \
		long h_a_ = (long)(a);                                    \
		long h_b_ = (long)(b);                                    \
		if (h_a_ != h_b_)                                         \
			h_fail(__FILE__, __LINE__,                        \
			       "%s == %s failed: %ld != %ld", #a, #b,     \
			       h_a_, h_b_);                               \
	} while (0)

#define CHECK_STREQ(a, b)                                                 \
	do {                                                              \
		const char *h_a_ = (a);                                   \
		const char *h_b_ = (b);                                   \
		if (h_a_ == NULL || h_b_ == NULL || strcmp(h_a_, h_b_))   \
			h_fail(__FILE__, __LINE__,                        \
			       "%s == %s failed: \"%s\" != \"%s\"", #a,   \
			       #b, h_a_ ? h_a_ : "(null)",                \
			       h_b_ ? h_b_ : "(null)");                   \
	} while (0)

/* Check a system call's return value; print errno on failure. */
#define SYSCHECK(expr)                                                    \
	do {                                                              \
		if ((expr) < 0)                                           \
			h_fail(__FILE__, __LINE__, "%s: %s", #expr,       \
			       strerror(errno));                          \
	} while (0)

/* ------------------------------------------------------------------ */
/* Subtest runner                                                      */
/* ------------------------------------------------------------------ */

static int h_failures H_UNUSED;
static int h_passes H_UNUSED;

static inline int h_env_int(const char *name, int dflt)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		return dflt;
	return atoi(v);
}

static inline void h_describe_status(char *buf, size_t len, int status)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s",
			 WTERMSIG(status), strsignal(WTERMSIG(status)),
			 WTERMSIG(status) == SIGALRM ?
				 " -- watchdog: the subtest hung" : "");
	else
		snprintf(buf, len, "wait status 0x%x", status);
}

static inline int h_same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * Run one subtest.  The subtest function does its own iv_init()/iv_deinit()
 * (some subtests check what happens before iv_init).
 */
static inline void h_run(const char *name, void (*fn)(void))
{
	const char *only = getenv("HARNESS_ONLY");
	int timeout = h_env_int("HARNESS_TIMEOUT", 15);
	pid_t pid;
	int status;
	char desc[128];

	/* HARNESS_ONLY=fn selects fn, fn[malloc] and fn[guard]. */
	if (only != NULL && *only != '\0' && strcmp(only, name) &&
	    !(strncmp(only, name, strlen(only)) == 0 &&
	      name[strlen(only)] == '['))
		return;

	fflush(stdout);
	fflush(stderr);

	if (h_env_int("HARNESS_NOFORK", 0)) {
		h_current_subtest = name;
		fn();
		printf("ok   %s\n", name);
		h_passes++;
		return;
	}

	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		h_current_subtest = name;
		alarm(timeout);
		fn();
		fflush(stdout);
		fflush(stderr);
		_exit(0);
	}

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("waitpid");
			exit(2);
		}
	}

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("ok   %s\n", name);
		h_passes++;
	} else {
		h_describe_status(desc, sizeof(desc), status);
		/* The verdict goes to stdout (with the passes), and to
		 * stderr too unless both are the same file. */
		printf("FAIL %s (%s)\n", name, desc);
		if (!h_same_file(1, 2))
			fprintf(stderr, "FAIL %s (%s)\n", name, desc);
		h_failures++;
	}
	fflush(stdout);
}

#define RUN(fn) h_run(#fn, fn)

/* Print the summary line and return the exit status for main(). */
static inline int h_done(const char *program)
{
	printf("%s: %d passed, %d failed\n", program, h_passes, h_failures);
	fflush(stdout);
	return h_failures ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Descriptor helpers                                                  */
/* ------------------------------------------------------------------ */

static inline void h_pipe(int fds[2])
{
	if (pipe(fds) < 0)
		FAIL("pipe: %s", strerror(errno));
}

static inline void h_socketpair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
		FAIL("socketpair: %s", strerror(errno));
}

static inline void h_write_byte(int fd)
{
	char c = 'x';

	if (write(fd, &c, 1) != 1)
		FAIL("write(%d): %s", fd, strerror(errno));
}

/* Read and discard whatever is available; the fd must be non-blocking. */
static inline void h_drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static inline int h_fd_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		FAIL("fcntl(%d, F_GETFL): %s", fd, strerror(errno));
	return fl;
}

static inline int h_fd_fdflags(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0)
		FAIL("fcntl(%d, F_GETFD): %s", fd, strerror(errno));
	return fl;
}

/* ------------------------------------------------------------------ */
/* Time helpers                                                        */
/* ------------------------------------------------------------------ */

static inline struct timespec h_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

static inline int h_ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

static inline struct timespec h_ts_add_ns(struct timespec t, long long ns)
{
	long long total = (long long)t.tv_nsec + ns;
	long long sec = total / 1000000000LL;
	long long rem = total % 1000000000LL;

	if (rem < 0) {
		rem += 1000000000LL;
		sec--;
	}
	t.tv_sec += sec;
	t.tv_nsec = rem;
	return t;
}

static inline struct timespec h_ts_add_ms(struct timespec t, long long ms)
{
	return h_ts_add_ns(t, ms * 1000000LL);
}

/* b - a in milliseconds (may be negative). */
static inline double h_ts_diff_ms(const struct timespec *a,
				  const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* ------------------------------------------------------------------ */
/* Deterministic pseudo-random numbers (xorshift64*)                   */
/* ------------------------------------------------------------------ */

static uint64_t h_rng_state H_UNUSED = 0x9e3779b97f4a7c15ULL;

static inline void h_srand(uint64_t seed)
{
	h_rng_state = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

static inline uint64_t h_rand(void)
{
	h_rng_state ^= h_rng_state >> 12;
	h_rng_state ^= h_rng_state << 25;
	h_rng_state ^= h_rng_state >> 27;
	return h_rng_state * 0x2545f4914f6cdd1dULL;
}

/* Uniform-ish in [0, n). */
static inline unsigned long h_rand_below(unsigned long n)
{
	return (unsigned long)(h_rand() % n);
}

/* ------------------------------------------------------------------ */
/* Loop helpers                                                        */
/* ------------------------------------------------------------------ */

/*
 * An iteration counter: a task that re-registers itself from its own
 * handler.  Per SPEC 5 such a task runs exactly once per loop round, so
 * h_ticks counts loop iterations (and keeps the loop from sleeping).
 */
static struct iv_task h_ticker_task H_UNUSED;
static unsigned long h_ticks H_UNUSED;
static int h_ticker_running H_UNUSED;
/* Optional hook called after every tick (may call h_ticker_stop()). */
static void (*h_tick_hook)(unsigned long tick) H_UNUSED;

static inline void h_ticker_handler(void *cookie)
{
	(void)cookie;
	h_ticks++;
	if (h_ticker_running)
		iv_task_register(&h_ticker_task);
	if (h_tick_hook != NULL)
		h_tick_hook(h_ticks);
}

static inline void h_ticker_start(void)
{
	IV_TASK_INIT(&h_ticker_task);
	h_ticker_task.handler = h_ticker_handler;
	h_ticks = 0;
	h_ticker_running = 1;
	iv_task_register(&h_ticker_task);
}

static inline void h_ticker_stop(void)
{
	if (h_ticker_running && iv_task_registered(&h_ticker_task))
		iv_task_unregister(&h_ticker_task);
	h_ticker_running = 0;
}

/*
 * An in-loop deadline: a timer that fails the subtest with a message saying
 * what did not happen in time.  Cancel it before the loop should end.
 */
static struct iv_timer h_deadline_timer H_UNUSED;
static const char *h_deadline_what H_UNUSED;
static int h_deadline_active H_UNUSED;

static inline void h_deadline_handler(void *cookie)
{
	(void)cookie;
	FAIL("deadline passed: %s", h_deadline_what);
}

static inline void h_deadline_start(long ms, const char *what)
{
	IV_TIMER_INIT(&h_deadline_timer);
	h_deadline_timer.expires = h_ts_add_ms(h_mono(), ms);
	h_deadline_timer.handler = h_deadline_handler;
	h_deadline_what = what;
	h_deadline_active = 1;
	iv_timer_register(&h_deadline_timer);
}

static inline void h_deadline_cancel(void)
{
	if (h_deadline_active && iv_timer_registered(&h_deadline_timer))
		iv_timer_unregister(&h_deadline_timer);
	h_deadline_active = 0;
}

/* Stop the ticker and cancel the deadline (whichever are active), so that
 * iv_main() can return once the test's own objects are gone. */
static inline void h_finish(void)
{
	h_ticker_stop();
	h_deadline_cancel();
}

/* The method name starts with "epoll" (epoll-timerfd or epoll). */
static inline int h_method_is_epoll(void)
{
	const char *m = iv_poll_method_name();

	return m != NULL && strncmp(m, "epoll", 5) == 0;
}

/*
 * Fill a struct with a poison pattern and free it.  A library that still
 * reads it afterwards finds garbage (and valgrind reports the read).
 */
static inline void h_poison_free(void *p, size_t size)
{
	memset(p, 0xa5, size);
	free(p);
}

/*
 * Objects that a test frees while registered elsewhere come from
 * h_obj_alloc() and go back through h_obj_free().  Two modes:
 *
 *   H_ALLOC_MALLOC  malloc, then poison and free: valgrind reports any
 *                   later access, the normal allocator maybe not.
 *   H_ALLOC_GUARD   a page of its own, made inaccessible (PROT_NONE) on
 *                   free and never reused: any later access by the library
 *                   is a SIGSEGV, with or without valgrind.
 *
 * RUN_BOTH(fn) runs a subtest once in each mode.
 */
#define H_ALLOC_MALLOC 0
#define H_ALLOC_GUARD 1

static int h_alloc_mode H_UNUSED = H_ALLOC_MALLOC;

static inline void *h_obj_alloc(size_t size)
{
	void *p;

	if (h_alloc_mode == H_ALLOC_GUARD) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		size_t len = (size + page - 1) / page * page;

		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			FAIL("mmap: %s", strerror(errno));
	} else {
		p = malloc(size);
		if (p == NULL)
			FAIL("malloc(%zu) failed", size);
	}
	memset(p, 0, size);
	return p;
}

static inline void h_obj_free(void *p, size_t size)
{
	if (h_alloc_mode == H_ALLOC_GUARD) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		size_t len = (size + page - 1) / page * page;

		memset(p, 0xa5, size);
		if (mprotect(p, len, PROT_NONE) < 0)
			FAIL("mprotect: %s", strerror(errno));
	} else {
		h_poison_free(p, size);
	}
}

static inline void h_run_mode(const char *name, void (*fn)(void), int mode)
{
	char full[256];

	snprintf(full, sizeof(full), "%s[%s]", name,
		 mode == H_ALLOC_GUARD ? "guard" : "malloc");
	h_alloc_mode = mode;
	h_run(full, fn);
	h_alloc_mode = H_ALLOC_MALLOC;
}

#define RUN_BOTH(fn)                                                      \
	do {                                                              \
		h_run_mode(#fn, fn, H_ALLOC_MALLOC);                      \
		h_run_mode(#fn, fn, H_ALLOC_GUARD);                       \
	} while (0)

/* ------------------------------------------------------------------ */
/* Capturing iv_fatal in a child process                               */
/* ------------------------------------------------------------------ */

#define H_FATAL_EXIT 42
#define H_FATAL_RETURNED_EXIT 43

static int h_fatal_pipe_fd H_UNUSED = -1;

static inline void h_fatal_to_pipe(const char *msg)
{
	size_t len = msg ? strlen(msg) : 0;
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(h_fatal_pipe_fd, msg + done, len - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	_exit(H_FATAL_EXIT);
}

struct h_child_result {
	int status;      /* raw wait status */
	char msg[1024];  /* what the fatal handler received, NUL-terminated */
};

/*
 * Fork; the child installs a fatal message handler that writes the message
 * to a pipe and _exit(42)s (unless install_handler is 0), then runs fn(arg).
 * If fn returns, the child exits with 43.  The parent collects the message
 * and the wait status.
 */
static inline void h_fork_fatal(void (*fn)(void *), void *arg,
				int install_handler, struct h_child_result *res)
{
	int fds[2];
	pid_t pid;
	size_t got = 0;

	memset(res, 0, sizeof(*res));
	h_pipe(fds);
	fflush(stdout);
	fflush(stderr);

	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		/* No core files from the SIGABRT cases. */
		setrlimit(RLIMIT_CORE, &no_core);
		close(fds[0]);
		h_fatal_pipe_fd = fds[1];
		if (install_handler)
			iv_set_fatal_msg_handler(h_fatal_to_pipe);
		fn(arg);
		_exit(H_FATAL_RETURNED_EXIT);
	}

	close(fds[1]);
	for (;;) {
		ssize_t n;

		if (got >= sizeof(res->msg) - 1)
			break;
		n = read(fds[0], res->msg + got, sizeof(res->msg) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	res->msg[got] = '\0';
	close(fds[0]);

	while (waitpid(pid, &res->status, 0) < 0) {
		if (errno != EINTR)
			FAIL("waitpid: %s", strerror(errno));
	}
}

/*
 * Assert that the child ended through the fatal handler (exit 42) with a
 * message containing `needle`.
 */
#define CHECK_FATAL(res, needle)                                          \
	do {                                                              \
		char h_desc_[128];                                        \
		h_describe_status(h_desc_, sizeof(h_desc_),               \
				  (res)->status);                         \
		if (!WIFEXITED((res)->status) ||                          \
		    WEXITSTATUS((res)->status) != H_FATAL_EXIT)           \
			h_fail(__FILE__, __LINE__,                        \
			       "expected iv_fatal (child exit %d), got "  \
			       "%s; message \"%s\"",                      \
			       H_FATAL_EXIT, h_desc_, (res)->msg);        \
		if (strstr((res)->msg, (needle)) == NULL)                 \
			h_fail(__FILE__, __LINE__,                        \
			       "fatal message \"%s\" does not contain "   \
			       "\"%s\"",                                  \
			       (res)->msg, (needle));                     \
	} while (0)

#endif
