//! Starting one node's VM for the qemu provider, and the two ways a start can go wrong that the
//! provider can do something about. A host port picked for a forward may be taken by another
//! program before QEMU binds it (a slave's VM starts after the master's, a KVM trial later): QEMU
//! then refuses to start, and the node gets new ports, once, which the provider's `started`
//! records. And the first VM puts KVM on trial. KVM is remembered as failing
//! ([`KvmMemory`](crate::image::boot::kvm_memory::KvmMemory), for up to a week, sending every later
//! launch and `image boot` to software emulation) only when it is to blame: QEMU ran under it and
//! the guest's kernel printed nothing within [`KVM_GRACE`]; or QEMU would not start (or went on)
//! under KVM, and then started the same VM under software emulation. A VM that starts under neither
//! failed for another reason (memory, the tools' container), which is the launch's error, as QEMU
//! said it, and says nothing of KVM.

use std::collections::BTreeMap;

use super::QemuProvider;
use crate::image::boot::KVM_GRACE;
use crate::launch::error::LaunchError;
use crate::launch::qemu_net::{forwarding_failed, free_ports, moved_note, recorded_ports};
use crate::launch::qemu_vm::{Accel, Kernel, VmFiles, VmSpec, qemu_args, start_vm, watch_kernel};
use crate::launch::state::ClusterState;

/// How the first VM fared under KVM on trial.
#[derive(Debug)]
enum Trial {
    /// Its kernel printed its first line within the grace: KVM works here.
    Booted,
    /// QEMU ran the whole grace and the kernel printed nothing (the VM is stopped).
    Stalled,
    /// QEMU ended within the grace, before the kernel printed.
    Ended,
    /// QEMU did not start under KVM: what it said.
    NotStarted(LaunchError),
}

impl Trial {
    /// Why KVM failed its trial on node `node`'s VM, to be remembered, given whether software
    /// emulation then started the same VM (`tcg_started`); `None` when the trial says nothing
    /// against KVM. A stall is KVM's doing whatever comes next. A QEMU that would not start, or
    /// ended, under KVM is KVM's failure only when the same VM starts without it, and never when
    /// what stopped it was a forward's host port.
    fn kvm_failure(&self, node: &str, tcg_started: bool) -> Option<String> {
        match self {
            Trial::Booted => None,
            Trial::Stalled => Some(format!(
                "the kernel of {node}'s VM printed nothing within {}s",
                KVM_GRACE.as_secs()
            )),
            Trial::Ended => tcg_started
                .then(|| format!("QEMU stopped before the kernel of {node}'s VM printed")),
            Trial::NotStarted(error) if tcg_started && !forwarding_failed(error) => Some(format!(
                "QEMU did not start {node}'s VM under KVM, and did without it: {error}"
            )),
            Trial::NotStarted(_) => None,
        }
    }
}

impl QemuProvider {
    /// Node `index`'s forwards (guest -> host port): as `state` records them, unless this launch
    /// moved them.
    fn forwards(&self, state: &ClusterState, index: usize) -> BTreeMap<u16, u16> {
        let node = &state.nodes[index];
        let moved = self.moved_lock().get(&node.name).cloned();
        moved.unwrap_or_else(|| node.published.clone())
    }

    /// Starts node `index`'s VM with `accel`; when QEMU could not listen on a forward's host port,
    /// once more with new ports.
    pub(super) async fn start_vm_of(
        &self,
        state: &ClusterState,
        index: usize,
        accel: Accel,
    ) -> Result<(), LaunchError> {
        match self.start_once(state, index, accel).await {
            Err(e) if forwarding_failed(&e) => {
                self.move_forwards(state, index)?;
                self.start_once(state, index, accel).await
            }
            started => started,
        }
    }

    /// Gives node `index` new host ports for its forwards: free, and none that another node
    /// recorded or was given.
    fn move_forwards(&self, state: &ClusterState, index: usize) -> Result<(), LaunchError> {
        let node = &state.nodes[index];
        let before = self.forwards(state, index);
        let mut moved = self.moved_lock();
        let mut recorded = recorded_ports(&state.nodes);
        recorded.extend(moved.values().flat_map(|f| f.values().copied()));
        let fresh = free_ports(before.len(), &recorded)?;
        let now: BTreeMap<u16, u16> = before.keys().copied().zip(fresh).collect();
        tracing::warn!("{}", moved_note(&node.name, &now, "they were picked"));
        moved.insert(node.name.clone(), now);
        Ok(())
    }

