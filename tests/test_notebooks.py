"""The notebooks in ``notebooks/`` run top to bottom, offline, and are stored without outputs.

Each notebook is executed with nbclient in a fresh kernel started with this interpreter
(the venv's: nothing is registered with Jupyter, no global kernel spec is used). A first
cell added in memory blocks every network connection except to the machine itself; a
last one reports a few figures of the notebook's own variables as JSON, which the test
checks (the sweep has a row per target and fewer grids as the target grows, the audit
finds the damage done to the plan …).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = ("01_walkthrough.ipynb", "02_grid_sizes.ipynb", "03_audit.ipynb")
CELL_TIMEOUT = 300  # seconds; the three notebooks take well under a minute together
MARKER = "__gridgeo_notebook_check__"

# Runs first in the kernel: any connection other than to this machine raises.
NO_NETWORK = """
import socket as _socket

_LOCAL = ("127.0.0.1", "::1", "localhost", "0.0.0.0")
_real_connect, _real_connect_ex, _real_getaddrinfo = (
    _socket.socket.connect, _socket.socket.connect_ex, _socket.getaddrinfo)


def _check_address(address):
    if isinstance(address, tuple) and str(address[0]) not in _LOCAL:
        raise OSError(f"network access is blocked while testing the notebooks: {address!r}")


