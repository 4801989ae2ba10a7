//! `sbx ps --format`: Docker's `--format` habit on a small scale. `table`
//! and `json` name the two built-in forms; anything else is a Go-template-like
//! text where `{{.Field}}` is replaced per sandbox, `\t` and `\n` are a tab and
//! a newline, and a leading `table ` adds a header row and aligns the
//! tab-separated columns (as `docker ps --format 'table ...'` does). Also the
//! COMMAND cell of the table: escaped and cut, so that one sandbox is one line.

use anyhow::{Result, bail};
use std::net::{Ipv4Addr, Ipv6Addr};

/// How `sbx ps` prints, from `--format`.
#[derive(Debug, PartialEq)]
pub enum Format {
    /// The default table.
    Table,
    /// One JSON object per line (Docker's `--format json`); keys as `--json`.
    JsonLines,
    /// A user template.
    Template(Template),
}

/// A parsed template: text and fields in order.
#[derive(Debug, PartialEq)]
pub struct Template {
    /// Started with `table `: print a header row and align columns.
    table: bool,
    parts: Vec<Part>,
}

#[derive(Debug, PartialEq)]
enum Part {
    Text(String),
    Field(Field),
}

/// The fields a template may name, as `{{.Name}}`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Field {
    Name,
    Pid,
    Network,
    Networks,
    Ip,
    Ip6,
    Status,
    Created,
    RunningFor,
    Command,
    ExitCode,
    Ports,
}

/// Every field with its template spelling and its header, in help order.
const FIELDS: [(Field, &str, &str); 12] = [
    (Field::Name, "Name", "NAME"),
    (Field::Pid, "PID", "PID"),
    (Field::Network, "Network", "NETWORK"),
    (Field::Networks, "Networks", "NETWORKS"),
    (Field::Ip, "IP", "IP"),
    (Field::Ip6, "IP6", "IP6"),
    (Field::Status, "Status", "STATUS"),
    (Field::Created, "Created", "CREATED"),
    (Field::RunningFor, "RunningFor", "CREATED"),
    (Field::Command, "Command", "COMMAND"),
    (Field::ExitCode, "ExitCode", "EXIT CODE"),
    (Field::Ports, "Ports", "PORTS"),
];

/// One sandbox as a template sees it.
pub struct Row<'a> {
    /// Its name.
    pub name: &'a str,
    /// Host PID of its init while it runs.
    pub pid: Option<i32>,
    /// Its first network (`None`: loopback only).
    pub network: Option<&'a str>,
    /// Every network it is on, in order (`eth0`, `eth1`, ...).
    pub networks: Vec<&'a str>,
    /// Its address.
    pub ip: Option<Ipv4Addr>,
    /// Its IPv6 address on its first network, if that one is dual-stack.
    pub ip6: Option<Ipv6Addr>,
    /// `running`, `exited`, ... as `ps` shows it.
    pub status: &'a str,
    /// Its exit code, once known.
    pub exit_code: Option<i32>,
    /// Unix seconds of its launch (`None`: unknown, its record is unreadable).
    pub created: Option<u64>,
    /// Its command and arguments.
    pub command: &'a [String],
    /// Its published ports.
    pub ports: &'a [crate::model::ports::PortMapping],
}

/// Parses `--format`. A template naming an unknown field, or using
/// something other than `{{.Field}}`, is a user error that names it.
pub fn parse(text: &str) -> Result<Format> {
    match text {
        "table" | "" => return Ok(Format::Table),
        "json" => return Ok(Format::JsonLines),
        _ => {}
    }
    let (table, body) = match text.strip_prefix("table") {
        Some(rest) if rest.starts_with(char::is_whitespace) => (true, &rest[1..]),
        _ => (false, text),
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let mut parts = Vec::new();
    let mut rest = body.as_str();
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_string()));
        }
        let Some(close) = rest[open..].find("}}") else {
            bail!("--format {text:?}: '{{{{' without a closing '}}}}'");
        };
        let action = rest[open + 2..open + close].trim();
        parts.push(Part::Field(field(action)?));
        rest = &rest[open + close + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(Format::Template(Template { table, parts }))
}

