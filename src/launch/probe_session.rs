//! A readiness command probe that waits on the node itself. Starting a command on a node is the
//! expensive part of a probe (a `docker exec` costs the engine a runc process, an SSH probe a
//! connection), and a launch waits for every node at once: polling each node five times a second
//! from the host kept both cores of a small machine busy while the roles were starting. Instead,
//! one session runs the probe in a loop on the node, every fifth of a second, until it passes or
//! the session's few seconds are over, and only then answers. The host still judges the last
//! answer (with [`super::ready::passes`]); the loop on the node mirrors that judgement (`\r`
//! removed, surrounding whitespace trimmed) only to know when to stop early. While the agent is
//! still preparing the role (its bundle's `preparing` file exists: users, files, the role's setup),
//! the session only watches that file: a probe cannot pass before the role's process runs, and
//! four nodes' `psql` tries five times a second slowed a primary's `initdb` on two cores by a
//! third. The script runs on the image's own bash (4.1 on CentOS 6): parameter expansion only, no
//! external tools but `sleep`.

use std::time::Duration;

use super::bundle_tar::shell_quote;
use super::ready::normalise;

/// How often the loop on the node tries the probe.
pub const TRY_EVERY: Duration = Duration::from_millis(200);

/// What a session prints when the role's process never started within it.
pub const STILL_PREPARING: &str =
    "the role has not started: its agent is still preparing it (its user, files or setup)";

