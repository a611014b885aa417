/*
 * p11shim: a fault-injecting PKCS#11 pass-through module for tests.
 *
 * The shim exports C_GetFunctionList, dlopen()s the real module named by
 * $P11SHIM_TARGET on first use and forwards every function of the v2.40
 * CK_FUNCTION_LIST to it.  Around each forwarded call it can sleep, return
 * a made-up CK_RV instead of calling the real module ("pre" phase), or call
 * the real module and then replace its result ("post" phase: the operation
 * really happened, the caller just does not know).  It also counts calls,
 * tracks open sessions and the number of threads inside a call on one
 * session, and writes that as JSON for the tests to assert on.
 *
 * Configuration comes from two layers of KEY=VALUE settings with the same
 * keys: the environment (read at C_Initialize; re-parsed only when a value
 * changed) and an optional control file ($P11SHIM_CONTROL) that is polled
 * on every call and re-read when it changes.  A key set in the control file
 * overrides the environment's value for that key, so a test can switch the
 * token off and on under a running server.  docs/shim.md is the user guide;
 * RELIABILITY.md ("Fault-injecting PKCS#11 shim") is the design.
 *
 * Locking: one mutex (g.mu) guards rules, stats and the session table.  It
 * is never held across a call into the real module or a sleep.  A rwlock
 * (g.kill_lock) is read-held by every forwarded call and write-held while
 * the shim closes all sessions behind the caller's back, because SoftHSM
 * frees session objects that another thread may still be using.
 *
 * This is test code: it never logs call arguments (so no PIN bytes), and
 * a syntax error in the environment aborts the process on purpose, so that
 * a typo cannot make a fault test pass because no fault was injected.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define SHIM_DEFAULT_TARGET	"/usr/lib/softhsm/libsofthsm2.so"
#define SHIM_EXPORT		__attribute__((visibility("default")))
#define SHIM_MAX_RVS		8
#define SHIM_BUCKETS		256
#define SHIM_ERRLEN		256

/* Every function of the v2.40 list, in list order. */
#define SHIM_FUNCTIONS(X)						\
	X(C_Initialize) X(C_Finalize) X(C_GetInfo) X(C_GetFunctionList)	\
	X(C_GetSlotList) X(C_GetSlotInfo) X(C_GetTokenInfo)		\
	X(C_GetMechanismList) X(C_GetMechanismInfo) X(C_InitToken)	\
	X(C_InitPIN) X(C_SetPIN) X(C_OpenSession) X(C_CloseSession)	\
	X(C_CloseAllSessions) X(C_GetSessionInfo) X(C_GetOperationState) \
	X(C_SetOperationState) X(C_Login) X(C_Logout) X(C_CreateObject)	\
	X(C_CopyObject) X(C_DestroyObject) X(C_GetObjectSize)		\
	X(C_GetAttributeValue) X(C_SetAttributeValue)			\
	X(C_FindObjectsInit) X(C_FindObjects) X(C_FindObjectsFinal)	\
	X(C_EncryptInit) X(C_Encrypt) X(C_EncryptUpdate) X(C_EncryptFinal) \
	X(C_DecryptInit) X(C_Decrypt) X(C_DecryptUpdate) X(C_DecryptFinal) \
	X(C_DigestInit) X(C_Digest) X(C_DigestUpdate) X(C_DigestKey)	\
	X(C_DigestFinal) X(C_SignInit) X(C_Sign) X(C_SignUpdate)	\
	X(C_SignFinal) X(C_SignRecoverInit) X(C_SignRecover)		\
	X(C_VerifyInit) X(C_Verify) X(C_VerifyUpdate) X(C_VerifyFinal)	\
	X(C_VerifyRecoverInit) X(C_VerifyRecover)			\
	X(C_DigestEncryptUpdate) X(C_DecryptDigestUpdate)		\
	X(C_SignEncryptUpdate) X(C_DecryptVerifyUpdate) X(C_GenerateKey) \
	X(C_GenerateKeyPair) X(C_WrapKey) X(C_UnwrapKey) X(C_DeriveKey)	\
	X(C_SeedRandom) X(C_GenerateRandom) X(C_GetFunctionStatus)	\
	X(C_CancelFunction) X(C_WaitForSlotEvent)

enum fn {
#define X(name) FN_##name,
	SHIM_FUNCTIONS(X)
#undef X
	FN_COUNT
};

static const char *const fn_names[FN_COUNT] = {
#define X(name) #name,
	SHIM_FUNCTIONS(X)
#undef X
};

struct name_value {
	const char *name;
	unsigned long value;
};

