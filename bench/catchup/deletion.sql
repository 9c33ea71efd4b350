-- Catch-up benchmark load (pgbench script): one account deleted, as the app does it
-- (app/src/ssr/store.rs, delete_user: DELETE FROM users WHERE id = $1; the foreign keys
-- cascade to the model, the generations, the votes). The account is the oldest of the
-- deletable pool (ids above :stable, seeded with a ~100 KB model, 20 generations and votes
-- each); SKIP LOCKED so that concurrent deletions never wait for one another.
DELETE FROM users
WHERE id = (SELECT id FROM users WHERE id > :stable ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED);
