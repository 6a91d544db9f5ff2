use super::*;
use crate::progress::Silent;

/// What [`watch`] makes of a console that prints `chunks`, then ends, written into `log`.
async fn watched_into(log: &mut ConsoleLog, accel: Accel, chunks: &[&str]) -> Watched {
    let trial = accel == Accel::Kvm;
    let (tx, mut rx) = mpsc::channel(chunks.len().max(1));
    for chunk in chunks {
        tx.send(Bytes::from(chunk.to_string())).await.unwrap();
    }
    drop(tx);
    let reporter: Arc<dyn Reporter> = Arc::new(Silent);
    watch(
        &mut rx,
        log,
        Duration::from_secs(5),
        accel,
        trial,
        &reporter,
    )
    .await
    .unwrap()
}

/// What [`watch`] makes of a console that prints `chunks`, then ends.
async fn watched(accel: Accel, chunks: &[&str]) -> Watched {
    let dir = tempfile::tempdir().unwrap();
    let mut log = ConsoleLog::create(&dir.path().join("console.log")).unwrap();
    watched_into(&mut log, accel, chunks).await
}

/// As a nested host's KVM printed it: the firmware and GRUB ran, the kernel did not.
const KVM_STOPPED_THE_KERNEL: [&str; 2] = [
    "SeaBIOS (version 1.16.2)\r\nBooting from Hard Disk...\r\nGRUB loading...\r\n",
    "KVM internal error. Suberror: 1\r\nextra data[0]: 0x0000000000000001\r\nemulation failure\r\n",
];

const A_GOOD_BOOT: [&str; 2] = [
    "[    0.000000] Linux version 6.1.0-50-cloud-amd64\r\n",
    "baker-ready: first boot finished\r\n",
];

#[tokio::test]
async fn a_kvm_internal_error_ends_the_kvm_trial_at_once() {
    assert!(matches!(
        watched(Accel::Kvm, &KVM_STOPPED_THE_KERNEL).await,
        Watched::KvmFailed
    ));
    // Under software emulation the line is not QEMU's verdict on KVM: the watch goes on.
    assert!(matches!(
        watched(Accel::Tcg, &KVM_STOPPED_THE_KERNEL).await,
        Watched::Ended
    ));
}

/// The retry under software emulation used to create the log again, and the trial's console,
/// which says why KVM failed, was lost.
#[tokio::test]
async fn a_retry_under_software_emulation_keeps_the_kvm_trials_console_after_a_line_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.log");
    let mut log = ConsoleLog::create(&path).unwrap();
    let trial = watched_into(&mut log, Accel::Kvm, &KVM_STOPPED_THE_KERNEL).await;
    assert!(matches!(trial, Watched::KvmFailed));
    log.retried("QEMU reported a KVM internal error").unwrap();
    let retry = watched_into(&mut log, Accel::Tcg, &A_GOOD_BOOT).await;
    assert!(matches!(retry, Watched::Ready));
    let text = std::fs::read_to_string(&path).unwrap();
    let expected = format!(
        "{}{}\n===== baker: KVM's trial failed (QEMU reported a KVM internal error); the boot \
         starts again under software emulation =====\n{}{}",
        KVM_STOPPED_THE_KERNEL[0], KVM_STOPPED_THE_KERNEL[1], A_GOOD_BOOT[0], A_GOOD_BOOT[1]
    );
    assert_eq!(text, expected);
}

/// The retry used to share the trial's deadline, so it had the timeout less the trial, while its
/// failure said "within {timeout}s": each watch now counts its timeout from its own start.
#[tokio::test]
async fn each_watch_has_the_whole_timeout_from_its_own_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = ConsoleLog::create(&dir.path().join("console.log")).unwrap();
    let reporter: Arc<dyn Reporter> = Arc::new(Silent);
    let timeout = Duration::from_millis(300);
    // A console that stays open and silent.
    let (_tx, mut rx) = mpsc::channel::<Bytes>(1);
    for _attempt in 0..2 {
        let started = Instant::now();
        let watched = watch(&mut rx, &mut log, timeout, Accel::Tcg, false, &reporter).await;
        assert!(matches!(watched.unwrap(), Watched::TimedOut));
        assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());
    }
}

/// A `--timeout` shorter than KVM's grace ends a silent trial as a timeout: it says nothing of KVM,
/// which would otherwise be remembered as failed.
#[tokio::test]
async fn a_timeout_shorter_than_kvms_grace_is_no_verdict_on_kvm() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = ConsoleLog::create(&dir.path().join("console.log")).unwrap();
    let reporter: Arc<dyn Reporter> = Arc::new(Silent);
    let (_tx, mut rx) = mpsc::channel::<Bytes>(1);
    let short = Duration::from_millis(200);
    assert!(short < KVM_GRACE);
    let watched = watch(&mut rx, &mut log, short, Accel::Kvm, true, &reporter).await;
    assert!(matches!(watched.unwrap(), Watched::TimedOut));
}

#[tokio::test]
async fn a_firmware_with_nothing_to_boot_ends_the_watch_at_once() {
    // The console stays open after SeaBIOS's line, as QEMU's does: the watch ends on the line.
    let (tx, mut rx) = mpsc::channel(1);
    tx.send(Bytes::from(
        "SeaBIOS (version 1.16.2)\r\nBooting from Hard Disk...\r\nBoot failed: not a bootable disk\r\n\r\nNo bootable device.  Retrying in 60 seconds.\r\n",
    ))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reporter: Arc<dyn Reporter> = Arc::new(Silent);
    let mut log = ConsoleLog::create(&dir.path().join("console.log")).unwrap();
    let started = Instant::now();
    let timeout = Duration::from_secs(30);
    let watched = watch(&mut rx, &mut log, timeout, Accel::Tcg, false, &reporter).await;
    assert!(matches!(watched.unwrap(), Watched::NothingToBoot));
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(tx);
}

#[tokio::test]
async fn the_ready_line_ends_the_watch() {
    assert!(matches!(
        watched(Accel::Kvm, &A_GOOD_BOOT).await,
        Watched::Ready
    ));
}
