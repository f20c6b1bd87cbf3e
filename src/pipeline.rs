//! The pipeline's vocabulary: the statuses the host application writes into
//! the pipeline tables, as closed Rust enums.
//!
//! The database stores them as `TEXT` guarded by `CHECK` constraints; these
//! types parse and print exactly those spellings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value that is not one of an enum's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(
                #[serde(rename = $text)]
                $variant,
            )+
        }

        impl $name {
            /// The spelling stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(UnknownValue { kind: $kind, value: other.to_owned() }),
                }
            }
        }
    };
}

text_enum!(
    /// Status of one run of a task.
    TaskRunStatus, "task run status" {
        Pending => "PENDING",
        Running => "RUNNING",
        Done => "DONE",
        Failed => "FAILED",
        Canceled => "CANCELED",
        Skipped => "SKIPPED",
    }
);

impl TaskRunStatus {
    /// The run will not change any more on its own.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Done | Self::Failed | Self::Canceled | Self::Skipped
        )
    }

    /// The run counts towards a completed pipeline.
    pub fn is_success(self) -> bool {
        matches!(self, Self::Done | Self::Skipped)
    }
}

text_enum!(
    /// Approval status of an issue.
    ApprovalStatus, "approval status" {
        Pending => "PENDING",
        Approved => "APPROVED",
        Rejected => "REJECTED",
    }
);

text_enum!(
    /// Status of a plan check run.
    PlanCheckStatus, "plan check status" {
        Running => "RUNNING",
        Done => "DONE",
        Failed => "FAILED",
    }
);

text_enum!(
    /// Status of one result entry of a plan check run.
    PlanCheckResultStatus, "plan check result status" {
        Success => "SUCCESS",
        Warning => "WARNING",
        Error => "ERROR",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_run_status_round_trips_every_spelling() {
        for text in [
            "PENDING", "RUNNING", "DONE", "FAILED", "CANCELED", "SKIPPED",
        ] {
            let status: TaskRunStatus = text.parse().expect("known spelling");
            assert_eq!(status.as_str(), text);
        }
        let err = "done".parse::<TaskRunStatus>().unwrap_err();
        assert_eq!(err.to_string(), "unknown task run status `done`");
    }

    #[test]
    fn terminal_and_success_sets() {
        use TaskRunStatus::*;
        let terminal: Vec<_> = [Pending, Running, Done, Failed, Canceled, Skipped]
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal, vec![Done, Failed, Canceled, Skipped]);
        assert!(Done.is_success() && Skipped.is_success());
        assert!(!Failed.is_success() && !Canceled.is_success());
    }
}
