#!/usr/bin/env bash
# Installs the real servers the tests start: PostgreSQL, Prometheus Alertmanager,
# headless Chromium, Redis (Celery broker), Node.js with npm (the OpenID provider of the
# single sign-on tests), and lldpd, snmpd, snmpwalk and iproute2 (LLDP
# discovery in network namespaces), Request Tracker 5, Nagios Core 4, Icinga 2 and Zabbix 6.0, from Debian's
# packages, Prometheus with promtool (the engine's own metrics) and Glewlwyd (the
# second OpenID provider of the single sign-on tests). Skips what is already there.
set -euo pipefail

need=()
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ command -v lldpd || [ -x /usr/sbin/lldpd ]; } >/dev/null 2>&1 || need+=(lldpd)
{ command -v snmpd || [ -x /usr/sbin/snmpd ]; } >/dev/null 2>&1 || need+=(snmpd)
command -v snmpwalk >/dev/null 2>&1 || need+=(snmp)
{ command -v ip || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ]; } >/dev/null 2>&1 || need+=(iproute2)
# strace: the order in which `aiops zabbix history` puts its files on disk
# (tests/unit/test_zabbix_history_stop.py).
command -v strace >/dev/null 2>&1 || need+=(strace)
{ command -v node && command -v npm; } >/dev/null 2>&1 || need+=(nodejs npm)
# A real Request Tracker 5 (SQLite, standalone server) for the ticket connector test.
[ -x /usr/share/request-tracker5/libexec/rt-server ] || \
  need+=(request-tracker5 rt5-db-sqlite rt5-standalone dbconfig-no-thanks)

# A real Nagios Core 4 for the webhook test (tests/integration/test_nagios_real.py); its
# recommended plugins and their dependencies are not needed (the test brings its check).
# rsyslog is the peer of the syslog benchmark (benchmarks/sources.py); Icinga 2's daemon
# (without its plugins and the service that would start at boot) for
# tests/integration/test_icinga_real.py; a Zabbix 6.0 server and its PHP front end (the
# API) for tests/integration/test_zabbix_real.py (neither is started at boot here).
lean=()
[ -x /usr/sbin/nagios4 ] || lean+=(nagios4-core)
[ -x /usr/sbin/rsyslogd ] || lean+=(rsyslog)
# rsyslog's OpenSSL driver: the TLS peer of tests/integration/test_syslog_tls.py.
ls /usr/lib/*/rsyslog/lmnsd_ossl.so >/dev/null 2>&1 || lean+=(rsyslog-openssl)
[ -x /usr/sbin/icinga2 ] || lean+=(icinga2-bin)
# A real Prometheus (and its promtool) that scrapes the engine's /metrics and checks the
# example rules (tests/integration/test_prometheus_real.py), without the node exporter
# it recommends. The tests start their own server on a free port; on a host with
# systemd the package also starts its service on :9090, which they do not use.
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || lean+=(prometheus)
[ -x /usr/sbin/zabbix_server ] && [ -e /usr/share/zabbix/api_jsonrpc.php ] && \
  command -v php >/dev/null 2>&1 || \
  lean+=(zabbix-server-pgsql zabbix-frontend-php php-pgsql php-cli)

# Glewlwyd, the second real OpenID provider (tests/integration/test_oidc_glewlwyd.py
# starts it with a configuration and SQLite database of its own). Its package asks
# debconf how to set up a database of its own, and its default answer ("Personalized")
# fails to configure where dbconfig-no-thanks is installed (Request Tracker's packages
# above bring it): "No configuration" leaves the package's files only.
glewlwyd_preseed=
if ! command -v glewlwyd >/dev/null 2>&1; then
  lean+=(glewlwyd)
  glewlwyd_preseed="glewlwyd glewlwyd/config_type select No configuration"
fi

if [ ${#need[@]} -gt 0 ] || [ ${#lean[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
  else
    SUDO=
  fi
  echo "installing test servers: ${need[*]} ${lean[*]}" >&2
  $SUDO apt-get update -qq
  if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if [ -n "$glewlwyd_preseed" ]; then
    echo "$glewlwyd_preseed" | $SUDO debconf-set-selections
  fi
  if [ ${#lean[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${lean[@]}" >/dev/null
  fi
fi

# A real OpenID provider (panva's node-oidc-provider, pinned in tests/oidc/package.json
# and its package-lock.json) for the single sign-on tests; skipped when that version is
# installed already.
oidc_dir="$(dirname "$0")/../tests/oidc"
pinned="$(sed -n 's/.*"oidc-provider": "\(.*\)".*/\1/p' "$oidc_dir/package.json")"
installed="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' \
  "$oidc_dir/node_modules/oidc-provider/package.json" 2>/dev/null || true)"
if [ "$pinned" != "$installed" ]; then
  echo "installing the test OpenID provider $pinned (npm ci in tests/oidc)" >&2
  (cd "$oidc_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
