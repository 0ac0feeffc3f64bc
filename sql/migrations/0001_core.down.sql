DROP TABLE processed_updates;
DROP TABLE message_edits;
DROP TABLE messages;
DROP TABLE requests;
DROP TABLE users;
DROP FUNCTION tgdesk_touch_updated_at();
