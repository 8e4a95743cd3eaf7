/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_wait.h: child process state changes (exit, kill, stop, continue)
 * delivered as loop callbacks, in the thread that registered the interest.
 */

#ifndef __IV_WAIT_H
#define __IV_WAIT_H

#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <iv_avl.h>
#include <iv_event.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iv_wait_interest {
	pid_t			pid;
	void			*cookie;
	void			(*handler)(void *cookie, int status,
					   const struct rusage *rusage);

	/* Private to the library. */
	struct iv_avl_node	avl_node;
	struct iv_event		ev;
	struct iv_list_head	events_pending;
	void			*dummy;
	unsigned int		flags;
};

/* Nothing to prepare: registering sets up the private fields. */
static inline void IV_WAIT_INTEREST_INIT(struct iv_wait_interest *wait)
{
	(void)wait;
}

void iv_wait_interest_register(struct iv_wait_interest *wait);
/*
 * Fork a child that runs fn(cookie) and register interest in it, with no
 * window in which its exit could be missed.  0 on success, -1 on failure.
 */
int iv_wait_interest_register_spawn(struct iv_wait_interest *wait,
				    void (*fn)(void *cookie), void *cookie);
void iv_wait_interest_unregister(struct iv_wait_interest *wait);
/* kill(2) the child, never a process that has reused its pid. */
int iv_wait_interest_kill(const struct iv_wait_interest *wait, int sig);

#ifdef __cplusplus
}
#endif

#endif /* __IV_WAIT_H */
