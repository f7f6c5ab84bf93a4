//! From a kernel's MIME bundles (`execute_result`, `display_data`) and
//! `error` messages to `CodeResultPart`s: the richest representation of
//! each bundle wins (a table over its HTML, an image over its text), so one
//! bundle makes one part.

use jupyter_protocol::{ErrorOutput, Media, MediaType};
use paddock_api::code::{CodeError, CodeResultPart, DataframeColumn, ImageFormat};

/// Longest traceback kept, bytes (a recursion error's can be huge).
const MAX_TRACEBACK: usize = 64 << 10;

/// The part of one MIME bundle, if it has anything to show.
pub fn bundle_part(media: &Media) -> Option<CodeResultPart> {
    let find = |pick: &dyn Fn(&MediaType) -> Option<CodeResultPart>| media.content.iter().find_map(pick);
    find(&|m| match m {
        MediaType::DataTable(table) => {
            let columns: Vec<DataframeColumn> = table
                .schema
                .fields
                .iter()
                .map(|f| DataframeColumn {
                    name: f.name.clone(),
                    dtype: serde_json::to_value(&f.field_type)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| "any".into()),
                })
                .collect();
            let rows = table
                .data
                .iter()
                .flatten()
                .map(|row| {
                    columns
                        .iter()
                        .map(|c| row.get(&c.name).cloned().unwrap_or(serde_json::Value::Null))
                        .collect()
                })
                .collect();
            let truncated = plain_of(media).is_some_and(shown_rows_fewer_than_total);
            Some(CodeResultPart::Dataframe {
                columns,
                rows,
                truncated,
            })
        }
        _ => None,
    })
    .or_else(|| {
        find(&|m| match m {
            MediaType::Png(data) => Some(image(ImageFormat::Png, data)),
            MediaType::Jpeg(data) => Some(image(ImageFormat::Jpeg, data)),
            MediaType::Svg(svg) => Some(CodeResultPart::Image {
                format: ImageFormat::Svg,
                data: base64_of(svg.as_bytes()),
            }),
            _ => None,
        })
    })
    .or_else(|| {
        find(&|m| match m {
            MediaType::Json(value) => Some(CodeResultPart::Json { value: value.clone() }),
            _ => None,
        })
    })
    .or_else(|| {
        find(&|m| match m {
            MediaType::Html(html) => Some(CodeResultPart::Html { value: html.clone() }),
            _ => None,
        })
    })
    .or_else(|| plain_of(media).map(|text| CodeResultPart::Text { value: text.to_owned() }))
}

/// An `error` message as the result's error and its part.
pub fn error_of(error: &ErrorOutput) -> CodeError {
    let traceback = strip_ansi(&error.traceback.join("\n"));
    CodeError {
        name: error.ename.clone(),
        message: error.evalue.clone(),
        traceback: (!traceback.is_empty()).then(|| truncate(traceback, MAX_TRACEBACK)),
    }
}

/// The part of an error.
pub fn error_part(error: &CodeError) -> CodeResultPart {
    CodeResultPart::Error {
        name: error.name.clone(),
        message: error.message.clone(),
        traceback: error.traceback.clone(),
    }
}

/// The error of a call whose kernel reported the failure on stderr only:
/// tslab prints TypeScript diagnostics (`LINE:COL - message`) and a thrown
/// value's stack (`Name: message` then `    at ...` frames).
pub fn error_from_stderr(stderr: &str) -> CodeError {
    let stderr = strip_ansi(stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let diagnostics: Vec<&str> = lines.iter().copied().filter(|l| is_diagnostic(l)).collect();
    if !diagnostics.is_empty() {
        return CodeError {
            name: "CompileError".into(),
            message: truncate(diagnostics.join("\n"), MAX_TRACEBACK),
            traceback: None,
        };
    }
    let is_frame = |line: &&str| line.trim_start().starts_with("at ");
    for (i, line) in lines.iter().enumerate().rev() {
        let Some((name, first)) = line.split_once(": ") else {
            continue;
        };
        // A message of several lines runs to the first stack frame.
        let rest: Vec<&str> = lines[i + 1..].iter().copied().take_while(|l| !is_frame(l)).collect();
        let followed_by_frames = lines.get(i + 1 + rest.len()).is_some_and(is_frame);
        let named = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
            && (followed_by_frames || name.ends_with("Error"));
        if named {
            let message = if followed_by_frames {
                std::iter::once(first).chain(rest).collect::<Vec<_>>().join("\n")
            } else {
                first.to_owned()
            };
            return CodeError {
                name: name.to_owned(),
                message: truncate(message, MAX_TRACEBACK),
                traceback: Some(truncate(lines[i..].join("\n"), MAX_TRACEBACK)),
            };
        }
    }
    let last = lines.iter().rev().find(|l| !l.trim().is_empty());
    CodeError {
        name: "Error".into(),
        message: last.map_or("the kernel reported an error without details".into(), |l| {
            l.trim().to_owned()
        }),
        traceback: None,
    }
}

/// `12:5 - Cannot find name 'x'.`
fn is_diagnostic(line: &str) -> bool {
    let Some((position, _)) = line.split_once(" - ") else {
        return false;
    };
    let mut numbers = position.split(':');
    let numeric = |n: Option<&str>| n.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    numeric(numbers.next()) && numeric(numbers.next()) && numbers.next().is_none()
}

fn plain_of(media: &Media) -> Option<&str> {
    media.content.iter().find_map(|m| match m {
        MediaType::Plain(text) => Some(text.as_str()),
        _ => None,
    })
}

/// pandas ends the text of a frame it cut with `[N rows x M columns]`.
fn shown_rows_fewer_than_total(text: &str) -> bool {
    let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) else {
        return false;
    };
    let line = line.trim();
    let Some(inner) = line.strip_prefix('[').and_then(|l| l.strip_suffix(" columns]")) else {
        return false;
    };
    let Some((rows, _)) = inner.split_once(" rows x ") else {
        return false;
    };
    let Ok(total) = rows.trim().parse::<usize>() else {
        return false;
    };
    // The text shows at most a head and a tail of the frame: fewer lines
    // than rows means rows were left out.
    text.lines().count() < total
}

