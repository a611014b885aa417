/*
 * p11attr: a test tool that reads attributes of a private key straight
 * from a PKCS#11 module, as evidence that hkms keys never leave the token.
 *
 *   p11attr MODULE TOKEN_LABEL KEY_LABEL     (PIN from $HKMS_PIN)
 *
 *   p11attr MODULE TOKEN_LABEL --mkkey ID_HEX LABEL
 *       makes an EC P-256 key pair with that CKA_ID and CKA_LABEL, of any
 *       length (pkcs11-tool refuses ids over 100 bytes): a foreign object.
 *   p11attr MODULE TOKEN_LABEL --mkkeys COUNT PREFIX
 *       makes COUNT such pairs, labelled PREFIX0.., ids f0<8 hex digits>.
 *
 * Prints one line per attribute: NAME=value or NAME=rv:0x.. (the CK_RV of
 * C_GetAttributeValue), then the result of C_WrapKey on the key, and the
 * uses a sign-only key must refuse: C_DecryptInit and C_UnwrapKey of a
 * secret RSA-encrypted to the key (RSA), C_DeriveKey with ECDH (EC), each
 * as NAME=rv:0x.. (0x68 is CKR_KEY_FUNCTION_NOT_PERMITTED). Exit 0 when
 * the key was found.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR p;

static void
show_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t,
    const char *name)
{
	CK_BBOOL b = 0;
	CK_ATTRIBUTE a = { t, &b, sizeof(b) };
	CK_RV rv = p->C_GetAttributeValue(s, o, &a, 1);

	if (rv == CKR_OK)
		printf("%s=%d\n", name, b ? 1 : 0);
	else
		printf("%s=rv:0x%lx\n", name, (unsigned long)rv);
}

static void
show_secret(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t,
    const char *name)
{
	unsigned char buf[2048];
	CK_ATTRIBUTE a = { t, buf, sizeof(buf) };
	CK_RV rv = p->C_GetAttributeValue(s, o, &a, 1);

	/* never print a value: only whether it could be read */
	if (rv == CKR_OK && a.ulValueLen != CK_UNAVAILABLE_INFORMATION)
		printf("%s=READABLE\n", name);
	else
		printf("%s=rv:0x%lx\n", name, (unsigned long)rv);
}

/* Encrypt a 32-byte secret to the RSA key o with a session copy of its
 * public half, then try to decrypt and to unwrap it with o. */
