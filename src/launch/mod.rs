//! `baker launch`: clusters booted from baked images, each node given its role (master or slave)
//! and the cluster's facts, then checked until every role's readiness checks pass.
//!
//! The pieces: [`state`] keeps what a launch created, per cluster, so that status, login, logs,
//! destroy and resume work from a new shell, and [`launch_lock`] lets one launch, resume or destroy
//! work on a cluster at a time; [`bundle`] renders a node's role from the plan's templates and the
//! cluster's facts, and [`bundle_tar`] packs it the way the role agent (`images/agent/baker-agent`)
//! reads it; [`ready`] and [`readiness`] judge and wait for the roles' checks the same way on every
//! provider; [`members`] says who is in a cluster and what each node is told; [`health`] is what
//! `status` concludes from a cluster's nodes; [`run`] is the one library call per command
//! ([`request`] checks what a launch is asked for first), driving a [`provider::Provider`], and
//! [`resume`] picks a cluster up from its state file; [`smoke`] runs the recipe's smoke test;
//! [`ssh_shell`] reaches machines over SSH, checking their host keys as [`ssh_known_hosts`] says
//! (against the user's own known hosts that [`ssh_user_known_hosts`] finds, too).
//! Providers: [`docker`] (containers from [`node_image`], on [`docker_net`]'s network, with
//! [`docker_node`]'s commands on a node, labelled with the [`state_identity`] of their state
//! directory so that only their own cluster's are touched ([`docker_owner`]), on the engine
//! [`docker_cluster`] records, removed by [`docker_destroy`]); [`qemu`] (VMs from the disk image,
//! which [`qemu_disk`] pins per cluster, with [`qemu_net`], [`qemu_vm`], [`qemu_process`] and
//! [`qemu_runner`], which runs QEMU from baker's tools image on hosts without it); [`ssh`]
//! (machines from an [`inventory`], checked with [`ssh_probe`], set up with [`ssh_scripts`] and
//! [`ssh_tarball`], recorded with [`ssh_state`]).

pub mod bundle;
pub mod bundle_tar;
pub mod docker;
pub mod docker_cluster;
pub mod docker_destroy;
pub mod docker_net;
pub mod docker_node;
pub mod docker_owner;
pub mod error;
pub mod health;
pub mod host_http;
pub mod inventory;
pub mod launch_lock;
pub mod members;
pub mod node_image;
pub mod node_pick;
pub mod probe_session;
pub mod provider;
pub mod qemu;
pub mod qemu_disk;
pub mod qemu_net;
pub mod qemu_process;
pub mod qemu_runner;
pub mod qemu_vm;
pub mod readiness;
pub mod ready;
pub mod request;
pub mod resume;
mod role_wait;
pub mod run;
pub mod smoke;
pub mod ssh;
pub mod ssh_destroy;
pub mod ssh_dirs;
pub mod ssh_known_hosts;
pub mod ssh_probe;
pub mod ssh_repos;
pub mod ssh_scripts;
pub mod ssh_shell;
pub mod ssh_state;
pub mod ssh_tarball;
pub mod ssh_user_known_hosts;
pub mod state;
pub mod state_identity;
pub mod state_root;
pub mod state_unreadable;

pub use error::LaunchError;

#[cfg(test)]
mod agent_tests;
#[cfg(test)]
mod bundle_tests;
#[cfg(test)]
mod ssh_tests;
