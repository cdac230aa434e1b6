"""The benchmark (`python -m benchmarks.bench`): not part of the wheel."""
