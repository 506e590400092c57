# shellcheck shell=bash
# Kafka for development and CI: one KRaft node (broker + controller) on
# 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT), data in
# $STATE/kafka/data, jars from $CACHE/kafka-<version>/libs (tools/meridian deps).

KAFKA_PROPS="$STATE/kafka/server.properties"
KAFKA_LOG4J="$ROOT/deploy/kafka/log4j2.properties"
# What Kafka 4.1 logs (kafka.server.KafkaRaftServer, INFO) once it serves:
#   [KafkaRaftServer nodeId=1] Kafka Server started (kafka.server.KafkaRaftServer)
KAFKA_STARTED_MARK="Kafka Server started"
KAFKA_START_TIMEOUT=60

# kafka_libs: the directory of the broker jars; fails when not fetched yet.
kafka_libs() {
  local home
  home=$(kafka_home)
  [[ -f $home/.complete && -d $home/libs ]] || die "kafka jars not in $home: run tools/meridian deps"
  printf '%s/libs\n' "$home"
}

# kafka_pid: pid of our running broker, if any.
kafka_pid() { running_pid kafka "kafka.Kafka $KAFKA_PROPS"; }

# sed_escape TEXT: TEXT made safe as a sed replacement (with | as delimiter).
sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# kafka_write_config: $STATE/kafka/server.properties from the template, and
# the TLS listener's PEM key store (the server key, then its certificate).
kafka_write_config() {
  local keystore="$STATE/kafka/keystore.pem"
  mkdir -p "$STATE/kafka/data"
  [[ -s $CERTS_DIR/server.key && -s $CERTS_DIR/server.pem ]] ||
    die "kafka: no server certificate in $CERTS_DIR: run tools/meridian certs"
  (umask 077 && cat "$CERTS_DIR/server.key" "$CERTS_DIR/server.pem" >"$keystore")
  sed -e "s|@BROKER_PORT@|$KAFKA_PORT|g" \
    -e "s|@SSL_PORT@|$KAFKA_SSL_PORT|g" \
    -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@DATA_DIR@|$(sed_escape "$STATE/kafka/data")|g" \
    -e "s|@KEYSTORE@|$(sed_escape "$keystore")|g" \
    -e "s|@TRUSTSTORE@|$(sed_escape "$CERTS_DIR/ca.pem")|g" \
    "$ROOT/deploy/kafka/server.properties.in" >"$KAFKA_PROPS"
}

# The ACLs, set once per data directory by the platform operator (a super
# user, over the TLS listener): the de-identified topics' — deid-stream
# writes, analytics reads (and dead-letters), the privacy auditor reads,
# nobody else over either listener (the plaintext one's clients are
# User:ANONYMOUS) — and the cluster's: everyone may create topics, write
# idempotently, describe and take part in the cluster; only super users may
# alter it (so no one else can change an ACL).
KAFKA_DEID_TOPIC=meridian.deid.v1
# kafka_ops_config: write the operator's client configuration (TLS as
# meridian-ops, from the current certificates) and print its path.
kafka_ops_config() {
  local config="$STATE/kafka/ops-client.properties" keystore="$STATE/kafka/ops-keystore.pem"
  [[ -s $CERTS_DIR/meridian-ops.key ]] || die "kafka: no meridian-ops certificate in $CERTS_DIR"
  (umask 077 && cat "$CERTS_DIR/meridian-ops.key" "$CERTS_DIR/meridian-ops.pem" >"$keystore")
  printf '%s\n' security.protocol=SSL ssl.keystore.type=PEM "ssl.keystore.location=$keystore" \
    ssl.truststore.type=PEM "ssl.truststore.location=$CERTS_DIR/ca.pem" >"$config"
  printf '%s' "$config"
}

