/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_fd_pump.h: copy everything readable from one descriptor to another
 * through an internal buffer.  The caller drives it: iv_fd_pump_pump() moves
 * what it can, then ->set_bands() says which readiness to wait for before
 * calling it again.
 */

#ifndef __IV_FD_PUMP_H
#define __IV_FD_PUMP_H

#ifdef __cplusplus
extern "C" {
#endif

struct iv_fd_pump {
	int		from_fd;
	int		to_fd;
	void		*cookie;
	void		(*set_bands)(void *cookie, int pollin, int pollout);
	unsigned int	flags;

	/* Private to the library. */
	void		*buf;
	int		bytes;
	int		full;
	int		saw_fin;
};

/* Nothing to prepare: iv_fd_pump_init() sets up the private fields. */
static inline void IV_FD_PUMP_INIT(struct iv_fd_pump *pump)
{
	(void)pump;
}

/* ->flags: at end of input, shut down the writing side of ->to_fd. */
#define IV_FD_PUMP_FLAG_RELAY_EOF	1

void iv_fd_pump_init(struct iv_fd_pump *pump);
void iv_fd_pump_destroy(struct iv_fd_pump *pump);
/* -1: error; 0: input ended and all data was written; 1: more to do. */
int iv_fd_pump_pump(struct iv_fd_pump *pump);
int iv_fd_pump_is_done(const struct iv_fd_pump *pump);

#ifdef __cplusplus
}
#endif

#endif /* __IV_FD_PUMP_H */
