/*
 * fuzz_replication_input.c — libFuzzer target for the checks of what an
 * in-place restore hands MariaDB (app/db/replication_input.h): the GTID
 * position, read from a Backup's status, and the replication user and
 * password, read from a Secret — both text from outside.
 *
 * An input is split at its first NUL byte: the first part is checked as a
 * GTID position and as a user, the second as a password. Beyond "no crash"
 * (ASan and UBSan abort on any fault) it checks what must always hold:
 *   - the result is 0 or SS_EINVALID, and a failure records a message that
 *     is short and printable ASCII (it goes into JSON);
 *   - the credentials' result and message stay the same when every
 *     printable ASCII byte of the user and the password is replaced: the
 *     message cannot quote them;
 *   - an accepted position is at most APP_REPLICATION_VALUE_MAX bytes of
 *     digits, '-', ',' and spaces, neither starting nor ending with a
 *     comma or a space, with three numbers an entry;
 *   - accepted credentials have a user of 1..255 bytes, a password of at
 *     most 96, and no control bytes.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/db/replication_input.h"
#include "util/error.h"

/* abort() with a reason: libFuzzer saves the input as a crash. */
#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr,                                              \
				"fuzz_replication_input: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                          \
			abort();                                                     \
		}                                                                    \
	} while (0)

#define TEXT_MAX 1024

static void check_message(void)
{
	const char *m = ss_error_last()->message;
	size_t i, len = strlen(m);

	CHECK(ss_error_last()->code == SS_EINVALID);
	CHECK(len > 0 && len < 256);
	for (i = 0; i < len; i++)
		CHECK(m[i] >= 0x20 && m[i] < 0x7f);
}

/* `s` with every printable ASCII byte replaced by 'Z', into out. */
static void blank(char *out, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? 'Z' : s[i];
	out[i] = '\0';
}

static void check_position(const char *pos)
{
	size_t i, len = strlen(pos), dashes = 0, commas = 0;

	if (app_gtid_pos_check(pos) != 0) {
		check_message();
		return;
	}
	CHECK(len <= APP_REPLICATION_VALUE_MAX);
	if (len == 0)
		return;
	CHECK(pos[0] >= '0' && pos[0] <= '9');
	CHECK(pos[len - 1] >= '0' && pos[len - 1] <= '9');
	for (i = 0; i < len; i++) {
		CHECK(strchr("0123456789-, ", pos[i]) != NULL);
		dashes += pos[i] == '-';
		commas += pos[i] == ',';
	}
	CHECK(dashes == 2 * (commas + 1));
}

static void check_credentials(const char *user, const char *password)
{
	static char message[SS_ERROR_MESSAGE_MAX], bu[TEXT_MAX + 1], bp[TEXT_MAX + 1];
	int rc = app_replication_credentials_check(user, password);
	size_t i;

	if (rc != 0) {
		check_message();
		snprintf(message, sizeof(message), "%s", ss_error_last()->message);
	}
	blank(bu, user);
	blank(bp, password);
	CHECK(app_replication_credentials_check(bu, bp) == rc);
	CHECK(rc == 0 || strcmp(ss_error_last()->message, message) == 0);
	if (rc != 0)
		return;
	CHECK(strlen(user) >= 1 && strlen(user) <= APP_REPLICATION_VALUE_MAX);
	CHECK(strlen(password) <= APP_REPLICATION_PASSWORD_MAX_BYTES);
	for (i = 0; user[i] != '\0'; i++)
		CHECK((unsigned char)user[i] >= 0x20 && user[i] != 0x7f);
	for (i = 0; password[i] != '\0'; i++)
		CHECK((unsigned char)password[i] >= 0x20 && password[i] != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char a[TEXT_MAX + 1], b[TEXT_MAX + 1];
	const uint8_t *nul = memchr(data, '\0', size);
	size_t alen = nul ? (size_t)(nul - data) : size, blen = 0;

	if (alen > TEXT_MAX)
		alen = TEXT_MAX;
	memcpy(a, data, alen);
	a[alen] = '\0';
	if (nul) {
		blen = size - (size_t)(nul - data) - 1;
		if (blen > TEXT_MAX)
			blen = TEXT_MAX;
		memcpy(b, nul + 1, blen);
	}
	b[blen] = '\0';
	check_position(a);
	check_credentials(a, b);
	return 0;
}
