/*
 * TOTP, the console's and the API's second factor (RFC 6238 over the
 * HOTP of RFC 4226): HMAC-SHA1, 6 digits, 30 s steps, one step of drift
 * each way. The seed's text form is base32 (RFC 4648, no padding), as
 * authenticator apps take it in an otpauth:// URI, which the enrolment
 * answer also gives as a QR code drawn here as SVG (libqrencode).
 *
 * Nothing here keeps state: the replay guard (the last accepted step)
 * and the lockout live with the registration and the session table
 * (src/ops/session.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <qrencode.h>

#include "hkms/ops.h"

uint32_t
hkms_totp_hotp(const unsigned char *key, size_t klen, uint64_t counter,
    unsigned digits)
{
	unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0, off;
	uint32_t bin, mod = 1;
	int i;

	for (i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(counter & 0xff);
		counter >>= 8;
	}
	if (HMAC(EVP_sha1(), key, (int)klen, msg, sizeof(msg), mac,
	    &mlen) == NULL || mlen < 20)
		return UINT32_MAX;
	off = mac[mlen - 1] & 0x0f;
	bin = ((uint32_t)(mac[off] & 0x7f) << 24) |
	    ((uint32_t)mac[off + 1] << 16) | ((uint32_t)mac[off + 2] << 8) |
	    (uint32_t)mac[off + 3];
	OPENSSL_cleanse(mac, sizeof(mac));
	for (i = 0; i < (int)digits && i < 9; i++)
		mod *= 10;
	return bin % mod;
}

int
hkms_totp_check(const unsigned char *key, size_t klen, const char *code,
    time_t now, int64_t last_step, int64_t *step)
{
	char want[8], got[8];
	int64_t t, s, hit = -1, replay = 0;
	int d;

	*step = 0;
	if (code == NULL || strlen(code) != HKMS_TOTP_DIGITS)
		return 0;
	for (d = 0; d < HKMS_TOTP_DIGITS; d++)
		if (code[d] < '0' || code[d] > '9')
			return 0;
	memcpy(got, code, HKMS_TOTP_DIGITS + 1);
	t = (int64_t)now / HKMS_TOTP_PERIOD;
	/* every step of the window is computed and compared in constant
	 * time, so the answer's timing names no step */
	for (s = t - 1; s <= t + 1; s++) {
		uint32_t v = hkms_totp_hotp(key, klen, (uint64_t)s,
		    HKMS_TOTP_DIGITS);

		snprintf(want, sizeof(want), "%06u", (unsigned)v);
		if (v != UINT32_MAX && CRYPTO_memcmp(want, got,
		    HKMS_TOTP_DIGITS) == 0) {
			if (s > last_step && hit < 0)
				hit = s;
			else if (s <= last_step)
				replay = 1;
		}
	}
	OPENSSL_cleanse(want, sizeof(want));
	OPENSSL_cleanse(got, sizeof(got));
	if (hit >= 0) {
		*step = hit;
		return 1;
	}
	return replay ? -1 : 0;
}

char *
hkms_totp_base32(const unsigned char *data, size_t len)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	char *out = malloc((len * 8 + 4) / 5 + 1);
	size_t i, o = 0;
	unsigned buf = 0, bits = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		buf = (buf << 8) | data[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = al[(buf >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = al[(buf << (5 - bits)) & 31];
	out[o] = '\0';
	buf = 0;
	return out;
}

#define BG "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>" \
	"<path fill=\"#000\" d=\""
#define END "\"/></svg>\n"

/* append to a growing string; 0 when out of memory */
static int
sb_add(char **s, size_t *len, size_t *cap, const char *add, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t nc = (*cap ? *cap * 2 : 4096) + n;
		char *ns = realloc(*s, nc);

		if (ns == NULL)
			return 0;
		*s = ns;
		*cap = nc;
	}
	memcpy(*s + *len, add, n);
	*len += n;
	(*s)[*len] = '\0';
	return 1;
}

char *
hkms_totp_qr_svg(const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	char *s = NULL, tmp[256];
	size_t len = 0, cap = 0;
	int w, x, y, run, n, ok;

	if (qr == NULL)
		return NULL;
	w = qr->width;
	/* white background, black modules as horizontal runs of one path;
	 * a quiet zone of 4 modules round the symbol */
	n = snprintf(tmp, sizeof(tmp), "<svg xmlns=\"http://www.w3.org/2000/"
	    "svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
	    "shape-rendering=\"crispEdges\">", w + 8, w + 8, (w + 8) * 4,
	    (w + 8) * 4);
	ok = sb_add(&s, &len, &cap, tmp, (size_t)n);
	ok = ok && sb_add(&s, &len, &cap, BG, strlen(BG));
	for (y = 0; ok && y < w; y++)
		for (x = 0; ok && x < w; x++) {
			if (!(qr->data[y * w + x] & 1))
				continue;
			for (run = 1; x + run < w &&
			    (qr->data[y * w + x + run] & 1); run++)
				;
			n = snprintf(tmp, sizeof(tmp), "M%d %dh%dv1h-%dz",
			    x + 4, y + 4, run, run);
			ok = sb_add(&s, &len, &cap, tmp, (size_t)n);
			x += run - 1;
		}
	ok = ok && sb_add(&s, &len, &cap, END, strlen(END));
	QRcode_free(qr);
	if (!ok) {
		free(s);
		return NULL;
	}
	return s;
}
