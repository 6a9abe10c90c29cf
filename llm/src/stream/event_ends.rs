//! Where SSE events end in a byte stream: an observed stream is passed on an event at a time,
//! each event's bytes held until its blank line, so that an event the observer finds
//! unreadable is never sent (the client's parser would fail on it before reading the error
//! event that replaces it) and a cut never leaves half an event at the client.

/// Finds the blank lines that end events across chunks. Lines end with CRLF, LF or CR, as
/// the SSE standard (and `netkit::sse`) reads them.
#[derive(Debug)]
pub(crate) struct EventEnds {
    /// The last byte ended a line (or nothing was read yet).
    line_start: bool,
    /// The last byte was a CR: an LF right after it belongs to the same line end.
    after_cr: bool,
}

impl Default for EventEnds {
    fn default() -> Self {
        EventEnds {
            line_start: true,
            after_cr: false,
        }
    }
}

impl EventEnds {
    /// The offset just past the first blank line in `bytes`, if there is one; the bytes up to
    /// there (all of them when there is none) are read.
    pub(crate) fn next_end(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b != b'\r' && b != b'\n' {
                self.line_start = false;
                self.after_cr = false;
                let run = bytes[i..].iter().position(|&c| c == b'\r' || c == b'\n');
                i += run.unwrap_or(bytes.len() - i);
                continue;
            }
            i += 1;
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            self.after_cr = b == b'\r';
            if self.line_start {
                // The LF of a CRLF blank line belongs to it (when it is in this chunk).
                if self.after_cr && bytes.get(i) == Some(&b'\n') {
                    self.after_cr = false;
                    i += 1;
                }
                return Some(i);
            }
            self.line_start = true;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event end of `chunks` pushed in order, as offsets in their concatenation.
    fn ends(chunks: &[&[u8]]) -> Vec<usize> {
        let mut e = EventEnds::default();
        let mut out = Vec::new();
        let mut base = 0;
        for chunk in chunks {
            let mut pos = 0;
            while let Some(end) = e.next_end(&chunk[pos..]) {
                pos += end;
                out.push(base + pos);
            }
            base += chunk.len();
        }
        out
    }

    #[test]
    fn blank_lines_in_every_line_ending_and_split_anywhere() {
        let text: &[u8] = b"data: a\n\nevent: x\r\ndata: b\r\n\r\ndata: c\r\rdata: d\n";
        let want = vec![9, 30, 39];
        assert_eq!(ends(&[text]), want);
        for cut in 0..=text.len() {
            // Cut between the CR and LF of a blank line: the event ends at the CR (the LF is
            // read as its tail with the next chunk).
            let want = if cut == 29 {
                vec![9, 29, 39]
            } else {
                want.clone()
            };
            assert_eq!(ends(&[&text[..cut], &text[cut..]]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(ends(&bytes), [9, 29, 39]);
        // A CRLF split between its CR and LF is one line end, not a blank line.
        assert_eq!(
            ends(&[b"data: a\r", b"\n", b"data: b\r\n", b"\r\n"]),
            vec![20]
        );
    }
}
