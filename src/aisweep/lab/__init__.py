"""The emulated network behind `aisweep demo`, the tests and the benchmarks."""
