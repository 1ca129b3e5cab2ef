#!/usr/bin/env bash
# Builds the Docker images of the Docker path (docker-compose.yml, the testkit's Testcontainers servers) on this
# machine, without pulling from any container registry:
#
#   outbox-bridge/debian:trixie          Debian trixie minbase: debootstrap + docker import
#   outbox-bridge/jre:21                 + openjdk-21-jre-headless (shared by the two images below)
#   outbox-bridge/postgres:17            PostgreSQL 17, wal_level=logical, entrypoint like the official image
#   outbox-bridge/kafka:<kafka.version>  single-node KRaft broker from the Maven Central broker jars
#   outbox-bridge/relay:<version>, :latest  the relay sidecar (relay-app jar + lib), non-root, /health/ready
#   outbox-bridge/demo:<version>, :latest   the demo: the compose stack's migrations step and workload
#
# Usage: docker/build-images.sh [--rebuild] [--skip-build] [--no-relay]
#   --rebuild     rebuild every image without the layer cache (the cached Debian root filesystem is kept; delete
#                 ${XDG_CACHE_HOME:-~/.cache}/outbox-bridge to download it again)
#   --skip-build  do not run Maven for the relay image: use relay-app/target as it is
#   --no-relay    build the server images only (not the relay and demo images)
# Images that exist are skipped (idempotent). Maven runs through the wrapper; add arguments with MVN_ARGS, e.g.
#   MVN_ARGS="-Dmaven.repo.local=/path/to/repo" docker/build-images.sh
# Debian packages come from DEBIAN_MIRROR (default http://deb.debian.org/debian).
# On a machine that can pull, the first two steps can come from a registry instead (no debootstrap, no root):
#   OUTBOX_BASE_IMAGE=debian:trixie            a Debian trixie image for the PostgreSQL and Java runtime images
#   OUTBOX_JRE_IMAGE=eclipse-temurin:21-jre    a Java 17+ runtime image with bash, curl and useradd
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/outbox-bridge
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
REBUILD=false SKIP_BUILD=false RELAY=true
for arg in "$@"; do
  case $arg in
    --rebuild) REBUILD=true ;;
    --skip-build) SKIP_BUILD=true ;;
    --no-relay) RELAY=false ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-images.sh: unknown argument '$arg'. Fix: use --rebuild, --skip-build, --no-relay or --help." >&2; exit 2 ;;
  esac
done

