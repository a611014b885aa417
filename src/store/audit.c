/*
 * The audit log: <data>/audit.log, append-only JSON lines chained by hash.
 *
 * Each line is the canonical record (compact JSON, keys sorted, without
 * "hash") with ,"hash":"<hex>"} spliced in before the closing brace, where
 * hash = SHA-256(prev ‖ canonical record) and prev is the previous line's
 * hash (64 zeros for seq 1). Verification hashes the exact bytes of the
 * line, so it never depends on re-serializing JSON.
 *
 * Appends take <data>/.audit.lock (a leaf lock: callers may hold the data
 * lock, never the reverse), write the line with one O_APPEND write(),
 * fdatasync() and then replace <data>/audit.head ({"seq","hash"})
 * atomically, so a truncated tail shows as a head ahead of the log. A
 * crash mid-write leaves an unterminated last line; the next append cuts
 * it off and records an "audit.recover" entry saying how many bytes went.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hkms/store.h"
#include "hkms/util.h"
#include "store_int.h"

#define HASH_HEX 64
#define MAX_LINE (64 * 1024)
#define HASH_SUFFIX_LEN (sizeof(",\"hash\":\"\"}") - 1 + HASH_HEX)

static const char zero_hash[HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* hex SHA-256(prev ‖ body) */
static void
chain_hash(const char *prev, const char *body, size_t len,
    char out[HASH_HEX + 1])
{
	unsigned char md[32];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, prev, strlen(prev)) ||
	    !EVP_DigestUpdate(ctx, body, len) ||
	    !EVP_DigestFinal_ex(ctx, md, &mdlen))
		memset(md, 0, sizeof(md));	/* never matches a real chain */
	EVP_MD_CTX_free(ctx);
	hkms_hex(md, 32, 0, out);
}

static int
is_hex64(const char *s)
{
	int i;

	for (i = 0; i < HASH_HEX; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return 1;
}

/*
 * Split a line (without '\n') into its canonical body, written to body
 * (line minus the hash member, '}' re-added), and the hash. 0 if the line
 * does not end in ,"hash":"<64 hex>"}.
 */
static int
split_line(const char *line, size_t len, char *body, char hash[HASH_HEX + 1])
{
	const char *suf;

	if (len < HASH_SUFFIX_LEN + 2)
		return 0;
	suf = line + len - HASH_SUFFIX_LEN;
	if (strncmp(suf, ",\"hash\":\"", 9) != 0 || !is_hex64(suf + 9) ||
	    strcmp(suf + 9 + HASH_HEX, "\"}") != 0)
		return 0;
	memcpy(hash, suf + 9, HASH_HEX);
	hash[HASH_HEX] = '\0';
	memcpy(body, line, (size_t)(suf - line));
	body[suf - line] = '}';
	body[suf - line + 1] = '\0';
	return 1;
}

static int
secret_key(const char *k)
{
	static const char *const exact[] = {
		"pin", "so_pin", "user_pin", "private_key", "key_pem",
	};
	static const char *const part[] = {
		"passphrase", "password", "secret",
	};
	size_t i;

	for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcasecmp(k, exact[i]) == 0)
			return 1;
	for (i = 0; i < sizeof(part) / sizeof(part[0]); i++)
		if (strcasestr(k, part[i]) != NULL)
			return 1;
	return 0;
}

/* Replace values under secret-looking keys, recursively (in a copy). */
static void
redact(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, k, v) {
			if (secret_key(k))
				json_object_set_new(j, k,
				    json_string("[redacted]"));
			else
				redact(v);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			redact(v);
	}
}

