-- Messages of the kinds added with 0014 keep their text and lose their kind
-- (the older check allows only files); business messages keep their text
-- and lose where they were written.
UPDATE messages SET attachment_kind = NULL
    WHERE attachment_kind NOT IN ('photo', 'document', 'voice', 'video', 'sticker', 'audio',
                                  'animation', 'video_note');
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_attachment_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_attachment_kind_check CHECK (attachment_kind IN
    ('photo', 'document', 'voice', 'video', 'sticker', 'audio', 'animation', 'video_note'));
DROP INDEX messages_business_message;
ALTER TABLE messages
    DROP COLUMN deleted_at,
    DROP COLUMN business_message_id,
    DROP COLUMN business_connection_id;
ALTER TABLE requests DROP COLUMN business_connection_id;
DROP TABLE business_connections;
