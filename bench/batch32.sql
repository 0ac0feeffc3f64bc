-- Ceiling (b): the same rows for 32 updates per transaction, in multi-row
-- statements: what the database itself can do for this work.
BEGIN;
INSERT INTO processed_updates (update_id, kind) SELECT nextval('bench_update'), 'message' FROM generate_series(1, 32);
WITH u AS (
  INSERT INTO users (user_id, username, first_name)
  SELECT nextval('bench_user') + 3000000000, 'bench', 'Bench' FROM generate_series(1, 32)
  RETURNING user_id),
r AS (
  INSERT INTO requests (user_id, issue) SELECT user_id, 'Hi, my order still has not arrived' FROM u
  RETURNING id, user_id),
m AS (
  INSERT INTO messages (request_id, sender_id, sender_type, message, chat_id, tg_message_id)
  SELECT id, user_id, 'user', 'Hi, my order still has not arrived', user_id, 1 FROM r)
INSERT INTO outbox (chat_id, method, payload, purpose, request_id)
SELECT user_id, 'sendMessage', jsonb_build_object('chat_id', user_id, 'text', 'Request #' || id || ' created.'), 'reply', id FROM r;
END;
