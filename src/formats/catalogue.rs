//! Every word herald writes in a message, per [`Locale`]: titles, labels,
//! counts, "… and K more", link labels, times. Platform modules never
//! spell a word themselves; they take it from the message's catalogue.
//!
//! The Chinese follows the host application's own vocabulary (工单 for an
//! issue, 流水线 for the pipeline, 发布 for a rollout) and the titles of the
//! plans herald was specified from (需要审批, 工单被退回, 流水线失败,
//! 流水线完成), reviewed by a Chinese reader: full-width punctuation
//! (：、（）……) in Chinese text, half-width parentheses around Latin text,
//! times as `2025-03-14 09:00:00 UTC`.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::events::EventType;
use crate::presentation::{LinkKind, Locale};

/// A platform's bold (`Markup::bold`).
pub type Bold = fn(&str) -> String;

/// The words of one language.
pub struct Catalogue {
    /// The language these are the words of.
    pub locale: Locale,
    /// Title prefixes, one per event type.
    pub issue_created: &'static str,
    pub approval_requested: &'static str,
    /// The title prefix of an approval request's reminder.
    pub approval_reminder: &'static str,
    /// A reminder's number, as a field.
    pub reminder: &'static str,
    pub sent_back: &'static str,
    pub approved: &'static str,
    pub pipeline_failed: &'static str,
    pub pipeline_completed: &'static str,
    /// A custom event's title, up to its type.
    pub custom_event: &'static str,
    /// Between a title prefix and the subject.
    pub title_colon: &'static str,

    pub project: &'static str,
    pub issue: &'static str,
    pub plan: &'static str,
    pub creator: &'static str,
    pub role: &'static str,
    pub approvals_required: &'static str,
    pub approvers: &'static str,
    pub sent_back_by: &'static str,
    pub reason: &'static str,
    pub failed_task_count: &'static str,
    pub failed_tasks_heading: &'static str,
    pub first_failure: &'static str,
    pub tasks: &'static str,
    pub duration: &'static str,
    pub started: &'static str,
    pub completed: &'static str,
    pub event_type: &'static str,
    pub data: &'static str,

    pub untitled: &'static str,
    pub nobody: &'static str,
    pub unknown_person: &'static str,
    pub no_reason: &'static str,
    pub no_error_message: &'static str,

    /// Between the people of a list (`, `; Chinese uses the enumeration
    /// comma `、`).
    pub list_separator: &'static str,
    /// `label` followed by what separates it from its value, with `bold`
    /// applied to the part that should be bold.
    pub label: fn(bold: Bold, label: &str) -> String,
    /// "… and K more" after a cut list of people, with what separates it
    /// from the last person shown.
    pub more_people: fn(usize) -> String,
    pub more_people_separator: &'static str,
    /// A point in time (the footer keeps RFC 3339 in every language).
    pub time: fn(DateTime<Utc>) -> String,
    /// The line that replaces list entries left out.
    pub more_entries: fn(usize) -> String,
    /// One failed task: name, instance, database, error.
    pub failed_task: fn(&str, &str, &str, &str) -> String,
    /// A duration in seconds.
    pub duration_text: fn(i64) -> String,
    pub view: fn(LinkKind) -> &'static str,
}

impl Catalogue {
    pub fn of(locale: Locale) -> &'static Catalogue {
        match locale {
            Locale::En => &EN,
            Locale::ZhCn => &ZH_CN,
        }
    }

    /// The title prefix of one of herald's own event types.
    pub fn title_prefix(&self, event_type: EventType) -> &'static str {
        match event_type {
            EventType::IssueCreated => self.issue_created,
            EventType::IssueApprovalRequested => self.approval_requested,
            EventType::IssueSentBack => self.sent_back,
            EventType::IssueApproved => self.approved,
            EventType::PipelineFailed => self.pipeline_failed,
            EventType::PipelineCompleted => self.pipeline_completed,
        }
    }

    pub fn title(&self, event_type: EventType, subject: &str) -> String {
        format!(
            "{}{}{subject}",
            self.title_prefix(event_type),
            self.title_colon
        )
    }
}

pub const EN: Catalogue = Catalogue {
    locale: Locale::En,
    issue_created: "Issue created",
    approval_requested: "Approval requested",
    approval_reminder: "Approval still pending",
    reminder: "Reminder",
    sent_back: "Issue sent back",
    approved: "Issue approved",
    pipeline_failed: "Pipeline failed",
    pipeline_completed: "Pipeline completed",
    custom_event: "Event ",
    title_colon: ": ",
    project: "Project",
    issue: "Issue",
    plan: "Plan",
    creator: "Creator",
    role: "Role",
    approvals_required: "Approvals required",
    approvers: "Approvers",
    sent_back_by: "Sent back by",
    reason: "Reason",
    failed_task_count: "Failed tasks",
    failed_tasks_heading: "Failed tasks",
    first_failure: "First failure",
    tasks: "Tasks",
    duration: "Duration",
    started: "Started",
    completed: "Completed",
    event_type: "Type",
    data: "Data",
    untitled: "(untitled)",
    nobody: "none",
    unknown_person: "unknown",
    no_reason: "none given",
    no_error_message: "no error message",
    list_separator: ", ",
    label: |bold, label| format!("{} ", bold(&format!("{label}:"))),
    more_people: |more| format!("… and {more} more"),
    more_people_separator: ", ",
    time: |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    more_entries: |more| format!("… and {more} more (see the full list in the event)"),
    failed_task: |name, instance, database, error| {
        format!("{name} on {instance} / {database}: {error}")
    },
    duration_text: |seconds| {
        humantime::format_duration(std::time::Duration::from_secs(
            seconds.max(0).unsigned_abs(),
        ))
        .to_string()
    },
    view: |kind| match kind {
        LinkKind::Issue => "View issue",
        LinkKind::Plan => "View plan",
        LinkKind::Rollout => "View rollout",
        LinkKind::Project => "View project",
    },
};

