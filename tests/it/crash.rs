//! Every state a crash can leave a checkpoint in resumes to the last checkpoint
//! confirmed, exactly: the files are written by mcpi's own checkpoint writer
//! (in this process, no MPI), then cut at every byte a `kill -9` during an
//! append could leave, with the manifest from before or after its replacement;
//! a run that resumes such a state appends after the cut; a new log generation
//! started over a checkpoint (`--force`) leaves the old one whole until its own
//! is confirmed; every byte of a confirmed log, flipped, is refused; and a log
//! removed or replaced during the run gets a new generation.

use std::path::{Path, PathBuf};

use mcpi::checkpoint::{self, log_path, CheckpointError, Resumed, Writer};
use mcpi::config::Config;
use mcpi::intervals::Intervals;
use mcpi::plan::Plan;
use mcpi::store::{Counts, Store};

use crate::util::Scratch;

/// 120 batches of 1000 samples.
fn config() -> Config {
    Config::of(Plan::new(120_000, 1000), 7)
}

/// The count of batch `b`: anything up to its 1000 samples.
fn count(b: u64) -> u64 {
    (b * 7919 + 13) % 1001
}

fn store_with_counts(plan: &Plan) -> Store {
    let mut store = Store::new(plan.batches, &std::env::temp_dir()).unwrap();
    let counts: Vec<u64> = (0..plan.batches).map(count).collect();
    store.put(0, &counts);
    store
}

/// What three workers, each with a third of the batches, have done by
/// checkpoint `k`: a prefix of each third, growing unevenly.
fn done_at(k: u64) -> Intervals {
    let lens = [
        [1, 8, 9, 18, 30, 40],
        [0, 1, 12, 13, 14, 39],
        [3, 4, 5, 24, 25, 40],
    ];
    Intervals::new(
        (0..3)
            .map(|w| 40 * w..40 * w + lens[w as usize][k as usize])
            .collect(),
    )
}

fn inside_of(done: &Intervals) -> u64 {
    done.ranges()
        .iter()
        .flat_map(|r| r.clone())
        .map(count)
        .sum()
}

/// One checkpoint as the writer left it.
struct Saved {
    done: Intervals,
    manifest: Vec<u8>,
    log_end: usize,
}

/// A checkpoint path and its log in a scratch directory: in RAM where
/// /dev/shm is (thousands of files rewritten; ext4 flushes a file rewritten
/// from length 0 on close).
struct Files {
    _dir: Scratch,
    path: PathBuf,
    log: PathBuf,
}

impl Files {
    fn new(name: &str) -> Files {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            Scratch::new_in(shm, name)
        } else {
            Scratch::new(name)
        };
        let path = dir.path().join("ck.h5");
        Files {
            log: log_path(&path),
            path,
            _dir: dir,
        }
    }

    /// Puts `manifest` and `log` in place, as a crash left them.
    fn set(&self, manifest: &[u8], log: &[u8]) {
        std::fs::write(&self.path, manifest).unwrap();
        std::fs::write(&self.log, log).unwrap();
    }

    /// `--resume` of the files as they are, into a fresh store.
    fn load(&self) -> (Result<Resumed, CheckpointError>, Store) {
        let config = config();
        let mut store = Store::new(config.plan.batches, &std::env::temp_dir()).unwrap();
        (checkpoint::load(&self.path, &config, &mut store), store)
    }

    /// Asserts the files resume to exactly `done` and its counts; `tail` says
    /// whether an unconfirmed tail must be reported.
    fn assert_resumes(&self, done: &Intervals, tail: bool, what: &str) -> Resumed {
        let (resumed, store) = self.load();
        let r = resumed.unwrap_or_else(|e| panic!("{what}: refused: {e}"));
        assert_eq!(&r.done, done, "{what}");
        assert_eq!(r.inside, inside_of(done), "{what}");
        for range in done.ranges() {
            let want: Vec<u64> = range.clone().map(count).collect();
            assert_eq!(store.get(range.clone()).unwrap(), want, "{what}");
        }
        assert_eq!(r.notes.len(), usize::from(tail), "{what}: {:?}", r.notes);
        if tail {
            assert!(r.notes[0].contains("ck.h5.log"), "{:?}", r.notes);
        }
        r
    }

    fn assert_refused(&self, what: &str) {
        match self.load().0 {
            Err(CheckpointError::Refused { why, .. }) => {
                assert!(why.starts_with("damaged"), "{what}: {why}")
            }
            other => panic!("{what}: not refused: {other:?}"),
        }
    }
}