fn image(format: ImageFormat, data: &str) -> CodeResultPart {
    // Jupyter sends base64 with line breaks at times; Tangle's has none.
    let data: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    CodeResultPart::Image { format, data }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Removes ANSI escape sequences (IPython colors its tracebacks).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n[traceback truncated]");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_on_stderr_are_named() {
        let compile =
            error_from_stderr("1:7 - Type 'number' is not assignable to type 'string'.\n2:1 - Cannot find name 'y'.\n");
        assert_eq!(compile.name, "CompileError");
        assert_eq!(
            compile.message,
            "1:7 - Type 'number' is not assignable to type 'string'.\n2:1 - Cannot find name 'y'."
        );
        let thrown = error_from_stderr(
            "some output\nRangeError: too far\n    at f (x.js:1:1)\n    at g (x.js:2:2) {\n  code: 'X'\n}\n",
        );
        assert_eq!(
            (thrown.name.as_str(), thrown.message.as_str()),
            ("RangeError", "too far")
        );
        assert!(thrown
            .traceback
            .as_deref()
            .is_some_and(|t| t.starts_with("RangeError: too far\n    at f")));
        let long = error_from_stderr("Error: first line\nsecond line\n    at f (x.js:1:1)\n");
        assert_eq!(
            (long.name.as_str(), long.message.as_str()),
            ("Error", "first line\nsecond line")
        );
        let plain = error_from_stderr("\u{1b}[31mboom\u{1b}[0m\n\n");
        assert_eq!((plain.name.as_str(), plain.message.as_str()), ("Error", "boom"));
        assert_eq!(
            error_from_stderr("").message,
            "the kernel reported an error without details"
        );
    }

    fn media(json: serde_json::Value) -> Media {
        serde_json::from_value(json).expect("media")
    }

    #[test]
    fn a_table_wins_over_its_html_and_text() {
        let bundle = media(serde_json::json!({
            "text/plain": "   a\n0  1\n1  2",
            "text/html": "<table></table>",
            "application/vnd.dataresource+json": {
                "schema": {"fields": [{"name": "index", "type": "integer"}, {"name": "a", "type": "number"}], "primaryKey": ["index"]},
                "data": [{"index": 0, "a": 1.5}, {"index": 1, "a": null}]
            }
        }));
        let Some(CodeResultPart::Dataframe {
            columns,
            rows,
            truncated,
        }) = bundle_part(&bundle)
        else {
            panic!("no dataframe part");
        };
        assert_eq!(
            columns[1],
            DataframeColumn {
                name: "a".into(),
                dtype: "number".into()
            }
        );
        assert_eq!(
            rows,
            vec![
                vec![serde_json::json!(0), serde_json::json!(1.5)],
                vec![serde_json::json!(1), serde_json::Value::Null]
            ]
        );
        assert!(!truncated);
    }

    #[test]
    fn a_cut_frame_is_truncated() {
        let text = "     a\n0    0\n1    1\n..  ..\n98  98\n99  99\n\n[100 rows x 1 columns]";
        assert!(shown_rows_fewer_than_total(text));
        assert!(!shown_rows_fewer_than_total("   a\n0  1\n\n[1 rows x 1 columns]"));
        assert!(!shown_rows_fewer_than_total("just text"));
    }

    #[test]
    fn images_lose_their_line_breaks_and_svg_is_encoded() {
        let png = bundle_part(&media(
            serde_json::json!({"image/png": "iVBO\nRw0K", "text/plain": "<Figure>"}),
        ));
        assert_eq!(
            png,
            Some(CodeResultPart::Image {
                format: ImageFormat::Png,
                data: "iVBORw0K".into()
            })
        );
        let svg = bundle_part(&media(serde_json::json!({"image/svg+xml": "<svg/>"})));
        assert_eq!(
            svg,
            Some(CodeResultPart::Image {
                format: ImageFormat::Svg,
                data: base64_of(b"<svg/>")
            })
        );
    }

    #[test]
    fn tracebacks_lose_their_colors() {
        let error = ErrorOutput {
            ename: "ZeroDivisionError".into(),
            evalue: "division by zero".into(),
            traceback: vec!["\u{1b}[0;31mZeroDivisionError\u{1b}[0m: division by zero".into()],
        };
        let error = error_of(&error);
        assert_eq!(error.traceback.as_deref(), Some("ZeroDivisionError: division by zero"));
    }
}
