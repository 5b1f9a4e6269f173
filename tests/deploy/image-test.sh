#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2016  # pass always returns 0; single quotes are for the container's shell
# Builds deploy/Dockerfile for real and smoke-tests the image, without Docker and without
# Docker Hub: the two base images (debian:12, debian:12-slim) are made here from Debian's own
# packages with debootstrap and imported into a private buildah/podman storage (vfs driver,
# chroot isolation), so the Dockerfile's FROM lines resolve locally and nothing is pulled.
#
# What it verifies:
#   1. `buildah bud -f deploy/Dockerfile` (docker format, so HEALTHCHECK is kept) succeeds on a
#      clean clone of the committed HEAD (the build context honours .dockerignore; the script
#      checks that .dockerignore exists and excludes build trees);
#   2. the image's config: USER 10001:10001, ENTRYPOINT, exposed 6432/6433, the VOLUME, the
#      HEALTHCHECK; its size (printed);
#   3. inside the image: the binary runs as uid 10001 (`schemagate --version`),
#      `schemagate config check` of the bundled /etc/schemagate/schemagate.yaml passes, every
#      shared library the binary needs resolves (ldd), and there is no compiler or build tool
#      (gcc, cc, g++, c++, cpp, ld, as, make, cmake, ninja) and no -dev package;
#   4. the container, started with podman (--network host, --read-only, ENTRYPOINT and CMD as
#      the image has them plus --upstream) against a throwaway PostgreSQL 15 on 127.0.0.1:
#      the image's own HEALTHCHECK command (read from the image config) exits 0, `podman
#      healthcheck run` says healthy, `psql` through the proxy's port gets `SELECT 1`, and the
#      same HEALTHCHECK command fails in a container with no server (negative control);
#      `podman stop` (SIGTERM) ends it with exit code 0.
#
# Needs: root, Debian 12, network access to Debian's mirror (deb.debian.org), the packages
# buildah, podman, runc, debootstrap, postgresql-15, postgresql-client-15, python3 and iproute2 (installed with
# apt-get when missing; runc because crun refuses this VM's hybrid cgroup layout), and about
# 10 GB free under /tmp (vfs stores every layer as a full copy). It takes a long time: the
# build stage compiles the whole proxy in Release with SG_JOBS (default 1) jobs, all under
# `nice -n 19` and the lowest best-effort I/O priority, so that other work on the machine keeps
# priority (on a 2-core machine: about 15 minutes, 13 of them compiling).
#
# It leaves nothing behind but buildah's blob-info cache (/var/lib/containers/cache, a few
# hundred KB): its storage, podman's state, the clone and the PostgreSQL cluster are all under
# temporary directories removed at exit, even on failure or Ctrl-C.
#
# This is NOT part of the CI test command (.ci/run, tests/run-all.sh): run it by hand.
#
#   sudo bash tests/deploy/image-test.sh
#
# Environment:
#   SG_JOBS=N                 compile jobs inside the build stage (default 1)
#   SG_IMAGE_TEST_REF=REV     the commit to build (default HEAD of this checkout)
#   SG_IMAGE_TEST_WORKDIR=DIR keep everything in DIR and reuse it on the next run (the
#                             debootstrap root, the base images, buildah's layer cache); the
#                             default is a fresh temporary directory, removed at exit
#   SG_IMAGE_TEST_RUNTIME=R   the OCI runtime for podman (default runc)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
jobs=${SG_JOBS:-1}
ref=${SG_IMAGE_TEST_REF:-HEAD}
runtime=${SG_IMAGE_TEST_RUNTIME:-runc}
mirror=http://deb.debian.org/debian
image=localhost/schemagate:image-test
ctr_name=sg-image-test-$$

