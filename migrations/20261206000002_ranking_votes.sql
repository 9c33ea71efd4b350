-- The ranking counts people, not requests: at most one vote per voice, viewer
-- and day, never from the voice's own account nor from an address its owner
-- used that day. A viewer is kept only as a hash salted with the day's random
-- salt ("u:<user id>" signed in, "a:<address>" otherwise); salts and votes older
-- than the ranking's window are deleted hourly, after which no stored hash can
-- be tied to an address.
CREATE TABLE ranking_salts (
    day date PRIMARY KEY,
    salt uuid NOT NULL DEFAULT gen_random_uuid()
);

CREATE TABLE ranking_votes (
    voice_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day date NOT NULL,
    viewer bytea NOT NULL,
    PRIMARY KEY (voice_id, day, viewer)
);
CREATE INDEX ranking_votes_day ON ranking_votes (day);

-- The addresses (hashed as above) an account signed in or generated from, per day.
CREATE TABLE owner_addresses (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day date NOT NULL,
    viewer bytea NOT NULL,
    PRIMARY KEY (user_id, day, viewer)
);
CREATE INDEX owner_addresses_day ON owner_addresses (day);

-- The week before: one vote per signed-in viewer, voice and day (anonymous
-- generations carried no address; each such voice and day counts once).
INSERT INTO ranking_salts (day)
SELECT DISTINCT created_at::date FROM generations WHERE created_at > now() - interval '8 days';
INSERT INTO ranking_votes (voice_id, day, viewer)
SELECT DISTINCT g.user_id, g.created_at::date,
       sha256(convert_to(s.salt::text || coalesce('u:' || g.generated_by, 'anonymous before votes'), 'UTF8'))
FROM generations g JOIN ranking_salts s ON s.day = g.created_at::date
WHERE g.created_at > now() - interval '8 days' AND g.generated_by IS DISTINCT FROM g.user_id;
