/*
 * db.h — the SQL side of a backup, on MariaDB Connector/C (libmariadb):
 * connect to one server, tell what it is (primary, healthy or unhealthy
 * replica), and hold a BACKUP STAGE lock on a connection of its own while
 * the storage cuts the snapshots, reading the replication position that
 * matches the data.
 *
 * A lock session is the dangerous part, so its rules are strict:
 *   - it runs on its own connection (never the probe's), so closing that
 *     connection is always a way to release the lock: the server ends the
 *     stages of a session whose connection drops;
 *   - reconnect is off: a silent reconnect would drop the lock while the
 *     caller still believes it is held;
 *   - every failure on the way in ends the stages before returning
 *     (BACKUP STAGE END, else the connection is closed and, through the
 *     app_db it was opened from, KILLed), so a failed begin holds nothing;
 *   - the connection id is recorded (CONNECTION_ID()), and the session
 *     holds a named lock built from the caller's marker (the Backup's uid,
 *     app_db_lock_marker_name()), so a restarted controller can end a
 *     leftover session with app_db_kill_connection() — and only that
 *     session: ids start again at 1 when the server restarts;
 *   - every wait is bounded on both sides. The server ends the session
 *     once it has been idle app_db_lock_idle_timeout() seconds (its
 *     wait_timeout, net_read_timeout and net_write_timeout), so a frozen or
 *     vanished controller leaves no lock much beyond the hold bound; and
 *     the client gives up on a frozen server: the position is read within
 *     the hold bound, END within APP_DB_END_TIMEOUT_MS, a KILL within
 *     APP_DB_KILL_TIMEOUT_MS.
 *
 * Privileges the account needs: RELOAD (BACKUP STAGE), BINLOG MONITOR (SHOW
 * MASTER STATUS) and REPLICA MONITOR, also spelled SLAVE MONITOR (SHOW
 * [ALL] SLAVES STATUS), as named by MariaDB 10.5.9 and later. A missing one
 * fails with SS_EFORBIDDEN and a message naming it: app_db_probe() checks
 * the two monitors, app_db_lock_begin() RELOAD, both before any lock is held.
 *
 * TLS (app_tls_mode) on Connector/C 3.3, as measured against MariaDB 10.11:
 *   Disabled        no TLS option set and TLS not enforced: plain TCP even
 *                   when the server offers TLS;
 *   Preferred       TLS when the server offers it, certificate unchecked;
 *   Required        TLS, certificate unchecked;
 *   VerifyCA        TLS, the chain checked against ca_pem, any host name;
 *   VerifyIdentity  as VerifyCA, and the certificate must name `host`
 *                   (MYSQL_OPT_SSL_VERIFY_SERVER_CERT).
 * Connector/C 3.3 refuses a server without TLS during the handshake only in
 * VerifyIdentity; in Required and VerifyCA it would carry on in plain TCP,
 * so the connection is checked right after the handshake and closed with
 * SS_ETRANSPORT before any statement runs. So that such a handshake never
 * carries a password in clear text, every mode but VerifyIdentity allows
 * only challenge-response authentication plugins (mysql_native_password,
 * client_ed25519, parsec); an account on PAM (dialog, mysql_clear_password)
 * needs VerifyIdentity and otherwise fails with SS_EUNSUPPORTED. The CA is
 * handed to the library through an in-memory file (memfd), never written to
 * disk: the controller's root file system is read-only.
 *
 * Errors: 0 or a negative ss_error_code with a message that names the
 * server (host:port) and what to do. Notable codes: SS_EUNAUTHORIZED
 * (access denied: the credentials Secret), SS_EFORBIDDEN (a privilege is
 * missing; it is named), SS_ETIMEOUT (no answer within the timeout, or the
 * lock was not granted within the acquire timeout), SS_ETRANSPORT (refused,
 * unreachable, connection lost, TLS failed or unavailable), SS_ENOTFOUND
 * (no such connection to kill), SS_ETOOMANYREQUESTS (the server's
 * max_connections, the account's limits), SS_EINVALID (a bad argument).
 *
 * Messages go into statuses, Events and logs that people who may not read
 * the credentials Secret can see, so no message carries anything taken
 * from it: never the password, never the user name (a Secret may hold
 * anything under usernameKey). MariaDB's own texts often quote the account
 * ("Access denied for user '...'@...") or the statement; a server error's
 * text is quoted only for the error numbers whose text cannot
 * (app_db_error_words_of()), otherwise snapstage says what the number
 * means and what to check. The number is always given ("MariaDB error
 * 1045"). The same rule keeps a replica's IO thread errors, which name its
 * replication account, out of app_db_classify()'s reasons.
 *
 * Ownership: app_db_connect() copies everything it is given (the password
 * is wiped when the app_db is closed; libmariadb keeps its own copy for the
 * life of each connection and frees it unwiped). Status structs hold their
 * strings inline. Position strings belong to the lock session (see
 * app_db_lock_read_position()).
 *
 * Threads: libmariadb is initialised once per process (pthread_once), so
 * any thread may connect. One app_db or lock session is used by one thread
 * at a time (a connection is a single conversation); different ones may be
 * used on different threads at once. mysql_thread_init()/mysql_thread_end()
 * are not called: in Connector/C 3.x they do nothing (3.3.20: both return
 * at once) and per-thread state is not needed. A write to a connection the
 * server closed may raise SIGPIPE inside libmariadb's TLS layer: the
 * manager blocks signals in every thread; other programs should ignore it.
 * A bounded exchange (the position under the lock, END, KILL) runs a
 * watchdog thread of its own for its duration. app_db_classify(),
 * app_db_error_words_of(), app_db_lock_idle_timeout() and
 * app_db_lock_marker_name() are pure and reentrant.
 */
