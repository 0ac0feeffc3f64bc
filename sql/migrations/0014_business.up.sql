-- Telegram Business: business accounts connected to the bot (Settings >
-- Telegram Business > Chatbots in the Telegram app), and what came through
-- them. A customer writing to a business account opens a request like
-- anyone writing to the bot; staff answers go out through the connection.

-- One row per connection, as Telegram last described it. A connection first
-- seen through a message (its business_connection update was missed, say,
-- before the bot asked for these updates) is stored as enabled and allowed
-- to reply, with user_id NULL, until Telegram says more.
CREATE TABLE business_connections (
    id           text PRIMARY KEY,  -- Telegram's business_connection_id
    user_id      bigint,            -- the business account
    user_chat_id bigint,            -- the bot's private chat with that account
    can_reply    boolean NOT NULL DEFAULT true,
    is_enabled   boolean NOT NULL DEFAULT true,
    rights       jsonb,             -- the rights as Telegram sent them (Bot API 9.0+)
    connected_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER business_connections_touch BEFORE UPDATE ON business_connections
    FOR EACH ROW EXECUTE FUNCTION tgdesk_touch_updated_at();

-- The connection a request was opened through (NULL: the chat with the bot).
ALTER TABLE requests
    ADD COLUMN business_connection_id text REFERENCES business_connections (id);

-- A message written in a business chat: its connection and its id there.
-- The chat of a customer with a business account has the customer's id, as
-- their chat with the bot has, and message ids count apart in each: so such
-- a message keeps its id in business_message_id (tg_message_id stays NULL)
-- and is found by connection, chat and that id. deleted_at: the message was
-- deleted in Telegram (the text stays for the transcript).
ALTER TABLE messages
    ADD COLUMN business_connection_id text REFERENCES business_connections (id),
    ADD COLUMN business_message_id bigint,
    ADD COLUMN deleted_at timestamptz;

CREATE UNIQUE INDEX messages_business_message
    ON messages (business_connection_id, chat_id, business_message_id)
    WHERE business_message_id IS NOT NULL;

-- Every kind of message a person can send is stored with its kind now.
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_attachment_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_attachment_kind_check CHECK (attachment_kind IN
    ('photo', 'document', 'voice', 'video', 'sticker', 'audio', 'animation', 'video_note',
     'location', 'venue', 'contact', 'poll', 'dice', 'story', 'game', 'checklist', 'invoice',
     'paid_media', 'giveaway', 'giveaway_winners', 'message'));
