/*
 * Hex, files, names and times: helpers shared by every module.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

enum hkms_rc
hkms_read_file(const char *path, size_t max, unsigned char **out,
    size_t *outlen, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return hkms_err_set(err, HKMS_E_NOT_FOUND,
			    "cannot open '%s': no such file", path);
		return hkms_err_set(err, HKMS_E_IO, "cannot open '%s': %s",
		    path, strerror(errno));
	}
	for (;;) {
		if (len == cap) {
			unsigned char *nb;

			cap = cap ? cap * 2 : 4096;
			if (cap > max + 1)
				cap = max + 1;
			if (len == cap) {
				rc = hkms_err_setc(err, HKMS_E_INVALID,
				    "too_large", "file '%s' is larger than "
				    "%zu bytes", path, max);
				goto out;
			}
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				rc = hkms_err_set(err, HKMS_E_NOMEM,
				    "out of memory reading '%s'", path);
				goto out;
			}
			buf = nb;
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
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	free(buf);
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