/// The script of one session: waits while the agent prepares the role (see the module doc), sources
/// the bundle's `env` (a password in it reaches `psql`), then runs `run` in a subshell (an `exit` in
/// it ends only that try; its standard input is /dev/null, as the script itself may arrive on
/// standard input over SSH) until its exit code is 0 and, when
/// `equals` is given, its normalised output equals `equals` normalised; or until `seconds` have
/// passed (at least: counted in tries, each a pause plus the probe's own time). It prints the last
/// try's output (standard output and error) and exits with its code.
pub fn session_script(bundle_dir: &str, run: &str, equals: Option<&str>, seconds: u64) -> String {
    let expect = match equals {
        Some(e) => format!("baker_any=0 baker_expect={}", shell_quote(&normalise(e))),
        None => "baker_any=1 baker_expect=".to_owned(),
    };
    let pause = TRY_EVERY.as_secs_f64();
    // Counted in tries rather than with bash's SECONDS, which ticks on whole wall-clock seconds;
    // one try more than pauses fit in the session.
    let tries = seconds as u128 * 1000 / TRY_EVERY.as_millis() + 1;
    let half_pause = pause / 2.0;
    let still = shell_quote(STILL_PREPARING);
    format!(
        r#"baker_waits=$(({tries} * 2))
while [ -f {bundle_dir}/preparing ]; do
  baker_waits=$((baker_waits - 1))
  if [ "$baker_waits" -le 0 ]; then printf '%s' {still}; exit 1; fi
  sleep {half_pause} </dev/null
done
baker_tries=$(((baker_waits + 1) / 2))
if [ -f {bundle_dir}/env ]; then . {bundle_dir}/env; fi
baker_probe() (
{run}
)
{expect}
while :; do
  baker_out=$(baker_probe 2>&1 </dev/null)
  baker_code=$?
  if [ "$baker_code" -eq 0 ]; then
    baker_seen=${{baker_out//$'\r'/}}
    baker_seen=${{baker_seen#"${{baker_seen%%[![:space:]]*}}"}}
    baker_seen=${{baker_seen%"${{baker_seen##*[![:space:]]}}"}}
    if [ "$baker_any" = 1 ] || [ "$baker_seen" = "$baker_expect" ]; then break; fi
  fi
  baker_tries=$((baker_tries - 1))
  [ "$baker_tries" -gt 0 ] || break
  sleep {pause}
done
printf '%s' "$baker_out"
exit "$baker_code"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::ready::{Seen, passes};
    use std::process::Command;
    use std::time::Instant;

    /// Runs a session with the host's bash, as a node's bash would.
    fn session(run: &str, equals: Option<&str>, seconds: u64) -> (i32, String, Duration) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("env"), "export BAKER_WORD='streaming'\n").unwrap();
        session_in(dir.path(), run, equals, seconds)
    }

    /// Runs a session whose bundle is `dir`.
    fn session_in(
        dir: &std::path::Path,
        run: &str,
        equals: Option<&str>,
        seconds: u64,
    ) -> (i32, String, Duration) {
        let script = session_script(dir.to_str().unwrap(), run, equals, seconds);
        let started = Instant::now();
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
        (out.status.code().unwrap(), text, started.elapsed())
    }

    #[test]
    fn a_passing_probe_answers_at_once_with_the_bundle_environment() {
        let (code, out, took) = session("printf '%s\\r\\n' \"$BAKER_WORD\"", Some("streaming"), 5);
        assert_eq!(code, 0);
        assert!(passes(&Seen::Answer(out), Some("streaming")));
        assert!(took < Duration::from_secs(10), "took {took:?}");
    }

    #[test]
    fn a_probe_that_becomes_true_is_tried_again_on_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("n");
        // Passes on the third try.
        let run = format!(
            "n=$(cat {f} 2>/dev/null || echo 0); echo $((n + 1)) > {f}; [ $n -ge 2 ] && echo ' ok '",
            f = flag.display()
        );
        let (code, out, _) = session(&run, Some("ok"), 5);
        assert_eq!((code, out.trim()), (0, "ok"));
        assert_eq!(std::fs::read_to_string(&flag).unwrap().trim(), "3");
    }

    #[test]
    fn a_wrong_answer_ends_with_the_session_and_shows_the_last_try() {
        let (code, out, took) = session("echo catchup", Some("streaming"), 1);
        assert_eq!(code, 0);
        assert!(!passes(&Seen::Answer(out.clone()), Some("streaming")));
        assert_eq!(out.trim(), "catchup");
        assert!(took >= Duration::from_millis(900), "took {took:?}");
        assert!(took < Duration::from_secs(10), "took {took:?}");
    }

    #[test]
    fn an_exit_in_the_probe_ends_only_that_try_and_its_code_is_kept() {
        let (code, out, _) = session("echo 'no server'; exit 2", None, 1);
        assert_eq!((code, out.trim()), (2, "no server"));
        let (code, out, _) = session("true", None, 5);
        assert_eq!((code, out.as_str()), (0, ""));
    }

    #[test]
    fn a_probe_that_reads_its_input_cannot_eat_a_script_sent_over_ssh() {
        use std::io::Write;
        let script = session_script("/nonexistent", "cat; echo read", Some("read"), 5);
        let mut bash = Command::new("bash")
            .arg("-s")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        bash.stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = bash.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "read");
    }

    #[test]
    fn the_probe_waits_until_the_agent_has_started_the_role() {
        let dir = tempfile::tempdir().unwrap();
        let preparing = dir.path().join("preparing");
        let tries = dir.path().join("tries");
        std::fs::write(&preparing, "").unwrap();
        let remover = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(600));
            let removing = Instant::now();
            std::fs::remove_file(preparing).unwrap();
            removing
        });
        let run = format!("echo x >> {}; echo up", tries.display());
        let (code, out, _) = session_in(dir.path(), &run, Some("up"), 5);
        let (ended, removed) = (Instant::now(), remover.join().unwrap());
        assert_eq!((code, out.as_str()), (0, "up"));
        assert!(
            ended > removed,
            "the session ended before the role was started"
        );
        // Not one try while the role was being prepared.
        assert_eq!(std::fs::read_to_string(&tries).unwrap(), "x\n");
    }

    #[test]
    fn a_role_still_being_prepared_at_the_end_of_the_session_is_said_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("preparing"), "").unwrap();
        let (code, out, took) = session_in(dir.path(), "echo up", Some("up"), 1);
        assert_eq!((code, out.as_str()), (1, STILL_PREPARING));
        assert!(took >= Duration::from_millis(900), "took {took:?}");
        assert!(took < Duration::from_secs(10), "took {took:?}");
    }

    #[test]
    fn quotes_in_the_expected_answer_survive() {
        let (code, out, _) = session("echo \"it's 'here'\"", Some("it's 'here'"), 5);
        assert_eq!(code, 0);
        assert!(passes(&Seen::Answer(out), Some("it's 'here'")));
    }
}
