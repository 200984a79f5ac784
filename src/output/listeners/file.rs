//! An append-only output file that survives log rotation: before each write it checks that the open file is still
//! the one at its path (same device and inode) and reopens when the file was moved or deleted (logrotate's rename
//! and `create`), and it tells the caller when the file is empty — new, or truncated in place by `copytruncate` —
//! so a CSV header can be written again.
//!
//! Each record is written with a single `write_all` on a file opened with `O_APPEND`, unbuffered: a record is never
//! split between the old and the new file, and nothing is lost in a buffer when the process dies. Listener volumes
//! (alerts, audit rows) make the extra `stat` per record negligible.
//!
//! What this module is not: it does not rotate files itself; that is logrotate's job.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub struct RotatingFile {
    path: PathBuf,
    file: Option<File>,
    /// `(dev, ino)` of the open file.
    id: (u64, u64),
    reopened: u64,
}

impl RotatingFile {
    pub fn new(path: PathBuf) -> RotatingFile {
        RotatingFile { path, file: None, id: (0, 0), reopened: 0 }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file was opened (by [`RotatingFile::prepare`]) in this process.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Times the file was reopened after a rotation (for tests and diagnostics).
    pub fn reopened(&self) -> u64 {
        self.reopened
    }

    /// Makes sure the open file is the one at the path, opening or reopening it as needed. Returns whether the
    /// file is empty (a header is due).
    pub fn prepare(&mut self) -> io::Result<bool> {
        let current = match std::fs::metadata(&self.path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        match (&self.file, &current) {
            (Some(_), Some(m)) if (m.dev(), m.ino()) == self.id => Ok(m.len() == 0),
            _ => {
                if self.file.is_some() {
                    self.reopened += 1;
                }
                self.open()
            }
        }
    }

    fn open(&mut self) -> io::Result<bool> {
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new().create(true).append(true).open(&self.path)?;
        let m = f.metadata()?;
        self.id = (m.dev(), m.ino());
        self.file = Some(f);
        Ok(m.len() == 0)
    }

    /// Appends `bytes` in one write. Call [`RotatingFile::prepare`] first.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let f = self.file.as_mut().ok_or_else(|| io::Error::other("file not open"))?;
        f.write_all(bytes)
    }

    /// The first line of the file at the path (without its terminator), at most 64 KiB read.
    pub fn first_line(&self) -> io::Result<String> {
        let mut buf = Vec::new();
        File::open(&self.path)?.take(64 * 1024).read_to_end(&mut buf)?;
        let end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
        let line = &buf[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Ok(String::from_utf8_lossy(line).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopens_after_rename_and_reports_truncation() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/out.log");
        let mut f = RotatingFile::new(p.clone());
        assert!(f.prepare().unwrap(), "a new file is empty");
        f.append(b"one\n").unwrap();
        assert!(!f.prepare().unwrap());
        f.append(b"two\n").unwrap();

        std::fs::rename(&p, d.path().join("sub/out.log.1")).unwrap();
        assert!(f.prepare().unwrap(), "after a rename a new empty file is opened");
        assert_eq!(f.reopened(), 1);
        f.append(b"three\n").unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("sub/out.log.1")).unwrap(), "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "three\n");

        // copytruncate: same inode, emptied; appends land at the start.
        std::fs::OpenOptions::new().write(true).truncate(true).open(&p).unwrap();
        assert!(f.prepare().unwrap());
        assert_eq!(f.reopened(), 1);
        f.append(b"four\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "four\n");
        assert_eq!(f.first_line().unwrap(), "four");

        std::fs::remove_file(&p).unwrap();
        assert!(f.prepare().unwrap());
        f.append(b"five\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "five\n");
    }
}
