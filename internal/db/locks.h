/*
 * locks.h - the PostgreSQL advisory lock keys of cluster-wide work, in one
 * place so that they never collide. A job that must run once however many
 * instances share the database takes its key first; whoever does not get
 * it leaves the job to the one that did.
 */
#ifndef TGDESK_DB_LOCKS_H
#define TGDESK_DB_LOCKS_H

#define DB_STR_(x) #x
#define DB_STR(x)  DB_STR_(x)

/* Retention: deleting old rows of processed_updates, notifications, outbox and logs. */
#define DB_LOCK_RETENTION 7467100001

/* The solved and closed requests counted for monitoring (desk/counts.c). */
#define DB_LOCK_COUNTS 7467100010

/* Desk timers: reminders about unanswered requests and closing solved ones. */
#define DB_LOCK_DESK_TIMERS 7467100002

/*
 * The head of a retention DELETE: "WITH lock AS (...)" taking the retention
 * key for the statement's own transaction (an InitPlan, evaluated once);
 * the DELETE then adds "WHERE (SELECT got FROM lock) AND ...", so it
 * deletes nothing while another instance holds the key.
 */
#define DB_RETENTION_LOCK_CTE \
    "WITH lock AS (SELECT pg_try_advisory_xact_lock(" DB_STR(DB_LOCK_RETENTION) ") AS got) "

#endif
