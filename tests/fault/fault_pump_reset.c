/*
 * A peer resetting connections during a pump.
 *
 * 48 TCP connections over loopback at a time, each
 *
 *     client  --->  [a  proxy  b]  --->  sink
 *                     iv_fd_pump
 *
 * with all four parties in one loop.  The client writes 1 MiB and shuts
 * down its side; the proxy pumps a -> b with IV_FD_PUMP_FLAG_RELAY_EOF,
 * its set_bands switching the handlers of a (input) and b (output); the
 * sink reads to EOF.  A third of the connections run to the end; in a
 * third the client resets its connection (SO_LINGER 0, then close) after a
 * random part of the data; in a third the sink does.
 *
 * Expected: a connection left alone delivers every byte and the EOF, and
 * its pump ends with 0; a connection reset on either side ends its pump
 * with -1 and errno ECONNRESET or EPIPE (ENOTCONN when the reset shows only
 * as the relayed EOF's shutdown failing; or 0, if the client's reset came
 * through as an end of input), after which the proxy destroys the pump and closes
 * both ends; no SIGPIPE kills the process; the loop serves every other
 * connection meanwhile.
 *
 * ops = connections ended plus 16 KiB chunks delivered on undisturbed ones;
 * faults = connections reset; lost = bytes of undisturbed connections
 * that never reached their sink, plus connections that never ended.  Long
 * mode: 20 times the batches.
 */
#include "../stress/stress.h"

#include <iv_fd_pump.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#define CONNS 48
#define SHORT_BATCHES 3
#define TOTAL (1024 * 1024)
#define CHUNK (16 * 1024)

enum kind { NORMAL, RESET_CLIENT, RESET_SINK };

struct conn {
	int id;
	enum kind kind;
	long reset_at;

	struct iv_fd client;
	long sent;
	int client_done;

	struct iv_fd a, b;
	struct iv_fd_pump pump;
	int pump_result; /* 2 while running */
	int pump_errno;

	struct iv_fd sink;
	long got;
	int sink_done;
};

static struct conn conns[CONNS];
static int live;
static int listener;
static struct sockaddr_in laddr;
static char chunk[CHUNK];
static struct iv_timer deadline;
static int timed_out;

static void on_deadline(void *cookie)
{
	(void)cookie;
	timed_out = 1;
	iv_quit();
}

/* A connected TCP pair over loopback. */
static void tcp_pair(int *x, int *y)
{
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	S_SYS(c);
	S_SYS(connect(c, (struct sockaddr *)&laddr, sizeof(laddr)));
	*y = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	S_SYS(*y);
	*x = c;
}

