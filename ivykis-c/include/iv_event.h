/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_event.h: wake a loop from another thread.  An iv_event is registered
 * in the thread that should run its handler; any thread of the process may
 * then post it.  Posts made before the handler runs are merged into one call.
 */

#ifndef __IV_EVENT_H
#define __IV_EVENT_H

#include <iv.h>
#include <iv_list.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iv_event {
	void			*cookie;
	void			(*handler)(void *);

	/* Private to the library. */
	void			*owner;
	struct iv_list_head	list;
};

/* Nothing to prepare: iv_event_register() sets up the private fields. */
static inline void IV_EVENT_INIT(struct iv_event *ev)
{
	(void)ev;
}

int iv_event_register(struct iv_event *ev);
void iv_event_unregister(struct iv_event *ev);
void iv_event_post(struct iv_event *ev);

#ifdef __cplusplus
}
#endif

#endif /* __IV_EVENT_H */
