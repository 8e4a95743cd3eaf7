/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * pump: iv_fd_pump throughput, over loopback TCP or pipes.
 *
 * One thread, one loop, three parties:
 *
 *   writer --(pair 1)--> from_fd  [iv_fd_pump]  to_fd --(pair 2)--> reader
 *
 * With mode=tcp both pairs are TCP connections over 127.0.0.1; with
 * mode=pipe both are pipes. The writer's handler_out writes a fixed
 * pseudo-random pattern whose period (65549 bytes) is no multiple of any
 * buffer or pipe size; the pump's descriptors get their handlers from
 * set_bands and call iv_fd_pump_pump; the reader's handler_in reads and
 * compares every byte with the pattern at its stream offset. When the
 * writer has sent `mib` MiB it ends its side (shutdown(SHUT_WR) or close);
 * the pump, made with IV_FD_PUMP_FLAG_RELAY_EOF, relays the end (for pipes
 * the program closes to_fd once the pump is done), and the reader's EOF
 * ends the loop.
 *
 *   pump mode=tcp mib=1024
 *
 * ops = 64 KiB blocks moved (mib * 16), so ns_per_op is the time per
 * 64 KiB; mb_per_s is the throughput in MB/s (10^6 bytes per second of
 * CPU time of the measured phase, writer and reader included), and
 * pump_calls the number of iv_fd_pump_pump calls. The run fails (exit 1)
 * unless the reader got exactly the bytes written, in order, and saw EOF,
 * and the pump returned 0.
 */

#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iv_fd_pump.h>

#define PERIOD 65549
#define IO_SIZE 65536

static int tcp_mode;
static unsigned long long total;

/* The pattern, twice over, so any offset has IO_SIZE bytes after it. */
static unsigned char pattern[2 * PERIOD];

static struct iv_fd writer_fd, from_fd, to_fd, reader_fd;
static struct iv_fd_pump pump;
static unsigned long long sent, got;
static unsigned long pump_calls;
static int pump_result = 1, reader_eof;
static unsigned long mismatches;

/* ---- The three parties --------------------------------------------------- */

static void writer_out(void *cookie)
{
	size_t len = IO_SIZE;
	ssize_t n;

	(void)cookie;
	if (total - sent < len)
		len = total - sent;
	n = write(writer_fd.fd, pattern + sent % PERIOD, len);
	if (n < 0) {
		if (errno != EAGAIN)
			bench_fail("writer: %s", strerror(errno));
		return;
	}
	sent += (unsigned long long)n;
	if (sent == total) {
		iv_fd_unregister(&writer_fd);
		if (tcp_mode) {
			if (shutdown(writer_fd.fd, SHUT_WR) < 0)
				bench_fail("shutdown: %s", strerror(errno));
		} else {
			close(writer_fd.fd);
			writer_fd.fd = -1;
		}
	}
}

