DROP FUNCTION tgdesk_business_next_open(timestamptz, int[], int, int, text);
DROP FUNCTION tgdesk_business_seconds(timestamptz, timestamptz, int[], int, int, text);
DROP INDEX requests_solved_resolved;
DROP TABLE sla_reminders;
