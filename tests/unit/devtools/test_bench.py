"""The benchmark's pure helpers: percentiles, ratios, the summary block, the floor's imports."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from devtools.bench import (
    ColdStart,
    Latency,
    cached_bytecode,
    fmt_ratio,
    import_probe,
    library_imports,
    library_names,
    percentile,
    ratio,
    summary,
)


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 100) == 4.0
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("q", [-1, 101])
def test_percentile_refuses_what_is_not_a_percentile(q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], q)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_ratio_and_its_formatting() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert math.isnan(ratio(1.0, 0.0))
    assert fmt_ratio(1.234) == "1.23"
    assert fmt_ratio(math.nan) == "n/a"


def test_summary_is_the_documented_two_line_block() -> None:
    latency = Latency(handler_ms=(2.0, 4.0), floor_ms=(1.0, 2.0)).figures()
    cold = ColdStart(app_ms=(300.0, 320.0, 310.0), libraries_ms=(250.0,), libraries=()).figures()
    assert summary(latency, cold).splitlines() == [
        "cancel latency  handler p50 3.00 ms  p99 3.98 ms | floor p50 1.50 ms  p99 1.99 ms"
        " | ratio p50 2.00  p99 2.00",
        "cold start      app 310.0 ms | libraries 250.0 ms | ratio 1.24",
    ]


def test_the_floor_imports_the_libraries_the_app_imports_at_module_level(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "app.py").write_text("import json\nimport lib_a.sub as a\nfrom pkg import mod\n")
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from lib_b import thing\n"
        "from lib_a import other\n"
        "from . import helper\n"
        "if TYPE_CHECKING:\n    import lib_typing\n"
        "def later() -> None:\n    import lib_lazy\n"
    )
    (tmp_path / "pkg" / "helper.py").write_text(
        "try:\n    import lib_c\nexcept ImportError:\n    pass\n"
    )
    found = library_imports(tmp_path, "app", ("app", "pkg"))
    assert found == ("lib_a.sub", "lib_b", "lib_c")
    assert import_probe(found) == (
        "import time; t = time.perf_counter(); import lib_a.sub, lib_b, lib_c; "
        "print(time.perf_counter() - t)"
    )


def test_the_real_apps_floor_names_its_libraries_and_none_of_its_own_code() -> None:
    found = library_imports()
    tops = {name.partition(".")[0] for name in found}
    assert {"azure", "jwt", "pydantic"} <= tops
    assert not tops & {"function_app", "cancel", "shared", "devtools", "json", "logging"}


def test_the_floor_asks_the_libraries_for_the_names_the_app_asks_for(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "app.py").write_text("import pkg.mod\nfrom lib_a import b, a\nimport lib_c\n")
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from lib_a import a as alias\n"
        "from lib_b.sub import Thing\n"
        "from . import helper\n"
        "if TYPE_CHECKING:\n    from lib_typing import Only\n"
        "def later() -> None:\n    from lib_lazy import Later\n"
    )
    (tmp_path / "pkg" / "helper.py").write_text("from json import dumps\nfrom lib_d import *\n")
    found = library_names(tmp_path, "app", ("app", "pkg"))
    assert found == ("from lib_a import a, b", "from lib_b.sub import Thing")
    assert import_probe(["lib_c"], found) == (
        "import time; t = time.perf_counter(); import lib_c; from lib_a import a, b; "
        "from lib_b.sub import Thing; print(time.perf_counter() - t)"
    )


def test_the_real_apps_floor_asks_pydantic_for_its_base_model() -> None:
    assert any(
        line.startswith("from pydantic import ") and "BaseModel" in line.split(" import ")[1]
        for line in library_names()
    )


def test_cold_start_caches_byte_code_for_both_sides(tmp_path: Path) -> None:
    env = {"PATH": "/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    assert cached_bytecode(env, tmp_path) == {"PATH": "/bin", "PYTHONPYCACHEPREFIX": str(tmp_path)}
    assert env == {"PATH": "/bin", "PYTHONDONTWRITEBYTECODE": "1"}
