//! `sbx logs`: a detached sandbox's output, optionally followed.

use super::{find, supervisor};
use crate::state::StateRoot;
use crate::state::records::Status;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{Read, Write};
use std::time::Duration;

/// How often `-f` looks for new output.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(50);

/// Copies the log to stdout; with `follow`, keeps copying until the
/// sandbox has exited and everything it wrote is out.
pub fn logs(root: &StateRoot, name: &str, follow: bool) -> Result<()> {
    let record = find(root, name)?;
    let path = supervisor::log_path(root, name);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(_) if !record.detached => {
            bail!(
                "sandbox {name} runs in the foreground: its output goes to its terminal, not to a log"
            )
        }
        Err(e) => return Err(e).with_context(|| format!("open {}", path.display())),
    };
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).context("read the log")?;
        if n > 0 {
            out.write_all(&buf[..n])
                .context("write the log to stdout")?;
            continue;
        }
        out.flush().ok();
        if !follow {
            return Ok(());
        }
        let running = root
            .sandbox(name)?
            .is_some_and(|r| r.status() != Status::Exited);
        if !running {
            // One last read: output written just before the end.
            let n = file.read(&mut buf).context("read the log")?;
            out.write_all(&buf[..n]).ok();
            return Ok(());
        }
        std::thread::sleep(FOLLOW_INTERVAL);
    }
}
