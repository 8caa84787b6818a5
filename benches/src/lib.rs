//! Helpers shared by the criterion benchmarks (lab loaders and payload generators).