#define NV(x) { #x, x }
static const struct name_value rv_names[] = {
	NV(CKR_OK), NV(CKR_CANCEL), NV(CKR_HOST_MEMORY),
	NV(CKR_SLOT_ID_INVALID), NV(CKR_GENERAL_ERROR),
	NV(CKR_FUNCTION_FAILED), NV(CKR_ARGUMENTS_BAD), NV(CKR_NO_EVENT),
	NV(CKR_NEED_TO_CREATE_THREADS), NV(CKR_CANT_LOCK),
	NV(CKR_ATTRIBUTE_READ_ONLY), NV(CKR_ATTRIBUTE_SENSITIVE),
	NV(CKR_ATTRIBUTE_TYPE_INVALID), NV(CKR_ATTRIBUTE_VALUE_INVALID),
	NV(CKR_ACTION_PROHIBITED), NV(CKR_DATA_INVALID),
	NV(CKR_DATA_LEN_RANGE), NV(CKR_DEVICE_ERROR), NV(CKR_DEVICE_MEMORY),
	NV(CKR_DEVICE_REMOVED), NV(CKR_ENCRYPTED_DATA_INVALID),
	NV(CKR_ENCRYPTED_DATA_LEN_RANGE), NV(CKR_FUNCTION_CANCELED),
	NV(CKR_FUNCTION_NOT_PARALLEL), NV(CKR_FUNCTION_NOT_SUPPORTED),
	NV(CKR_KEY_HANDLE_INVALID), NV(CKR_KEY_SIZE_RANGE),
	NV(CKR_KEY_TYPE_INCONSISTENT), NV(CKR_KEY_NOT_NEEDED),
	NV(CKR_KEY_CHANGED), NV(CKR_KEY_NEEDED), NV(CKR_KEY_INDIGESTIBLE),
	NV(CKR_KEY_FUNCTION_NOT_PERMITTED), NV(CKR_KEY_NOT_WRAPPABLE),
	NV(CKR_KEY_UNEXTRACTABLE), NV(CKR_MECHANISM_INVALID),
	NV(CKR_MECHANISM_PARAM_INVALID), NV(CKR_OBJECT_HANDLE_INVALID),
	NV(CKR_OPERATION_ACTIVE), NV(CKR_OPERATION_NOT_INITIALIZED),
	NV(CKR_PIN_INCORRECT), NV(CKR_PIN_INVALID), NV(CKR_PIN_LEN_RANGE),
	NV(CKR_PIN_EXPIRED), NV(CKR_PIN_LOCKED), NV(CKR_SESSION_CLOSED),
	NV(CKR_SESSION_COUNT), NV(CKR_SESSION_HANDLE_INVALID),
	NV(CKR_SESSION_PARALLEL_NOT_SUPPORTED), NV(CKR_SESSION_READ_ONLY),
	NV(CKR_SESSION_EXISTS), NV(CKR_SESSION_READ_ONLY_EXISTS),
	NV(CKR_SESSION_READ_WRITE_SO_EXISTS), NV(CKR_SIGNATURE_INVALID),
	NV(CKR_SIGNATURE_LEN_RANGE), NV(CKR_TEMPLATE_INCOMPLETE),
	NV(CKR_TEMPLATE_INCONSISTENT), NV(CKR_TOKEN_NOT_PRESENT),
	NV(CKR_TOKEN_NOT_RECOGNIZED), NV(CKR_TOKEN_WRITE_PROTECTED),
	NV(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
	NV(CKR_UNWRAPPING_KEY_SIZE_RANGE),
	NV(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
	NV(CKR_USER_ALREADY_LOGGED_IN), NV(CKR_USER_NOT_LOGGED_IN),
	NV(CKR_USER_PIN_NOT_INITIALIZED), NV(CKR_USER_TYPE_INVALID),
	NV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN), NV(CKR_USER_TOO_MANY_TYPES),
	NV(CKR_WRAPPED_KEY_INVALID), NV(CKR_WRAPPED_KEY_LEN_RANGE),
	NV(CKR_WRAPPING_KEY_HANDLE_INVALID), NV(CKR_WRAPPING_KEY_SIZE_RANGE),
	NV(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
	NV(CKR_RANDOM_SEED_NOT_SUPPORTED), NV(CKR_RANDOM_NO_RNG),
	NV(CKR_DOMAIN_PARAMS_INVALID), NV(CKR_CURVE_NOT_SUPPORTED),
	NV(CKR_BUFFER_TOO_SMALL), NV(CKR_SAVED_STATE_INVALID),
	NV(CKR_INFORMATION_SENSITIVE), NV(CKR_STATE_UNSAVEABLE),
	NV(CKR_CRYPTOKI_NOT_INITIALIZED), NV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
	NV(CKR_MUTEX_BAD), NV(CKR_MUTEX_NOT_LOCKED), NV(CKR_NEW_PIN_MODE),
	NV(CKR_NEXT_OTP), NV(CKR_EXCEEDED_MAX_ITERATIONS),
	NV(CKR_FIPS_SELF_TEST_FAILED), NV(CKR_LIBRARY_LOAD_FAILED),
	NV(CKR_PIN_TOO_WEAK), NV(CKR_PUBLIC_KEY_INVALID),
	NV(CKR_FUNCTION_REJECTED),
};

static const struct name_value flag_names[] = {
	NV(CKF_RNG), NV(CKF_WRITE_PROTECTED), NV(CKF_LOGIN_REQUIRED),
	NV(CKF_USER_PIN_INITIALIZED), NV(CKF_RESTORE_KEY_NOT_NEEDED),
	NV(CKF_CLOCK_ON_TOKEN), NV(CKF_PROTECTED_AUTHENTICATION_PATH),
	NV(CKF_DUAL_CRYPTO_OPERATIONS), NV(CKF_TOKEN_INITIALIZED),
	NV(CKF_SECONDARY_AUTHENTICATION), NV(CKF_USER_PIN_COUNT_LOW),
	NV(CKF_USER_PIN_FINAL_TRY), NV(CKF_USER_PIN_LOCKED),
	NV(CKF_USER_PIN_TO_BE_CHANGED), NV(CKF_SO_PIN_COUNT_LOW),
	NV(CKF_SO_PIN_FINAL_TRY), NV(CKF_SO_PIN_LOCKED),
	NV(CKF_SO_PIN_TO_BE_CHANGED),
};
#undef NV

/* Settings; the same names in the environment and in the control file. */
enum key {
	K_FAULTS,
	K_DELAY,
	K_PHASE,
	K_MAX_SESSIONS,
	K_TOKENINFO_FLAGS,
	K_KILL_SESSIONS_AT,
	K_SEED,
	K_COUNT
};

static const char *const key_names[K_COUNT] = {
	"P11SHIM_FAULTS",
	"P11SHIM_DELAY",
	"P11SHIM_PHASE",
	"P11SHIM_MAX_SESSIONS",
	"P11SHIM_TOKENINFO_FLAGS",
	"P11SHIM_KILL_SESSIONS_AT",
	"P11SHIM_SEED",
};

enum trig {
	TRIG_ALWAYS,
	TRIG_N,
	TRIG_EVERY,
	TRIG_AFTER,
	TRIG_P,
	TRIG_WINDOW,
};

struct rule {
	char *text;			/* as written, for stats and logs */
	bool fns[FN_COUNT];
	CK_RV rvs[SHIM_MAX_RVS];	/* fault rules: one is picked */
	size_t nrv;
	unsigned long delay_us;		/* delay rules */
	enum trig trig;
	unsigned long a, b;		/* N, or the window bounds */
	double p;
	bool post;
	bool keep;
	unsigned long seen;		/* matching calls since loaded */
	unsigned long fired;
};

struct ruleset {
	struct rule *v;
	size_t n;
};

/* One configuration source.  Counters restart when a layer is reloaded. */
struct layer {
	const char *source;		/* "env" or "control" */
	bool has[K_COUNT];
	char *raw[K_COUNT];
	struct ruleset faults;
	struct ruleset delays;
	bool post_default;
	unsigned long max_sessions;
	CK_FLAGS flags_set;
	CK_FLAGS flags_clear;
	unsigned long kill_at;
	unsigned long kill_seen;
	bool kill_done;
	unsigned long long seed;
};

struct fn_stats {
	unsigned long calls;
	unsigned long injected;
	unsigned long delayed;
	unsigned long errors;
};

struct stats {
	struct fn_stats fn[FN_COUNT];
	unsigned long calls_total;
	unsigned long injected_total;
	unsigned long delayed_total;
	unsigned long login_attempts;
	unsigned long sessions_open;
	unsigned long sessions_max_open;
	unsigned long sessions_opened;
	unsigned long sessions_closed;
	unsigned long sessions_refused;
	unsigned long sessions_killed;
	unsigned long kill_events;
	unsigned long inflight;
	unsigned long max_inflight;
	unsigned long max_per_session;
	unsigned long violations;
	unsigned long config_loads;
	unsigned long config_errors;
	unsigned long dumps;
	char last_config_error[SHIM_ERRLEN];
};

/*
 * A session the real module handed out.  An entry stays allocated while a
 * call on it is in flight (inflight > 0), even after it was closed, so the
 * pointer held by that call stays valid; the last call out frees it.
 */
struct sess {
	struct sess *next;
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	unsigned long inflight;
	bool open;
};

/* What one wrapped call decided on the way in, for the way out. */
struct call {
	enum fn fn;
	CK_FUNCTION_LIST *real;
	CK_ULONG arg;			/* session handle, or slot id */
	struct sess *s;			/* pinned: s->inflight counts us */
	bool counted;
	bool forwarded;
	bool locked;			/* holds g.kill_lock for reading */
	bool pre_injected;
	bool post_inject;
	CK_RV inject_rv;
	bool keep;
	bool pending_open;		/* holds a P11SHIM_MAX_SESSIONS slot */
	bool opened;
	CK_SESSION_HANDLE new_h;
	bool kill;
};

static struct {
	pthread_mutex_t mu;
	pthread_rwlock_t kill_lock;
	CK_FUNCTION_LIST *real;		/* set once, read with __atomic */
	void *dl;
	char *target;
	bool env_loaded;
	struct layer env;
	struct layer ctl;
	char *ctl_path;			/* set once, read with __atomic */
	bool ctl_exists;
	struct stat ctl_st;
	char *stats_path;
	FILE *log;
	unsigned long long rng;
	struct stats st;
	struct sess *sessions[SHIM_BUCKETS];
	unsigned long pending_opens;
	bool forked;			/* we are a child of fork() ... */
	bool child_used;		/* ... that called C_Initialize */
	bool sig_installed;
	struct sigaction sig_old;
	bool thread_running;
	pthread_t thread;
	bool dead;			/* destructor ran; read with __atomic */
} g = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.rng = 1,
};

/* Read by the signal handler, so it cannot live behind the mutex. */
static volatile sig_atomic_t sig_pipe_r = -1;
static volatile sig_atomic_t sig_pipe_w = -1;

static CK_FUNCTION_LIST shim_list;

__attribute__((format(printf, 1, 2)))
static void
shim_log(const char *fmt, ...)
{
	va_list ap;

	if (g.log == NULL)
		return;
	va_start(ap, fmt);
	flockfile(g.log);
	fprintf(g.log, "p11shim[%ld]: ", (long)getpid());
	vfprintf(g.log, fmt, ap);
	fputc('\n', g.log);
	funlockfile(g.log);
	va_end(ap);
}

static const char *
rv_name(CK_RV rv)
{
	size_t i;

	for (i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++)
		if (rv_names[i].value == rv)
			return rv_names[i].name;
	return "CKR_?";
}

/* splitmix64: tiny, seedable, and good enough to pick faults. */
static unsigned long long
rng_next(void)
{
	unsigned long long z = (g.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double
rng_unit(void)
{
	return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- parsing ---------------------------------------------------------- */

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
	    e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static bool
parse_ulong(const char *s, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s == '\0' || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

/* A CKR_* or CKF_* name from the table, or a number (0x... for hex). */
static bool
parse_named(const char *s, const struct name_value *tab, size_t n,
    unsigned long *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(s, tab[i].name) == 0) {
			*out = tab[i].value;
			return true;
		}
	}
	return parse_ulong(s, out);
}

__attribute__((format(printf, 3, 4)))
static bool
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return false;
}

static bool
parse_fns(char *spec, struct rule *r, char *err, size_t errlen)
{
	char *save = NULL, *tok;
	size_t i;

	for (tok = strtok_r(spec, "|", &save); tok != NULL;
	    tok = strtok_r(NULL, "|", &save)) {
		tok = trim(tok);
		if (strcmp(tok, "*") == 0) {
			/* C_GetFunctionList runs before any rule exists */
			for (i = 0; i < FN_COUNT; i++)
				r->fns[i] = i != FN_C_GetFunctionList;
			continue;
		}
		for (i = 0; i < FN_COUNT; i++)
			if (strcmp(tok, fn_names[i]) == 0)
				break;
		if (i == FN_COUNT)
			return fail(err, errlen, "unknown function '%s'", tok);
		if (i == FN_C_GetFunctionList)
			return fail(err, errlen,
			    "C_GetFunctionList cannot be faulted");
		r->fns[i] = true;
	}
	for (i = 0; i < FN_COUNT; i++)
		if (r->fns[i])
			return true;
	return fail(err, errlen, "no function named");
}

static bool
parse_what(char *spec, bool delay, struct rule *r, char *err, size_t errlen)
{
	char *save = NULL, *tok, *unit;
	unsigned long v;

	if (delay) {
		spec = trim(spec);
		errno = 0;
		v = strtoul(spec, &unit, 10);
		if (unit == spec || errno != 0 || *spec == '-')
			return fail(err, errlen, "bad duration '%s'", spec);
		if (*unit == '\0' || strcmp(unit, "ms") == 0)
			r->delay_us = v * 1000;
		else if (strcmp(unit, "s") == 0)
			r->delay_us = v * 1000000;
		else if (strcmp(unit, "us") == 0)
			r->delay_us = v;
		else
			return fail(err, errlen, "bad duration unit '%s'", unit);
		return true;
	}
	for (tok = strtok_r(spec, "|", &save); tok != NULL;
	    tok = strtok_r(NULL, "|", &save)) {
		tok = trim(tok);
		if (r->nrv == SHIM_MAX_RVS)
			return fail(err, errlen, "more than %d return values",
			    SHIM_MAX_RVS);
		if (!parse_named(tok, rv_names,
		    sizeof(rv_names) / sizeof(rv_names[0]), &v))
			return fail(err, errlen, "unknown CK_RV '%s'", tok);
		/* CKR_OK would skip the real call yet leave outputs unset */
		if (v == CKR_OK)
			return fail(err, errlen, "CKR_OK cannot be injected");
		r->rvs[r->nrv++] = v;
	}
	if (r->nrv == 0)
		return fail(err, errlen, "no return value named");
	return true;
}

static bool
parse_when(char *spec, bool delay, struct rule *r, char *err, size_t errlen)
{
	char *save = NULL, *tok, *val, *dash;
	bool have_trig = false;
	char *end;

	for (tok = strtok_r(spec, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		tok = trim(tok);
		val = strchr(tok, '=');
		if (val != NULL)
			*val++ = '\0';
		if (!delay && strcmp(tok, "phase") == 0 && val != NULL) {
			if (strcmp(val, "post") == 0)
				r->post = true;
			else if (strcmp(val, "pre") == 0)
				r->post = false;
			else
				return fail(err, errlen, "bad phase '%s'", val);
			continue;
		}
		if (!delay && strcmp(tok, "keep") == 0 && val == NULL) {
			r->keep = true;
			continue;
		}
		if (have_trig)
			return fail(err, errlen, "more than one trigger");
		have_trig = true;
		if (strcmp(tok, "always") == 0 && val == NULL) {
			r->trig = TRIG_ALWAYS;
		} else if (val == NULL) {
			return fail(err, errlen, "unknown trigger '%s'", tok);
		} else if (strcmp(tok, "n") == 0) {
			r->trig = TRIG_N;
			if (!parse_ulong(val, &r->a) || r->a == 0)
				return fail(err, errlen, "bad n '%s'", val);
		} else if (strcmp(tok, "every") == 0) {
			r->trig = TRIG_EVERY;
			if (!parse_ulong(val, &r->a) || r->a == 0)
				return fail(err, errlen, "bad every '%s'", val);
		} else if (strcmp(tok, "after") == 0) {
			r->trig = TRIG_AFTER;
			if (!parse_ulong(val, &r->a) || r->a == 0)
				return fail(err, errlen, "bad after '%s'", val);
		} else if (strcmp(tok, "p") == 0) {
			r->trig = TRIG_P;
			errno = 0;
			r->p = strtod(val, &end);
			if (*val == '\0' || *end != '\0' || errno != 0 ||
			    !(r->p >= 0.0 && r->p <= 1.0))
				return fail(err, errlen, "bad p '%s'", val);
		} else if (strcmp(tok, "window") == 0) {
			r->trig = TRIG_WINDOW;
			dash = strchr(val, '-');
			if (dash == NULL)
				return fail(err, errlen, "bad window '%s'", val);
			*dash++ = '\0';
			if (!parse_ulong(val, &r->a) ||
			    !parse_ulong(dash, &r->b) || r->a == 0 ||
			    r->b < r->a)
				return fail(err, errlen, "bad window");
		} else {
			return fail(err, errlen, "unknown trigger '%s'", tok);
		}
	}
	return true;
}

/* FUNCS ':' WHAT [ '@' TRIGGER-AND-OPTIONS ] */
static bool
parse_rule(const char *text, bool delay, bool post_default, struct rule *r,
    char *err, size_t errlen)
{
	char *buf = NULL, *colon, *at;
	bool ok = false;

	memset(r, 0, sizeof(*r));
	r->post = post_default;
	if ((buf = strdup(text)) == NULL ||
	    (r->text = strdup(text)) == NULL) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if ((colon = strchr(buf, ':')) == NULL) {
		fail(err, errlen, "missing ':'");
		goto out;
	}
	*colon++ = '\0';
	if ((at = strchr(colon, '@')) != NULL)
		*at++ = '\0';
	if (!parse_fns(buf, r, err, errlen) ||
	    !parse_what(colon, delay, r, err, errlen))
		goto out;
	if (at != NULL && !parse_when(at, delay, r, err, errlen))
		goto out;
	ok = true;
out:
	free(buf);
	if (!ok) {
		free(r->text);
		r->text = NULL;
	}
	return ok;
}

static void
ruleset_free(struct ruleset *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		free(rs->v[i].text);
	free(rs->v);
	rs->v = NULL;
	rs->n = 0;
}

static bool
parse_ruleset(const char *spec, bool delay, bool post_default,
    struct ruleset *rs, char *err, size_t errlen)
{
	char *buf = NULL, *save = NULL, *tok, *t;
	char why[SHIM_ERRLEN];
	struct rule *v;
	bool ok = false;

	if ((buf = strdup(spec)) == NULL) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	for (tok = strtok_r(buf, ";", &save); tok != NULL;
	    tok = strtok_r(NULL, ";", &save)) {
		t = trim(tok);
		if (*t == '\0')
			continue;
		if ((v = realloc(rs->v, (rs->n + 1) * sizeof(*v))) == NULL) {
			fail(err, errlen, "out of memory");
			goto out;
		}
		rs->v = v;
		if (!parse_rule(t, delay, post_default, &rs->v[rs->n], why,
		    sizeof(why))) {
			fail(err, errlen, "rule '%s': %s", t, why);
			goto out;
		}
		rs->n++;
	}
	ok = true;
out:
	free(buf);
	return ok;
}

static bool
parse_flags(const char *spec, CK_FLAGS *set, CK_FLAGS *clear, char *err,
    size_t errlen)
{
	char *buf = NULL, *save = NULL, *tok;
	unsigned long v;
	bool ok = false, minus;

	if ((buf = strdup(spec)) == NULL) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		tok = trim(tok);
		if (*tok == '\0')
			continue;
		minus = *tok == '-';
		if (*tok == '-' || *tok == '+')
			tok = trim(tok + 1);
		if (!parse_named(tok, flag_names,
		    sizeof(flag_names) / sizeof(flag_names[0]), &v)) {
			fail(err, errlen, "unknown token flag '%s'", tok);
			goto out;
		}
		if (minus)
			*clear |= v;
		else
			*set |= v;
	}
	ok = true;
out:
	free(buf);
	return ok;
}

static void
layer_free(struct layer *l)
{
	size_t k;

	for (k = 0; k < K_COUNT; k++)
		free(l->raw[k]);
	ruleset_free(&l->faults);
	ruleset_free(&l->delays);
	memset(l, 0, sizeof(*l));
}

/*
 * Parse the raw strings already stored in l.  env is the environment layer
 * when l is the control layer: the control file's rules fall back to the
 * environment's P11SHIM_PHASE.
 */
static bool
layer_parse(struct layer *l, const struct layer *env, char *err,
    size_t errlen)
{
	char why[SHIM_ERRLEN];
	unsigned long v;
	const char *phase = NULL;

	if (l->has[K_PHASE])
		phase = l->raw[K_PHASE];
	else if (env != NULL && env->has[K_PHASE])
		phase = env->raw[K_PHASE];
	if (phase != NULL && *phase != '\0') {
		if (strcmp(phase, "post") == 0)
			l->post_default = true;
		else if (strcmp(phase, "pre") != 0)
			return fail(err, errlen, "P11SHIM_PHASE: bad value '%s'",
			    phase);
	}
	if (l->has[K_FAULTS] && !parse_ruleset(l->raw[K_FAULTS], false,
	    l->post_default, &l->faults, why, sizeof(why)))
		return fail(err, errlen, "P11SHIM_FAULTS: %s", why);
	if (l->has[K_DELAY] && !parse_ruleset(l->raw[K_DELAY], true, false,
	    &l->delays, why, sizeof(why)))
		return fail(err, errlen, "P11SHIM_DELAY: %s", why);
	if (l->has[K_MAX_SESSIONS] && *l->raw[K_MAX_SESSIONS] != '\0' &&
	    !parse_ulong(l->raw[K_MAX_SESSIONS], &l->max_sessions))
		return fail(err, errlen, "P11SHIM_MAX_SESSIONS: bad number '%s'",
		    l->raw[K_MAX_SESSIONS]);
	if (l->has[K_TOKENINFO_FLAGS] && !parse_flags(
	    l->raw[K_TOKENINFO_FLAGS], &l->flags_set, &l->flags_clear, why,
	    sizeof(why)))
		return fail(err, errlen, "P11SHIM_TOKENINFO_FLAGS: %s", why);
	if (l->has[K_KILL_SESSIONS_AT] && *l->raw[K_KILL_SESSIONS_AT] != '\0' &&
	    !parse_ulong(l->raw[K_KILL_SESSIONS_AT], &l->kill_at))
		return fail(err, errlen,
		    "P11SHIM_KILL_SESSIONS_AT: bad number '%s'",
		    l->raw[K_KILL_SESSIONS_AT]);
	if (l->has[K_SEED] && *l->raw[K_SEED] != '\0') {
		if (!parse_ulong(l->raw[K_SEED], &v))
			return fail(err, errlen, "P11SHIM_SEED: bad number '%s'",
			    l->raw[K_SEED]);
		l->seed = v;
	}
	return true;
}

static bool
layer_set(struct layer *l, enum key k, const char *value)
{
	char *copy;

	if ((copy = strdup(value)) == NULL)
		return false;
	free(l->raw[k]);
	l->raw[k] = copy;
	l->has[k] = true;
	return true;
}

/* The layer that decides key k: the control file wins if it sets k. */
static struct layer *
layer_for(enum key k)
{
	return g.ctl.has[k] ? &g.ctl : &g.env;
}

/* ---- configuration sources ---------------------------------------------- */

static bool
env_changed(void)
{
	const char *v;
	size_t k;

	if (!g.env_loaded)
		return true;
	for (k = 0; k < K_COUNT; k++) {
		v = getenv(key_names[k]);
		if ((v == NULL) != !g.env.has[k])
			return true;
		if (v != NULL && strcmp(v, g.env.raw[k]) != 0)
			return true;
	}
	return false;
}

/*
 * (Re)load the environment layer.  Called from C_Initialize with g.mu held.
 * Only a changed value resets the rule counters, so a reconnect cycle
 * (C_Finalize + C_Initialize) does not re-arm "@n=5".
 */
static void
env_load(void)
{
	struct layer l;
	char err[SHIM_ERRLEN];
	const char *v;
	size_t k;

	if (!env_changed())
		return;
	memset(&l, 0, sizeof(l));
	l.source = "env";
	for (k = 0; k < K_COUNT; k++) {
		if ((v = getenv(key_names[k])) != NULL && !layer_set(&l, k, v)) {
			snprintf(err, sizeof(err), "out of memory");
			goto bad;
		}
	}
	if (!layer_parse(&l, NULL, err, sizeof(err)))
		goto bad;
	layer_free(&g.env);
	g.env = l;
	g.env_loaded = true;
	if (l.has[K_SEED])
		g.rng = l.seed;
	g.st.config_loads++;
	shim_log("loaded settings from the environment");
	return;
bad:
	/* A typo must not let a fault test pass without a fault. */
	fprintf(stderr, "p11shim: %s; aborting\n", err);
	abort();
}

static bool
stat_changed(const struct stat *a, const struct stat *b)
{
	return a->st_ino != b->st_ino || a->st_dev != b->st_dev ||
	    a->st_size != b->st_size ||
	    a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	    a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	    a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	    a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

static bool
ctl_read(const char *path, struct layer *l, char *err, size_t errlen)
{
	FILE *f = NULL;
	char *line = NULL, *s, *eq, *val;
	size_t cap = 0, k, n;
	bool ok = false;

	if ((f = fopen(path, "re")) == NULL) {
		/* gone between stat() and open(): same as no file */
		ok = errno == ENOENT;
		if (!ok)
			fail(err, errlen, "cannot open %s: %s", path,
			    strerror(errno));
		goto out;
	}
	while (getline(&line, &cap, f) != -1) {
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (strncmp(s, "export ", 7) == 0)
			s = trim(s + 7);
		if ((eq = strchr(s, '=')) == NULL) {
			fail(err, errlen, "control file: no '=' in '%s'", s);
			goto out;
		}
		*eq = '\0';
		s = trim(s);
		val = trim(eq + 1);
		n = strlen(val);
		/* so the same file can be sourced by a shell */
		if (n >= 2 && (val[0] == '"' || val[0] == '\'') &&
		    val[n - 1] == val[0]) {
			val[n - 1] = '\0';
			val++;
		}
		for (k = 0; k < K_COUNT; k++)
			if (strcmp(s, key_names[k]) == 0)
				break;
		if (k == K_COUNT) {
			fail(err, errlen, "control file: unknown key '%s'", s);
			goto out;
		}
		if (!layer_set(l, k, val)) {
			fail(err, errlen, "out of memory");
			goto out;
		}
	}
	ok = true;
out:
	free(line);
	if (f != NULL)
		fclose(f);
	return ok;
}

/*
 * Called on every call: re-read the control file if it appeared, vanished
 * or changed.  A bad file keeps the previous control settings in force and
 * is reported in the stats ("config_errors", "last_config_error").
 */
static void
ctl_poll(void)
{
	const char *path = __atomic_load_n(&g.ctl_path, __ATOMIC_ACQUIRE);
	struct layer l;
	struct stat st;
	char err[SHIM_ERRLEN];
	bool exists;

	if (path == NULL)
		return;
	exists = stat(path, &st) == 0;
	pthread_mutex_lock(&g.mu);
	if (exists == g.ctl_exists &&
	    (!exists || !stat_changed(&st, &g.ctl_st)))
		goto out;
	memset(&l, 0, sizeof(l));
	l.source = "control";
	if ((exists && !ctl_read(path, &l, err, sizeof(err))) ||
	    !layer_parse(&l, &g.env, err, sizeof(err))) {
		layer_free(&l);
		g.st.config_errors++;
		snprintf(g.st.last_config_error,
		    sizeof(g.st.last_config_error), "%s", err);
		fprintf(stderr, "p11shim: %s (keeping previous settings)\n",
		    err);
		shim_log("bad control file: %s", err);
	} else {
		layer_free(&g.ctl);
		g.ctl = l;
		if (l.has[K_SEED])
			g.rng = l.seed;
		g.st.config_loads++;
		shim_log("loaded control file (%s)",
		    exists ? "present" : "absent");
	}
	/* remember the stat even on error, so a bad file is not re-read */
	g.ctl_exists = exists;
	if (exists)
		g.ctl_st = st;
out:
	pthread_mutex_unlock(&g.mu);
}

/* ---- stats ------------------------------------------------------------ */

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void
json_rules(FILE *f, const struct layer *l, const char *kind,
    const struct ruleset *rs, bool *first)
{
	size_t i;

	for (i = 0; i < rs->n; i++) {
		fprintf(f, "%s\n    {\"source\": \"%s\", \"kind\": \"%s\", "
		    "\"rule\": ", *first ? "" : ",", l->source, kind);
		json_str(f, rs->v[i].text);
		fprintf(f, ", \"seen\": %lu, \"fired\": %lu}", rs->v[i].seen,
		    rs->v[i].fired);
		*first = false;
	}
}

/* "%p" in P11SHIM_STATS becomes the pid, for programs that fork. */
static char *
stats_expand(const char *tmpl)
{
	char *out, *o;
	const char *p;
	/* each two-byte "%p" grows to at most 20 digits */
	size_t n = strlen(tmpl) * 10 + 32;

	if ((out = malloc(n)) == NULL)
		return NULL;
	for (o = out, p = tmpl; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			o += snprintf(o, n - (size_t)(o - out), "%ld",
			    (long)getpid());
			p++;
		} else if ((size_t)(o - out) + 1 < n) {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* Called with g.mu held. */
static void
stats_write_locked(const char *reason)
{
	const struct layer *lf = layer_for(K_FAULTS);
	const struct layer *ld = layer_for(K_DELAY);
	char *path = NULL, *tmp = NULL;
	FILE *f = NULL;
	bool first = true;
	size_t i;

	if (g.stats_path == NULL || (g.forked && !g.child_used))
		return;
	if ((path = stats_expand(g.stats_path)) == NULL ||
	    asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		tmp = NULL;
		goto out;
	}
	/* write + rename, so a reader never sees half a file */
	if ((f = fopen(tmp, "we")) == NULL) {
		fprintf(stderr, "p11shim: cannot write %s: %s\n", tmp,
		    strerror(errno));
		goto out;
	}
	g.st.dumps++;
	fprintf(f, "{\n  \"version\": 1,\n  \"pid\": %ld,\n  \"reason\": ",
	    (long)getpid());
	json_str(f, reason);
	fprintf(f, ",\n  \"dumps\": %lu,\n  \"target\": ", g.st.dumps);
	json_str(f, g.target);
	fprintf(f, ",\n"
	    "  \"calls_total\": %lu,\n"
	    "  \"injected_total\": %lu,\n"
	    "  \"delayed_total\": %lu,\n"
	    "  \"login_attempts\": %lu,\n"
	    "  \"sessions_open\": %lu,\n"
	    "  \"sessions_max_open\": %lu,\n"
	    "  \"sessions_opened\": %lu,\n"
	    "  \"sessions_closed\": %lu,\n"
	    "  \"sessions_refused\": %lu,\n"
	    "  \"sessions_killed\": %lu,\n"
	    "  \"kill_events\": %lu,\n"
	    "  \"inflight_calls\": %lu,\n"
	    "  \"max_inflight_calls\": %lu,\n"
	    "  \"max_concurrent_per_session\": %lu,\n"
	    "  \"concurrency_violations\": %lu,\n"
	    "  \"config_loads\": %lu,\n"
	    "  \"config_errors\": %lu,\n"
	    "  \"last_config_error\": ",
	    g.st.calls_total, g.st.injected_total, g.st.delayed_total,
	    g.st.login_attempts, g.st.sessions_open, g.st.sessions_max_open,
	    g.st.sessions_opened, g.st.sessions_closed, g.st.sessions_refused,
	    g.st.sessions_killed, g.st.kill_events, g.st.inflight,
	    g.st.max_inflight, g.st.max_per_session, g.st.violations,
	    g.st.config_loads, g.st.config_errors);
	json_str(f, g.st.last_config_error);
	fprintf(f, ",\n  \"rules\": [");
	json_rules(f, lf, "fault", &lf->faults, &first);
	json_rules(f, ld, "delay", &ld->delays, &first);
	fprintf(f, "%s],\n  \"functions\": {", first ? "" : "\n  ");
	for (i = 0; i < FN_COUNT; i++)
		fprintf(f, "%s\n    \"%s\": {\"calls\": %lu, \"injected\": %lu, "
		    "\"delayed\": %lu, \"errors\": %lu}", i == 0 ? "" : ",",
		    fn_names[i], g.st.fn[i].calls, g.st.fn[i].injected,
		    g.st.fn[i].delayed, g.st.fn[i].errors);
	fprintf(f, "\n  }\n}\n");
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0)
		fprintf(stderr, "p11shim: cannot rename %s: %s\n", tmp,
		    strerror(errno));
	else
		shim_log("stats written to %s (%s)", path, reason);
out:
	if (f != NULL)
		fclose(f);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(path);
}

static void
stats_write(const char *reason)
{
	pthread_mutex_lock(&g.mu);
	stats_write_locked(reason);
	pthread_mutex_unlock(&g.mu);
}

static void
on_sigusr2(int sig)
{
	int saved = errno;
	int fd = sig_pipe_w;

	(void)sig;
	/* only async-signal-safe work here; the thread does the rest */
	if (fd >= 0)
		(void)!write(fd, "s", 1);
	errno = saved;
}

static void *
stats_thread(void *arg)
{
	char ch;
	ssize_t n;

	(void)arg;
	for (;;) {
		n = read(sig_pipe_r, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || ch == 'q')
			break;
		stats_write("signal");
	}
	return NULL;
}

/*
 * SIGUSR2 dumps the stats.  The handler only writes a byte to a pipe; a
 * helper thread, started here, writes the file.  A handler the program
 * installed itself is left alone.  Called with g.mu held.
 */
static void
stats_start(void)
{
	struct sigaction sa, cur;
	sigset_t all, old;
	int fds[2];

	if (g.stats_path == NULL || g.thread_running)
		return;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return;
	(void)fcntl(fds[1], F_SETFL, O_NONBLOCK);
	sig_pipe_r = fds[0];
	sig_pipe_w = fds[1];
	/* the helper must not take the program's signals */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	g.thread_running = pthread_create(&g.thread, NULL, stats_thread,
	    NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!g.thread_running) {
		close(fds[0]);
		close(fds[1]);
		sig_pipe_r = sig_pipe_w = -1;
		return;
	}
	if (g.sig_installed || sigaction(SIGUSR2, NULL, &cur) != 0)
		return;
	if (!(cur.sa_flags & SA_SIGINFO) && (cur.sa_handler == SIG_DFL ||
	    cur.sa_handler == SIG_IGN)) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sigusr2;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGUSR2, &sa, &g.sig_old) == 0)
			g.sig_installed = true;
	} else {
		shim_log("SIGUSR2 has a handler already; not taking it");
	}
}

/* ---- sessions (all with g.mu held) ---------------------------------------- */

static struct sess **
sess_bucket(CK_SESSION_HANDLE h)
{
	return &g.sessions[h % SHIM_BUCKETS];
}

static struct sess *
sess_find(CK_SESSION_HANDLE h)
{
	struct sess *s;

	for (s = *sess_bucket(h); s != NULL; s = s->next)
		if (s->h == h && s->open)
			return s;
	return NULL;
}

static void
sess_unlink(struct sess *dead)
{
	struct sess **pp;

	for (pp = sess_bucket(dead->h); *pp != NULL; pp = &(*pp)->next) {
		if (*pp == dead) {
			*pp = dead->next;
			free(dead);
			return;
		}
	}
}

static void
sess_close(struct sess *s, bool killed)
{
	if (s->open) {
		s->open = false;
		g.st.sessions_open--;
		g.st.sessions_closed++;
		if (killed)
			g.st.sessions_killed++;
	}
	if (s->inflight == 0)
		sess_unlink(s);
}

static void
sess_close_all(bool any_slot, CK_SLOT_ID slot, bool killed)
{
	struct sess *s, *next;
	size_t i;

	for (i = 0; i < SHIM_BUCKETS; i++) {
		for (s = g.sessions[i]; s != NULL; s = next) {
			next = s->next;
			if (s->open && (any_slot || s->slot == slot))
				sess_close(s, killed);
		}
	}
}

static void
sess_add(CK_SESSION_HANDLE h, CK_SLOT_ID slot)
{
	struct sess *s;

	/* a module may reuse a handle we missed the close of */
	if ((s = sess_find(h)) != NULL)
		sess_close(s, false);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return;
	s->h = h;
	s->slot = slot;
	s->open = true;
	s->next = *sess_bucket(h);
	*sess_bucket(h) = s;
	g.st.sessions_opened++;
	if (++g.st.sessions_open > g.st.sessions_max_open)
		g.st.sessions_max_open = g.st.sessions_open;
}

/* ---- loading the real module -------------------------------------------- */

static CK_FUNCTION_LIST *
load_target(void)
{
	CK_FUNCTION_LIST *real = __atomic_load_n(&g.real, __ATOMIC_ACQUIRE);
	CK_C_GetFunctionList gfl;
	const char *path;
	void *dl = NULL;

	if (real != NULL)
		return real;
	/* a call from another library's exit code: do not load again */
	if (__atomic_load_n(&g.dead, __ATOMIC_ACQUIRE))
		return NULL;
	pthread_mutex_lock(&g.mu);
	if (g.real != NULL)
		goto out;
	path = getenv("P11SHIM_TARGET");
	if (path == NULL || *path == '\0')
		path = SHIM_DEFAULT_TARGET;
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "p11shim: cannot load '%s': %s\n", path,
		    dlerror());
		goto out;
	}
	gfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	/* pointing the shim at itself would recurse into this mutex */
	if (gfl == NULL || gfl == C_GetFunctionList) {
		fprintf(stderr, "p11shim: '%s' is not a usable PKCS#11 "
		    "module\n", path);
		goto out;
	}
	if (gfl(&real) != CKR_OK || real == NULL) {
		fprintf(stderr, "p11shim: C_GetFunctionList of '%s' failed\n",
		    path);
		real = NULL;
		goto out;
	}
	free(g.target);
	g.target = strdup(path);
	g.dl = dl;
	dl = NULL;	/* kept until the destructor */
	__atomic_store_n(&g.real, real, __ATOMIC_RELEASE);
