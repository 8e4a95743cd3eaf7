/*
 * Shared by the stress programs (tests/stress/stress_*.c) and the fault
 * injection programs (tests/fault/fault_*.c).
 *
 * Each program is one run of one workload, sized by a scale factor, and
 * ends with exactly one summary line on standard output:
 *
 *   stress_events: ok ops=201600 threads=65 signals=0 fds=0 faults=0 lost=0 bad=0 method=epoll time=1.92s
 *
 *   ops      operations the workload performed and then accounted for
 *            (posts, timer expiries, bytes moved, children reaped, ...)
 *   threads  threads that ran a loop or sent signals, the main one included
 *   signals  signals sent
 *   fds      descriptors registered at the peak (or opened, for fault tests)
 *   faults   faults injected (failed calls provoked, descriptors closed
 *            behind the library's back, connections reset, children killed)
 *   lost     operations started and never accounted for (must be 0)
 *   bad      other broken invariants (must be 0): a timer early, a handler
 *            called for something it does not own, a wrong exit status...
 *
 * The program exits 0 only if lost and bad are both 0 and it finished
 * within its own deadline.  Details of every failure go to stderr.
 *
 * Scale: `--long` (or STRESS_SCALE=long) multiplies the work for a manual
 * soak run; STRESS_SCALE=N (a positive integer) multiplies it by N;
 * STRESS_SCALE=tiny divides it by 20 (at least one of everything), for
 * runs under valgrind.  The default is the short mode that CI runs.
 * Programs size their work with s_count(short_mode_count).
 */
#ifndef IV_STRESS_H
#define IV_STRESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iv.h>

#define S_UNUSED __attribute__((unused))

/* Watchdogs allow this much more time in programs built with
 * AddressSanitizer (fork copies its shadow memory's page tables). */
#ifdef __SANITIZE_ADDRESS__
#define S_SLOWDOWN 10
#else
#define S_SLOWDOWN 1
#endif

/* The factor the long mode multiplies the short workload by. */
#define S_LONG_FACTOR 20

static const char *s_program S_UNUSED = "stress";
static long s_scale S_UNUSED = 1;
static int s_long S_UNUSED;
static int s_tiny S_UNUSED;

/* The divisor of STRESS_SCALE=tiny. */
#define S_TINY_DIVISOR 20

static atomic_long s_ops S_UNUSED;
static atomic_long s_threads S_UNUSED;
static atomic_long s_signals S_UNUSED;
static atomic_long s_fds S_UNUSED;
static atomic_long s_faults S_UNUSED;
static atomic_long s_lost S_UNUSED;
static atomic_long s_bad S_UNUSED;
static struct timespec s_start S_UNUSED;

static inline struct timespec s_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