static void hard_close(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void conn_check_end(struct conn *c)
{
	if (c->client_done && c->sink_done && c->pump_result != 2) {
		if (--live == 0) {
			iv_timer_unregister(&deadline);
		}
	}
}

/* ---- client ---------------------------------------------------------- */

static void client_writable(void *cookie)
{
	struct conn *c = cookie;
	long n = TOTAL - c->sent;
	ssize_t w;

	if (c->kind == RESET_CLIENT && c->sent >= c->reset_at) {
		iv_fd_unregister(&c->client);
		hard_close(c->client.fd);
		atomic_fetch_add(&s_faults, 1);
		c->client_done = 1;
		conn_check_end(c);
		return;
	}
	if (n > CHUNK)
		n = CHUNK;
	w = write(c->client.fd, chunk, (size_t)n);
	if (w < 0 && errno == EAGAIN)
		return;
	if (w < 0) {
		/* The sink reset, and the proxy closed its end. */
		if (c->kind != RESET_SINK)
			s_bad_event("conn %d: client write: %s", c->id, strerror(errno));
		iv_fd_unregister(&c->client);
		close(c->client.fd);
		c->client_done = 1;
		conn_check_end(c);
		return;
	}
	c->sent += w;
	if (c->sent == TOTAL) {
		shutdown(c->client.fd, SHUT_WR);
		iv_fd_unregister(&c->client);
		close(c->client.fd);
		c->client_done = 1;
		conn_check_end(c);
	}
}

/* ---- proxy ----------------------------------------------------------- */

static void pump_now(void *cookie);

static void set_bands(void *cookie, int pollin, int pollout)
{
	struct conn *c = cookie;

	iv_fd_set_handler_in(&c->a, pollin ? pump_now : NULL);
	iv_fd_set_handler_out(&c->b, pollout ? pump_now : NULL);
}

static void proxy_close(struct conn *c)
{
	iv_fd_pump_destroy(&c->pump);
	iv_fd_unregister(&c->a);
	iv_fd_unregister(&c->b);
	close(c->a.fd);
	close(c->b.fd);
}

static void pump_now(void *cookie)
{
	struct conn *c = cookie;
	int r = iv_fd_pump_pump(&c->pump);

	if (r == 1)
		return;
	c->pump_result = r;
	c->pump_errno = r < 0 ? errno : 0;
	if (r < 0 && c->kind == NORMAL)
		s_bad_event("conn %d: pump failed on an undisturbed connection: %s",
			    c->id, strerror(c->pump_errno));
	/* ENOTCONN: relaying the EOF (shutdown) to a sink that reset. */
	if (r < 0 && c->pump_errno != ECONNRESET && c->pump_errno != EPIPE &&
	    c->pump_errno != ENOTCONN)
		s_bad_event("conn %d: pump failed with %s, expected ECONNRESET, EPIPE or ENOTCONN",
			    c->id, strerror(c->pump_errno));
	if (r == 0 && !iv_fd_pump_is_done(&c->pump))
		s_bad_event("conn %d: pump returned 0 but is not done", c->id);
	proxy_close(c);
	conn_check_end(c);
}

/* ---- sink ------------------------------------------------------------ */

static void sink_readable(void *cookie)
{
	struct conn *c = cookie;
	char buf[CHUNK];
	ssize_t n = read(c->sink.fd, buf, sizeof(buf));

	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0) {
		c->got += n;
		if (c->kind == RESET_SINK && c->got >= c->reset_at) {
			iv_fd_unregister(&c->sink);
			hard_close(c->sink.fd);
			atomic_fetch_add(&s_faults, 1);
			c->sink_done = 1;
			conn_check_end(c);
		}
		return;
	}
	if (n < 0 && c->kind == NORMAL)
		s_bad_event("conn %d: sink read: %s", c->id, strerror(errno));
	iv_fd_unregister(&c->sink);
	close(c->sink.fd);
	c->sink_done = 1;
	conn_check_end(c);
}

/* ---- a batch ------------------------------------------------------- */

static long normal_bytes_expected, normal_bytes_got, conns_ended, conns_total;
static long resets_seen_by_pump;

static void setup_conn(struct conn *c, int id, uint64_t *rng)
{
	int client, a, b, sink;

	memset(c, 0, sizeof(*c));
	c->id = id;
	c->kind = (enum kind)(id % 3);
	c->reset_at = CHUNK + (long)(s_rand_r(rng) % (TOTAL - 2 * CHUNK));
	c->pump_result = 2;

	tcp_pair(&client, &a);
	tcp_pair(&b, &sink);
	fcntl(client, F_SETFL, O_NONBLOCK);

	IV_FD_INIT(&c->client);
	c->client.fd = client;
	c->client.cookie = c;
	c->client.handler_out = client_writable;
	iv_fd_register(&c->client);

	IV_FD_INIT(&c->a);
	c->a.fd = a;
	c->a.cookie = c;
	iv_fd_register(&c->a);
	IV_FD_INIT(&c->b);
	c->b.fd = b;
	c->b.cookie = c;
	iv_fd_register(&c->b);
	IV_FD_PUMP_INIT(&c->pump);
	c->pump.from_fd = a;
	c->pump.to_fd = b;
	c->pump.cookie = c;
	c->pump.set_bands = set_bands;
	c->pump.flags = IV_FD_PUMP_FLAG_RELAY_EOF;
	iv_fd_pump_init(&c->pump); /* calls set_bands(1, 0) */

	IV_FD_INIT(&c->sink);
	c->sink.fd = sink;
	c->sink.cookie = c;
	c->sink.handler_in = sink_readable;
	iv_fd_register(&c->sink);
}

