#!/usr/bin/env sh
# Write the secrets `docker compose up` needs to .env (beside docker-compose.yml, mode 0600):
# the API token (TWINBED_API_TOKEN) and a Redis password per ACL user
# (TWINBED_REDIS_PASSWORD_<USER>: admin and one per role, twinbed.acl) and a bus signing key
# seed per role (TWINBED_BUS_SEED_<ROLE>: 32 random bytes in hex, the Ed25519 private key that
# compose's bus-keys service lays out, twinbed.signing). Idempotent: a variable already in .env
# keeps its value, so running it again never locks out a running stack.
#
#   deploy/compose-env.sh            # then: docker compose up -d --wait
#   deploy/compose-env.sh FILE       # another file (tests use their own)
set -eu
cd "$(dirname "$0")/.."
out=${1:-.env}
umask 077
touch "$out"
chmod 600 "$out"
secret() { od -An -N"${1:-24}" -tx1 /dev/urandom | tr -d ' \n'; }
added=0
for var in TWINBED_API_TOKEN TWINBED_REDIS_PASSWORD_ADMIN TWINBED_REDIS_PASSWORD_CONTROLLER \
           TWINBED_REDIS_PASSWORD_CLOUD TWINBED_REDIS_PASSWORD_BASESTATION \
           TWINBED_REDIS_PASSWORD_EDGE TWINBED_REDIS_PASSWORD_SENSOR \
           TWINBED_BUS_SEED_CONTROLLER TWINBED_BUS_SEED_CLOUD TWINBED_BUS_SEED_BASESTATION \
           TWINBED_BUS_SEED_EDGE TWINBED_BUS_SEED_SENSOR; do
  if ! grep -q "^$var=." "$out"; then
    case $var in
      TWINBED_BUS_SEED_*) echo "$var=$(secret 32)" >> "$out" ;;  # an Ed25519 seed: 32 bytes
      *) echo "$var=$(secret)" >> "$out" ;;
    esac
    added=$((added + 1))
  fi
done
echo "compose-env: $out has the API token, the Redis passwords and the bus key seeds ($added new; mode 0600)"
echo "compose-env: the dashboard's token is the TWINBED_API_TOKEN line of $out"