#ifndef SNAPSTAGE_APP_DB_H
#define SNAPSTAGE_APP_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/api/api.h"

/* ---- connecting ------------------------------------------------------ */

typedef struct {
	const char *host;     /* the Pod IP (or a host name) */
	int port;	      /* 1..65535 */
	const char *user;     /* non-empty */
	const char *password; /* may be ""; copied, wiped on close */
	app_tls_mode tls_mode;
	const char *ca_pem;	     /* PEM bundle; required for VerifyCA and
					VerifyIdentity, ignored otherwise */
	int connect_timeout_seconds; /* 1..300: the connect, and each read and
					write on the connection */
} app_db_target;

typedef struct app_db app_db;

/* Connects to `t` (TCP, never a local socket). On success *out is a new
 * connection the caller frees with app_db_close(). */
int app_db_connect(app_db **out, const app_db_target *t);

/* Closes the connection and wipes the stored password. NULL is a no-op. */
void app_db_close(app_db *db);

/* The TLS cipher the connection negotiated, or NULL for plain TCP.
 * Borrowed, valid until app_db_close(). */
const char *app_db_tls_cipher(const app_db *db);

/* The server's id for this connection (CONNECTION_ID()). */
int64_t app_db_connection_id(const app_db *db);

/* ---- errors ------------------------------------------------------------ */

/* How snapstage tells one MariaDB error number: a server error, or a
 * Connector/C client error (2000-2999, 5000-5999). */
typedef struct {
	int code;	     /* the ss_error_code a caller acts on */
	bool quote;	     /* the library's text may be shown: for this number
				it never names the account nor quotes a
				statement (client errors, and a fixed list of
				server errors) */
	const char *meaning; /* snapstage's words, static: what the error means
				and what to check ("" when the quoted text
				says it all) */
} app_db_error_words;

/* Fills *out for `mariadb_errno`. Pure. Any server error not known to be
 * safe is not quoted: 1045 (access denied), 1044, 1142, 1143, 1370 and
 * 1698 name the account, 1203 and 1226 (the account's limits) too, 1064
 * quotes the statement. */
void app_db_error_words_of(app_db_error_words *out, unsigned int mariadb_errno);

/* ---- what the server is ---------------------------------------------- */

#define APP_DB_VERSION_MAX 128
#define APP_DB_GTID_MAX 2048
#define APP_DB_NAME_MAX 256
#define APP_DB_MESSAGE_MAX 512
#define APP_DB_STATE_MAX 32
#define APP_DB_MAX_SOURCES 8

