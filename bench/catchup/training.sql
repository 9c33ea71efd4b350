-- Catch-up benchmark load (pgbench script): one training, as the app commits it
-- (app/src/ssr/store.rs): claim_training (its own statement and transaction; no retrain
-- interval here), then save_model, the upsert of a new model of :chunks x 16 random bytes
-- (100 KB by default: incompressible, like the app's encoded models, so TOASTed as is).
-- Two source transactions per run. Users are the stable users 1..:stable.
\set account random(1, :stable)
\set sentences random(50, 5000)
UPDATE users SET training_since = clock_timestamp()
WHERE id = :account
  AND (training_since IS NULL OR training_since < clock_timestamp() - make_interval(secs => 600))
  AND NOT EXISTS (SELECT FROM models WHERE user_id = :account
                  AND trained_at > clock_timestamp() - make_interval(secs => 0));
WITH released AS (UPDATE users SET training_since = NULL WHERE id = :account)
INSERT INTO models (user_id, data, sentences)
VALUES (:account, (SELECT string_agg(uuid_send(gen_random_uuid()), ''::bytea) FROM generate_series(1, :chunks)),
        :sentences)
ON CONFLICT (user_id) DO UPDATE
SET data = EXCLUDED.data, sentences = EXCLUDED.sentences, version = models.version + 1, trained_at = now();
