/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv.h: the core of the ivykis 0.43 C interface: the per-thread event loop,
 * the cached monotonic time, file descriptors, tasks and timers.
 *
 * The structure layouts below are part of the binary interface of
 * libivykis.so.0 and must not change: programs allocate these objects
 * themselves and the library reads and writes them in place.
 */

#ifndef __IV_H
#define __IV_H

/* Programs built against ivykis expect these to come along with iv.h. */
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/*
 * struct iv_timer embeds a struct timespec.  glibc hides that type in strict
 * ISO C modes (-std=c99 without _POSIX_C_SOURCE); fetch it directly so that
 * this header compiles in any mode.
 */
#if !defined(_STRUCT_TIMESPEC) && defined(__has_include)
#if __has_include(<bits/types/struct_timespec.h>)
#include <bits/types/struct_timespec.h>
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The event loop of the calling thread ---------------------------- */

/* Create, query, run, stop and destroy the calling thread's loop. */
void iv_init(void);
int iv_inited(void);
void iv_main(void);
void iv_quit(void);
void iv_deinit(void);

/* Name of the poll method in use ("epoll", "ppoll", "poll", ...). */
const char *iv_poll_method_name(void);

/*
 * Report an unrecoverable error and abort the process.  The message goes to
 * the handler installed with iv_set_fatal_msg_handler(), or to syslog.
 */
void iv_fatal(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
void iv_set_fatal_msg_handler(void (*handler)(const char *msg));

/* The operating system's id of the calling thread. */
unsigned long iv_get_thread_id(void);


/* ---- Cached monotonic time ------------------------------------------- */

/*
 * Address of the calling thread's cached time, refreshed first if the loop
 * has marked it stale.
 */
const struct timespec *__iv_now_location_valid(void);

/* The current (cached) time, a struct timespec lvalue. */
#define iv_now			(*__iv_now_location_valid())

/*
 * Kept for source compatibility: reading iv_now already refreshes the cache,
 * so there is nothing left to do here.  The library still exports a function
 * of this name for programs built against older headers.
 */
#define iv_validate_now()

/* Mark the cached time stale, e.g. after a long computation. */
void iv_invalidate_now(void);


/* ---- File descriptors ------------------------------------------------ */

struct iv_fd {
	/* Public: set these after IV_FD_INIT() and before registering. */
	int	fd;
	void	*cookie;
	void	(*handler_in)(void *);
	void	(*handler_out)(void *);
	void	(*handler_err)(void *);

	/* Private to the library. */
	void	*pad[11];
};

void IV_FD_INIT(struct iv_fd *);
void iv_fd_register(struct iv_fd *);
int iv_fd_register_try(struct iv_fd *);
void iv_fd_unregister(struct iv_fd *);
int iv_fd_registered(const struct iv_fd *);
void iv_fd_set_handler_in(struct iv_fd *, void (*)(void *));
void iv_fd_set_handler_out(struct iv_fd *, void (*)(void *));
void iv_fd_set_handler_err(struct iv_fd *, void (*)(void *));


/* ---- Tasks: run once, soon, from the loop ---------------------------- */

struct iv_task {
	void	*cookie;
	void	(*handler)(void *);

	/* Private to the library. */
	void	*pad[6];
};

void IV_TASK_INIT(struct iv_task *);
void iv_task_register(struct iv_task *);
void iv_task_unregister(struct iv_task *);
int iv_task_registered(const struct iv_task *);


/* ---- Timers: run once, when iv_now reaches ->expires ----------------- */

struct iv_timer {
	struct timespec	expires;
	void		*cookie;
	void		(*handler)(void *);

	/* Private to the library. */
	void		*pad[4];
};

void IV_TIMER_INIT(struct iv_timer *);
void iv_timer_register(struct iv_timer *);
void iv_timer_unregister(struct iv_timer *);
int iv_timer_registered(const struct iv_timer *);


#ifdef __cplusplus
}
#endif

#endif /* __IV_H */