/* One replication connection (one row of SHOW ALL SLAVES STATUS). */
typedef struct {
	char connection_name[APP_DB_NAME_MAX]; /* "" for the default one */
	char master_host[APP_DB_NAME_MAX];
	int master_port;
	char io_running[APP_DB_STATE_MAX];  /* "Yes", "No", "Connecting", ... */
	char sql_running[APP_DB_STATE_MAX]; /* "Yes" or "No" */
	int last_io_errno;
	char last_io_error[APP_DB_MESSAGE_MAX]; /* cut to fit */
	int last_sql_errno;
	char last_sql_error[APP_DB_MESSAGE_MAX]; /* cut to fit */
	int64_t seconds_behind_master;		 /* -1: NULL, unknown */
} app_db_source;

/* What app_db_probe() saw. Plain data, so the classifier can be tested
 * without a server. */
typedef struct {
	char version[APP_DB_VERSION_MAX]; /* VERSION() */
	int64_t server_id;
	bool read_only;
	char gtid_binlog_pos[APP_DB_GTID_MAX];
	char gtid_slave_pos[APP_DB_GTID_MAX];
	char gtid_current_pos[APP_DB_GTID_MAX];
	char binlog_file[APP_DB_NAME_MAX]; /* SHOW MASTER STATUS; "" if binlog off */
	int64_t binlog_position;	   /* -1: binlog off */
	size_t n_sources;		   /* 0: replicates from no one */
	app_db_source sources[APP_DB_MAX_SOURCES];
} app_db_status;

/* Reads role and health: @@server_id, @@read_only, VERSION(), the three
 * GTID positions, SHOW MASTER STATUS and SHOW ALL SLAVES STATUS. More than
 * APP_DB_MAX_SOURCES replication connections fail with SS_EUNSUPPORTED, a
 * GTID position longer than APP_DB_GTID_MAX with SS_ETOOLARGE. `*out` is
 * written only on success. */
int app_db_probe(app_db_status *out, app_db *db);

typedef enum {
	APP_DB_UNKNOWN,		  /* neither: read-only and replicating from no one */
	APP_DB_PRIMARY,		  /* writable, replicates from no one */
	APP_DB_HEALTHY_REPLICA,	  /* replicates; threads run, no errors, lag known
				     and within the bound */
	APP_DB_UNHEALTHY_REPLICA, /* replicates, but not like that */
} app_db_kind;

#define APP_DB_REASON_MAX 640

typedef struct {
	app_db_kind kind;
	/* Replicas: the largest Seconds_Behind_Master over all sources (for
	 * ranking); -1 when unknown or not a replica. */
	int64_t lag_seconds;
	/* One line for a status condition or an Event: why this kind, e.g.
	 * "replication from 10.0.0.5:3306: SQL thread stopped: error 1062:
	 * Duplicate entry ...", "lag 412 s > maxReplicationLagSeconds 300". */
	char reason[APP_DB_REASON_MAX];
} app_db_verdict;

/* Classifies `st` and returns out->kind. Pure. A server with any
 * replication connection is a replica, whatever its read_only (many
 * replicas are writable); it is healthy only if every connection's IO and
 * SQL threads say "Yes", both error numbers are 0, and Seconds_Behind_Master
 * is known and at most `max_lag_seconds`. A writable server replicating from
 * no one is the primary; a read-only one is UNKNOWN (a stopped-and-reset
 * replica, or a primary being switched over). */
app_db_kind app_db_classify(app_db_verdict *out, const app_db_status *st,
			    int max_lag_seconds);

/* "Unknown", "Primary", "HealthyReplica", "UnhealthyReplica". */
const char *app_db_kind_name(app_db_kind kind);

/* ---- replication on a replica ---------------------------------------- */

/* STOP ALL SLAVES SQL_THREAD: the replication SQL threads stop between
 * event groups (a group with non-transactional changes is finished first);
 * the IO threads keep fetching. Why: on a replica, BACKUP STAGE
 * BLOCK_COMMIT blocks the commit of an event group's GTID bookkeeping
 * (mysql.gtid_slave_pos, the replica's binlog copy) but not the change a
 * non-transactional (Aria, MyISAM) statement has already made, so a locked
 * replica can hold one change beyond @@gtid_slave_pos; restored and resumed
 * as a replica it applies that change twice (error 1062). Measured on
 * 10.11 in 4 of 10 cuts under a mixed workload, 0 of 22 with the SQL
 * threads stopped first (as mariabackup --safe-slave-backup does). Must be
 * called before the lock: the SQL thread waits for BLOCK_COMMIT, so STOP
 * under the lock would wait for ever. Needs REPLICATION SLAVE ADMIN (also
 * spelled SLAVE ADMIN; SS_EFORBIDDEN names it). */
