#!/usr/bin/env bash
# The monitoring files agree with what tgdesk exports: prometheus.yml and the
# alert rules pass promtool; every PromQL expression of the Grafana dashboard
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
