/*
 * SPEC 2 and 9: fd readiness dispatch -- band order, level triggering,
 * NULL handlers, switching handlers on an already-ready descriptor,
 * registering an already-ready descriptor, cookies, many descriptors.
 */
#include "harness.h"

#include <netinet/in.h>
#include <arpa/inet.h>

/* A registered fd plus a log of the calls it received. */
struct rec_fd {
	struct iv_fd fd;
	char log[64];
	int nlog;
	int unregister_on;	/* band letter that unregisters, or 0 */
	int unregister_after;	/* unregister after this many calls, or 0 */
	unsigned long ticks[64];
};

static void rec_note(struct rec_fd *r, char band)
{
	/* A ready fd stays registered while its handlers run. */
	CHECKF(iv_fd_registered(&r->fd),
	       "iv_fd_registered() false inside the fd's own handler");
	if (r->nlog < (int)sizeof(r->log) - 1) {
		r->ticks[r->nlog] = h_ticks;
		r->log[r->nlog++] = band;
		r->log[r->nlog] = '\0';
	}
	if (r->unregister_on == band ||
	    (r->unregister_after && r->nlog >= r->unregister_after)) {
		iv_fd_unregister(&r->fd);
		h_finish();
	}
}

static void rec_err(void *cookie)
{
	rec_note(cookie, 'E');
}

static void rec_in(void *cookie)
{
	rec_note(cookie, 'I');
}

static void rec_out(void *cookie)
{
	rec_note(cookie, 'O');
}

static void rec_init(struct rec_fd *r, int os_fd)
{
	memset(r, 0, sizeof(*r));
	IV_FD_INIT(&r->fd);
	r->fd.fd = os_fd;
	r->fd.cookie = r;
}

/* A unix stream socket whose peer has been closed: HUP, readable (EOF) and
 * writable-or-error at once, so every band is ready (SPEC 9). */
static int hup_socket(void)
{
	int sv[2];

	h_socketpair(sv);
	close(sv[1]);
	return sv[0];
}

/* A TCP socket whose non-blocking connect to a closed loopback port failed:
 * POLLERR (ECONNREFUSED) plus POLLHUP. */
static int refused_socket(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int listener;
	int s;

	/* Find a free port by binding and closing a listener. */
	listener = socket(AF_INET, SOCK_STREAM, 0);
	SYSCHECK(listener);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	SYSCHECK(bind(listener, (struct sockaddr *)&sin, sizeof(sin)));
	SYSCHECK(getsockname(listener, (struct sockaddr *)&sin, &len));
	close(listener);

	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	SYSCHECK(s);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		FAIL("connect to a closed port succeeded");
	/* Give the kernel a moment to deliver the RST. */
	usleep(20000);
	return s;
}

/*
 * One fd ready in all three bands: handlers run err, in, out.  The out
 * handler unregisters, so a wrong order shows as a short log.
 */
static void order_err_in_out_hup(void)
{
	struct rec_fd r;

	iv_init();
	rec_init(&r, hup_socket());
	r.fd.handler_err = rec_err;
	r.fd.handler_in = rec_in;
	r.fd.handler_out = rec_out;
	r.unregister_on = 'O';
	iv_fd_register(&r.fd);
	iv_main();
	CHECKF(!strcmp(r.log, "EIO"),
	       "hung-up socketpair: handler calls \"%s\", want \"EIO\"", r.log);
	close(r.fd.fd);
	iv_deinit();
}

static void order_err_in_out_refused(void)
{
	struct rec_fd r;

	iv_init();
	rec_init(&r, refused_socket());
	r.fd.handler_err = rec_err;
	r.fd.handler_in = rec_in;
	r.fd.handler_out = rec_out;
	r.unregister_on = 'O';
	iv_fd_register(&r.fd);
	iv_main();
	CHECKF(!strcmp(r.log, "EIO"),
	       "refused TCP socket: handler calls \"%s\", want \"EIO\"", r.log);
	close(r.fd.fd);
	iv_deinit();
}

/* If the err handler unregisters the fd, in and out are not called. */
static void err_handler_unregisters(void)
{
	struct rec_fd r;

	iv_init();
	rec_init(&r, hup_socket());
	r.fd.handler_err = rec_err;
	r.fd.handler_in = rec_in;
	r.fd.handler_out = rec_out;
	r.unregister_on = 'E';
	iv_fd_register(&r.fd);
	iv_main();
	CHECKF(!strcmp(r.log, "E"), "calls \"%s\", want \"E\"", r.log);
	close(r.fd.fd);
	iv_deinit();
}

