-- Satisfaction ratings: one per request (a second press changes it), with
-- the optional comment the user writes next. comment_until is the end of
-- the window in which the user's next text message is taken as the comment
-- (NULL once it is over or used); at most one window per user is open.
CREATE TABLE ratings (
    request_id    bigint PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    user_id       bigint NOT NULL,
    score         smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment       text,
    comment_until timestamptz,
    rated_at      timestamptz NOT NULL DEFAULT now()
);

-- A user's message looks for an open comment window by user.
CREATE INDEX ratings_comment_window ON ratings (user_id) WHERE comment_until IS NOT NULL;

-- /stats: ratings of the last days.
CREATE INDEX ratings_rated_at ON ratings (rated_at);
