/*
 * ACME nonces (RFC 8555 §6.5): 16 random bytes, base64url, kept in
 * memory only, in a ring of NONCE_MAX; a nonce is good once (taken out
 * when used) and the oldest are forgotten when the ring is full. A
 * restart forgets every nonce: clients get badNonce with a fresh one and
 * retry (§6.5: "the client MUST retry"), so nothing is lost by not
 * storing them, and nothing an old process issued is accepted again.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "acme_int.h"

#define NONCE_MAX 8192

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char ring[NONCE_MAX][24];
static size_t next;

enum hkms_rc
acme_nonce_new(char out[32], struct hkms_err *err)
{
	unsigned char r[16];
	char *s;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return hkms_err_crypto(err, "cannot draw a nonce");
	if ((s = acme_b64url_encode(r, sizeof(r))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	snprintf(out, 32, "%s", s);
	free(s);
	pthread_mutex_lock(&mu);
	memcpy(ring[next], out, 23);
	ring[next][23] = '\0';
	next = (next + 1) % NONCE_MAX;
	pthread_mutex_unlock(&mu);
	return HKMS_OK;
}

int
acme_nonce_use(const char *nonce)
{
	size_t i;
	int ok = 0;

	if (nonce == NULL || strlen(nonce) != 22)
		return 0;
	pthread_mutex_lock(&mu);
	for (i = 0; i < NONCE_MAX; i++)
		if (ring[i][0] != '\0' && strcmp(ring[i], nonce) == 0) {
			ring[i][0] = '\0';
			ok = 1;
			break;
		}
	pthread_mutex_unlock(&mu);
	return ok;
}
