"""The one Definitions object of the code location (workspace.yaml and ``dg`` point here).

Every form is a ``KingdeeFormSync`` instance in a ``defs.yaml``: the package's own under
``kd_assets/forms/``, plus any folders named in ``KD_FORMS_DIRS`` (separated by ``:``), so a
deployment adds a form with YAML alone. Shared here: the resources, the run-failure and recovery
alert sensors (one each, routed per form) and the in-process executor.

Start-up is paid by every process that loads the location (the CLI, each run the daemon launches,
the code server), so the list of installed component types that only the UI shows is built only
when a code server loads it, and the objects of a finished load are frozen out of the garbage
collector (see the end of this module).
"""

from __future__ import annotations

import gc
import hashlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import dagster as dg

# Dagster's objects (~110k), imported above, live as long as the process: frozen, the collections our
# imports below trigger (pandas, pandera, SQLAlchemy...) no longer walk them each time.
gc.freeze()

import kd_assets.forms
from kd_assets.defs.alerts import build_run_alert_sensors
from kd_assets.defs.component import FormDefinitions, KingdeeFormSync, build_form
from kd_assets.defs.resources import KingdeeResource
from kd_assets.defs.settings import FormSettings
from kd_assets.defs.target_db import MySQLResource

FORMS_DIR = Path(kd_assets.forms.__file__).resolve().parent
PROJECT_ROOT = FORMS_DIR.parent.parent

# Required Kingdee settings are bound to their variables even when unset, so the code location
# loads anywhere and a run without them fails naming the missing variable.
REQUIRED_KINGDEE_ENV = {"server_url": "KD_SERVER_URL", "acct_id": "KD_ACCT_ID", "username": "KD_USERNAME"}


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources bound to the KD_* environment variables (read at run time)."""
    required = {field: dg.EnvVar(var) for field, var in REQUIRED_KINGDEE_ENV.items()}
    kingdee = KingdeeResource.from_env(**{k: v for k, v in required.items()
                                          if not _is_set(REQUIRED_KINGDEE_ENV[k])})
    return {"kingdee": kingdee, "target_db": MySQLResource.from_env()}


def _is_set(var: str) -> bool:
    return bool(os.environ.get(var))


def forms_dirs() -> list[Path]:
    """The package's forms, then the folders in KD_FORMS_DIRS."""
    extra = [Path(p).expanduser().resolve() for p in os.environ.get("KD_FORMS_DIRS", "").split(os.pathsep) if p]
    for path in extra:
        if not path.is_dir():
            raise FileNotFoundError(f"KD_FORMS_DIRS: {path} is not a folder")
    return [FORMS_DIR, *extra]


def _defs_module(path: Path) -> ModuleType:
    """A folder of defs.yaml files as the (namespace) module Dagster's component tree walks."""
    if path == FORMS_DIR:
        return kd_assets.forms
    name = "kd_forms_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if name not in sys.modules:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(path)]
        sys.modules[name] = importlib.util.module_from_spec(spec)
    return sys.modules[name]


def form_trees(dirs: Sequence[Path]) -> list[dg.ComponentTree]:
    return [dg.ComponentTree.from_module(defs_module=_defs_module(Path(d).resolve()), project_root=PROJECT_ROOT)
            for d in dirs]


def forms_in(trees: Sequence[dg.ComponentTree]) -> list[FormSettings]:
    return [c.form_settings() for tree in trees for c in tree.get_all_components(KingdeeFormSync)]


def form_definitions(dirs: Sequence[Path] = (FORMS_DIR,)) -> dict[str, FormDefinitions]:
    """Each form's definitions by role, by form name (for tests and benchmarks)."""
    return {settings.name: build_form(settings) for settings in forms_in(form_trees(dirs))}


def build_definitions(dirs: Sequence[Path] | None = None, *, component_types: bool = True) -> dg.Definitions:
    """Every form's definitions from ``dirs`` (default: :func:`forms_dirs`), plus what they share.

    ``component_types``: also list every installed component type for the UI (Dagster's component
    root does so on each load: 0.3-1 s of entry-point scans and JSON schemas here)."""
    first, *others = trees = form_trees(forms_dirs() if dirs is None else dirs)
    shared = dg.Definitions(
        sensors=build_run_alert_sensors(forms_in(trees)),
        resources=build_resources(),
        # The steps of a sync run are sequential (land → clean → publish), so one process per run is
        # enough; a process per step would pay ~3 s of imports each on these small machines.
        executor=dg.in_process_executor,
    )
    package = first.build_defs() if component_types else dg.Definitions.merge(
        first.build_defs(first.defs_module_path), dg.Definitions(component_tree=first))
    # Dagster merges at most one component tree (the package's, shown in the UI); the forms of the
    # other folders join as plain definitions, built below their component root.
    return dg.Definitions.merge(package, *(tree.build_defs(tree.defs_module_path) for tree in others), shared)


def code_server_load() -> bool:
    """Whether a Dagster code server is loading the location (it serves the UI its snapshot): it
    imports this module in an initializing load context. Run and step processes load in a
    reconstructing one; the CLI, scripts and tests import it with none."""
    from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType

    return (DefinitionsLoadContext.is_set()
            and DefinitionsLoadContext.get().load_type == DefinitionsLoadType.INITIALIZATION)


defs = build_definitions(component_types=code_server_load())
# What is loaded so far lives as long as the process: move it out of the collector's generations,
# so no later full collection (during the run, and the one at exit: ~0.8 s here) walks it again.
gc.freeze()
