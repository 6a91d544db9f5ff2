//! A tiny HTTP/1.1 server on 127.0.0.1 for the fetch tests, so that retries, resuming and mirror
//! order are tested against real sockets without leaving the machine. It serves files by path,
//! honours `Range: bytes=N-`, and can be told to fail the next request for a path in a given way.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the next request for a path goes wrong.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Promise the whole body, send this many bytes, close the connection.
    DropAfter(usize),
    /// Send the headers and a few bytes, then go quiet for this long.
    Stall(Duration),
    /// Answer a `Range` request with the whole file and `200 OK`, as some servers do.
    IgnoreRange,
    /// Read the request and send nothing at all for this long, then close.
    Silent(Duration),
}

/// A request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    faults: HashMap<String, VecDeque<Fault>>,
    seen: Vec<Seen>,
}

pub struct TestServer {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl TestServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || handle(stream, &state));
            }
        });
        Self { port, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn serve(&self, path: &str, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap();
        state.files.insert(path.to_owned(), bytes.to_vec());
    }

    /// Makes the next request for `path` fail this way (faults queue up, one per request).
    pub fn fault(&self, path: &str, fault: Fault) {
        let mut state = self.state.lock().unwrap();
        state
            .faults
            .entry(path.to_owned())
            .or_default()
            .push_back(fault);
    }

    pub fn requests(&self, path: &str) -> Vec<Seen> {
        let state = self.state.lock().unwrap();
        state
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

fn handle(mut stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_owned());
            }
        }
    }
    let (body, fault) = {
        let mut state = state.lock().unwrap();
        state.seen.push(Seen {
            path: path.clone(),
            range: range.clone(),
        });
        let fault = state.faults.get_mut(&path).and_then(VecDeque::pop_front);
        (state.files.get(&path).cloned(), fault)
    };
    if let Some(Fault::Silent(quiet)) = fault {
        std::thread::sleep(quiet);
        return;
    }
    let Some(body) = body else {
        return respond(&mut stream, "404 Not Found", &[], b"");
    };
    let ignore_range = matches!(fault, Some(Fault::IgnoreRange));
    let start = range
        .as_deref()
        .filter(|_| !ignore_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
    let (status, headers, part) = match start {
        Some(start) if start >= body.len() => {
            let unsatisfied = format!("Content-Range: bytes */{}", body.len());
            return respond(
                &mut stream,
                "416 Range Not Satisfiable",
                &[unsatisfied],
                b"",
            );
        }
        Some(start) => {
            let range = format!(
                "Content-Range: bytes {start}-{}/{}",
                body.len() - 1,
                body.len()
            );
            ("206 Partial Content", vec![range], &body[start..])
        }
        None => ("200 OK", vec![], &body[..]),
    };
    match fault {
        None | Some(Fault::IgnoreRange | Fault::Silent(_)) => {
            respond(&mut stream, status, &headers, part)
        }
        Some(Fault::Status(code)) => respond(&mut stream, &format!("{code} Fault"), &[], b""),
        Some(Fault::DropAfter(n)) => {
            write_head(&mut stream, status, &headers, part.len());
            let _ = stream.write_all(&part[..n.min(part.len())]);
            let _ = stream.flush();
            let _ = stream.shutdown(Shutdown::Both);
        }
        Some(Fault::Stall(quiet)) => {
            write_head(&mut stream, status, &headers, part.len());
            let _ = stream.write_all(&part[..16.min(part.len())]);
            let _ = stream.flush();
            std::thread::sleep(quiet);
        }
    }
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[String], body: &[u8]) {
    write_head(stream, status, headers, body.len());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn write_head(stream: &mut TcpStream, status: &str, headers: &[String], len: usize) {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
}
