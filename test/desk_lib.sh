# Helpers of the desk's integration tests (sourced after lib.sh): post
# updates desk_update.py builds, wait for the outbox to drain, and compare
# the Bot API calls the fake received with the expected ones. They use $db,
# $fake_url and $scratch of lib.sh.
U="$TGDESK_SOURCE_ROOT/test/desk_update.py"

# say ARGS...: posts the update desk_update.py builds from ARGS; it must get 200.
say() {
    local code
    code=$(post_json "$(/usr/bin/python3 "$U" "$@")")
    [ "$code" = 200 ] || not_ok "update $2 answered 200" "got $code"
}
# more ARGS...: posts the update more_updates.py builds (kinds desk_update.py
# does not make: content, service messages, Telegram Business); it must get 200.
M="$TGDESK_SOURCE_ROOT/test/more_updates.py"
more() {
    local code
    code=$(post_json "$(/usr/bin/python3 "$M" "$@")")
    [ "$code" = 200 ] || not_ok "update $2 answered 200" "got $code"
}
q() { sql "$db" "$1"; }
pending_none() { sql_is "$db" "SELECT count(*) FROM outbox WHERE status = 'pending'" 0; }
# settle: waits until every outbox row is delivered.
settle() {
    wait_for 40 pending_none ||
        not_ok "outbox drained" "$(q "SELECT id, chat_id, method, status, last_error FROM outbox")"
}
# mark: later calls() show only the calls after this point.
mark() { seq0=$(curl -s "$fake_url/control/calls" | pyq 'max([c["seq"] for c in d] or [0])'); }
FMT='
import json, sys
def where(b):  # a chat, and its forum topic: CHAT/THREAD
    t = b.get("message_thread_id")
    return str(b.get("chat_id")) + ("/%s" % t if t else "")
for c in json.load(sys.stdin):
    b, m = c["body"] or {}, c["method"]
    if m == "sendMessage":
        s = "sendMessage %s %s" % (where(b), b.get("text", "").replace("\n", "⏎"))
        rm = b.get("reply_markup")
        if rm:
            s += " [" + ",".join(x["callback_data"] for row in rm["inline_keyboard"] for x in row) + "]"
    elif m == "copyMessage":
        s = "copyMessage %s from %s:%s" % (where(b), b.get("from_chat_id"), b.get("message_id"))
        if "caption" in b:
            s += " caption=" + b["caption"]
    elif m.endswith("ForumTopic"):
        s = " ".join([m, where(b)] + ([b["name"]] if "name" in b else []))
    elif m in ("editMessageText", "editMessageCaption"):
        s = "%s %s:%s %s" % (m, b.get("chat_id"), b.get("message_id"), b.get("text", b.get("caption")))
    elif m == "answerCallbackQuery":
        s = "answerCallbackQuery %s %s %s" % (b.get("callback_query_id"),
                                              "alert" if b.get("show_alert") else "toast", b.get("text"))
    else:
        s = m + " " + json.dumps(b, sort_keys=True)  # jsonb keeps no key order
    if "parse_mode" in b:
        s += " PARSE_MODE"
    if "business_connection_id" in b:
        s += " AS:" + b["business_connection_id"]
    if c["status"] != 200:
        s += " HTTP%d" % c["status"]
    print(s)
'
# calls: one line per Bot API call since the mark, sorted (chats are served in parallel).
calls() { curl -s "$fake_url/control/calls?since=$seq0" | /usr/bin/python3 -c "$FMT" | LC_ALL=C sort; }
# expect_calls DESC LINE...: settles, then the calls since the mark are exactly these.
expect_calls() {
    local desc=$1
    shift
    settle
    expect_eq "$desc" "$(printf '%s\n' "$@" | LC_ALL=C sort)" "$(calls)"
}
