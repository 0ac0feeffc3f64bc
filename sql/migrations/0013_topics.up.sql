-- Forum topics (STAFF_MODE=topics): each user has one topic in the staff
-- forum group, reused by all their requests. The sender keeps these columns
-- as Telegram has them: the chat and thread of the topic (NULL until the
-- first message that needs it created it, and again once it was found
-- deleted), the name it was given last and whether it is closed - so a
-- rename or a close that would change nothing is never sent.
ALTER TABLE users
    ADD COLUMN topic_chat_id   bigint,
    ADD COLUMN topic_thread_id bigint,
    ADD COLUMN topic_name      text,
    ADD COLUMN topic_closed    boolean NOT NULL DEFAULT false;

-- A staff message in a topic finds its user by the topic.
CREATE UNIQUE INDEX users_topic ON users (topic_chat_id, topic_thread_id)
    WHERE topic_thread_id IS NOT NULL;

-- Internal notes of staff are messages never sent to the user. A staff
-- answer copied to the user keeps where the copy is, so that an edit of
-- the answer edits the copy.
ALTER TABLE messages
    ADD COLUMN is_note         boolean NOT NULL DEFAULT false,
    ADD COLUMN copy_chat_id    bigint,
    ADD COLUMN copy_message_id bigint;
