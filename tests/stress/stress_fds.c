/*
 * As many registered descriptors as the process may hold.
 *
 * After iv_init (which raises the soft RLIMIT_NOFILE as far as it may), the
 * program opens pipes until the kernel says EMFILE, gives a few back for
 * the library's own use, and registers both ends of every pipe: read ends
 * with an input handler, write ends with no handler at first.  With the
 * usual limit of 20000 that is about 19990 registrations in one loop.
 *
 * Then, per round:
 *   - a byte is written into 2000 pipes chosen at random; every one must
 *     come out through its read end's handler, exactly once (a handler
 *     finding nothing to read is a spurious call, counted as bad);
 *   - 300 of those read ends have their input handler switched off before
 *     the loop runs and back on 5 ms later from a timer: they must be
 *     called then, with no new data arriving (SPEC 2);
 *   - 300 other read ends with a byte pending are unregistered and
 *     registered again: an already readable descriptor must be reported;
 *   - 1000 write ends get an output handler, which must be called (the
 *     pipe is writable) and switches itself off again.
 * The loop quits when everything expected has happened; a deadline timer
 * counts whatever is still missing as lost.
 *
 * Long mode: 400 rounds instead of 20.
 */
#include "stress.h"

#define SHORT_ROUNDS 20
#define WRITES 2000
#define PAUSED 300
#define RE_REGISTERED 300
#define OUT_ON 1000
#define HEADROOM 6

struct end {
	struct iv_fd fd;
	int is_read;
	int peer;        /* index of the pipe's other end */
	int pending;     /* bytes written and not yet read */
	int want_out;    /* output handler on, call expected */
	int paused;
};

static struct end *ends;
static int nends;
static long outstanding, spurious, read_bytes, out_calls;
static int timed_out;
static struct iv_timer deadline, resume;

static void maybe_done(void)
{
	if (outstanding == 0)
		iv_quit();
}

static void on_in(void *cookie)
{
	struct end *e = cookie;
	char buf[64];
	ssize_t n = read(e->fd.fd, buf, sizeof(buf));

	if (e->paused)
		s_bad_event("fd %d: input handler called while switched off", e->fd.fd);
	if (n < 0 && errno == EAGAIN) {
		if (spurious++ < 5)
			s_bad_event("fd %d: input handler with nothing to read", e->fd.fd);
		return;
	}
	if (n <= 0)
		s_die("read(%d): %zd, %s", e->fd.fd, n, strerror(errno));
	if (n > e->pending)
		s_bad_event("fd %d: read %zd bytes, %d written", e->fd.fd, n, e->pending);
	e->pending -= (int)n;
	read_bytes += n;
	outstanding -= n;
	maybe_done();
}

static void on_out(void *cookie)
{
	struct end *e = cookie;

	if (!e->want_out)
		s_bad_event("fd %d: output handler called when not expected", e->fd.fd);
	e->want_out = 0;
	out_calls++;
	outstanding--;
	iv_fd_set_handler_out(&e->fd, NULL);
	maybe_done();
}

static void on_err(void *cookie)
{
	struct end *e = cookie;

	s_bad_event("fd %d: error handler called", e->fd.fd);
	iv_fd_set_handler_err(&e->fd, NULL);
}

static void on_deadline(void *cookie)
{
	(void)cookie;
	timed_out = 1;
	iv_quit();
}

static void on_resume(void *cookie)
{
	int i;

	(void)cookie;
	for (i = 0; i < nends; i++) {
		if (ends[i].paused) {
			ends[i].paused = 0;
			iv_fd_set_handler_in(&ends[i].fd, on_in);
		}
	}
}

/* (Re-)registers e; IV_FD_INIT clears ->fd, so it is kept aside. */
static void register_end(struct end *e)
{
	int fd = e->fd.fd;

	IV_FD_INIT(&e->fd);
	e->fd.fd = fd;
	e->fd.cookie = e;
	e->fd.handler_in = e->is_read ? on_in : NULL;
	e->fd.handler_err = on_err;
	iv_fd_register(&e->fd);
}

static int random_read_end(void)
{
	return (int)s_rand_below((unsigned long)nends / 2) * 2;
}

