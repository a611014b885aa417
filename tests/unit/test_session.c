/*
 * Unit tests of the second factor (issue 16a): TOTP against the SHA-1
 * test vectors of RFC 6238 (appendix B, truncated to 6 digits), the
 * window of one step each way and the replay guard, base32 (RFC 4648
 * vectors), the QR SVG's shape, and the session table (ids, binding to
 * the certificate, expiry, per-client cap, a full table, the lockout).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hkms/ops.h"

static const unsigned char rfc_key[] = "12345678901234567890";

static void
test_totp_rfc6238_vectors(void **state)
{
	static const struct { long long t; unsigned code; } v[] = {
		{ 59LL, 287082 }, { 1111111109LL, 81804 },
		{ 1111111111LL, 50471 }, { 1234567890LL, 5924 },
		{ 2000000000LL, 279037 }, { 20000000000LL, 353130 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(hkms_totp_hotp(rfc_key, 20,
		    (uint64_t)(v[i].t / 30), 6), v[i].code);
		/* and the 8-digit value of the RFC, for the first */
	}
	assert_int_equal(hkms_totp_hotp(rfc_key, 20, 59 / 30, 8), 94287082);
	assert_int_equal(hkms_totp_hotp(rfc_key, 20, 20000000000LL / 30, 8),
	    65353130);
}

static void
test_totp_check_window_and_replay(void **state)
{
	time_t now = 1111111111;
	int64_t step = 0, t = now / 30;
	char prev[8], cur[8], next[8], far[8];

	(void)state;
	snprintf(prev, sizeof(prev), "%06u", hkms_totp_hotp(rfc_key, 20,
	    (uint64_t)(t - 1), 6));
	snprintf(cur, sizeof(cur), "%06u", hkms_totp_hotp(rfc_key, 20,
	    (uint64_t)t, 6));
	snprintf(next, sizeof(next), "%06u", hkms_totp_hotp(rfc_key, 20,
	    (uint64_t)(t + 1), 6));
	snprintf(far, sizeof(far), "%06u", hkms_totp_hotp(rfc_key, 20,
	    (uint64_t)(t + 2), 6));
	assert_string_equal(cur, "050471");
	assert_int_equal(hkms_totp_check(rfc_key, 20, cur, now, -1, &step), 1);
	assert_int_equal(step, t);
	assert_int_equal(hkms_totp_check(rfc_key, 20, prev, now, -1, &step),
	    1);
	assert_int_equal(step, t - 1);
	assert_int_equal(hkms_totp_check(rfc_key, 20, next, now, -1, &step),
	    1);
	assert_int_equal(step, t + 1);
	/* two steps off: wrong */
	assert_int_equal(hkms_totp_check(rfc_key, 20, far, now, -1, &step), 0);
	/* the same step again, or an earlier one: replayed */
	assert_int_equal(hkms_totp_check(rfc_key, 20, cur, now, t, &step), -1);
	assert_int_equal(hkms_totp_check(rfc_key, 20, prev, now, t, &step),
	    -1);
	/* a later step after the guard: fine */
	assert_int_equal(hkms_totp_check(rfc_key, 20, next, now, t, &step), 1);
	/* malformed */
	assert_int_equal(hkms_totp_check(rfc_key, 20, "12345", now, -1,
	    &step), 0);
	assert_int_equal(hkms_totp_check(rfc_key, 20, "1234567", now, -1,
	    &step), 0);
	assert_int_equal(hkms_totp_check(rfc_key, 20, "05047a", now, -1,
	    &step), 0);
	assert_int_equal(hkms_totp_check(rfc_key, 20, NULL, now, -1, &step),
	    0);
}

static void
test_totp_base32(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "MY" }, { "fo", "MZXQ" },
		{ "foo", "MZXW6" }, { "foob", "MZXW6YQ" },
		{ "fooba", "MZXW6YTB" }, { "foobar", "MZXW6YTBOI" },
	};
	size_t i;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		s = hkms_totp_base32((const unsigned char *)v[i].in,
		    strlen(v[i].in));
		assert_non_null(s);
		assert_string_equal(s, v[i].out);
		free(s);
	}
	s = hkms_totp_base32(rfc_key, 20);
	assert_string_equal(s, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	free(s);
}

