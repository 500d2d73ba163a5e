"""Column values → SQL literals and SQLite parameters: missing values, including columns where
every value is missing (pandas deprecates the downcast ``fillna`` did there)."""

from __future__ import annotations

import warnings
from decimal import Decimal

import pandas as pd
import pytest

from kd_assets.sync.sqltext import param_values, sql_literals


@pytest.mark.parametrize("values, kind, literals, params", [
    ([Decimal("1.5"), None], ("decimal", 2), ["1.50", "NULL"], [1.5, None]),
    ([None, None], ("decimal", 2), ["NULL", "NULL"], [None, None]),
    ([7, None], ("int", 0), ["7", "NULL"], [7, None]),
    ([None, None], ("int", 0), ["NULL", "NULL"], [None, None]),
    ([True, None], ("bool", 0), ["1", "NULL"], [1, None]),
    ([None, None], ("bool", 0), ["NULL", "NULL"], [None, None]),
])
def test_missing_values_render_as_null_without_a_pandas_warning(values, kind, literals, params):
    column = pd.Series(values, dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sql_literals(column, kind).tolist() == literals
        assert param_values(column, kind) == params
