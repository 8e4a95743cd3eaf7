/*
 * ivykis-rs benchmarks, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * raw.h: the floor. A hand-written epoll loop with no library, as a careful
 * programmer would write it for one thread: the programs of bench/raw/ use
 * it to do exactly what their bench/c/ counterparts do through ivykis, so
 * that the difference is what the library costs.
 *
 * What "careful" means here:
 * - interest changes are recorded and reach the kernel in one pass right
 *   before epoll_wait, one epoll_ctl per descriptor whose net interest
 *   changed (ADD when it starts wanting something, MOD when what it wants
 *   changes, DEL when it stops wanting anything or is unregistered); a
 *   descriptor registered and unregistered between two waits costs nothing;
 * - level-triggered epoll, one epoll_wait for up to RAW_MAX_EVENTS ready
 *   descriptors, handlers called through function pointers like a library's;
 * - before each handler call it checks that the descriptor is still
 *   registered and still has that handler, since an earlier handler of the
 *   same batch may have changed it.
 * It is one static loop per process, with no timers, tasks or threads.
 *
 * Include this instead of common.h (it includes common.h with
 * BENCH_NO_IVYKIS, so the BENCH line ends in `poll=raw-epoll lib=none`).
 */

#ifndef BENCH_RAW_H
#define BENCH_RAW_H

#define BENCH_NO_IVYKIS
#include "common.h"

#include <sys/epoll.h>
#include <unistd.h>

#define RAW_MAX_EVENTS 1024

struct raw_fd {
	int fd;
	void *cookie;
	void (*handler_in)(void *cookie);
	void (*handler_out)(void *cookie);

	/* private to raw.h */
	int registered;
	int queued;			/* on the change list */
	uint32_t kernel_mask;		/* what epoll was told; 0: not in it */
	struct raw_fd *next_change;
};

static struct {
	int epfd;
	int quit;
	struct raw_fd *changes;		/* descriptors to look at before waiting */
	unsigned long waits;		/* epoll_wait calls */
	unsigned long ctls;		/* epoll_ctl calls */
	struct epoll_event events[RAW_MAX_EVENTS];
} raw_loop;

static inline void raw_init(void)
{
	raw_loop.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (raw_loop.epfd < 0)
		bench_fail("epoll_create1: %s", strerror(errno));
}

static inline void raw_deinit(void)
{
	close(raw_loop.epfd);
}

static inline void raw_fd_init(struct raw_fd *r, int fd, void *cookie)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->cookie = cookie;
}

static inline void raw_queue_change(struct raw_fd *r)
{
	if (!r->queued) {
		r->queued = 1;
		r->next_change = raw_loop.changes;
		raw_loop.changes = r;
	}
}

static inline void raw_register(struct raw_fd *r)
{
	if (r->registered)
		bench_fail("raw_register: fd %d is registered already", r->fd);
	r->registered = 1;
	raw_queue_change(r);
}

static inline void raw_unregister(struct raw_fd *r)
{
	if (!r->registered)
		bench_fail("raw_unregister: fd %d is not registered", r->fd);
	r->registered = 0;
	r->handler_in = NULL;
	r->handler_out = NULL;
	raw_queue_change(r);
}

static inline void raw_set_handler_in(struct raw_fd *r, void (*fn)(void *))
{
	r->handler_in = fn;
	raw_queue_change(r);
}

static inline void raw_set_handler_out(struct raw_fd *r, void (*fn)(void *))
{
	r->handler_out = fn;
	raw_queue_change(r);
}

/* Brings the kernel's interest set up to date: one epoll_ctl per net change. */
static inline void raw_flush(void)
{
	struct raw_fd *r = raw_loop.changes;

	raw_loop.changes = NULL;
	while (r != NULL) {
		struct raw_fd *next = r->next_change;
		uint32_t want = 0;
		int op;

		r->queued = 0;
		if (r->registered) {
			if (r->handler_in != NULL)
				want |= EPOLLIN;
			if (r->handler_out != NULL)
				want |= EPOLLOUT;
		}
		if (want != r->kernel_mask) {
			struct epoll_event ev;

			op = r->kernel_mask == 0 ? EPOLL_CTL_ADD :
			     want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
			ev.events = want;
			ev.data.ptr = r;
			if (epoll_ctl(raw_loop.epfd, op, r->fd, &ev) < 0)
				bench_fail("epoll_ctl(%d, fd %d): %s", op, r->fd,
					   strerror(errno));
			raw_loop.ctls++;
			r->kernel_mask = want;
		}
		r = next;
	}
}

/*
 * One loop pass: flush, wait up to `timeout_ms` (-1: until something is
 * ready), call the handlers. Returns how many descriptors were ready.
 */
static inline int raw_run_once(int timeout_ms)
{
	int n, i;

	raw_flush();
	do {
		n = epoll_wait(raw_loop.epfd, raw_loop.events, RAW_MAX_EVENTS,
			       timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		bench_fail("epoll_wait: %s", strerror(errno));
	raw_loop.waits++;
	for (i = 0; i < n; i++) {
		struct raw_fd *r = raw_loop.events[i].data.ptr;
		uint32_t ev = raw_loop.events[i].events;

		if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
		    r->handler_in != NULL)
			r->handler_in(r->cookie);
		if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
		    r->handler_out != NULL)
			r->handler_out(r->cookie);
	}
	return n;
}

static inline void raw_quit(void)
{
	raw_loop.quit = 1;
}

/* Passes until a handler calls raw_quit(). */
static inline void raw_main(void)
{
	raw_loop.quit = 0;
	while (!raw_loop.quit)
		raw_run_once(-1);
}

#endif /* BENCH_RAW_H */
