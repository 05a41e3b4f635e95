//! Filter to SQL compiler (placeholder).