static enum hkms_rc
audit_path(struct hkms_store *st, const char *file, char **out,
    struct hkms_err *err)
{
	if ((*out = hkms_store_join(st->dir, file, NULL)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	return HKMS_OK;
}

/* Read audit.head: *seq = -1 when it does not exist. */
static enum hkms_rc
read_head(struct hkms_store *st, long long *seq, char hash[HASH_HEX + 1],
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	unsigned char *buf = NULL;
	char *path = NULL;
	json_t *j = NULL;
	const char *h;
	size_t len;

	*seq = -1;
	memcpy(hash, zero_hash, HASH_HEX + 1);	/* defined when missing too */
	if ((rc = audit_path(st, "audit.head", &path, err)) != HKMS_OK)
		goto out;
	rc = hkms_store_read_file(path, 4096, &buf, &len, err);
	if (rc == HKMS_E_NOT_FOUND) {
		rc = HKMS_OK;
		goto out;
	}
	if (rc != HKMS_OK)
		goto out;
	j = json_loadb((const char *)buf, len, 0, NULL);
	h = json_string_value(json_object_get(j, "hash"));
	if (!json_is_integer(json_object_get(j, "seq")) || h == NULL ||
	    strlen(h) != HASH_HEX) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.head is damaged");
		goto out;
	}
	*seq = json_integer_value(json_object_get(j, "seq"));
	memcpy(hash, h, HASH_HEX + 1);
	rc = HKMS_OK;
out:
	json_decref(j);
	free(buf);
	free(path);
	return rc;
}

static enum hkms_rc
write_head(struct hkms_store *st, long long seq, const char *hash,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	char *path = NULL, buf[160];
	int n;

	if ((rc = audit_path(st, "audit.head", &path, err)) != HKMS_OK)
		return rc;
	n = snprintf(buf, sizeof(buf), "{\"seq\":%lld,\"hash\":\"%s\"}\n", seq,
	    hash);
	rc = hkms_store_write_atomic(path, buf, (size_t)n, 0600, err);
	free(path);
	return rc;
}

static int
open_audit_lock(struct hkms_store *st, struct hkms_err *err)
{
	char *path = NULL;
	int fd;

	if (audit_path(st, ".audit.lock", &path, err) != HKMS_OK)
		return -1;
	if (hkms_store_open_file(path, O_RDWR | O_CREAT, 0600, &fd, err) !=
	    HKMS_OK) {
		free(path);
		return -1;
	}
	/* a new open file description per call: excludes threads too */
	while (flock(fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		hkms_err_set(err, HKMS_E_IO, "cannot lock '%s': %s", path,
		    strerror(errno));
		close(fd);
		fd = -1;
		break;
	}
	free(path);
	return fd;
}

enum hkms_rc
hkms_audit_init(struct hkms_store *st, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char *logp = NULL, hash[HASH_HEX + 1];
	long long seq;
	struct stat sb;
	int lk;

	if ((lk = open_audit_lock(st, err)) < 0)
		return HKMS_E_IO;
	if ((rc = read_head(st, &seq, hash, err)) != HKMS_OK)
		goto out;
	if (seq >= 0) {
		rc = HKMS_OK;
		goto out;
	}
	if ((rc = audit_path(st, "audit.log", &logp, err)) != HKMS_OK)
		goto out;
	/* a log without a head is left for verify to report */
	if (stat(logp, &sb) == 0 && sb.st_size > 0) {
		rc = HKMS_OK;
		goto out;
	}
	rc = write_head(st, 0, zero_hash, err);
out:
	free(logp);
	close(lk);
	return rc;
}

/*
 * Inspect the end of the log (fd, size): *keep = offset just after the
 * last '\n' (the torn bytes beyond it are to be cut), and the last
 * complete line's seq, hash and prev (0 and zeros for an empty log).
 */
static enum hkms_rc
read_tail(int fd, off_t size, off_t *keep, long long *seq,
    char hash[HASH_HEX + 1], char lastprev[HASH_HEX + 1], struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	size_t win = 2 * MAX_LINE + 2, n, i, end, start;
	char *buf = NULL, *body = NULL;
	json_t *j = NULL;
	off_t off;
	ssize_t r;

	*keep = 0;
	*seq = 0;
	memcpy(hash, zero_hash, HASH_HEX + 1);
	memcpy(lastprev, zero_hash, HASH_HEX + 1);
	if (size == 0)
		return HKMS_OK;
	n = (off_t)win < size ? win : (size_t)size;
	off = size - (off_t)n;
	if ((buf = malloc(n + 1)) == NULL || (body = malloc(n + 2)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i += (size_t)r) {
		r = pread(fd, buf + i, n - i, off + (off_t)i);
		if (r < 0 && errno == EINTR) {
			r = 0;
			continue;
		}
		if (r <= 0) {
			rc = hkms_err_set(err, HKMS_E_IO, "cannot read audit "
			    "log: %s", r < 0 ? strerror(errno) : "short read");
			goto out;
		}
	}
	buf[n] = '\0';
	for (end = n; end > 0 && buf[end - 1] != '\n'; end--)
		;
	if (end == 0) {
		if (off == 0) {		/* only a torn first line */
			rc = HKMS_OK;
			goto out;
		}
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.log: last line too long (damaged)");
		goto out;
	}
	*keep = off + (off_t)end;
	for (start = end - 1; start > 0 && buf[start - 1] != '\n'; start--)
		;
	if (start == 0 && off > 0) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.log: last line too long (damaged)");
		goto out;
	}
	buf[end - 1] = '\0';
	if (!split_line(buf + start, end - 1 - start, body, hash) ||
	    (j = json_loads(body, 0, NULL)) == NULL ||
	    !json_is_integer(json_object_get(j, "seq"))) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.log: last record is damaged; run audit verify");
		goto out;
	}
	*seq = json_integer_value(json_object_get(j, "seq"));
	/* the caller adds to it: a forged huge or negative seq would
	 * overflow (found by fuzz_audit_verify) */
	if (*seq < 1 || *seq > LLONG_MAX / 2) {
		*seq = 0;
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.log: last record has a bad seq; run audit verify");
		goto out;
	}
	if (json_is_string(json_object_get(j, "prev")))
		snprintf(lastprev, HASH_HEX + 1, "%s",
		    json_string_value(json_object_get(j, "prev")));
	rc = HKMS_OK;
out:
	json_decref(j);
	free(buf);
	free(body);
	return rc;
}

/* Build the line for one record; *line is malloc'd and ends in '\n'. */
static enum hkms_rc
make_line(long long seq, const char *prev, const char *actor, const char *op,
    const char *object, const char *result, json_t *detail, char **line,
    size_t *linelen, char hash[HASH_HEX + 1], struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char now[32], *dump = NULL, *l = NULL;
	json_t *rec = NULL;
	size_t dl;

	rec = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:O?, s:s}",
	    "seq", (json_int_t)seq,
	    "time", hkms_time_str((int64_t)time(NULL), now),
	    "actor", actor, "op", op, "object", object, "result", result,
	    "detail", detail, "prev", prev);
	if (rec == NULL || (dump = json_dumps(rec, JSON_COMPACT |
	    JSON_SORT_KEYS)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "cannot encode audit "
		    "record (invalid UTF-8?)");
		goto out;
	}
	dl = strlen(dump);
	if (dl + HASH_SUFFIX_LEN + 1 > MAX_LINE) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "audit record for '%s'"
		    " is too large", op);
		goto out;
	}
	chain_hash(prev, dump, dl, hash);
	if ((l = malloc(dl + HASH_SUFFIX_LEN + 2)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* dump ends in '}': splice the hash member in before it */
	*linelen = (size_t)sprintf(l, "%.*s,\"hash\":\"%s\"}\n", (int)(dl - 1),
	    dump, hash);
	*line = l;
	l = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(rec);
	free(dump);
	free(l);
	return rc;
}

/* Append one line at size (O_APPEND, lock held); undo a partial write. */
static enum hkms_rc
append_line(struct hkms_store *st, int fd, off_t size, const char *line,
    size_t len, struct hkms_err *err)
{
	int e;

#ifdef HKMS_TEST_HOOKS
	if (getenv("HKMS_STORE_CRASH_AT") != NULL &&
	    strncmp(getenv("HKMS_STORE_CRASH_AT"), "audit_partial", 13) == 0) {
		(void)hkms_store_write_all(fd, line, len / 2);
		hkms_store_crash_point("audit_partial");
		(void)ftruncate(fd, size);
	}
#endif
	if ((e = hkms_store_write_all(fd, line, len)) != 0) {
		(void)ftruncate(fd, size);
		if (hkms_store_errno_nospace(e))
			return hkms_err_setc(err, HKMS_E_NOSPACE, "no_space",
			    "no space left on device: cannot append to "
			    "audit.log");
		return hkms_err_set(err, HKMS_E_IO, "cannot append to "
		    "audit.log: %s", strerror(e));
	}
	hkms_store_crash_point("audit_after_write");
	if (fdatasync(fd) != 0) {
		e = errno;
		/* not acknowledged: take it out again, best effort */
		(void)ftruncate(fd, size);
		hkms_store_note_failure(st, HKMS_E_IO, &(struct hkms_err){
		    .code = "fsync_failed" });
		return hkms_err_setc(err, HKMS_E_IO, "fsync_failed",
		    "cannot fdatasync audit.log: %s (record abandoned)",
		    strerror(e));
	}
	hkms_store_crash_point("audit_after_sync");
	return HKMS_OK;
}

enum hkms_rc
hkms_audit_append(struct hkms_store *st, const char *actor, const char *op,
    const char *object, const char *result, json_t *detail,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char prev[HASH_HEX + 1], hash[HASH_HEX + 1], hhash[HASH_HEX + 1];
	char lastprev[HASH_HEX + 1];
	char *logp = NULL, *line = NULL;
	json_t *clean = NULL, *rdetail = NULL;
	long long seq, hseq;
	size_t len;
	struct stat sb;
	off_t keep;
	int lk = -1, fd = -1;

	if (st == NULL || op == NULL || *op == '\0' || result == NULL ||
	    (strcmp(result, "ok") != 0 && strcmp(result, "error") != 0))
		return hkms_err_set(err, HKMS_E_INVALID, "audit: need op and "
		    "result \"ok\" or \"error\"");
	if (detail != NULL) {
		if ((clean = json_deep_copy(detail)) == NULL)
			return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		redact(clean);
	}
	if ((lk = open_audit_lock(st, err)) < 0) {
		rc = HKMS_E_IO;
		goto out;
	}
	if ((rc = audit_path(st, "audit.log", &logp, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_open_file(logp, O_RDWR | O_APPEND | O_CREAT,
	    0600, &fd, err)) != HKMS_OK)
		goto out;
	if (fstat(fd, &sb) != 0) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot open '%s': %s", logp,
		    strerror(errno));
		goto out;
	}
	if ((rc = read_tail(fd, sb.st_size, &keep, &seq, prev, lastprev,
	    err)) != HKMS_OK)
		goto out;
	if ((rc = read_head(st, &hseq, hhash, err)) != HKMS_OK)
		goto out;
	/* a crash can leave the head one record behind, never more */
	if (hseq > seq || hseq < seq - 1 || (hseq == seq && hseq > 0 &&
	    strcmp(hhash, prev) != 0) || (hseq == seq - 1 &&
	    strcmp(hhash, lastprev) != 0)) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.log ends at seq %lld but audit.head says %lld: "
		    "tail truncated or altered; refusing to append", seq, hseq);
		goto out;
	}
	/* catch the head up first, so a crash below leaves it one behind */
	if (hseq == seq - 1 && (rc = write_head(st, seq, prev, err)) !=
	    HKMS_OK)
		goto out;
	if (keep < sb.st_size) {
		/* torn tail from a crash mid-write: never acknowledged */
		long long torn = (long long)(sb.st_size - keep);

		if (ftruncate(fd, keep) != 0 || fdatasync(fd) != 0) {
			rc = hkms_err_set(err, HKMS_E_IO, "cannot cut torn "
			    "tail of '%s': %s", logp, strerror(errno));
			goto out;
		}
		rdetail = json_pack("{s:I}", "torn_bytes", (json_int_t)torn);
		if ((rc = make_line(seq + 1, prev, "hkms", "audit.recover",
		    "audit.log", "ok", rdetail, &line, &len, hash, err)) !=
		    HKMS_OK ||
		    (rc = append_line(st, fd, keep, line, len, err)) != HKMS_OK)
			goto out;
		/* head now too, so a crash below leaves it one behind, not two */
		if ((rc = write_head(st, seq + 1, hash, err)) != HKMS_OK)
			goto out;
		free(line);
		line = NULL;
		seq++;
		memcpy(prev, hash, sizeof(prev));
		keep += (off_t)len;
	}
	if ((rc = make_line(seq + 1, prev, actor ? actor : "", op,
	    object ? object : "", result, clean, &line, &len, hash, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = append_line(st, fd, keep, line, len, err)) != HKMS_OK)
		goto out;
	/* the record is durable; the head makes a truncation detectable */
	if ((rc = write_head(st, seq + 1, hash, err)) != HKMS_OK) {
		/* not acknowledged: take the line out so the head never lags
		 * by more than the one record a crash can leave */
		if (ftruncate(fd, keep) == 0)
			(void)fdatasync(fd);
		goto out;
	}
	rc = HKMS_OK;
out:
	if (fd >= 0)
		close(fd);
	if (lk >= 0)
		close(lk);
	json_decref(clean);
	json_decref(rdetail);
	free(line);
	free(logp);
	return rc;
}

