//! Server-Sent Events of a streaming answer, read as they come: the
//! `(event, data)` of each message, its `data:` lines joined with `\n`
//! and a message dispatched at its blank line, as the standard says.

use std::io::{BufRead, BufReader, Lines, Read};

/// The messages of an event stream.
pub struct Events<R: Read> {
    lines: Lines<BufReader<R>>,
}

/// The messages `body` carries.
pub fn events<R: Read>(body: R) -> Events<R> {
    Events {
        lines: BufReader::new(body).lines(),
    }
}

impl<R: Read> Iterator for Events<R> {
    type Item = std::io::Result<(String, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut event = String::new();
        let mut data: Option<String> = None;
        for line in self.lines.by_ref() {
            let line = match line {
                Ok(line) => line,
                Err(err) => return Some(Err(err)),
            };
            if line.is_empty() {
                if let Some(data) = data.take() {
                    return Some(Ok((std::mem::take(&mut event), data)));
                }
                event.clear();
            } else if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_owned();
            } else if let Some(more) = line.strip_prefix("data:") {
                let more = more.strip_prefix(' ').unwrap_or(more);
                match &mut data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(more);
                    }
                    None => data = Some(more.to_owned()),
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_dispatched_at_their_blank_line() {
        let body = ": keep-alive\n\nevent: stdout\ndata: {\"text\":\"a\"}\n\nevent: log\ndata: one\ndata:two\n\nevent: cut\ndata: x";
        let got: Vec<(String, String)> = events(body.as_bytes()).map(Result::unwrap).collect();
        assert_eq!(
            got,
            [
                ("stdout".to_owned(), "{\"text\":\"a\"}".to_owned()),
                ("log".to_owned(), "one\ntwo".to_owned()),
            ]
        );
    }
}
