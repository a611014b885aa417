/*
 * Secret buffers. A PIN or passphrase only ever lives in one of these: its
 * own anonymous pages, mlock()ed (best effort) and marked MADV_DONTDUMP so
 * no core file holds them, never copied with strdup, wiped before the pages
 * are unmapped.
 *
 * hkms_secret_process_init() is the first thing a hkms process does: no
 * core dumps at all (RLIMIT_CORE 0, not dumpable: libp11 keeps its own heap
 * copy of the PIN for re-login, and issue-client holds a software key), and
 * the PIN variables move out of the environment into secret buffers, so
 * neither /proc/<pid>/environ nor a child sees them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hkms/secret.h"

#define SECRET_MAX 4096
/* hkms_secret_new: also key material such as a client PKCS#12 */
#define SECRET_NEW_MAX (1024 * 1024)

struct hkms_secret {
	size_t len;
	size_t cap;
	size_t maplen;		/* cap + 1 rounded up to whole pages */
	char *buf;
};

static enum hkms_rc
secret_alloc(size_t cap, struct hkms_secret **out, struct hkms_err *err)
{
	struct hkms_secret *s = calloc(1, sizeof(*s));
	long page = sysconf(_SC_PAGESIZE);
	void *m;

	if (page <= 0)
		page = 4096;
	if (s == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "cannot allocate secret");
	/* own pages: madvise and mlock work on whole pages, and nothing
	 * else shares them */
	s->maplen = (cap + 1 + (size_t)page - 1) / (size_t)page * (size_t)page;
	m = mmap(NULL, s->maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		free(s);
		return hkms_err_set(err, HKMS_E_NOMEM, "cannot allocate secret");
	}
	s->buf = m;	/* zero-filled */
	s->cap = cap;
	(void)madvise(s->buf, s->maplen, MADV_DONTDUMP);
	(void)mlock(s->buf, s->maplen);	/* best effort: RLIMIT_MEMLOCK */
	*out = s;
	return HKMS_OK;
}

enum hkms_rc
hkms_secret_new(const void *data, size_t len, struct hkms_secret **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	if (out == NULL || (data == NULL && len > 0) || len > SECRET_NEW_MAX)
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
	/* O_NONBLOCK: a FIFO opens at once and is refused below, instead of
	 * blocking until a writer appears */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) < 0) {
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

/* Secrets taken out of the environment, for the life of the process. */
#define ENV_STASH 4
static struct {
	char name[32];
	struct hkms_secret *s;
} env_stash[ENV_STASH];

static struct hkms_secret *
stash_find(const char *name)
{
	size_t i;

	for (i = 0; i < ENV_STASH; i++)
		if (env_stash[i].s != NULL &&
		    strcmp(env_stash[i].name, name) == 0)
			return env_stash[i].s;
	return NULL;
}

/* Remove every name=... from the environment and wipe the strings: the
 * first ones live in the block /proc/<pid>/environ shows, which unsetenv
 * does not touch. Not thread-safe (call while single-threaded). */
static void
env_scrub(const char *name)
{
	extern char **environ;
	char *found[8], **e;
	size_t n = strlen(name), k = 0, i;

	for (e = environ; e != NULL && *e != NULL && k < 8; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			found[k++] = *e;
	for (i = 0; i < k; i++)	/* the value first; "name=" still matches */
		OPENSSL_cleanse(found[i] + n + 1, strlen(found[i] + n + 1));
	(void)unsetenv(name);
	for (i = 0; i < k; i++)
		OPENSSL_cleanse(found[i], n + 1);
}

enum hkms_rc
hkms_secret_take_env(const char *name, struct hkms_err *err)
{
	struct hkms_secret *s = NULL;
	const char *v;
	enum hkms_rc rc;
	size_t i;

	if (name == NULL || strlen(name) >= sizeof(env_stash[0].name))
		return hkms_err_set(err, HKMS_E_INVALID, "invalid variable");
	if (stash_find(name) != NULL) {
		env_scrub(name);
		return HKMS_OK;
	}
	if ((v = getenv(name)) == NULL)
		return HKMS_OK;
	if (*v != '\0') {
		for (i = 0; i < ENV_STASH && env_stash[i].s != NULL; i++)
			;
		if (i == ENV_STASH)
			rc = hkms_err_set(err, HKMS_E_INTERNAL, "too many "
			    "secret variables");
		else
			rc = hkms_secret_new(v, strlen(v), &s, err);
		if (rc != HKMS_OK) {
			env_scrub(name);	/* never left behind */
			return rc;
		}
		snprintf(env_stash[i].name, sizeof(env_stash[i].name), "%s",
		    name);
		env_stash[i].s = s;
	}
	env_scrub(name);
	return HKMS_OK;
}

void
hkms_secret_env_release(void)
{
	size_t i;

	for (i = 0; i < ENV_STASH; i++) {
		hkms_secret_free(env_stash[i].s);
		env_stash[i].s = NULL;
	}
}

enum hkms_rc
hkms_secret_from_env(const char *name, struct hkms_secret **out,
    struct hkms_err *err)
{
	const struct hkms_secret *s;
	enum hkms_rc rc;

	if (name == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((s = stash_find(name)) == NULL) {
		if ((rc = hkms_secret_take_env(name, err)) != HKMS_OK)
			return rc;
		s = stash_find(name);
	}
	if (s == NULL)
		return hkms_err_set(err, HKMS_E_NOT_FOUND, "%s is not set",
		    name);
	return hkms_secret_new(s->buf, s->len, out, err);
}

void
hkms_secret_process_init(void)
{
	static const char *const vars[] = { "HKMS_PIN", "HKMS_SO_PIN" };
	struct rlimit rl = { 0, 0 };
	size_t i;

	/* no core file from a process that holds a PIN: ours are
	 * MADV_DONTDUMP, but libp11's re-login copy and OpenSSL's key
	 * material are ordinary heap. Root (CAP_SYS_PTRACE) can still
	 * attach gdb; valgrind runs the process itself and is unaffected. */
	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		(void)hkms_secret_take_env(vars[i], NULL);
}

enum hkms_rc
hkms_secret_alloc(size_t cap, struct hkms_secret **out, unsigned char **buf,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	if (out == NULL || buf == NULL || cap > SECRET_NEW_MAX)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid secret");
	if ((rc = secret_alloc(cap, out, err)) != HKMS_OK)
		return rc;
	*buf = (unsigned char *)(*out)->buf;
	return HKMS_OK;
}

void
hkms_secret_set_len(struct hkms_secret *s, size_t len)
{
	if (s == NULL)
		return;
	if (len > s->cap)
		len = s->cap;
	s->len = len;
	s->buf[len] = '\0';
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
	OPENSSL_cleanse(s->buf, s->maplen);
	(void)munlock(s->buf, s->maplen);
	(void)munmap(s->buf, s->maplen);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}
