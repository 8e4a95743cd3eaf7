/*
 * SPEC 8: iv_fd_pump -- 64 MiB through socketpairs, pipes and both mixes
 * arrive intact (length and position-sensitive checksum) on the splice path
 * and on the read/write path; EOF is relayed with shutdown(SHUT_WR) to a
 * socket, is not an error on a pipe, and is not relayed without the flag;
 * a reader that stalls makes the pump stop reading (set_bands(0, 1))
 * instead of spinning; errors on either side return -1 with errno;
 * set_bands is called as the reference calls it (init, every pump call,
 * destroy before done); destroy at any time, even from set_bands, leaks
 * no descriptor; a pump still works when no descriptor is left for its
 * splice pipe, and when the output refuses splice (an O_APPEND file).
 *
 * This program defines splice() itself, in front of the C library's, so
 * that a subtest can make splice "missing" (ENOSYS) and force the buffer
 * path, and can count the splices that really moved data.
 *
 * Against Debian's 0.42.4 three subtests fail, where we are deliberately
 * stricter: output_refuses_splice (it drops the data in transit and
 * returns EINVAL), destroy_from_set_bands[guard] (it touches the pump
 * after calling set_bands, which here destroyed and freed it) and
 * pump_after_destroy_is_fatal (it uses the freed state instead).
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/syscall.h>
#include <dirent.h>

#include <iv_fd_pump.h>

#include "harness.h"

/* ------------------------------------------------------------------ */
/* splice(), interposed                                                */
/* ------------------------------------------------------------------ */

static int splice_missing;		/* answer ENOSYS */
static unsigned long splice_calls;	/* every call */
static unsigned long splice_moved;	/* calls that moved data */