out:
	if (dl != NULL)
		dlclose(dl);
	real = g.real;
	pthread_mutex_unlock(&g.mu);
	return real;
}

/* ---- the call path -------------------------------------------------------- */

static bool
rule_fires(struct rule *r, enum fn fn)
{
	bool hit = false;

	if (!r->fns[fn])
		return false;
	r->seen++;
	switch (r->trig) {
	case TRIG_ALWAYS:
		hit = true;
		break;
	case TRIG_N:
		hit = r->seen == r->a;
		break;
	case TRIG_EVERY:
		hit = r->seen % r->a == 0;
		break;
	case TRIG_AFTER:
		hit = r->seen >= r->a;
		break;
	case TRIG_P:
		hit = rng_unit() < r->p;
		break;
	case TRIG_WINDOW:
		hit = r->seen >= r->a && r->seen <= r->b;
		break;
	}
	if (hit)
		r->fired++;
	return hit;
}

/*
 * Every rule that names fn counts the call, so each rule's "@n=" means
 * what it says regardless of the others; the first one that fires wins.
 */
static struct rule *
ruleset_eval(struct ruleset *rs, enum fn fn)
{
	struct rule *winner = NULL;
	size_t i;

	for (i = 0; i < rs->n; i++)
		if (rule_fires(&rs->v[i], fn) && winner == NULL)
			winner = &rs->v[i];
	return winner;
}