int app_db_replication_pause(app_db *db);

/* START ALL SLAVES SQL_THREAD. Idempotent: threads already running stay so.
 * Gives up after APP_DB_END_TIMEOUT_MS (SS_ETIMEOUT; the connection is then
 * closed), so a frozen server delays the caller by that much at most. */
int app_db_replication_resume(app_db *db);

/* ---- the lock session ------------------------------------------------ */

typedef struct app_db_lock_session app_db_lock_session;

/* Times of a lock session. Monotonic times (CLOCK_MONOTONIC) are for
 * durations, real times (CLOCK_REALTIME, ns since the epoch) for status. */
typedef struct {
	int64_t connection_id; /* CONNECTION_ID() of the session */
	app_lock_stage stage;  /* the final stage taken */
	bool held;	       /* between a successful begin and end */
	int64_t acquire_ms;    /* BACKUP STAGE START sent -> final stage returned */
	int64_t acquired_mono_ns;
	int64_t acquired_real_ns;
	int64_t released_mono_ns; /* 0 until app_db_lock_end() */
	int64_t released_real_ns;
	int64_t held_ms; /* -1 until a successful app_db_lock_end() */
} app_db_lock_info;

/* How long the client waits for BACKUP STAGE END, and for a whole
 * app_db_kill_connection(), before it gives up on a server that does not
 * answer (a frozen mariadbd, a dead node). On a live server both take
 * milliseconds. END's bound leaves room under the promise that a Backup
 * ends within lock.timeoutSeconds + 2 s whatever the server does (the
 * Failed status write comes after it). */
#define APP_DB_END_TIMEOUT_MS 1500
#define APP_DB_KILL_TIMEOUT_MS 2000

/* What the server allows beyond the hold bound before it ends an idle
 * lock session itself: the caller ENDs at the bound, and a request that
 * ended the wait may be a little late. */
#define APP_DB_LOCK_IDLE_MARGIN_SECONDS 5

/* The lock session's wait_timeout, net_read_timeout and net_write_timeout
 * for a hold bound of `hold_timeout_seconds`: that plus
 * APP_DB_LOCK_IDLE_MARGIN_SECONDS. Measured on 10.11: a session idle in
 * BLOCK_COMMIT is closed after wait_timeout and its stages released (a
 * commit waiting for them goes through at that moment). Pure. */
int app_db_lock_idle_timeout(int hold_timeout_seconds);

/* Longest marker, so that its lock name stays within the 64 characters
 * MySQL allows (MariaDB allows more); a Kubernetes uid is 36. */
#define APP_DB_MARKER_MAX 54
/* "snapstage:" + a marker, and its terminator. */
#define APP_DB_MARKER_NAME_MAX (10 + APP_DB_MARKER_MAX + 1)

/* The name of the lock (GET_LOCK) that marks a lock session made for
 * `marker` (the Backup's uid): "snapstage:" + marker, into out (cap at
 * least APP_DB_MARKER_NAME_MAX). A marker is 1..APP_DB_MARKER_MAX
 * characters of [A-Za-z0-9._-]; anything else is SS_EINVALID. Pure. The
 * session holds the lock until it ends, so anyone can find it:
 * SELECT IS_USED_LOCK('snapstage:<uid>') is its connection id, or NULL. */
int app_db_lock_marker_name(char *out, size_t cap, const char *marker);

/* Called once the session's connection exists, is marked, and before
 * BACKUP STAGE START, with its CONNECTION_ID(): the caller can record it
 * (e.g. in a status) while nothing is locked yet, so that writing it adds
 * nothing to the time the lock is held. A negative return (with ss_error
 * set) aborts the begin with that error; nothing is held. */
typedef int (*app_db_before_lock_fn)(void *payload, int64_t connection_id);