/* If the in handler unregisters the fd, out is not called. */
static void in_handler_unregisters(void)
{
	struct rec_fd r;

	iv_init();
	rec_init(&r, hup_socket());
	r.fd.handler_in = rec_in;
	r.fd.handler_out = rec_out;
	r.unregister_on = 'I';
	iv_fd_register(&r.fd);
	iv_main();
	CHECKF(!strcmp(r.log, "I"), "calls \"%s\", want \"I\"", r.log);
	close(r.fd.fd);
	iv_deinit();
}

/* Only the non-NULL handlers of a fully-ready fd run. */
static void hup_only_err_handler(void)
{
	struct rec_fd r;

	iv_init();
	rec_init(&r, hup_socket());
	r.fd.handler_err = rec_err;
	r.unregister_on = 'E';
	iv_fd_register(&r.fd);
	h_deadline_start(5000, "err handler of a hung-up socket");
	iv_main();
	CHECK_STREQ(r.log, "E");
	close(r.fd.fd);
	iv_deinit();
}

/*
 * Level triggering: unread data makes the in handler run again in every
 * iteration (counted with a self-re-registering task).
 */
static void level_triggered_every_iteration(void)
{
	struct rec_fd r;
	int p[2];
	int i;

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	rec_init(&r, p[0]);
	r.fd.handler_in = rec_in;
	r.unregister_after = 8;
	iv_fd_register(&r.fd);
	h_ticker_start();
	h_deadline_start(5000, "8 level-triggered calls");
	iv_main();
	CHECK_STREQ(r.log, "IIIIIIII");
	for (i = 1; i < 8; i++)
		CHECKF(r.ticks[i] == r.ticks[i - 1] + 1,
		       "call %d at iteration %lu, call %d at %lu: not once per "
		       "iteration", i - 1, r.ticks[i - 1], i, r.ticks[i]);
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/*
 * NULL handlers mean "not interested": a readable fd with handler_in NULL
 * and a writable fd with handler_out NULL get no calls over many
 * iterations.
 */
static struct rec_fd null_rd, null_wr;

static void null_handler_hook(unsigned long tick)
{
	if (tick == 20) {
		iv_fd_unregister(&null_rd.fd);
		iv_fd_unregister(&null_wr.fd);
		h_finish();
	}
}

static void null_handler_not_called(void)
{
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);

	/* Read end: readable, but only an err handler. */
	rec_init(&null_rd, p[0]);
	null_rd.fd.handler_err = rec_err;
	iv_fd_register(&null_rd.fd);

	/* Write end: writable, but only an in handler. */
	rec_init(&null_wr, p[1]);
	null_wr.fd.handler_in = rec_in;
	iv_fd_register(&null_wr.fd);

	h_tick_hook = null_handler_hook;
	h_ticker_start();
	iv_main();
	CHECKF(null_rd.nlog == 0, "readable fd without handler_in got \"%s\"",
	       null_rd.log);
	CHECKF(null_wr.nlog == 0, "writable fd without handler_out got \"%s\"",
	       null_wr.log);
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/*
 * Registering a descriptor that is already ready fires the handler without
 * any new event: a pipe with data (in), a writable socket (out), a hung-up
 * socket (err).
 */
static struct rec_fd ready_in, ready_out, ready_err;
static int ready_left;

static void ready_done(void *cookie)
{
	struct rec_fd *r = cookie;

	iv_fd_unregister(&r->fd);
	if (--ready_left == 0)
		h_finish();
}

static void register_already_ready(void)
{
	int p[2];
	int sv[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	h_socketpair(sv);

	rec_init(&ready_in, p[0]);
	ready_in.fd.handler_in = ready_done;
	rec_init(&ready_out, sv[0]);
	ready_out.fd.handler_out = ready_done;
	rec_init(&ready_err, hup_socket());
	ready_err.fd.handler_err = ready_done;
	ready_left = 3;

	iv_fd_register(&ready_in.fd);
	iv_fd_register(&ready_out.fd);
	iv_fd_register(&ready_err.fd);
	h_deadline_start(5000, "callbacks for fds that were ready when "
			       "registered");
	iv_main();
	CHECK_EQ_LONG(ready_left, 0);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(ready_err.fd.fd);
	iv_deinit();
}

/* The same, registering from inside a callback while the loop runs. */
static void register_ready_from_timer(void *cookie)
{
	(void)cookie;
	iv_fd_register(&ready_in.fd);
}

static void register_already_ready_from_callback(void)
{
	struct iv_timer t;
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	rec_init(&ready_in, p[0]);
	ready_in.fd.handler_in = ready_done;
	ready_left = 1;

	IV_TIMER_INIT(&t);
	t.expires = h_ts_add_ms(h_mono(), 20);
	t.handler = register_ready_from_timer;
	iv_timer_register(&t);
	h_deadline_start(5000, "callback for a ready fd registered from a "
			       "timer callback");
	iv_main();
	CHECK_EQ_LONG(ready_left, 0);
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/*
 * NULL -> non-NULL on an already-ready fd produces a callback in the next
 * iteration, without new data.  The switch happens from the ticker at a
 * known iteration; the call must come at that iteration or the one after.
 */
static struct rec_fd sw;
static unsigned long sw_tick;
static char sw_band;

static void switch_hook(unsigned long tick)
{
	if (tick != 5)
		return;
	sw_tick = tick;
	switch (sw_band) {
	case 'I':
		iv_fd_set_handler_in(&sw.fd, rec_in);
		break;
	case 'O':
		iv_fd_set_handler_out(&sw.fd, rec_out);
		break;
	case 'E':
		iv_fd_set_handler_err(&sw.fd, rec_err);
		break;
	}
}

static void switch_on_ready(char band)
{
	int p[2] = { -1, -1 };
	int sv[2] = { -1, -1 };
	int os_fd;

	iv_init();
	switch (band) {
	case 'I':
		h_pipe(p);
		h_write_byte(p[1]);
		os_fd = p[0];
		break;
	case 'O':
		h_socketpair(sv);
		os_fd = sv[0];
		break;
	default:
		os_fd = hup_socket();
		break;
	}
	rec_init(&sw, os_fd);
	sw.unregister_after = 1;
	sw_band = band;
	sw_tick = 0;
	iv_fd_register(&sw.fd);

	h_tick_hook = switch_hook;
	h_ticker_start();
	h_deadline_start(5000, "callback after switching a handler on for an "
			       "already-ready fd");
	iv_main();
	CHECKF(sw.nlog == 1 && sw.log[0] == band, "log \"%s\", want \"%c\"",
	       sw.log, band);
	CHECKF(sw.ticks[0] >= sw_tick && sw.ticks[0] <= sw_tick + 1,
	       "handler switched on at iteration %lu, first call at %lu",
	       sw_tick, sw.ticks[0]);
	close(os_fd);
	if (p[1] >= 0)
		close(p[1]);
	if (sv[1] >= 0)
		close(sv[1]);
	iv_deinit();
}

static void switch_null_to_in_on_ready(void)
{
	switch_on_ready('I');
}

static void switch_null_to_out_on_ready(void)
{
	switch_on_ready('O');
}

static void switch_null_to_err_on_ready(void)
{
	switch_on_ready('E');
}

/*
 * The same while the loop sleeps: the switch comes from a timer callback
 * and nothing else will wake the loop except the switched-on fd.
 */
static void switch_from_timer(void *cookie)
{
	(void)cookie;
	iv_fd_set_handler_in(&sw.fd, rec_in);
}

static void switch_null_to_in_while_sleeping(void)
{
	struct iv_timer t;
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	rec_init(&sw, p[0]);
	sw.unregister_after = 1;
	iv_fd_register(&sw.fd);

	IV_TIMER_INIT(&t);
	t.expires = h_ts_add_ms(h_mono(), 30);
	t.handler = switch_from_timer;
	iv_timer_register(&t);
	h_deadline_start(5000, "callback after switching handler_in on from "
			       "a timer");
	iv_main();
	CHECK_STREQ(sw.log, "I");
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/*
 * Flow control as syslog-ng does it: the in handler switches itself off
 * without reading; some iterations later a task switches it back on; the
 * data is still there, so the handler must run again.  Also switching off
 * and on within one callback keeps the fd live.
 */
static struct rec_fd fc;
static int fc_calls;
static unsigned long fc_off_tick;

static void fc_in(void *cookie);

static void fc_hook(unsigned long tick)
{
	if (fc_off_tick && tick == fc_off_tick + 3) {
		fc_off_tick = 0;
		iv_fd_set_handler_in(&fc.fd, fc_in);
	}
}

static void fc_in(void *cookie)
{
	(void)cookie;
	fc_calls++;
	switch (fc_calls) {
	case 1:
		/* Off and on again in the same callback: still live. */
		iv_fd_set_handler_in(&fc.fd, NULL);
		iv_fd_set_handler_in(&fc.fd, fc_in);
		break;
	case 2:
		/* Off; the ticker hook turns it on three iterations later. */
		iv_fd_set_handler_in(&fc.fd, NULL);
		fc_off_tick = h_ticks;
		break;
	case 3:
		iv_fd_unregister(&fc.fd);
		h_finish();
		break;
	}
}

static void flow_control_off_on(void)
{
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	rec_init(&fc, p[0]);
	fc.fd.handler_in = fc_in;
	iv_fd_register(&fc.fd);
	h_tick_hook = fc_hook;
	h_ticker_start();
	h_deadline_start(5000, "in handler after switching it off and on");
	iv_main();
	CHECK_EQ_LONG(fc_calls, 3);
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/*
 * The cookie is read when the callback is made: changed from inside the
 * handler and from a timer, the next call sees the new one.
 */
static struct iv_fd ck_fd;
static int ck_a, ck_b, ck_c;
static void *ck_seen[3];
static int ck_calls;

static void ck_in(void *cookie);

static void ck_set_c(void *cookie)
{
	(void)cookie;
	ck_fd.cookie = &ck_c;
	iv_fd_set_handler_in(&ck_fd, ck_in);
}

static struct iv_timer ck_timer;

static void ck_in(void *cookie)
{
	ck_seen[ck_calls++] = cookie;
	if (ck_calls == 1) {
		ck_fd.cookie = &ck_b;
	} else if (ck_calls == 2) {
		/* Pause the fd; a timer changes the cookie and resumes. */
		iv_fd_set_handler_in(&ck_fd, NULL);
		IV_TIMER_INIT(&ck_timer);
		ck_timer.expires = h_ts_add_ms(h_mono(), 10);
		ck_timer.handler = ck_set_c;
		iv_timer_register(&ck_timer);
	} else {
		iv_fd_unregister(&ck_fd);
		h_finish();
	}
}

static void cookie_read_at_call_time(void)
{
	int p[2];

	iv_init();
	h_pipe(p);
	h_write_byte(p[1]);
	IV_FD_INIT(&ck_fd);
	ck_fd.fd = p[0];
	ck_fd.cookie = &ck_a;
	ck_fd.handler_in = ck_in;
	iv_fd_register(&ck_fd);
	h_deadline_start(5000, "three calls with changing cookies");
	iv_main();
	CHECK_EQ_LONG(ck_calls, 3);
	CHECKF(ck_seen[0] == &ck_a, "first call: wrong cookie");
	CHECKF(ck_seen[1] == &ck_b, "cookie changed in the handler not seen");
	CHECKF(ck_seen[2] == &ck_c, "cookie changed from a timer not seen");
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

/* Many descriptors at once: every one is dispatched exactly once. */
#define MANY 1000

struct many_fd {
	struct iv_fd fd;
	int peer;
	int index;
	int calls;
};

static struct many_fd many[MANY];
static int many_left;

static void many_in(void *cookie)
{
	struct many_fd *m = cookie;
	char c;

	CHECKF(m >= many && m < many + MANY, "bad cookie %p", cookie);
	CHECKF(read(m->fd.fd, &c, 1) == 1, "fd %d: no data in handler",
	       m->fd.fd);
	CHECKF(c == (char)m->index, "fd %d read byte %d, want %d", m->fd.fd,
	       c, (char)m->index);
	m->calls++;
	iv_fd_unregister(&m->fd);
	if (--many_left == 0)
		h_finish();
}

static void many_fds_all_dispatched(void)
{
	static int order[MANY];
	int i;

	iv_init();
	for (i = 0; i < MANY; i++) {
		int sv[2];

		h_socketpair(sv);
		IV_FD_INIT(&many[i].fd);
		many[i].fd.fd = sv[0];
		many[i].fd.cookie = &many[i];
		many[i].fd.handler_in = many_in;
		many[i].peer = sv[1];
		many[i].index = i;
		iv_fd_register(&many[i].fd);
	}
	many_left = MANY;
	/* Make them ready in a scrambled order. */
	h_srand(12345);
	for (i = 0; i < MANY; i++)
		order[i] = i;
	for (i = MANY - 1; i > 0; i--) {
		int j = (int)h_rand_below((unsigned long)i + 1);
		int tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	for (i = 0; i < MANY; i++) {
		char c = (char)order[i];

		if (write(many[order[i]].peer, &c, 1) != 1)
			FAIL("write: %s", strerror(errno));
	}
	h_deadline_start(10000, "1000 socketpairs dispatched");
	iv_main();
	CHECK_EQ_LONG(many_left, 0);
	for (i = 0; i < MANY; i++) {
		CHECKF(many[i].calls == 1, "fd #%d called %d times", i,
		       many[i].calls);
		close(many[i].fd.fd);
		close(many[i].peer);
	}
	iv_deinit();
}

/*
 * Output readiness is real and level-triggered: a socket whose send buffer
 * is full gets no out call; once the peer drains it, the out handler runs
 * (again every iteration while it stays writable).
 */
static struct rec_fd full;
static int full_peer;
static unsigned long full_drain_tick;

static void full_hook(unsigned long tick)
{
	if (tick == 10) {
		/* Nothing so far: the buffer is full. */
		CHECKF(full.nlog == 0, "out handler called on a full socket "
				       "(\"%s\")", full.log);
		h_drain(full_peer);
		full_drain_tick = tick;
	}
}

static void writable_after_full(void)
{
	int sv[2];
	char buf[4096];
	long total = 0;
	int i;

	iv_init();
	h_socketpair(sv);
	SYSCHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK));
	SYSCHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK));
	memset(buf, 'z', sizeof(buf));
	for (;;) {
		ssize_t n = write(sv[0], buf, sizeof(buf));

		if (n < 0) {
			CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
			break;
		}
		total += n;
		CHECKF(total < (64L << 20), "socket never filled up");
	}

	rec_init(&full, sv[0]);
	full.fd.handler_out = rec_out;
	full.unregister_after = 4;
	full_peer = sv[1];
	iv_fd_register(&full.fd);
	h_tick_hook = full_hook;
	h_ticker_start();
	h_deadline_start(5000, "out handler after the peer drained");
	iv_main();
	CHECK_STREQ(full.log, "OOOO");
	CHECKF(full.ticks[0] >= full_drain_tick, "out call before the drain");
	for (i = 1; i < 4; i++)
		CHECKF(full.ticks[i] == full.ticks[i - 1] + 1,
		       "out calls at iterations %lu and %lu: not level-"
		       "triggered", full.ticks[i - 1], full.ticks[i]);
	close(sv[0]);
	close(sv[1]);
	iv_deinit();
}

/* An empty pipe gives no in calls; data written later (from a timer while
 * the loop sleeps) wakes the loop and gives one. */
static struct rec_fd empty;
static int empty_write_fd;

static void empty_writer(void *cookie)
{
	(void)cookie;
	CHECKF(empty.nlog == 0, "in handler called on an empty pipe");
	h_write_byte(empty_write_fd);
}

static void empty_then_data(void)
{
	struct iv_timer t;
	int p[2];

	iv_init();
	h_pipe(p);
	rec_init(&empty, p[0]);
	empty.fd.handler_in = rec_in;
	empty.unregister_after = 1;
	empty_write_fd = p[1];
	iv_fd_register(&empty.fd);
	IV_TIMER_INIT(&t);
	t.expires = h_ts_add_ms(h_mono(), 50);
	t.handler = empty_writer;
	iv_timer_register(&t);
	h_deadline_start(5000, "in handler after data arrived");
	iv_main();
	CHECK_STREQ(empty.log, "I");
	close(p[0]);
	close(p[1]);
	iv_deinit();
}

int main(void)
{
	RUN(order_err_in_out_hup);
	RUN(order_err_in_out_refused);
	RUN(err_handler_unregisters);
	RUN(in_handler_unregisters);
	RUN(hup_only_err_handler);
	RUN(level_triggered_every_iteration);
	RUN(null_handler_not_called);
	RUN(register_already_ready);
	RUN(register_already_ready_from_callback);
	RUN(switch_null_to_in_on_ready);
	RUN(switch_null_to_out_on_ready);
	RUN(switch_null_to_err_on_ready);
	RUN(switch_null_to_in_while_sleeping);
	RUN(flow_control_off_on);
	RUN(cookie_read_at_call_time);
	RUN(many_fds_all_dispatched);
	RUN(writable_after_full);
	RUN(empty_then_data);
	return h_done("test_fd_dispatch");
}