/// Six checkpoints of a run, written by the library's writer.
fn six_checkpoints(files: &Files, store: &Store) -> (Vec<Saved>, Vec<u8>) {
    let config = config();
    let mut writer = Writer::new(&files.path).unwrap();
    let mut saved = Vec::new();
    for k in 0..6 {
        let done = done_at(k);
        writer.save(&config, &done, store).unwrap();
        saved.push(Saved {
            done,
            manifest: std::fs::read(&files.path).unwrap(),
            log_end: std::fs::metadata(&files.log).unwrap().len() as usize,
        });
    }
    (saved, std::fs::read(&files.log).unwrap())
}

#[test]
fn a_crash_at_any_byte_of_an_append_resumes_the_last_confirmed_checkpoint() {
    let files = Files::new("crash-append");
    let store = store_with_counts(&config().plan);
    let (saved, log) = six_checkpoints(&files, &store);
    for pair in saved.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        // Killed during the append: the old manifest, the log cut anywhere past
        // what it confirms.
        for cut in before.log_end..=after.log_end {
            files.set(&before.manifest, &log[..cut]);
            let what = format!("manifest of {:?}, log cut at {cut}", before.done);
            files.assert_resumes(&before.done, cut > before.log_end, &what);
        }
        // Killed after the rename: the new manifest and all it confirms.
        files.set(&after.manifest, &log[..after.log_end]);
        files.assert_resumes(&after.done, false, "after the rename");
        // A log shorter than its manifest confirms is damage, not a crash.
        for cut in [before.log_end, after.log_end - 1] {
            files.set(&after.manifest, &log[..cut]);
            files.assert_refused(&format!("new manifest, log cut at {cut}"));
        }
    }
    // A leftover temporary manifest changes nothing.
    let last = saved.last().unwrap();
    files.set(&last.manifest, &log);
    std::fs::write(
        files.path.with_file_name(".ck.h5.tmp-elsewhere-1-abcdef"),
        b"x",
    )
    .unwrap();
    files.assert_resumes(&last.done, false, "with a temporary left");
}

#[test]
fn a_run_resumed_from_a_torn_append_appends_after_the_confirmed_end() {
    let files = Files::new("crash-continue");
    let store = store_with_counts(&config().plan);
    let (saved, log) = six_checkpoints(&files, &store);
    // Killed half-way through the third checkpoint's append.
    let torn = (saved[1].log_end + saved[2].log_end) / 2;
    files.set(&saved[1].manifest, &log[..torn]);
    let resumed = files.assert_resumes(&saved[1].done, true, "torn");
    let mut writer = Writer::resuming(&files.path, &resumed).unwrap();
    // The resumed run counts on, checkpoints twice (once with nothing new).
    writer.save(&config(), &done_at(4), &store).unwrap();
    writer.save(&config(), &done_at(4), &store).unwrap();
    files.assert_resumes(&done_at(4), false, "resumed, then checkpointed");
    let resumed = files.assert_resumes(&done_at(4), false, "again");
    // One writer at a time: the log is locked while one lives.
    assert!(Writer::resuming(&files.path, &resumed)
        .unwrap_err()
        .contains("another mcpi run"));
    drop(writer);
    let mut writer = Writer::resuming(&files.path, &resumed).unwrap();
    writer.save(&config(), &done_at(5), &store).unwrap();
    files.assert_resumes(&done_at(5), false, "twice resumed");
}

