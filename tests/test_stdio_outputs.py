"""Each source's output comparison, as its own harness decides (sandcheck.judges.outputs)."""

from __future__ import annotations

import pytest

from sandcheck.judges.outputs import outputs_match


@pytest.mark.parametrize("got, expected, same", [
    ("abc DEF\n", "abc def", True),              # case ignored
    ("1 2\n3", "1\n2 3\n", True),                # whitespace of any kind between tokens
    ("123", "123.000001", True),                  # a decimal within 1e-5
    ("123", "123.1", False),
    ("0.5", "0.50002", False),                    # 2e-5 apart
    # Every number is read as a double (SimpleAtod), so integers past 2**53 that round to the
    # same double match, as in the tester (its int32 branch is never reached).
    ("12345678901234567890", "12345678901234567891", True),
    ("1000000000000000001", "1000000000000000000", True),
    ("1" * 4999 + "2", "1" * 5000, False),      # both +inf: inf - inf is NaN (was a ValueError: int()'s digit limit)
    ("1" * 5000, "1" * 5000, True),
    ("inf", "inf", True), ("nan", "nan", True),  # equal as strings first
    ("YES", "yes", True),
    ("1 2", "1 2 3", False),
    ("1_000", "1000", False),
    ("+5", "5", True), ("+-5", "-5", False), (".5", "0.5", True), ("0x10", "16", False),
    # ASCII only, as C++ splits and lowercases: no Unicode digits, spaces or letters.
    ("\u0663", "3", False), ("\uff13", "3", False), ("1\xa02", "1 2", False), ("\u00c9", "\u00e9", False),
    ("yes\f", "yes", False),                      # \f is no separator there (though "5\f" reads as 5)
    ("5\f", "5", True),
])
def test_code_contests_as_deepminds_tester(got: str, expected: str, same: bool) -> None:
    assert outputs_match(got, expected, compare="code_contests") is same


@pytest.mark.parametrize("got, expected, same", [
    ("  6  \n", "6\n", True),                     # each line stripped
    ("1.0 2\n", "1 2.00\n", True),                # equal as decimals
    ("1e2\n", "100\n", True),
    ("0.30000000000000004\n", "0.3\n", False),    # decimals are exact: no tolerance
    ("6\n\n7\n", "6\n7\n", False),                # an inner blank line is a line
    ("YES\n", "yes\n", False),
    ("a  b\n", "a b\n", False),                   # not numbers: the stripped lines must be equal
    ("sNaN\n", "1\n", False),                     # a signaling NaN raises when compared: that test fails
    ("-sNaN123\n", "1\n", False),                 # (it raised out of the judge and ended the run)
])
def test_livecodebench_as_grade_stdio(got: str, expected: str, same: bool) -> None:
    assert outputs_match(got, expected, compare="livecodebench") is same


@pytest.mark.parametrize("got, expected, same", [
    ("  6\n", "6\n", True),
    ("1\n2\n", "2\n1\n", True),                   # APPS's set comparison: the order of lines is not checked
    ("1 2\n", "2 1\n", True),                     # nor the order of tokens on a line
    ("1\n1\n2\n", "1\n2\n", True),                # nor a repeated line
    ("0.3333333\n", "0.333333333\n", True),       # numpy.allclose, one number per line
    ("0.3334\n", "0.3333\n", True),              # APPS last rounds to 3 decimals: equal then
    ("0.334\n", "0.333\n", False),
    ("1.0004 2\n", "1.0001 2\n", True),           # sets of numbers rounded to 3 decimals
    ("1\n2\n", "1\n3\n", False),
    ("", "0\n", False),
    ("1_000\n", "1000\n", True),                 # read by Python's float(), as APPS reads them
    ("inf\n", "Infinity\n", True),               # numpy.allclose: an infinity is close to itself
    ("1e400\n", "inf\n", True),
    ("inf\n", "-inf\n", False),                  # (|inf - -inf| <= 1e-5 * inf passed it before)
    ("1e308\n", "inf\n", False),
    ("nan\n", "NaN\n", False),                   # NaN is close to nothing
])
def test_apps_as_its_testing_util(got: str, expected: str, same: bool) -> None:
    assert outputs_match(got, expected, compare="apps") is same


@pytest.mark.parametrize("got, expected, same", [
    ("  6  \n", "6\n", True),                      # each line stripped
    ("YES\n", "yes\n", True),                      # lowercased
    ("1 2\n", "1\n2\n", False),                    # lines, not tokens (DeepMind's rule passes this)
    ("1  2\n", "1 2\n", False),                    # inside a line, the text must be equal
    ("0.3333339\n", "0.333333\n", True),           # numbers: relative 1e-5
    ("0.0\n", "0.000001\n", False),                # relative to the expected value
    ("1e3\n", "1000\n", True),
    ("3\n\n", "3\n", True),                        # the whole text stripped first
    ("1\n\n2\n", "1\n2\n", False),
])
def test_sandbox_fusion_as_check_stdio_test_case(got: str, expected: str, same: bool) -> None:
    assert outputs_match(got, expected, compare="sandbox_fusion") is same


@pytest.mark.parametrize("got, expected, same", [
    ("1 2\n3 4\n", "1 2\n3 4", True),              # equal once stripped
    ("3 4\n1 2\n", "1 2\n3 4", False),             # no reordering (APPS's rule passes this)
    ("2 1\n4 3\n", "1 2\n3 4", False),
    ("1 2 \n3 4 \n", "1 2\n3 4", False),           # nor a line's trailing space
    ("0.3333333333333333\n", "0.333333\n", False),  # nor a tolerance
    # Given the raw output, its later steps compare each token's characters with each line's
    # tokens: where every expected token is one character, order and grouping stop counting.
    ("0\n1\n1\n", "1\n0\n1\n", True),
    ("12 34\n", "1 2\n3 4\n", True),
    ("7", "7.0", True),                            # a lone character read as a number
    ("10\n", "01\n", False),
    ("0", "0_0\n", True),                         # Python's float() reads "0_0" as 0.0
])
def test_taco_as_compare_std_results_given_raw_stdout(got: str, expected: str, same: bool) -> None:
    assert outputs_match(got, expected, compare="taco") is same
