/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_signal.h: POSIX signals delivered as ordinary loop callbacks, in the
 * thread that registered interest in them.
 */

#ifndef __IV_SIGNAL_H
#define __IV_SIGNAL_H

#include <signal.h>
#include <iv.h>
#include <iv_avl.h>
#include <iv_event_raw.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iv_signal {
	int			signum;
	unsigned int		flags;
	void			*cookie;
	void			(*handler)(void *);

	/* Private to the library. */
	struct iv_avl_node	an;
	uint8_t			active;
	struct iv_event_raw	ev;
};

/* Nothing to prepare: iv_signal_register() sets up the private fields. */
static inline void IV_SIGNAL_INIT(struct iv_signal *sig)
{
	(void)sig;
}

/* ->flags: the first exclusive object takes the signal from the others. */
#define IV_SIGNAL_FLAG_EXCLUSIVE	1
/* ->flags: only see the signal when it hits the registering thread. */
#define IV_SIGNAL_FLAG_THIS_THREAD	2

/* 0 on success, -1 for a bad signal number. */
int iv_signal_register(struct iv_signal *sig);
void iv_signal_unregister(struct iv_signal *sig);

#ifdef __cplusplus
}
#endif

#endif /* __IV_SIGNAL_H */