static void
sleep_us(unsigned long us)
{
	struct timespec ts, rem;

	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
		ts = rem;
}

static bool
is_session_gone(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED;
}

/* Decide on faults and delays for one call.  Called with g.mu held. */
static unsigned long
decide(struct call *c)
{
	struct layer *l;
	struct rule *r;
	unsigned long delay_us = 0;

	if (!g.env_loaded)
		return 0;
	l = layer_for(K_KILL_SESSIONS_AT);
	l->kill_seen++;
	if (l->kill_at != 0 && !l->kill_done && l->kill_seen >= l->kill_at) {
		l->kill_done = true;
		c->kill = true;
	}
	if ((r = ruleset_eval(&layer_for(K_DELAY)->delays, c->fn)) != NULL) {
		delay_us = r->delay_us;
		g.st.fn[c->fn].delayed++;
		g.st.delayed_total++;
	}
	if ((r = ruleset_eval(&layer_for(K_FAULTS)->faults, c->fn)) != NULL) {
		c->inject_rv = r->rvs[r->nrv == 1 ? 0 : rng_next() % r->nrv];
		c->keep = r->keep;
		if (r->post)
			c->post_inject = true;
		else
			c->pre_injected = true;
		g.st.fn[c->fn].injected++;
		g.st.injected_total++;
		shim_log("%s: inject %s (%s, rule '%s', match %lu)",
		    fn_names[c->fn], rv_name(c->inject_rv),
		    r->post ? "post" : "pre", r->text, r->seen);
	}
	return delay_us;
}

