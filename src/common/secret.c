/*
 * Secret buffers. A PIN or passphrase only ever lives in one of these: the
 * memory is mlock()ed (best effort), never copied with strdup, and wiped
 * before it is returned to the allocator.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hkms/secret.h"

#define SECRET_MAX 4096

struct hkms_secret {
	size_t len;
	size_t cap;
	char *buf;
};

static enum hkms_rc
secret_alloc(size_t cap, struct hkms_secret **out, struct hkms_err *err)
{
	struct hkms_secret *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->buf = calloc(1, cap + 1)) == NULL) {
		free(s);
		return hkms_err_set(err, HKMS_E_NOMEM, "cannot allocate secret");
	}
	s->cap = cap;
	(void)mlock(s->buf, cap + 1);	/* best effort: RLIMIT_MEMLOCK */
	*out = s;
	return HKMS_OK;
}

enum hkms_rc
hkms_secret_new(const void *data, size_t len, struct hkms_secret **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	if (out == NULL || (data == NULL && len > 0) || len > SECRET_MAX)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid secret");
	if ((rc = secret_alloc(len, out, err)) != HKMS_OK)
		return rc;
	memcpy((*out)->buf, data, len);
	(*out)->len = len;
	return HKMS_OK;
}

enum hkms_rc
hkms_secret_from_file(const char *path, const char *what,
    struct hkms_secret **out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_secret *s = NULL;
	struct stat st;
	ssize_t n;
	int fd = -1;

	if (path == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no %s file given",
		    what ? what : "secret");
	if (what == NULL)
		what = "secret";
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		rc = hkms_err_setc(err, HKMS_E_PIN, "secret_file_unreadable",
		    "cannot read %s file '%s': %s", what, path,
		    strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = hkms_err_setc(err, HKMS_E_PIN, "secret_file_unreadable",
		    "%s file '%s' is not a regular file", what, path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		rc = hkms_err_setc(err, HKMS_E_PIN, "secret_file_mode",
		    "%s file '%s' is accessible by group or others "
		    "(mode %04o); chmod 600 it", what, path,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing %s file '%s': owned by uid %u, not root or the "
		    "service user", what, path, (unsigned)st.st_uid);
		goto out;
	}
	if ((rc = secret_alloc(SECRET_MAX, &s, err)) != HKMS_OK)
		goto out;
	while (s->len < s->cap) {
		n = read(fd, s->buf + s->len, s->cap - s->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = hkms_err_setc(err, HKMS_E_PIN,
			    "secret_file_unreadable",
			    "cannot read %s file '%s': %s", what, path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		s->len += (size_t)n;
	}
	if (s->len == s->cap) {
		rc = hkms_err_set(err, HKMS_E_PIN, "%s file '%s' is too large",
		    what, path);
		goto out;
	}
	while (s->len > 0 && (s->buf[s->len - 1] == '\n' ||
	    s->buf[s->len - 1] == '\r'))
		s->buf[--s->len] = '\0';
	if (s->len == 0 || memchr(s->buf, '\0', s->len) != NULL) {
		rc = hkms_err_set(err, HKMS_E_PIN, "%s file '%s' is empty or "
		    "holds a NUL byte", what, path);
		goto out;
	}
	*out = s;
	s = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	if (fd >= 0)
		close(fd);
	hkms_secret_free(s);
	return rc;
}

enum hkms_rc
hkms_secret_from_env(const char *name, struct hkms_secret **out,
    struct hkms_err *err)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		return hkms_err_set(err, HKMS_E_NOT_FOUND, "%s is not set",
		    name);
	return hkms_secret_new(v, strlen(v), out, err);
}

const char *
hkms_secret_str(const struct hkms_secret *s)
{
	return s ? s->buf : "";
}

size_t
hkms_secret_len(const struct hkms_secret *s)
{
	return s ? s->len : 0;
}

void
hkms_secret_free(struct hkms_secret *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s->buf, s->cap + 1);
	(void)munlock(s->buf, s->cap + 1);
	free(s->buf);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}
