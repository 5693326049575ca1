//! Raft storage under `--data-dir`: the log, vote and commit index in an
//! append-only record file (fsynced before openraft is told), the state machine
//! in memory with its snapshot in a file. A restarted replica replays the record
//! file and the snapshot, and openraft re-applies the committed entries after it.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{Cursor, Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::sync::watch;

use super::types::{ClusterState, CommandResult, NodeId, TypeConfig};

type Membership = StoredMembership<NodeId, openraft::BasicNode>;

/// bincode with its standard configuration, for records, snapshots and the wire.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard()).map(|(value, _)| value)
}

fn io_write(error: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_logs(&error).into()
}

/// One record of the log file; replaying them in order rebuilds the log.
#[derive(Serialize, Deserialize)]
enum Record {
    Vote(Vote<NodeId>),
    Committed(Option<LogId<NodeId>>),
    Append(Vec<Entry<TypeConfig>>),
    /// Remove entries at and after this index.
    Truncate(u64),
    /// Remove entries up to and including this log id.
    Purge(LogId<NodeId>),
}

/// Rewrite the file once this many records describe a log this much smaller.
const COMPACT_AFTER_RECORDS: usize = 2_000;

#[derive(Default)]
struct LogContents {
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    purged: Option<LogId<NodeId>>,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
}

impl LogContents {
    fn replay(&mut self, record: Record) {
        match record {
            Record::Vote(vote) => self.vote = Some(vote),
            Record::Committed(committed) => self.committed = committed,
            Record::Append(entries) => {
                for entry in entries {
                    self.entries.insert(entry.log_id.index, entry);
                }
            }
            Record::Truncate(index) => {
                self.entries.split_off(&index);
            }
            Record::Purge(log_id) => {
                self.entries = self.entries.split_off(&(log_id.index + 1));
                self.purged = Some(log_id);
            }
        }
    }
}

struct LogFile {
    path: PathBuf,
    file: File,
    records: usize,
    state: LogContents,
}

impl LogFile {
    fn open(path: &Path) -> std::io::Result<Self> {
        let mut state = LogContents::default();
        let mut records = 0;
        let mut valid_len = 0u64;
        if path.exists() {
            let mut bytes = Vec::new();
            File::open(path)?.read_to_end(&mut bytes)?;
            let mut offset = 0usize;
            // A record cut short by a crash ends the replay; the tail is dropped.
            while let Some(header) = bytes.get(offset..offset + 4) {
                let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
                let Some(body) = bytes.get(offset + 4..offset + 4 + len) else {
                    break;
                };
                let Ok(record) = decode::<Record>(body) else {
                    break;
                };
                state.replay(record);
                records += 1;
                offset += 4 + len;
            }
            valid_len = offset as u64;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.set_len(valid_len)?;
        let mut log = Self {
            path: path.to_owned(),
            file,
            records,
            state,
        };
        log.seek_end()?;
        Ok(log)
    }

    fn seek_end(&mut self) -> std::io::Result<()> {
        use std::io::Seek;
        self.file.seek(std::io::SeekFrom::End(0))?;
        Ok(())
    }

    fn frame(record: &Record) -> std::io::Result<Vec<u8>> {
        let body = encode(record).map_err(std::io::Error::other)?;
        let mut framed = Vec::with_capacity(body.len() + 4);
        framed.extend_from_slice(&(body.len() as u32).to_le_bytes());
        framed.extend_from_slice(&body);
        Ok(framed)
    }

    /// Appends and fsyncs a record, then applies it to the in-memory log.
    fn write(&mut self, record: Record) -> std::io::Result<()> {
        self.file.write_all(&Self::frame(&record)?)?;
        self.file.sync_data()?;
        self.records += 1;
        self.state.replay(record);
        if self.records > COMPACT_AFTER_RECORDS && self.records > 4 * (self.state.entries.len() + 3)
        {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file as the few records that rebuild the current log, via a
    /// temporary file and a rename so a crash leaves one or the other.
    fn compact(&mut self) -> std::io::Result<()> {
        let mut records = Vec::new();
        if let Some(vote) = self.state.vote {
            records.push(Record::Vote(vote));
        }
        if let Some(purged) = self.state.purged {
            records.push(Record::Purge(purged));
        }
        records.push(Record::Append(
            self.state.entries.values().cloned().collect(),
        ));
        records.push(Record::Committed(self.state.committed));
        let tmp = self.path.with_extension("compacting");
        let mut file = File::create(&tmp)?;
        for record in &records {
            file.write_all(&Self::frame(record)?)?;
        }
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.records = records.len();
        Ok(())
    }
}

/// The Raft log. Clones share the file; openraft uses one as the log reader.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogFile>>,
}

impl LogStore {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            inner: Arc::new(Mutex::new(LogFile::open(&dir.join("raft-log.bin"))?)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LogFile> {
        // A panic while holding the lock left the log as it was before the
        // failed write; carrying on with it is sound.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        Ok(self
            .lock()
            .state
            .entries
            .range(range)
            .map(|(_, entry)| entry.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let log = self.lock();
        let last_purged_log_id = log.state.purged;
        let last_log_id = log
            .state
            .entries
            .values()
            .next_back()
            .map(|entry| entry.log_id)
            .or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.lock()
            .write(Record::Vote(*vote))
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.lock().state.vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        self.lock()
            .write(Record::Committed(committed))
            .map_err(io_write)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.lock().state.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let result = self.lock().write(Record::Append(entries));
        let reported = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| std::io::Error::new(e.kind(), e.to_string()));
        callback.log_io_completed(reported);
        result.map_err(io_write)
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.lock()
            .write(Record::Truncate(log_id.index))
            .map_err(io_write)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.lock().write(Record::Purge(log_id)).map_err(io_write)
    }
}

/// What a snapshot holds besides its metadata.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, openraft::BasicNode>,
    state: ClusterState,
}

struct Machine {
    last_applied: Option<LogId<NodeId>>,
    membership: Membership,
    state: ClusterState,
    snapshot: Option<(SnapshotMeta<NodeId, openraft::BasicNode>, Vec<u8>)>,
    snapshots_built: u64,
}

/// The state machine. Every applied change is published on a watch channel the
/// ownership loop follows.
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<Mutex<Machine>>,
    snapshot_path: PathBuf,
    published: watch::Sender<ClusterState>,
}

impl StateMachineStore {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let snapshot_path = dir.join("raft-snapshot.bin");
        let mut machine = Machine {
            last_applied: None,
            membership: Membership::default(),
            state: ClusterState::default(),
            snapshot: None,
            snapshots_built: 0,
        };
        if snapshot_path.exists() {
            let bytes = std::fs::read(&snapshot_path)?;
            let file: SnapshotFile = decode(&bytes).map_err(std::io::Error::other)?;
            machine.last_applied = file.meta.last_log_id;
            machine.membership = file.meta.last_membership.clone();
            machine.state = file.state.clone();
            let data = encode(&file.state).map_err(std::io::Error::other)?;
            machine.snapshot = Some((file.meta, data));
        }
        let (published, _) = watch::channel(machine.state.clone());
        Ok(Self {
            inner: Arc::new(Mutex::new(machine)),
            snapshot_path,
            published,
        })
    }