/* What a lock session is to do. */
typedef struct {
	app_lock_stage stage;	      /* the final stage: FLUSH, BLOCK_DDL or
					 BLOCK_COMMIT */
	int acquire_timeout_seconds;  /* 1..3600: lock_wait_timeout, how long
					 each BACKUP STAGE statement may wait */
	int hold_timeout_seconds;     /* 1..3600: the longest the caller holds
					 the lock (lock.timeoutSeconds) */
	const char *marker;	      /* the Backup's uid (see
					 app_db_lock_marker_name()); NULL: an
					 unmarked session, which no
					 app_db_kill_connection() will kill */
	app_db_before_lock_fn before; /* may be NULL */
	void *payload;		      /* for `before` */
} app_db_lock_opts;

/* Opens a new connection to db's server with db's target (each read may
 * wait the connect timeout plus `acquire_timeout_seconds`), records its
 * CONNECTION_ID(), marks it (GET_LOCK of the marker's name, waiting up to
 * the acquire timeout for an earlier session of the same marker to end),
 * calls `before`, sets SESSION lock_wait_timeout to the acquire timeout
 * and wait_timeout, net_read_timeout and net_write_timeout to
 * app_db_lock_idle_timeout(hold_timeout_seconds), then runs BACKUP STAGE
 * START and each stage up to and including `stage` (FLUSH, BLOCK_DDL,
 * BLOCK_COMMIT). Acquired is when the final stage returned.
 *
 * Fails with SS_EFORBIDDEN naming RELOAD when the account lacks it
 * (error 1227), SS_ETIMEOUT when a stage waited acquire_timeout_seconds
 * (another session holds a backup stage, or a long statement holds a
 * conflicting lock: error 1205) or another session still holds the
 * marker, SS_EINVALID for a bad option, or as app_db_connect(). On every
 * failure nothing is left held: the stages are ended (BACKUP STAGE END)
 * and, if that is not possible, the session's connection is closed and
 * killed through `db`. On success *out is the session; free it with
 * app_db_lock_free(). `db` is used only during the call; the session does
 * not keep it. */
int app_db_lock_begin_ex(app_db_lock_session **out, app_db *db,
			 const app_db_lock_opts *opts);

/* app_db_lock_begin_ex() without a marker or hook, and a hold bound of
 * APP_DB_LOCK_HOLD_DEFAULT_SECONDS (lock.timeoutSeconds' default). */
#define APP_DB_LOCK_HOLD_DEFAULT_SECONDS 30
int app_db_lock_begin(app_db_lock_session **out, app_db *db, app_lock_stage stage,
		      int acquire_timeout_seconds);

/* The session's times. Borrowed, valid until app_db_lock_free(). */
const app_db_lock_info *app_db_lock_get_info(const app_db_lock_session *s);

/* While the lock is held, reads the position that matches the data:
 * @@gtid_binlog_pos, @@gtid_slave_pos, @@gtid_current_pos, SHOW MASTER
 * STATUS (binlog_file ""/binlog_position -1 when the binlog is off) and,
 * on a replica, SHOW SLAVE STATUS's Relay_Master_Log_File and
 * Exec_Master_Log_Pos (primary_binlog_*; "" / -1 on a primary). Only
 * BLOCK_COMMIT freezes the position; under a lower stage it is the
 * position at the moment of reading. The strings are owned by the session
 * and valid until the next call of this function on it or
 * app_db_lock_free(). SS_EINVALID if the lock is not held; SS_ETIMEOUT if
 * the server has not answered by the end of the hold bound (acquired +
 * hold_timeout_seconds): then the connection is closed. */
int app_db_lock_read_position(app_db_position *out, app_db_lock_session *s);

/* BACKUP STAGE END, waiting at most APP_DB_END_TIMEOUT_MS. *out_held_ms
 * (may be NULL) is the time from acquired to END returning, on
 * CLOCK_MONOTONIC. If END fails or times out (SS_ETIMEOUT) the session's
 * connection is closed, which makes the server end the stages once it
 * reads the close (unless the connection is half-open: then its
 * wait_timeout, or app_db_kill_connection() with the session's
 * connection_id and marker), and the error is returned; either way the
 * session no longer holds the lock. SS_EINVALID if it was not held. */
int app_db_lock_end(app_db_lock_session *s, int64_t *out_held_ms);

/* Ends the stages if still held (a safety net, bounded like
 * app_db_lock_end(); errors are ignored, the connection is closed either
 * way), closes the connection and frees the session. NULL is a no-op. */
void app_db_lock_free(app_db_lock_session *s);