log() { printf '[build-images %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'build-images.sh: %s\n' "$*" >&2; exit 1; }

command -v docker > /dev/null \
  || die "the docker command is not installed. Fix: install Docker (e.g. apt-get install docker.io) and start its daemon; the default build and tests do not need it."
if ! docker info > /dev/null 2>&1; then
  reason=$(docker info 2>&1 | grep -m1 -i -E 'error|cannot' || true)
  die "the Docker daemon is not running or not reachable (${reason:-docker info failed}). Fix: start it (systemctl start docker, or dockerd &) and check that this user may use it."
fi

# one version of everything: the root pom's
PROJECT_VERSION=$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' "$ROOT/pom.xml" | head -1)
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/pom.xml" | head -1)
LOG4J_VERSION=$(sed -n 's:.*<log4j.version>\(.*\)</log4j.version>.*:\1:p' "$ROOT/pom.xml" | head -1)
SLF4J_VERSION=$(sed -n 's:.*<slf4j.version>\(.*\)</slf4j.version>.*:\1:p' "$ROOT/pom.xml" | head -1)
[ -n "$PROJECT_VERSION" ] && [ -n "$KAFKA_VERSION" ] && [ -n "$LOG4J_VERSION" ] && [ -n "$SLF4J_VERSION" ] \
  || die "cannot read the project's version, kafka.version, log4j.version or slf4j.version from $ROOT/pom.xml."


BASE_IMAGE=${OUTBOX_BASE_IMAGE:-outbox-bridge/debian:trixie}
JRE_IMAGE=${OUTBOX_JRE_IMAGE:-outbox-bridge/jre:21}
POSTGRES_IMAGE=outbox-bridge/postgres:17
KAFKA_IMAGE=outbox-bridge/kafka:$KAFKA_VERSION
RELAY_IMAGE=outbox-bridge/relay:$PROJECT_VERSION
DEMO_IMAGE=outbox-bridge/demo:$PROJECT_VERSION
READY_FILE=${OUTBOX_DOCKER_READY_FILE:-}

exists() { docker image inspect "$1" > /dev/null 2>&1; }
wanted() { $REBUILD || ! exists "$1"; }
mvnw() { (cd "$ROOT" && ./mvnw -B -ntp ${MVN_ARGS:-} "$@"); }
build() { # image context dockerfile [build args...]
  local image=$1 context=$2 dockerfile=$3; shift 3
  log "building $image"
  local start=$SECONDS
  local no_cache=()
  $REBUILD && no_cache=(--no-cache)
  docker build --pull=false "${no_cache[@]}" -t "$image" -f "$dockerfile" "$@" "$context"
  log "built $image in $((SECONDS - start)) s"
}
started=$SECONDS

# 1. Debian base: debootstrap once into a cached tarball, then docker import
if [ -z "${OUTBOX_BASE_IMAGE:-}" ] && wanted "$BASE_IMAGE"; then
  tarball=$CACHE/debian-trixie-minbase.tar
  if [ ! -s "$tarball" ]; then
    command -v debootstrap > /dev/null \
      || die "debootstrap is not installed and $tarball is not cached. Fix: apt-get install debootstrap (it builds the Debian base image; no registry is used)."
    [ "$(id -u)" = 0 ] || die "debootstrap needs root to build the Debian root filesystem. Fix: run this script as root once (the tarball is cached in $CACHE)."
    mkdir -p "$CACHE"
    rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    log "debootstrap --variant=minbase trixie from $DEBIAN_MIRROR (about a minute)"
    debootstrap --variant=minbase trixie "$rootfs" "$DEBIAN_MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
      || { rm -rf "$rootfs"; die "debootstrap failed; see $CACHE/debootstrap.log. Fix: check that $DEBIAN_MIRROR is reachable (or set DEBIAN_MIRROR)."; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  log "importing $tarball as $BASE_IMAGE"
  docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' "$tarball" "$BASE_IMAGE" > /dev/null
fi

# 2. the shared Java runtime
[ -z "${OUTBOX_JRE_IMAGE:-}" ] && wanted "$JRE_IMAGE" && build "$JRE_IMAGE" "$ROOT/docker/jre" "$ROOT/docker/jre/Dockerfile" --build-arg "BASE_IMAGE=$BASE_IMAGE"

# 3. PostgreSQL 17
wanted "$POSTGRES_IMAGE" && build "$POSTGRES_IMAGE" "$ROOT/docker/postgres" "$ROOT/docker/postgres/Dockerfile" --build-arg "BASE_IMAGE=$BASE_IMAGE"

# 4. Kafka: the broker jars from Maven Central through the wrapper, into an ignored build context directory
if wanted "$KAFKA_IMAGE"; then
  libs=$ROOT/docker/kafka/libs
  if [ ! -f "$libs/kafka_2.13-$KAFKA_VERSION.jar" ]; then
    log "copying the Kafka $KAFKA_VERSION broker jars (Maven)"
    rm -rf "$libs"
    mvnw -q -f docker/kafka/pom.xml dependency:copy-dependencies -Dkafka.version="$KAFKA_VERSION" \
         -Dlog4j.version="$LOG4J_VERSION" -Dslf4j.version="$SLF4J_VERSION" -DincludeScope=runtime -DoutputDirectory="$libs"
  fi
  build "$KAFKA_IMAGE" "$ROOT/docker/kafka" "$ROOT/docker/kafka/Dockerfile" \
        --build-arg "JRE_IMAGE=$JRE_IMAGE" --build-arg "KAFKA_VERSION=$KAFKA_VERSION"
fi

write_ready() {
  [ -n "$READY_FILE" ] || return 0
  printf '%s\n' "$@" > "$READY_FILE.tmp" && mv "$READY_FILE.tmp" "$READY_FILE"
}
write_ready "$POSTGRES_IMAGE" "$KAFKA_IMAGE"

# 5. the relay and the demo: their jars and lib/ directories (Maven builds them unless --skip-build)
if $RELAY; then
  if wanted "$RELAY_IMAGE" || wanted "$DEMO_IMAGE" || ! exists outbox-bridge/relay:latest || ! exists outbox-bridge/demo:latest; then
    relay_jar=outbox-relay-app-$PROJECT_VERSION.jar
    demo_jar=outbox-demo-$PROJECT_VERSION.jar
    if ! $SKIP_BUILD; then
      log "building relay-app, the demo and the modules they need (Maven, tests skipped)"
      mvnw -q -DskipTests -pl relay-app,demo -am package
    fi
    for module in relay-app/target/$relay_jar demo/target/$demo_jar; do
      [ -f "$ROOT/$module" ] && [ -d "$ROOT/$(dirname "$module")/lib" ] \
        || die "$module or its lib/ directory is missing. Fix: run without --skip-build (or ./mvnw -DskipTests -pl relay-app,demo -am package)."
    done
    build "$RELAY_IMAGE" "$ROOT/relay-app/target" "$ROOT/docker/relay/Dockerfile" \
          --build-arg "JRE_IMAGE=$JRE_IMAGE" --build-arg "RELAY_JAR=$relay_jar"
    docker tag "$RELAY_IMAGE" outbox-bridge/relay:latest
    build "$DEMO_IMAGE" "$ROOT/demo/target" "$ROOT/docker/demo/Dockerfile" \
          --build-arg "JRE_IMAGE=$JRE_IMAGE" --build-arg "DEMO_JAR=$demo_jar"
    docker tag "$DEMO_IMAGE" outbox-bridge/demo:latest
  fi
  write_ready "$POSTGRES_IMAGE" "$KAFKA_IMAGE" "$RELAY_IMAGE" outbox-bridge/relay:latest "$DEMO_IMAGE" outbox-bridge/demo:latest
fi

log "done in $((SECONDS - started)) s:"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep '^outbox-bridge/' | sort | sed 's/^/  /'
