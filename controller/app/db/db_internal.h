/*
 * db_internal.h — what db.c lends the other files of app/db that run
 * statements of their own (verify.c): a connection of its own to an
 * app_db's server, opened with that app_db's target, TLS mode, CA and
 * options (no reconnect, no LOAD DATA LOCAL, no multi-statements), but
 * with a read bound the caller chooses. Why a connection of its own:
 * Connector/C fixes the read timeout when it connects (db.c), and a
 * CHECK TABLE or a user check may take far longer than the connect
 * timeout an app_db reads with.
 *
 * Not for use outside app/db: callers see app_db as opaque (db.h). The
 * rules of db.h hold here too: no message carries the user name or the
 * password.
 *
 * Ownership: app_db_internal_open() makes a connection the caller closes
 * with app_db_internal_close(); `db` is used only during the call.
 * Thread-safety: one connection is used by one thread at a time.
 */
#ifndef SNAPSTAGE_APP_DB_INTERNAL_H
#define SNAPSTAGE_APP_DB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <mysql.h>

#include "app/db/db.h"

typedef struct app_db_internal_conn app_db_internal_conn;

/* Opens a new connection to db's server into *out, each of whose reads
 * may wait `read_timeout_s` (1..86400) seconds; the connect itself is
 * bounded by db's connect timeout. Errors as app_db_connect(). */
int app_db_internal_open(app_db_internal_conn **out, const app_db *db,
			 int read_timeout_s);

/* Closes the connection (wiping the library's copies of the password and
 * of the last statement) and frees it. NULL is a no-op. */
void app_db_internal_close(app_db_internal_conn *c);

/* The library handle; NULL once the library has closed it. Borrowed. */
MYSQL *app_db_internal_mysql(app_db_internal_conn *c);

/* "host:port" for messages. Borrowed, valid until the close. */
const char *app_db_internal_where(const app_db_internal_conn *c);

/* The read bound the connection was opened with, in seconds. */
int app_db_internal_read_timeout(const app_db_internal_conn *c);

/* Bounds what runs on the connection until app_db_internal_unbound() by
 * `bound_ns` from now, whatever its read timeout: at the bound db.c's
 * watchdog shuts the socket down, the read waiting fails (a client
 * connection error) and the library closes the connection. */
void app_db_internal_bound(app_db_internal_conn *c, int64_t bound_ns);

/* Ends the bound (a no-op without one); true if it cut the exchange. */
bool app_db_internal_unbound(app_db_internal_conn *c);

/* The last call's failure on `c` as an ss_error ("where: what: MariaDB
 * error N: ..."), in app_db_error_words_of()'s words: the server's text
 * only where it names no account and quotes no statement. Returns the
 * code. (A cut by the bound is the caller's to word first.) */
int app_db_internal_fail(app_db_internal_conn *c, const char *what);

#endif
