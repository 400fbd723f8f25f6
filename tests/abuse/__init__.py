"""The hostile client of issue 12, reproduced: each case asserts the mechanism that stops it."""
