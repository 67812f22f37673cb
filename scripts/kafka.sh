#!/usr/bin/env bash
# A local single-node Apache Kafka 4 broker in KRaft mode, from Maven Central jars.
#
#   scripts/kafka.sh start|stop|status
#
# start: installs Java 17 and Maven (apt-get) if missing, resolves the broker's
#   jars once into .cache/kafka-<version>/libs (scripts/kafka/pom.xml), formats
#   .local/kafka/data once, starts the broker in the background and waits (60 s)
#   until it logs "Kafka Server started" and its port accepts connections.
#   A no-op when it already runs. Logs: .local/kafka/server.log (previous run's:
#   server.log.prev; Maven's: maven.log).
# stop: SIGTERM, then SIGKILL after 30 s. status: exit 0 if running, else 3.
# All are idempotent; start and stop hold a lock, so concurrent callers are safe.
#
# Reads CRM_KAFKA_PORT (19092), CRM_KAFKA_CONTROLLER_PORT (19093), CRM_KAFKA_HEAP
# (-Xms256m -Xmx768m), and CRM_LOCAL_DIR / CRM_CACHE_DIR via env.sh.
# After changing a port: `scripts/kafka.sh stop && rm -rf .local/kafka`, so the
# storage is formatted again for the new listeners (this drops the topics).
source "$(dirname "$0")/env.sh"

KAFKA_VERSION=4.1.1
PORT="${CRM_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${CRM_KAFKA_CONTROLLER_PORT:-19093}"
HEAP="${CRM_KAFKA_HEAP:--Xms256m -Xmx768m}"
LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
HOME_DIR="$LOCAL_DIR/kafka"
PID_FILE="$HOME_DIR/kafka.pid"
CONFIG="$HOME_DIR/server.properties"
LOG="$HOME_DIR/server.log"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
# The pid file's process, if it is alive and still our broker (pids get reused).
running() {
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
  [[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" == *"kafka.Kafka $CONFIG"* ]]
}

# The config file of a broker started by another checkout of this project on our
# port: tests and tools use topics of their own, so sharing it is safe.
other_checkouts_broker() {
  local pid config
  for pid in $(pgrep -f "kafka[.]Kafka .*/kafka/server[.]properties"); do
    config=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | tail -n 1)
    if grep -qx "listeners=PLAINTEXT://127.0.0.1:$PORT,.*" "$config" 2>/dev/null; then
      echo "$config"; return 0
    fi
  done
  return 1
}

install_tools() {
  # Kafka 4 needs Java 17 or newer.
  [[ "$(java -version 2>&1)" =~ version\ \"(1[7-9]|[2-9][0-9]) ]] && command -v mvn >/dev/null && return
  echo "==> installing Java 17 and Maven (apt-get)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >&2
}

resolve_jars() {
  [ -f "$LIBS/.complete" ] && return
  echo "==> resolving Kafka $KAFKA_VERSION jars from Maven Central into $LIBS" >&2
  rm -rf "$LIBS"
  mvn -B -f "$REPO_ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime >"$HOME_DIR/maven.log" 2>&1 \
    || { tail -n 40 "$HOME_DIR/maven.log" >&2; echo "resolving the Kafka jars failed" >&2; exit 1; }
  touch "$LIBS/.complete"
}

write_config() {
  cat >"$CONFIG" <<PROPS
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

# Kafka's Java entry points, logging through log4j2 into $LOG (never the NOP logger).
java_run() { java -Dkafka.logs.dir="$HOME_DIR" \
  -Dlog4j2.configurationFile="$REPO_ROOT/scripts/kafka/log4j2.properties" -cp "$LIBS/*" "$@"; }

wait_ready() {
  for _ in $(seq 1 120); do
    if port_open && grep -q "Kafka Server started" "$LOG" 2>/dev/null; then return; fi
    # Alive is enough here: right after the launch, /proc/PID/cmdline can read as the
    # nohup/setsid wrapper mid-exec, and the cmdline check of `running` would give up.
    kill -0 "$(cat "$PID_FILE" 2>/dev/null)" 2>/dev/null || break
    sleep 0.5
  done
  echo "kafka did not start on 127.0.0.1:$PORT; last lines of $LOG:" >&2
  tail -n 40 "$LOG" >&2 || true
  tail -n 20 "$HOME_DIR/stdout.log" >&2 || true
  exit 1
}

start() {
  if running; then
    wait_ready   # a broker still starting up (e.g. launched by a concurrent caller)
    echo "kafka already running on 127.0.0.1:$PORT"; return
  fi
  if port_open; then
    local other
    if other=$(other_checkouts_broker); then  # e.g. CI in a fresh clone on a dev machine
      echo "kafka already running on 127.0.0.1:$PORT (another checkout's: $other)"; return
    fi
    echo "port $PORT is taken by a process that is not this project's broker" >&2; exit 1
  fi
  install_tools
  resolve_jars
  mkdir -p "$HOME_DIR/data"
  write_config
  [ -f "$LOG" ] && mv -f "$LOG" "$LOG.prev"   # so the readiness check reads this run only
  if [ ! -f "$HOME_DIR/data/meta.properties" ]; then
    cluster_id=$(java_run kafka.tools.StorageTool random-uuid)
    java_run kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$CONFIG" >/dev/null
  fi
  # setsid: Ctrl-C in the caller's terminal does not reach the broker; 9>&- : nor does our lock.
  # shellcheck disable=SC2086
  nohup setsid java $HEAP -Dkafka.logs.dir="$HOME_DIR" \
    -Dlog4j2.configurationFile="$REPO_ROOT/scripts/kafka/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$CONFIG" </dev/null >"$HOME_DIR/stdout.log" 2>&1 9>&- &
  echo $! >"$PID_FILE"
  wait_ready
  echo "kafka started on 127.0.0.1:$PORT"
}

stop() {
  if ! running; then rm -f "$PID_FILE"; echo "kafka is not running"; return; fi
  local pid
  pid=$(cat "$PID_FILE")
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then echo "kafka did not stop in 30 s; killing it" >&2; kill -9 "$pid"; fi
  rm -f "$PID_FILE"; echo "kafka stopped"
}

mkdir -p "$HOME_DIR"
case "${1:-}" in
  start|stop) exec 9>"$HOME_DIR/.lock"; flock 9; "$1" ;;
  status) if running && port_open; then echo "kafka running on 127.0.0.1:$PORT"; else echo "kafka not running"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
