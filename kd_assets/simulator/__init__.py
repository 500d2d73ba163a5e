"""A faithful local Kingdee K3Cloud WebAPI server, for demos, tests and benchmarks.

It serves BD_Customer, BD_Supplier and BD_MATERIAL, and the bill SAL_SaleOrder (a header plus
entry rows), each described by a field table in forms/*.yaml, plus any form whose field table
is in a `form_dirs` folder.

    from kd_assets.simulator import SimulatorConfig, serve_in_thread
    with serve_in_thread(SimulatorConfig(port=0, customers=300)) as sim:
        sim.base_url   # http://127.0.0.1:PORT/k3cloud/
        sim.admin_url  # http://127.0.0.1:PORT/_sim/

`python -m kd_assets.simulator --help` lists every option.
"""

from kd_assets.simulator.app import SimulatorApp, SimulatorHandle, serve_in_thread
from kd_assets.simulator.config import SimulatorConfig

__all__ = ["SimulatorApp", "SimulatorConfig", "SimulatorHandle", "serve_in_thread"]
