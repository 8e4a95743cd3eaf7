/*
 * iv_popen children killed by a signal while the program talks to them.
 *
 * Six children at a time, 200 in all, in four ways:
 *
 *   read-kill     "r": the child prints its pid and sleeps; the program
 *                 kills it (SIGKILL, SIGTERM, SIGSEGV, SIGINT or SIGHUP in
 *                 turn) and must then read EOF, close, and have the child
 *                 reaped;
 *   close-first   the same, but iv_popen_request_close comes right after
 *                 the kill, before the EOF was read (the child is a zombie
 *                 or about to be: it must be reaped, and no signal may go to
 *                 another process);
 *   write-kill    "w": the child (cat) writes its pid into a file first;
 *                 the program kills it and goes on writing: it must get
 *                 EPIPE (iv_init ignores SIGPIPE), not die;
 *   self-kill     "r": the child prints a line and kills itself with
 *                 SIGSEGV.
 *
 * At the end no child of the process may be left (waitpid(-1) answers
 * ECHILD), and iv_main must have returned by itself (the library's watch on
 * each child ends when it is reaped).
 *
 * faults = children killed (by the program or by themselves); signals =
 * the program's kills; lost = children that never completed their
 * course, or were left behind.  Long mode: 20 times as many children.
 */
#include "../stress/stress.h"

#include <iv_popen.h>

#define SHORT_CHILDREN 200
#define PARALLEL 6

enum way { READ_KILL, CLOSE_FIRST, WRITE_KILL, SELF_KILL, NWAYS };

static const int kill_sigs[] = { SIGKILL, SIGTERM, SIGSEGV, SIGINT, SIGHUP };

struct child {
	int slot;
	enum way way;
	int sig;
	struct iv_popen_request req;
	char *argv[4];
	char cmd[256];
	char pidfile[64];
	struct iv_fd fd;
	char buf[128];
	size_t len;
	pid_t pid;
	int killed, closed;
	struct iv_timer poll_timer;
};

static struct child slots[PARALLEL];
static long n_children, started, completed, epipes;

static void start_child(struct child *c);

static void finish(struct child *c)
{
	completed++;
	if (started < n_children)
		start_child(c);
}

static void kill_child(struct child *c)
{
	if (kill(c->pid, c->sig) < 0)
		s_bad_event("kill(%d, %d): %s", (int)c->pid, c->sig, strerror(errno));
	c->killed = 1;
	atomic_fetch_add(&s_faults, 1);
	atomic_fetch_add(&s_signals, 1);
}

/* "r" children: the first line is the pid (or "bye" for self-kill). */
static void readable(void *cookie)
{
	struct child *c = cookie;
	ssize_t n = read(c->fd.fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);

	if (n > 0) {
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
		if (c->pid == 0 && c->way != SELF_KILL && strchr(c->buf, '\n')) {
			c->pid = (pid_t)atol(c->buf);
			if (c->pid <= 1)
				s_die("child printed \"%s\"", c->buf);
			kill_child(c);
			if (c->way == CLOSE_FIRST) {
				/* Close before reading the EOF. */
				iv_fd_unregister(&c->fd);
				close(c->fd.fd);
				iv_popen_request_close(&c->req);
				c->closed = 1;
				finish(c);
			}
		}
		return;
	}
	if (n < 0 && errno == EAGAIN)
		return;
	if (n < 0)
		s_bad_event("read from a killed child: %s", strerror(errno));
	/* EOF. */
	if (c->way == SELF_KILL) {
		if (strcmp(c->buf, "bye\n") != 0)
			s_bad_event("self-kill child printed \"%s\"", c->buf);
		atomic_fetch_add(&s_faults, 1);
	} else if (!c->killed) {
		s_bad_event("EOF from child before it was killed (\"%s\")", c->buf);
	}
	iv_fd_unregister(&c->fd);
	close(c->fd.fd);
	iv_popen_request_close(&c->req);
	finish(c);
}

