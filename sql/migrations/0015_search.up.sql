-- Canned answers, full-text search of requests, similar solved requests.

-- Named answers staff save once and use in any answer as !name. Shared by
-- every instance: nothing of them is cached.
CREATE TABLE canned_answers (
    name       text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,31}$'),
    body       text NOT NULL CHECK (body <> ''),
    created_by bigint NOT NULL,
    updated_by bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The text-search configuration of the documents below: SEARCH_LANGUAGE,
-- which tgdesk stores in bot_state at start ('simple' until it has).
CREATE FUNCTION tgdesk_search_config() RETURNS regconfig
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT value FROM bot_state WHERE key = 'search_language'),
                    'simple')::regconfig
$$;

-- What full-text search finds a finished request by: its issue (weight A),
-- its solution (B) and the text of its messages (D, at most 100,000
-- characters). An erased request (issue '' and no solution: what forgetting
-- a person leaves) has none, so nothing it said stays behind in the index.
-- Notices (a word too long to index) are not sent to the client.
CREATE FUNCTION tgdesk_search_document(request_id bigint, issue text, solution text,
                                       cfg regconfig)
RETURNS tsvector LANGUAGE sql STABLE SET client_min_messages = warning AS $$
    SELECT CASE WHEN issue = '' AND solution IS NULL THEN NULL ELSE
        setweight(to_tsvector(cfg, issue), 'A')
        || setweight(to_tsvector(cfg, coalesce(solution, '')), 'B')
        || setweight(to_tsvector(cfg, coalesce((
               SELECT left(string_agg(m.message, E'\n' ORDER BY m.id), 100000)
               FROM messages m WHERE m.request_id = tgdesk_search_document.request_id), '')), 'D')
    END
$$;

-- Only finished (solved or closed) requests have a document, made when the
-- request finishes: a user's messages and new requests - the hot path - pay
-- nothing for search. Open requests are searched by their issue alone.
ALTER TABLE requests ADD COLUMN search tsvector;

CREATE FUNCTION tgdesk_requests_search() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('solved', 'closed') THEN
        NEW.search := tgdesk_search_document(NEW.id, NEW.issue, NEW.solution,
                                             tgdesk_search_config());
    ELSE
        NEW.search := NULL;
    END IF;
    RETURN NEW;
END
$$;

-- Rows inserted finished (an import) and every change of status, issue or
-- solution; the WHEN clauses keep every other insert and update from even
-- calling the function.
CREATE TRIGGER requests_search_insert BEFORE INSERT ON requests
    FOR EACH ROW WHEN (NEW.status IN ('solved', 'closed'))
    EXECUTE FUNCTION tgdesk_requests_search();
CREATE TRIGGER requests_search_update BEFORE UPDATE OF status, issue, solution ON requests
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status
                       OR NEW.issue IS DISTINCT FROM OLD.issue
                       OR NEW.solution IS DISTINCT FROM OLD.solution)
    EXECUTE FUNCTION tgdesk_requests_search();

-- Partial: the many rows without a document (every open request) are not
-- in it, so inserting them costs the index nothing.
CREATE INDEX requests_search ON requests USING gin (search) WHERE search IS NOT NULL;

-- The requests that existed before get their documents from tgdesk's
-- background indexer, which starts at this id and moves on in batches.
INSERT INTO bot_state (key, value) VALUES ('search_reindex_from', '0')
    ON CONFLICT (key) DO UPDATE SET value = '0', updated_at = now();

-- /search: up to n requests matching words (web search syntax: every word,
-- "a phrase", or, -word), best first. Finished requests by their document,
-- at most cap of them ranked (the first found: common words match far more
-- than anyone reads); open ones by their issue, among the 500 most recent.
-- capped: more finished requests matched than were ranked.
CREATE FUNCTION tgdesk_search(words text, n int, cap int)
RETURNS TABLE (id bigint, status text, age_seconds bigint, user_id bigint, first_name text,
               last_name text, username text, snippet text, capped boolean)