/*
 * The way in.  Returns true if the caller must forward to c->real; false
 * if *rv already holds the result.  Either way call_end() must follow.
 */
static bool
call_begin(struct call *c, enum fn fn, CK_ULONG arg, bool has_session,
    CK_RV *rv)
{
	unsigned long delay_us, max;

	memset(c, 0, sizeof(*c));
	c->fn = fn;
	c->arg = arg;
	if ((c->real = load_target()) == NULL) {
		*rv = CKR_GENERAL_ERROR;
		return false;
	}
	ctl_poll();
	pthread_mutex_lock(&g.mu);
	c->counted = true;
	g.st.fn[fn].calls++;
	g.st.calls_total++;
	if (fn == FN_C_Login)
		g.st.login_attempts++;
	if (++g.st.inflight > g.st.max_inflight)
		g.st.max_inflight = g.st.inflight;
	if (has_session && (c->s = sess_find(arg)) != NULL) {
		/* PKCS#11 v2.40 §6.7.6: one call at a time per session */
		if (++c->s->inflight > g.st.max_per_session)
			g.st.max_per_session = c->s->inflight;
		if (c->s->inflight > 1) {
			g.st.violations++;
			shim_log("%s: %lu threads inside session %lu",
			    fn_names[fn], c->s->inflight, (unsigned long)arg);
		}
	}
	delay_us = decide(c);
	max = layer_for(K_MAX_SESSIONS)->max_sessions;
	if (fn == FN_C_OpenSession && !c->pre_injected && max != 0) {
		if (g.st.sessions_open + g.pending_opens >= max) {
			c->pre_injected = true;
			c->post_inject = false;
			c->inject_rv = CKR_SESSION_COUNT;
			g.st.sessions_refused++;
			g.st.fn[fn].injected++;
			g.st.injected_total++;
			shim_log("C_OpenSession: refused, %lu sessions open",
			    g.st.sessions_open);
		} else {
			/* reserve, so racing opens cannot overshoot the cap */
			g.pending_opens++;
			c->pending_open = true;
		}
	}
	pthread_mutex_unlock(&g.mu);

	if (delay_us != 0) {
		shim_log("%s: delay %lu us", fn_names[fn], delay_us);
		sleep_us(delay_us);
	}
	/*
	 * Held for injected calls too: call_end() may still talk to the
	 * real module for them.  A blocking C_WaitForSlotEvent could hold
	 * it forever and starve the session killer.
	 */
	if (fn != FN_C_WaitForSlotEvent) {
		pthread_rwlock_rdlock(&g.kill_lock);
		c->locked = true;
	}
	if (c->pre_injected) {
		*rv = c->inject_rv;
		return false;
	}
	c->forwarded = true;
	return true;
}

