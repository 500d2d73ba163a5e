"""`python -m kd_assets.simulator`: run the simulator in the foreground and print how to reach it."""

from __future__ import annotations

import logging
import signal
import sys

from kd_assets.simulator.app import SimulatorHandle
from kd_assets.simulator.config import parse_args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = parse_args(argv)
    handle = SimulatorHandle(config)
    cfg = handle.config
    # A demo server: printing the demo credentials is the point of this banner.
    print(f"K3Cloud simulator listening on {handle.base_url}", flush=True)
    print(f"  admin API : {handle.admin_url}state", flush=True)
    print(f"  acct id   : {cfg.acct_id}\n  user      : {cfg.username}\n"
          f"  password  : {cfg.password}\n  lcid      : {cfg.lcid}\n"
          f"  app id    : {cfg.app_id}\n  app secret: {cfg.app_secret}\n  seed      : {cfg.seed}",
          flush=True)
    for form in handle.app.catalog.forms.values():
        print(f"  {form.form_id:<10}: {handle.app.store.count(form)} rows ({form.name})", flush=True)
    # SIGTERM (e.g. from a demo launcher) shuts down as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    handle.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