    async fn start_once(
        &self,
        state: &ClusterState,
        index: usize,
        accel: Accel,
    ) -> Result<(), LaunchError> {
        let node = &state.nodes[index];
        let files = VmFiles::of(&self.dir, &node.name);
        let forwards = self.forwards(state, index);
        let args = qemu_args(&VmSpec {
            node: &node.name,
            index,
            files: &files,
            switch: &self.switch(state),
            forwards: &forwards,
            accel,
            memory_mib: self.memory_mib,
        });
        let what = format!("starting the VM of {}", node.name);
        let kvm = accel == Accel::Kvm;
        start_vm(&self.runner, &args, &files, &what, &self.dirs(), kvm).await
    }

    /// Starts node `index`'s VM, the launch's first, and returns the accelerator every VM of the
    /// launch runs with: software emulation when KVM failed its trial on this host before, else
    /// KVM if this VM, started under it, proves it (see [`Trial::kvm_failure`] for when a failed
    /// trial is remembered).
    pub(super) async fn first_vm(
        &self,
        state: &ClusterState,
        index: usize,
    ) -> Result<Accel, LaunchError> {
        if let Some(note) = self.kvm_memory.skip_note() {
            tracing::warn!("{note}");
            self.start_vm_of(state, index, Accel::Tcg).await?;
            return Ok(Accel::Tcg);
        }
        let trial = self.try_kvm(state, index).await;
        if let Trial::Booted = trial {
            self.kvm_memory.forget();
            return Ok(Accel::Kvm);
        }
        let tcg = self.start_vm_of(state, index, Accel::Tcg).await;
        if let Some(why) = trial.kvm_failure(&state.nodes[index].name, tcg.is_ok()) {
            tracing::warn!("{}", self.kvm_memory.trial_failed(&why));
        }
        tcg.map(|()| Accel::Tcg)
    }

    /// Starts node `index`'s VM under KVM and watches its console for the kernel's first line.
    async fn try_kvm(&self, state: &ClusterState, index: usize) -> Trial {
        if let Err(error) = self.start_vm_of(state, index, Accel::Kvm).await {
            return Trial::NotStarted(error);
        }
        let files = VmFiles::of(&self.dir, &state.nodes[index].name);
        match watch_kernel(&files, KVM_GRACE).await {
            Kernel::Printed => Trial::Booted,
            Kernel::Silent => Trial::Stalled,
            Kernel::Ended => Trial::Ended,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_started(said: &str) -> Trial {
        Trial::NotStarted(LaunchError::Input(format!(
            "starting the VM of q-primary: `qemu-system-x86_64 -accel kvm …` failed (exit status: \
             1): {said}"
        )))
    }

    #[test]
    fn kvm_is_blamed_for_a_silent_kernel_whatever_comes_next() {
        for tcg_started in [true, false] {
            assert_eq!(
                Trial::Stalled
                    .kvm_failure("q-primary", tcg_started)
                    .as_deref(),
                Some("the kernel of q-primary's VM printed nothing within 20s")
            );
            assert_eq!(Trial::Booted.kvm_failure("q-primary", tcg_started), None);
        }
    }

    #[test]
    fn a_qemu_that_fails_under_kvm_blames_kvm_only_when_it_starts_without() {
        let refused = not_started("qemu-system-x86_64: error: failed to set MSR 0x48f to 0x7fffff");
        let why = refused.kvm_failure("q-primary", true).unwrap();
        assert!(
            why.starts_with("QEMU did not start q-primary's VM under KVM, and did without it: ")
                && why.ends_with("failed to set MSR 0x48f to 0x7fffff"),
            "{why}"
        );
        // The same failure under software emulation: memory, a container, not KVM.
        let memory = not_started("qemu-system-x86_64: cannot set up guest memory 'pc.ram'");
        assert_eq!(memory.kvm_failure("q-primary", false), None);
        assert_eq!(Trial::Ended.kvm_failure("q-primary", false), None);
        assert_eq!(
            Trial::Ended.kvm_failure("q-primary", true).as_deref(),
            Some("QEMU stopped before the kernel of q-primary's VM printed")
        );
    }

    #[test]
    fn a_forward_another_program_took_never_blames_kvm() {
        let taken = not_started(
            "qemu-system-x86_64: -netdev user,id=host,hostfwd=tcp:127.0.0.1:40022-:22: Could not \
             set up host forwarding rule 'tcp:127.0.0.1:40022-:22'",
        );
        assert_eq!(taken.kvm_failure("q-primary", true), None);
    }
}
