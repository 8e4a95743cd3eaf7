/*
 * SPEC 1: process-wide set-up done by the first iv_init() of a process:
 * SIGPIPE and SIGURG ignored, soft RLIMIT_NOFILE raised.
 *
 * Every subtest runs in its own forked child that has not called iv_init()
 * yet, so each one observes a "first iv_init of the process".
 */
#include "harness.h"

#define NOFILE_CAP 131072

static int is_ignored(int sig)
{
	struct sigaction sa;

	if (sigaction(sig, NULL, &sa) < 0)
		FAIL("sigaction(%d): %s", sig, strerror(errno));
	return sa.sa_handler == SIG_IGN;
}

static void sigpipe_ignored(void)
{
	/* Start from the default disposition, so the library must act. */
	signal(SIGPIPE, SIG_DFL);
	CHECK(!is_ignored(SIGPIPE));
	iv_init();
	CHECKF(is_ignored(SIGPIPE), "SIGPIPE not ignored after iv_init()");
	iv_deinit();
}

static void sigurg_ignored(void)
{
	signal(SIGURG, SIG_DFL);
	iv_init();
	CHECKF(is_ignored(SIGURG), "SIGURG not ignored after iv_init()");
	iv_deinit();
}

/* A write to a socket whose peer is gone returns EPIPE; the process lives. */
static void write_to_closed_socket_gives_epipe(void)
{
	int sv[2];
	ssize_t n;

	signal(SIGPIPE, SIG_DFL);
	iv_init();
	h_socketpair(sv);
	close(sv[1]);
	n = write(sv[0], "x", 1);
	CHECKF(n < 0 && errno == EPIPE,
	       "write to closed socketpair: n=%zd errno=%d (%s), want EPIPE",
	       n, errno, strerror(errno));
	close(sv[0]);

	/* And through a pipe whose read end is closed. */
	h_pipe(sv);
	close(sv[0]);
	n = write(sv[1], "x", 1);
	CHECKF(n < 0 && errno == EPIPE, "write to widowed pipe: n=%zd errno=%d",
	       n, errno);
	close(sv[1]);
	iv_deinit();
}

static void set_nofile(rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { soft, hard };

	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		FAIL("setrlimit(NOFILE, %lu, %lu): %s", (unsigned long)soft,
		     (unsigned long)hard, strerror(errno));
}

static struct rlimit get_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		FAIL("getrlimit: %s", strerror(errno));
	return rl;
}

/*
 * Not root: the soft limit goes up to the hard limit, capped at 131072, and
 * is never lowered.  Runs as "nobody" in a child when we are root.
 */
static void check_nonroot_raise(rlim_t start_soft)
{
	struct rlimit before;
	struct rlimit after;
	rlim_t want;

	set_nofile(start_soft, get_nofile().rlim_max);
	before = get_nofile();
	iv_init();
	after = get_nofile();

	want = before.rlim_max < NOFILE_CAP ? before.rlim_max : NOFILE_CAP;
	if (before.rlim_cur > want)
		want = before.rlim_cur;
	CHECKF(after.rlim_cur == want,
	       "non-root: soft NOFILE %lu -> %lu (hard %lu), want %lu",
	       (unsigned long)before.rlim_cur, (unsigned long)after.rlim_cur,
	       (unsigned long)before.rlim_max, (unsigned long)want);
	iv_deinit();
}

static void drop_to_nobody(void)
{
	/* setgid first, while we still may. */
	if (setgid(65534) < 0 || setuid(65534) < 0)
		FAIL("cannot drop privileges: %s", strerror(errno));
	CHECK(getuid() == geteuid());
}

static void nofile_raised_nonroot(void)
{
	if (geteuid() == 0)
		drop_to_nobody();
	check_nonroot_raise(64);
}

/*
 * The non-root cap: with a hard limit above 131072 the soft limit stops at
 * 131072.  Only possible to set up when root may raise the hard limit.
 */
static void nofile_capped_nonroot(void)
{
	struct rlimit rl = { 64, NOFILE_CAP * 2 };
	FILE *f;
	unsigned long nr_open = 0;

	if (geteuid() != 0) {
		printf("     (skipped: needs root to set a large hard limit)\n");
		return;
	}
	f = fopen("/proc/sys/fs/nr_open", "r");
	if (f != NULL) {
		if (fscanf(f, "%lu", &nr_open) != 1)
			nr_open = 0;
		fclose(f);
	}
	if (nr_open < NOFILE_CAP * 2 || setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		printf("     (skipped: cannot set hard NOFILE to %d)\n",
		       NOFILE_CAP * 2);
		return;
	}
	drop_to_nobody();
	check_nonroot_raise(64);
	CHECK(get_nofile().rlim_cur == NOFILE_CAP);
}

/*
 * Root: the library tries 131072 and halves until the kernel accepts, so
 * the soft limit is never lowered, never above 131072 (unless it already
 * was), and is at least the largest candidate 131072 >> k that fits under
 * the old hard limit (those are always accepted).
 */
static void check_root_raise(void)
{
	struct rlimit before = get_nofile();
	struct rlimit after;
	rlim_t c;
	rlim_t floor = before.rlim_cur;

	iv_init();
	after = get_nofile();

	for (c = NOFILE_CAP; c > before.rlim_cur; c /= 2) {
		if (c <= before.rlim_max) {
			floor = c;
			break;
		}
	}

	CHECKF(after.rlim_cur >= before.rlim_cur,
	       "root: soft NOFILE lowered from %lu to %lu",
	       (unsigned long)before.rlim_cur, (unsigned long)after.rlim_cur);
	CHECKF(after.rlim_cur >= floor,
	       "root: soft NOFILE %lu -> %lu (hard %lu); at least %lu is "
	       "always accepted",
	       (unsigned long)before.rlim_cur, (unsigned long)after.rlim_cur,
	       (unsigned long)before.rlim_max, (unsigned long)floor);
	CHECKF(after.rlim_cur <= NOFILE_CAP || after.rlim_cur == before.rlim_cur,
	       "root: soft NOFILE raised above %d: %lu", NOFILE_CAP,
	       (unsigned long)after.rlim_cur);
	CHECKF(after.rlim_cur <= after.rlim_max, "soft above hard");
	iv_deinit();
}

static void nofile_raised_root_low_start(void)
{
	if (geteuid() != 0) {
		printf("     (skipped: not root)\n");
		return;
	}
	set_nofile(64, get_nofile().rlim_max);
	check_root_raise();
}

static void nofile_raised_root_as_is(void)
{
	if (geteuid() != 0) {
		printf("     (skipped: not root)\n");
		return;
	}
	check_root_raise();
}

int main(void)
{
	RUN(sigpipe_ignored);
	RUN(sigurg_ignored);
	RUN(write_to_closed_socket_gives_epipe);
	RUN(nofile_raised_nonroot);
	RUN(nofile_capped_nonroot);
	RUN(nofile_raised_root_low_start);
	RUN(nofile_raised_root_as_is);
	return h_done("test_process_setup");
}
