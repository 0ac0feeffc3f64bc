DROP TABLE bot_state;
DROP TABLE notifications;
DROP TABLE outbox;
