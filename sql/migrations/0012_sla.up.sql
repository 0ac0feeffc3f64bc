-- Response-time targets and business hours.
--
-- A reminder about an unanswered request is a row here, written in the
-- transaction that queues it: reminder 1 when the first-response target
-- ran out, 2 at twice the target. The primary key makes each fire once,
-- across restarts and instances.
CREATE TABLE sla_reminders (
    request_id bigint NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    n          smallint NOT NULL CHECK (n IN (1, 2)),
    sent_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, n)
);

-- Auto-close looks for solved requests by the time they were solved.
CREATE INDEX requests_solved_resolved ON requests (resolved_at) WHERE status = 'solved';

-- Seconds of business time between t0 and t1: the parts of the open hours
-- (open_min..close_min minutes after local midnight, on the ISO weekdays in
-- days) in time zone tz. Local times are turned into instants by AT TIME
-- ZONE day by day, so a day of a daylight-saving change counts the hours
-- the clocks actually showed.
CREATE FUNCTION tgdesk_business_seconds(t0 timestamptz, t1 timestamptz, days int[],
                                        open_min int, close_min int, tz text)
RETURNS double precision LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(greatest(0, extract(epoch FROM
               least(t1, (d + make_interval(mins => close_min)) AT TIME ZONE tz)
               - greatest(t0, (d + make_interval(mins => open_min)) AT TIME ZONE tz)))), 0)::double precision
    FROM generate_series((t0 AT TIME ZONE tz)::date::timestamp,
                         (t1 AT TIME ZONE tz)::date::timestamp, interval '1 day') AS d
    WHERE t1 > t0 AND extract(isodow FROM d)::int = ANY (days)
$$;

-- When the open hours next begin after t, or NULL while they are open at t
-- (or when no day is open).
CREATE FUNCTION tgdesk_business_next_open(t timestamptz, days int[], open_min int,
                                          close_min int, tz text)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN w.opens <= t THEN NULL ELSE w.opens END
    FROM (SELECT (d + make_interval(mins => open_min)) AT TIME ZONE tz AS opens,
                 (d + make_interval(mins => close_min)) AT TIME ZONE tz AS closes
          FROM generate_series((t AT TIME ZONE tz)::date::timestamp,
                               (t AT TIME ZONE tz)::date::timestamp + interval '8 days',
                               interval '1 day') AS d
          WHERE extract(isodow FROM d)::int = ANY (days)) w
    WHERE w.closes > t
    ORDER BY w.opens
    LIMIT 1
$$;