LANGUAGE sql STABLE SET client_min_messages = warning AS $$
    WITH q AS (SELECT c AS cfg, websearch_to_tsquery(c, words) AS q
               FROM tgdesk_search_config() c),
    -- an empty query (no words, only stop words) is not run at all
    ok AS (SELECT numnode(q) > 0 AS ok FROM q),
    finished AS MATERIALIZED (
        SELECT r.id, ts_rank(r.search, q.q) AS rank FROM requests r, q
        WHERE (SELECT ok FROM ok) AND r.search @@ q.q LIMIT cap),
    recent AS MATERIALIZED (
        SELECT r.id, r.issue FROM requests r
        WHERE (SELECT ok FROM ok) AND r.status IN ('open', 'assigned')
        ORDER BY r.created_at DESC LIMIT 500),
    active AS (
        SELECT a.id, ts_rank(setweight(to_tsvector(q.cfg, a.issue), 'A'), q.q) AS rank
        FROM recent a, q WHERE to_tsvector(q.cfg, a.issue) @@ q.q),
    best AS (
        SELECT * FROM finished UNION ALL SELECT * FROM active
        ORDER BY rank DESC, id DESC LIMIT n)
    SELECT r.id, r.status, extract(epoch FROM now() - r.created_at)::bigint, r.user_id,
           u.first_name, u.last_name, u.username,
           ts_headline(q.cfg, r.issue || coalesce(E'\n' || r.solution, ''), q.q,
                       'MaxWords=30, MinWords=12, ShortWord=0, MaxFragments=2, '
                       'FragmentDelimiter=" … ", StartSel=«, StopSel=»'),
           (SELECT count(*) FROM finished) >= cap
    FROM best b JOIN requests r ON r.id = b.id LEFT JOIN users u ON u.user_id = r.user_id, q
    ORDER BY b.rank DESC, b.id DESC
$$;

-- Similar solved requests: up to n requests with a solution whose documents
-- share the most telling words with body (a new request's first message).
--
-- The words: the 12 least common of body's, each weighted by how rare it is
-- among the documents, ln(1 / frequency) (PostgreSQL's own statistics of
-- requests.search: its most common words and their frequencies; a word not
-- among them is rarer than any that is; without statistics every word
-- weighs the same). Candidates: at most 300 documents with any of the words
-- found in at most 1000 documents; when that gives fewer than 100, also 300
-- of those with the least common of the other words - so a word in half the
-- requests is never read whole. Score: the sum over the words of its weight
-- times its ts_rank in the document (an issue counts more than a solution,
-- a solution more than the other messages). A request sharing only very
-- common words with body (weights summing to less than 3: not even one word
-- found in at most 5 % of the documents) is not similar.
CREATE FUNCTION tgdesk_search_similar(body text, n int)
RETURNS TABLE (id bigint, status text, issue text, solution text, score double precision)
LANGUAGE sql STABLE SET client_min_messages = warning AS $$
    WITH col AS (
        SELECT s.most_common_elems::text::text[] AS elems, s.most_common_elem_freqs AS freqs,
               greatest(c.reltuples, 0) * (1 - s.null_frac) AS docs
        FROM pg_stats s JOIN pg_class c ON c.oid = 'requests'::regclass
        WHERE s.schemaname = current_schema() AND s.tablename = 'requests'
          AND s.attname = 'search'),
    stats AS (
        SELECT m.e, m.f FROM col, unnest(col.elems, col.freqs) AS m(e, f)
        WHERE m.e IS NOT NULL),
    rarest AS (SELECT coalesce(min(f) / 2, 0.0001) AS f FROM stats),
    words AS MATERIALIZED (
        SELECT w.lexeme, st.f IS NOT NULL AS known, coalesce(st.f, rarest.f) AS f,
               ('''' || replace(replace(w.lexeme, '\', '\\'), '''', '''''') || '''')::tsquery AS q
        FROM rarest, unnest(to_tsvector(tgdesk_search_config(), left(body, 4096))) w
        LEFT JOIN stats st ON st.e = w.lexeme
        ORDER BY 3, length(w.lexeme) DESC, 1 LIMIT 12),
    rare AS (
        SELECT string_agg(q::text, ' | ')::tsquery AS q FROM words
        WHERE f * coalesce((SELECT docs FROM col), 0) <= 1000),
    by_rare AS MATERIALIZED (
        SELECT r.id, r.search FROM requests r
        WHERE r.search @@ (SELECT q FROM rare) AND r.solution IS NOT NULL LIMIT 300),
    -- too few: the least common word the statistics list, 300 of its documents
    common AS (
        SELECT q FROM words WHERE known AND f * coalesce((SELECT docs FROM col), 0) > 1000
        ORDER BY f LIMIT 1),
    by_common AS MATERIALIZED (
        SELECT r.id, r.search FROM requests r
        WHERE (SELECT count(*) FROM by_rare) < 100 AND r.search @@ (SELECT q FROM common)
          AND r.solution IS NOT NULL LIMIT 300),
    cand AS (
        SELECT * FROM by_rare
        UNION ALL SELECT * FROM by_common WHERE id NOT IN (SELECT id FROM by_rare)),
    scored AS (
        SELECT c.id, s.score FROM cand c,
            LATERAL (SELECT sum(ln(1 / w.f) * ts_rank(c.search, w.q)) AS score,
                            sum(ln(1 / w.f)) FILTER (WHERE c.search @@ w.q) AS shared
                     FROM words w) s
        WHERE s.shared >= 3 ORDER BY s.score DESC, c.id DESC LIMIT n)
    SELECT r.id, r.status, r.issue, r.solution, s.score
    FROM scored s JOIN requests r ON r.id = s.id ORDER BY s.score DESC, s.id DESC
$$;
