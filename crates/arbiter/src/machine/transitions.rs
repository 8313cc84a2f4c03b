//! Every move the machine can make, and the Mermaid diagram of them
//! that `MACHINE.md` shows (a test checks the file is current).

/// Every move the machine makes: (from state, input, to state). Anything
/// else is a bug and lands in `Failure`.
pub const TRANSITIONS: &[(&str, &str, &str)] = &[
    ("Init", "Start", "Identifying"),
    ("Identifying", "NodeId", "CheckingNodes"),
    ("CheckingNodes", "ClusterEnabled", "CheckingNodes"),
    ("CheckingNodes", "ClusterEnabled", "Campaigning"),
    ("CheckingNodes", "ClusterEnabled", "Refused"),
    ("Campaigning", "Created", "FindingLeader"),
    ("Campaigning", "Created", "Candidate"),
    ("FindingLeader", "Leader", "LoadingRecord"),
    ("FindingLeader", "Leader", "Following"),
    ("Candidate", "Tick", "Campaigning"),
    ("Following", "Tick", "CheckingElection"),
    ("Leading", "Tick", "CheckingElection"),
    ("CheckingElection", "Election", "Campaigning"),
    ("CheckingElection", "Election", "LoadingRecord"),
    ("CheckingElection", "Election", "CheckingConfig"),
    ("LoadingRecord", "Record", "CheckingConfig"),
    ("LoadingRecord", "Record", "Campaigning"),
    ("LoadingRecord", "Record", "Following"),
    ("CheckingConfig", "Config", "CheckingRequests"),
    ("CheckingConfig", "Config", "Polling"),
    ("CheckingRequests", "Cluster", "Polling"),
    ("Polling", "Status", "Polling"),
    ("Polling", "Status", "Publishing"),
    ("Polling", "Status", "Leading"),
    ("Polling", "Status", "Following"),
    ("Polling", "Status", "CheckingLeader"),
    ("CheckingLeader", "Heartbeat", "Following"),
    ("CheckingLeader", "Heartbeat", "Deposing"),
    ("Deposing", "Deposed", "CheckingElection"),
    ("Deposing", "Deposed", "Following"),
    ("Publishing", "Published", "Leading"),
    ("Publishing", "Published", "Promoting"),
    ("Publishing", "Published", "Repointing"),
    ("Publishing", "Published", "SwitchingOver"),
    ("Publishing", "Published", "Campaigning"),
    ("Promoting", "Promoted", "Repointing"),
    ("Promoting", "Promoted", "Leading"),
    ("Repointing", "Repointed", "Repointing"),
    ("Repointing", "Repointed", "Leading"),
    ("Publishing", "Published", "Detaching"),
    ("Detaching", "Promoted", "Detaching"),
    ("Detaching", "Promoted", "Leading"),
    ("SwitchingOver", "SwitchedOver", "Publishing"),
    ("SwitchingOver", "SwitchedOver", "Leading"),
    ("Candidate", "Shutdown", "Stopped"),
    ("Following", "Shutdown", "Resigning"),
    ("Leading", "Shutdown", "Resigning"),
    ("Resigning", "Resigned", "Stopped"),
];

pub(super) fn is_listed(from: &str, input: &str, to: &str) -> bool {
    TRANSITIONS.contains(&(from, input, to))
}

/// The state diagram of [`TRANSITIONS`] as Mermaid (what `MACHINE.md` shows).
pub fn mermaid() -> String {
    let mut s = String::from("stateDiagram-v2\n    [*] --> Init\n");
    for (from, input, to) in TRANSITIONS {
        s.push_str(&format!("    {from} --> {to}: {input}\n"));
    }
    s.push_str("    Stopped --> [*]\n    Refused --> [*]\n");
    s.push_str("    note right of Failure: any input a state cannot take (S9)\n");
    s
}
