//! Whether a role's `command` becomes the role agent's own process. The agent runs it with
//! `bash -c`, and bash execs a lone simple command (`/usr/local/pgsql/bin/postgres`): the pid that
//! the image's init, `status` and `destroy` know is then the role's. A compound command (`cd /x;
//! run`, `a && b`, a pipe, a background `&`) keeps bash as the role's parent, so stopping that pid
//! stops bash and leaves the role running, and a resumed launch would start a second one. Recipes
//! are checked when they load, and such a command is warned about with the fix (`exec` before the
//! last command, or the preparation moved to `setup`).
//!
//! Written by hand: this needs only where bash's control operators stand outside quotes and
//! `{{…}}` template expressions, which no shell-parsing crate reports (`shlex` splits words and
//! keeps operators inside them).

/// Why `command` would not become the agent's own process, or `None` when it would.
pub fn not_exec_reason(command: &str) -> Option<String> {
    let segments = control_segments(command);
    let ops: Vec<&str> = segments.iter().filter_map(|(op, _)| *op).collect();
    for (op, what) in [("|", "a pipe"), ("&", "a background `&`")] {
        if ops.contains(&op) {
            return Some(format!(
                "it holds {what}, so bash stays the parent of its commands"
            ));
        }
    }
    // Only `;`, `&&`, `||` and newlines are left: the last command can replace bash.
    let [.., (Some(joiner), _), (None, last)] = segments.as_slice() else {
        return None;
    };
    if starts_with_exec(last) {
        return None;
    }
    let (joined, fix) = match *joiner {
        "\n" => (
            "on separate lines".to_owned(),
            format!("`exec {}` on the last line", last.trim()),
        ),
        op => (
            format!("joined with `{op}`"),
            format!("`… {op} exec {}`", last.trim()),
        ),
    };
    Some(format!(
        "its commands are {joined}, so bash stays the parent of the last one; write `exec` before \
         the last command ({fix}), or move what comes before it to `setup`"
    ))
}

fn starts_with_exec(segment: &str) -> bool {
    let s = segment.trim_start();
    s == "exec" || s.starts_with("exec ") || s.starts_with("exec\t")
}

/// The command split at bash's control operators outside quotes and template expressions: each
/// piece with the operator that ends it (`None` for the last, unless it is a background `&`).
/// Empty pieces (after a trailing newline or `;`) are dropped with the operator that ends them.
fn control_segments(command: &str) -> Vec<(Option<&'static str>, &str)> {
    let bytes = command.as_bytes();
    let mut segments = Vec::new();
    let (mut start, mut i) = (0, 0);
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' && q == b'"' {
                i += 1;
            } else if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if bytes[i..].starts_with(b"{{") {
            i = bytes[i..]
                .windows(2)
                .position(|w| w == b"}}")
                .map_or(bytes.len(), |end| i + end + 2);
            continue;
        }
        let op = match b {
            b'\\' => {
                i += 2;
                continue;
            }
            b'\'' | b'"' => {
                quote = Some(b);
                i += 1;
                continue;
            }
            b'#' if i == 0 || bytes[i - 1].is_ascii_whitespace() => {
                // A comment runs to the end of its line.
                i = bytes[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |end| i + end);
                continue;
            }
            b'&' if bytes.get(i + 1) == Some(&b'&') => "&&",
            b'|' if bytes.get(i + 1) == Some(&b'|') => "||",
            // The `&` of `>&2` and `&>file` (redirections) and of `|&` (a pipe) is no background job.
            b'&' if i > 0 && matches!(bytes[i - 1], b'>' | b'<' | b'|') => {
                i += 1;
                continue;
            }
            b'&' if bytes.get(i + 1) == Some(&b'>') => {
                i += 1;
                continue;
            }
            b'&' => "&",
            b'|' => "|",
            b';' => ";",
            b'\n' => "\n",
            _ => {
                i += 1;
                continue;
            }
        };
        segments.push((Some(op), &command[start..i]));
        i += op.len();
        start = i;
    }
    segments.push((None, &command[start..]));
    // Empty pieces go: `a;` and `a\n` are single commands, `a &` a background one.
    let mut kept: Vec<_> = segments
        .into_iter()
        .filter(|(_, text)| !text.trim().is_empty())
        .collect();
    if let Some(last) = kept.last_mut().filter(|last| last.0 != Some("&")) {
        last.0 = None;
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::not_exec_reason;

    #[test]
    fn a_single_command_becomes_the_agents_process() {
        for command in [
            "/usr/local/pgsql/bin/postgres",
            "/usr/local/pgsql/bin/postgres{{#if self.slot}} -p {{add 5432 self.slot}}{{/if}}",
            "mesos-master --ip={{self.ip}} --work_dir=/var/lib/mesos 2>&1",
            "psql -c \"select 1; select 2\" -c 'a | b && c'",
            "run --flag=a\\;b\n",
            "run; ",
            "cd /srv && exec ./server --port 80",
            "cd /srv\nexec ./server",
            "run >/dev/null 2>&1 # comment; with | operators",
        ] {
            assert_eq!(not_exec_reason(command), None, "{command:?}");
        }
    }

    #[test]
    fn a_compound_command_is_named_with_its_fix() {
        let reason = not_exec_reason("cd /srv && ./server --port 80").unwrap();
        assert!(reason.contains("joined with `&&`"), "{reason}");
        assert!(
            reason.contains("`… && exec ./server --port 80`"),
            "{reason}"
        );
        let reason = not_exec_reason("cd /srv; ./server").unwrap();
        assert!(reason.contains("joined with `;`"), "{reason}");
        let reason = not_exec_reason("cd /srv\n./server").unwrap();
        assert!(reason.contains("on separate lines"), "{reason}");
        assert!(
            reason.contains("`exec ./server` on the last line"),
            "{reason}"
        );
        assert!(
            not_exec_reason("a || b")
                .unwrap()
                .contains("joined with `||`")
        );
    }

    #[test]
    fn a_pipe_or_a_background_job_cannot_be_fixed_with_exec() {
        let reason = not_exec_reason("./server | tee /var/log/server.log").unwrap();
        assert!(reason.contains("a pipe"), "{reason}");
        let reason = not_exec_reason("./server &").unwrap();
        assert!(reason.contains("a background `&`"), "{reason}");
        assert!(
            not_exec_reason("./a & exec ./b")
                .unwrap()
                .contains("background")
        );
    }
}