fn field(action: &str) -> Result<Field> {
    let known = || {
        FIELDS
            .iter()
            .map(|(_, name, _)| format!(".{name}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(name) = action.strip_prefix('.') else {
        bail!(
            "--format: {{{{{action}}}}} is not supported: use a field such as {{{{.Name}}}} ({})",
            known()
        );
    };
    match FIELDS.iter().find(|(_, n, _)| *n == name) {
        Some((field, _, _)) => Ok(*field),
        None => bail!("--format: unknown field .{name}: use one of {}", known()),
    }
}

impl Template {
    /// The rendered rows, plus the header first for `table ...`; columns
    /// (cells separated by tabs) are aligned in table mode.
    pub fn render(&self, rows: &[Row]) -> String {
        let mut lines: Vec<String> = Vec::new();
        if self.table {
            lines.push(self.expand(|f| header(f).to_string()));
        }
        for row in rows {
            lines.push(self.expand(|f| value(f, row)));
        }
        if !self.table {
            return lines.into_iter().map(|l| l + "\n").collect();
        }
        let cells: Vec<Vec<String>> = lines
            .iter()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
        let padded: Vec<Vec<String>> = cells
            .into_iter()
            .map(|mut c| {
                c.resize(columns, String::new());
                c
            })
            .collect();
        crate::table::format_columns(&padded)
            .lines()
            .map(|l| l.trim_end().to_string() + "\n")
            .collect()
    }

    fn expand(&self, mut fill: impl FnMut(Field) -> String) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(text) => text.clone(),
                Part::Field(f) => fill(*f),
            })
            .collect()
    }
}

fn header(field: Field) -> &'static str {
    FIELDS
        .iter()
        .find(|(f, _, _)| *f == field)
        .map_or("", |(_, _, h)| h)
}

/// A field's text; empty where there is no value (no PID once exited).
fn value(field: Field, row: &Row) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    match field {
        Field::Name => row.name.to_string(),
        Field::Pid => opt(row.pid.map(|p| p.to_string())),
        Field::Network => row.network.unwrap_or("none").to_string(),
        // Docker's `{{.Networks}}`: the names, comma-separated.
        Field::Networks if row.networks.is_empty() => "none".to_string(),
        Field::Networks => row.networks.join(","),
        Field::Ip => opt(row.ip.map(|ip| ip.to_string())),
        Field::Ip6 => opt(row.ip6.map(|ip| ip.to_string())),
        Field::Status => status_text(row.status, row.exit_code),
        Field::Created => row.created.map(crate::timefmt::rfc3339).unwrap_or_default(),
        Field::RunningFor => row
            .created
            .map(|c| crate::timefmt::ago(c, crate::timefmt::now_unix()))
            .unwrap_or_default(),
        Field::Command => command_cell(row.command, true),
        Field::ExitCode => opt(row.exit_code.map(|c| c.to_string())),
        Field::Ports => crate::model::ports::PortsCell(row.ports).to_string(),
    }
}

/// How wide the table's COMMAND cell gets before it is cut with `…`.
pub const COMMAND_WIDTH: usize = 40;

/// A command as one line: arguments with blanks or quotes single-quoted as a
/// shell would need, control characters escaped (`\n`, `\t`, `\xNN`), and,
/// unless `whole`, cut at [`COMMAND_WIDTH`] characters with `…`.
pub fn command_cell(command: &[String], whole: bool) -> String {
    let text = command
        .iter()
        .map(|arg| escape(&quote(arg)))
        .collect::<Vec<_>>()
        .join(" ");
    cut(text, whole)
}

/// `text` as the table's COMMAND cell shows it: unless `whole`
/// (`--no-trunc`), cut at [`COMMAND_WIDTH`] characters with `…`. Also for
/// the reason that stands there for a damaged record.
pub fn cut(text: String, whole: bool) -> String {
    if whole || text.chars().count() <= COMMAND_WIDTH {
        return text;
    }
    let mut cut: String = text.chars().take(COMMAND_WIDTH - 1).collect();
    cut.push('…');
    cut
}

