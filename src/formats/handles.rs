//! A person's chat handle from the people directory (`app_user_handle`),
//! accepted only in the platform's documented shape: a handle is pasted
//! into mention syntax, so one that could carry markup (`<!channel>`,
//! `</at><at id=all>`) is refused and the person is named instead.

use crate::events::UserRef;

/// The handle of `user` on `platform` (the directory's key: `slack`,
/// `discord`, `google_chat`, `wecom`, `dingtalk`, `feishu`, `lark`), if it
/// has the shape that platform documents.
pub fn handle<'a>(user: &'a UserRef, platform: &str) -> Option<&'a str> {
    let handle = user.handles.get(platform)?.as_str();
    let chars = |allowed: fn(char) -> bool, min: usize, max: usize| {
        (min..=max).contains(&handle.len()) && handle.chars().all(allowed)
    };
    let valid = match platform {
        // Member ids: "U024BE7LH" / "W…" (Enterprise Grid),
        // https://api.slack.com/reference/surfaces/formatting#mentioning-users
        "slack" => {
            handle.starts_with(['U', 'W'])
                && chars(|c| c.is_ascii_uppercase() || c.is_ascii_digit(), 3, 24)
        }
        // Snowflakes, https://discord.com/developers/docs/reference#snowflakes
        "discord" => chars(|c| c.is_ascii_digit(), 15, 21),
        // The numeric id of `users/{id}`,
        // https://developers.google.com/workspace/chat/format-messages#messages-that-@mention-specific-users
        "google_chat" => chars(|c| c.is_ascii_digit(), 1, 32),
        // userid: 1–64 bytes of letters, digits and "_-@.",
        // https://developer.work.weixin.qq.com/document/path/90196
        "wecom" => chars(|c| c.is_ascii_alphanumeric() || "_-@.".contains(c), 1, 64),
        // userId in `at.atUserIds`,
        // https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages
        "dingtalk" => chars(|c| c.is_ascii_alphanumeric() || "_-".contains(c), 1, 64),
        // An Entra (Azure AD) object id, a GUID,
        // https://learn.microsoft.com/graph/api/resources/user#properties
        "teams" => super::direct::teams::valid_id(handle),
        // open_id "ou_…", https://open.feishu.cn/document/home/user-identity-introduction/open-id
        "feishu" | "lark" => {
            handle.starts_with("ou_") && chars(|c| c.is_ascii_alphanumeric() || c == '_', 4, 64)
        }
        _ => false,
    };
    // Never a handle that could mean everyone ("@all" is a WeCom/DingTalk
    // keyword, and "all" one of Feishu's).
    let everyone = handle.trim_start_matches('@').eq_ignore_ascii_case("all");
    (valid && !everyone).then_some(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(platform: &str, handle: &str) -> UserRef {
        UserRef {
            id: 1,
            name: "A".into(),
            email: "a@example.com".into(),
            phone: None,
            handles: [(platform.to_owned(), handle.to_owned())].into(),
        }
    }

    #[test]
    fn documented_shapes_pass_and_markup_does_not() {
        for (platform, good) in [
            ("slack", "U024BE7LH"),
            ("discord", "80351110224678912"),
            ("google_chat", "113926538452356018476"),
            ("wecom", "zhang.san@corp"),
            ("dingtalk", "manager4220"),
            ("feishu", "ou_7d8a6e6df7621556ce0d21922b676706cc"),
            ("lark", "ou_84aad35d084aa403a838cf73ee18467"),
        ] {
            assert_eq!(handle(&with(platform, good), platform), Some(good));
            for bad in [
                "",
                "<!channel>",
                "U1> <!here",
                "ou_a></at><at id=all",
                "1 2",
                "@all",
            ] {
                assert_eq!(
                    handle(&with(platform, bad), platform),
                    None,
                    "{platform} {bad:?}"
                );
            }
        }
        // A handle of one platform is not used on another.
        assert_eq!(handle(&with("slack", "U024BE7LH"), "discord"), None);
    }
}
