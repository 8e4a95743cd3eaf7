/*
 * Descriptors closed behind the library's back.
 *
 * Programs sometimes close a registered descriptor and unregister it only
 * later (or never get to it before its number is reused).  The library
 * cannot prevent what the kernel does then, but it must not crash, must
 * not touch an iv_fd the program already freed, and must keep every other
 * registration working.  Per round:
 *
 *   reuse      A is registered on fd N and closed; a new pipe's read end
 *              is moved to N and registered as B.  Bytes written to the new
 *              pipe must all reach B.  Then A is unregistered (stale): B
 *              must still get every byte.  Under epoll A is never called
 *              (the kernel dropped its registration at close); under poll
 *              and ppoll both entries name the same number, so A may be
 *              called too: counted, not an error.
 *   plain      A is registered, and closed with no reuse; a timer
 *              unregisters it later (EBADF from the kernel is absorbed).
 *              Under poll/ppoll the kernel reports POLLNVAL, which comes
 *              to A's error handler; under epoll nothing comes.
 *   dup        A is registered on one end of a socketpair, the end is
 *              dup'ed and the original number closed: the kernel (epoll)
 *              keeps reporting the open file under A's old registration,
 *              which the library can no longer remove.  A is unregistered
 *              and its memory made inaccessible (a PROT_NONE page): the
 *              stale reports that follow must not reach it.  The duplicate
 *              is registered as B and must get every byte.
 *   in-flight  two descriptors ready in the same round; the first one's
 *              handler closes the second's descriptor behind the library's
 *              back and then unregisters it: the second must not be called.
 *
 * In every case the kernel knew the registration before the close.  (A
 * descriptor closed between iv_fd_register and the next wait is refused
 * by the kernel when the batch is applied, which is fatal, as a descriptor
 * the kernel cannot poll is; ivykis behaves the same way.)
 *
 * faults = descriptors closed behind the library's back; lost = bytes that
 * never reached their live registration.  Long mode: 20 times the rounds.
 */
#include "../stress/stress.h"

#include <sys/mman.h>

#define SHORT_ROUNDS 200
#define BYTES_PER_ROUND 50

static int is_epoll;
static long stale_calls, rounds_done;
static long bytes_sent, bytes_got;

/* A registration whose memory can be made inaccessible. */
struct guarded {
	struct iv_fd fd;
	long calls;
};

static struct guarded *guarded_alloc(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		s_die("mmap: %s", strerror(errno));
	return p;
}

static void guarded_free(struct guarded *g)
{
	memset(g, 0xa5, sizeof(*g));
	if (mprotect(g, 4096, PROT_NONE) < 0)
		s_die("mprotect: %s", strerror(errno));
	/* Never unmapped: the address stays poisoned for the whole run. */
}

static struct iv_timer deadline, step_timer;
static int timed_out;

static void on_deadline(void *cookie)
{
	(void)cookie;
	timed_out = 1;
	iv_quit();
}

static void deadline_start(void)
{
	timed_out = 0;
	IV_TIMER_INIT(&deadline);
	deadline.expires = s_ts_add_ns(iv_now, 10LL * 1000000000LL);
	deadline.handler = on_deadline;
	iv_timer_register(&deadline);
}

static void deadline_stop(void)
{
	if (iv_timer_registered(&deadline))
		iv_timer_unregister(&deadline);
}

/*
 * Runs the loop until it has waited once, so that the kernel has heard of
 * every pending registration (the library applies them in batches, just
 * before it waits; timers and tasks run before that, so an fd handler is
 * what ends this).
 */
static int flush_pipe[2] = { -1, -1 };
static struct iv_fd flush_fd;

static void flush_done(void *cookie)
{
	char c;

	(void)cookie;
	if (read(flush_pipe[0], &c, 1) != 1)
		s_die("flush: read: %s", strerror(errno));
	iv_fd_unregister(&flush_fd);
	deadline_stop();
	iv_quit(); /* A is registered and keeps the loop alive */
}

