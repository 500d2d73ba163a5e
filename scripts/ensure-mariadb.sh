#!/usr/bin/env bash
# Start the local MariaDB server if it is down, then wait until it answers (at most 60 s).
# Installing and starting it needs root; tests pointed elsewhere (KD_TEST_MYSQL_SERVER) skip this.
set -euo pipefail
if [ -n "${KD_TEST_MYSQL_SERVER:-}" ]; then
  echo "KD_TEST_MYSQL_SERVER is set: the tests use that server, not the local MariaDB" >&2
  exit 0
fi
ping() { mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1; }
ping && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "MariaDB does not answer on 127.0.0.1:3306 and starting (or installing) it needs root:" >&2
  echo "  sudo make test, or start it yourself (sudo apt-get install mariadb-server), or point the" >&2
  echo "  tests at another server: KD_TEST_MYSQL_SERVER=mysql+pymysql://user:pass@host:3306 make test" >&2
  exit 1
fi
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
