//! Log records (in progress).