static void flush(void)
{
	if (flush_pipe[0] < 0)
		S_SYS(pipe(flush_pipe));
	IV_FD_INIT(&flush_fd);
	flush_fd.fd = flush_pipe[0];
	flush_fd.handler_in = flush_done;
	iv_fd_register(&flush_fd);
	if (write(flush_pipe[1], "f", 1) != 1)
		s_die("flush: write: %s", strerror(errno));
	deadline_start();
	iv_main();
	deadline_stop();
}

/* ---- B: a live registration that counts its bytes -------------------- */

static struct iv_fd b;
static long b_want, b_got;

static void b_readable(void *cookie)
{
	char buf[256];
	ssize_t n = read(b.fd, buf, sizeof(buf));

	(void)cookie;
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0)
		s_die("B: read: %zd %s", n, strerror(errno));
	b_got += n;
	bytes_got += n;
	if (b_got >= b_want) {
		deadline_stop();
		iv_quit();
	}
}

static void b_register(int fd)
{
	IV_FD_INIT(&b);
	b.fd = fd;
	b.handler_in = b_readable;
	iv_fd_register(&b);
}

/* Writes n bytes to wfd and runs the loop until B has them all. */
static void feed_b(int wfd, long n, const char *what)
{
	char buf[BYTES_PER_ROUND];

	memset(buf, 'b', sizeof(buf));
	b_want = b_got + n;
	if (write(wfd, buf, (size_t)n) != n)
		s_die("write: %s", strerror(errno));
	bytes_sent += n;
	deadline_start();
	iv_main();
	deadline_stop();
	if (b_got < b_want)
		s_lost_ops(b_want - b_got, "%s: bytes that never reached B", what);
}

/* ---- A: the registration whose descriptor is closed ------------------ */

static void a_called(void *cookie)
{
	struct guarded *a = cookie;

	a->calls++;
	stale_calls++;
	if (is_epoll)
		s_bad_event("fd %d: handler called after its descriptor was "
			    "closed (epoll dropped that registration)", a->fd.fd);
	/* Under poll it may be called (same number, or POLLNVAL): switch it
	 * off rather than spin. */
	iv_fd_set_handler_in(&a->fd, NULL);
	iv_fd_set_handler_err(&a->fd, NULL);
}

static struct guarded *a_register(int fd)
{
	struct guarded *a = guarded_alloc();

	IV_FD_INIT(&a->fd);
	a->fd.fd = fd;
	a->fd.cookie = a;
	a->fd.handler_in = a_called;
	a->fd.handler_err = a_called;
	iv_fd_register(&a->fd);
	return a;
}

static void scenario_reuse(void)
{
	int p1[2], p2[2], n;
	struct guarded *a;

	S_SYS(pipe(p1));
	n = p1[0];
	a = a_register(n);
	flush();

	close(n); /* behind the library's back */
	atomic_fetch_add(&s_faults, 1);
	S_SYS(pipe(p2));
	if (p2[0] != n) {
		S_SYS(dup2(p2[0], n));
		close(p2[0]);
		p2[0] = n;
	}
	b_register(n);
	feed_b(p2[1], BYTES_PER_ROUND / 2, "reuse");
	iv_fd_unregister(&a->fd); /* stale: must leave B alone */
	guarded_free(a);
	feed_b(p2[1], BYTES_PER_ROUND / 2, "reuse, after the stale unregister");
	iv_fd_unregister(&b);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
}

static struct guarded *plain_a;

static void unregister_plain_a(void *cookie)
{
	(void)cookie;
	iv_fd_unregister(&plain_a->fd);
	deadline_stop();
}

static void scenario_plain(void)
{
	int p[2];

	S_SYS(pipe(p));
	plain_a = a_register(p[0]);
	flush();
	close(p[0]);
	atomic_fetch_add(&s_faults, 1);
	IV_TIMER_INIT(&step_timer);
	step_timer.expires = s_ts_add_ns(iv_now, 200000);
	step_timer.handler = unregister_plain_a;
	iv_timer_register(&step_timer);
	deadline_start();
	iv_main(); /* returns when A is gone */
	if (timed_out)
		s_bad_event("plain: the loop did not get past a closed descriptor");
	guarded_free(plain_a);
	close(p[1]);
}

