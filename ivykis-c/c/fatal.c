/*
 * ivykis-rs, LGPL-2.1-only.
 *
 * iv_fatal() takes a printf-style format and variable arguments, which stable
 * Rust cannot define. This file formats the message and passes it to the
 * engine's fatal path (handler from iv_set_fatal_msg_handler, or syslog), which
 * aborts. Messages longer than the buffer are truncated.
 */

#include <stdarg.h>
#include <stdio.h>

void ivykis_rs_fatal_message(const char *msg) __attribute__((noreturn));

void iv_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

void iv_fatal(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	ivykis_rs_fatal_message(msg);
}
