#!/usr/bin/env bash
# A local single-node Apache Kafka 4 broker in KRaft mode, from Maven Central jars.
#
#   scripts/kafka.sh start|stop|status
#
# start: installs Java 17 and Maven if missing, resolves the broker's jars once
# into .cache/kafka-<version>/libs, formats .local/kafka/data once, starts the
# broker in the background and waits until it accepts connections. Idempotent.
# Reads CRM_KAFKA_PORT (19092), CRM_KAFKA_CONTROLLER_PORT (19093) and
# CRM_KAFKA_HEAP (-Xms256m -Xmx768m). After changing a port: stop, then remove
# .local/kafka so the storage is formatted for the new listeners.
source "$(dirname "$0")/env.sh"

KAFKA_VERSION=4.1.1
PORT="${CRM_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${CRM_KAFKA_CONTROLLER_PORT:-19093}"
HEAP="${CRM_KAFKA_HEAP:--Xms256m -Xmx768m}"
LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
HOME_DIR="$LOCAL_DIR/kafka"
PID_FILE="$HOME_DIR/kafka.pid"
CONFIG="$HOME_DIR/server.properties"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

install_tools() {
  command -v java >/dev/null && command -v mvn >/dev/null && return
  echo "==> installing Java 17 and Maven (apt-get)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >&2
}

resolve_jars() {
  [ -f "$LIBS/.complete" ] && return
  echo "==> resolving Kafka $KAFKA_VERSION jars from Maven Central into ${LIBS#$REPO_ROOT/}" >&2
  rm -rf "$LIBS"
  mkdir -p "$HOME_DIR"
  mvn -B -f "$REPO_ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime >"$HOME_DIR/maven.log" 2>&1 \
    || { tail -n 40 "$HOME_DIR/maven.log" >&2; echo "resolving the Kafka jars failed" >&2; exit 1; }
  touch "$LIBS/.complete"
}

write_config() {
  mkdir -p "$HOME_DIR/data"
  cat > "$CONFIG" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$HOME_DIR/data
num.partitions=4
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
delete.topic.enable=true
PROPS
}

java_run() { java -Dkafka.logs.dir="$HOME_DIR" \
  -Dlog4j2.configurationFile="$REPO_ROOT/scripts/kafka/log4j2.properties" -cp "$LIBS/*" "$@"; }

start() {
  if running && port_open; then echo "kafka already running on 127.0.0.1:$PORT"; return; fi
  install_tools
  resolve_jars
  write_config
  if [ ! -f "$HOME_DIR/data/meta.properties" ]; then
    cluster_id=$(java_run kafka.tools.StorageTool random-uuid)
    java_run kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$CONFIG" >/dev/null
  fi
  # shellcheck disable=SC2086
  nohup setsid java $HEAP -Dkafka.logs.dir="$HOME_DIR" \
    -Dlog4j2.configurationFile="$REPO_ROOT/scripts/kafka/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$CONFIG" >"$HOME_DIR/stdout.log" 2>&1 &
  echo $! > "$PID_FILE"
  for _ in $(seq 1 120); do
    if port_open && grep -q "Kafka Server started" "$HOME_DIR/server.log" 2>/dev/null; then
      echo "kafka started on 127.0.0.1:$PORT"; return
    fi
    running || break
    sleep 0.5
  done
  echo "kafka did not start; last lines of its logs:" >&2
  tail -n 40 "$HOME_DIR/server.log" "$HOME_DIR/stdout.log" >&2 || true
  exit 1
}

stop() {
  if ! running; then echo "kafka is not running"; rm -f "$PID_FILE"; return; fi
  pid=$(cat "$PID_FILE"); kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"; echo "kafka stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running && port_open; then echo "kafka running on 127.0.0.1:$PORT"; else echo "kafka not running"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
