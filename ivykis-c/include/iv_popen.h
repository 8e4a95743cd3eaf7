/*
 * ivykis-rs, LGPL-2.1-only
 * SPDX-License-Identifier: LGPL-2.1-only
 *
 * iv_popen.h: start a child process with a pipe to its standard output
 * (->type "r") or standard input (->type "w"), and end it in the background
 * when the caller is done with it.
 */

#ifndef __IV_POPEN_H
#define __IV_POPEN_H

#ifdef __cplusplus
extern "C" {
#endif

struct iv_popen_request {
	char		*file;
	char		**argv;
	char		*type;

	/* Private to the library. */
	void		*child;
};

/* Nothing to prepare: iv_popen_request_submit() sets up ->child. */
static inline void IV_POPEN_REQUEST_INIT(struct iv_popen_request *req)
{
	(void)req;
}

/* The parent's end of the pipe, or -1 on failure. */
int iv_popen_request_submit(struct iv_popen_request *req);
void iv_popen_request_close(struct iv_popen_request *req);

#ifdef __cplusplus
}
#endif

#endif /* __IV_POPEN_H */
