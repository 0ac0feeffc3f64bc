#!/usr/bin/env bash
# The monitoring files agree with what tgdesk exports: prometheus.yml and the
# alert rules pass promtool (and the compose profile's deploy/prometheus-ha.yml,
# and deploy/haproxy.cfg passes haproxy -c); every PromQL expression of the Grafana dashboard
# parses, and every metric the dashboard and the rules name is one that
# internal/metrics registers.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
root=$TGDESK_SOURCE_ROOT
dash=$root/docs/grafana-dashboard.json
rules=$root/docs/prometheus-alerts.yml

if ! command -v promtool >/dev/null; then
    echo "# promtool missing (Debian package prometheus): skipping"
    exit 77
fi

out=$(cd "$root" && promtool check config prometheus.yml 2>&1) && rc=0 || rc=$?
expect_eq "promtool check config prometheus.yml" "0" "$rc"
# deploy/prometheus-ha.yml as the compose profile "ha" mounts it, rules beside it.
mkdir -p ha/docs
cp "$root/deploy/prometheus-ha.yml" ha/prometheus.yml
cp "$rules" ha/docs/prometheus-alerts.yml
out=$(cd ha && promtool check config prometheus.yml 2>&1) && rc=0 || rc=$?
expect_eq "promtool check config deploy/prometheus-ha.yml ($out)" "0" "$rc"
targets=$(grep -c 'tgdesk[0-9]*:8080' "$root/deploy/prometheus-ha.yml")
expect_eq "deploy/prometheus-ha.yml scrapes the three instances" 1 "$targets"
expect_contains "... each of them" "$(cat "$root/deploy/prometheus-ha.yml")" '"tgdesk:8080", "tgdesk2:8080", "tgdesk3:8080"'
# deploy/haproxy.cfg is valid HAProxy configuration (addresses given as the
# compose file gives names), and checks /health.
if command -v haproxy >/dev/null; then
    out=$(TGDESK1=127.0.0.1:1 TGDESK2=127.0.0.1:2 TGDESK3=127.0.0.1:3 HA_BIND=127.0.0.1:18080 \
        HA_STATS_BIND=127.0.0.1:18404 haproxy -c -f "$root/deploy/haproxy.cfg" 2>&1) && rc=0 || rc=$?
    expect_eq "haproxy -c -f deploy/haproxy.cfg ($out)" "0" "$rc"
    expect_contains "deploy/haproxy.cfg checks /health" "$(cat "$root/deploy/haproxy.cfg")" "option httpchk GET /health"
fi
out=$(promtool check rules "$rules" 2>&1) && rc=0 || rc=$?
expect_eq "promtool check rules docs/prometheus-alerts.yml ($out)" "0" "$rc"

# Every panel expression as a recording rule, Grafana's variables filled in.
python3 - "$dash" > dash-rules.yml <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("groups:\n  - name: dashboard\n    rules:")
n = 0
for p in d["panels"]:
    for t in p.get("targets", []):
        e = t["expr"].replace("$__rate_interval", "5m").replace("$job", ".*").replace("$instance", ".*")
        n += 1
        print(f"      - record: dashboard:expr{n}\n        expr: {json.dumps(e)}")
PY
out=$(promtool check rules dash-rules.yml 2>&1) && rc=0 || rc=$?
expect_eq "every dashboard expression parses ($out)" "0" "$rc"
nexpr=$(grep -c 'record:' dash-rules.yml)
[ "$nexpr" -ge 30 ] && ok "the dashboard has $nexpr queries" || not_ok "the dashboard has $nexpr queries"

# Names registered in the code; histograms also export _bucket, _sum, _count.
grep -ohE '"(tgdesk|process)_[a-z_]+"' "$root"/internal/metrics/*.c | tr -d '"' | sort -u > exported
for h in $(grep -ohE 'METRICS_HISTOGRAM' "$root"/internal/metrics/tgm.c >/dev/null && \
           python3 - "$root/internal/metrics/tgm.c" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
for m in re.finditer(r'\.name = "([a-z_]+)",[^}]*?\.type = METRICS_HISTOGRAM', s, re.S):
    print(m.group(1))
PY
); do
    printf '%s_bucket\n%s_sum\n%s_count\n' "$h" "$h" "$h" >> exported
done
missing=""
for name in $(grep -ohE '\b(tgdesk|process)_[a-z_]+' "$dash" "$rules" | sort -u); do
    grep -qx "$name" exported || missing="$missing $name"
done
expect_eq "the dashboard and the rules only name exported metrics" "" "$missing"

finish
