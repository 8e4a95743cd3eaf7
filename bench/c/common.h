/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * common.h: what every benchmark program shares.
 *
 * A benchmark program is one C file using only the public ivykis C API. It
 * takes `key=value` arguments, does a fixed amount of work inside a function
 * named `bench_measured_phase` (run.sh points callgrind's --toggle-collect at
 * that name, so set-up and tear-down are not counted), checks that every
 * callback it expected happened and no other, and prints exactly one line:
 *
 *   BENCH name=<workload> <key=value parameters> ops=<n> secs=<cpu seconds>
 *         wall_secs=<seconds> ops_per_s=<ops/secs> ns_per_op=<...>
 *         [<key=value observations>] poll=<poll method>
 *         lib=<absolute path of the loaded libivykis>
 *
 * `secs` is the process CPU time (user + system) of the measured phase, not
 * wall time: timer workloads sleep until their timers are due, and that idle
 * time says nothing about the library. On failure it prints `BENCH-FAIL ...`
 * to stderr and exits with status 1.
 *
 * The floor programs of bench/raw/ (hand-written epoll loops, no ivykis)
 * share this file: they `#define BENCH_NO_IVYKIS` before including it, which
 * leaves out <iv.h> and the loaded-library check, and their BENCH line ends
 * in `poll=raw-epoll lib=none`.
 *
 * The stopwatch reads CLOCK_PROCESS_CPUTIME_ID, which is a real system call
 * (not served by the vDSO): run.sh --strace uses the first and the last such
 * call of a run as the bounds of the measured phase in the trace.
 */

#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifndef BENCH_NO_IVYKIS
#include <iv.h>
#endif

/* Marks the measured function so that callgrind can find it by name. */
#define BENCH_MEASURED __attribute__((noinline, used))

/* ---- Failing loudly ---------------------------------------------------- */

static const char *bench_name = "?";

static inline void __attribute__((noreturn, format(printf, 1, 2)))
bench_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "BENCH-FAIL name=%s: ", bench_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- key=value arguments ----------------------------------------------- */

struct bench_args {
	int argc;
	char **argv;
	unsigned long used;	/* bit i: argv[i + 1] was consumed */
};

static inline struct bench_args bench_args_init(int argc, char **argv)
{
	struct bench_args args = { argc, argv, 0 };

	if (argc - 1 > (int)(sizeof(args.used) * CHAR_BIT))
		bench_fail("too many arguments");
	return args;
}

/* The value of `key=...`, or NULL when the key is absent. */
static inline const char *bench_arg(struct bench_args *args, const char *key)
{
	size_t len = strlen(key);
	int i;

	for (i = 1; i < args->argc; i++) {
		const char *arg = args->argv[i];

		if (strncmp(arg, key, len) == 0 && arg[len] == '=') {
			args->used |= 1UL << (i - 1);
			return arg + len + 1;
		}
	}
	return NULL;
}

static inline long bench_arg_long(struct bench_args *args, const char *key,
			   long fallback, long min, long max)
{
	const char *text = bench_arg(args, key);
	char *end;
	long value;

	if (text == NULL)
		return fallback;
	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		bench_fail("%s=%s is not a number", key, text);
	if (value < min || value > max)
		bench_fail("%s=%ld is outside [%ld, %ld]", key, value, min, max);
	return value;
}

/* Typos in a parameter must not silently run the default workload. */
static inline void bench_args_done(const struct bench_args *args)
{
	int i;

	for (i = 1; i < args->argc; i++) {
		if (!(args->used & (1UL << (i - 1))))
			bench_fail("unknown argument '%s'", args->argv[i]);
	}
}

/* ---- Clocks ------------------------------------------------------------ */

static inline double bench_clock(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts) < 0)
		bench_fail("clock_gettime: %s", strerror(errno));
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct bench_stopwatch {
	double cpu_start;
	double wall_start;
	double cpu_secs;
	double wall_secs;
};

static inline void bench_stopwatch_start(struct bench_stopwatch *sw)
{
	sw->wall_start = bench_clock(CLOCK_MONOTONIC);
	sw->cpu_start = bench_clock(CLOCK_PROCESS_CPUTIME_ID);
}

static inline void bench_stopwatch_stop(struct bench_stopwatch *sw)
{
	sw->cpu_secs = bench_clock(CLOCK_PROCESS_CPUTIME_ID) - sw->cpu_start;
	sw->wall_secs = bench_clock(CLOCK_MONOTONIC) - sw->wall_start;
}

/* Nanoseconds from a to b (may be negative). */
static inline int64_t bench_ts_diff_ns(const struct timespec *a,
				       const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000 +
	       (b->tv_nsec - a->tv_nsec);
}