static void scenario_dup(void)
{
	int sv[2], m;
	struct guarded *a;

	S_SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	a = a_register(sv[0]);
	flush();

	m = dup(sv[0]);
	S_SYS(m);
	close(sv[0]); /* the file stays open through m */
	atomic_fetch_add(&s_faults, 1);
	/* Data while A is still registered: the kernel may report it under
	 * A's old registration; A's handler may run (it is still
	 * registered), and switches itself off. */
	iv_fd_unregister(&a->fd);
	guarded_free(a);
	/* From here on any stale report must be dropped: A's memory is
	 * PROT_NONE. */
	b_register(m);
	feed_b(sv[1], BYTES_PER_ROUND, "dup");
	iv_fd_unregister(&b);
	close(m);
	close(sv[1]);
}

static struct iv_fd first, second;
static int second_called, inflight_done;

static void second_readable(void *cookie)
{
	(void)cookie;
	second_called = 1;
	s_bad_event("in-flight: handler of an fd unregistered earlier in the round");
}

static void first_readable(void *cookie)
{
	char c;

	(void)cookie;
	if (read(first.fd, &c, 1) != 1)
		s_die("read: %s", strerror(errno));
	/* Close the other one behind the library's back, then unregister
	 * it: its readiness from this round must not be delivered. */
	close(second.fd);
	atomic_fetch_add(&s_faults, 1);
	iv_fd_unregister(&second);
	iv_fd_unregister(&first);
	inflight_done = 1;
	deadline_stop();
}

static void scenario_inflight(void)
{
	int p1[2], p2[2];

	S_SYS(pipe(p1));
	S_SYS(pipe(p2));
	IV_FD_INIT(&first);
	first.fd = p1[0];
	first.handler_in = first_readable;
	IV_FD_INIT(&second);
	second.fd = p2[0];
	second.handler_in = second_readable;
	/* Registered in this order, both ready before the wait. */
	iv_fd_register(&first);
	iv_fd_register(&second);
	if (write(p1[1], "1", 1) != 1 || write(p2[1], "2", 1) != 1)
		s_die("write: %s", strerror(errno));
	inflight_done = second_called = 0;
	deadline_start();
	iv_main();
	deadline_stop();
	if (!inflight_done) {
		/* second ran first (the order within a round is the kernel's):
		 * swap roles next time; tidy up now. */
		if (iv_fd_registered(&first))
			iv_fd_unregister(&first);
		if (iv_fd_registered(&second))
			iv_fd_unregister(&second);
		close(p2[0]);
	}
	close(p1[0]);
	close(p1[1]);
	close(p2[1]);
}

int main(int argc, char **argv)
{
	long rounds, r;
	int before, after, rc;

	s_setup("fault_closed_fd", argc, argv, 120);
	rounds = s_count(SHORT_ROUNDS);
	iv_set_fatal_msg_handler(s_fatal_handler);
	iv_init();
	is_epoll = strncmp(iv_poll_method_name(), "epoll", 5) == 0;
	atomic_store(&s_threads, 1);
	flush(); /* opens the flush pipe before the count */
	before = s_open_fd_count();

	for (r = 0; r < rounds; r++) {
		scenario_reuse();
		scenario_plain();
		scenario_dup();
		scenario_inflight();
		rounds_done++;
	}

	after = s_open_fd_count();
	if (after != before)
		s_bad_event("%d descriptors open before, %d after", before, after);
	s_note_fds(after);
	s_lost_ops(bytes_sent - bytes_got, "bytes written and never read by a live registration");
	atomic_store(&s_ops, bytes_got + rounds_done * 4);
	fprintf(stderr, "# %ld rounds of 4 scenarios; %ld bytes delivered; %ld calls of "
			"registrations whose descriptor was closed%s\n",
		rounds_done, bytes_got, stale_calls,
		is_epoll ? "" : " (allowed under poll/ppoll: same number, or POLLNVAL)");
	rc = s_finish();
	iv_deinit();
	return rc;
}