/// The STATUS a person reads, in the table and in `{{.Status}}` (Docker's
/// `.Status` is the human text too): `exited (CODE)` once the code is
/// known, else the status itself. `--json` keeps the bare status.
pub fn status_text(status: &str, exit_code: Option<i32>) -> String {
    match exit_code {
        Some(code) if status == "exited" => format!("exited ({code})"),
        _ => status.to_string(),
    }
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| !c.is_whitespace() && !"'\"\\$`;&|<>()*?[]{}#~".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(name: &'a str, command: &'a [String]) -> Row<'a> {
        Row {
            name,
            pid: Some(42),
            network: Some("lab"),
            networks: vec!["lab", "db"],
            ip: Some(Ipv4Addr::new(10, 1, 0, 2)),
            ip6: None,
            status: "running",
            exit_code: None,
            created: Some(0),
            command,
            ports: &[],
        }
    }

    fn template(text: &str) -> Template {
        match parse(text).unwrap() {
            Format::Template(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn built_in_forms() {
        assert_eq!(parse("table").unwrap(), Format::Table);
        assert_eq!(parse("json").unwrap(), Format::JsonLines);
    }

    #[test]
    fn fields_and_escapes() {
        let cmd = vec!["sleep".to_string(), "9".to_string()];
        let t = template(
            r"{{.Name}}\t{{ .IP }} {{.PID}}/{{.Network}} {{.Status}} {{.ExitCode}}|{{.Command}}|{{.Created}}|{{.Networks}}\n",
        );
        assert_eq!(
            t.render(&[row("a", &cmd)]),
            "a\t10.1.0.2 42/lab running |sleep 9|1970-01-01T00:00:00Z|lab,db\n\n"
        );
    }

    #[test]
    fn ip6_is_the_first_networks_ipv6_address_or_empty() {
        let cmd = vec!["true".to_string()];
        let t = template(r"{{.Name}} [{{.IP6}}]");
        let dual = Row {
            ip6: Some("fd42:1::2".parse().unwrap()),
            ..row("d", &cmd)
        };
        assert_eq!(t.render(&[dual, row("v4", &cmd)]), "d [fd42:1::2]\nv4 []\n");
    }

    #[test]
    fn table_prefix_adds_an_aligned_header() {
        let cmd = vec!["true".to_string()];
        let t = template(r"table {{.Name}}\t{{.IP}}");
        assert_eq!(
            t.render(&[row("web-server", &cmd), row("b", &cmd)]),
            "NAME         IP\nweb-server   10.1.0.2\nb            10.1.0.2\n"
        );
        assert_eq!(t.render(&[]), "NAME   IP\n");
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = parse("{{.Name}} {{.Bogus}}").unwrap_err().to_string();
        assert!(err.contains("unknown field .Bogus"), "{err}");
        assert!(err.contains(".Name, .PID"), "{err}");
        assert!(
            parse("{{json .}}")
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
        assert!(
            parse("{{.Name")
                .unwrap_err()
                .to_string()
                .contains("without a closing")
        );
    }

    #[test]
    fn the_template_status_is_the_tables_text() {
        let cmd = vec!["true".to_string()];
        let mut r = row("a", &cmd);
        r.status = "exited";
        r.exit_code = Some(143);
        assert_eq!(template("{{.Status}}").render(&[r]), "exited (143)\n");
        assert_eq!(status_text("running", None), "running");
        assert_eq!(status_text("exited", None), "exited");
    }

    #[test]
    fn long_reasons_are_cut_like_commands() {
        let reason = "r".repeat(200);
        assert_eq!(cut(reason.clone(), false).chars().count(), COMMAND_WIDTH);
        assert_eq!(cut(reason.clone(), true), reason);
    }

    #[test]
    fn commands_stay_on_one_line() {
        let cmd = vec!["sh".into(), "-c".into(), "echo a\necho\tb".into()];
        assert_eq!(command_cell(&cmd, true), r"sh -c 'echo a\necho\tb'");
        let long = vec!["x".repeat(60)];
        let cut = command_cell(&long, false);
        assert_eq!(cut.chars().count(), COMMAND_WIDTH);
        assert!(cut.ends_with('…'));
        assert_eq!(command_cell(&long, true), "x".repeat(60));
        assert_eq!(
            command_cell(&["it's".into(), "".into()], true),
            r"'it'\''s' ''"
        );
    }
}