static inline struct timespec bench_ts_add_ns(struct timespec ts, int64_t ns)
{
	ts.tv_sec += ns / 1000000000;
	ts.tv_nsec += ns % 1000000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

static inline int bench_ts_before(const struct timespec *a,
				  const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* ---- Deterministic randomness ------------------------------------------ */

/*
 * xorshift64*: the same seed gives both libraries the same sequence, and it
 * costs a few instructions, so it does not blur the callgrind counts.
 */
static uint64_t bench_rng_state = 0x9e3779b97f4a7c15ULL;

static inline uint64_t bench_rand(void)
{
	bench_rng_state ^= bench_rng_state >> 12;
	bench_rng_state ^= bench_rng_state << 25;
	bench_rng_state ^= bench_rng_state >> 27;
	return bench_rng_state * 0x2545f4914f6cdd1dULL;
}

/* Uniform-enough value in [0, bound). */
static inline uint64_t bench_rand_below(uint64_t bound)
{
	return (bench_rand() >> 11) % bound;
}

/* ---- Environment ------------------------------------------------------- */

/*
 * Workloads with many descriptors must not depend on iv_init doing this.
 * Returns the soft limit in force afterwards.
 */
static inline long bench_raise_fd_limit(void)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
		bench_fail("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	if (lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim) < 0 ||
		    getrlimit(RLIMIT_NOFILE, &lim) < 0)
			bench_fail("setrlimit(RLIMIT_NOFILE): %s",
				   strerror(errno));
	}
	if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur > INT_MAX)
		return INT_MAX;
	return (long)lim.rlim_cur;
}

/*
 * Descriptors left free by `fds=max` workloads: for the descriptors open
 * before the workload's own (standard streams, the loop's epoll and wake-up
 * descriptors, valgrind's or strace's), and for whatever the library opens
 * later.
 */
#define BENCH_FD_MARGIN 200

/*
 * How many descriptor pairs (pipes, socketpairs) fit under the descriptor
 * limit, raised to the hard limit first, leaving BENCH_FD_MARGIN free.
 */
static inline long bench_max_fd_pairs(void)
{
	long limit = bench_raise_fd_limit();
	long pairs = (limit - BENCH_FD_MARGIN) / 2;

	if (pairs < 1)
		bench_fail("the descriptor limit (%ld) leaves no room for pairs",
			   limit);
	return pairs;
}

/*
 * Like bench_arg_long, but the value may also be `max`: then the result is
 * `if_max()`, called only in that case (so that the limit is not raised for
 * the other sizes).
 */
static inline long bench_arg_long_or_max(struct bench_args *args,
					 const char *key, long fallback,
					 long min, long max,
					 long (*if_max)(void))
{
	const char *text = bench_arg(args, key);

	if (text != NULL && strcmp(text, "max") == 0)
		return if_max();
	return bench_arg_long(args, key, fallback, min, max);
}

#ifndef BENCH_NO_IVYKIS

static inline int bench_find_ivykis(struct dl_phdr_info *info, size_t size,
			     void *data)
{
	char *out = data;
	const char *base;

	(void)size;
	if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0')
		return 0;
	base = strrchr(info->dlpi_name, '/');
	base = base != NULL ? base + 1 : info->dlpi_name;
	if (strncmp(base, "libivykis.so", strlen("libivykis.so")) != 0)
		return 0;
	if (realpath(info->dlpi_name, out) == NULL)
		snprintf(out, PATH_MAX, "%s", info->dlpi_name);
	return 1;
}

/* Absolute, symlink-free path of the libivykis the dynamic loader chose. */
static inline void bench_loaded_library(char out[PATH_MAX])
{
	if (!dl_iterate_phdr(bench_find_ivykis, out))
		bench_fail("no libivykis.so is loaded in this process");
}

#define BENCH_POLL_METHOD() iv_poll_method_name()

#else /* BENCH_NO_IVYKIS */

/* A floor program: no library to find; its "poll method" is its own loop. */
static inline void bench_loaded_library(char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "none");
}

#ifndef BENCH_RAW_POLL_NAME
#define BENCH_RAW_POLL_NAME "raw-epoll"
#endif
#define BENCH_POLL_METHOD() BENCH_RAW_POLL_NAME

#endif /* BENCH_NO_IVYKIS */

/* ---- The result line --------------------------------------------------- */

/*
 * Prints the one BENCH line. `params` is the workload's own "key=value ..."
 * description; it goes in verbatim so that run.sh can tell runs apart.
 * `observed` ("key=value ...", may be empty) carries what the run saw beyond
 * its fixed work, such as how many loop passes it took.
 */
static inline void bench_report(const char *params, uint64_t ops,
				const struct bench_stopwatch *sw,
				const char *observed)
{
	char lib[PATH_MAX];
	double secs = sw->cpu_secs > 0 ? sw->cpu_secs : 1e-9;

	bench_loaded_library(lib);
	printf("BENCH name=%s %s ops=%llu secs=%.6f wall_secs=%.6f "
	       "ops_per_s=%.0f ns_per_op=%.2f %s%spoll=%s lib=%s\n",
	       bench_name, params, (unsigned long long)ops, sw->cpu_secs,
	       sw->wall_secs, (double)ops / secs, secs * 1e9 / (double)ops,
	       observed, observed[0] != '\0' ? " " : "",
	       BENCH_POLL_METHOD(), lib);
	fflush(stdout);
}

#endif /* BENCH_COMMON_H */
