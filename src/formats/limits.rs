//! Every platform's documented message limits, in one table, each with the
//! document it comes from; and the starting [`Budget`] herald fits a
//! message into before laying it out for that platform.
//!
//! The limits are law: [`super::render`] checks every body against them and
//! shrinks the budget until the body fits; a body that cannot fit is never
//! sent. Character counts are Unicode scalar values unless a limit says
//! bytes (UTF-8) or UTF-16 units.

use crate::endpoint::Platform;

/// Slack Block Kit and incoming webhooks.
pub mod slack {
    /// "You can include up to 50 blocks in each message"
    /// — https://api.slack.com/reference/block-kit/blocks
    pub const BLOCKS: usize = 50;
    /// Section block `text`: "Maximum length for the text in this field is
    /// 3000 characters." — https://api.slack.com/reference/block-kit/blocks#section
    pub const SECTION_TEXT: usize = 3000;
    /// Header block `text`: "Maximum length for the text in this field is
    /// 150 characters." — https://api.slack.com/reference/block-kit/blocks#header
    pub const HEADER_TEXT: usize = 150;
    /// Context block: "Maximum number of items is 10."; a text object's
    /// text is at most 3000 characters.
    /// — https://api.slack.com/reference/block-kit/blocks#context
    pub const CONTEXT_ELEMENTS: usize = 10;
    /// Top-level `text` is truncated past 40,000 characters; Slack
    /// recommends staying under 4,000.
    /// — https://api.slack.com/methods/chat.postMessage#truncating
    pub const TEXT: usize = 4000;
    /// Actions block: "An array of interactive element objects … There is
    /// a maximum of 25 elements in each action block."
    /// — https://api.slack.com/reference/block-kit/blocks#actions
    pub const ACTIONS_ELEMENTS: usize = 25;
    /// Button `text`: "Maximum length for the text in this field is 75
    /// characters"; `url`: "Maximum length is 3000 characters."
    /// — https://api.slack.com/reference/block-kit/block-elements#button
    pub const BUTTON_TEXT: usize = 75;
    pub const BUTTON_URL: usize = 3000;
}

/// Discord execute-webhook embeds.
/// — https://discord.com/developers/docs/resources/message#embed-object-embed-limits
pub mod discord {
    pub const TITLE: usize = 256;
    pub const DESCRIPTION: usize = 4096;
    pub const FIELDS: usize = 25;
    pub const FIELD_NAME: usize = 256;
    /// Field values must also be non-empty (error 50035 otherwise).
    pub const FIELD_VALUE: usize = 1024;
    pub const FOOTER: usize = 2048;
    /// "The combined sum of characters in all title, description,
    /// field.name, field.value, footer.text, and author.name fields across
    /// all embeds attached to a message must not exceed 6000 characters."
    pub const EMBEDS_TOTAL: usize = 6000;
    pub const EMBEDS: usize = 10;
    /// Message `content` — https://discord.com/developers/docs/resources/webhook#execute-webhook
    pub const CONTENT: usize = 2000;
}

/// Microsoft Teams Workflows ("When a Teams webhook request is received")
/// and the retired Office 365 connectors: "The message size limit is 28 KB.
/// When the size exceeds 28 KB, you receive an error."
/// — https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
pub mod teams {
    pub const BODY_BYTES: usize = 28 * 1024;
}

/// Feishu / Lark custom bots: "请求体大小不能超过 20 KB" (the request body
/// must not exceed 20 KB).
/// — https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
pub mod feishu {
    pub const BODY_BYTES: usize = 20 * 1024;
}

/// DingTalk custom robots: a message of at most 20,000 bytes.
/// — https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages
pub mod dingtalk {
    pub const BODY_BYTES: usize = 20_000;
}

/// WeCom group robots.
/// — https://developer.work.weixin.qq.com/document/path/91770
pub mod wecom {
    /// markdown `content`: "最长不超过4096个字节，必须是utf8编码".
    pub const MARKDOWN_BYTES: usize = 4096;
    /// text `content`: "最长不超过2048个字节，必须是utf8编码".
    pub const TEXT_BYTES: usize = 2048;
}

