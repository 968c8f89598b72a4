#!/usr/bin/env sh
# Write the secrets `docker compose up` needs to .env (beside docker-compose.yml, mode 0600):
# the API token (TWINBED_API_TOKEN) and a Redis password per ACL user
# (TWINBED_REDIS_PASSWORD_<USER>: admin and one per role, twinbed.acl). Idempotent: a variable
# already in .env keeps its value, so running it again never locks out a running stack.
#
#   deploy/compose-env.sh            # then: docker compose up -d --wait
#   deploy/compose-env.sh FILE       # another file (tests use their own)
set -eu
cd "$(dirname "$0")/.."
out=${1:-.env}
umask 077
touch "$out"
chmod 600 "$out"
secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
added=0
for var in TWINBED_API_TOKEN TWINBED_REDIS_PASSWORD_ADMIN TWINBED_REDIS_PASSWORD_CONTROLLER \
           TWINBED_REDIS_PASSWORD_CLOUD TWINBED_REDIS_PASSWORD_BASESTATION \
           TWINBED_REDIS_PASSWORD_EDGE TWINBED_REDIS_PASSWORD_SENSOR; do
  if ! grep -q "^$var=." "$out"; then
    echo "$var=$(secret)" >> "$out"
    added=$((added + 1))
  fi
done
echo "compose-env: $out has the API token and the Redis passwords ($added new; mode 0600)"
echo "compose-env: the dashboard's token is the TWINBED_API_TOKEN line of $out"
