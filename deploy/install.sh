#!/usr/bin/env bash
# Install or upgrade one wa-monitor environment from this checkout. Safe to run again.
#
#   deploy/install.sh prod|dev [--root DIR]     install / upgrade (a new release, same config)
#   deploy/install.sh prod|dev --rollback       point the service back at the previous release
#
# What it lays down (under DIR when --root is given; on this host otherwise):
#   /opt/wa-monitor/ENV/releases/VERSION-HASH/  a virtualenv with the package, one per source
#   /opt/wa-monitor/ENV/venv -> releases/...    the release the unit runs; `previous` the one before
#   /opt/wa-monitor/ENV/logs/                   the only place the service writes (wa-monitor, 0750)
#   /etc/wa-monitor/ENV.toml                    the config (root:wa-monitor 0640), kept if present;
#                                               a changed shipped default goes to ENV.toml.dist
#   /etc/wa-monitor/ENV.env                     WA_MONITOR_DATABASE_URL (root 0600), kept if present
#   /etc/wa-monitor/ENV-web.env                 the dashboard's WA_MONITOR_DATABASE_URL (root 0600)
#   /etc/wa-monitor/ENV-web.secret              the dashboard's session key, made once (root 0600)
#   /etc/systemd/system/wa-monitor-ENV.service  the unit;  /etc/logrotate.d/wa-monitor  rotation
#   prod only, the SharePoint sync (installed, not enabled: it needs [sharepoint] and its secret):
#   /etc/systemd/system/wa-monitor-sync-prod.{service,timer}
#   /etc/wa-monitor/sync-prod.env               the sync role's URL and the app's client secret
#                                               (root 0600), kept if present
#   /etc/systemd/system/wa-monitor-web-ENV.service  the dashboard's unit
#
# --root DIR stages the tree without touching the host: no user is created, nothing is chowned,
# systemctl is not called (each skipped step is printed), and the virtualenv's scripts name
# DIR/opt/... in their #! lines, so a staged tree is for inspection, not for copying to a host.
# It never starts or restarts the service, and never touches the database: see the README's
# "Deployment" section for the schema migration and the restart.
set -euo pipefail

usage() { echo "usage: $0 prod|dev [--root DIR] [--rollback]" >&2; exit 2; }

ENV_NAME="" ROOT="" ROLLBACK=""
while [ $# -gt 0 ]; do
    case "$1" in
        prod|dev) ENV_NAME=$1 ;;
        --root) [ $# -ge 2 ] || usage; ROOT=${2%/}; shift ;;
        --root=*) ROOT=${1#--root=}; ROOT=${ROOT%/} ;;
        --rollback) ROLLBACK=1 ;;
        *) usage ;;
    esac
    shift
done
[ -n "$ENV_NAME" ] || usage
if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT=$(cd "$ROOT" && pwd)
fi

SERVICE_USER=wa-monitor
UNIT=wa-monitor-$ENV_NAME.service
WEB_UNIT=wa-monitor-web-$ENV_NAME.service
CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
BASE=$ROOT/opt/wa-monitor/$ENV_NAME
ETC=$ROOT/etc/wa-monitor

say() { printf 'install.sh %s: %s\n' "$ENV_NAME" "$*"; }

# Steps that change the host's users, ownership or service manager: skipped in a staging root.
on_host() {
    if [ -n "$ROOT" ]; then
        say "staging root, skipped: $*"
    else
        "$@"
    fi
}

# Point LINK at TARGET in one rename, so the unit never sees a missing or half-made link.
relink() {
    ln -sfn "$2" "$1.new"
    mv -Tf "$1.new" "$1"
}

if [ -n "$ROLLBACK" ]; then
    previous=$(readlink "$BASE/previous" 2>/dev/null) || { say "no previous release to roll back to"; exit 1; }
    current=$(readlink "$BASE/venv")
    relink "$BASE/venv" "$previous"
    relink "$BASE/previous" "$current"
    say "now on $previous (was $current)"
    on_host systemctl try-restart "$UNIT" "$WEB_UNIT"
    exit 0
