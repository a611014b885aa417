/*
 * shimdrv: a long-running PKCS#11 client for the shim tests.
 *
 * It loads a module (normally libp11shim.so), then reads one command per
 * line from stdin and answers each with one line "<command> <CKR_NAME>"
 * (plus details for "info"), so a shell script can drive it as a
 * coprocess and change the shim's control file between two commands,
 * the way a test changes faults under a running server.
 *
 *   usage: shimdrv MODULE TOKEN-LABEL     (user PIN in $SHIMDRV_PIN)
 *   commands: init | finalize | open | close | login | logout | info |
 *             sign LABEL | threads N M shared|own | quit
 *
 * "sign" finds the private key with CKA_LABEL=LABEL and signs 32 bytes
 * (CKM_ECDSA for EC keys, CKM_SHA256_RSA_PKCS for RSA); "threads" runs N
 * threads doing M such signatures each, on the current session (shared)
 * or on a session of their own, and answers with the first error.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST *p11;
static CK_SLOT_ID slot;
static CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
static const char *token_label;
static char key_label[64];

static const struct {
	CK_RV rv;
	const char *name;
} names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED" },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
	{ CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID" },
	{ CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE" },
	{ CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED" },
	{ CKR_SESSION_COUNT, "CKR_SESSION_COUNT" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
	{ CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
	{ CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED" },
};

static const char *
rv_str(CK_RV rv)
{
	static __thread char buf[32];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].rv == rv)
			return names[i].name;
	snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)rv);
	return buf;
}

static CK_RV
find_slot(void)
{
	CK_SLOT_ID *slots = NULL;
	CK_TOKEN_INFO ti;
	CK_ULONG n = 0, i;
	size_t len = strlen(token_label);
	CK_RV rv;

	if ((rv = p11->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK)
		goto out;
	if ((slots = calloc(n + 1, sizeof(*slots))) == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if ((rv = p11->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		goto out;
	rv = CKR_TOKEN_NOT_PRESENT;
	for (i = 0; i < n; i++) {
		if (p11->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		/* labels are blank-padded, not NUL-terminated */
		if (len <= sizeof(ti.label) &&
		    memcmp(ti.label, token_label, len) == 0 &&
		    (len == sizeof(ti.label) || ti.label[len] == ' ')) {
			slot = slots[i];
			rv = CKR_OK;
			break;
		}
	}
out:
	free(slots);
	return rv;
}

static CK_RV
find_key(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *key, CK_KEY_TYPE *type)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, key_label, strlen(key_label) },
	};
	CK_ATTRIBUTE kt = { CKA_KEY_TYPE, type, sizeof(*type) };
	CK_ULONG n = 0;
	CK_RV rv, rv2;

	if ((rv = p11->C_FindObjectsInit(s, tmpl, 2)) != CKR_OK)
		return rv;
	rv = p11->C_FindObjects(s, key, 1, &n);
	rv2 = p11->C_FindObjectsFinal(s);
	if (rv == CKR_OK)
		rv = rv2;
	if (rv == CKR_OK && n != 1)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv == CKR_OK)
		rv = p11->C_GetAttributeValue(s, *key, &kt, 1);
	return rv;
}

static CK_RV
sign_once(CK_SESSION_HANDLE s)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_OBJECT_HANDLE key;
	CK_KEY_TYPE type = 0;
	CK_BYTE data[32], sig[1024];
	CK_ULONG sig_len = sizeof(sig);
	CK_RV rv;

	memset(data, 0x5a, sizeof(data));
	if ((rv = find_key(s, &key, &type)) != CKR_OK)
		return rv;
	if (type == CKK_RSA)
		mech.mechanism = CKM_SHA256_RSA_PKCS;
	if ((rv = p11->C_SignInit(s, &mech, key)) != CKR_OK)
		return rv;
	return p11->C_Sign(s, data, sizeof(data), sig, &sig_len);
}

struct worker {
	pthread_t t;
	bool own;
	long m;
	CK_RV first_err;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	CK_SESSION_HANDLE s = session;
	CK_RV rv;
	long i;