/// Google Chat incoming webhooks: "The maximum message size, including text
/// and cards, is 32,000 bytes."
/// — https://developers.google.com/workspace/chat/create-messages
pub mod google_chat {
    pub const BODY_BYTES: usize = 32_000;
}

/// How much of a message herald shows: the neutral message is cut to this
/// before layout (see `summary::Message::fit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The whole title.
    pub title_chars: usize,
    /// Each text field's value.
    pub field_chars: usize,
    /// Each person's name.
    pub name_chars: usize,
    /// People shown in one field (the rest: "… and K more").
    pub users_shown: usize,
    /// List entries shown (failed tasks).
    pub list_entries: usize,
    /// Each list entry.
    pub item_chars: usize,
    /// All shown list entries together.
    pub list_chars: usize,
    /// All links shown together (URL characters); links that do not fit
    /// are left out, in reverse order of importance.
    pub link_chars: usize,
}

impl Budget {
    /// The smallest message herald still sends: title, project, counts,
    /// and a pointer to the full list in the event.
    pub const FLOOR: Budget = Budget {
        title_chars: 80,
        field_chars: 80,
        name_chars: 32,
        users_shown: 3,
        list_entries: 0,
        item_chars: 80,
        list_chars: 0,
        link_chars: 0,
    };

    /// Roughly half of everything, never below [`Budget::FLOOR`].
    pub fn shrink(&self) -> Budget {
        let half = |value: usize, floor: usize| (value / 2).max(floor);
        let floor = Budget::FLOOR;
        Budget {
            title_chars: half(self.title_chars, floor.title_chars),
            field_chars: half(self.field_chars, floor.field_chars),
            name_chars: half(self.name_chars, floor.name_chars),
            users_shown: half(self.users_shown, floor.users_shown),
            list_entries: self.list_entries / 2,
            item_chars: half(self.item_chars, floor.item_chars),
            list_chars: self.list_chars / 2,
            link_chars: self.link_chars / 2,
        }
    }
}

/// The budget herald starts from on `platform`: sized so that the common
/// worst cases (dozens of failures with long errors, dozens of approvers)
/// fit at the first try.
pub fn starting_budget(platform: Platform) -> Budget {
    let base = Budget {
        title_chars: 200,
        field_chars: 500,
        name_chars: 64,
        users_shown: 20,
        list_entries: 20,
        item_chars: 400,
        list_chars: 3000,
        link_chars: 4000,
    };
    match platform {
        Platform::Slack => Budget {
            title_chars: slack::HEADER_TEXT,
            // All fields share one section of 3,000 characters.
            field_chars: 300,
            list_chars: 2500,
            item_chars: 300,
            ..base
        },
        Platform::Discord => Budget {
            title_chars: discord::TITLE,
            field_chars: 400,
            users_shown: 15,
            list_chars: 2500,
            ..base
        },
        Platform::Teams | Platform::TeamsConnector => Budget {
            list_entries: 40,
            list_chars: 10_000,
            item_chars: 500,
            ..base
        },
        Platform::Wecom => Budget {
            title_chars: 100,
            field_chars: 200,
            name_chars: 32,
            users_shown: 10,
            list_entries: 8,
            item_chars: 200,
            list_chars: 1200,
            link_chars: 1000,
        },
        Platform::GoogleChat => Budget {
            list_entries: 40,
            list_chars: 8000,
            item_chars: 500,
            ..base
        },
        Platform::Feishu | Platform::Lark | Platform::Dingtalk | Platform::Generic => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_reaches_the_floor_and_stays_there() {
        let mut budget = starting_budget(Platform::Teams);
        for _ in 0..64 {
            budget = budget.shrink();
        }
        assert_eq!(budget, Budget::FLOOR);
        assert_eq!(Budget::FLOOR.shrink(), Budget::FLOOR);
    }
}