static void run_batch(int batch)
{
	uint64_t rng = 0x5eed0000ULL + (uint64_t)batch;
	int i;

	for (i = 0; i < CONNS; i++)
		setup_conn(&conns[i], i, &rng);
	live = CONNS;
	timed_out = 0;
	IV_TIMER_INIT(&deadline);
	deadline.expires = s_ts_add_ns(iv_now, 30LL * 1000000000LL);
	deadline.handler = on_deadline;
	iv_timer_register(&deadline);

	iv_main();

	for (i = 0; i < CONNS; i++) {
		struct conn *c = &conns[i];
		int ended = c->client_done && c->sink_done && c->pump_result != 2;

		conns_total++;
		if (ended)
			conns_ended++;
		else
			s_lost_ops(1, "batch %d conn %d (kind %d) never ended: client %d, pump %d, sink %d",
				   batch, i, c->kind, c->client_done, c->pump_result, c->sink_done);
		if (c->kind == NORMAL) {
			normal_bytes_expected += TOTAL;
			normal_bytes_got += c->got;
			if (ended && c->got != TOTAL)
				s_lost_ops(TOTAL - c->got, "conn %d: undisturbed, sink got %ld of %d",
					   i, c->got, TOTAL);
			if (ended && c->pump_result != 0)
				s_bad_event("conn %d: undisturbed pump ended with %d", i, c->pump_result);
		} else if (c->pump_result < 0) {
			resets_seen_by_pump++;
		}
	}
	if (timed_out)
		s_bad_event("batch %d: deadline passed", batch);
}

static void pump_probe(void *arg)
{
	struct iv_fd_pump p;

	(void)arg;
	iv_init();
	IV_FD_PUMP_INIT(&p);
	p.from_fd = 0;
	p.to_fd = 1;
	p.set_bands = NULL;
	p.flags = 0;
	iv_fd_pump_init(&p);
	iv_fd_pump_destroy(&p);
}

int main(int argc, char **argv)
{
	socklen_t len = sizeof(laddr);
	int batches, b, rc;

	s_setup("fault_pump_reset", argc, argv, 120);
	batches = (int)s_count(SHORT_BATCHES);
	if (!s_implemented(pump_probe, NULL))
		return s_pending("iv_fd_pump");
	iv_set_fatal_msg_handler(s_fatal_handler);
	memset(chunk, 'c', sizeof(chunk));

	iv_init();
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	S_SYS(listener);
	memset(&laddr, 0, sizeof(laddr));
	laddr.sin_family = AF_INET;
	laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	S_SYS(bind(listener, (struct sockaddr *)&laddr, sizeof(laddr)));
	S_SYS(getsockname(listener, (struct sockaddr *)&laddr, &len));
	S_SYS(listen(listener, CONNS * 2));

	for (b = 0; b < batches; b++)
		run_batch(b);
	close(listener);

	atomic_store(&s_threads, 1);
	s_note_fds(CONNS * 4 + 1);
	/* ops: connections ended, plus 16 KiB chunks delivered. */
	atomic_store(&s_ops, normal_bytes_got / CHUNK + conns_ended);
	fprintf(stderr, "# %ld connections (%ld ended), %ld of %ld bytes of undisturbed ones "
			"delivered, %ld resets, %ld of them reported by the pump as errors\n",
		conns_total, conns_ended, normal_bytes_got, normal_bytes_expected,
		atomic_load(&s_faults), resets_seen_by_pump);
	rc = s_finish();
	iv_deinit();
	return rc;
}
