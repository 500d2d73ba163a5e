#!/usr/bin/env bash
# Start the local MariaDB server if it is down, then wait until it answers (at most 60 s).
set -euo pipefail
ping() { mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1; }
ping && exit 0
echo "MariaDB is down; starting it" >&2
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
fi
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
for _ in $(seq 1 120); do
  ping && exit 0
  sleep 0.5   # polling a server that is starting; not test synchronisation
done
echo "MariaDB did not come up within 60 s" >&2
exit 1
