-- Catch-up benchmark load (pgbench script): one generation, the statement the app runs
-- (app/src/ssr/store.rs, record_generation): the tweet, its vote for the ranking and, for a
-- signed-in viewer, the viewer's address for the day. $1 voice, $2 signed-in user or NULL,
-- $3 text, $4 viewer key, $5 address key. Voices and viewers are the stable users 1..:stable.
\set voice random(1, :stable)
\set who random(1, 2 * :stable)
\set address random(1, 1000000)
\set length random(40, 200)
WITH salt AS (
        INSERT INTO ranking_salts (day) VALUES (current_date) ON CONFLICT (day) DO NOTHING RETURNING salt
    ), today AS (
        SELECT salt FROM salt UNION ALL SELECT salt FROM ranking_salts WHERE day = current_date LIMIT 1
    ), generation AS (
         INSERT INTO generations (user_id, generated_by, text)
         VALUES (:voice, CASE WHEN :who <= :stable THEN :who END,
                 left(md5(random()::text) || ' ' || md5(random()::text) || ' 猫が好き ' || md5(random()::text)
                      || ' ' || md5(random()::text) || ' ' || md5(random()::text), :length))
         RETURNING id
     ), vote AS (
         INSERT INTO ranking_votes (voice_id, day, viewer)
         SELECT :voice, current_date,
                sha256(convert_to(salt::text || CASE WHEN :who <= :stable THEN 'u:' || :who ELSE 'a:' || :address END, 'UTF8'))
         FROM today
         WHERE (CASE WHEN :who <= :stable THEN :who END)::bigint IS DISTINCT FROM :voice
         ON CONFLICT DO NOTHING
     ), owner AS (
         INSERT INTO owner_addresses (user_id, day, viewer)
         SELECT :who, current_date, sha256(convert_to(salt::text || 'a:' || :address, 'UTF8')) FROM today
         WHERE (CASE WHEN :who <= :stable THEN :who END)::bigint IS NOT NULL
         ON CONFLICT DO NOTHING
     )
SELECT id FROM generation;