static void
try_rsa(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
	unsigned char mod[1024], exp[16], secret[32], ct[1024], pt[1024];
	CK_ATTRIBUTE ga[] = { { CKA_MODULUS, mod, sizeof(mod) },
	    { CKA_PUBLIC_EXPONENT, exp, sizeof(exp) } };
	CK_OBJECT_CLASS pc = CKO_PUBLIC_KEY, sc = CKO_SECRET_KEY;
	CK_KEY_TYPE rk = CKK_RSA, gk = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	CK_OBJECT_HANDLE pub = 0, got = 0;
	CK_ULONG ctlen = sizeof(ct), ptlen = sizeof(pt);
	CK_RV rv;

	memset(secret, 0x5a, sizeof(secret));
	if (p->C_GetAttributeValue(s, o, ga, 2) != CKR_OK) {
		printf("C_UnwrapKey=rv:nopub\n");
		return;
	}
	{
		CK_ATTRIBUTE pt_[] = {
			{ CKA_CLASS, &pc, sizeof(pc) },
			{ CKA_KEY_TYPE, &rk, sizeof(rk) },
			{ CKA_TOKEN, &no, sizeof(no) },
			{ CKA_ENCRYPT, &yes, sizeof(yes) },
			{ CKA_MODULUS, mod, ga[0].ulValueLen },
			{ CKA_PUBLIC_EXPONENT, exp, ga[1].ulValueLen },
		};
		if (p->C_CreateObject(s, pt_, 6, &pub) != CKR_OK ||
		    p->C_EncryptInit(s, &m, pub) != CKR_OK ||
		    p->C_Encrypt(s, secret, sizeof(secret), ct, &ctlen) !=
		    CKR_OK) {
			printf("C_UnwrapKey=rv:noencrypt\n");
			return;
		}
	}
	rv = p->C_DecryptInit(s, &m, o);
	if (rv == CKR_OK) {
		rv = p->C_Decrypt(s, ct, ctlen, pt, &ptlen);
		printf("C_Decrypt=rv:0x%lx\n", (unsigned long)rv);
	}
	printf("C_DecryptInit=rv:0x%lx\n", (unsigned long)rv);
	{
		CK_ATTRIBUTE ut[] = {
			{ CKA_CLASS, &sc, sizeof(sc) },
			{ CKA_KEY_TYPE, &gk, sizeof(gk) },
			{ CKA_TOKEN, &no, sizeof(no) },
			{ CKA_SENSITIVE, &no, sizeof(no) },
			{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
		};
		rv = p->C_UnwrapKey(s, &m, o, ct, ctlen, ut, 5, &got);
		printf("C_UnwrapKey=rv:0x%lx\n", (unsigned long)rv);
		if (rv == CKR_OK) {
			unsigned char v[64];
			CK_ATTRIBUTE va = { CKA_VALUE, v, sizeof(v) };

			/* evidence: the recovered secret is the one sent */
			if (p->C_GetAttributeValue(s, got, &va, 1) == CKR_OK &&
			    va.ulValueLen == sizeof(secret) &&
			    memcmp(v, secret, sizeof(secret)) == 0)
				printf("C_UnwrapKey=SECRET_RECOVERED\n");
			p->C_DestroyObject(s, got);
		}
	}
	p->C_DestroyObject(s, pub);
}

/* ECDH with the key's own public point as the peer. */
static void
try_ec(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, const char *label)
{
	CK_OBJECT_CLASS pc = CKO_PUBLIC_KEY, sc = CKO_SECRET_KEY;
	CK_KEY_TYPE gk = CKK_GENERIC_SECRET;
	CK_BBOOL no = CK_FALSE;
	CK_ULONG vlen = 16, n = 0;
	unsigned char pt[300];
	CK_ATTRIBUTE ft[] = { { CKA_CLASS, &pc, sizeof(pc) },
	    { CKA_LABEL, (void *)label, strlen(label) } };
	CK_ATTRIBUTE pa = { CKA_EC_POINT, pt, sizeof(pt) };
	CK_OBJECT_HANDLE pub, got = 0;
	CK_ECDH1_DERIVE_PARAMS dp;
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &dp, sizeof(dp) };
	CK_ATTRIBUTE dt[] = {
		{ CKA_CLASS, &sc, sizeof(sc) },
		{ CKA_KEY_TYPE, &gk, sizeof(gk) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_VALUE_LEN, &vlen, sizeof(vlen) },
	};
	CK_RV rv;

	if (p->C_FindObjectsInit(s, ft, 2) != CKR_OK ||
	    p->C_FindObjects(s, &pub, 1, &n) != CKR_OK || n != 1 ||
	    p->C_GetAttributeValue(s, pub, &pa, 1) != CKR_OK) {
		p->C_FindObjectsFinal(s);
		printf("C_DeriveKey=rv:nopub\n");
		return;
	}
	p->C_FindObjectsFinal(s);
	memset(&dp, 0, sizeof(dp));
	dp.kdf = CKD_NULL;
	/* the raw point: strip the DER OCTET STRING header */
	dp.pPublicData = pt + (pt[1] == 0x81 ? 3 : 2);
	dp.ulPublicDataLen = pa.ulValueLen - (pt[1] == 0x81 ? 3 : 2);
	rv = p->C_DeriveKey(s, &m, o, dt, 4, &got);
	printf("C_DeriveKey=rv:0x%lx\n", (unsigned long)rv);
	if (rv == CKR_OK)
		p->C_DestroyObject(s, got);
}