static inline double s_secs_since(const struct timespec *t)
{
	struct timespec now = s_mono();

	return (double)(now.tv_sec - t->tv_sec) +
	       (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static inline struct timespec s_ts_add_ns(struct timespec t, long long ns)
{
	long long total = (long long)t.tv_nsec + ns;

	t.tv_sec += total / 1000000000LL;
	t.tv_nsec = total % 1000000000LL;
	if (t.tv_nsec < 0) {
		t.tv_nsec += 1000000000LL;
		t.tv_sec--;
	}
	return t;
}

static inline int s_ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

/* A broken invariant: counted, and described on stderr (the first few). */
static inline void __attribute__((format(printf, 1, 2)))
s_bad_event(const char *fmt, ...)
{
	va_list ap;
	long n = atomic_fetch_add(&s_bad, 1);

	if (n >= 20)
		return;
	fprintf(stderr, "%s: BAD: ", s_program);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Operations that were started and never accounted for. */
static inline void __attribute__((format(printf, 2, 3)))
s_lost_ops(long n, const char *fmt, ...)
{
	va_list ap;

	if (n <= 0)
		return;
	atomic_fetch_add(&s_lost, n);
	fprintf(stderr, "%s: LOST %ld: ", s_program, n);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The test itself cannot go on (a system call of its own failed). */
static inline void __attribute__((noreturn, format(printf, 1, 2)))
s_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: FATAL: ", s_program);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	printf("%s: FAIL (aborted, see stderr)\n", s_program);
	fflush(stdout);
	_exit(2);
}

#define S_CHECK(cond)                                                     \
	do {                                                              \
		if (!(cond))                                              \
			s_bad_event("%s:%d: check failed: %s", __FILE__,  \
				    __LINE__, #cond);                     \
	} while (0)

#define S_SYS(expr)                                                       \
	do {                                                              \
		if ((expr) < 0)                                           \
			s_die("%s:%d: %s: %s", __FILE__, __LINE__, #expr, \
			      strerror(errno));                           \
	} while (0)

/*
 * The watchdog: a workload that stops making progress (a lost wake-up
 * leaves a loop asleep forever) ends here with a FAIL line instead of
 * hanging the runner.  Async-signal-safe: write and _exit only.
 */
static char s_alarm_line[256] S_UNUSED;

static inline void s_on_alarm(int sig)
{
	ssize_t r;

	(void)sig;
	r = write(1, s_alarm_line, strlen(s_alarm_line));
	(void)r;
	_exit(3);
}

/*
 * Parses --long / STRESS_SCALE, arms the watchdog (seconds, multiplied
 * by the scale) and starts the clock.  Call first thing in main().
 */
static inline void s_setup(const char *program, int argc, char **argv,
			   unsigned int watchdog_secs)
{
	const char *env = getenv("STRESS_SCALE");
	struct sigaction sa;
	int i;

	s_program = program;
	if (env != NULL && *env != '\0') {
		if (strcmp(env, "long") == 0) {
			s_long = 1;
			s_scale = S_LONG_FACTOR;
		} else if (strcmp(env, "tiny") == 0) {
			s_tiny = 1;
			/* Slow tools (valgrind): more time for less work. */
			watchdog_secs *= 5;
		} else if (atol(env) > 0) {
			s_scale = atol(env);
			s_long = s_scale > 1;
		}
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--long") == 0) {
			s_long = 1;
			s_scale = S_LONG_FACTOR;
		} else {
			fprintf(stderr, "usage: %s [--long]  (or STRESS_SCALE=long|tiny|N)\n",
				program);
			exit(2);
		}
	}

	watchdog_secs *= S_SLOWDOWN;
	snprintf(s_alarm_line, sizeof(s_alarm_line),
		 "%s: FAIL watchdog: no completion within %lus (a hang: lost wake-up?)\n",
		 program, (unsigned long)watchdog_secs * (unsigned long)s_scale);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = s_on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm(watchdog_secs * (unsigned int)s_scale);

	setvbuf(stdout, NULL, _IOLBF, 0);
	s_start = s_mono();
}

/* Re-arms the watchdog for one phase: secs (times the scale) from now,
 * with a message naming what hung. */
static inline void s_watchdog(unsigned int secs, const char *what)
{
	if (s_tiny)
		secs *= 5;
	secs *= S_SLOWDOWN;
	snprintf(s_alarm_line, sizeof(s_alarm_line),
		 "%s: FAIL watchdog: %s did not finish within %lus (a hang)\n",
		 s_program, what, (unsigned long)secs * (unsigned long)s_scale);
	alarm(secs * (unsigned int)s_scale);
}

/* How much of something to do: the short mode's count, scaled. */
static inline long s_count(long short_count)
{
	if (s_tiny)
		return short_count / S_TINY_DIVISOR > 0 ? short_count / S_TINY_DIVISOR : 1;
	return short_count * s_scale;
}

/* Raise the peak-descriptor figure to n if it is higher. */
static inline void s_note_fds(long n)
{
	long cur = atomic_load(&s_fds);

	while (n > cur && !atomic_compare_exchange_weak(&s_fds, &cur, n))
		;
}

/* Prints the summary line and returns main()'s exit status. */
static inline int s_finish(void)
{
	long lost = atomic_load(&s_lost), bad = atomic_load(&s_bad);
	const char *method = iv_inited() ? iv_poll_method_name() : NULL;
	int ok = lost == 0 && bad == 0;

	alarm(0);
	printf("%s: %s ops=%ld threads=%ld signals=%ld fds=%ld faults=%ld "
	       "lost=%ld bad=%ld method=%s scale=%s%ld time=%.2fs\n",
	       s_program, ok ? "ok" : "FAIL", atomic_load(&s_ops),
	       atomic_load(&s_threads), atomic_load(&s_signals),
	       atomic_load(&s_fds), atomic_load(&s_faults), lost, bad,
	       method != NULL ? method : "?", s_tiny ? "1/" : "",
	       s_tiny ? (long)S_TINY_DIVISOR : s_scale,
	       s_secs_since(&s_start));
	fflush(stdout);
	return ok ? 0 : 1;
}

/* ---- descriptors --------------------------------------------------- */

/* Number of open descriptors of this process. */
static inline int s_open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		s_die("opendir(/proc/self/fd): %s", strerror(errno));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* ---- deterministic pseudo-random numbers (xorshift64*) ------------- */

static inline uint64_t s_rand_r(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t s_rng S_UNUSED = 0x2545f4914f6cdd1dULL;

static inline unsigned long s_rand_below(unsigned long n)
{
	return (unsigned long)(s_rand_r(&s_rng) % n);
}

/* The library's fatal handler for these programs: a fatal error is a
 * failure of the run, with the library's message. */
static inline void s_fatal_handler(const char *msg)
{
	fprintf(stderr, "%s: iv_fatal: %s\n", s_program, msg);
	printf("%s: FAIL iv_fatal: %s\n", s_program, msg);
	fflush(stdout);
	_exit(4);
}

/* ---- parts still being written ------------------------------------- */

static int s_probe_pipe S_UNUSED = -1;

static inline void s_probe_fatal(const char *msg)
{
	ssize_t r = write(s_probe_pipe, msg, strlen(msg));

	(void)r;
	_exit(42);
}

/*
 * Whether the library implements what fn(arg) calls: fn runs in a forked
 * child; a fatal "...: not implemented" there means no (a stub).  Any
 * other outcome counts as implemented; the real test finds out the rest.
 */
static inline int s_implemented(void (*fn)(void *), void *arg)
{
	char msg[512];
	size_t got = 0;
	int fds[2], status;
	pid_t pid;

	S_SYS(pipe(fds));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	S_SYS(pid);
	if (pid == 0) {
		close(fds[0]);
		s_probe_pipe = fds[1];
		alarm(10);
		iv_set_fatal_msg_handler(s_probe_fatal);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	for (;;) {
		ssize_t n = read(fds[0], msg + got, sizeof(msg) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got >= sizeof(msg) - 1)
			break;
	}
	msg[got] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return strstr(msg, "not implemented") == NULL;
}

/* Exit status of a program whose subject is not implemented yet. */
#define S_PENDING_EXIT 77

/* Prints the summary line of a program that could not run because the
 * library lacks what it tests. */
static inline int s_pending(const char *what)
{
	alarm(0);
	printf("%s: PENDING %s is not implemented yet (nothing tested)\n",
	       s_program, what);
	fflush(stdout);
	return S_PENDING_EXIT;
}

#endif