ssize_t splice(int fd_in, __off64_t *off_in, int fd_out, __off64_t *off_out,
	       size_t len, unsigned int flags)
{
	long n;

	splice_calls++;
	if (splice_missing) {
		errno = ENOSYS;
		return -1;
	}
	n = syscall(SYS_splice, fd_in, off_in, fd_out, off_out, len, flags);
	if (n > 0)
		splice_moved++;
	return n;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static void ignore_bands(void *cookie, int pollin, int pollout)
{
	(void)cookie;
	(void)pollin;
	(void)pollout;
}

/*
 * Leak checks count the open descriptors (open_fds). A library may keep
 * process-wide descriptors from its first pump on (the reference keeps a
 * pipe pair for its splice probe, and a cache of clean pipes), so they
 * count after one pump has come and gone, and allow a destroy to close
 * more than the last init opened.
 */
static void first_pump_comes_and_goes(void)
{
	struct iv_fd_pump p;
	int fds[2];

	h_socketpair(fds);
	IV_FD_PUMP_INIT(&p);
	p.from_fd = fds[0];
	p.to_fd = fds[1];
	p.cookie = NULL;
	p.set_bands = ignore_bands;
	p.flags = 0;
	iv_fd_pump_init(&p);
	iv_fd_pump_destroy(&p);
	close(fds[0]);
	close(fds[1]);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		FAIL("opendir(/proc/self/fd): %s", strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

static void set_nonblock(int fd)
{
	SYSCHECK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK));
}

/* Position-sensitive: a reordering or a lost byte changes it. */
static uint64_t sum_update(uint64_t h, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

#define SUM_INIT 0xcbf29ce484222325ULL

enum kind { SOCK, PIPE };

/* A connected pair: *w is the end written to, *r the end read from. */
static void make_pair(enum kind kind, int *w, int *r)
{
	int fds[2];

	if (kind == SOCK) {
		h_socketpair(fds);
		*w = fds[0];
		*r = fds[1];
	} else {
		h_pipe(fds);
		*w = fds[1];
		*r = fds[0];
	}
}

/* ------------------------------------------------------------------ */
/* A whole transfer driven by the loop:                                */
/*   writer --src pair--> [from] pump [to] --dst pair--> reader        */
/* ------------------------------------------------------------------ */

#define CHUNK 65536

struct xfer {
	/* Set by the subtest. */
	enum kind from_kind, to_kind;
	unsigned int flags;
	long long total;
	int stall_ms;			/* the reader starts this late */

	int src_w, from, to, dst_r;
	struct iv_fd src_fd, from_fd, to_fd, dst_fd;
	struct iv_fd_pump pump;
	int pump_live;

	/* Writer. */
	long long sent;
	uint64_t sent_sum;
	unsigned char chunk[CHUNK];
	size_t chunk_len, chunk_off;

	/* Reader. */
	long long got;
	uint64_t got_sum;
	int got_eof;
	long long got_at_pump_end;	/* what the reader had when the pump
					 * returned 0 (-1: not yet) */

	/* Pump. */
	int result;			/* 1 running, 0 done, -1 error */
	int error;
	unsigned long pump_calls;
	unsigned long set_bands_calls;
	int stalled;			/* the reader is not reading yet */
	int saw_stop_reading;		/* set_bands(0, 1) seen */
	unsigned long calls_while_stopped;

	struct iv_timer stall_timer;
};


static void writer_out(void *cookie)
{
	struct xfer *x = cookie;
	ssize_t n;

	if (x->chunk_off == x->chunk_len) {
		long long left = x->total - x->sent;
		size_t i;

		x->chunk_len = left < CHUNK ? (size_t)left : CHUNK;
		for (i = 0; i < x->chunk_len; i += 8) {
			uint64_t v = h_rand();

			memcpy(x->chunk + i, &v,
			       x->chunk_len - i < 8 ? x->chunk_len - i : 8);
		}
		x->chunk_off = 0;
		x->sent_sum = sum_update(x->sent_sum, x->chunk, x->chunk_len);
	}
	n = write(x->src_w, x->chunk + x->chunk_off,
		  x->chunk_len - x->chunk_off);
	if (n < 0) {
		CHECKF(errno == EAGAIN, "writer: %s", strerror(errno));
		return;
	}
	x->chunk_off += (size_t)n;
	x->sent += n;
	if (x->sent == x->total) {
		iv_fd_unregister(&x->src_fd);
		/* End of input for the pump. */
		if (x->from_kind == SOCK) {
			SYSCHECK(shutdown(x->src_w, SHUT_WR));
		} else {
			close(x->src_w);
			x->src_w = -1;
		}
	}
}

static void reader_in(void *cookie)
{
	struct xfer *x = cookie;
	static unsigned char buf[CHUNK];
	ssize_t n = read(x->dst_r, buf, sizeof(buf));

	if (n < 0) {
		CHECKF(errno == EAGAIN, "reader: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		x->got_eof = 1;
		iv_fd_unregister(&x->dst_fd);
		h_deadline_cancel();
		return;
	}
	x->got += n;
	x->got_sum = sum_update(x->got_sum, buf, (size_t)n);
}

static void stall_over(void *cookie)
{
	struct xfer *x = cookie;

	x->stalled = 0;
	iv_fd_set_handler_in(&x->dst_fd, reader_in);
}

static void pump_handler(void *cookie);

static void xfer_set_bands(void *cookie, int pollin, int pollout)
{
	struct xfer *x = cookie;

	x->set_bands_calls++;
	if (x->stalled && !pollin && pollout)
		x->saw_stop_reading = 1;
	iv_fd_set_handler_in(&x->from_fd, pollin ? pump_handler : NULL);
	iv_fd_set_handler_out(&x->to_fd, pollout ? pump_handler : NULL);
}

static void pump_handler(void *cookie)
{
	struct xfer *x = cookie;
	int r;

	x->pump_calls++;
	if (x->stalled && x->saw_stop_reading)
		x->calls_while_stopped++;
	r = iv_fd_pump_pump(&x->pump);
	if (r == 1)
		return;
	x->result = r;
	x->error = r < 0 ? errno : 0;
	if (r == 0) {
		CHECK(iv_fd_pump_is_done(&x->pump));
		x->got_at_pump_end = x->got;
	}
	iv_fd_pump_destroy(&x->pump);
	x->pump_live = 0;
	iv_fd_unregister(&x->from_fd);
	iv_fd_unregister(&x->to_fd);
	/* A pipe cannot be shut down: closing it is how its reader learns of
	 * the end. A socket stays open: the relayed EOF must suffice. */
	if (r == 0 && x->to_kind == PIPE) {
		close(x->to);
		x->to = -1;
	}
	if (r < 0) {
		iv_fd_unregister(&x->dst_fd);
		h_deadline_cancel();
	}
}

static void xfer_setup(struct xfer *x)
{
	make_pair(x->from_kind, &x->src_w, &x->from);
	make_pair(x->to_kind, &x->to, &x->dst_r);

	IV_FD_INIT(&x->src_fd);
	x->src_fd.fd = x->src_w;
	x->src_fd.cookie = x;
	x->src_fd.handler_out = writer_out;
	iv_fd_register(&x->src_fd);

	IV_FD_INIT(&x->from_fd);
	x->from_fd.fd = x->from;
	x->from_fd.cookie = x;
	iv_fd_register(&x->from_fd);

	IV_FD_INIT(&x->to_fd);
	x->to_fd.fd = x->to;
	x->to_fd.cookie = x;
	iv_fd_register(&x->to_fd);

	IV_FD_INIT(&x->dst_fd);
	x->dst_fd.fd = x->dst_r;
	x->dst_fd.cookie = x;
	if (x->stall_ms > 0) {
		x->stalled = 1;
		IV_TIMER_INIT(&x->stall_timer);
		iv_validate_now();
		x->stall_timer.expires = iv_now;
		x->stall_timer.expires.tv_nsec += (long)x->stall_ms * 1000000;
		while (x->stall_timer.expires.tv_nsec >= 1000000000) {
			x->stall_timer.expires.tv_sec++;
			x->stall_timer.expires.tv_nsec -= 1000000000;
		}
		x->stall_timer.cookie = x;
		x->stall_timer.handler = stall_over;
		iv_timer_register(&x->stall_timer);
	} else {
		x->dst_fd.handler_in = reader_in;
	}
	iv_fd_register(&x->dst_fd);

	IV_FD_PUMP_INIT(&x->pump);
	x->pump.from_fd = x->from;
	x->pump.to_fd = x->to;
	x->pump.cookie = x;
	x->pump.set_bands = xfer_set_bands;
	x->pump.flags = x->flags;
	x->result = 1;
	x->sent_sum = SUM_INIT;
	x->got_sum = SUM_INIT;
	x->got_at_pump_end = -1;
	iv_fd_pump_init(&x->pump);
	x->pump_live = 1;
}

static void xfer_close(struct xfer *x)
{
	if (x->src_w >= 0)
		close(x->src_w);
	close(x->from);
	if (x->to >= 0)
		close(x->to);
	close(x->dst_r);
}

/* Runs a transfer of x->total bytes and checks it arrived whole. */
static void xfer_run(struct xfer *x)
{

	xfer_setup(x);
	h_deadline_start(12000, "the transfer");
	iv_main();
	CHECKF(x->result == 0, "pump returned %d (%s)", x->result,
	       strerror(x->error));
	CHECK_EQ_LONG(x->sent, x->total);
	CHECK_EQ_LONG(x->got, x->total);
	CHECK(x->got_eof);
	CHECKF(x->got_sum == x->sent_sum, "checksum differs: sent %016llx, "
	       "received %016llx", (unsigned long long)x->sent_sum,
	       (unsigned long long)x->got_sum);
	xfer_close(x);
}

static struct xfer xf;

static void big_transfer(enum kind from, enum kind to, int missing)
{
	iv_init();
	splice_missing = missing;
	memset(&xf, 0, sizeof(xf));
	xf.from_kind = from;
	xf.to_kind = to;
	xf.flags = IV_FD_PUMP_FLAG_RELAY_EOF;
	xf.total = 64LL << 20;
	xfer_run(&xf);
	if (missing) {
		/* The interposer was asked, and answered "no splice". */
		CHECK(splice_calls > 0);
		CHECK_EQ_LONG(splice_moved, 0);
	} else {
		/* The kernel splices sockets and pipes: it was used. */
		CHECK(splice_moved > 0);
	}
	iv_deinit();
}

static void splice_sock_to_sock(void) { big_transfer(SOCK, SOCK, 0); }
static void splice_pipe_to_pipe(void) { big_transfer(PIPE, PIPE, 0); }
static void splice_sock_to_pipe(void) { big_transfer(SOCK, PIPE, 0); }
static void splice_pipe_to_sock(void) { big_transfer(PIPE, SOCK, 0); }
static void buffer_sock_to_sock(void) { big_transfer(SOCK, SOCK, 1); }
static void buffer_pipe_to_pipe(void) { big_transfer(PIPE, PIPE, 1); }
static void buffer_sock_to_pipe(void) { big_transfer(SOCK, PIPE, 1); }
static void buffer_pipe_to_sock(void) { big_transfer(PIPE, SOCK, 1); }

/*
 * The reader starts 150 ms late: the output blocks, the pump's storage
 * fills, and it must then stop asking for input (set_bands(0, 1)) and not
 * be called again until the output drains; then everything arrives.
 */
static void stalled_reader(int missing)
{
	iv_init();
	splice_missing = missing;
	memset(&xf, 0, sizeof(xf));
	xf.from_kind = SOCK;
	xf.to_kind = SOCK;
	xf.flags = IV_FD_PUMP_FLAG_RELAY_EOF;
	xf.total = 16LL << 20;
	xf.stall_ms = 150;
	xfer_run(&xf);
	CHECK(xf.saw_stop_reading);
	/* Not spinning: a handful of calls at most (a spinning pump makes
	 * thousands in 150 ms). */
	CHECKF(xf.calls_while_stopped <= 20, "%lu pump calls while the "
	       "output was blocked and the input switched off",
	       xf.calls_while_stopped);
	iv_deinit();
}

static void stalled_reader_splice(void) { stalled_reader(0); }
static void stalled_reader_buffer(void) { stalled_reader(1); }

/* ------------------------------------------------------------------ */
/* set_bands and the return values, step by step                       */
/* ------------------------------------------------------------------ */

static int bands_in, bands_out, bands_calls;

static void record_bands(void *cookie, int pollin, int pollout)
{
	CHECK(cookie == &bands_calls);
	bands_in = pollin;
	bands_out = pollout;
	bands_calls++;
}

static struct iv_fd_pump pump;

static void pump_init(int from, int to, unsigned int flags)
{
	IV_FD_PUMP_INIT(&pump);
	pump.from_fd = from;
	pump.to_fd = to;
	pump.cookie = &bands_calls;
	pump.set_bands = record_bands;
	pump.flags = flags;
	bands_calls = 0;
	iv_fd_pump_init(&pump);
}

/* Data and end of input are both waiting: a pump may need a second call
 * to see the end after moving the data (the reference does). */
static int pump_to_end(void)
{
	int r = 1, i;

	for (i = 0; i < 3 && r == 1; i++)
		r = iv_fd_pump_pump(&pump);
	return r;
}

/* Two socketpairs, non-blocking: src[0] -> src[1] (from) ... dst[0] (to) ->
 * dst[1]. */
static int src[2], dst[2];

static void two_pairs(void)
{
	h_socketpair(src);
	h_socketpair(dst);
	set_nonblock(src[0]);
	set_nonblock(src[1]);
	set_nonblock(dst[0]);
	set_nonblock(dst[1]);
}

static void set_bands_protocol(void)
{
	char buf[16];

	iv_init();
	two_pairs();
	pump_init(src[1], dst[0], IV_FD_PUMP_FLAG_RELAY_EOF);
	/* init: "call me when from_fd is readable". */
	CHECK_EQ_LONG(bands_calls, 1);
	CHECK(bands_in && !bands_out);
	CHECK(!iv_fd_pump_is_done(&pump));

	/* Nothing to read: 1, and set_bands again (every call). */
	CHECK_EQ_LONG(iv_fd_pump_pump(&pump), 1);
	CHECK_EQ_LONG(bands_calls, 2);
	CHECK(bands_in && !bands_out);

	CHECK_EQ_LONG(write(src[0], "hello", 5), 5);
	CHECK_EQ_LONG(iv_fd_pump_pump(&pump), 1);
	CHECK_EQ_LONG(bands_calls, 3);
	CHECK(bands_in && !bands_out);
	CHECK_EQ_LONG(read(dst[1], buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);

	/* End of input: 0, set_bands(0, 0), done; the EOF is relayed. */
	SYSCHECK(shutdown(src[0], SHUT_WR));
	CHECK_EQ_LONG(iv_fd_pump_pump(&pump), 0);
	CHECK_EQ_LONG(bands_calls, 4);
	CHECK(!bands_in && !bands_out);
	CHECK(iv_fd_pump_is_done(&pump));
	CHECK_EQ_LONG(read(dst[1], buf, sizeof(buf)), 0);

	/* Done is done: 0 again, set_bands(0, 0) again. */
	CHECK_EQ_LONG(iv_fd_pump_pump(&pump), 0);
	CHECK_EQ_LONG(bands_calls, 5);
	CHECK(!bands_in && !bands_out);

	/* Destroying a finished pump calls nothing. */
	iv_fd_pump_destroy(&pump);
	CHECK_EQ_LONG(bands_calls, 5);
	iv_deinit();
}

/* Output full: the pump holds the data, wants POLLOUT, and delivers it
 * (and the end) once the reader drains the output. */
static void output_blocks_then_drains(void)
{
	static char big[1 << 20];
	char buf[64];
	long long filled = 0, drained = 0;
	ssize_t n;

	iv_init();
	two_pairs();
	pump_init(src[1], dst[0], IV_FD_PUMP_FLAG_RELAY_EOF);
	while ((n = write(dst[0], big, sizeof(big))) > 0)
		filled += n;
	CHECK(errno == EAGAIN);

	CHECK_EQ_LONG(write(src[0], "world", 5), 5);
	CHECK_EQ_LONG(iv_fd_pump_pump(&pump), 1);
	CHECK(bands_out);
	CHECK_EQ_LONG(write(src[0], "wide", 4), 4);
	CHECK_EQ_LONG(iv_fd_pump_pump(&pump), 1);
	CHECK(bands_out);

	while ((n = read(dst[1], big, sizeof(big))) > 0)
		drained += n;
	CHECK_EQ_LONG(drained, filled);
	SYSCHECK(shutdown(src[0], SHUT_WR));
	/* Everything held goes out; at most a couple of calls to see EOF. */
	for (n = 0; n < 4 && !iv_fd_pump_is_done(&pump); n++)
		CHECK(iv_fd_pump_pump(&pump) >= 0);
	CHECK(iv_fd_pump_is_done(&pump));
	CHECK_EQ_LONG(read(dst[1], buf, sizeof(buf)), 9);
	CHECK(memcmp(buf, "worldwide", 9) == 0);
	CHECK_EQ_LONG(read(dst[1], buf, sizeof(buf)), 0);
	iv_fd_pump_destroy(&pump);
	iv_deinit();
}

/* Without IV_FD_PUMP_FLAG_RELAY_EOF the output stays open. */
static void no_relay_without_flag(void)
{
	char buf[16];

	iv_init();
	two_pairs();
	pump_init(src[1], dst[0], 0);
	CHECK_EQ_LONG(write(src[0], "abc", 3), 3);
	SYSCHECK(shutdown(src[0], SHUT_WR));
	CHECK_EQ_LONG(pump_to_end(), 0);
	CHECK(iv_fd_pump_is_done(&pump));
	CHECK_EQ_LONG(read(dst[1], buf, sizeof(buf)), 3);
	errno = 0;
	CHECK_EQ_LONG(read(dst[1], buf, sizeof(buf)), -1);
	CHECK_EQ_LONG(errno, EAGAIN);
	iv_fd_pump_destroy(&pump);
	iv_deinit();
}

/* Relaying to a pipe cannot shut it down; that is not an error, and the
 * pipe stays open for the caller to close. */
static void relay_to_pipe_is_not_an_error(void)
{
	int p[2];
	char buf[16];

	iv_init();
	two_pairs();
	h_pipe(p);
	set_nonblock(p[0]);
	set_nonblock(p[1]);
	pump_init(src[1], p[1], IV_FD_PUMP_FLAG_RELAY_EOF);
	CHECK_EQ_LONG(write(src[0], "xyz", 3), 3);
	SYSCHECK(shutdown(src[0], SHUT_WR));
	CHECK_EQ_LONG(pump_to_end(), 0);
	CHECK_EQ_LONG(read(p[0], buf, sizeof(buf)), 3);
	errno = 0;
	CHECK_EQ_LONG(read(p[0], buf, sizeof(buf)), -1);
	CHECK_EQ_LONG(errno, EAGAIN);
	iv_fd_pump_destroy(&pump);
	close(p[1]);
	CHECK_EQ_LONG(read(p[0], buf, sizeof(buf)), 0);
	iv_deinit();
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* The output's reader is gone: EPIPE, no set_bands call. */
static void error_on_output_side(int missing)
{
	int calls;

	iv_init();
	splice_missing = missing;
	two_pairs();
	pump_init(src[1], dst[0], 0);
	close(dst[1]);
	CHECK_EQ_LONG(write(src[0], "data", 4), 4);
	calls = bands_calls;
	errno = 0;
	CHECK_EQ_LONG(iv_fd_pump_pump(&pump), -1);
	CHECKF(errno == EPIPE || errno == ECONNRESET, "errno %s",
	       strerror(errno));
	CHECK_EQ_LONG(bands_calls, calls);
	CHECK(!iv_fd_pump_is_done(&pump));
	iv_fd_pump_destroy(&pump);
	/* Not done: destroy says "nothing more" through set_bands. */
	CHECK_EQ_LONG(bands_calls, calls + 1);
	CHECK(!bands_in && !bands_out);
	iv_deinit();
}

static void error_on_output_side_splice(void) { error_on_output_side(0); }
static void error_on_output_side_buffer(void) { error_on_output_side(1); }

/* A TCP peer that resets the connection: ECONNRESET from the input. */
static void error_on_input_side(int missing)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct linger hard = { 1, 0 };
	int lsn, client, server;

	iv_init();
	splice_missing = missing;
	lsn = socket(AF_INET, SOCK_STREAM, 0);
	SYSCHECK(lsn);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	SYSCHECK(bind(lsn, (struct sockaddr *)&sin, sizeof(sin)));
	SYSCHECK(listen(lsn, 1));
	SYSCHECK(getsockname(lsn, (struct sockaddr *)&sin, &len));
	client = socket(AF_INET, SOCK_STREAM, 0);
	SYSCHECK(connect(client, (struct sockaddr *)&sin, sizeof(sin)));
	server = accept(lsn, NULL, NULL);
	SYSCHECK(server);
	set_nonblock(server);
	h_socketpair(dst);
	set_nonblock(dst[0]);

	pump_init(server, dst[0], 0);
	SYSCHECK(setsockopt(client, SOL_SOCKET, SO_LINGER, &hard,
			    sizeof(hard)));
	close(client);	/* sends RST */
	usleep(10000);
	errno = 0;
	CHECK_EQ_LONG(iv_fd_pump_pump(&pump), -1);
	CHECKF(errno == ECONNRESET, "errno %s", strerror(errno));
	iv_fd_pump_destroy(&pump);
	close(server);
	close(lsn);
	iv_deinit();
}

static void error_on_input_side_splice(void) { error_on_input_side(0); }
static void error_on_input_side_buffer(void) { error_on_input_side(1); }

/* ------------------------------------------------------------------ */
/* Destroy at any time                                                 */
/* ------------------------------------------------------------------ */

/* Data in transit (the output is full): destroy drops it and closes
 * whatever the pump opened. */
static void destroy_with_data_in_transit(void)
{
	static char big[1 << 20];
	int before;

	iv_init();
	two_pairs();
	first_pump_comes_and_goes();
	before = open_fds();
	pump_init(src[1], dst[0], 0);
	while (write(dst[0], big, sizeof(big)) > 0)
		;
	CHECK_EQ_LONG(write(src[0], big, 4096), 4096);
	CHECK_EQ_LONG(iv_fd_pump_pump(&pump), 1);
	CHECK(bands_out);
	iv_fd_pump_destroy(&pump);
	CHECK(!bands_in && !bands_out);
	CHECK(open_fds() <= before);
	iv_deinit();
}

/* set_bands destroys the pump and frees its memory when it is asked to
 * wait for output; the pump must not touch it afterwards ([guard]: the
 * memory becomes inaccessible). */
static struct iv_fd_pump *heap_pump;
static int destroyed_in_set_bands;

static void destroy_on_pollout(void *cookie, int pollin, int pollout)
{
	(void)cookie;
	(void)pollin;
	if (pollout && heap_pump != NULL) {
		struct iv_fd_pump *p = heap_pump;

		heap_pump = NULL;
		iv_fd_pump_destroy(p);
		h_obj_free(p, sizeof(*p));
		destroyed_in_set_bands = 1;
	}
}

static void destroy_from_set_bands(void)
{
	static char big[1 << 20];
	int before;

	iv_init();
	two_pairs();
	first_pump_comes_and_goes();
	before = open_fds();
	heap_pump = h_obj_alloc(sizeof(*heap_pump));
	IV_FD_PUMP_INIT(heap_pump);
	heap_pump->from_fd = src[1];
	heap_pump->to_fd = dst[0];
	heap_pump->set_bands = destroy_on_pollout;
	iv_fd_pump_init(heap_pump);
	while (write(dst[0], big, sizeof(big)) > 0)
		;
	CHECK_EQ_LONG(write(src[0], "x", 1), 1);
	CHECK_EQ_LONG(iv_fd_pump_pump(heap_pump), 1);
	CHECK(destroyed_in_set_bands);
	CHECK(open_fds() <= before);
	iv_deinit();
}

/* ------------------------------------------------------------------ */
/* Fallbacks                                                           */
/* ------------------------------------------------------------------ */

/*
 * The output is an O_APPEND file, which splice refuses (EINVAL) after the
 * input was already spliced into the pump's pipe: that data must not be
 * lost; the pump carries on through its buffer.
 */
static void output_refuses_splice(void)
{
	char path[] = "/tmp/test_fd_pump.XXXXXX";
	static unsigned char buf[CHUNK];
	long long total = 4LL << 20, sent = 0, got = 0;
	uint64_t sent_sum = SUM_INIT, got_sum = SUM_INIT;
	int file, r = 1, rounds = 0;
	ssize_t n;

	iv_init();
	two_pairs();
	file = mkstemp(path);
	SYSCHECK(file);
	unlink(path);
	SYSCHECK(fcntl(file, F_SETFL, O_APPEND));
	pump_init(src[1], file, 0);
	while (r == 1) {
		CHECKF(++rounds < 100000, "the pump does not finish");
		if (sent < total) {
			size_t i, len = total - sent < CHUNK ?
				(size_t)(total - sent) : CHUNK;

			for (i = 0; i < len; i++)
				buf[i] = (unsigned char)h_rand();
			n = write(src[0], buf, len);
			if (n > 0) {
				sent_sum = sum_update(sent_sum, buf, (size_t)n);
				sent += n;
			}
			if (sent == total)
				SYSCHECK(shutdown(src[0], SHUT_WR));
		}
		r = iv_fd_pump_pump(&pump);
		CHECKF(r >= 0, "pump: %s", strerror(errno));
	}
	SYSCHECK(lseek(file, 0, SEEK_SET));
	while ((n = read(file, buf, sizeof(buf))) > 0) {
		got_sum = sum_update(got_sum, buf, (size_t)n);
		got += n;
	}
	CHECK_EQ_LONG(got, total);
	CHECK(got_sum == sent_sum);
	iv_fd_pump_destroy(&pump);
	close(file);
	iv_deinit();
}

/* Every descriptor is taken: the pump cannot make a splice pipe, and must
 * still move the data (through its buffer). */
static void no_descriptor_for_the_pipe(void)
{
	struct rlimit lim;
	char buf[16];
	int fd, r;

	iv_init();
	two_pairs();
	SYSCHECK(getrlimit(RLIMIT_NOFILE, &lim));
	lim.rlim_cur = 64;
	SYSCHECK(setrlimit(RLIMIT_NOFILE, &lim));
	while ((fd = dup(0)) >= 0)
		;
	CHECK_EQ_LONG(errno, EMFILE);

	pump_init(src[1], dst[0], IV_FD_PUMP_FLAG_RELAY_EOF);
	CHECK_EQ_LONG(write(src[0], "squeezed", 8), 8);
	SYSCHECK(shutdown(src[0], SHUT_WR));
	r = pump_to_end();
	CHECKF(r == 0, "pump returned %d (%s)", r, strerror(errno));
	CHECK_EQ_LONG(read(dst[1], buf, sizeof(buf)), 8);
	CHECK(memcmp(buf, "squeezed", 8) == 0);
	CHECK_EQ_LONG(read(dst[1], buf, sizeof(buf)), 0);
	iv_fd_pump_destroy(&pump);
	iv_deinit();
}

/* ------------------------------------------------------------------ */
/* Misuse (stricter than the reference, which reads freed memory)      */
/* ------------------------------------------------------------------ */

static void pump_after_destroy_child(void *arg)
{
	(void)arg;
	iv_init();
	two_pairs();
	pump_init(src[1], dst[0], 0);
	iv_fd_pump_destroy(&pump);
	iv_fd_pump_pump(&pump);
}

static void pump_after_destroy_is_fatal(void)
{
	struct h_child_result res;

	h_fork_fatal(pump_after_destroy_child, NULL, 1, &res);
	CHECK_FATAL(&res, "iv_fd_pump_pump");
}

int main(void)
{
	RUN(set_bands_protocol);
	RUN(output_blocks_then_drains);
	RUN(no_relay_without_flag);
	RUN(relay_to_pipe_is_not_an_error);
	RUN(splice_sock_to_sock);
	RUN(splice_pipe_to_pipe);
	RUN(splice_sock_to_pipe);
	RUN(splice_pipe_to_sock);
	RUN(buffer_sock_to_sock);
	RUN(buffer_pipe_to_pipe);
	RUN(buffer_sock_to_pipe);
	RUN(buffer_pipe_to_sock);
	RUN(stalled_reader_splice);
	RUN(stalled_reader_buffer);
	RUN(error_on_output_side_splice);
	RUN(error_on_output_side_buffer);
	RUN(error_on_input_side_splice);
	RUN(error_on_input_side_buffer);
	RUN(destroy_with_data_in_transit);
	RUN_BOTH(destroy_from_set_bands);
	RUN(output_refuses_splice);
	RUN(no_descriptor_for_the_pipe);
	RUN(pump_after_destroy_is_fatal);
	return h_done("test_fd_pump");
}