static enum hkms_rc
bad(struct hkms_err *err, json_t *rep, long long lineno, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static enum hkms_rc
bad(struct hkms_err *err, json_t *rep, long long lineno, const char *fmt,
    ...)
{
	char reason[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	json_object_set_new(rep, "ok", json_false());
	json_object_set_new(rep, "bad_line", json_integer(lineno));
	json_object_set_new(rep, "reason", json_string(reason));
	return hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
	    "audit.log line %lld: %s", lineno, reason);
}

enum hkms_rc
hkms_audit_verify(struct hkms_store *st, json_t **report,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char prev[HASH_HEX + 1], hash[HASH_HEX + 1], calc[HASH_HEX + 1];
	char hhash[HASH_HEX + 1], before[HASH_HEX + 1];
	char *logp = NULL, *line = NULL, *body = NULL;
	long long hseq, lineno = 0, expect = 1, seq;
	size_t cap = 0;
	ssize_t n;
	json_t *rep = NULL, *j = NULL;
	const char *p;
	FILE *f = NULL;
	long long torn = 0;
	int fd = -1;

	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if ((rep = json_object()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	json_object_set_new(rep, "ok", json_true());
	memcpy(prev, zero_hash, sizeof(prev));
	memcpy(before, zero_hash, sizeof(before));
	/* the head first: an append between the two reads only adds lines */
	if ((rc = read_head(st, &hseq, hhash, err)) != HKMS_OK) {
		if (rc == HKMS_E_DENIED)
			goto out;	/* a link: refused, named in err */
		rc = bad(err, rep, 0, "audit.head is damaged");
		goto out;
	}
	if ((rc = audit_path(st, "audit.log", &logp, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_open_file(logp, O_RDONLY, 0, &fd, err)) !=
	    HKMS_OK && rc != HKMS_E_NOT_FOUND)
		goto out;
	if (fd >= 0 && (f = fdopen(fd, "r")) == NULL) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot open '%s': %s", logp,
		    strerror(errno));
		close(fd);
		goto out;
	}
	while (f != NULL && (n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] != '\n') {
			torn = n;	/* crash mid-append; cut on next append */
			break;
		}
		line[--n] = '\0';
		/* the hash covers the bytes up to a NUL only: bytes hidden
		 * after one would go unnoticed (found by fuzz_audit_verify) */
		if (strlen(line) != (size_t)n) {
			rc = bad(err, rep, lineno, "NUL byte in record "
			    "(altered or damaged)");
			goto out;
		}
		free(body);
		json_decref(j);
		j = NULL;
		if ((body = malloc((size_t)n + 2)) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		if (!split_line(line, (size_t)n, body, hash) ||
		    (j = json_loads(body, 0, NULL)) == NULL) {
			rc = bad(err, rep, lineno, "malformed record "
			    "(altered or damaged)");
			goto out;
		}
		if (!json_is_integer(json_object_get(j, "seq"))) {
			rc = bad(err, rep, lineno, "no seq (altered)");
			goto out;
		}
		seq = json_integer_value(json_object_get(j, "seq"));
		if (seq != expect) {
			rc = bad(err, rep, lineno, "seq %lld, expected %lld "
			    "(record deleted, inserted or reordered)", seq,
			    expect);
			goto out;
		}
		p = json_string_value(json_object_get(j, "prev"));
		if (p == NULL || strcmp(p, prev) != 0) {
			rc = bad(err, rep, lineno, "prev does not match the "
			    "previous record's hash (record deleted or "
			    "reordered)");
			goto out;
		}
		chain_hash(prev, body, strlen(body), calc);
		if (strcmp(calc, hash) != 0) {
			rc = bad(err, rep, lineno, "hash mismatch (record "
			    "altered)");
			goto out;
		}
		memcpy(before, prev, sizeof(before));
		memcpy(prev, hash, sizeof(prev));
		expect++;
	}
	seq = expect - 1;	/* last complete record */
	json_object_set_new(rep, "records", json_integer(seq));
	json_object_set_new(rep, "last_seq", json_integer(seq));
	json_object_set_new(rep, "last_hash", json_string(prev));
	json_object_set_new(rep, "head_seq", json_integer(hseq));
	json_object_set_new(rep, "torn_tail_bytes", json_integer(torn));
	if (hseq < 0) {
		if (seq > 0) {
			rc = bad(err, rep, 0, "audit.head is missing");
			goto out;
		}
	} else if (hseq > seq) {
		rc = bad(err, rep, seq + 1, "log ends at seq %lld but "
		    "audit.head says %lld (tail truncated)", seq, hseq);
		goto out;
	} else if (hseq == seq && strcmp(hhash, prev) != 0) {
		rc = bad(err, rep, seq, "hash differs from audit.head "
		    "(record altered or replaced)");
		goto out;
	} else if (hseq == seq - 1 && strcmp(hhash, before) != 0) {
		rc = bad(err, rep, seq - 1, "hash differs from audit.head "
		    "(record altered or replaced)");
		goto out;
	} else if (hseq < seq - 1) {
		rc = bad(err, rep, hseq + 1, "audit.head is %lld records "
		    "behind the log (head replaced or records appended)",
		    seq - hseq);
		goto out;
	}
	rc = HKMS_OK;
out:
	if (report != NULL) {
		*report = rep;
		rep = NULL;	/* transferred */
	}
	if (f != NULL)
		fclose(f);
	json_decref(rep);
	json_decref(j);
	free(body);
	free(line);
	free(logp);
	return rc;
}