    /// Follows the applied cluster state.
    pub fn subscribe(&self) -> watch::Receiver<ClusterState> {
        self.published.subscribe()
    }

    pub fn state(&self) -> ClusterState {
        self.lock().state.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Machine> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn persist_snapshot(
        &self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        state: &ClusterState,
    ) -> std::io::Result<()> {
        let file = SnapshotFile {
            meta: meta.clone(),
            state: state.clone(),
        };
        let bytes = encode(&file).map_err(std::io::Error::other)?;
        let tmp = self.snapshot_path.with_extension("writing");
        let mut out = File::create(&tmp)?;
        out.write_all(&bytes)?;
        out.sync_all()?;
        std::fs::rename(&tmp, &self.snapshot_path)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let (meta, state) = {
            let mut machine = self.lock();
            machine.snapshots_built += 1;
            let last = machine.last_applied;
            let snapshot_id = match last {
                Some(id) => format!("{}-{}-{}", id.leader_id, id.index, machine.snapshots_built),
                None => format!("--{}", machine.snapshots_built),
            };
            let meta = SnapshotMeta {
                last_log_id: last,
                last_membership: machine.membership.clone(),
                snapshot_id,
            };
            (meta, machine.state.clone())
        };
        let data = encode(&state).map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        self.persist_snapshot(&meta, &state)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.lock().snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, Membership), StorageError<NodeId>> {
        let machine = self.lock();
        Ok((machine.last_applied, machine.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut results = Vec::new();
        let state = {
            let mut machine = self.lock();
            for entry in entries {
                machine.last_applied = Some(entry.log_id);
                let result = match entry.payload {
                    EntryPayload::Blank => CommandResult {
                        epoch: machine.state.epoch,
                    },
                    EntryPayload::Normal(command) => machine.state.apply(&command),
                    EntryPayload::Membership(membership) => {
                        machine.membership = Membership::new(Some(entry.log_id), membership);
                        CommandResult {
                            epoch: machine.state.epoch,
                        }
                    }
                };
                results.push(result);
            }
            machine.state.clone()
        };
        self.published.send_if_modified(|published| {
            let changed = *published != state;
            *published = state;
            changed
        });
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let state: ClusterState =
            decode(&data).map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        self.persist_snapshot(meta, &state)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        {
            let mut machine = self.lock();
            machine.last_applied = meta.last_log_id;
            machine.membership = meta.last_membership.clone();
            machine.state = state.clone();
            machine.snapshot = Some((meta.clone(), data));
        }
        self.published.send_replace(state);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        Ok(self.lock().snapshot.clone().map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::testing::{StoreBuilder, Suite};

    fn io_read(error: impl std::error::Error + 'static) -> StorageError<NodeId> {
        StorageIOError::read_logs(&error).into()
    }

    /// Each test of openraft's suite gets fresh storage in its own directory.
    struct TempStores;

    impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for TempStores {
        async fn build(
            &self,
        ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError<NodeId>>
        {
            let dir = tempfile::tempdir().map_err(io_read)?;
            let log = LogStore::open(dir.path()).map_err(io_read)?;
            let machine = StateMachineStore::open(dir.path()).map_err(io_read)?;
            Ok((dir, log, machine))
        }
    }

    #[test]
    fn passes_openraft_storage_suite() {
        Suite::test_all(TempStores).expect("openraft's storage suite");
    }

    fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(super::super::types::Command::Ack {
                id: "a".into(),
                epoch: index,
            }),
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn a_reopened_log_has_what_was_written_and_drops_a_torn_tail() {
        let dir = tempfile::tempdir().expect("dir");
        block_on(async {
            let mut log = LogStore::open(dir.path()).expect("open");
            let vote = Vote::new(3, 7);
            log.save_vote(&vote).await.expect("vote");
            {
                let mut file = log.lock();
                file.write(Record::Append((1..=5).map(|i| entry(3, i)).collect()))
                    .expect("append");
                file.write(Record::Truncate(5)).expect("truncate");
                file.write(Record::Purge(entry(3, 1).log_id))
                    .expect("purge");
            }
            drop(log);
            // A crash in the middle of a record leaves a partial frame behind.
            let path = dir.path().join("raft-log.bin");
            let mut file = OpenOptions::new().append(true).open(&path).expect("file");
            file.write_all(&[200, 0, 0, 0, 1, 2, 3]).expect("torn tail");
            drop(file);

            let mut log = LogStore::open(dir.path()).expect("reopen");
            assert_eq!(log.read_vote().await.expect("vote"), Some(vote));
            let entries = log.try_get_log_entries(0..100).await.expect("entries");
            let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
            assert_eq!(indexes, [2, 3, 4], "purged 1, truncated 5");
            let state = log.get_log_state().await.expect("state");
            assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(1));
            // Writing after the recovered tail works and survives another reopen.
            log.lock()
                .write(Record::Append(vec![entry(4, 5)]))
                .expect("append after recovery");
            drop(log);
            let mut log = LogStore::open(dir.path()).expect("third open");
            let state = log.get_log_state().await.expect("state");
            assert_eq!(state.last_log_id.map(|l| l.index), Some(5));
        });
    }

    #[test]
    fn compaction_keeps_the_log_and_shrinks_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let mut log = LogStore::open(dir.path()).expect("open");
        {
            let mut file = log.lock();
            for i in 1..=(COMPACT_AFTER_RECORDS as u64 + 10) {
                file.write(Record::Append(vec![entry(1, i)]))
                    .expect("append");
                if i > 3 {
                    file.write(Record::Purge(entry(1, i - 3).log_id))
                        .expect("purge");
                }
            }
            assert!(
                file.records < 100,
                "{} records after compaction",
                file.records
            );
        }
        drop(log);
        log = LogStore::open(dir.path()).expect("reopen");
        let entries = block_on(log.try_get_log_entries(0..u64::MAX)).expect("entries");
        assert_eq!(entries.len(), 3, "the last three entries survive");
    }

    #[test]
    fn the_state_machine_comes_back_from_its_snapshot() {
        let dir = tempfile::tempdir().expect("dir");
        block_on(async {
            let mut machine = StateMachineStore::open(dir.path()).expect("open");
            let join = Entry::<TypeConfig> {
                log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), 1),
                payload: EntryPayload::Normal(super::super::types::Command::Join {
                    id: "a".into(),
                    addr: "127.0.0.1:1".into(),
                }),
            };
            let results = machine.apply([join]).await.expect("apply");
            assert_eq!(results[0].epoch, 1);
            assert_eq!(machine.subscribe().borrow().epoch, 1);
            machine.build_snapshot().await.expect("snapshot");
            drop(machine);
            let mut again = StateMachineStore::open(dir.path()).expect("reopen");
            assert_eq!(again.state().member_names(), ["a"]);
            let (applied, _) = again.applied_state().await.expect("applied");
            assert_eq!(applied.map(|l| l.index), Some(1));
        });
    }
}
