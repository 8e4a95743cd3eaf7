/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_event_raw.h: like iv_event, but each object owns its own kernel
 * wake-up descriptor, so iv_event_raw_post() is async-signal-safe and keeps
 * working in a forked child.
 */

#ifndef __IV_EVENT_RAW_H
#define __IV_EVENT_RAW_H

#include <iv.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iv_event_raw {
	void			*cookie;
	void			(*handler)(void *);

	/* Private to the library. */
	struct iv_fd		event_rfd;
	int			event_wfd;
};

/* Nothing to prepare: iv_event_raw_register() sets up the private fields. */
static inline void IV_EVENT_RAW_INIT(struct iv_event_raw *ev)
{
	(void)ev;
}

int iv_event_raw_register(struct iv_event_raw *ev);
void iv_event_raw_unregister(struct iv_event_raw *ev);
void iv_event_raw_post(const struct iv_event_raw *ev);

#ifdef __cplusplus
}
#endif

#endif /* __IV_EVENT_RAW_H */
