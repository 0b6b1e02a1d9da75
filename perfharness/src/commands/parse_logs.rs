//! `parse-logs`: REPORT / INIT_REPORT / RESTORE_REPORT lines from a file or
//! stdin, printed as JSON lines or a table; unparsable lines are listed on
//! stderr.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::error::HarnessError;

/// Output format of `parse-logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParseFormat {
    /// One JSON object per record.
    Jsonl,
    /// A table.
    Table,
}

/// Options of `parse-logs`.
#[derive(Debug, Clone, Args)]
pub struct ParseLogsArgs {
    /// Input file, or `-` for stdin.
    #[arg(default_value = "-")]
    pub file: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ParseFormat,
}

/// Reads `args.file` (or stdin) and prints every platform record found.
pub fn run(args: &ParseLogsArgs) -> anyhow::Result<ExitCode> {
    let mut input = String::new();
    if args.file == "-" {
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| HarnessError::Usage(format!("cannot read stdin: {e}")))?;
    } else {
        let bytes = std::fs::read(&args.file)
            .map_err(|e| HarnessError::Usage(format!("cannot read {}: {e}", args.file)))?;
        input = String::from_utf8_lossy(&bytes).into_owned();
    }
    let parsed = crate::platform::parse_any(&input);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    use std::io::Write;
    match args.format {
        ParseFormat::Jsonl => {
            for r in &parsed.records {
                serde_json::to_writer(&mut out, r)?;
                writeln!(out)?;
            }
        }
        ParseFormat::Table => {
            writeln!(
                out,
                "{}",
                crate::export::terminal::records_table(&parsed.records)
            )?;
        }
    }
    out.flush()?;
    for m in &parsed.malformed {
        eprintln!("warning: line {}: {}: {}", m.line_no, m.reason, m.line);
    }
    if !parsed.malformed.is_empty() && std::io::stderr().is_terminal() {
        eprintln!("{} line(s) could not be parsed", parsed.malformed.len());
    }
    Ok(ExitCode::SUCCESS)
}