/* "w" children: wait for the pid file, kill, then write until EPIPE. */
static void write_until_epipe(void *cookie)
{
	struct child *c = cookie;
	char data[4096];
	ssize_t n;

	memset(data, 'w', sizeof(data));
	n = write(c->fd.fd, data, sizeof(data));
	if (n > 0 || (n < 0 && errno == EAGAIN))
		return;
	if (n < 0 && errno == EPIPE) {
		epipes++;
	} else {
		s_bad_event("write to a killed child: %zd, %s (expected EPIPE)", n,
			    n < 0 ? strerror(errno) : "");
	}
	iv_fd_unregister(&c->fd);
	close(c->fd.fd);
	iv_popen_request_close(&c->req);
	finish(c);
}

static void check_pidfile(void *cookie)
{
	struct child *c = cookie;
	FILE *f = fopen(c->pidfile, "r");
	long pid = 0;

	if (f != NULL) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	if (pid <= 1) {
		c->poll_timer.expires = s_ts_add_ns(iv_now, 1000000);
		iv_timer_register(&c->poll_timer);
		return;
	}
	unlink(c->pidfile);
	c->pid = (pid_t)pid;
	kill_child(c);
	iv_fd_set_handler_out(&c->fd, write_until_epipe);
}

static void start_child(struct child *c)
{
	int fd;

	c->way = (enum way)(started % NWAYS);
	c->sig = kill_sigs[(started / NWAYS) % (sizeof(kill_sigs) / sizeof(kill_sigs[0]))];
	c->len = 0;
	c->pid = 0;
	c->killed = c->closed = 0;
	switch (c->way) {
	case READ_KILL:
	case CLOSE_FIRST:
		snprintf(c->cmd, sizeof(c->cmd), "echo $$; exec sleep 30");
		break;
	case WRITE_KILL:
		snprintf(c->pidfile, sizeof(c->pidfile), "/tmp/fault_popen.%d.%d",
			 (int)getpid(), c->slot);
		snprintf(c->cmd, sizeof(c->cmd), "echo $$ > %s.tmp && mv %s.tmp %s && exec cat >/dev/null",
			 c->pidfile, c->pidfile, c->pidfile);
		break;
	default:
		snprintf(c->cmd, sizeof(c->cmd), "echo bye; kill -SEGV $$");
		break;
	}
	c->argv[0] = "sh";
	c->argv[1] = "-c";
	c->argv[2] = c->cmd;
	c->argv[3] = NULL;
	IV_POPEN_REQUEST_INIT(&c->req);
	c->req.file = "/bin/sh";
	c->req.argv = c->argv;
	c->req.type = c->way == WRITE_KILL ? "w" : "r";
	started++;
	fd = iv_popen_request_submit(&c->req);
	if (fd < 0)
		s_die("iv_popen_request_submit: %s", strerror(errno));
	IV_FD_INIT(&c->fd);
	c->fd.fd = fd;
	c->fd.cookie = c;
	if (c->way == WRITE_KILL) {
		iv_fd_register(&c->fd);
		IV_TIMER_INIT(&c->poll_timer);
		c->poll_timer.cookie = c;
		c->poll_timer.handler = check_pidfile;
		c->poll_timer.expires = s_ts_add_ns(iv_now, 1000000);
		iv_timer_register(&c->poll_timer);
	} else {
		c->fd.handler_in = readable;
		iv_fd_register(&c->fd);
	}
}

int main(int argc, char **argv)
{
	int i, rc;

	s_setup("fault_popen_killed", argc, argv, 120);
	n_children = s_count(SHORT_CHILDREN);
	iv_set_fatal_msg_handler(s_fatal_handler);
	iv_init();
	atomic_store(&s_threads, 1);
	for (i = 0; i < PARALLEL; i++) {
		slots[i].slot = i;
		start_child(&slots[i]);
	}
	/* Returns when every child was reaped and nothing is registered. */
	iv_main();

	s_lost_ops(n_children - completed, "children that never completed their course");
	errno = 0;
	if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) {
		long left = 0;

		while (waitpid(-1, NULL, WNOHANG) > 0)
			left++;
		s_lost_ops(left ? left : 1, "children left unreaped after iv_main returned");
	}
	atomic_store(&s_ops, completed);
	fprintf(stderr, "# %ld children: %ld killed by the program, %ld by themselves; "
			"%ld writes got EPIPE\n",
		completed, atomic_load(&s_faults) - completed / NWAYS, completed / NWAYS, epipes);
	rc = s_finish();
	iv_deinit();
	return rc;
}