kafka_acls() {
  local stamp="$STATE/kafka/data/.meridian-acls" want config
  want=$(printf 'v2 %s' "$KAFKA_DEID_TOPIC")
  [[ -f $stamp && $(<"$stamp") == "$want" ]] && return 0
  config=$(kafka_ops_config)
  log "kafka: ACLs of the cluster and of $KAFKA_DEID_TOPIC"
  local acl=(kafka_java org.apache.kafka.tools.AclCommand
    --bootstrap-server "127.0.0.1:$KAFKA_SSL_PORT" --command-config "$config" --add --force)
  {
    "${acl[@]}" --allow-principal 'User:*' --operation Create --operation IdempotentWrite \
      --operation Describe --operation DescribeConfigs --operation ClusterAction --cluster &&
      "${acl[@]}" --allow-principal User:svc-deid-stream --operation Write --operation Describe \
        --topic "$KAFKA_DEID_TOPIC" &&
      "${acl[@]}" --allow-principal User:svc-analytics --allow-principal User:privacy-auditor \
        --operation Read --operation Describe --topic "$KAFKA_DEID_TOPIC" \
        --topic "$KAFKA_DEID_TOPIC.dlt" &&
      "${acl[@]}" --allow-principal User:svc-analytics --operation Write \
        --topic "$KAFKA_DEID_TOPIC.dlt"
  } >>"$(log_file kafka)" 2>&1 || {
    show_log_tail kafka
    die "kafka: could not create the ACLs"
  }
  printf '%s' "$want" >"$stamp"
}

# kafka_java ARGS...: java with the broker class path and our log4j2 config.
kafka_java() {
  local libs
  libs=$(kafka_libs)
  java -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$libs/*" "$@"
}

# kafka_format: format the storage once, with the cluster id kept in
# $STATE/kafka/cluster-id (created on first use).
kafka_format() {
  local id_file="$STATE/kafka/cluster-id" meta="$STATE/kafka/data/meta.properties" cluster_id
  if [[ ! -s $id_file ]]; then
    if [[ -f $meta ]]; then
      sed -n 's/^cluster\.id=//p' "$meta" >"$id_file"
    else
      kafka_java kafka.tools.StorageTool random-uuid | grep -E '^[A-Za-z0-9_-]{22}$' >"$id_file" ||
        die "kafka: could not generate a cluster id"
    fi
  fi
  cluster_id=$(<"$id_file")
  [[ -f $meta ]] && return 0
  log "kafka: formatting $STATE/kafka/data (cluster id $cluster_id)"
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_PROPS" \
    >>"$(log_file kafka)" 2>&1 ||
    {
      show_log_tail kafka
      die "kafka: storage format failed"
    }
}

# kafka_start: start the broker in its own session and wait until it accepts
# connections and has logged that it started.
kafka_start() {
  local pid libs logf offset port waited=0
  ensure_state_dirs
  if pid=$(kafka_pid); then
    log "kafka: already running (pid $pid, port $KAFKA_PORT)"
    return 0
  fi
  have java || die "java not found: run tools/meridian deps"
  libs=$(kafka_libs)
  for port in "$KAFKA_PORT" "$KAFKA_SSL_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$port"; then
      die "kafka: port $port is already in use by another process (see: ss -ltnp 'sport = :$port')"
    fi
  done
  kafka_write_config
  kafka_format
  logf=$(log_file kafka)
  touch "$logf"
  offset=$(stat -c %s "$logf")
  log "kafka: starting on 127.0.0.1:$KAFKA_PORT (log $logf)"
  setsid java -Xms256m -Xmx768m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
    -cp "$libs/*" kafka.Kafka "$KAFKA_PROPS" >>"$logf" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$(pid_file kafka)"

  while ((waited < KAFKA_START_TIMEOUT * 2)); do
    if ! pid_alive "$pid"; then
      rm -f "$(pid_file kafka)"
      show_log_tail kafka
      die "kafka: the broker exited during startup"
    fi
    if port_open "$KAFKA_PORT" &&
      tail -c +"$((offset + 1))" "$logf" | grep -qF "$KAFKA_STARTED_MARK"; then
      log "kafka: started (pid $pid)"
      kafka_acls
      return 0
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  show_log_tail kafka
  die "kafka: not ready after ${KAFKA_START_TIMEOUT}s (pid $pid left running; tools/meridian down stops it)"
}

# kafka_stop [--kill]: SIGTERM (SIGKILL with --kill), SIGKILL after 30 s.
kafka_stop() {
  local signal=TERM
  [[ ${1:-} == --kill ]] && signal=KILL
  stop_process kafka "kafka.Kafka $KAFKA_PROPS" "$signal" 30
}
