/*
 * SPEC 8: iv_popen. submit returns the parent's end of the child's stdout
 * ("r") or stdin ("w"), non-blocking and close-on-exec; close ends a child
 * that still runs (SIGTERM a few times, then SIGKILL) and reaps it; no
 * zombie is left in any order of events.
 *
 * Against Debian's 0.42.4 three subtests fail: its descriptor is blocking,
 * a bad type returns -1 without setting errno, and its escalation to
 * SIGKILL takes longer than the subtest's watchdog.
 */
#include "harness.h"

#include <iv_popen.h>
#include <signal.h>

static struct iv_popen_request req;
static struct iv_fd out;
static char got[256];
static size_t got_len;

static void no_children_left(void)
{
	errno = 0;
	CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
}

static void read_output(void *cookie)
{
	ssize_t n;

	(void)cookie;
	n = read(out.fd, got + got_len, sizeof(got) - 1 - got_len);
	if (n > 0) {
		got_len += (size_t)n;
		return;
	}
	if (n < 0 && errno == EAGAIN)
		return;
	/* EOF: the child is done writing; close after it (likely) exited. */
	iv_fd_unregister(&out);
	close(out.fd);
	iv_popen_request_close(&req);
}

static char *echo_argv[] = { "echo", "hello from the child", NULL };

/* "r": read the child's standard output to EOF. */
static void read_mode_gets_output(void)
{
	int fd;

	iv_init();
	IV_POPEN_REQUEST_INIT(&req);
	req.file = "echo";
	req.argv = echo_argv;
	req.type = "r";
	fd = iv_popen_request_submit(&req);
	CHECK(fd >= 0);
	CHECK(h_fd_flags(fd) & O_NONBLOCK);
	CHECK(h_fd_fdflags(fd) & FD_CLOEXEC);
	IV_FD_INIT(&out);
	out.fd = fd;
	out.handler_in = read_output;
	iv_fd_register(&out);
	iv_main();
	got[got_len] = '\0';
	CHECK_STREQ(got, "hello from the child\n");
	no_children_left();
	iv_deinit();
}

static char path[64];
static char *cat_argv[] = { "sh", "-c", NULL, NULL };
static char cat_cmd[128];
static struct iv_timer poll_timer;

static void wait_for_file(void *cookie)
{
	struct stat st;

	(void)cookie;
	if (stat(path, &st) == 0 && st.st_size == 6) {
		iv_popen_request_close(&req);
		return;
	}
	iv_validate_now();
	poll_timer.expires = h_ts_add_ms(iv_now, 10);
	iv_timer_register(&poll_timer);
}

/* "w": what we write reaches the child's standard input. */
static void write_mode_feeds_input(void)
{
	int fd, file;
	char buf[16] = { 0 };

	snprintf(path, sizeof(path), "/tmp/ivpopen.%d", (int)getpid());
	snprintf(cat_cmd, sizeof(cat_cmd), "cat > %s", path);
	cat_argv[2] = cat_cmd;
	iv_init();
	IV_POPEN_REQUEST_INIT(&req);
	req.file = "sh";
	req.argv = cat_argv;
	req.type = "w";
	fd = iv_popen_request_submit(&req);
	CHECK(fd >= 0);
	CHECK(write(fd, "abcdef", 6) == 6);
	close(fd);
	IV_TIMER_INIT(&poll_timer);
	poll_timer.handler = wait_for_file;
	poll_timer.expires = iv_now;
	iv_timer_register(&poll_timer);
	iv_main();
	file = open(path, O_RDONLY);
	CHECK(file >= 0);
	CHECK(read(file, buf, sizeof(buf)) == 6);
	CHECK_STREQ(buf, "abcdef");
	close(file);
	unlink(path);
	no_children_left();
	iv_deinit();
}

static double run_close_while_running(char **argv)
{
	struct timespec start, end;
	int fd;

	iv_init();
	IV_POPEN_REQUEST_INIT(&req);
	req.file = argv[0];
	req.argv = argv;
	req.type = "r";
	fd = iv_popen_request_submit(&req);
	CHECK(fd >= 0);
	usleep(100000); /* let the shell set up its traps */
	start = h_mono();
	iv_popen_request_close(&req);
	close(fd);
	iv_main(); /* returns once the child has been reaped */
	end = h_mono();
	no_children_left();
	iv_deinit();
	return h_ts_diff_ms(&start, &end);
}

static char *sleep_argv[] = { "sleep", "100", NULL };

/* close with the child still running: SIGTERM ends it at once. */
static void close_running_child_terminates_it(void)
{
	double ms = run_close_while_running(sleep_argv);

	CHECKF(ms < 3000, "took %.0f ms", ms);
}

static char *stubborn_argv[] = { "sh", "-c", "trap '' TERM; exec sleep 100", NULL };

/* A child that ignores SIGTERM is killed with SIGKILL after the last
 * SIGTERM (a few seconds), and reaped. */
static void stubborn_child_gets_sigkill(void)
{
	double ms = run_close_while_running(stubborn_argv);

	CHECKF(ms >= 3000 && ms < 14000, "took %.0f ms", ms);
}

static struct iv_timer later;

static void close_later(void *cookie)
{
	(void)cookie;
	iv_popen_request_close(&req);
}

static char *true_argv[] = { "true", NULL };

/* The child exits long before close: it was reaped already (no zombie in
 * between), and close has nothing left to do. */
static void close_after_exit(void)
{
	int fd;

	iv_init();
	IV_POPEN_REQUEST_INIT(&req);
	req.file = "true";
	req.argv = true_argv;
	req.type = "r";
	fd = iv_popen_request_submit(&req);
	CHECK(fd >= 0);
	IV_TIMER_INIT(&later);
	later.handler = close_later;
	iv_validate_now();
	later.expires = h_ts_add_ms(iv_now, 200);
	iv_timer_register(&later);
	iv_main();
	close(fd);
	no_children_left();
	iv_deinit();
}

static char *missing_argv[] = { "/nonexistent/program", NULL };

/* A program that cannot be executed: the child exits, the parent's end
 * reads EOF at once. */
static void exec_failure_reads_eof(void)
{
	iv_init();
	IV_POPEN_REQUEST_INIT(&req);
	req.file = missing_argv[0];
	req.argv = missing_argv;
	req.type = "r";
	int fd = iv_popen_request_submit(&req);

	CHECK(fd >= 0);
	IV_FD_INIT(&out);
	out.fd = fd;
	out.handler_in = read_output;
	iv_fd_register(&out);
	iv_main();
	CHECK_EQ_LONG((long)got_len, 0);
	no_children_left();
	iv_deinit();
}

static void bad_type_is_einval(void)
{
	iv_init();
	IV_POPEN_REQUEST_INIT(&req);
	req.file = "true";
	req.argv = true_argv;
	req.type = "rw";
	errno = 0;
	CHECK(iv_popen_request_submit(&req) == -1);
	CHECK_EQ_LONG(errno, EINVAL);
	no_children_left();
	iv_deinit();
}

int main(void)
{
	RUN(read_mode_gets_output);
	RUN(write_mode_feeds_input);
	RUN(close_running_child_terminates_it);
	RUN(close_after_exit);
	RUN(exec_failure_reads_eof);
	RUN(bad_type_is_einval);
	RUN(stubborn_child_gets_sigkill);
	return h_done("test_popen");
}