static void reader_in(void *cookie)
{
	static unsigned char buf[IO_SIZE];
	ssize_t n;

	(void)cookie;
	n = read(reader_fd.fd, buf, sizeof(buf));
	if (n < 0) {
		if (errno != EAGAIN)
			bench_fail("reader: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		reader_eof = 1;
		iv_fd_unregister(&reader_fd);
		return;
	}
	if (memcmp(buf, pattern + got % PERIOD, (size_t)n) != 0)
		mismatches++;
	got += (unsigned long long)n;
}

static void pump_ready(void *cookie);

static void set_bands(void *cookie, int pollin, int pollout)
{
	(void)cookie;
	iv_fd_set_handler_in(&from_fd, pollin ? pump_ready : NULL);
	iv_fd_set_handler_out(&to_fd, pollout ? pump_ready : NULL);
}

static void pump_ready(void *cookie)
{
	int ret;

	(void)cookie;
	pump_calls++;
	ret = iv_fd_pump_pump(&pump);
	if (ret == 1)
		return;
	if (ret < 0)
		bench_fail("iv_fd_pump_pump: %s", strerror(errno));
	pump_result = 0;
	iv_fd_pump_destroy(&pump);
	iv_fd_unregister(&from_fd);
	iv_fd_unregister(&to_fd);
	/* A pipe learns of the end when it is closed. */
	if (!tcp_mode) {
		close(to_fd.fd);
		to_fd.fd = -1;
	}
}

/* ---- Set-up ---------------------------------------------------------------- */

/* A loopback TCP connection: *w is the end written to, *r the end read. */
static void tcp_pair(int *w, int *r)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int lsn, one = 1;

	lsn = socket(AF_INET, SOCK_STREAM, 0);
	if (lsn < 0)
		bench_fail("socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lsn, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lsn, 1) < 0 ||
	    getsockname(lsn, (struct sockaddr *)&sin, &len) < 0)
		bench_fail("listen on loopback: %s", strerror(errno));
	*w = socket(AF_INET, SOCK_STREAM, 0);
	if (*w < 0 || connect(*w, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		bench_fail("connect: %s", strerror(errno));
	*r = accept(lsn, NULL, NULL);
	if (*r < 0)
		bench_fail("accept: %s", strerror(errno));
	setsockopt(*w, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(lsn);
}

static void make_pair(int *w, int *r)
{
	int fds[2];

	if (tcp_mode) {
		tcp_pair(w, r);
		return;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		bench_fail("pipe: %s", strerror(errno));
	*w = fds[1];
	*r = fds[0];
}

static void register_fd(struct iv_fd *fd, int n, void (*in)(void *),
			void (*out)(void *))
{
	IV_FD_INIT(fd);
	fd->fd = n;
	fd->handler_in = in;
	fd->handler_out = out;
	iv_fd_register(fd);
}

static BENCH_MEASURED void bench_measured_phase(void)
{
	iv_main();
}

int main(int argc, char **argv)
{
	struct bench_args args = bench_args_init(argc, argv);
	const char *mode;
	long mib;
	int w1, r1, w2, r2;
	size_t i;
	struct bench_stopwatch sw;
	char params[64], observed[128];
	double secs;

	bench_name = "pump";
	mode = bench_arg(&args, "mode");
	if (mode == NULL)
		mode = "tcp";
	if (strcmp(mode, "tcp") == 0)
		tcp_mode = 1;
	else if (strcmp(mode, "pipe") != 0)
		bench_fail("mode=%s: expected tcp or pipe", mode);
	mib = bench_arg_long(&args, "mib", 1024, 1, 1L << 20);
	bench_args_done(&args);
	total = (unsigned long long)mib << 20;

	for (i = 0; i < PERIOD; i++)
		pattern[i] = (unsigned char)(bench_rand() >> 56);
	memcpy(pattern + PERIOD, pattern, PERIOD);

	iv_init();
	make_pair(&w1, &r1);
	make_pair(&w2, &r2);
	register_fd(&writer_fd, w1, NULL, writer_out);
	register_fd(&from_fd, r1, NULL, NULL);
	register_fd(&to_fd, w2, NULL, NULL);
	register_fd(&reader_fd, r2, reader_in, NULL);

	IV_FD_PUMP_INIT(&pump);
	pump.from_fd = r1;
	pump.to_fd = w2;
	pump.set_bands = set_bands;
	pump.flags = IV_FD_PUMP_FLAG_RELAY_EOF;
	iv_fd_pump_init(&pump);

	bench_stopwatch_start(&sw);
	bench_measured_phase();
	bench_stopwatch_stop(&sw);

	if (pump_result != 0)
		bench_fail("the loop ended before the pump was done");
	if (sent != total || got != total)
		bench_fail("sent %llu, received %llu of %llu bytes", sent, got,
			   total);
	if (mismatches != 0)
		bench_fail("%lu reads found bytes out of order or corrupted",
			   mismatches);
	if (!reader_eof)
		bench_fail("the reader saw no end of file");

	secs = sw.cpu_secs > 0 ? sw.cpu_secs : 1e-9;
	snprintf(params, sizeof(params), "mode=%s mib=%ld", mode, mib);
	snprintf(observed, sizeof(observed), "mb_per_s=%.0f pump_calls=%lu",
		 (double)total / secs / 1e6, pump_calls);
	bench_report(params, total / IO_SIZE, &sw, observed);

	if (writer_fd.fd >= 0)
		close(writer_fd.fd);
	close(r1);
	if (to_fd.fd >= 0)
		close(to_fd.fd);
	close(r2);
	iv_deinit();
	return 0;
}
