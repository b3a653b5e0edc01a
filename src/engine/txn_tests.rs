//! Virtual-time tests of the transactions room against the sans-IO mock cluster.
