/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * proxy: a TCP proxy built on iv_fd_pump.
 *
 *	make examples
 *	build/examples/proxy LISTEN_PORT TARGET_HOST TARGET_PORT
 *	build/examples/proxy --demo
 *
 * The proxy listens on 127.0.0.1:LISTEN_PORT and forwards every connection
 * to TARGET_HOST:TARGET_PORT (resolved once, at start). Each connection is
 * two pumps over the same two sockets, one per direction, with
 * IV_FD_PUMP_FLAG_RELAY_EOF: a peer that shuts down its sending side has
 * that passed on to the other peer while the other direction goes on. The
 * connection is closed when both pumps are done, or at the first error.
 *
 * Each socket has one iv_fd. Its input handler drives the pump that reads
 * it, its output handler the pump that writes it; the pumps' set_bands
 * callbacks switch those handlers on and off. Connecting to the target is
 * non-blocking too: the target's iv_fd waits for POLLOUT, then the pumps
 * start.
 *
 * --demo runs everything in one process and one loop: an echo backend
 * (each of its connections is a single pump from the socket to itself),
 * the proxy in front of it, and a few clients that send data through the
 * proxy, half-close, and check that exactly the same bytes come back.
 * Exit status: 0 if every client got its data back intact; 1 otherwise.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iv.h>
#include <iv_fd_pump.h>

static struct sockaddr_storage target;
static socklen_t target_len;
static int verbose = 1;

/* ---- One proxied connection ----------------------------------------------- */

struct conn {
	struct iv_fd client;		/* accepted from our listener */
	struct iv_fd server;		/* our connection to the target */
	struct iv_fd_pump up;		/* client -> server */
	struct iv_fd_pump down;		/* server -> client */
	int pumping;			/* the pumps are initialised */
	unsigned long long up_bytes, down_bytes;
};

static void conn_close(struct conn *c, const char *why)
{
	if (c->pumping) {
		iv_fd_pump_destroy(&c->up);
		iv_fd_pump_destroy(&c->down);
	}
	iv_fd_unregister(&c->client);
	iv_fd_unregister(&c->server);
	close(c->client.fd);
	close(c->server.fd);
	if (verbose)
		fprintf(stderr, "proxy: connection closed (%s)\n", why);
	free(c);
}

/*
 * Runs one pump. Returns 0 if the connection is still open afterwards, -1
 * if it was closed (and freed): both pumps done, or an error.
 */
static int conn_pump(struct conn *c, struct iv_fd_pump *p)
{
	int ret = iv_fd_pump_pump(p);

	if (ret < 0) {
		conn_close(c, strerror(errno));
		return -1;
	}
	if (iv_fd_pump_is_done(&c->up) && iv_fd_pump_is_done(&c->down)) {
		conn_close(c, "both directions ended");
		return -1;
	}
	return 0;
}

static void client_in(void *cookie)
{
	struct conn *c = cookie;

	conn_pump(c, &c->up);
}

static void client_out(void *cookie)
{
	struct conn *c = cookie;

	conn_pump(c, &c->down);
}

static void server_in(void *cookie)
{
	struct conn *c = cookie;

	conn_pump(c, &c->down);
}

static void server_out(void *cookie)
{
	struct conn *c = cookie;

	conn_pump(c, &c->up);
}

/* What the client -> server pump wants: client readable, server writable. */
static void up_bands(void *cookie, int pollin, int pollout)
{
	struct conn *c = cookie;

	iv_fd_set_handler_in(&c->client, pollin ? client_in : NULL);
	iv_fd_set_handler_out(&c->server, pollout ? server_out : NULL);
}

static void down_bands(void *cookie, int pollin, int pollout)
{
	struct conn *c = cookie;

	iv_fd_set_handler_in(&c->server, pollin ? server_in : NULL);
	iv_fd_set_handler_out(&c->client, pollout ? client_out : NULL);
}

/* The non-blocking connect to the target finished: start pumping. */
static void server_connected(void *cookie)
{
	struct conn *c = cookie;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->server.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		conn_close(c, strerror(err));
		return;
	}
	iv_fd_set_handler_out(&c->server, NULL);

	IV_FD_PUMP_INIT(&c->up);
	c->up.from_fd = c->client.fd;
	c->up.to_fd = c->server.fd;
	c->up.cookie = c;
	c->up.set_bands = up_bands;
	c->up.flags = IV_FD_PUMP_FLAG_RELAY_EOF;
	iv_fd_pump_init(&c->up);

	IV_FD_PUMP_INIT(&c->down);
	c->down.from_fd = c->server.fd;
	c->down.to_fd = c->client.fd;
	c->down.cookie = c;
	c->down.set_bands = down_bands;
	c->down.flags = IV_FD_PUMP_FLAG_RELAY_EOF;
	iv_fd_pump_init(&c->down);
	c->pumping = 1;
}

