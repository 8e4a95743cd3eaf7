/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_inotify.h: Linux inotify watches delivered through the event loop.
 * An iv_inotify owns one inotify instance; each iv_inotify_watch adds one
 * path to it and receives that path's events.
 */

#ifndef __IV_INOTIFY_H
#define __IV_INOTIFY_H

#include <inttypes.h>
#include <sys/inotify.h>
#include <iv.h>
#include <iv_avl.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iv_inotify {
	/* Everything here is private to the library. */
	struct iv_fd		fd;
	struct iv_avl_tree	watches;
	void			**term;
};

/* Nothing to prepare: iv_inotify_register() sets up the private fields. */
static inline void IV_INOTIFY_INIT(struct iv_inotify *inotify)
{
	(void)inotify;
}

/* 0 on success, -1 with errno set. */
int iv_inotify_register(struct iv_inotify *inotify);
void iv_inotify_unregister(struct iv_inotify *inotify);


struct iv_inotify_watch {
	struct iv_inotify	*inotify;
	const char		*pathname;
	uint32_t		mask;
	void			*cookie;
	void			(*handler)(void *cookie, struct inotify_event *event);

	/* Private to the library. */
	int			wd;
	struct iv_avl_node	an;
};

/* Nothing to prepare: iv_inotify_watch_register() sets up the rest. */
static inline void IV_INOTIFY_WATCH_INIT(struct iv_inotify_watch *watch)
{
	(void)watch;
}

/* 0 on success, -1 with errno set. */
int iv_inotify_watch_register(struct iv_inotify_watch *watch);
void iv_inotify_watch_unregister(struct iv_inotify_watch *watch);

#ifdef __cplusplus
}
#endif

#endif /* __IV_INOTIFY_H */
