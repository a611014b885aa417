/*
 * Bounds every operation shares (ops_int.h): one place for the range of a
 * lifetime in days, so no two operations differ.
 */
#include "hkms/ops.h"

#include "ops_int.h"

enum hkms_rc
ops_days_check(int days, int max, struct hkms_err *err)
{
	if (days < 0 || days > max)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "days must be 1..%d", max);
	return HKMS_OK;
}
