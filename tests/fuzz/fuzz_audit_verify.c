/*
 * fuzz_audit_verify: the audit hash-chain verifier, hkms_audit_verify(),
 * on a damaged or forged <data>/audit.log, then hkms_audit_append() on
 * top of it (which parses the log's last line and the head itself).
 *
 * Input: one mode byte, then the log. Mode % 4 chooses audit.head:
 *   0  none;
 *   1  derived from the last complete line ({"seq":<its seq>,
 *      "hash":<its hash>}), as a healthy store has it;
 *   2  derived from the line before (one behind, as after a crash);
 *   3  the input's first line verbatim, the log being the rest.
 * Invariants: verify returns HKMS_OK or HKMS_E_VERIFY and always a report;
 * a log that verifies has no NUL byte in its complete lines (the hash
 * covers every byte); when it verifies, an append succeeds and the log
 * still verifies after it.
 */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "hkms/store.h"
#include "fuzz.h"

static const char *dir;
static struct hkms_store *st;
static char log_path[PATH_MAX], head_path[PATH_MAX];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct hkms_err err;

	(void)argc;
	(void)argv;
	dir = fuzz_tmpdir("audit");
	if (hkms_store_open(dir, &st, &err) != HKMS_OK) {
		fprintf(stderr, "fuzz: cannot open store %s: %s\n", dir,
		    err.detail);
		abort();
	}
	snprintf(log_path, sizeof(log_path), "%s/audit.log", dir);
	snprintf(head_path, sizeof(head_path), "%s/audit.head", dir);
	return 0;
}

/* Write a head from complete line number back (0 = last) of log: its
 * "seq" value as written and the 64 characters of its hash member. */
static void
derive_head(const uint8_t *log, size_t len, int back)
{
	const char *p, *s, *e, *q;
	char *text, head[256];
	size_t n;

	text = fuzz_strndup(log, len);
	n = strlen(text);	/* a NUL ends it: good enough for a head */
	while (n > 0 && text[n - 1] != '\n')
		n--;		/* drop a torn tail */
	if (n == 0)
		goto out;
	text[--n] = '\0';
	for (; back > 0; back--) {
		if ((p = strrchr(text, '\n')) == NULL)
			goto out;
		text[p - text] = '\0';
	}
	p = strrchr(text, '\n');
	p = p ? p + 1 : text;
	if ((s = strstr(p, "\"seq\":")) == NULL)
		goto out;
	s += 6;
	for (e = s; *e == '-' || (*e >= '0' && *e <= '9'); e++)
		;
	if ((q = strstr(p, ",\"hash\":\"")) == NULL || strlen(q) < 9 + 64)
		goto out;
	snprintf(head, sizeof(head), "{\"seq\":%.*s,\"hash\":\"%.64s\"}\n",
	    (int)(e - s > 40 ? 40 : e - s), s, q + 9);
	fuzz_write(head_path, head, strlen(head));
out:
	free(text);
}

/* No NUL byte before the last '\n'. */
static int
no_nul_in_lines(const uint8_t *log, size_t len)
{
	while (len > 0 && log[len - 1] != '\n')
		len--;
	return memchr(log, '\0', len) == NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *report = NULL, *detail;
	const uint8_t *log, *nl;
	struct hkms_err err;
	size_t len;
	enum hkms_rc rc;
	int mode;

	if (size == 0)
		return 0;
	mode = data[0] % 4;
	log = data + 1;
	len = size - 1;
	unlink(head_path);
	if (mode == 3) {
		nl = memchr(log, '\n', len);
		fuzz_write(head_path, log, nl ? (size_t)(nl - log) + 1 : len);
		len -= nl ? (size_t)(nl - log) + 1 : len;
		log = nl ? nl + 1 : log + (size - 1);
	}
	fuzz_write(log_path, log, len);
	if (mode == 1 || mode == 2)
		derive_head(log, len, mode - 1);

	rc = hkms_audit_verify(st, &report, &err);
	FUZZ_CHECK(rc == HKMS_OK || rc == HKMS_E_VERIFY);
	FUZZ_CHECK(json_is_object(report));
	if (getenv("HKMS_FUZZ_DEBUG") != NULL) {
		char *r = json_dumps(report, JSON_COMPACT);

		fprintf(stderr, "verify: %s\n", r);
		free(r);
	}
	FUZZ_CHECK(json_is_true(json_object_get(report, "ok")) ==
	    (rc == HKMS_OK));
	json_decref(report);
	report = NULL;
	if (rc == HKMS_OK)
		FUZZ_CHECK(no_nul_in_lines(log, len));

	detail = json_pack("{s:s}", "fuzz", "1");
	if (hkms_audit_append(st, "fuzz", "fuzz.op", "x", "ok", detail,
	    &err) == HKMS_OK) {
		FUZZ_CHECK(hkms_audit_verify(st, NULL, &err) == HKMS_OK ||
		    rc != HKMS_OK);
	} else {
		FUZZ_CHECK(rc != HKMS_OK);
	}
	json_decref(detail);
	return 0;
}