/* KILL CONNECTION `connection_id` on db's server if, and only if, it is
 * the lock session made for `marker` (it holds the marker's lock: the id
 * alone may name another client's session after a server restart) — for a
 * restarted controller to end a leftover lock session — and waits until
 * it is gone, so its locks are released when this returns 0. Everything
 * together takes at most APP_DB_KILL_TIMEOUT_MS (SS_ETIMEOUT after it;
 * the server may be frozen).
 *
 * SS_ENOTFOUND, nothing killed, if that connection is not the marker's
 * session: it has ended, or the id now belongs to a session that is not
 * this marker's (that one is logged and left alone); either way the
 * marker's session is gone. SS_EFORBIDDEN if it belongs to another user
 * and the account lacks CONNECTION ADMIN; SS_EINVALID for db's own
 * connection, a bad id or a bad marker. */
int app_db_kill_connection(app_db *db, int64_t connection_id, const char *marker);

/* ---- after an in-place restore ------------------------------------------ */

/* Where a restored replica replicates from, and how: the Restore's TLS
 * mode applies to replication too. Disabled and Preferred: MASTER_SSL = 0
 * (Preferred cannot be said to MariaDB: its replica fails on a primary
 * without TLS once MASTER_SSL = 1). Required: MASTER_SSL = 1, encrypted but
 * unverified. VerifyCA: also MASTER_SSL_CA, so the replica checks the
 * primary's certificate chain; VerifyIdentity: also
 * MASTER_SSL_VERIFY_SERVER_CERT = 1, so it checks the certificate names
 * `host` (a Pod IP, as for snapstage's own connections). MariaDB reads the
 * CA from a file on the replica's host, which snapstage cannot write: it is
 * `ca_path`, or when NULL the server's own ssl_ca (else ssl_capath). */
typedef struct {
	const char *host; /* the primary's Pod IP */
	int port;
	const char *user;     /* the replication account */
	const char *password; /* never logged; wiped from the statement after use */
	app_tls_mode tls_mode;
	const char *ca_path; /* a CA file on the replica's host; NULL: its ssl_ca */
} app_db_replication_source;

/* The CA the server itself is configured with: @@ssl_ca into path, or when
 * that is empty @@ssl_capath (*is_dir true); "" when it has neither. 0, or
 * SS_ETOOLARGE / a query error. */
int app_db_server_ca(char *path, size_t cap, bool *is_dir, app_db *db);

/* Makes a server restored from a Backup ready to be the primary: it stops
 * and forgets any replication its data inherited (STOP ALL SLAVES, RESET
 * SLAVE ALL; gtid_slave_pos '' after RESET MASTER) and starts a new binary
 * log whose GTID state is `gtid_pos` (RESET MASTER, SET GLOBAL
 * gtid_binlog_state; nothing set for NULL or ""), so replicas restored from
 * the same Backup can connect at that position. It does not change
 * read_only: the caller records that this member is done first and then
 * opens it for writes with app_db_set_read_only(), so a restart never runs
 * RESET MASTER on a primary that may have taken writes. Nothing here guesses
 * whether it ran before — that is the caller's record. Needs REPLICATION
 * SLAVE ADMIN, RELOAD and BINLOG ADMIN (or SUPER). */
int app_db_restore_as_primary(app_db *db, const char *gtid_pos);

/* Makes a restored server a replica of `src` from `gtid_pos`, stopped:
 * read_only 1, STOP ALL SLAVES, RESET SLAVE ALL, SET GLOBAL gtid_slave_pos,
 * CHANGE MASTER TO ... MASTER_USE_GTID = slave_pos with the TLS options of
 * src->tls_mode (a verifying mode without a CA path fails with SS_EINVALID
 * before anything changes). It does not START
 * SLAVE: the caller records the member as configured, then starts it
 * (app_db_replication_start), so a restart never rewinds a replica that has
 * applied events. Errors name the statement, never the password. */
int app_db_restore_as_replica(app_db *db, const app_db_replication_source *src,
			      const char *gtid_pos);

/* START SLAVE (the default connection; a running one is left running). */
int app_db_replication_start(app_db *db);

/* SET GLOBAL read_only = 0 or 1. Needs READ_ONLY ADMIN (or SUPER). */
int app_db_set_read_only(app_db *db, bool on);

#endif
