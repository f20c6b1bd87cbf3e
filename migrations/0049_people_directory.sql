-- The people directory (pipeline side, written by the host application):
-- each user's handle on a chat platform, so herald can mention them in that
-- platform's own syntax. E-mail and phone stay in `app_user`.
--   slack        member id        U024BE7LH
--   discord      user id          80351110224678912
--   google_chat  user id          users/{id} without the prefix
--   wecom        userid           zhangsan
--   dingtalk     userId           manager4220
--   feishu, lark open_id          ou_7d8a6e6df7621556ce0d21922b676706ccs
CREATE TABLE app_user_handle (
    user_id  BIGINT NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    platform TEXT NOT NULL
        CHECK (platform IN ('slack', 'discord', 'google_chat', 'wecom', 'dingtalk', 'feishu', 'lark')),
    handle   TEXT NOT NULL CHECK (length(handle) BETWEEN 1 AND 128),
    PRIMARY KEY (user_id, platform)
);

-- A user's handles as a JSON object, platform → handle ('{}' without any).
CREATE FUNCTION herald_user_handles(p_user_id BIGINT) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(jsonb_object_agg(platform, handle), '{}'::jsonb)
      FROM app_user_handle WHERE user_id = p_user_id
$$;
