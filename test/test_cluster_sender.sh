#!/usr/bin/env bash
# Three instances, one database, one Bot API: every chat has one sender at a
# time. Under a load of new requests (each user writes, then asks /status,
# the two updates at different instances) one instance is paused (SIGSTOP)
# for longer than a lease, then resumed. Afterwards: every reply delivered
# exactly once (repeats only within the counted bound of the freeze), each
# user's replies in the order committed, the staff group never more than
# 20 messages in 60 s and no notification twice, and the whole cluster
# within TELEGRAM_GLOBAL_RPS.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
need_pg

BOB=5570000001
GROUP=-1005570000000
USERS=150
RPS=6

db=$(new_db)
start_fake
bases=() pids=()
for i in 0 1 2; do
    start_tgdesk ADMIN_IDS=$BOB ADMIN_CHAT_ID=$GROUP TELEGRAM_GLOBAL_RPS=$RPS || {
        not_ok "instance $i starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
    bases+=("$base") pids+=("$tg_pid")
done
q() { sql "$db" "$1"; }
expect_eq "three instances heartbeat" 3 \
    "$(sleep 2; q "SELECT count(*) FROM sender_instances WHERE heartbeat_at > clock_timestamp() - interval '3 seconds'")"

# Every Bot API answer takes 300 ms, so that calls are on the wire when the
# instance is paused.
curl -s -o /dev/null -X POST -d '{"ms":300}' "$fake_url/control/latency"

# The load: user k writes at 0.2 k s and asks /status 1 s later, round robin
# over the instances not frozen ($scratch/frozen names the frozen one).
: >"$scratch/frozen"
/usr/bin/python3 - "$secret" "$scratch/frozen" $USERS "${bases[@]}" >"$scratch/load.out" 2>&1 <<'EOF' &
import os, sys, time
sys.path.insert(0, os.environ["TGDESK_SOURCE_ROOT"] + "/test")
from webhook_post import post
secret, frozen, users, bases = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
posts = sorted([(0.2 * k, k, "hello from %d" % k) for k in range(users)] +
               [(0.2 * k + 1.0, k, "/status") for k in range(users)])
t0, n = time.time(), 0
for at, k, text in posts:
    time.sleep(max(0, t0 + at - time.time()))
    skip = open(frozen).read().strip()
    live = [b for i, b in enumerate(bases) if str(i) != skip]
    base = live[n % len(live)]
    n += 1
    uid, uu = 6300000000 + k, 10 * k + (text == "/status")
    u = {"update_id": 900000 + uu, "message": {"message_id": 1 + uu, "date": 1767225600,
         "from": {"id": uid, "is_bot": False, "first_name": "U%d" % k},
         "chat": {"id": uid, "type": "private", "first_name": "U%d" % k}, "text": text}}
    code = post(base + "/webhook", secret, u)
    if code != 200:
        print("user %d %s: %s" % (k, text, code))
EOF
load=$!

# Pause instance 1 for 15 s (the lease is 10 s), then resume it.
sleep 8
echo 1 >"$scratch/frozen"
sleep 0.5
kill -STOP "${pids[1]}"
t_stop=$(date +%s.%N)
sleep 15
kill -CONT "${pids[1]}"
t_cont=$(date +%s.%N)
echo "# instance 1 paused from $t_stop to $t_cont"
: >"$scratch/frozen"
wait "$load" || true
expect_eq "load: every update answered 200" "" "$(cat "$scratch/load.out")"

replies_left() { sql_is "$db" "SELECT count(*) FROM outbox WHERE chat_id > 0" 0; }
wait_for 100 replies_left ||
    not_ok "every reply delivered" "$(q "SELECT count(*), min(status) FROM outbox WHERE chat_id > 0")"

# The metrics of the three: instance names, chat slots held, leases lost,
# calls answered after their lease ran out (the bound of repeats).
after=0 lost=0 names=""
for b in "${bases[@]}"; do
    m=$(curl -s "$b/metrics")
    names+=$(printf '%s\n' "$m" | sed -n 's/^tgdesk_instance_info{instance="\([^"]*\)"} 1$/\1 /p')
    after=$((after + $(printf '%s\n' "$m" | sed -n 's/^tgdesk_outbox_sends_after_freeze_total \([0-9]*\)$/\1/p')))
    lost=$((lost + $(printf '%s\n' "$m" | sed -n 's/^tgdesk_outbox_leases_lost_total \([0-9]*\)$/\1/p')))
done
echo "# instances: $names; leases lost: $lost; calls on the wire when their lease ran out: $after"
expect_eq "metrics: three distinct instance names" 3 "$(printf '%s\n' $names | sort -u | wc -l)"

# (What still waits is read before what was sent: a call in between is in both.)
waiting=$(q "SELECT count(*) FILTER (WHERE status = 'pending') || ' ' || count(*) FILTER (WHERE status = 'failed') || ' ' || coalesce(string_agg(request_id::text, ','), '') FROM outbox WHERE chat_id = $GROUP")
curl -s "$fake_url/control/calls" >"$scratch/calls.json"
report=$(T0=$t_stop T1=$t_cont AFTER=$after RPS=$RPS USERS=$USERS GROUP=$GROUP \
    /usr/bin/python3 - "$scratch/calls.json" <<'EOF'
import collections, json, os, sys
calls = [c for c in json.load(open(sys.argv[1])) if c["status"] == 200]
t0, t1 = float(os.environ["T0"]), float(os.environ["T1"])
rps, users, group = int(os.environ["RPS"]), int(os.environ["USERS"]), int(os.environ["GROUP"])
out = {}
# Replies: two per user, each once, "created" before the /status answer.
per = collections.defaultdict(list)
for c in sorted(calls, key=lambda c: c["seq"]):
    if c["method"] == "sendMessage" and c["body"]["chat_id"] > 0:
        per[c["body"]["chat_id"]].append((c["body"]["text"], c["ts"]))
dups = sum(len(v) - len(set(t for t, _ in v)) for v in per.values())
dups_in_freeze = sum(len(v) - len(set(t for t, _ in v)) for v in per.values()
                     if any(t0 - 1 <= ts <= t1 + 15 for _, ts in v))
out["users"] = sum(1 for v in per.values() if len(set(t for t, _ in v)) == 2)
firsts = [v for v in per.values() if v]
out["order"] = sum(1 for v in firsts if "created" not in v[0][0])
out["dups"] = dups
out["dup_detail"] = [(k, [(t[:20], round(ts - t0, 2)) for t, ts in v]) for k, v in per.items()
                     if len(v) != len(set(t for t, _ in v))]
out["dups_outside_freeze"] = dups - dups_in_freeze
# The group: never more than 20 in 60 s, no notification twice.
g = sorted(c["ts"] for c in calls if c["body"] and c["body"].get("chat_id") == group)
out["group_max60"] = max([sum(1 for u in g if t <= u < t + 60) for t in g] or [0])
texts = [c["body"]["text"] for c in calls if c["body"] and c["body"].get("chat_id") == group]
out["group_dups"] = len(texts) - len(set(texts))
out["group_sent"] = len(texts)
out["group_requests"] = sorted(int(t.split("#")[1].split(" ")[0]) for t in texts if t.startswith("New request #"))
# The cluster's rate: every call, in any 1 s and any 5 s window.
ts = sorted(c["arrived"] for c in calls)  # as Telegram counts: when a call arrives
out["max1"] = max(sum(1 for u in ts if t <= u < t + 1) for t in ts)
out["max5"] = max(sum(1 for u in ts if t <= u < t + 5) for t in ts)
print(json.dumps(out, sort_keys=True))
EOF
)
echo "# $report"
r() { printf '%s' "$report" | pyq "d['$1']"; }
expect_eq "every user got both replies" $USERS "$(r users)"
expect_eq "per-chat order: the 'created' reply before the /status answer" 0 "$(r order)"
expect_eq "no reply twice outside the freeze" 0 "$(r dups_outside_freeze)"
[ "$(r dups)" -le "$after" ] && ok "repeats after the freeze ($(r dups)) within the counted bound ($after)" ||
    not_ok "repeats after the freeze within the counted bound" "$(r dups) > $after"
[ "$(r group_max60)" -le 20 ] && ok "staff group: at most 20 messages in any 60 s ($(r group_max60))" ||
    not_ok "staff group: at most 20 messages in any 60 s" "$(r group_max60)"
expect_eq "staff group: no notification twice" 0 "$(r group_dups)"
set -- $waiting
expect_eq "staff group: none failed" 0 "$2"
expect_eq "staff group: every new request notified or still queued at the group's pace" "" \
    "$(q "SELECT string_agg(id::text, ' ') FROM requests WHERE id <> ALL('{$(r group_requests | tr -d '[] ')}'::bigint[]) AND id <> ALL('{${3:-}}'::bigint[])")"
echo "# staff group: $(r group_sent) notifications sent, $1 still queued"

# The instances' shares add up to the limit: at most RPS calls in any
# second, RPS x 5 in any five.
[ "$(r max1)" -le "$RPS" ] && [ "$(r max5)" -le $((RPS * 5)) ] &&
    ok "cluster rate within TELEGRAM_GLOBAL_RPS=$RPS ($(r max1) in 1 s, $(r max5) in 5 s at most)" ||
    not_ok "cluster rate within TELEGRAM_GLOBAL_RPS=$RPS" "$(r max1) in 1 s, $(r max5) in 5 s"
finish
