//! Filter parser (placeholder).
