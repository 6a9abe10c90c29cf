//! etcd: the JSON gateway client and a launcher of real etcd processes for tests.

mod client;
mod cluster;

pub use client::{
    prefix_end, EtcdClient, EtcdError, Kv, RangeResult, TxnOutcome, WatchEvent, WatchMessage,
};
pub use cluster::{etcd_binary, ClusterError, EtcdCluster};