static void
test_totp_qr_svg_shape(void **state)
{
	char *svg = hkms_totp_qr_svg("otpauth://totp/hkms:a?secret=GEZDGNBV"
	    "GY3TQOJQGEZDGNBVGY3TQOJQ&issuer=hkms&algorithm=SHA1&digits=6&"
	    "period=30");
	static const char head[] = "<svg xmlns=\"http://www.w3.org/2000/"
	    "svg\" viewBox=\"0 0 ";
	int w = 0;

	(void)state;
	assert_non_null(svg);
	assert_true(strncmp(svg, head, strlen(head)) == 0);
	assert_int_equal(sscanf(svg + strlen(head), "%d", &w), 1);
	/* a QR symbol is 17 + 4 * version modules wide, plus 2 x 4 quiet */
	assert_true(w >= 21 + 8 && (w - 8 - 17) % 4 == 0);
	assert_non_null(strstr(svg, "fill=\"#fff\""));
	assert_non_null(strstr(svg, "<path fill=\"#000\" d=\"M4 4h7v1h-7z"));
	assert_null(strstr(svg, "<script"));
	assert_non_null(strstr(svg, "</svg>"));
	free(svg);
}

static void
test_session_table_bind_expire(void **state)
{
	struct hkms_session_table *t = hkms_session_table_new(4, 2);
	struct hkms_ops_session a, b, f;
	struct hkms_err err = { 0 };
	char th1[65], th2[65];

	(void)state;
	memset(th1, 'a', 64);
	th1[64] = '\0';
	memset(th2, 'b', 64);
	th2[64] = '\0';
	assert_non_null(t);
	assert_int_equal(hkms_session_table_open(t, "alice", th1, "id1", 1000,
	    10, &a, &err), HKMS_OK);
	assert_int_equal(strlen(a.id), HKMS_SESSION_ID_LEN);
	assert_int_equal(strlen(a.csrf), HKMS_SESSION_ID_LEN);
	assert_string_not_equal(a.id, a.csrf);
	assert_int_equal(a.max_age, 10);
	assert_int_equal(a.expires, 1010);
	assert_int_equal(hkms_session_table_find(t, a.id, th1, "alice", "id1",
	    1005, &f), 1);
	assert_string_equal(f.csrf, a.csrf);
	/* another certificate, client or enrolment: not this session */
	assert_int_equal(hkms_session_table_find(t, a.id, th2, "alice", "id1",
	    1005, &f), 0);
	assert_int_equal(hkms_session_table_find(t, a.id, th1, "bob", "id1",
	    1005, &f), 0);
	assert_int_equal(hkms_session_table_find(t, a.id, th1, "alice", "id2",
	    1005, &f), 0);
	/* a changed id: not found */
	memcpy(&b, &a, sizeof(b));
	b.id[0] = b.id[0] == 'A' ? 'B' : 'A';
	assert_int_equal(hkms_session_table_find(t, b.id, th1, "alice", "id1",
	    1005, &f), 0);
	assert_int_equal(hkms_session_table_find(t, "short", th1, "alice",
	    "id1", 1005, &f), 0);
	/* expired */
	assert_int_equal(hkms_session_table_find(t, a.id, th1, "alice", "id1",
	    1010, &f), 0);
	assert_int_equal(hkms_session_table_live(t, 1010), 0);
	/* closed */
	assert_int_equal(hkms_session_table_open(t, "alice", th1, "id1", 2000,
	    10, &a, &err), HKMS_OK);
	assert_int_equal(hkms_session_table_close(t, a.id), 1);
	assert_int_equal(hkms_session_table_find(t, a.id, th1, "alice", "id1",
	    2001, &f), 0);
	hkms_session_table_free(t);
}

