/*
 * Structured log lines (include/hkms/log.h). Each line is built in memory
 * and written with one write(2) under the sink's mutex, so lines of
 * concurrent requests never interleave, and a line is never split by
 * another process writing to the same stderr (lines are far below
 * PIPE_BUF in practice; longer ones are still written whole by this
 * process). The redaction is the audit log's (src/store/audit.c calls
 * hkms_log_redact), so a field that would be redacted in the audit is
 * redacted here too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "hkms/log.h"

struct hkms_log {
	int fd;
	enum hkms_log_level level;
	pthread_mutex_t mu;	/* one line at a time */
};

static const char *const level_names[] = { "debug", "info", "warn",
	"error", "off" };

enum hkms_rc
hkms_log_level_parse(const char *s, enum hkms_log_level *out,
    struct hkms_err *err)
{
	size_t i;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (s == NULL) {
		*out = HKMS_LOG_WARN;
		return HKMS_OK;
	}
	if (strcmp(s, "warning") == 0) {
		*out = HKMS_LOG_WARN;
		return HKMS_OK;
	}
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum hkms_log_level)i;
			return HKMS_OK;
		}
	return hkms_err_setc(err, HKMS_E_INVALID, "config_bad_value",
	    "log level '%.32s' is not debug, info, warn, error or off", s);
}

enum hkms_rc
hkms_log_open(int fd, enum hkms_log_level level, struct hkms_log **out,
    struct hkms_err *err)
{
	struct hkms_log *l;

	if (out == NULL || fd < 0 || level < HKMS_LOG_DEBUG ||
	    level > HKMS_LOG_OFF)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	l->fd = fd;
	l->level = level;
	pthread_mutex_init(&l->mu, NULL);
	*out = l;
	return HKMS_OK;
}

void
hkms_log_close(struct hkms_log *log)
{
	if (log == NULL)
		return;
	pthread_mutex_destroy(&log->mu);
	free(log);
}

int
hkms_log_enabled(const struct hkms_log *log, enum hkms_log_level level)
{
	return log != NULL && level >= log->level && level < HKMS_LOG_OFF;
}

int
hkms_log_secret_key(const char *k)
{
	static const char *const exact[] = {
		"pin", "so_pin", "user_pin", "private_key", "key_pem",
	};
	static const char *const part[] = {
		"passphrase", "password", "secret",
	};
	size_t i;

	if (k == NULL)
		return 0;
	for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcasecmp(k, exact[i]) == 0)
			return 1;
	for (i = 0; i < sizeof(part) / sizeof(part[0]); i++)
		if (strcasestr(k, part[i]) != NULL)
			return 1;
	return 0;
}

void
hkms_log_redact(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, k, v) {
			if (hkms_log_secret_key(k))
				json_object_set_new(j, k,
				    json_string("[redacted]"));
			else
				hkms_log_redact(v);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			hkms_log_redact(v);
	}
}

static void
write_all(int fd, const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* the line is lost, the operation is not */
		s += n;
		len -= (size_t)n;
	}
}

void
hkms_log_event(struct hkms_log *log, enum hkms_log_level level,
    const char *event, json_t *fields)
{
	struct timespec ts;
	struct tm tm;
	char when[80];
	json_t *line, *copy;
	char *s;

	if (!hkms_log_enabled(log, level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000L) % 1000);
	line = json_pack("{s:s,s:s,s:s}", "time", when, "level",
	    level_names[level], "event", event ? event : "");
	if (line == NULL)
		return;
	if (json_is_object(fields) && (copy = json_deep_copy(fields)) != NULL) {
		hkms_log_redact(copy);
		/* time, level and event are the line's own */
		json_object_del(copy, "time");
		json_object_del(copy, "level");
		json_object_del(copy, "event");
		json_object_update(line, copy);
		json_decref(copy);
	}
	s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(6));
	json_decref(line);
	if (s == NULL)
		return;
	pthread_mutex_lock(&log->mu);
	write_all(log->fd, s, strlen(s));
	write_all(log->fd, "\n", 1);
	pthread_mutex_unlock(&log->mu);
	free(s);
}

void
hkms_log_msg(struct hkms_log *log, enum hkms_log_level level,
    const char *event, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *f;

	if (!hkms_log_enabled(log, level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f = json_pack("{s:s}", "message", msg);
	hkms_log_event(log, level, event, f);
	json_decref(f);
}

void
hkms_log_err(struct hkms_log *log, enum hkms_log_level level,
    const char *event, const struct hkms_err *err, json_t *fields)
{
	json_t *f;

	if (!hkms_log_enabled(log, level) || err == NULL)
		return;
	f = json_pack("{s:s,s:s}", "code", hkms_err_code(err), "message",
	    err->detail);
	if (f != NULL && json_is_object(fields))
		json_object_update(f, fields);
	hkms_log_event(log, level, event, f);
	json_decref(f);
}
