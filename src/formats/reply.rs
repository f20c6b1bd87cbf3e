//! What a platform's answer means: accepted, rejected for good, asking
//! herald to slow down, or failed for now. HTTP status first, then the
//! error codes some platforms put inside an HTTP 200 (Feishu/Lark `code`,
//! DingTalk/WeCom `errcode`, Teams connectors' text). A pure function:
//! `delivery::verdict` turns it into the delivery's next step.

use serde::Deserialize;

use crate::endpoint::Platform;

/// A platform's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Accepted,
    /// Retrying the same request cannot succeed: the message or the
    /// endpoint's settings are wrong (4xx, documented permanent codes).
    Rejected(String),
    /// The receiver asks herald to slow down (429, 503 with
    /// `Retry-After`, documented rate-limit codes).
    Throttled(String),
    /// 410 Gone, or a platform's "this webhook no longer exists".
    Gone(String),
    /// Worth trying again later (5xx, 408, 409, 425, unknown codes).
    Failed(String),
}

/// The error fields some platforms put in a 2xx body.
#[derive(Debug, Default, Deserialize)]
struct PlatformReply {
    /// Feishu / Lark (older bots: `StatusCode` / `StatusMessage`).
    #[serde(alias = "StatusCode")]
    code: Option<i64>,
    #[serde(alias = "StatusMessage")]
    msg: Option<String>,
    /// DingTalk / WeCom.
    errcode: Option<i64>,
    errmsg: Option<String>,
}

const EXCERPT_CHARS: usize = 200;

pub(super) fn excerpt(body: &[u8]) -> String {
    super::text::cut_chars(String::from_utf8_lossy(body).trim(), EXCERPT_CHARS)
        .replace('\0', "\u{fffd}")
}

/// Feishu / Lark custom-bot codes.
/// — https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
fn feishu(code: i64, message: String) -> Reply {
    match code {
        // "frequency limited": 100 requests/minute, 5/second per bot.
        11232 => Reply::Throttled(message),
        // 9499 Bad Request; 19021 signature or timestamp; 19022 IP not
        // allowed; 19024 keyword not found.
        9499 | 19021 | 19022 | 19024 => Reply::Rejected(message),
        _ => Reply::Failed(message),
    }
}

/// DingTalk custom-robot codes.
/// — https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages
fn dingtalk(code: i64, message: String) -> Reply {
    match code {
        // 130101 "send too fast, exceed 20 times per minute"; 410100 rate limited.
        130101 | 410100 => Reply::Throttled(message),
        // 300001 token; 310000 keyword / signature / timestamp / IP whitelist;
        // 400013 group dissolved; 400101 no such access_token; 400102 robot
        // stopped; 400105 message type unsupported; 400106 no such robot;
        // 430101-430104 unsafe content; 460101 message too long.
        300001 | 310000 | 400013 | 400101 | 400102 | 400105 | 400106 | 430101..=430104 | 460101 => {
            Reply::Rejected(message)
        }
        _ => Reply::Failed(message),
    }
}

/// WeCom group-robot codes.
/// — https://developer.work.weixin.qq.com/document/path/90313 (global error codes)
fn wecom(code: i64, message: String) -> Reply {
    match code {
        // 45009 "api freq out of limit" (20 messages a minute per robot).
        45009 => Reply::Throttled(message),
        // 93000 invalid webhook key (or content over the limit); 40008
        // invalid message type; 40058 invalid parameter; 44004 empty
        // content; 45002 content too long.
        93000 | 40008 | 40058 | 44004 | 45002 => Reply::Rejected(message),
        _ => Reply::Failed(message),
    }
}