fi

# -- the user and the directories ---------------------------------------------------------
if [ -z "$ROOT" ] && ! getent passwd "$SERVICE_USER" >/dev/null; then
    useradd --system --user-group --home-dir /opt/wa-monitor --no-create-home \
        --shell /usr/sbin/nologin --comment "wa-monitor daemon" "$SERVICE_USER"
    say "created system user $SERVICE_USER"
elif [ -n "$ROOT" ]; then
    say "staging root, skipped: useradd --system --user-group $SERVICE_USER"
fi
install -d -m 0755 "$ROOT/opt/wa-monitor" "$BASE" "$BASE/releases"
install -d -m 0750 "$BASE/logs" "$ETC"
install -d -m 0755 "$ROOT/etc/systemd/system" "$ROOT/etc/logrotate.d"
on_host chown "$SERVICE_USER:$SERVICE_USER" "$BASE/logs"
on_host chown "root:$SERVICE_USER" "$ETC"

# -- the release: one virtualenv per distinct source, reused when the source is unchanged ---
version=$("$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
    "$CHECKOUT/pyproject.toml")
digest=$(cd "$CHECKOUT" && find pyproject.toml src -type f \
    ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
release_id=$version-$digest
release=$BASE/releases/$release_id
if [ -x "$release/bin/wa-monitor" ] && "$release/bin/wa-monitor" --version >/dev/null 2>&1; then
    say "release $release_id is already built"
else
    rm -rf "$release"  # a build that was interrupted
    say "building release $release_id"
    "$PYTHON" -m venv "$release"
    "$release/bin/python" -m pip install --quiet --disable-pip-version-check "$CHECKOUT"
    "$release/bin/wa-monitor" --version >/dev/null
fi
current=$(readlink "$BASE/venv" 2>/dev/null || true)
if [ "$current" != "releases/$release_id" ]; then
    [ -z "$current" ] || relink "$BASE/previous" "$current"
    relink "$BASE/venv" "releases/$release_id"
    say "venv -> releases/$release_id${current:+ (previous: $current)}"
fi
# Keep the live and previous releases and the two newest others; drop older ones.
keep=$(readlink "$BASE/previous" 2>/dev/null || true)
find "$BASE/releases" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %f\n' | sort -rn | tail -n +5 \
    | while read -r _ old; do
        [ "releases/$old" = "releases/$release_id" ] || [ "releases/$old" = "$keep" ] \
            || { rm -rf "${BASE:?}/releases/$old"; say "removed old release $old"; }
    done
install -m 0644 "$CHECKOUT/README.md" "$BASE/README.md"
install -d -m 0755 "$BASE/docs"
install -m 0644 "$CHECKOUT"/docs/*.md "$BASE/docs/"   # what the README, doctor and the units point to

# -- configuration: the operator's files are never overwritten ------------------------------
config=$ETC/$ENV_NAME.toml
if [ ! -e "$config" ]; then
    install -m 0640 "$CHECKOUT/config/$ENV_NAME.toml" "$config"
    say "wrote $config: check bridge_db and [[projects]]"
elif ! cmp -s "$CHECKOUT/config/$ENV_NAME.toml" "$config"; then
    install -m 0640 "$CHECKOUT/config/$ENV_NAME.toml" "$config.dist"
    say "kept $config; the shipped default is in $config.dist for comparison"
fi
chmod 0640 "$config"
on_host chown "root:$SERVICE_USER" "$config"

# An environment file of URL variables, written once as a template: root:root 0600.
env_template() {  # FILE UNIT ROLE
    if [ ! -e "$1" ]; then
        (
            umask 077
            cat >"$1" <<EOF
# Environment of $2, read by systemd as root (this file stays root:root 0600).
# The database URL lives here or in a systemd credential; never in the TOML file or in git.
#WA_MONITOR_DATABASE_URL=postgresql://$3:PASSWORD@DBHOST:5432/DBNAME
EOF
        )
        say "wrote $1: set WA_MONITOR_DATABASE_URL there"
    fi
    chmod 0600 "$1"
    on_host chown root:root "$1"
}
envfile=$ETC/$ENV_NAME.env
env_template "$envfile" "$UNIT" "wa_monitor_$ENV_NAME"
env_template "$ETC/$ENV_NAME-web.env" "$WEB_UNIT" "wa_monitor_web_$ENV_NAME"

# The dashboard's session key: random, made once, a systemd credential (LoadCredential=).
secret=$ETC/$ENV_NAME-web.secret
if [ ! -e "$secret" ]; then
    (umask 077; head -c 48 /dev/urandom | base64 -w0 >"$secret")
    say "wrote $secret: a new session key for the dashboard"
fi
chmod 0600 "$secret"
on_host chown root:root "$secret"

# -- the unit and the rotation -------------------------------------------------------------
install -m 0644 "$CHECKOUT/deploy/systemd/$UNIT" "$ROOT/etc/systemd/system/$UNIT"
# The alerts: the unit's OnFailure= hook and its 2-minute timer (docs/OPERATIONS.md, Alerts).
for alert in wa-monitor-alert@.service wa-monitor-alert@.timer; do
    install -m 0644 "$CHECKOUT/deploy/systemd/$alert" "$ROOT/etc/systemd/system/$alert"
done
install -m 0644 "$CHECKOUT/deploy/systemd/$WEB_UNIT" "$ROOT/etc/systemd/system/$WEB_UNIT"
install -m 0644 "$CHECKOUT/deploy/logrotate/wa-monitor" "$ROOT/etc/logrotate.d/wa-monitor"

# -- the SharePoint sync: production only, dev data is never synced ------------------------
if [ "$ENV_NAME" = prod ]; then
    syncenv=$ETC/sync-prod.env
    if [ ! -e "$syncenv" ]; then
        (
            umask 077
            cat >"$syncenv" <<EOF
# Environment of wa-monitor-sync-prod.service, read by systemd as root (root:root 0600).
# The sync's own read-only role (wa-monitor schema grant --env prod --service sync --role ROLE)
# and the Entra ID app's client secret: never in the TOML file or in git.
#WA_MONITOR_DATABASE_URL=postgresql://wa_monitor_sync:PASSWORD@DBHOST:5432/DBNAME
#WA_MONITOR_SHAREPOINT_CLIENT_SECRET=
EOF
        )
        say "wrote $syncenv: set the sync role's URL and the client secret there"
    fi
    chmod 0600 "$syncenv"
    on_host chown root:root "$syncenv"
    for unit in wa-monitor-sync-prod.service wa-monitor-sync-prod.timer; do
        install -m 0644 "$CHECKOUT/deploy/systemd/$unit" "$ROOT/etc/systemd/system/$unit"
    done
fi
on_host systemctl daemon-reload
on_host systemctl enable "$UNIT" "$WEB_UNIT"
say "installed; next: migrate the schema, then (re)start $UNIT (docs/DEPLOYMENT.md)"
if [ "$ENV_NAME" = prod ]; then
    say "the SharePoint sync is installed, not enabled: fill [sharepoint] and sync-prod.env," \
        "try it with --dry-run, then enable wa-monitor-sync-prod.timer (docs/OPERATIONS.md, SharePoint sync)"
fi
say "alerts: set [alerts] in /etc/wa-monitor/$ENV_NAME.toml, then" \
    "systemctl enable --now wa-monitor-alert@$ENV_NAME.timer (docs/OPERATIONS.md, Alerts)"
say "dashboard: grant its role (schema grant --service web), add users, then (re)start $WEB_UNIT (docs/DASHBOARD.md)"
