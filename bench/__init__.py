"""The benchmark: service vs a bare relay on a real broker, plus in-process scaling figures (docs/benchmarks.md)."""