/* HSM restart: the real module forgets every session and the login. */
static void
kill_sessions(CK_FUNCTION_LIST *real)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;

	pthread_rwlock_wrlock(&g.kill_lock);
	if (real->C_GetSlotList(CK_FALSE, NULL, &n) == CKR_OK && n != 0 &&
	    (slots = calloc(n, sizeof(*slots))) != NULL &&
	    real->C_GetSlotList(CK_FALSE, slots, &n) == CKR_OK) {
		for (i = 0; i < n; i++)
			(void)real->C_CloseAllSessions(slots[i]);
	}
	pthread_rwlock_unlock(&g.kill_lock);
	free(slots);
	pthread_mutex_lock(&g.mu);
	sess_close_all(true, 0, true);
	g.st.kill_events++;
	pthread_mutex_unlock(&g.mu);
	shim_log("killed all sessions on %lu slot(s)", (unsigned long)n);
}

/*
 * An injected "session gone" is made true, as on a real HSM: a caller
 * that keeps using the session gets genuine errors (",keep" opts out).
 */
static bool
closes_session(const struct call *c)
{
	return (c->pre_injected || c->post_inject) && c->s != NULL &&
	    !c->keep && is_session_gone(c->inject_rv);
}

/*
 * PKCS#11 says an error from C_Sign, C_EncryptUpdate, ... ends the active
 * operation.  An injected error must do the same on the real module, or
 * the caller's next C_SignInit would get a CKR_OPERATION_ACTIVE that no
 * real token returns.  So the shim finishes the operation itself into a
 * scratch buffer.  If the operation already ended (the real call ran in
 * the post phase), the real module just says OPERATION_NOT_INITIALIZED.
 */
static bool
must_end_op(const struct call *c)
{
	return (c->pre_injected || c->post_inject) && !closes_session(c);
}

static void
end_single(CK_C_Sign f, CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len)
{
	CK_BYTE_PTR buf;
	CK_ULONG n = 0;

	if (f(s, in, in_len, NULL, &n) != CKR_OK)
		return;
	if ((buf = malloc(n != 0 ? n : 1)) == NULL)
		return;
	(void)f(s, in, in_len, buf, &n);
	free(buf);
}

static void
end_final(CK_C_SignFinal f, CK_SESSION_HANDLE s)
{
	CK_BYTE_PTR buf;
	CK_ULONG n = 0;

	if (f(s, NULL, &n) != CKR_OK)
		return;
	if ((buf = malloc(n != 0 ? n : 1)) == NULL)
		return;
	(void)f(s, buf, &n);
	free(buf);
}

static void
end_verify(CK_FUNCTION_LIST *real, CK_SESSION_HANDLE s)
{
	/* "a call to C_VerifyFinal always terminates" (v2.40 5.13) */
	CK_BYTE dummy = 0;

	(void)real->C_VerifyFinal(s, &dummy, 1);
}

/* The way out: bookkeeping, post-phase injection, the session killer. */
static CK_RV
call_end(struct call *c, CK_RV rv)
{
	CK_RV real_rv = rv;
	bool close_real = false;

	if (c->post_inject)
		rv = c->inject_rv;
	if (closes_session(c)) {
		(void)c->real->C_CloseSession(c->arg);
		close_real = true;
	}
	if (c->locked)
		pthread_rwlock_unlock(&g.kill_lock);
	if (!c->counted)
		return rv;

	pthread_mutex_lock(&g.mu);
	if (rv != CKR_OK)
		g.st.fn[c->fn].errors++;
	if (c->pending_open)
		g.pending_opens--;
	if (c->opened)
		sess_add(c->new_h, (CK_SLOT_ID)c->arg);
	if (c->s != NULL) {
		c->s->inflight--;
		if (close_real || (c->forwarded && (is_session_gone(real_rv) ||
		    (c->fn == FN_C_CloseSession && real_rv == CKR_OK))))
			sess_close(c->s, false);
		else if (!c->s->open && c->s->inflight == 0)
			sess_unlink(c->s);
	}
	if (c->forwarded && real_rv == CKR_OK) {
		if (c->fn == FN_C_CloseAllSessions)
			sess_close_all(false, (CK_SLOT_ID)c->arg, false);
		else if (c->fn == FN_C_Finalize)
			sess_close_all(true, 0, false);
	}
	g.st.inflight--;
	pthread_mutex_unlock(&g.mu);

	if (c->kill)
		kill_sessions(c->real);
	return rv;
}

