//! A container's output as lines, as it streams in: each complete line goes to a callback (progress,
//! parsing) and the last 40 are kept for the error message when the command fails.

use std::collections::VecDeque;

/// Splits a byte stream into lines and keeps the last 40.
#[derive(Default)]
pub struct Lines {
    partial: Vec<u8>,
    tail: VecDeque<String>,
}

impl Lines {
    pub fn push(&mut self, chunk: &[u8], on_line: &mut (dyn FnMut(&str) + Send)) {
        self.partial.extend_from_slice(chunk);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.line(String::from_utf8_lossy(&line).trim_end(), on_line);
        }
    }

    pub fn flush(&mut self, on_line: &mut (dyn FnMut(&str) + Send)) {
        if !self.partial.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            self.line(line.trim_end(), on_line);
        }
    }

    fn line(&mut self, line: &str, on_line: &mut (dyn FnMut(&str) + Send)) {
        on_line(line);
        if self.tail.len() == 40 {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
    }

    pub fn tail(&self) -> String {
        self.tail
            .iter()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_lines_and_the_tail_keeps_the_last_forty() {
        let mut seen = Vec::new();
        let mut on_line = |l: &str| seen.push(l.to_owned());
        let mut lines = Lines::default();
        lines.push(b"one\ntw", &mut on_line);
        lines.push(b"o\r\n", &mut on_line);
        for i in 0..50 {
            lines.push(format!("line {i}\n").as_bytes(), &mut on_line);
        }
        lines.push(b"no newline", &mut on_line);
        lines.flush(&mut on_line);
        assert_eq!(seen[..2], ["one", "two"]);
        assert_eq!(seen.last().unwrap(), "no newline");
        let tail = lines.tail();
        assert_eq!(tail.lines().count(), 40);
        assert!(tail.ends_with("  | no newline") && !tail.contains("line 10\n"));
    }
}