pub const ZH_CN: Catalogue = Catalogue {
    locale: Locale::ZhCn,
    // A notification, not a command: 工单已创建 rather than the plans'
    // 创建工单 (which reads like a button).
    issue_created: "工单已创建",
    approval_requested: "需要审批",
    approval_reminder: "审批仍待处理",
    reminder: "提醒",
    sent_back: "工单被退回",
    approved: "工单已通过审批",
    pipeline_failed: "流水线失败",
    pipeline_completed: "流水线完成",
    custom_event: "事件：",
    title_colon: "：",
    project: "项目",
    issue: "工单",
    plan: "计划",
    creator: "创建人",
    role: "审批角色",
    approvals_required: "所需审批数",
    approvers: "审批人",
    sent_back_by: "退回人",
    reason: "退回原因",
    failed_task_count: "失败任务数",
    failed_tasks_heading: "失败任务",
    first_failure: "首次失败时间",
    tasks: "任务数",
    duration: "耗时",
    started: "开始时间",
    completed: "完成时间",
    event_type: "类型",
    data: "数据",
    untitled: "（无标题）",
    nobody: "无",
    unknown_person: "未知",
    no_reason: "未填写",
    no_error_message: "无错误信息",
    // The colon stays outside the bold: Markdown does not close `**` that
    // follows punctuation and precedes a CJK character.
    list_separator: "、",
    label: |bold, label| format!("{}：", bold(label)),
    // "甲、乙 及其他 3 人": no enumeration comma before the count.
    more_people: |more| format!("及其他 {more} 人"),
    more_people_separator: " ",
    time: |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    more_entries: |more| format!("……另有 {more} 项（完整列表请在发布页面查看）"),
    // Half-width parentheses around Latin text (instance and database).
    failed_task: |name, instance, database, error| {
        format!("{name} ({instance} / {database})：{error}")
    },
    duration_text: zh_duration,
    view: |kind| match kind {
        LinkKind::Issue => "查看工单",
        LinkKind::Plan => "查看计划",
        LinkKind::Rollout => "查看发布",
        LinkKind::Project => "查看项目",
    },
};

/// `1天2小时3分4秒`, leaving out zero parts (`0秒` for nothing).
fn zh_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let parts = [
        (seconds / 86_400, "天"),
        (seconds % 86_400 / 3_600, "小时"),
        (seconds % 3_600 / 60, "分"),
        (seconds % 60, "秒"),
    ];
    let text: String = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if text.is_empty() {
        "0秒".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_durations() {
        assert_eq!(zh_duration(0), "0秒");
        assert_eq!(zh_duration(-5), "0秒");
        assert_eq!(zh_duration(59), "59秒");
        assert_eq!(zh_duration(3_725), "1小时2分5秒");
        assert_eq!(zh_duration(90_000), "1天1小时");
    }

    /// No Chinese string is left in English (an untranslated label) and
    /// no English string slipped in Chinese.
    #[test]
    fn every_chinese_word_is_chinese() {
        let zh = &ZH_CN;
        let words = [
            zh.issue_created,
            zh.approval_requested,
            zh.approval_reminder,
            zh.reminder,
            zh.sent_back,
            zh.approved,
            zh.pipeline_failed,
            zh.pipeline_completed,
            zh.project,
            zh.issue,
            zh.plan,
            zh.creator,
            zh.role,
            zh.approvals_required,
            zh.approvers,
            zh.sent_back_by,
            zh.reason,
            zh.failed_task_count,
            zh.failed_tasks_heading,
            zh.first_failure,
            zh.tasks,
            zh.duration,
            zh.started,
            zh.completed,
            zh.event_type,
            zh.data,
            zh.untitled,
            zh.nobody,
            zh.unknown_person,
            zh.no_reason,
            zh.no_error_message,
            (zh.view)(LinkKind::Issue),
            (zh.view)(LinkKind::Plan),
            (zh.view)(LinkKind::Rollout),
            (zh.view)(LinkKind::Project),
        ];
        for word in words {
            assert!(!word.chars().any(|c| c.is_ascii_alphabetic()), "{word}");
        }
        assert!(!(zh.more_people)(3).chars().any(|c| c.is_ascii_alphabetic()));
        assert!(!(zh.more_entries)(3)
            .chars()
            .any(|c| c.is_ascii_alphabetic()));
        assert_eq!((zh.label)(|t| format!("**{t}**"), "项目"), "**项目**：");
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2025, 3, 14, 9, 0, 0).single();
        assert_eq!(at.map(zh.time).as_deref(), Some("2025-03-14 09:00:00 UTC"));
        assert_eq!(
            (EN.label)(|t| format!("**{t}**"), "Project"),
            "**Project:** "
        );
    }
}
