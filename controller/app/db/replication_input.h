/*
 * replication_input.h — whether what an in-place restore's
 * ConfiguringReplication step will hand MariaDB is valid, checked before
 * the restore changes anything: the GTID position recorded in the Backup
 * (SET GLOBAL gtid_binlog_state on the new primary, gtid_slave_pos on the
 * replicas) and the replication user and password from a Secret (CHANGE
 * MASTER TO MASTER_USER / MASTER_PASSWORD). A value MariaDB would refuse,
 * or worse, silently store as something else, is found here instead of
 * after the old claims are gone.
 *
 * The limits are MariaDB 10.11's, read in its source and tried against
 * mariadbd 10.11.19 (Debian 12):
 *   - MASTER_USER: at most 128 characters (USERNAME_CHAR_LENGTH; longer is
 *     error 1470 "too long for MASTER_USER (should be no longer than 128)").
 *   - MASTER_PASSWORD: at most 96 bytes, MAX_PASSWORD_LENGTH (32) times
 *     the 3 bytes of a utf8mb3 character (sql/rpl_mi.h; error 1470 "should
 *     be no longer than 96"): 96 ASCII characters, 48 two-byte ones.
 *   - The server keeps both in utf8mb3: a character outside the Basic
 *     Multilingual Plane (4 bytes in UTF-8, e.g. an emoji) is stored as
 *     '?', without an error, so replication would log in with another
 *     password. Refused, as is text that is not UTF-8.
 *   - master.info keeps one value per line: a line break in the user or
 *     password shifts every later field when the server restarts (user
 *     "re\npl" comes back as "re"). Control characters are refused.
 *   - A GTID position is "domain-server-sequence" entries separated by
 *     commas, domain and server 32-bit and sequence 64-bit unsigned; each
 *     domain at most once in gtid_slave_pos (error 1943, "duplicate domain
 *     id").
 * And snapstage's own: app_db_restore_as_primary/_as_replica() (db.h)
 * quote at most APP_REPLICATION_VALUE_MAX bytes per value; keep the two in
 * step.
 *
 * Messages never contain the user or the password (they come from a
 * Secret), and quote at most a short piece of a GTID position.
 *
 * Pure functions, no I/O, no allocation. Thread-safety: reentrant; errors
 * go to the calling thread's ss_error.
 */
#ifndef SNAPSTAGE_APP_REPLICATION_INPUT_H
#define SNAPSTAGE_APP_REPLICATION_INPUT_H

/* The most bytes of one SQL string value db.c quotes (its
 * LITERAL_MAX). */
#define APP_REPLICATION_VALUE_MAX 255
/* MariaDB 10.11's limits (see above). */
#define APP_REPLICATION_USER_MAX_CHARS 128
#define APP_REPLICATION_PASSWORD_MAX_BYTES 96

/* A GTID position as the Backup recorded it: "" (no position: nothing has
 * been written to any domain), or "D-S-N" entries separated by a comma
 * and optional spaces ("0-1-5,1-2-7" or "0-1-5, 1-2-7"), with D and S in
 * 0..4294967295, N in 0..18446744073709551615, decimal, no sign, no
 * leading zero, no space anywhere else, each domain D at most once, and at
 * most APP_REPLICATION_VALUE_MAX bytes in all. (MariaDB itself also takes
 * a sign, leading zeros and spaces inside an entry; it never prints them.)
 * 0, or SS_EINVALID with a message that says what is wrong and where
 * (entry number, at most 48 bytes of it); NULL is SS_EINVALID. */
int app_gtid_pos_check(const char *pos);

/* The replication user and password: the user 1..128 characters, the
 * password 0..96 bytes (empty: a user without one), each valid UTF-8
 * without 4-byte characters or control characters (bytes 0x01-0x1F,
 * 0x7F), and at most APP_REPLICATION_VALUE_MAX bytes. 0, or SS_EINVALID
 * with a message naming which one is wrong and how ("the replication
 * password is 100 bytes long; MariaDB accepts at most 96 ..."), never a
 * value. NULL for either is SS_EINVALID. */
int app_replication_credentials_check(const char *user, const char *password);

#endif
