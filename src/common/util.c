/*
 * Hex, files, names and times: helpers shared by every module.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hkms/util.h"

char *
hkms_hex(const unsigned char *in, size_t len, char sep, char *out)
{
	static const char digits[] = "0123456789abcdef";
	char *p = out;
	size_t i;

	for (i = 0; i < len; i++) {
		if (sep && i > 0)
			*p++ = sep;
		*p++ = digits[in[i] >> 4];
		*p++ = digits[in[i] & 0xf];
	}
	*p = '\0';
	return out;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

enum hkms_rc
hkms_unhex(const char *hex, unsigned char *out, size_t cap, size_t *outlen,
    struct hkms_err *err)
{
	size_t n = 0;
	int hi, lo;

	if (hex == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no hex string");
	while (*hex != '\0') {
		if (*hex == ':') {
			hex++;
			continue;
		}
		hi = hexval((unsigned char)hex[0]);
		lo = hex[1] ? hexval((unsigned char)hex[1]) : -1;
		if (hi < 0 || lo < 0)
			return hkms_err_set(err, HKMS_E_INVALID,
			    "invalid hex string");
		if (n >= cap)
			return hkms_err_set(err, HKMS_E_INVALID,
			    "hex string too long");
		out[n++] = (unsigned char)(hi << 4 | lo);
		hex += 2;
	}
	if (n == 0)
		return hkms_err_set(err, HKMS_E_INVALID, "empty hex string");
	*outlen = n;
	return HKMS_OK;
}

enum hkms_rc
hkms_mkdir_p(const char *dir, unsigned mode, struct hkms_err *err)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return hkms_err_set(err, HKMS_E_INVALID, "path too long");
	for (p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, mode) != 0 && errno != EEXIST)
				return hkms_err_set(err, HKMS_E_IO,
				    "cannot create directory '%s': %s", buf,
				    strerror(errno));
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return HKMS_OK;
}

/* Free a buffer that may hold key material, wiped first. */
static void
wipe_free(unsigned char *buf, size_t cap)
{
	if (buf != NULL) {
		OPENSSL_cleanse(buf, cap);
		free(buf);
	}
}

enum hkms_rc
hkms_read_file(const char *path, size_t max, unsigned char **out,
    size_t *outlen, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	unsigned char *buf = NULL, *nb;
	size_t len = 0, cap;
	struct stat st;
	ssize_t n;
	int fd;

	/* O_NONBLOCK: a FIFO (or a tty) opens at once and is refused by the
	 * S_ISREG check instead of blocking until a writer comes */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		if (errno == ENOENT)
			return hkms_err_set(err, HKMS_E_NOT_FOUND,
			    "cannot open '%s': no such file", path);
		return hkms_err_set(err, HKMS_E_IO, "cannot open '%s': %s",
		    path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot stat '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "not_regular_file",
		    "cannot read '%s': not a regular file (%s)", path,
		    S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ?
		    "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device");
		goto out;
	}
	if ((uint64_t)st.st_size > (uint64_t)max) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "too_large", "file '%s' "
		    "is larger than %zu bytes", path, max);
		goto out;
	}
	/* one buffer of the file's size (+1 to see growth, +1 for the NUL):
	 * files read here may hold private keys, and a growing buffer would
	 * leave copies in freed memory */
	cap = (size_t)st.st_size + 1;
	if ((buf = malloc(cap + 1)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory reading "
		    "'%s'", path);
		goto out;
	}
	for (;;) {
		if (len == cap) {
			/* the file grew since fstat: a bigger buffer, the old
			 * one wiped before it is freed */
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;

			if (len > max || ncap <= cap) {
				rc = hkms_err_setc(err, HKMS_E_INVALID,
				    "too_large", "file '%s' is larger than "
				    "%zu bytes", path, max);
				goto out;
			}
			if ((nb = malloc(ncap + 1)) == NULL) {
				rc = hkms_err_set(err, HKMS_E_NOMEM,
				    "out of memory reading '%s'", path);
				goto out;
			}
			memcpy(nb, buf, len);
			wipe_free(buf, cap + 1);
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = hkms_err_set(err, HKMS_E_IO,
			    "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "too_large", "file '%s' "
		    "is larger than %zu bytes", path, max);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	wipe_free(buf, buf != NULL ? cap + 1 : 0);
	close(fd);
	return rc;
}

int
hkms_name_valid(const char *name)
{
	size_t i, n;

	if (name == NULL || (n = strlen(name)) == 0 || n > 64)
		return 0;
	if (name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return 0;
	}
	return 1;
}

char *
hkms_time_str(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		snprintf(out, 32, "invalid");
	else
		strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

long long
hkms_pid_start(long pid)
{
	char path[64], buf[1024], *p;
	long long v = -1;
	size_t n;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: skip to the
	 * last ')' (field 2 ends there), then fields 3..22 */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		v = strtoll(p + 1, NULL, 10);
	return v;
}

int
hkms_pid_alive(long pid, long long start)
{
	if (pid <= 0)
		return 0;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return 0;
	/* no start time: only a process whose start cannot be read either
	 * (no /proc) matches; otherwise any live pid would hold it forever
	 * (a reused pid, or a hand-made {"pid":1,"pid_start":0}) */
	if (start <= 0)
		return hkms_pid_start(pid) < 0;
	return hkms_pid_start(pid) == start;
}

void
hkms_json_push(json_t *arr, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(arr, json_string(buf));
}