	w->first_err = CKR_OK;
	if (w->own && (rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION,
	    NULL, NULL, &s)) != CKR_OK) {
		w->first_err = rv;
		return NULL;
	}
	for (i = 0; i < w->m; i++) {
		rv = sign_once(s);
		if (rv != CKR_OK && w->first_err == CKR_OK)
			w->first_err = rv;
	}
	if (w->own)
		(void)p11->C_CloseSession(s);
	return NULL;
}

static CK_RV
run_threads(long n, long m, bool own)
{
	struct worker *w;
	CK_RV rv = CKR_OK;
	long i, started;

	if (n <= 0 || n > 256 || (w = calloc((size_t)n, sizeof(*w))) == NULL)
		return CKR_ARGUMENTS_BAD;
	for (started = 0; started < n; started++) {
		w[started].own = own;
		w[started].m = m;
		if (pthread_create(&w[started].t, NULL, worker_run,
		    &w[started]) != 0)
			break;
	}
	for (i = 0; i < started; i++) {
		pthread_join(w[i].t, NULL);
		if (rv == CKR_OK)
			rv = w[i].first_err;
	}
	free(w);
	return rv;
}

static void
cmd_info(void)
{
	CK_TOKEN_INFO ti;
	CK_RV rv = p11->C_GetTokenInfo(slot, &ti);

	if (rv != CKR_OK)
		printf("info %s\n", rv_str(rv));
	else
		printf("info CKR_OK flags=0x%lx max_sessions=%lu "
		    "max_rw_sessions=%lu\n", (unsigned long)ti.flags,
		    (unsigned long)ti.ulMaxSessionCount,
		    (unsigned long)ti.ulMaxRwSessionCount);
}

static CK_RV
cmd_login(void)
{
	const char *pin = getenv("SHIMDRV_PIN");

	if (pin == NULL)
		return CKR_ARGUMENTS_BAD;
	return p11->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)pin,
	    strlen(pin));
}

static bool
run_command(char *line)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	char *cmd = strtok(line, " \t\n");
	char *a1 = strtok(NULL, " \t\n");
	char *a2 = strtok(NULL, " \t\n");
	char *a3 = strtok(NULL, " \t\n");
	CK_RV rv;

	if (cmd == NULL)
		return true;
	if (strcmp(cmd, "quit") == 0)
		return false;
	if (strcmp(cmd, "init") == 0) {
		rv = p11->C_Initialize(&args);
		if (rv == CKR_OK)
			rv = find_slot();
	} else if (strcmp(cmd, "finalize") == 0) {
		rv = p11->C_Finalize(NULL);
	} else if (strcmp(cmd, "open") == 0) {
		rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
		    NULL, NULL, &session);
	} else if (strcmp(cmd, "close") == 0) {
		rv = p11->C_CloseSession(session);
	} else if (strcmp(cmd, "login") == 0) {
		rv = cmd_login();
	} else if (strcmp(cmd, "logout") == 0) {
		rv = p11->C_Logout(session);
	} else if (strcmp(cmd, "info") == 0) {
		cmd_info();
		goto out;
	} else if (strcmp(cmd, "sign") == 0 && a1 != NULL) {
		snprintf(key_label, sizeof(key_label), "%s", a1);
		rv = sign_once(session);
	} else if (strcmp(cmd, "threads") == 0 && a3 != NULL) {
		rv = run_threads(atol(a1), atol(a2), strcmp(a3, "own") == 0);
	} else {
		printf("%s unknown-command\n", cmd);
		goto out;
	}
	printf("%s %s\n", cmd, rv_str(rv));
out:
	fflush(stdout);
	return true;
}

int
main(int argc, char **argv)
{
	CK_C_GetFunctionList gfl;
	char line[512];
	void *dl;

	if (argc != 3) {
		fprintf(stderr, "usage: shimdrv MODULE TOKEN-LABEL\n");
		return 2;
	}
	token_label = argv[2];
	if ((dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "shimdrv: %s\n", dlerror());
		return 1;
	}
	gfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&p11) != CKR_OK) {
		fprintf(stderr, "shimdrv: no function list in %s\n", argv[1]);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin) != NULL)
		if (!run_command(line))
			break;
	/* no dlclose: the shim's destructor writes the final stats at exit */
	return 0;
}
