//! `baker launch`: clusters booted from baked images, each node given its role (master or slave)
//! and the cluster's facts, then checked until every role's readiness checks pass.
//!
//! The pieces: [`state`] keeps what a launch created, per cluster, so that status, login, logs,
//! destroy and resume work from a new shell; [`bundle`] renders a node's role from the plan's
//! templates and the cluster's facts; [`ready`] judges the answers of readiness probes the same
//! way on every provider. Providers (containers, VMs, machines over SSH) create and remove nodes.

pub mod bundle;
pub mod bundle_tar;
pub mod ready;
pub mod state;

#[cfg(test)]
mod agent_tests;
