# Sourced by the scripts that run rspamd beside mailmoat (compare-peers.sh, bench-filter-apis.sh,
# bench-milter.sh): `rspamd_offline_config LOCALDIR` writes local.d overrides so rspamd never
# reaches the network (an unreachable resolver, the modules that query outside switched off) and
# listens on 127.0.0.1:11433 (normal), 11434 (controller) and 11432 (proxy).
rspamd_offline_config() {
  local local_d=$1/local.d
  mkdir -p "$local_d"
  echo 'dns { nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 0; }' > "$local_d/options.inc"
  for module in rbl fuzzy_check spf dkim dmarc arc asn neural url_reputation rspamd_update \
      greylist ratelimit replies reputation mx_check emails dcc external_services \
      antivirus clickhouse elastic history_redis metadata_exporter; do
    echo "enabled = false;" > "$local_d/$module.conf"
  done
  echo 'bind_socket = "127.0.0.1:11433";' > "$local_d/worker-normal.inc"
  echo 'bind_socket = "127.0.0.1:11434";' > "$local_d/worker-controller.inc"
  echo 'bind_socket = "127.0.0.1:11432";' > "$local_d/worker-proxy.inc"
}