#[test]
fn a_new_log_generation_keeps_the_old_checkpoint_until_it_is_confirmed() {
    let files = Files::new("crash-force");
    let store = store_with_counts(&config().plan);
    let (saved, old_log) = six_checkpoints(&files, &store);
    let old = saved.last().unwrap();
    // A run started over on the same path (--force), its first checkpoint.
    let fresh = Intervals::new(vec![0..5, 60..70]);
    Writer::new(&files.path)
        .unwrap()
        .save(&config(), &fresh, &store)
        .unwrap();
    let new_manifest = std::fs::read(&files.path).unwrap();
    let new_log = std::fs::read(&files.log).unwrap();
    // Appended after the old generation, which is released once the new
    // manifest is in place (a hole where the file system can punch one).
    assert!(new_log.len() > old_log.len());
    let prefix = &new_log[..old.log_end];
    assert!(prefix == &old_log[..] || prefix.iter().all(|&b| b == 0));
    files.assert_resumes(&fresh, false, "the new generation");
    // Killed before its manifest replaced the old one: the old checkpoint stands.
    for cut in old.log_end..=new_log.len() {
        let mut log = old_log.clone();
        log.extend_from_slice(&new_log[old.log_end..cut]);
        files.set(&old.manifest, &log);
        let what = format!("old manifest, new generation cut at {cut}");
        files.assert_resumes(&old.done, cut > old.log_end, &what);
    }
    // The new checkpoint never reads the old generation's bytes.
    let mut log = vec![0u8; old.log_end];
    log.extend_from_slice(&new_log[old.log_end..]);
    files.set(&new_manifest, &log);
    files.assert_resumes(&fresh, false, "old bytes zeroed");
}

#[test]
fn every_flipped_byte_of_a_confirmed_log_is_refused() {
    let files = Files::new("crash-flip");
    let store = store_with_counts(&config().plan);
    let (saved, log) = six_checkpoints(&files, &store);
    let last = saved.last().unwrap();
    for at in 0..last.log_end {
        let mut bad = log.clone();
        bad[at] ^= 1 << (at % 8);
        files.set(&last.manifest, &bad);
        files.assert_refused(&format!("bit {} of byte {at} flipped", at % 8));
    }
    // Past the confirmed end, anything goes: it is ignored, and said so.
    let mut tail = log.clone();
    tail.extend((0..100u8).map(|b| b.wrapping_mul(37)));
    files.set(&last.manifest, &tail);
    files.assert_resumes(&last.done, true, "garbage after the confirmed end");
    // A log that belongs to another checkpoint of the same run.
    let other = Files::new("crash-other");
    let (other_saved, other_log) = six_checkpoints(&other, &store);
    assert_eq!(other_saved.last().unwrap().log_end, last.log_end);
    files.set(&last.manifest, &other_log);
    files.assert_refused("another checkpoint's log");
    // No log at all.
    std::fs::remove_file(&files.log).unwrap();
    match files.load().0 {
        Err(CheckpointError::Refused { why, .. }) => assert!(why.contains("is missing"), "{why}"),
        other => panic!("no log: not refused: {other:?}"),
    }
}

#[test]
fn a_log_removed_or_replaced_during_the_run_gets_a_new_generation() {
    let files = Files::new("crash-removed");
    let store = store_with_counts(&config().plan);
    let mut writer = Writer::new(&files.path).unwrap();
    writer.save(&config(), &done_at(0), &store).unwrap();
    // Removed (a cleaner, a user): the next checkpoint writes a whole new log,
    // not records chained onto bytes that are gone.
    std::fs::remove_file(&files.log).unwrap();
    writer.save(&config(), &done_at(1), &store).unwrap();
    files.assert_resumes(&done_at(1), false, "after the log was removed");
    // Replaced by a FIFO: that checkpoint fails at once (no blocking open),
    // the next one, the FIFO gone, is whole again.
    std::fs::remove_file(&files.log).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(&files.log)
        .status()
        .unwrap();
    assert!(fifo.success());
    match writer.save(&config(), &done_at(2), &store) {
        Err(CheckpointError::Write { why, .. }) => {
            assert!(why.contains("not a regular file"), "{why}")
        }
        other => panic!("a FIFO for a log: {other:?}"),
    }
    std::fs::remove_file(&files.log).unwrap();
    writer.save(&config(), &done_at(3), &store).unwrap();
    files.assert_resumes(&done_at(3), false, "after the FIFO was removed");
}
