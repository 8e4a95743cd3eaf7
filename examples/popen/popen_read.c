/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * popen_read: runs a command, reads its standard output through iv_popen
 * and an iv_fd, and prints it with line numbers.
 *
 *	make examples
 *	LD_LIBRARY_PATH=build build/examples/popen_read ls -l /
 *
 * Without arguments it runs "ls -l /". The command is looked up in PATH
 * (iv_popen uses execvp).
 *
 * Exit status: 0 once the whole output was read, 1 if the child could not
 * be started (no pipe, no fork) or reading failed. A command that execvp
 * cannot run just produces no output: its child exits with status 127.
 * iv_popen does not report the command's own
 * exit status (struct iv_popen_request has no field for it, and the child's
 * watch is private to the library); a program that needs it starts the
 * child with iv_wait_interest_register_spawn and its own pipe instead, or,
 * in Rust, uses Handle::popen, whose Popen::status() reports it (see
 * ivykis/examples/popen_read.rs).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iv.h>
#include <iv_popen.h>

static struct iv_popen_request req;
static struct iv_fd out;

/* Line numbering: the next line's number, and whether we are at its start. */
static unsigned long line = 1;
static int at_line_start = 1;
static int failed;

static void print_numbered(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (at_line_start) {
			printf("%6lu  ", line++);
			at_line_start = 0;
		}
		putchar(buf[i]);
		if (buf[i] == '\n')
			at_line_start = 1;
	}
}

/* Done reading: stop watching the pipe, close it, and let iv_popen end the
 * child in the background if it still runs (it normally exits right after
 * closing its output). Nothing is registered afterwards once the child is
 * reaped, so iv_main returns. */
static void done(void)
{
	if (!at_line_start)
		putchar('\n');
	fflush(stdout);
	iv_fd_unregister(&out);
	close(out.fd);
	iv_popen_request_close(&req);
}

static void got_output(void *cookie)
{
	char buf[4096];
	ssize_t n;

	(void)cookie;
	n = read(out.fd, buf, sizeof(buf));
	if (n > 0) {
		print_numbered(buf, (size_t)n);
		return;
	}
	/* Level-triggered: if nothing was there after all, we are called
	 * again when there is. */
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		fprintf(stderr, "popen_read: read: %s\n", strerror(errno));
		failed = 1;
	}
	done();
}

int main(int argc, char **argv)
{
	static char *default_argv[] = { "ls", "-l", "/", NULL };
	char **command = argc > 1 ? argv + 1 : default_argv;
	int fd;

	iv_init();

	IV_POPEN_REQUEST_INIT(&req);
	req.file = command[0];
	req.argv = command;
	req.type = "r";
	fd = iv_popen_request_submit(&req);
	if (fd < 0) {
		fprintf(stderr, "popen_read: cannot start %s: %s\n",
			command[0], strerror(errno));
		iv_deinit();
		return 1;
	}

	IV_FD_INIT(&out);
	out.fd = fd;
	out.handler_in = got_output;
	iv_fd_register(&out);

	iv_main();

	iv_deinit();
	return failed;
}
