/*
 * fuzz_status.c — libFuzzer target for kube/status.h: an API server's
 * answer (HTTP status, Retry-After header, body) to an error code.
 *
 * An input is the HTTP status in its first two bytes (0 to 699, 0 meaning
 * none, as for a watch ERROR event), a Retry-After header up to the first
 * newline after them (none if empty), and the body after it. Beyond "no
 * crash" (ASan, UBSan) it checks:
 *   - the response's status wins: decoded with status H > 0 the result's
 *     http_status is H, a 2xx is SS_OK and nothing else is, whatever the
 *     body's `code` says;
 *   - a Status decoded without a response status (as a watch ERROR event
 *     is) is never SS_OK;
 *   - code agrees with kube_status_code_for(http_status, reason);
 *   - retry_after_seconds is -1 or 0 to 3600; reason and message are
 *     terminated within their arrays;
 *   - kube_status_record() returns the code and records a message.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kube/status.h"
#include "util/error.h"

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "fuzz_status: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                        \
			abort();                                                   \
		}                                                                  \
	} while (0)

static void check_status(const kube_status *st)
{
	CHECK(memchr(st->reason, '\0', sizeof(st->reason)) != NULL);
	CHECK(memchr(st->message, '\0', sizeof(st->message)) != NULL);
	CHECK(st->retry_after_seconds >= -1 && st->retry_after_seconds <= 3600);
	CHECK(st->code == kube_status_code_for(st->http_status, st->reason));
	CHECK(kube_status_record(st, "GET /x") == st->code);
	if (st->code != SS_OK) {
		CHECK(ss_error_last()->code == st->code);
		CHECK(ss_error_last()->message[0] != '\0');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char header[64];
	const uint8_t *nl;
	const char *body;
	size_t hlen, blen;
	long http;
	kube_status st;
	json_t *root;

	if (size < 2)
		return 0;
	http = (long)((data[0] << 8 | data[1]) % 700);
	data += 2;
	size -= 2;
	nl = memchr(data, '\n', size);
	hlen = nl ? (size_t)(nl - data) : 0;
	if (hlen >= sizeof(header))
		hlen = sizeof(header) - 1;
	memcpy(header, data, hlen);
	header[hlen] = '\0';
	body = nl ? (const char *)nl + 1 : (const char *)data;
	blen = nl ? size - (size_t)(nl - data) - 1 : size;

	kube_status_decode(&st, http, body, blen, hlen ? header : NULL);
	check_status(&st);
	if (http > 0) {
		CHECK(st.http_status == http);
		CHECK((st.code == SS_OK) == (http >= 200 && http < 300));
	}
	root = json_loadb(body, blen, 0, NULL);
	if (json_is_object(root)) {
		kube_status_from_json(&st, 0, root);
		check_status(&st);
		CHECK(st.code != SS_OK);
	}
	json_decref(root);
	ss_error_clear();
	return 0;
}
