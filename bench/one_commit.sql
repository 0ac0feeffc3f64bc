-- Ceiling (a): the rows tgdesk writes for one "new conversation" update, one
-- transaction (and one durable commit) per update.
BEGIN;
INSERT INTO processed_updates (update_id, kind) VALUES (nextval('bench_update'), 'message');
INSERT INTO users (user_id, username, first_name) VALUES (nextval('bench_user') + 3000000000, 'bench', 'Bench') RETURNING user_id AS uid \gset
INSERT INTO requests (user_id, issue) VALUES (:uid, 'Hi, my order still has not arrived') RETURNING id AS rid \gset
INSERT INTO messages (request_id, sender_id, sender_type, message, chat_id, tg_message_id) VALUES (:rid, :uid, 'user', 'Hi, my order still has not arrived', :uid, 1);
INSERT INTO outbox (chat_id, method, payload, purpose, request_id) VALUES (:uid, 'sendMessage', jsonb_build_object('chat_id', :uid, 'text', 'Request #' || :rid || ' created.'), 'reply', :rid);
END;