static void run_round(int round)
{
	int i;

	outstanding = 0;
	timed_out = 0;

	/* Bytes into random pipes. */
	for (i = 0; i < WRITES; i++) {
		struct end *r = &ends[random_read_end()];

		if (write(ends[r->peer].fd.fd, "x", 1) != 1)
			s_die("write: %s", strerror(errno));
		r->pending++;
		outstanding++;
	}
	/* Input off for some with data, back on 5 ms into the loop. */
	for (i = 0; i < PAUSED; i++) {
		struct end *r = &ends[random_read_end()];

		if (r->pending && !r->paused) {
			r->paused = 1;
			iv_fd_set_handler_in(&r->fd, NULL);
		}
	}
	/* Unregister and register again some readable ones. */
	for (i = 0; i < RE_REGISTERED; i++) {
		struct end *r = &ends[random_read_end()];

		if (r->pending && !r->paused) {
			iv_fd_unregister(&r->fd);
			register_end(r);
		}
	}
	/* Output handlers on for some write ends. */
	for (i = 0; i < OUT_ON; i++) {
		struct end *w = &ends[random_read_end() + 1];

		if (!w->want_out) {
			w->want_out = 1;
			outstanding++;
			iv_fd_set_handler_out(&w->fd, on_out);
		}
	}

	IV_TIMER_INIT(&resume);
	resume.expires = s_ts_add_ns(iv_now, 5000000);
	resume.handler = on_resume;
	iv_timer_register(&resume);
	IV_TIMER_INIT(&deadline);
	deadline.expires = s_ts_add_ns(iv_now, 30LL * 1000000000LL);
	deadline.handler = on_deadline;
	iv_timer_register(&deadline);

	iv_main();
	/* The resume timer must have run even if everything else was quick:
	 * paused descriptors hold outstanding bytes. */
	if (iv_timer_registered(&resume))
		iv_timer_unregister(&resume);
	iv_timer_unregister(&deadline);

	if (timed_out || outstanding != 0) {
		long missing = 0;

		for (i = 0; i < nends; i++)
			if (ends[i].pending || ends[i].want_out)
				missing += ends[i].pending + ends[i].want_out;
		s_lost_ops(missing, "round %d: bytes unread or output calls missing after 30 s", round);
		/* Start the next round clean. */
		for (i = 0; i < nends; i++) {
			if (ends[i].is_read && ends[i].pending) {
				char buf[64];

				while (read(ends[i].fd.fd, buf, sizeof(buf)) > 0)
					;
				ends[i].pending = 0;
			}
			if (ends[i].paused) {
				ends[i].paused = 0;
				iv_fd_set_handler_in(&ends[i].fd, on_in);
			}
			if (ends[i].want_out) {
				ends[i].want_out = 0;
				iv_fd_set_handler_out(&ends[i].fd, NULL);
			}
		}
	}
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	int rounds, i, p[2];
	long registered = 0;

	s_setup("stress_fds", argc, argv, 120);
	rounds = (int)s_count(SHORT_ROUNDS);
	iv_set_fatal_msg_handler(s_fatal_handler);
	iv_init();
	atomic_store(&s_threads, 1);
	S_SYS(getrlimit(RLIMIT_NOFILE, &rl));

	ends = calloc((size_t)rl.rlim_cur + 2, sizeof(*ends));
	if (ends == NULL)
		s_die("out of memory");
	for (;;) {
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
			if (errno == EMFILE || errno == ENFILE)
				break;
			s_die("pipe2: %s", strerror(errno));
		}
		ends[nends].fd.fd = p[0];
		ends[nends].is_read = 1;
		ends[nends].peer = nends + 1;
		ends[nends + 1].fd.fd = p[1];
		ends[nends + 1].peer = nends;
		nends += 2;
	}
	/* Give a few back: the library may need descriptors of its own
	 * (and counting them takes one). */
	do {
		close(ends[nends - 1].fd.fd);
		close(ends[nends - 2].fd.fd);
		nends -= 2;
	} while (nends > 0 && s_open_fd_count() > (int)rl.rlim_cur - HEADROOM);
	if (nends < 2 * WRITES)
		s_die("only %d descriptors available (limit %ld)", nends, (long)rl.rlim_cur);
	for (i = 0; i < nends; i++) {
		register_end(&ends[i]);
		registered++;
	}
	s_note_fds(registered);
	fprintf(stderr, "# limit %ld, %ld descriptors registered (%d pipes)\n",
		(long)rl.rlim_cur, registered, nends / 2);

	for (i = 0; i < rounds; i++)
		run_round(i);

	for (i = 0; i < nends; i++) {
		if (ends[i].pending)
			s_bad_event("fd %d: %d bytes left", ends[i].fd.fd, ends[i].pending);
		iv_fd_unregister(&ends[i].fd);
		close(ends[i].fd.fd);
	}
	if (spurious)
		fprintf(stderr, "# %ld spurious input calls\n", spurious);
	atomic_store(&s_ops, read_bytes + out_calls);
	fprintf(stderr, "# %d rounds: %ld bytes read through handlers, %ld output calls\n",
		rounds, read_bytes, out_calls);
	i = s_finish();
	iv_deinit();
	free(ends);
	return i;
}
