-- A corpus of support requests for bench/search.sh: :requests requests
-- (psql -v requests=N) of as many users, with realistic words - a few dozen
-- very common ones ("i", "my", "the", ...), a dozen topics of sixteen words
-- each (refunds, passwords, deliveries, ...) drawn with a skew, now and then
-- an order number or a word of another topic - and their messages: the
-- user's first message (the issue), a staff answer and, for a third of
-- them, a follow-up. Half of the newest 2 % are still open (1 % of all, the
-- way a desk's open requests are its recent ones); of the others, a tenth
-- are closed without a solution, the rest solved or closed with one. Ids of
-- users start at 7e9.

CREATE TEMPORARY TABLE bench_vocab AS SELECT
    ARRAY['i', 'my', 'the', 'to', 'a', 'is', 'it', 'and', 'not', 'of', 'for', 'you', 'can',
          'please', 'have', 'this', 'on', 'in', 'with', 'me', 'but', 'was', 'do', 'be', 'that',
          'at', 'how', 'we', 'your', 'an', 'are', 'get', 'why', 'still', 'again', 'no', 'what',
          'when', 'there', 'so', 'just', 'hello', 'hi', 'help', 'thanks'] AS stop,
    ARRAY[
      ['refund', 'money', 'back', 'return', 'charged', 'twice', 'card', 'bank', 'refunded',
       'days', 'order', 'receipt', 'amount', 'credit', 'returned', 'waiting'],
      ['password', 'reset', 'login', 'forgot', 'account', 'email', 'link', 'code', 'sign',
       'locked', 'verification', 'expired', 'change', 'new', 'access', 'cannot'],
      ['delivery', 'parcel', 'courier', 'shipping', 'tracking', 'address', 'late', 'arrived',
       'package', 'damaged', 'lost', 'delayed', 'warehouse', 'shipped', 'week', 'number'],
      ['app', 'crash', 'crashes', 'update', 'android', 'iphone', 'screen', 'freeze', 'error',
       'install', 'version', 'opens', 'blank', 'loading', 'slow', 'phone'],
      ['subscription', 'cancel', 'renew', 'plan', 'premium', 'trial', 'upgrade', 'downgrade',
       'billing', 'monthly', 'yearly', 'renewal', 'charged', 'auto', 'month', 'stop'],
      ['invoice', 'vat', 'company', 'details', 'pdf', 'download', 'tax', 'receipt', 'billing',
       'address', 'name', 'number', 'correct', 'wrong', 'send', 'copy'],
      ['delete', 'data', 'profile', 'name', 'photo', 'privacy', 'export', 'personal', 'remove',
       'gdpr', 'settings', 'deactivate', 'account', 'history', 'erase', 'request'],
      ['payment', 'failed', 'declined', 'card', 'paypal', 'transaction', 'pending', 'error',
       'bank', 'checkout', 'apple', 'google', 'pay', 'twice', 'money', 'try'],
      ['promo', 'code', 'discount', 'coupon', 'voucher', 'expired', 'invalid', 'apply', 'sale',
       'offer', 'percent', 'gift', 'works', 'checkout', 'price', 'cart'],
      ['size', 'product', 'quality', 'broken', 'defect', 'exchange', 'wrong', 'colour', 'item',
       'replacement', 'missing', 'part', 'box', 'instructions', 'small', 'large'],
      ['notifications', 'email', 'spam', 'unsubscribe', 'newsletter', 'messages', 'push',
       'alerts', 'many', 'stop', 'daily', 'settings', 'off', 'receive', 'mails', 'turn'],
      ['security', 'hacked', 'suspicious', 'login', 'attempt', 'two', 'factor',
       'authentication', 'phone', 'sms', 'code', 'device', 'unknown', 'location', 'secure',
       'password']] AS topics,
    ARRAY['we have refunded the full amount to your card; it takes 3 to 5 business days',
          'use the reset link on the login page; it is valid for one hour',
          'the courier has a new delivery date; the tracking number is in your email',
          'please install the latest version of the app from the store',
          'your subscription is cancelled and will not renew at the end of the month',
          'the corrected invoice with your company details is attached as a pdf',
          'your account and personal data are deleted as you asked',
          'the payment went through on the second attempt; nothing was charged twice',
          'the promo code applies at checkout to items that are not on sale',
          'a replacement item is on its way; keep the broken one',
          'notifications are off in settings; you will not receive the newsletter',
          'we locked the account, reset the password and turned on two factor authentication']
      AS solutions;

-- n words on topic t: 45 % common words, 45 % words of the topic, the rest
-- a word of any topic or an order number.
CREATE FUNCTION pg_temp.bench_words(t int, n int) RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT string_agg(CASE
        WHEN g.r < 0.45 THEN v.stop[1 + floor(random() ^ 2 * array_length(v.stop, 1))::int]
        WHEN g.r < 0.90 THEN v.topics[t][1 + floor(random() ^ 1.5 * 16)::int]
        WHEN g.r < 0.97 THEN v.topics[1 + floor(random() * 12)::int][1 + floor(random() * 16)::int]
        ELSE 'a' || (100000 + floor(random() * 900000)::int)::text END, ' ')
    FROM bench_vocab v, (SELECT random() AS r FROM generate_series(1, n)) g
$$;

CREATE TEMPORARY TABLE bench_src AS
SELECT g, topic, fate, g > :requests * 0.98 AND fate < 0.5 AS open
FROM (SELECT g, 1 + floor(random() * 12)::int AS topic, random() AS fate
      FROM generate_series(1, :requests) g) s;

INSERT INTO users (user_id, username, first_name)
SELECT 7000000000 + g, 'customer' || g, 'Customer' FROM bench_src;

INSERT INTO requests (user_id, issue, status, assigned_admin, solution, created_at, updated_at,
                      first_response_at, resolved_at)
SELECT 7000000000 + g, pg_temp.bench_words(topic, 6 + floor(random() * 20)::int),
       CASE WHEN open THEN 'open' WHEN fate < 0.10 THEN 'closed'
            WHEN fate < 0.55 THEN 'solved' ELSE 'closed' END,
       CASE WHEN NOT open AND fate >= 0.10 THEN 5550000001 END,
       CASE WHEN NOT open AND fate >= 0.10 THEN (SELECT solutions[topic] FROM bench_vocab)
            || ' ' || pg_temp.bench_words(topic, 3 + floor(random() * 6)::int) END,
       now() - make_interval(secs => (:requests - g) * 2.0 + 3600),
       now() - make_interval(secs => (:requests - g) * 2.0 + 1800),
       CASE WHEN NOT open THEN now() - make_interval(secs => (:requests - g) * 2.0 + 3000) END,
       CASE WHEN NOT open THEN now() - make_interval(secs => (:requests - g) * 2.0 + 1800) END
FROM bench_src ORDER BY g;

INSERT INTO messages (request_id, sender_id, sender_type, message, timestamp)
SELECT r.id, r.user_id, 'user', r.issue, r.created_at FROM requests r
WHERE r.user_id > 7000000000
UNION ALL
SELECT r.id, 5550000001, 'admin', coalesce(r.solution, 'we are looking into it'),
       r.created_at + interval '10 minutes'
FROM requests r WHERE r.user_id > 7000000000 AND r.status <> 'open'
UNION ALL
SELECT r.id, r.user_id, 'user', pg_temp.bench_words(s.topic, 4 + floor(random() * 10)::int),
       r.created_at + interval '20 minutes'
FROM requests r JOIN bench_src s ON r.user_id = 7000000000 + s.g
WHERE s.fate * 1000 - floor(s.fate * 1000) < 0.33;
