#!/usr/bin/env bash
# SRV discovery against real dnsmasq resolvers: ok, nxdomain, nodata, servfail,
# refused (REFUSED and a resolver that is down), timeout (a resolver that never
# answers), targets without addresses, a truncated answer that needs TCP, and
# consistency across two resolvers with different data.
. "$(dirname "$0")/lib.sh"

A=127.0.11.1 B=127.0.11.2 C=127.0.11.3 D=127.0.11.4 E=127.0.11.5 P=5301

big=""
for i in $(seq 1 40); do
	big+="srv-host=_vlmcs._tcp.big.corp.test,kms$i.big.corp.test,1688,0,0"$'\n'
done

start_dnsmasq a $A $P <<CONF
local=/corp.test/
srv-host=_vlmcs._tcp.corp.test,kms1.corp.test,1688,0,0
srv-host=_vlmcs._tcp.corp.test,kms2.corp.test,1689,10,20
srv-host=_vlmcs._tcp.same.corp.test,kms1.corp.test,1688,0,0
srv-host=_vlmcs._tcp.ghost.corp.test,gone.corp.test,1688,0,0
host-record=kms1.corp.test,127.0.11.10
host-record=kms2.corp.test,127.0.11.11
txt-record=_vlmcs._tcp.nodata.corp.test,"no srv here"
$big
CONF

start_dnsmasq b $B $P <<CONF
local=/corp.test/
srv-host=_vlmcs._tcp.corp.test,kms1.corp.test,1688,0,0
srv-host=_vlmcs._tcp.same.corp.test,kms1.corp.test,1688,0,0
host-record=kms1.corp.test,127.0.11.10
CONF

# A validating resolver whose trust anchor matches nothing: every answer it
# gets from its upstream (resolver a) fails validation and it answers SERVFAIL.
start_dnsmasq c $C $P <<CONF
dnssec
trust-anchor=.,12345,8,2,0000000000000000000000000000000000000000000000000000000000000000
dnssec-check-unsigned
server=$A#$P
CONF

# Resolver e is started and then frozen: its socket exists but never answers.
start_dnsmasq e $E $P <<CONF
local=/corp.test/
CONF
kill -STOP "$PID_e"

start_tcpfixture open 127.0.11.10 1688 closed 127.0.11.11 1689

cat >"$T/kmswatch.yml" <<CONF
interval: 2s
timeout: 1s
state_file: ""
dns:
  resolvers: ["$A:$P", "$B:$P", "$C:$P", "$D:$P", "$E:$P"]
  domains: [corp.test, same.corp.test, missing.corp.test, nodata.corp.test, ghost.corp.test,
            big.corp.test]
hosts: []
CONF

start_agent "$T/kmswatch.yml" 19011
scrape

ra="resolver=\"$A:$P\"" rb="resolver=\"$B:$P\"" rc="resolver=\"$C:$P\""
rd="resolver=\"$D:$P\"" re="resolver=\"$E:$P\""

expect "kms_srv_lookup_success{domain=\"corp.test\",$ra}" 1
expect "kms_srv_records{domain=\"corp.test\",$ra}" 2
expect "kms_srv_records{domain=\"corp.test\",$rb}" 1
expect "kms_srv_record_info{domain=\"corp.test\",$ra,host=\"kms2.corp.test\",port=\"1689\",priority=\"10\",weight=\"20\"}" 1
expect "kms_srv_consistent{domain=\"corp.test\"}" 0
expect "kms_srv_consistent{domain=\"same.corp.test\"}" 1
expect "kms_srv_lookup_result{domain=\"missing.corp.test\",$ra,result=\"nxdomain\"}" 1
expect "kms_srv_lookup_result{domain=\"missing.corp.test\",$ra,result=\"ok\"}" 0
expect "kms_srv_lookup_success{domain=\"missing.corp.test\",$ra}" 0
expect "kms_srv_lookup_result{domain=\"nodata.corp.test\",$ra,result=\"nodata\"}" 1
expect "kms_srv_records{domain=\"nodata.corp.test\",$ra}" 0
expect "kms_srv_lookup_result{domain=\"corp.test\",$rc,result=\"servfail\"}" 1
expect "kms_srv_lookup_result{domain=\"corp.test\",$rd,result=\"refused\"}" 1
expect "kms_srv_lookup_result{domain=\"corp.test\",$re,result=\"timeout\"}" 1
expect "kms_srv_lookup_success{domain=\"corp.test\",$re}" 0
# 40 records do not fit a 512-byte UDP answer: the resolver truncates and the
# lookup must be retried over TCP to see them all.
expect "kms_srv_records{domain=\"big.corp.test\",$ra}" 40
expect "kms_srv_lookup_result{domain=\"big.corp.test\",$ra,result=\"ok\"}" 1

# Reachability of the discovered targets.
expect 'kms_tcp_connect_success{host="kms1.corp.test",port="1688",source="srv"}' 1
expect 'kms_tcp_connect_result{host="kms2.corp.test",port="1689",result="refused"}' 1
expect 'kms_tcp_connect_result{host="gone.corp.test",port="1688",result="resolve_failed"}' 1
expect 'kms_tcp_connect_success{host="gone.corp.test",port="1688",source="srv"}' 0
expect 'kms_agent_targets{source="srv"}' 43

# Lookups keep their deadline: a resolver that never answers costs about the
# timeout, not more.
d=$(metric "kms_srv_lookup_duration_seconds{domain=\"corp.test\",$re}")
awk -v d="$d" 'BEGIN { exit !(d >= 0.3 && d <= 1.6) }' || fail "silent resolver lookup took ${d}s"
ok "silent resolver lookup bounded by the timeout (${d}s)"

ctype=$(curl -s -o /dev/null -w '%{content_type}' "$WEB/metrics")
[ "$ctype" = "text/plain; version=0.0.4; charset=utf-8" ] || fail "Content-Type is $ctype"
ok "Content-Type $ctype"
promtool_check

# A resolver that comes back is picked up on the next cycles.
kill -CONT "$PID_e"
wait_for "kms_srv_lookup_result{domain=\"corp.test\",$re,result=\"nxdomain\"}" 1

kill -0 "$AGENT_PID" || fail "agent died"
ok "agent still running"
finish
