# The one place where the warning list lives.
set(HKMS_WARNINGS -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes
	-Wmissing-prototypes -Wpointer-arith -Wno-unused-parameter
	-Wno-deprecated-declarations)
# -Wno-deprecated-declarations: libp11 0.4.12 and some OpenSSL 3 calls we
# need (e.g. EVP_PKEY_get1_RSA for PKCS#11 attribute templates) are marked
# deprecated; everything else is an error.
add_compile_options(${HKMS_WARNINGS})
if(HKMS_WERROR)
	add_compile_options(-Werror)
endif()