static void conn_start(int client_fd)
{
	struct conn *c;
	int fd;

	fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		fprintf(stderr, "proxy: socket: %s\n", strerror(errno));
		close(client_fd);
		return;
	}
	if (connect(fd, (struct sockaddr *)&target, target_len) < 0 &&
	    errno != EINPROGRESS) {
		fprintf(stderr, "proxy: connect: %s\n", strerror(errno));
		close(fd);
		close(client_fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		close(client_fd);
		return;
	}
	IV_FD_INIT(&c->client);
	c->client.fd = client_fd;
	c->client.cookie = c;
	iv_fd_register(&c->client);

	IV_FD_INIT(&c->server);
	c->server.fd = fd;
	c->server.cookie = c;
	c->server.handler_out = server_connected;
	iv_fd_register(&c->server);
}

/* ---- Listening --------------------------------------------------------- */

struct listener {
	struct iv_fd fd;
	void (*accepted)(int fd);
};

static void listener_in(void *cookie)
{
	struct listener *l = cookie;
	int fd;

	while ((fd = accept4(l->fd.fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		l->accepted(fd);
	if (errno != EAGAIN && errno != EINTR)
		fprintf(stderr, "proxy: accept: %s\n", strerror(errno));
}

/* Listens on 127.0.0.1:port (0: any free port); returns the port. */
static int listen_on(struct listener *l, int port, void (*accepted)(int fd))
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		close(fd);
		return -1;
	}
	IV_FD_INIT(&l->fd);
	l->fd.fd = fd;
	l->fd.cookie = l;
	l->fd.handler_in = listener_in;
	l->accepted = accepted;
	iv_fd_register(&l->fd);
	return ntohs(sin.sin_port);
}

static void listen_stop(struct listener *l)
{
	iv_fd_unregister(&l->fd);
	close(l->fd.fd);
}

/* ---- The demo: an echo backend and clients ---------------------------------- */

#define DEMO_CLIENTS 4
#define DEMO_BYTES (4 << 20)

/* An echo connection of the backend: one pump, socket to itself. */
struct echo {
	struct iv_fd fd;
	struct iv_fd_pump pump;
};

static void echo_ready(void *cookie)
{
	struct echo *e = cookie;

	if (iv_fd_pump_pump(&e->pump) == 1)
		return;
	iv_fd_pump_destroy(&e->pump);
	iv_fd_unregister(&e->fd);
	close(e->fd.fd);
	free(e);
}

static void echo_bands(void *cookie, int pollin, int pollout)
{
	struct echo *e = cookie;

	iv_fd_set_handler_in(&e->fd, pollin ? echo_ready : NULL);
	iv_fd_set_handler_out(&e->fd, pollout ? echo_ready : NULL);
}

static void echo_accepted(int fd)
{
	struct echo *e = calloc(1, sizeof(*e));

	if (e == NULL) {
		close(fd);
		return;
	}
	IV_FD_INIT(&e->fd);
	e->fd.fd = fd;
	e->fd.cookie = e;
	iv_fd_register(&e->fd);
	IV_FD_PUMP_INIT(&e->pump);
	e->pump.from_fd = fd;
	e->pump.to_fd = fd;
	e->pump.cookie = e;
	e->pump.set_bands = echo_bands;
	e->pump.flags = IV_FD_PUMP_FLAG_RELAY_EOF;
	iv_fd_pump_init(&e->pump);
}

struct client {
	struct iv_fd fd;
	unsigned long long sent, got;
	int connected, done, bad;
};

static unsigned char pattern[2 * 65537];
static struct client clients[DEMO_CLIENTS];
static int clients_left;
static struct listener proxy_listener, echo_listener;

static void client_finished(struct client *cl)
{
	cl->done = 1;
	iv_fd_unregister(&cl->fd);
	close(cl->fd.fd);
	if (--clients_left == 0) {
		listen_stop(&proxy_listener);
		listen_stop(&echo_listener);
	}
}

static void demo_client_out(void *cookie)
{
	struct client *cl = cookie;
	size_t len = DEMO_BYTES - cl->sent;
	ssize_t n;

	if (len > 65536)
		len = 65536;
	n = write(cl->fd.fd, pattern + cl->sent % 65537, len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINPROGRESS || errno == ENOTCONN)
			return;
		fprintf(stderr, "proxy demo: client write: %s\n", strerror(errno));
		cl->bad = 1;
		client_finished(cl);
		return;
	}
	cl->sent += (unsigned long long)n;
	if (cl->sent == DEMO_BYTES) {
		/* Half-close: the proxy relays it to the backend, whose echo
		 * pump ends, and that end comes back to us. */
		shutdown(cl->fd.fd, SHUT_WR);
		iv_fd_set_handler_out(&cl->fd, NULL);
	}
}