static void
test_session_table_full(void **state)
{
	struct hkms_session_table *t = hkms_session_table_new(4, 2);
	struct hkms_ops_session s[6], f;
	struct hkms_err err = { 0 };
	const char *th = "cccc";

	(void)state;
	/* per client 2: the third of alice ends her oldest */
	assert_int_equal(hkms_session_table_open(t, "alice", th, "", 100, 60,
	    &s[0], &err), HKMS_OK);
	assert_int_equal(hkms_session_table_open(t, "alice", th, "", 101, 60,
	    &s[1], &err), HKMS_OK);
	assert_int_equal(hkms_session_table_open(t, "alice", th, "", 102, 60,
	    &s[2], &err), HKMS_OK);
	assert_int_equal(hkms_session_table_find(t, s[0].id, th, "alice", "",
	    103, &f), 0);
	assert_int_equal(hkms_session_table_find(t, s[1].id, th, "alice", "",
	    103, &f), 1);
	assert_int_equal(hkms_session_table_live(t, 103), 2);
	/* fill the table with others' live sessions; one more is refused */
	assert_int_equal(hkms_session_table_open(t, "bob", th, "", 103, 60,
	    &s[3], &err), HKMS_OK);
	assert_int_equal(hkms_session_table_open(t, "carol", th, "", 104, 5,
	    &s[4], &err), HKMS_OK);
	assert_int_equal(hkms_session_table_open(t, "dave", th, "", 105, 60,
	    &s[5], &err), HKMS_E_IN_USE);
	assert_string_equal(err.code, "session_table_full");
	/* once carol's has expired, its slot is reused */
	assert_int_equal(hkms_session_table_open(t, "dave", th, "", 110, 60,
	    &s[5], &err), HKMS_OK);
	assert_int_equal(hkms_session_table_find(t, s[1].id, th, "alice", "",
	    111, &f), 1);
	hkms_session_table_end_client(t, "alice");
	assert_int_equal(hkms_session_table_find(t, s[1].id, th, "alice", "",
	    111, &f), 0);
	assert_int_equal(hkms_session_table_live(t, 111), 2);
	hkms_session_table_free(t);
}

static void
test_session_lockout(void **state)
{
	struct hkms_session_table *t = hkms_session_table_new(4, 2);
	int i;

	(void)state;
	for (i = 0; i < HKMS_TOTP_MAX_WRONG - 1; i++) {
		hkms_session_table_tried(t, "alice", 100, 0);
		assert_int_equal(hkms_session_table_locked(t, "alice", 100), 0);
	}
	hkms_session_table_tried(t, "alice", 100, 0);
	assert_int_equal(hkms_session_table_locked(t, "alice", 100),
	    HKMS_TOTP_LOCK_S);
	assert_int_equal(hkms_session_table_locked(t, "bob", 100), 0);
	assert_int_equal(hkms_session_table_locked(t, "alice", 160), 0);
	/* after a lock, one more wrong code locks again, twice as long */
	hkms_session_table_tried(t, "alice", 160, 0);
	assert_int_equal(hkms_session_table_locked(t, "alice", 160),
	    2 * HKMS_TOTP_LOCK_S);
	/* the doubling stops at the maximum */
	for (i = 0; i < 10; i++)
		hkms_session_table_tried(t, "alice", 1000000 + i * 10000, 0);
	assert_int_equal(hkms_session_table_locked(t, "alice", 1090000),
	    HKMS_TOTP_LOCK_MAX_S);
	/* a right code resets */
	hkms_session_table_tried(t, "alice", 2000000, 1);
	assert_int_equal(hkms_session_table_locked(t, "alice", 2000000), 0);
	hkms_session_table_tried(t, "alice", 2000000, 0);
	assert_int_equal(hkms_session_table_locked(t, "alice", 2000000), 0);
	hkms_session_table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_totp_rfc6238_vectors),
		cmocka_unit_test(test_totp_check_window_and_replay),
		cmocka_unit_test(test_totp_base32),
		cmocka_unit_test(test_totp_qr_svg_shape),
		cmocka_unit_test(test_session_table_bind_expire),
		cmocka_unit_test(test_session_table_full),
		cmocka_unit_test(test_session_lockout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