static int
mkkey(CK_SESSION_HANDLE s, const char *hex, const char *label)
{
	static const unsigned char p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48,
	    0xce, 0x3d, 0x03, 0x01, 0x07 };
	unsigned char id[1024];
	size_t n = 0;
	unsigned int b;
	CK_BBOOL yes = CK_TRUE;
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE pub, priv;
	CK_RV rv;

	while (n < sizeof(id) && sscanf(hex + 2 * n, "%2x", &b) == 1)
		id[n++] = (unsigned char)b;
	{
		CK_ATTRIBUTE pt[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
			{ CKA_ID, id, n },
			{ CKA_LABEL, (void *)label, strlen(label) },
		};
		CK_ATTRIBUTE kt[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_SIGN, &yes, sizeof(yes) },
			{ CKA_ID, id, n },
			{ CKA_LABEL, (void *)label, strlen(label) },
		};
		rv = p->C_GenerateKeyPair(s, &m, pt, 4, kt, 5, &pub, &priv);
	}
	printf("C_GenerateKeyPair=rv:0x%lx id_len=%zu label_len=%zu\n",
	    (unsigned long)rv, n, strlen(label));
	return rv == CKR_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
	CK_RV (*gfl)(CK_FUNCTION_LIST_PTR_PTR);
	CK_SLOT_ID slots[64];
	CK_ULONG ns = 64, i, n = 0;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_OBJECT_HANDLE o, wk = 0, pk = 0;
	CK_ATTRIBUTE t[2];
	const char *pin = getenv("HKMS_PIN");
	void *dl;
	char lab[33];
	CK_MECHANISM km = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_MECHANISM wm = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ULONG klen = 32, wlen = 0;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE kt[] = { { CKA_VALUE_LEN, &klen, sizeof(klen) },
	    { CKA_WRAP, &yes, sizeof(yes) } };
	unsigned char wrapped[8192];

	if ((argc != 4 && (argc != 6 || (strcmp(argv[3], "--mkkey") != 0 &&
	    strcmp(argv[3], "--mkkeys") != 0))) ||
	    pin == NULL) {
		fprintf(stderr, "usage: HKMS_PIN=… p11attr MODULE TOKEN KEY\n");
		return 2;
	}
	if ((dl = dlopen(argv[1], RTLD_NOW)) == NULL ||
	    (gfl = (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(dl,
	    "C_GetFunctionList")) == NULL || gfl(&p) != CKR_OK ||
	    p->C_Initialize(NULL) != CKR_OK ||
	    p->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK) {
		fprintf(stderr, "cannot load module\n");
		return 1;
	}
	for (i = 0; i < ns; i++) {
		if (p->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		memcpy(lab, ti.label, 32);
		lab[32] = '\0';
		for (n = 32; n > 0 && lab[n - 1] == ' '; n--)
			lab[n - 1] = '\0';
		if (strcmp(lab, argv[2]) == 0)
			break;
	}
	if (i == ns || p->C_OpenSession(slots[i], CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK ||
	    p->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) !=
	    CKR_OK) {
		fprintf(stderr, "cannot open token '%s'\n", argv[2]);
		return 1;
	}
	if (argc == 6 && strcmp(argv[3], "--mkkeys") == 0) {
		/* COUNT foreign key pairs PREFIX<i>, ids 0xf0 <i> */
		long k, cnt = strtol(argv[4], NULL, 10);
		char hex[32], l[64];
		int r = 0;

		for (k = 0; k < cnt && r == 0; k++) {
			snprintf(hex, sizeof(hex), "f0%08lx", (unsigned long)k);
			snprintf(l, sizeof(l), "%s%ld", argv[5], k);
			r = mkkey(s, hex, l);
		}
		p->C_Logout(s);
		p->C_CloseSession(s);
		p->C_Finalize(NULL);
		return r;
	}
	if (argc == 6) {
		int r = mkkey(s, argv[4], argv[5]);

		p->C_Logout(s);
		p->C_CloseSession(s);
		p->C_Finalize(NULL);
		return r;
	}
	t[0].type = CKA_CLASS; t[0].pValue = &cls; t[0].ulValueLen = sizeof(cls);
	t[1].type = CKA_LABEL; t[1].pValue = argv[3];
	t[1].ulValueLen = strlen(argv[3]);
	n = 0;
	if (p->C_FindObjectsInit(s, t, 2) != CKR_OK ||
	    p->C_FindObjects(s, &o, 1, &n) != CKR_OK || n != 1) {
		fprintf(stderr, "key '%s' not found\n", argv[3]);
		return 1;
	}
	p->C_FindObjectsFinal(s);
	show_bool(s, o, CKA_SENSITIVE, "CKA_SENSITIVE");
	show_bool(s, o, CKA_EXTRACTABLE, "CKA_EXTRACTABLE");
	show_bool(s, o, CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE");
	show_bool(s, o, CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE");
	show_bool(s, o, CKA_PRIVATE, "CKA_PRIVATE");
	show_bool(s, o, CKA_TOKEN, "CKA_TOKEN");
	show_bool(s, o, CKA_MODIFIABLE, "CKA_MODIFIABLE");
	show_bool(s, o, CKA_COPYABLE, "CKA_COPYABLE");
	show_bool(s, o, CKA_UNWRAP, "CKA_UNWRAP");
	show_secret(s, o, CKA_VALUE, "CKA_VALUE");
	show_secret(s, o, CKA_PRIVATE_EXPONENT, "CKA_PRIVATE_EXPONENT");
	show_secret(s, o, CKA_PRIME_1, "CKA_PRIME_1");
	/* wrapping with a session AES key must be refused */
	if (p->C_GenerateKey(s, &km, kt, 2, &wk) == CKR_OK) {
		wlen = sizeof(wrapped);
		printf("C_WrapKey=rv:0x%lx\n", (unsigned long)p->C_WrapKey(s,
		    &wm, wk, o, wrapped, &wlen));
	} else
		printf("C_WrapKey=rv:nokey\n");
	{
		CK_KEY_TYPE ktype = 0;
		CK_ATTRIBUTE ka = { CKA_KEY_TYPE, &ktype, sizeof(ktype) };

		if (p->C_GetAttributeValue(s, o, &ka, 1) == CKR_OK &&
		    ktype == CKK_RSA)
			try_rsa(s, o);
		else if (ktype == CKK_EC)
			try_ec(s, o, argv[3]);
	}
	(void)pk;
	p->C_Logout(s);
	p->C_CloseSession(s);
	p->C_Finalize(NULL);
	return 0;
}