/// Judge a response: whether the platform accepted the message, and if not,
/// whether trying again can help.
pub fn check_response(platform: Platform, status: u16, retry_after: bool, body: &[u8]) -> Reply {
    if !(200..300).contains(&status) {
        let detail = excerpt(body);
        let reason = if detail.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {detail}")
        };
        return match status {
            410 => Reply::Gone(reason),
            429 => Reply::Throttled(reason),
            503 if retry_after => Reply::Throttled(reason),
            // Request Timeout, Conflict, Too Early: the same request may pass later.
            408 | 409 | 425 => Reply::Failed(reason),
            400..=499 => Reply::Rejected(reason),
            _ => Reply::Failed(reason),
        };
    }
    let reply = || serde_json::from_slice::<PlatformReply>(body).unwrap_or_default();
    match platform {
        Platform::Feishu | Platform::Lark => match reply() {
            PlatformReply {
                code: Some(code),
                msg,
                ..
            } if code != 0 => feishu(
                code,
                format!("{platform} code {code}: {}", msg.unwrap_or_default()),
            ),
            _ => Reply::Accepted,
        },
        Platform::Dingtalk | Platform::Wecom => match reply() {
            PlatformReply {
                errcode: Some(code),
                errmsg,
                ..
            } if code != 0 => {
                let message = format!("{platform} errcode {code}: {}", errmsg.unwrap_or_default());
                if platform == Platform::Dingtalk {
                    dingtalk(code, message)
                } else {
                    wecom(code, message)
                }
            }
            _ => Reply::Accepted,
        },
        Platform::TeamsConnector => {
            // Office 365 connectors answer some failures with HTTP 200 and text,
            // e.g. "Webhook message delivery failed with error: Microsoft
            // Teams endpoint returned HTTP error 429 …".
            let text = excerpt(body);
            if !text.starts_with("Webhook message delivery failed") {
                Reply::Accepted
            } else if text.contains("HTTP error 429") {
                Reply::Throttled(format!("teams_connector: {text}"))
            } else {
                Reply::Failed(format!("teams_connector: {text}"))
            }
        }
        _ => Reply::Accepted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(reply: Reply) -> bool {
        matches!(reply, Reply::Rejected(_))
    }

    #[test]
    fn status_classes() {
        for platform in Platform::ALL {
            assert_eq!(check_response(platform, 200, false, b""), Reply::Accepted);
            assert_eq!(check_response(platform, 202, false, b""), Reply::Accepted);
            assert_eq!(
                check_response(platform, 500, false, b""),
                Reply::Failed("HTTP 500".into())
            );
            assert!(matches!(
                check_response(platform, 410, false, b""),
                Reply::Gone(_)
            ));
            assert!(matches!(
                check_response(platform, 429, false, b""),
                Reply::Throttled(_)
            ));
            assert!(matches!(
                check_response(platform, 503, true, b""),
                Reply::Throttled(_)
            ));
            assert!(matches!(
                check_response(platform, 503, false, b""),
                Reply::Failed(_)
            ));
            for transient in [408, 409, 425] {
                assert!(matches!(
                    check_response(platform, transient, false, b""),
                    Reply::Failed(_)
                ));
            }
            for permanent in [400, 401, 403, 404, 413, 422] {
                assert!(rejected(check_response(platform, permanent, false, b"")));
            }
        }
    }

    #[test]
    fn slack_and_discord_rejections_keep_the_platform_reason() {
        assert_eq!(
            check_response(Platform::Slack, 400, false, b"invalid_blocks"),
            Reply::Rejected("HTTP 400: invalid_blocks".into())
        );
        let discord = br#"{"message": "Invalid Form Body", "code": 50035}"#;
        match check_response(Platform::Discord, 400, false, discord) {
            Reply::Rejected(reason) => assert!(reason.contains("50035"), "{reason}"),
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(matches!(
            check_response(Platform::Slack, 410, false, b"channel_is_archived"),
            Reply::Gone(_)
        ));
    }

    #[test]
    fn feishu_and_lark_codes() {
        for platform in [Platform::Feishu, Platform::Lark] {
            let reply = |body: &[u8]| check_response(platform, 200, false, body);
            assert_eq!(
                reply(br#"{"code":0,"msg":"success","data":{}}"#),
                Reply::Accepted
            );
            assert_eq!(
                reply(br#"{"StatusCode":0,"StatusMessage":"success"}"#),
                Reply::Accepted
            );
            assert!(rejected(reply(br#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#)));
            assert!(rejected(reply(
                br#"{"code":19024,"msg":"Key Words Not Found"}"#
            )));
            assert!(rejected(reply(br#"{"code":9499,"msg":"Bad Request"}"#)));
            assert!(matches!(
                reply(br#"{"code":11232,"msg":"frequency limited"}"#),
                Reply::Throttled(_)
            ));
            assert_eq!(
                reply(br#"{"code":12345,"msg":"something new"}"#),
                Reply::Failed(format!("{platform} code 12345: something new"))
            );
        }
    }

    #[test]
    fn dingtalk_codes() {
        let reply = |body: &[u8]| check_response(Platform::Dingtalk, 200, false, body);
        assert_eq!(reply(br#"{"errcode":0,"errmsg":"ok"}"#), Reply::Accepted);
        assert!(rejected(reply(
            br#"{"errcode":310000,"errmsg":"keywords not in content"}"#
        )));
        assert!(rejected(reply(
            br#"{"errcode":460101,"errmsg":"message too long, exceed 20000 bytes"}"#
        )));
        assert!(rejected(reply(
            br#"{"errcode":300001,"errmsg":"token is not exist"}"#
        )));
        assert!(matches!(
            reply(br#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#),
            Reply::Throttled(_)
        ));
        assert!(matches!(
            reply(br#"{"errcode":-1,"errmsg":"busy"}"#),
            Reply::Failed(_)
        ));
    }

    #[test]
    fn wecom_codes() {
        let reply = |body: &[u8]| check_response(Platform::Wecom, 200, false, body);
        assert_eq!(reply(br#"{"errcode":0,"errmsg":"ok"}"#), Reply::Accepted);
        assert_eq!(reply(b"ok"), Reply::Accepted);
        assert!(rejected(reply(
            br#"{"errcode":93000,"errmsg":"invalid webhook url"}"#
        )));
        assert!(rejected(reply(
            br#"{"errcode":40008,"errmsg":"invalid message type"}"#
        )));
        assert!(matches!(
            reply(br#"{"errcode":45009,"errmsg":"api freq out of limit"}"#),
            Reply::Throttled(_)
        ));
        assert!(matches!(
            reply(br#"{"errcode":-1,"errmsg":"system busy"}"#),
            Reply::Failed(_)
        ));
    }

    #[test]
    fn error_fields_of_other_platforms_are_not_read() {
        assert_eq!(
            check_response(
                Platform::Slack,
                200,
                false,
                br#"{"errcode":1,"errmsg":"x"}"#
            ),
            Reply::Accepted
        );
    }

    #[test]
    fn teams_connector_failures_inside_200() {
        assert_eq!(
            check_response(Platform::TeamsConnector, 200, false, b"1"),
            Reply::Accepted
        );
        assert!(matches!(
            check_response(Platform::TeamsConnector, 200, false, b"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId x"),
            Reply::Throttled(_)
        ));
        assert!(matches!(
            check_response(Platform::TeamsConnector, 200, false, b"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 500"),
            Reply::Failed(_)
        ));
        // Workflows: 202 before the flow runs.
        assert_eq!(
            check_response(Platform::Teams, 202, false, b""),
            Reply::Accepted
        );
    }
}