say() { printf '\n==> %s\n' "$*"; }
pass() { printf '  ok: %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf '  FAIL: %s\n' "$*" >&2; failed=$((failed + 1)); }
die() { printf 'image-test: %s\n' "$*" >&2; exit 1; }
passed=0
failed=0
started=$SECONDS

((EUID == 0)) || die "must run as root (debootstrap, buildah and podman with vfs storage)"
[[ -r /etc/debian_version ]] || die "needs a Debian host (debootstrap, apt-get)"

# ---------------------------------------------------------------- work dir and cleanup
if [[ -n ${SG_IMAGE_TEST_WORKDIR:-} ]]; then
  work=$SG_IMAGE_TEST_WORKDIR
  keep_work=1
  mkdir -p "$work"
else
  work=$(mktemp -d /tmp/sg-image-test.XXXXXX)
  keep_work=0
fi
work=$(realpath "$work")
pgdir=""
pgdata=""
buildah_ctrs=()
podman_ctrs=()

# Our own storage and runtime state: nothing here touches /var/lib/containers.
cat >"$work/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
cat >"$work/containers.conf" <<EOF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/events.log"
tmp_dir = "$work/libpod-tmp"
runtime = "$runtime"
EOF
export CONTAINERS_STORAGE_CONF=$work/storage.conf CONTAINERS_CONF=$work/containers.conf
export BUILDAH_ISOLATION=chroot
# Lower than the host's limits: this VM lacks CAP_SYS_RESOURCE, and the runtimes' defaults
# (1048576 files, the host's process count) are refused with EPERM.
ulimits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
low() { nice -n 19 ionice -c 2 -n 7 "$@"; }

cleanup() {
  local rc=$?
  set +e
  for c in "${podman_ctrs[@]}"; do podman rm -f -t 5 "$c" >/dev/null 2>&1; done
  for c in "${buildah_ctrs[@]}"; do buildah rm "$c" >/dev/null 2>&1; done
  if [[ -n $pgdata && -f $pgdata/postmaster.pid ]]; then
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$pgdata" -m fast -w stop >/dev/null 2>&1
  fi
  [[ -n $pgdir ]] && rm -rf "$pgdir"
  if ((keep_work == 0)); then
    # Our storage only (CONTAINERS_STORAGE_CONF): remove every container and image in it,
    # then anything still mounted below the work dir, then the dir.
    podman rm -a -f >/dev/null 2>&1
    buildah rm -a >/dev/null 2>&1
    buildah rmi -a -f >/dev/null 2>&1
    findmnt -rno TARGET | grep -F "$work/" | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$work"
  else
    echo "image-test: work dir kept: $work (CONTAINERS_STORAGE_CONF=$work/storage.conf)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. tools
say "tools"
need=()
command -v buildah >/dev/null || need+=(buildah)
command -v podman >/dev/null || need+=(podman)
command -v "$runtime" >/dev/null || need+=("$runtime")
command -v debootstrap >/dev/null || need+=(debootstrap)
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || need+=(postgresql-15)
command -v psql >/dev/null || need+=(postgresql-client-15)
command -v python3 >/dev/null || need+=(python3)
command -v ss >/dev/null || need+=(iproute2)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive low apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
echo "$(buildah --version); $(podman --version); $("$runtime" --version | head -1); debootstrap $(dpkg-query -W -f '${Version}' debootstrap)"

# ---------------------------------------------------------------- 2. base images
# debian:12 as the official image is made: a minbase bookworm with the security and updates
# suites, upgraded, apt lists dropped, CMD bash. debian:12-slim: the same with the official
# slim variant's dpkg path excludes (docs but copyright, man, info, groff, lintian, locales).
say "base images: docker.io/library/debian:12 and :12-slim from debootstrap"
t0=$SECONDS
have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }
if ! have_image docker.io/library/debian:12 || ! have_image docker.io/library/debian:12-slim; then
  if [[ ! -x $work/rootfs/bin/bash ]]; then
    rm -rf "$work/rootfs"
    low debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
      { tail -20 "$work/debootstrap.log"; die "debootstrap failed"; }
  fi
  c=$(buildah from scratch)
  buildah_ctrs+=("$c")
  m=$(buildah mount "$c")
  tar -C "$work/rootfs" -cf - . | tar -C "$m" -xf -
  rm -f "$m/etc/apt/sources.list"
  cat >"$m/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  : >"$m/etc/resolv.conf"
  : >"$m/etc/hostname"
  rm -f "$m/etc/machine-id" "$m/var/lib/dbus/machine-id"
  buildah umount "$c" >/dev/null
  low buildah run "$c" -- sh -c 'export DEBIAN_FRONTEND=noninteractive;
    apt-get update -q && apt-get -y -q upgrade && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log' \
    >"$work/base-upgrade.log" 2>&1 || { tail -20 "$work/base-upgrade.log"; die "apt-get upgrade in the base image failed"; }
  buildah config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --os linux --arch amd64 "$c"
  buildah commit -q --squash --rm "$c" docker.io/library/debian:12 >/dev/null
  buildah_ctrs=()

  c=$(buildah from --pull-never docker.io/library/debian:12)
  buildah_ctrs+=("$c")
  buildah run "$c" -- sh -c 'cat >/etc/dpkg/dpkg.cfg.d/docker <<EOF
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
    find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
    find /usr/share/doc -mindepth 1 -type d -empty -delete
    rm -rf /usr/share/groff/* /usr/share/info/* /usr/share/linda/* /usr/share/lintian/overrides/* /usr/share/locale/* /usr/share/man/*'
  buildah commit -q --squash --rm "$c" docker.io/library/debian:12-slim >/dev/null
  buildah_ctrs=()
fi
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep 'library/debian' | sed 's/^/  /'
base_secs=$((SECONDS - t0))
c=$(buildah from --pull-never docker.io/library/debian:12-slim)
buildah_ctrs+=("$c")
if buildah run "$c" -- sh -c 'grep -q bookworm-security /etc/apt/sources.list.d/debian.sources && . /etc/os-release && [ "$VERSION_ID" = 12 ]'; then
  pass "debian:12-slim is Debian 12 with bookworm, -updates and -security sources"
else
  fail "debian:12-slim base image is not as expected"
fi
buildah rm "$c" >/dev/null
buildah_ctrs=()

# ---------------------------------------------------------------- 3. build
say "build context: git clone of $ref"
rm -rf "$work/src"
git clone -q "$root" "$work/src"
git -C "$work/src" checkout -q --detach "$ref"
commit=$(git -C "$work/src" rev-parse --short HEAD)
[[ -f $work/src/.dockerignore ]] || die ".dockerignore is missing: the build context would include build trees"
grep -qxF 'build*' "$work/src/.dockerignore" || die ".dockerignore does not exclude build* (build trees)"
grep -qxF '.git' "$work/src/.dockerignore" || die ".dockerignore does not exclude .git"
trees=$(find "$root" -maxdepth 1 -name 'build*' -printf '%f ')
echo "  commit $commit; clone without .git: $(du -sh --exclude=.git "$work/src" | cut -f1)"
echo "  build trees in $root (excluded by .dockerignore): ${trees:-none}"

say "build: buildah bud -f deploy/Dockerfile --build-arg SG_JOBS=$jobs (nice -n 19)"
t0=$SECONDS
# --format docker: the OCI image format has no HEALTHCHECK (buildah would drop it with a warning).
if ! low buildah bud --pull-never --isolation chroot --layers --format docker \
    -f deploy/Dockerfile --build-arg SG_JOBS="$jobs" -t "$image" "$work/src" >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log"
  die "the image build failed (log: $work/build.log)"
fi
build_secs=$((SECONDS - t0))
{ grep -E '^(\[[0-9]+/[0-9]+\] )?(STEP|COMMIT)' "$work/build.log" || true; } | sed 's/^/  /' | cut -c1-150
if grep -qi 'HEALTHCHECK is not supported' "$work/build.log"; then fail "buildah dropped the HEALTHCHECK"; fi
pass "image built in $((build_secs / 60)) min $((build_secs % 60)) s"

# ---------------------------------------------------------------- 4. the image
say "image"
size=$(buildah images --format '{{.Size}}' "$image")
echo "  $image: $size (base debian:12-slim: $(buildah images --format '{{.Size}}' docker.io/library/debian:12-slim))"
buildah inspect --type image "$image" >"$work/image.json"
# cfg EXPR: a Python expression over the image's Docker config (c), printed as JSON.
cfg() { python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["Docker"]["config"]; print(json.dumps(eval(sys.argv[2])))' "$work/image.json" "$1"; }
[[ $(cfg 'c["User"]') == '"10001:10001"' ]] && pass "USER 10001:10001" || fail "USER is $(cfg 'c["User"]')"
[[ $(cfg 'c["Entrypoint"]') == '["schemagate", "serve"]' ]] && pass "ENTRYPOINT schemagate serve" || fail "ENTRYPOINT is $(cfg 'c["Entrypoint"]')"
[[ $(cfg 'c["Cmd"]') == '["--config", "/etc/schemagate/schemagate.yaml"]' ]] && pass "CMD --config /etc/schemagate/schemagate.yaml" || fail "CMD is $(cfg 'c["Cmd"]')"
[[ $(cfg 'sorted(c.get("ExposedPorts") or {})') == '["6432/tcp", "6433/tcp"]' ]] && pass "EXPOSE 6432 6433" || fail "exposed ports: $(cfg 'c.get("ExposedPorts")')"
[[ $(cfg 'sorted(c.get("Volumes") or {})') == '["/var/lib/schemagate"]' ]] && pass "VOLUME /var/lib/schemagate" || fail "volumes: $(cfg 'c.get("Volumes")')"
[[ $(cfg 'c.get("StopSignal")') == '"SIGTERM"' ]] && pass "STOPSIGNAL SIGTERM" || fail "stop signal: $(cfg 'c.get("StopSignal")')"
# ["CMD","bash","-c",SCRIPT]: the script exactly as the image has it (docker format only: the
# OCI format has no HEALTHCHECK).
health_cmd=$(python3 -c 'import json,sys; t=(json.load(open(sys.argv[1]))["Docker"]["config"].get("Healthcheck") or {}).get("Test"); assert t and t[:3]==["CMD","bash","-c"], t; print(t[3])' "$work/image.json") ||
  die "the image has no HEALTHCHECK of the expected form"
pass "HEALTHCHECK kept ($(cfg '[c["Healthcheck"][k] // 10**9 for k in ("Interval","Timeout","StartPeriod")] + [c["Healthcheck"]["Retries"]]') = interval, timeout, start period in s, retries): bash -c '$health_cmd'"

c=$(buildah from --pull-never "$image")
buildah_ctrs+=("$c")
in_image() { buildah run "$c" -- "$@"; }
[[ $(in_image id -u) == 10001 ]] && pass "runs as uid 10001" || fail "runs as uid $(in_image id -u)"
if version=$(in_image schemagate --version); then pass "schemagate --version as uid 10001: $version"; else fail "schemagate --version"; fi
if out=$(in_image schemagate config check /etc/schemagate/schemagate.yaml 2>&1); then
  pass "schemagate config check /etc/schemagate/schemagate.yaml: $(echo "$out" | tail -1)"
else
  fail "config check: $out"
fi
missing=$(in_image sh -c 'ldd /usr/bin/schemagate | grep "not found" || true')
[[ -z $missing ]] && pass "every shared library of /usr/bin/schemagate resolves ($(in_image sh -c 'ldd /usr/bin/schemagate | wc -l') entries)" ||
  fail "missing libraries: $missing"
tools=$(in_image sh -c 'for t in gcc cc g++ c++ cpp ld as make cmake ninja; do command -v $t || true; done')
[[ -z $tools ]] && pass "no compiler or build tool (gcc cc g++ c++ cpp ld as make cmake ninja)" || fail "build tools present: $tools"
dev=$(in_image dpkg-query -W -f '${Package}\n' | grep -E -- '-dev$|^(gcc|g\+\+|cpp|make|cmake|ninja-build|build-essential)(-[0-9]+)?$|^binutils' || true)
[[ -z $dev ]] && pass "no -dev or toolchain package ($(in_image dpkg-query -W -f '.\n' | wc -l) packages installed)" || fail "packages: $dev"
buildah rm "$c" >/dev/null
buildah_ctrs=()

# ---------------------------------------------------------------- 5. run it
say "run: podman ($runtime) against a throwaway PostgreSQL 15"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
busy() { [[ -n $(ss -Hltn "sport = :$1") ]]; }
pgdir=$(mktemp -d /tmp/sg-image-test-pg.XXXXXX)
chown postgres: "$pgdir"
pgdata=$pgdir/data
pgport=$(free_port)
runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D "$pgdata" -U postgres -A trust >"$pgdir/initdb.log" 2>&1 ||
  { cat "$pgdir/initdb.log"; die "initdb failed"; }
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$pgdata" -l "$pgdir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pgport -k $pgdir" start >/dev/null || { cat "$pgdir/server.log"; die "PostgreSQL did not start"; }
echo "  PostgreSQL $(psql -h 127.0.0.1 -p "$pgport" -U postgres -XAtc 'SHOW server_version') on 127.0.0.1:$pgport"

# The image's own ports with --network host when they are free; otherwise others, passed as
# flags, and the HEALTHCHECK's port rewritten the same way.
port=6432
admin=6433
args=(--config /etc/schemagate/schemagate.yaml --upstream "127.0.0.1:$pgport")
if busy $port || busy $admin; then
  port=$(free_port)
  admin=$(free_port)
  args+=(--listen "0.0.0.0:$port" --admin "0.0.0.0:$admin")
  health_cmd=${health_cmd//\/dev\/tcp\/127.0.0.1\/6433//dev/tcp/127.0.0.1/$admin}
  echo "  6432/6433 are in use on this host: using $port/$admin"
fi
run_opts=(--network host "${ulimits[@]}")
podman_ctrs+=("$ctr_name")
# --health-interval disable: no systemd here for podman's health timers; the checks below run
# the HEALTHCHECK by hand (podman exec, podman healthcheck run).
podman run -d --name "$ctr_name" "${run_opts[@]}" --read-only --health-interval disable "$image" "${args[@]}" >/dev/null 2>>"$work/podman.log" ||
  { cat "$work/podman.log"; die "podman run failed"; }
healthy=0
for _ in $(seq 100); do
  if podman exec "$ctr_name" bash -c "$health_cmd" 2>/dev/null; then healthy=1; break; fi
  [[ $(podman inspect --format '{{.State.Running}}' "$ctr_name") == true ]] || break
  sleep 0.2
done
if ((healthy)); then pass "the image's HEALTHCHECK command exits 0 inside the running container"; else
  fail "HEALTHCHECK command never succeeded"; podman logs "$ctr_name" 2>&1 | tail -20
fi
if ((admin == 6433)); then
  if podman healthcheck run "$ctr_name" >/dev/null 2>&1; then
    status=$(podman inspect --format '{{.State.Health.Status}}' "$ctr_name" 2>/dev/null || podman inspect --format '{{.State.Healthcheck.Status}}' "$ctr_name")
    [[ $status == healthy ]] && pass "podman healthcheck run: $status" || fail "podman health status: $status"
  else
    fail "podman healthcheck run failed"
  fi
fi
[[ $(podman exec "$ctr_name" stat -c %u /proc/1) == 10001 ]] && pass "schemagate serve runs as uid 10001 (PID 1 of the container)" ||
  fail "PID 1 runs as uid $(podman exec "$ctr_name" stat -c %u /proc/1)"
if [[ $(psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtc 'SELECT 1' 2>&1) == 1 ]]; then
  pass "psql through the proxy (127.0.0.1:$port): SELECT 1"
else
  fail "psql through the proxy: $(psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtc 'SELECT 1' 2>&1)"
fi
written=$(podman exec "$ctr_name" sh -c 'ls /var/lib/schemagate' | tr '\n' ' ')
echo "  state volume /var/lib/schemagate (read-only root): $written"
podman stop -t 45 "$ctr_name" >/dev/null 2>>"$work/podman.log"
code=$(podman inspect --format '{{.State.ExitCode}}' "$ctr_name")
[[ $code == 0 ]] && pass "podman stop (SIGTERM): exit code 0" || { fail "exit code after SIGTERM: $code"; podman logs "$ctr_name" 2>&1 | tail -20; }
podman rm -f "$ctr_name" >/dev/null 2>>"$work/podman.log"
podman_ctrs=()
# Negative control: the same command with no server listening must fail.
if podman run --rm --network none "${ulimits[@]}" --entrypoint bash "$image" -c "$health_cmd" >/dev/null 2>&1; then
  fail "the HEALTHCHECK command succeeded with no server (it cannot tell)"
else
  pass "the HEALTHCHECK command fails with no server (negative control)"
fi

runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$pgdata" -m fast -w stop >/dev/null
pgdata=""

# ---------------------------------------------------------------- summary
say "summary: image $size, base images $((base_secs / 60)) min, build $((build_secs / 60)) min $((build_secs % 60)) s, total $(((SECONDS - started) / 60)) min"
echo "image-test: $passed passed, $failed failed"
((failed == 0))
