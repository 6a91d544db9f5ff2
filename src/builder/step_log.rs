//! A running step's output: every byte kept in a log file, the last lines kept in memory for the
//! failure report, and the recipe's failure hints matched against the whole log when a step fails.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use crate::recipe::Hint;

/// How many lines a failure report shows.
pub const TAIL_LINES: usize = 40;

pub struct StepLog {
    file: BufWriter<File>,
    tail: VecDeque<String>,
    partial: Vec<u8>,
}

impl StepLog {
    pub fn create(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self {
            file: BufWriter::new(File::create(path)?),
            tail: VecDeque::with_capacity(TAIL_LINES + 1),
            partial: Vec::new(),
        })
    }

    /// Appends output and returns the lines it completed.
    pub fn push(&mut self, bytes: &[u8]) -> io::Result<Vec<String>> {
        self.file.write_all(bytes)?;
        self.partial.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(pos) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1])
                .trim_end_matches('\r')
                .to_owned();
            self.remember(text.clone());
            lines.push(text);
        }
        Ok(lines)
    }

    fn remember(&mut self, line: String) {
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    /// Flushes the file and returns the last lines (including an unterminated last line).
    pub fn finish(&mut self) -> io::Result<Vec<String>> {
        if !self.partial.is_empty() {
            let text = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            self.remember(text);
        }
        self.file.flush()?;
        Ok(self.tail.iter().cloned().collect())
    }
}

/// The hints whose pattern occurs anywhere in the log at `path`, each with the first matching line.
pub fn matching_hints(hints: &[Hint], path: &Path) -> Vec<(Hint, String)> {
    let patterns: Vec<(&Hint, regex::Regex)> = hints
        .iter()
        .filter_map(|h| regex::Regex::new(&h.pattern).ok().map(|r| (h, r)))
        .collect();
    let mut found: Vec<(Hint, String)> = Vec::new();
    let Ok(file) = File::open(path) else {
        return found;
    };
    for line in BufReader::new(file).split(b'\n').map_while(Result::ok) {
        let line = String::from_utf8_lossy(&line);
        for (hint, re) in &patterns {
            if re.is_match(&line) && !found.iter().any(|(h, _)| h.pattern == hint.pattern) {
                found.push(((*hint).clone(), line.trim().to_owned()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_and_the_whole_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/step.log");
        let mut log = StepLog::create(&path).unwrap();
        for i in 0..100 {
            log.push(format!("line {i}\n").as_bytes()).unwrap();
        }
        let lines = log.push(b"split ").unwrap();
        assert!(lines.is_empty());
        log.push(b"line\nno newline").unwrap();
        let tail = log.finish().unwrap();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.last().unwrap(), "no newline");
        assert_eq!(tail[TAIL_LINES - 2], "split line");
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 102);
    }

    #[test]
    fn matches_hints_against_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("configure.log");
        std::fs::write(
            &path,
            "checking for zlib...\nconfigure: error: cannot find libz\n",
        )
        .unwrap();
        let hints = vec![
            Hint {
                pattern: "cannot find libz".into(),
                advice: "install zlib1g-dev".into(),
            },
            Hint {
                pattern: "libsvn".into(),
                advice: "install libsvn-dev".into(),
            },
        ];
        let found = matching_hints(&hints, &path);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0.advice, "install zlib1g-dev");
        assert_eq!(found[0].1, "configure: error: cannot find libz");
    }
}