static void demo_client_in(void *cookie)
{
	struct client *cl = cookie;
	static unsigned char buf[65536];
	ssize_t n = read(cl->fd.fd, buf, sizeof(buf));

	if (n < 0) {
		if (errno == EAGAIN)
			return;
		fprintf(stderr, "proxy demo: client read: %s\n", strerror(errno));
		cl->bad = 1;
		client_finished(cl);
		return;
	}
	if (n == 0) {
		if (cl->got != DEMO_BYTES)
			cl->bad = 1;
		client_finished(cl);
		return;
	}
	if (cl->got + (unsigned long long)n > DEMO_BYTES ||
	    memcmp(buf, pattern + cl->got % 65537, (size_t)n) != 0)
		cl->bad = 1;
	cl->got += (unsigned long long)n;
}

static int demo(void)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&target;
	int proxy_port, echo_port, i, failed = 0;
	unsigned int seed = 1;

	verbose = 0;
	for (i = 0; i < 65537; i++) {
		seed = seed * 1103515245 + 12345;
		pattern[i] = (unsigned char)(seed >> 16);
	}
	memcpy(pattern + 65537, pattern, 65537);

	echo_port = listen_on(&echo_listener, 0, echo_accepted);
	memset(&target, 0, sizeof(target));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons(echo_port);
	target_len = sizeof(*sin);
	proxy_port = listen_on(&proxy_listener, 0, conn_start);
	if (echo_port < 0 || proxy_port < 0) {
		fprintf(stderr, "proxy demo: cannot listen: %s\n", strerror(errno));
		return 1;
	}

	for (i = 0; i < DEMO_CLIENTS; i++) {
		struct client *cl = &clients[i];
		struct sockaddr_in to = *sin;
		int fd;

		to.sin_port = htons(proxy_port);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 &&
			       errno != EINPROGRESS)) {
			fprintf(stderr, "proxy demo: connect: %s\n", strerror(errno));
			return 1;
		}
		IV_FD_INIT(&cl->fd);
		cl->fd.fd = fd;
		cl->fd.cookie = cl;
		cl->fd.handler_in = demo_client_in;
		cl->fd.handler_out = demo_client_out;
		iv_fd_register(&cl->fd);
		clients_left++;
	}

	iv_main();

	for (i = 0; i < DEMO_CLIENTS; i++) {
		if (!clients[i].done || clients[i].bad) {
			fprintf(stderr, "proxy demo: client %d: sent %llu, got "
				"%llu back%s\n", i, clients[i].sent,
				clients[i].got, clients[i].bad ?
				" (corrupted or cut short)" : "");
			failed = 1;
		}
	}
	if (!failed)
		printf("proxy demo: %d clients sent %d MiB each through the "
		       "proxy to an echo backend and got every byte back\n",
		       DEMO_CLIENTS, DEMO_BYTES >> 20);
	return failed;
}

/* ---- main ------------------------------------------------------------------------ */

static int usage(const char *argv0)
{
	fprintf(stderr, "usage: %s LISTEN_PORT TARGET_HOST TARGET_PORT\n"
		"       %s --demo\n", argv0, argv0);
	return 2;
}

int main(int argc, char **argv)
{
	struct addrinfo hints, *res;
	struct listener l;
	int ret, port;

	iv_init();
	if (argc == 2 && strcmp(argv[1], "--demo") == 0) {
		ret = demo();
		iv_deinit();
		return ret;
	}
	if (argc != 4)
		return usage(argv[0]);

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	ret = getaddrinfo(argv[2], argv[3], &hints, &res);
	if (ret != 0) {
		fprintf(stderr, "proxy: %s:%s: %s\n", argv[2], argv[3],
			gai_strerror(ret));
		return 1;
	}
	memcpy(&target, res->ai_addr, res->ai_addrlen);
	target_len = res->ai_addrlen;
	freeaddrinfo(res);

	port = listen_on(&l, atoi(argv[1]), conn_start);
	if (port < 0) {
		fprintf(stderr, "proxy: cannot listen on port %s: %s\n",
			argv[1], strerror(errno));
		return 1;
	}
	fprintf(stderr, "proxy: 127.0.0.1:%d -> %s:%s\n", port, argv[2],
		argv[3]);
	iv_main();
	iv_deinit();
	return 0;
}