def _connect(self, address):
    _check_address(address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    _check_address(address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    _check_address((host,))
    return _real_getaddrinfo(host, *args, **kwargs)


_socket.socket.connect, _socket.socket.connect_ex, _socket.getaddrinfo = (
    _connect, _connect_ex, _getaddrinfo)
"""

# Runs last: figures for the test, printed as one JSON line after MARKER.
CHECKS = {
    "01_walkthrough.ipynb": """{
    "n_grids": summary["n_grids"],
    "households": summary["households"],
    "grid_households": int(plan.grids["households"].sum()),
    "building_households": int(plan.buildings["households"].sum()),
    "buildings": len(plan.buildings),
    "read_buildings": len(layers.buildings),
    "unassigned": int(plan.buildings["grid_id"].isna().sum()),
    "written": sorted(written),
}""",
    "02_grid_sizes.ipynb": """{
    "targets": [int(t) for t in TARGETS],
    "index": [int(t) for t in sweep.index],
    "grids": [int(v) for v in sweep["grids"]],
    "workers": [int(v) for v in sweep["workers"]],
    "households": [int(v) for v in sweep["households"]],
    "budget": [float(v) for v in sweep["budget_yuan"]],
    "rate": LIAISON_YUAN,
    "within_10pct": [float(v) for v in sweep["within_10pct"]],
    "polsby_popper": [float(v) for v in sweep["polsby_popper_mean"]],
    "chosen": CHOSEN_TARGET,
}""",
    "03_audit.ipynb": """{
    "removed_households": int(removed["households"].sum()),
    "uncovered_households": figures["uncovered_households"],
    "uncovered_buildings": figures["uncovered_buildings"],
    "overlaps": figures["overlaps"],
    "gaps": figures["gaps"],
    "gap_area_m2": figures["gap_area_m2"],
    "removed_area_m2": float(removed.area.sum()),
    "shifted_overlaps": len(shifted_overlaps),
    "grids": figures["grids"],
    "plan_grids": len(plan.grids),
    "findings": len(findings),
    "finding_ids": [str(v) for v in findings.iloc[:, 3]],
}""",
}


class _ThisPython(KernelSpecManager):
    """Kernel specs that all start ipykernel with the interpreter running the tests."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python ({sys.executable})",
            language="python",
            name=kernel_name,
        )


def _kernel_env(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["IPYTHONDIR"] = str(scratch / "ipython")  # no user profile or startup files
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    # matplotlib's inline backend (Agg rendering into PNG outputs); never a GUI.
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # no debugger warning on frozen modules
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(var, None)
    return env


def _run(name: str) -> tuple[nbformat.NotebookNode, dict]:
    """Execute notebook ``name`` with the guard cell first and the check cell last."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    guard = nbformat.v4.new_code_cell(NO_NETWORK)
    check = nbformat.v4.new_code_cell(
        f"import json as _json\nprint({MARKER!r} + _json.dumps({CHECKS[name]}))"
    )
    nb.cells = [guard, *nb.cells, check]
    with tempfile.TemporaryDirectory(prefix="gridgeo-nb-") as tmp:
        scratch = Path(tmp)
        km = KernelManager(
            kernel_name="python3",
            kernel_spec_manager=_ThisPython(),
            connection_file=str(scratch / "kernel.json"),
        )
        client = NotebookClient(
            nb,
            km=km,
            timeout=CELL_TIMEOUT,
            allow_errors=False,
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
        try:
            client.execute(env=_kernel_env(scratch))
        finally:  # nbclient leaves running a kernel it did not start itself
            if client.kc is not None:
                client.kc.stop_channels()
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    line = next(ln for ln in text.splitlines() if ln.startswith(MARKER))
    return nb, json.loads(line[len(MARKER) :])


def _outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


def _mime(nb: nbformat.NotebookNode, mime: str) -> list[str]:
    return [o["data"][mime] for o in _outputs(nb) if mime in o.get("data", {})]


def _assert_ran_cleanly(nb: nbformat.NotebookNode) -> None:
    assert not [o for o in _outputs(nb) if o.output_type == "error"]
    stderr = "".join(o.get("text", "") for o in _outputs(nb) if o.get("name") == "stderr")
    assert "Traceback" not in stderr, stderr
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "a cell did not run"


def _assert_offline_map(nb: nbformat.NotebookNode) -> None:
    """An interactive map was shown, with Leaflet inlined and no tiles or CDN to fetch."""
    maps = [h for h in _mime(nb, "text/html") if "L.map(" in h or "leaflet" in h.lower()]
    assert maps, "no interactive map in the outputs"
    for html in maps:
        for host in ("cdn.jsdelivr.net", "tile.openstreetmap.org", "unpkg.com", "tianditu"):
            assert host not in html, host


def test_notebooks_are_there():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert set(EXPECTED) <= set(names), names


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_outputs_stripped(path):
    """Notebooks are stored without outputs (run ``nbstripout notebooks/*.ipynb``)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name} cell {i} has outputs"
        assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        assert not {"execution", "collapsed", "scrolled"} & set(cell.metadata), (path.name, i)
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state"


def test_walkthrough_runs():
    nb, got = _run("01_walkthrough.ipynb")
    _assert_ran_cleanly(nb)
    assert got["n_grids"] >= 3
    assert got["households"] == got["grid_households"] == got["building_households"] > 0
    assert got["buildings"] == got["read_buildings"]
    assert got["unassigned"] == 0
    assert {"gpkg", "geojson", "summary", "map"} <= set(got["written"])
    assert len(_mime(nb, "image/png")) >= 2  # the data and the print map
    _assert_offline_map(nb)


def test_grid_sizes_runs():
    nb, got = _run("02_grid_sizes.ipynb")
    _assert_ran_cleanly(nb)
    targets, grids = got["targets"], got["grids"]
    assert 5 <= len(targets) <= 8 and min(targets) <= 150 and max(targets) >= 1000
    assert got["index"] == targets == sorted(targets)  # one row per target, in order
    # fewer grids as the target grows
    assert all(a > b for a, b in zip(grids, grids[1:], strict=False)), grids
    assert got["workers"] == grids  # one worker per grid
    households = got["households"]
    assert len(set(households)) == 1 and households[0] > 0  # same households in every plan
    assert got["rate"] == 40
    assert got["budget"] == [h * 40 for h in households]
    for t, n in zip(targets, grids, strict=True):  # about households ÷ target grids
        assert 0.5 < n * t / households[0] < 1.5, (t, n)
    assert all(0 <= v <= 1 for v in got["within_10pct"])
    assert all(0 < v <= 1 for v in got["polsby_popper"])
    assert got["chosen"] in targets
    assert len(_mime(nb, "image/png")) >= 2  # the sweep figure and the map
    _assert_offline_map(nb)


def test_audit_runs():
    nb, got = _run("03_audit.ipynb")
    _assert_ran_cleanly(nb)
    assert got["grids"] == got["plan_grids"] - 1  # one grid left out
    # The grid left out: its buildings are uncovered, its land a gap.
    assert got["uncovered_households"] >= got["removed_households"] > 0
    assert got["gaps"] >= 1 and got["gap_area_m2"] >= 0.9 * got["removed_area_m2"]
    # The shifted grid overlaps its neighbours.
    assert got["overlaps"] >= 1 and got["shifted_overlaps"] >= 1
    ids = got["finding_ids"]
    assert got["findings"] == len(ids) > 0
    assert any(i.startswith("U") for i in ids) and any(i.startswith("O") for i in ids)
    assert any(i.startswith("V") for i in ids)
    assert len(_mime(nb, "image/png")) >= 2  # before/after and the coverage figure
    _assert_offline_map(nb)