#define FORWARD(name, arg, has_session, args)				\
	do {								\
		struct call c_;						\
		CK_RV rv_ = CKR_OK;					\
									\
		if (call_begin(&c_, FN_##name, (arg), (has_session), &rv_)) \
			rv_ = c_.real->name args;			\
		return call_end(&c_, rv_);				\
	} while (0)

/* As FORWARD_S, for calls that end a crypto operation when they fail. */
#define FORWARD_OP(name, s, args, end_stmt)				\
	do {								\
		struct call c_;						\
		CK_RV rv_ = CKR_OK;					\
		CK_FUNCTION_LIST *r_;					\
									\
		if (call_begin(&c_, FN_##name, (s), true, &rv_))	\
			rv_ = c_.real->name args;			\
		r_ = c_.real;						\
		if (r_ != NULL && must_end_op(&c_)) {			\
			end_stmt;					\
		}							\
		return call_end(&c_, rv_);				\
	} while (0)

#define FORWARD_S(name, session, args)	FORWARD(name, session, true, args)
#define FORWARD_G(name, args)		FORWARD(name, 0, false, args)

/* ---- the wrappers with extra work ------------------------------------------ */

static CK_RV
shim_C_Initialize(CK_VOID_PTR init_args)
{
	const char *v;

	if (load_target() == NULL)
		return CKR_GENERAL_ERROR;
	pthread_mutex_lock(&g.mu);
	if (g.forked)
		g.child_used = true;
	if (g.log == NULL && (v = getenv("P11SHIM_LOG")) != NULL && *v) {
		g.log = strcmp(v, "stderr") == 0 ? stderr : fopen(v, "ae");
		if (g.log != NULL && g.log != stderr)
			setvbuf(g.log, NULL, _IOLBF, 0);
	}
	v = getenv("P11SHIM_STATS");
	if (v != NULL && *v != '\0' &&
	    (g.stats_path == NULL || strcmp(v, g.stats_path) != 0)) {
		free(g.stats_path);
		g.stats_path = strdup(v);
	}
	v = getenv("P11SHIM_CONTROL");
	if (v != NULL && *v != '\0' && (g.ctl_path == NULL ||
	    strcmp(v, g.ctl_path) != 0)) {
		/*
		 * The old string is leaked on purpose: ctl_poll() reads the
		 * pointer without the mutex.
		 */
		__atomic_store_n(&g.ctl_path, strdup(v), __ATOMIC_RELEASE);
		g.ctl_exists = false;
	}
	env_load();
	stats_start();
	pthread_mutex_unlock(&g.mu);
	/* pInitArgs goes to the real module untouched (locking flags) */
	FORWARD_G(C_Initialize, (init_args));
}

static CK_RV
shim_C_Finalize(CK_VOID_PTR reserved)
{
	struct call c;
	CK_RV rv = CKR_OK;

	if (call_begin(&c, FN_C_Finalize, 0, false, &rv))
		rv = c.real->C_Finalize(reserved);
	rv = call_end(&c, rv);
	stats_write("finalize");
	return rv;
}

static CK_RV
shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	return C_GetFunctionList(list);
}

static CK_RV
shim_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	struct call c;
	CK_RV rv = CKR_OK;
	CK_FLAGS set, clear;
	unsigned long max;

	if (call_begin(&c, FN_C_GetTokenInfo, slot, false, &rv)) {
		rv = c.real->C_GetTokenInfo(slot, info);
		if (rv == CKR_OK && info != NULL) {
			pthread_mutex_lock(&g.mu);
			set = layer_for(K_TOKENINFO_FLAGS)->flags_set;
			clear = layer_for(K_TOKENINFO_FLAGS)->flags_clear;
			max = layer_for(K_MAX_SESSIONS)->max_sessions;
			pthread_mutex_unlock(&g.mu);
			info->flags = (info->flags & ~clear) | set;
			if (max != 0) {
				info->ulMaxSessionCount = max;
				if (info->ulMaxRwSessionCount ==
				    CK_EFFECTIVELY_INFINITE ||
				    info->ulMaxRwSessionCount ==
				    CK_UNAVAILABLE_INFORMATION ||
				    info->ulMaxRwSessionCount > max)
					info->ulMaxRwSessionCount = max;
			}
		}
	}
	return call_end(&c, rv);
}

static CK_RV
shim_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR session)
{
	struct call c;
	CK_RV rv = CKR_OK;

	if (call_begin(&c, FN_C_OpenSession, slot, false, &rv)) {
		rv = c.real->C_OpenSession(slot, flags, app, notify, session);
		/* tracked even if a post rule hides it: it is open for real */
		if (rv == CKR_OK && session != NULL) {
			c.opened = true;
			c.new_h = *session;
		}
	}
	return call_end(&c, rv);
}

/* ---- plain wrappers ------------------------------------------------------ */

static CK_RV
shim_C_GetInfo(CK_INFO_PTR info)
{
	FORWARD_G(C_GetInfo, (info));
}

static CK_RV
shim_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	FORWARD_G(C_GetSlotList, (present, list, count));
}

static CK_RV
shim_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	FORWARD_G(C_GetSlotInfo, (slot, info));
}

static CK_RV
shim_C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list,
    CK_ULONG_PTR count)
{
	FORWARD_G(C_GetMechanismList, (slot, list, count));
}

static CK_RV
shim_C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO_PTR info)
{
	FORWARD_G(C_GetMechanismInfo, (slot, type, info));
}

static CK_RV
shim_C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len,
    CK_UTF8CHAR_PTR label)
{
	FORWARD_G(C_InitToken, (slot, pin, pin_len, label));
}

static CK_RV
shim_C_InitPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
	FORWARD_S(C_InitPIN, s, (s, pin, pin_len));
}

static CK_RV
shim_C_SetPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old_pin, CK_ULONG old_len,
    CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len)
{
	FORWARD_S(C_SetPIN, s, (s, old_pin, old_len, new_pin, new_len));
}

static CK_RV
shim_C_CloseSession(CK_SESSION_HANDLE s)
{
	FORWARD_S(C_CloseSession, s, (s));
}

static CK_RV
shim_C_CloseAllSessions(CK_SLOT_ID slot)
{
	FORWARD(C_CloseAllSessions, slot, false, (slot));
}

static CK_RV
shim_C_GetSessionInfo(CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info)
{
	FORWARD_S(C_GetSessionInfo, s, (s, info));
}

static CK_RV
shim_C_GetOperationState(CK_SESSION_HANDLE s, CK_BYTE_PTR state,
    CK_ULONG_PTR state_len)
{
	FORWARD_S(C_GetOperationState, s, (s, state, state_len));
}

static CK_RV
shim_C_SetOperationState(CK_SESSION_HANDLE s, CK_BYTE_PTR state,
    CK_ULONG state_len, CK_OBJECT_HANDLE enc_key, CK_OBJECT_HANDLE auth_key)
{
	FORWARD_S(C_SetOperationState, s,
	    (s, state, state_len, enc_key, auth_key));
}

static CK_RV
shim_C_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
    CK_ULONG pin_len)
{
	/* the PIN is passed through and never looked at */
	FORWARD_S(C_Login, s, (s, user, pin, pin_len));
}

static CK_RV
shim_C_Logout(CK_SESSION_HANDLE s)
{
	FORWARD_S(C_Logout, s, (s));
}

static CK_RV
shim_C_CreateObject(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl,
    CK_ULONG count, CK_OBJECT_HANDLE_PTR obj)
{
	FORWARD_S(C_CreateObject, s, (s, tmpl, count, obj));
}

static CK_RV
shim_C_CopyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR new_obj)
{
	FORWARD_S(C_CopyObject, s, (s, obj, tmpl, count, new_obj));
}

static CK_RV
shim_C_DestroyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj)
{
	FORWARD_S(C_DestroyObject, s, (s, obj));
}

static CK_RV
shim_C_GetObjectSize(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
    CK_ULONG_PTR size)
{
	FORWARD_S(C_GetObjectSize, s, (s, obj, size));
}

static CK_RV
shim_C_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
	FORWARD_S(C_GetAttributeValue, s, (s, obj, tmpl, count));
}

static CK_RV
shim_C_SetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
	FORWARD_S(C_SetAttributeValue, s, (s, obj, tmpl, count));
}

static CK_RV
shim_C_FindObjectsInit(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl,
    CK_ULONG count)
{
	FORWARD_S(C_FindObjectsInit, s, (s, tmpl, count));
}

static CK_RV
shim_C_FindObjects(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR objs,
    CK_ULONG max, CK_ULONG_PTR count)
{
	FORWARD_S(C_FindObjects, s, (s, objs, max, count));
}

static CK_RV
shim_C_FindObjectsFinal(CK_SESSION_HANDLE s)
{
	FORWARD_S(C_FindObjectsFinal, s, (s));
}

static CK_RV
shim_C_EncryptInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key)
{
	FORWARD_S(C_EncryptInit, s, (s, mech, key));
}

static CK_RV
shim_C_Encrypt(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
    CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_Encrypt, s, (s, in, in_len, out, out_len),
	    end_single(r_->C_Encrypt, s, in, in_len));
}

static CK_RV
shim_C_EncryptUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
    CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_EncryptUpdate, s, (s, in, in_len, out, out_len),
	    end_final(r_->C_EncryptFinal, s));
}

static CK_RV
shim_C_EncryptFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_EncryptFinal, s, (s, out, out_len),
	    end_final(r_->C_EncryptFinal, s));
}

static CK_RV
shim_C_DecryptInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key)
{
	FORWARD_S(C_DecryptInit, s, (s, mech, key));
}

static CK_RV
shim_C_Decrypt(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
    CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_Decrypt, s, (s, in, in_len, out, out_len),
	    end_single(r_->C_Decrypt, s, in, in_len));
}

static CK_RV
shim_C_DecryptUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
    CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_DecryptUpdate, s, (s, in, in_len, out, out_len),
	    end_final(r_->C_DecryptFinal, s));
}

static CK_RV
shim_C_DecryptFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_DecryptFinal, s, (s, out, out_len),
	    end_final(r_->C_DecryptFinal, s));
}

static CK_RV
shim_C_DigestInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech)
{
	FORWARD_S(C_DigestInit, s, (s, mech));
}

static CK_RV
shim_C_Digest(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
    CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_Digest, s, (s, in, in_len, out, out_len),
	    end_single(r_->C_Digest, s, in, in_len));
}

static CK_RV
shim_C_DigestUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len)
{
	FORWARD_OP(C_DigestUpdate, s, (s, in, in_len),
	    end_final(r_->C_DigestFinal, s));
}

static CK_RV
shim_C_DigestKey(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	FORWARD_OP(C_DigestKey, s, (s, key),
	    end_final(r_->C_DigestFinal, s));
}

static CK_RV
shim_C_DigestFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_DigestFinal, s, (s, out, out_len),
	    end_final(r_->C_DigestFinal, s));
}

static CK_RV
shim_C_SignInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key)
{
	FORWARD_S(C_SignInit, s, (s, mech, key));
}

static CK_RV
shim_C_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
    CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	FORWARD_OP(C_Sign, s, (s, in, in_len, sig, sig_len),
	    end_single(r_->C_Sign, s, in, in_len));
}

static CK_RV
shim_C_SignUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len)
{
	FORWARD_OP(C_SignUpdate, s, (s, in, in_len),
	    end_final(r_->C_SignFinal, s));
}

static CK_RV
shim_C_SignFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	FORWARD_OP(C_SignFinal, s, (s, sig, sig_len),
	    end_final(r_->C_SignFinal, s));
}

static CK_RV
shim_C_SignRecoverInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key)
{
	FORWARD_S(C_SignRecoverInit, s, (s, mech, key));
}

static CK_RV
shim_C_SignRecover(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
    CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	FORWARD_OP(C_SignRecover, s, (s, in, in_len, sig, sig_len),
	    end_single(r_->C_SignRecover, s, in, in_len));
}

static CK_RV
shim_C_VerifyInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key)
{
	FORWARD_S(C_VerifyInit, s, (s, mech, key));
}

static CK_RV
shim_C_Verify(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
    CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	FORWARD_OP(C_Verify, s, (s, in, in_len, sig, sig_len),
	    (void)r_->C_Verify(s, in, in_len, sig, sig_len));
}

static CK_RV
shim_C_VerifyUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len)
{
	FORWARD_OP(C_VerifyUpdate, s, (s, in, in_len),
	    end_verify(r_, s));
}

static CK_RV
shim_C_VerifyFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	FORWARD_OP(C_VerifyFinal, s, (s, sig, sig_len),
	    end_verify(r_, s));
}

static CK_RV
shim_C_VerifyRecoverInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key)
{
	FORWARD_S(C_VerifyRecoverInit, s, (s, mech, key));
}

static CK_RV
shim_C_VerifyRecover(CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG sig_len,
    CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_VerifyRecover, s, (s, sig, sig_len, out, out_len),
	    end_single(r_->C_VerifyRecover, s, sig, sig_len));
}

static CK_RV
shim_C_DigestEncryptUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_DigestEncryptUpdate, s, (s, in, in_len, out, out_len),
	    end_final(r_->C_DigestFinal, s); end_final(r_->C_EncryptFinal, s));
}

static CK_RV
shim_C_DecryptDigestUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_DecryptDigestUpdate, s, (s, in, in_len, out, out_len),
	    end_final(r_->C_DecryptFinal, s); end_final(r_->C_DigestFinal, s));
}

static CK_RV
shim_C_SignEncryptUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_SignEncryptUpdate, s, (s, in, in_len, out, out_len),
	    end_final(r_->C_SignFinal, s); end_final(r_->C_EncryptFinal, s));
}

static CK_RV
shim_C_DecryptVerifyUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG in_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	FORWARD_OP(C_DecryptVerifyUpdate, s, (s, in, in_len, out, out_len),
	    end_final(r_->C_DecryptFinal, s); end_verify(r_, s));
}

static CK_RV
shim_C_GenerateKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR key)
{
	FORWARD_S(C_GenerateKey, s, (s, mech, tmpl, count, key));
}

static CK_RV
shim_C_GenerateKeyPair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,
    CK_ATTRIBUTE_PTR pub_tmpl, CK_ULONG pub_count, CK_ATTRIBUTE_PTR priv_tmpl,
    CK_ULONG priv_count, CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv)
{
	FORWARD_S(C_GenerateKeyPair, s, (s, mech, pub_tmpl, pub_count,
	    priv_tmpl, priv_count, pub, priv));
}

static CK_RV
shim_C_WrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key, CK_BYTE_PTR out,
    CK_ULONG_PTR out_len)
{
	FORWARD_S(C_WrapKey, s, (s, mech, wrapping, key, out, out_len));
}

static CK_RV
shim_C_UnwrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE unwrapping, CK_BYTE_PTR in, CK_ULONG in_len,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG count, CK_OBJECT_HANDLE_PTR key)
{
	FORWARD_S(C_UnwrapKey, s,
	    (s, mech, unwrapping, in, in_len, tmpl, count, key));
}

static CK_RV
shim_C_DeriveKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
    CK_OBJECT_HANDLE_PTR key)
{
	FORWARD_S(C_DeriveKey, s, (s, mech, base, tmpl, count, key));
}

static CK_RV
shim_C_SeedRandom(CK_SESSION_HANDLE s, CK_BYTE_PTR seed, CK_ULONG seed_len)
{
	FORWARD_S(C_SeedRandom, s, (s, seed, seed_len));
}

static CK_RV
shim_C_GenerateRandom(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG out_len)
{
	FORWARD_S(C_GenerateRandom, s, (s, out, out_len));
}

static CK_RV
shim_C_GetFunctionStatus(CK_SESSION_HANDLE s)
{
	FORWARD_S(C_GetFunctionStatus, s, (s));
}

static CK_RV
shim_C_CancelFunction(CK_SESSION_HANDLE s)
{
	FORWARD_S(C_CancelFunction, s, (s));
}

static CK_RV
shim_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot,
    CK_VOID_PTR reserved)
{
	FORWARD_G(C_WaitForSlotEvent, (flags, slot, reserved));
}

static CK_FUNCTION_LIST shim_list = {
	.version = { 2, 40 },
#define X(name) .name = shim_##name,
	SHIM_FUNCTIONS(X)
#undef X
};

/* ---- exported entry point and process life cycle ------------------------ */

SHIM_EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (load_target() == NULL)
		return CKR_GENERAL_ERROR;
	pthread_mutex_lock(&g.mu);
	g.st.fn[FN_C_GetFunctionList].calls++;
	pthread_mutex_unlock(&g.mu);
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	*list = &shim_list;
	return CKR_OK;
}

static void
atfork_prepare(void)
{
	pthread_mutex_lock(&g.mu);
}

static void
atfork_parent(void)
{
	pthread_mutex_unlock(&g.mu);
}

static void
kill_lock_init(void)
{
	pthread_rwlockattr_t attr;

	pthread_rwlockattr_init(&attr);
	/* the killer must not starve behind a steady stream of calls */
	pthread_rwlockattr_setkind_np(&attr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&g.kill_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
}

/*
 * The child starts with fresh stats and no sessions: PKCS#11 says it must
 * C_Initialize again, and the parent's sessions are not its own.  Only a
 * child that does so writes the stats file, so that a helper that merely
 * forks and exits cannot overwrite the parent's numbers.
 */
static void
atfork_child(void)
{
	struct sess *s, *next;
	size_t i;

	for (i = 0; i < SHIM_BUCKETS; i++) {
		for (s = g.sessions[i]; s != NULL; s = next) {
			next = s->next;
			free(s);
		}
		g.sessions[i] = NULL;
	}
	memset(&g.st, 0, sizeof(g.st));
	g.pending_opens = 0;
	g.forked = true;
	g.child_used = false;
	/* the helper thread did not survive the fork; its pipe is shared */
	g.thread_running = false;
	if (sig_pipe_r >= 0)
		close(sig_pipe_r);
	if (sig_pipe_w >= 0)
		close(sig_pipe_w);
	sig_pipe_r = sig_pipe_w = -1;
	/* readers that held it live on in the parent only */
	kill_lock_init();
	pthread_mutex_unlock(&g.mu);
}

__attribute__((constructor))
static void
shim_init(void)
{
	kill_lock_init();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/*
 * Give back everything the shim allocated.  libp11 dlclose()s the module
 * on unload, and after that valgrind would report our tables as definitely
 * lost (T-MEM-2).  Called with g.mu held and no call in flight.
 */
static void
free_all(void)
{
	struct sess *s, *next;
	size_t i;

	layer_free(&g.env);
	layer_free(&g.ctl);
	g.env_loaded = false;
	for (i = 0; i < SHIM_BUCKETS; i++) {
		for (s = g.sessions[i]; s != NULL; s = next) {
			next = s->next;
			free(s);
		}
		g.sessions[i] = NULL;
	}
	free(g.stats_path);
	g.stats_path = NULL;
	free(g.target);
	g.target = NULL;
	free(__atomic_exchange_n(&g.ctl_path, NULL, __ATOMIC_ACQ_REL));
}

__attribute__((destructor))
static void
shim_fini(void)
{
	int tries;

	if (g.thread_running && sig_pipe_w >= 0) {
		/* the thread runs our code: it must be gone before unmap */
		if (write(sig_pipe_w, "q", 1) == 1)
			pthread_join(g.thread, NULL);
		g.thread_running = false;
	}
	if (g.sig_installed) {
		sigaction(SIGUSR2, &g.sig_old, NULL);
		g.sig_installed = false;
	}
	/*
	 * At exit another thread may still be inside a call holding g.mu;
	 * waiting for it forever would hang the exit.
	 */
	for (tries = 0; tries < 50; tries++) {
		if (pthread_mutex_trylock(&g.mu) == 0) {
			stats_write_locked("exit");
			/* a thread still inside a call keeps its tables */
			if (g.st.inflight == 0)
				free_all();
			pthread_mutex_unlock(&g.mu);
			break;
		}
		sleep_us(2000);
	}
	if (g.log != NULL && g.log != stderr)
		fclose(g.log);
	g.log = NULL;
	__atomic_store_n(&g.dead, true, __ATOMIC_RELEASE);
	__atomic_store_n(&g.real, NULL, __ATOMIC_RELEASE);
	if (g.dl != NULL)
		dlclose(g.dl);
	g.dl = NULL;
}
